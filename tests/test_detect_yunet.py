"""The default detector: YuNet from the shipped ONNX file, decoded by litefer (no yuface)."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import litefer
from litefer.detect import create_detector
from litefer.detect import yunet
from litefer.errors import LiteferError, ModelNotFoundError
from litefer.io import load_image

PHOTO = Path(litefer.__file__).parent / "assets" / "astronaut.jpg"
# The bundled photo through create_detector() at detect_size=None (full resolution, 512 px) and
# at the default "auto" (a 256-px copy). Regenerate after a deliberate change of the detector:
#   python -c "from litefer.detect import create_detector as c; from litefer.io import load_image
#   as l; im = l('src/litefer/assets/astronaut.jpg'); [print(d.box, d.score, d.landmarks.tolist())
#   for s in (None, 'auto') for d in c(detect_size=s).detect(im)]"
GOLDEN = {
    None: ((177.90, 65.51, 269.70, 176.48), 0.9349,
           ((203.25, 103.83), (247.48, 104.25), (224.55, 127.63), (204.45, 143.31),
            (243.41, 143.50))),
    "auto": ((182.17, 62.36, 274.51, 177.47), 0.9326,
             ((204.57, 103.62), (248.61, 105.35), (224.80, 126.07), (204.18, 143.81),
              (242.24, 145.19))),
}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return load_image(PHOTO)


@pytest.mark.parametrize("detect_size", [None, "auto"])
def test_bundled_photo_golden_box_and_landmarks(photo, detect_size):
    dets = create_detector(detect_size=detect_size).detect(photo)
    box, score, points = GOLDEN[detect_size]
    assert len(dets) == 1
    assert np.allclose(dets[0].box, box, atol=0.3)
    assert dets[0].score == pytest.approx(score, abs=1e-3)
    assert dets[0].landmarks.dtype == np.float32
    assert np.allclose(dets[0].landmarks, points, atol=0.3)
    left_eye, right_eye = dets[0].landmarks[:2]
    assert left_eye[0] < right_eye[0]  # image-left eye first: the align contract


def synthetic_outputs(width: int, height: int, hot: dict[int, tuple[int, int, float]]):
    """Network outputs of an input (width, height) with every score 0 except, per stride, the
    cell (row, col) scoring ``score``; its box offsets (0.5, 0.25), log-size (log 2, log 3) and
    landmark offsets 0.1 * k."""
    outs = [None] * 12
    for k, stride in enumerate(yunet.STRIDES):
        rows, cols = height // stride, width // stride
        cls = np.zeros((1, rows * cols, 1), np.float32)
        obj = np.zeros_like(cls)
        box = np.tile(np.float32([0.5, 0.25, np.log(2), np.log(3)]), (1, rows * cols, 1))
        kps = np.tile(np.arange(10, dtype=np.float32) * 0.1, (1, rows * cols, 1))
        if stride in hot:
            r, c, score = hot[stride]
            cls[0, r * cols + c], obj[0, r * cols + c] = score, 1.0
        outs[k], outs[3 + k], outs[6 + k], outs[9 + k] = cls, obj, box, kps
    return outs


def test_decode_maps_grid_cells_to_pixels():
    rows = yunet.decode(synthetic_outputs(64, 32, {16: (1, 2, 0.81)}), 64, 0.5)
    assert rows.shape == (1, 15) and rows.dtype == np.float32
    cx, cy, w, h = (2 + 0.5) * 16, (1 + 0.25) * 16, 2 * 16, 3 * 16
    assert np.allclose(rows[0, :4], (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    assert rows[0, 4] == pytest.approx(0.9)  # sqrt(cls 0.81 * obj 1.0)
    points = (np.arange(10).reshape(5, 2) * 0.1 + (2, 1)) * 16
    assert np.allclose(rows[0, 5:], points.ravel(), atol=1e-5)
    assert len(yunet.decode(synthetic_outputs(64, 32, {16: (1, 2, 0.81)}), 64, 0.95)) == 0


def test_suppress_keeps_the_best_of_overlapping_boxes():
    rows = np.zeros((3, 15), np.float32)
    rows[:, :5] = [[0, 0, 10, 10, 0.7], [1, 1, 11, 11, 0.9], [50, 50, 60, 60, 0.8]]
    kept = yunet.suppress(rows, 0.3)
    assert kept[:, 4].tolist() == pytest.approx([0.9, 0.8])


def test_input_is_bgr_zero_padded_to_multiples_of_32():
    bgr = np.arange(33 * 40 * 3, dtype=np.uint8).reshape(33, 40, 3)
    x = yunet.to_input(bgr)
    assert x.shape == (1, 3, 64, 64) and x.dtype == np.float32
    assert np.array_equal(x[0, :, :33, :40], bgr.transpose(2, 0, 1))
    assert not x[0, :, 33:].any() and not x[0, :, :, 40:].any()


def test_default_path_never_imports_yuface_or_torch():
    code = ("import sys, litefer; r = litefer.Recognizer(); "
            f"res = r.analyze({str(PHOTO)!r}); "
            "print(len(res.faces), type(r.detector).__module__, "
            "'yuface' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["1", "litefer.detect.yunet", "False", "False"]


def test_missing_file_raises_model_not_found(tmp_path):
    with pytest.raises(ModelNotFoundError, match="reinstall litefer"):
        create_detector("yunet", model_path=tmp_path / "missing.onnx")


def test_unloadable_file_raises_litefer_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(LiteferError, match="cannot load the YuNet detector"):
        create_detector("yunet", model_path=bad)


def test_missing_default_fails_loudly_and_auto_falls_back_with_a_warning(
        monkeypatch, tmp_path, caplog):
    from litefer.pipeline import Recognizer

    monkeypatch.setattr(yunet, "WEIGHTS", tmp_path / "gone.onnx")
    with pytest.raises(ModelNotFoundError, match="detector='haar'"):
        Recognizer()
    with pytest.raises(ModelNotFoundError):
        create_detector("default")
    with caplog.at_level(logging.WARNING, logger="litefer.detect"):
        fallback = create_detector("auto")
    assert fallback.name in ("mtcnn", "haar")
    assert any(f"uses {fallback.name!r} instead of 'yunet'" in r.getMessage()
               for r in caplog.records)


def test_threads_never_spin():
    one = create_detector(threads=1)._session.get_session_options()
    two = create_detector(threads=2)._session.get_session_options()
    assert one.intra_op_num_threads == 1
    assert two.intra_op_num_threads == 2
    assert two.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    with pytest.raises(ValueError):
        create_detector(threads=-1)


def test_classifier_sessions_never_spin_with_more_than_one_thread():
    from litefer.runtime import Classifier

    two = Classifier(threads=2).session.get_session_options()
    auto = Classifier(threads=0).session.get_session_options()
    for opts in (two, auto):
        assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert Classifier(threads=1).session.get_session_options().intra_op_num_threads == 1


def test_sessions_plan_no_memory_pattern_and_answer_as_with_one():
    import onnxruntime as ort
    from litefer.runtime import Classifier

    clf = Classifier(threads=1)
    assert clf.session.get_session_options().enable_mem_pattern is False
    assert create_detector(threads=1)._session.get_session_options().enable_mem_pattern is False
    opts = ort.SessionOptions()
    opts.enable_mem_pattern = True
    patterned = ort.InferenceSession(str(clf.path), opts, providers=["CPUExecutionProvider"])
    name = clf.session.get_inputs()[0].name
    rng = np.random.default_rng(0)
    for n in (1, 7, 1, 32):  # the shape changes between calls, as in the pipeline
        x = rng.standard_normal((n, *clf.session.get_inputs()[0].shape[1:])).astype(np.float32)
        np.testing.assert_array_equal(clf.session.run(None, {name: x})[0],
                                      patterned.run(None, {name: x})[0])
