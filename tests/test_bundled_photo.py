"""The bundled photo through the package defaults gives the same answer on every supported Python
(.ci/run runs this file on CPython 3.10 and 3.13 besides the main suite's 3.11)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import litefer

PHOTO = Path(litefer.__file__).parent / "assets" / "astronaut.jpg"
# litefer.Recognizer().analyze(PHOTO).to_dict() on CPython 3.11.7, onnxruntime 1.32.0; 3.10.13
# (onnxruntime 1.23.2) and 3.13.0 (1.32.0) gave the same values. Regenerate after a deliberate
# change of the default model or detector with:
#   python -c "import litefer; print(litefer.Recognizer().analyze(
#   'src/litefer/assets/astronaut.jpg').to_dict()['faces'])"
GOLDEN_BOX = (182.1681, 62.3620, 274.5150, 177.4661)
GOLDEN_LABEL = "happy"
GOLDEN_PROBS = {"angry": 0.0102650, "disgust": 0.0808265, "fear": 0.0058305, "happy": 0.8666000,
                "sad": 0.0069892, "surprise": 0.0100349, "neutral": 0.0194539}


def test_bundled_photo_same_faces_labels_boxes_and_probs():
    result = litefer.Recognizer().analyze(PHOTO)
    assert (result.width, result.height) == (512, 512)
    assert len(result.faces) == 1
    face = result.faces[0].to_dict()
    box = face["box"]
    assert np.allclose([box["x1"], box["y1"], box["x2"], box["y2"]], GOLDEN_BOX, atol=0.01)
    assert face["label"] == GOLDEN_LABEL
    assert face["probs"].keys() == GOLDEN_PROBS.keys()
    for name, p in GOLDEN_PROBS.items():
        assert face["probs"][name] == pytest.approx(p, abs=1e-4), name
    assert len(face["landmarks"]) == 5


def test_core_install_needs_no_torch():
    if "torch" in sys.modules:
        pytest.skip("torch was imported by another test in this process")
    litefer.Recognizer().analyze(PHOTO)
    assert "torch" not in sys.modules
