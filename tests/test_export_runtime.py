"""Export to ONNX, parity with torch, and the torch-free runtime Classifier.

Nothing from the training half (torch, onnx) is imported at module level: on a runtime-only
install the export tests skip and the torch-free checks still run."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from litefer.errors import LiteferError, ModelNotFoundError
from litefer.runtime import Classifier, resolve_weights
from litefer.runtime.weights import DEFAULT_MODEL
from litefer.spec import METADATA_KEY, ModelSpec

from helpers import synthetic_faces


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch = pytest.importorskip("torch", reason="export needs litefer[train]")
    from litefer.models import create_model
    from litefer.optimize.export import export_onnx

    torch.manual_seed(0)
    model, spec = create_model("mini_xception")
    model.eval()
    with torch.no_grad():  # non-trivial BN statistics so folding is exercised
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    spec = spec.with_(name="mini_xception.test", temperature=1.5)
    path = export_onnx(model, spec, tmp_path_factory.mktemp("onnx") / "mini_xception.test.fp32.onnx")
    return model, spec, path


def test_export_stores_the_spec_in_metadata(exported):
    onnx = pytest.importorskip("onnx", reason="reading ONNX metadata needs litefer[train]")
    _, spec, path = exported
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert ModelSpec.from_json(props[METADATA_KEY]) == spec.with_(output="logits")
    assert props["labels"] == ",".join(spec.labels)


def test_parity_torch_vs_onnxruntime_on_synthetic_faces(exported):
    from litefer.optimize.export import check_parity

    model, _, path = exported
    assert check_parity(model, path, list(synthetic_faces(40).images)) <= 1e-4


@pytest.mark.data
def test_parity_on_real_fer2013_faces(exported, fer_csv):
    from litefer.data import load_fer2013
    from litefer.optimize.export import check_parity

    model, _, path = exported
    faces = load_fer2013(fer_csv, "PublicTest").images[:200]
    assert check_parity(model, path, faces) <= 1e-4


def test_classifier_accepts_any_size_grey_or_rgb_in_one_batch(exported):
    _, spec, path = exported
    clf = Classifier(path)
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, s, dtype=np.uint8) for s in [(48, 48), (100, 80, 3), (30, 31, 1)]]
    probs = clf.predict_proba(crops)
    assert probs.shape == (3, 7) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert clf.predict(crops) == [spec.labels[i] for i in probs.argmax(1)]
    assert clf.predict_proba([]).shape == (0, 7)


def test_temperature_from_the_spec_is_applied(exported):
    _, spec, path = exported
    clf = Classifier(path)
    crops = list(synthetic_faces(8).images)
    from litefer.metrics import softmax
    from litefer.preprocess import to_input

    logits = clf.run(to_input(crops, clf.spec))
    np.testing.assert_allclose(clf.predict_proba(crops), softmax(logits, 1.5), atol=1e-6)


def test_rgb_and_grey_of_the_same_face_agree(exported):
    import cv2

    clf = Classifier(exported[2])
    grey = synthetic_faces(1).images[0]
    rgb = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
    np.testing.assert_allclose(clf.predict_proba([grey]), clf.predict_proba([rgb]), atol=1e-6)


def test_unknown_model_names_and_missing_files_raise_typed_errors():
    with pytest.raises(ModelNotFoundError, match="shipped"):
        Classifier("no_such_model")
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve_weights("/nonexistent/model.onnx")


def test_onnx_without_litefer_metadata_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx", reason="building a bare graph needs litefer[train]")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 48, 48])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 48, 48])
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["input"], ["y"])],
                                                "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(tmp_path / "bare.onnx"))
    with pytest.raises(LiteferError, match="metadata"):
        Classifier(tmp_path / "bare.onnx")


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(LiteferError, match="cannot load model"):
        Classifier(tmp_path / "junk.onnx")


def test_default_model_classifies_without_importing_torch():
    """Classifier and the documented one-liner `litefer.Recognizer().analyze(image)`, in a fresh
    interpreter: neither imports torch."""
    photo = Path(__file__).parent / "assets" / "astronaut.png"
    code = (
        "import sys, json, numpy as np, litefer\n"
        "clf = litefer.Classifier()\n"
        "p = clf.predict_proba([np.full((64, 64, 3), 128, np.uint8)])\n"
        f"r = litefer.Recognizer().analyze({str(photo)!r})\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'shape': list(p.shape),"
        " 'name': clf.spec.name, 'faces': len(r.faces),"
        " 'sum': round(float(sum(r.faces[0].probs)), 4)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result == {"torch": False, "shape": [1, 7], "name": DEFAULT_MODEL, "faces": 1,
                      "sum": 1.0}


@pytest.mark.data
def test_shipped_default_card_matches_a_fresh_evaluation(fer_csv):
    from litefer.data import load_fer2013
    from litefer.evaluate import evaluate
    from litefer.runtime.weights import list_weights

    (default,) = [w for w in list_weights() if w.summary()["default"]]
    report = evaluate(None, load_fer2013(fer_csv, "PrivateTest"))
    assert report["n"] == default.card["private_test"]["n"] == 3589
    assert report["accuracy"] == pytest.approx(default.card["private_test"]["accuracy"], abs=1e-9)
    assert hashlib.sha256(default.path.read_bytes()).hexdigest() == default.card["sha256"]
