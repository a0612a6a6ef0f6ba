"""litefer.detect: the registry and every installed backend on real faces (astronaut, AFW)."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

import litefer
from litefer.detect import Detector, create_detector, is_available, list_detectors
from litefer.errors import InvalidImageError, ModelNotFoundError
from litefer.io import load_image
from litefer.types import Detection

ASSETS = Path(__file__).parent / "assets"
PHOTO = Path(litefer.__file__).parent / "assets" / "astronaut.jpg"  # the bundled photo
REAL = [n for n in list_detectors() if n != "none"]
LANDMARKS = {"yunet": 5, "mtcnn": 5, "dlib": 68, "haar": None}
# yunet (the default) on tests/assets/astronaut.png at full resolution (detect_size=None)
GOLDEN_BOX = (178.1, 65.0, 269.5, 176.4)
GOLDEN_EYES = ((203.4, 103.6), (247.5, 104.4))
# the face box in the composite: astronaut's head (x 120.., y 20..) pasted at (x, y, scale)
PASTES = [(20, 40, 1.0), (300, 60, 0.7), (470, 250, 0.5)]


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def backend(name: str, **options):
    if not is_available(name):
        pytest.skip(f"detector {name!r} not installed (its optional package is missing)")
    return create_detector(name, **options)


def check_contract(dets: list[Detection], image: np.ndarray, points: int | None) -> None:
    h, w = image.shape[:2]
    scores = [d.score for d in dets]
    assert scores == sorted(scores, reverse=True)
    for d in dets:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h and 0.0 <= d.score <= 1.0
        if points is None:
            assert d.landmarks is None
        else:
            assert d.landmarks.shape == (points, 2) and d.landmarks.dtype == np.float32


# --- registry ---------------------------------------------------------------------------------

def test_registry():
    assert set(list_detectors()) == {"yunet", "mtcnn", "dlib", "haar", "none"}
    assert set(list_detectors(available_only=True)) >= {"yunet", "haar", "none"}
    with pytest.raises(ModelNotFoundError, match="yunet"):
        create_detector("retina")
    with pytest.raises(TypeError, match="min_size"):
        create_detector("haar", threshold=0.3)
    assert isinstance(create_detector("auto"), Detector)
    assert create_detector().name == create_detector("default").name == "yunet"
    assert create_detector("auto").name == "yunet"


@pytest.mark.parametrize("name", REAL)
def test_options_are_validated(name):
    backend(name)
    with pytest.raises(ValueError):
        create_detector(name, score_threshold=1.5)
    with pytest.raises(ValueError):
        create_detector(name, detect_size=8)


# --- every backend on real faces --------------------------------------------------------------

@pytest.mark.parametrize("name", REAL)
def test_finds_the_astronaut(name, astronaut):
    dets = backend(name).detect(astronaut)
    check_contract(dets, astronaut, LANDMARKS[name])
    assert dets and iou(dets[0].box, GOLDEN_BOX) > 0.6
    if dets[0].landmarks is not None:
        pts = dets[0].landmarks
        eyes = pts[:2] if len(pts) == 5 else np.stack([pts[36:42].mean(0), pts[42:48].mean(0)])
        assert np.abs(eyes - GOLDEN_EYES).max() < 6  # image-left eye first


@pytest.mark.parametrize("name", REAL)
def test_finds_three_faces_at_three_sizes(name):
    image = load_image(ASSETS / "astronaut_three.jpg")
    dets = backend(name).detect(image)
    check_contract(dets, image, LANDMARKS[name])
    for x, y, s in PASTES:
        want = (x + (GOLDEN_BOX[0] - 120) * s, y + (GOLDEN_BOX[1] - 20) * s,
                x + (GOLDEN_BOX[2] - 120) * s, y + (GOLDEN_BOX[3] - 20) * s)
        assert max(iou(d.box, want) for d in dets) > 0.55, f"missed the face at {want}"


@pytest.mark.parametrize("name", REAL)
def test_blank_image_has_no_face(name):
    assert backend(name).detect(np.full((240, 320, 3), 127, np.uint8)) == []


@pytest.mark.parametrize("name", list_detectors())
def test_bad_input_raises(name):
    detector = backend(name)
    for bad in (np.zeros((32, 32), np.uint8), np.zeros((32, 32, 3), np.float32), "face.jpg"):
        with pytest.raises(InvalidImageError):
            detector.detect(bad)


def test_default_golden_box(astronaut):
    det = backend("yunet", detect_size=None).detect(astronaut)[0]  # full resolution (512 px)
    assert np.allclose(det.box, GOLDEN_BOX, atol=0.5)
    assert det.score == pytest.approx(0.9356, abs=0.002)
    assert np.allclose(det.landmarks[:2], GOLDEN_EYES, atol=0.5)


def test_auto_detect_size_shrinks_frames_and_keeps_photos_at_640():
    from litefer.detect.base import auto_detect_size

    assert auto_detect_size(480, 640) == 256 and auto_detect_size(512, 512) == 256
    assert auto_detect_size(900, 1000) == 384 and auto_detect_size(3000, 4000) == 640
    assert all(auto_detect_size(n, n) % 32 == 0 for n in range(100, 3000, 37))


def test_auto_detect_size_still_finds_the_golden_face(astronaut):
    det = backend("yunet").detect(astronaut)[0]  # 512 px photo detected on a 256 px copy
    assert iou(det.box, np.array(GOLDEN_BOX)) > 0.85
    assert np.allclose(det.landmarks[:2], GOLDEN_EYES, atol=3)  # 1.9 px off at 256 px


def test_downscaled_detection_maps_back(astronaut):
    big = np.ascontiguousarray(np.repeat(np.repeat(astronaut, 3, axis=0), 3, axis=1))  # 1536 px
    det = backend("yunet", detect_size=640).detect(big)[0]  # runs on a 640-px copy, mapped back
    copy = cv2.resize(big, (640, 640), interpolation=cv2.INTER_AREA)
    ref = backend("yunet", detect_size=None).detect(copy)[0]
    assert np.allclose(det.box, np.array(ref.box) * 2.4, atol=1e-3)
    assert np.allclose(det.landmarks, (ref.landmarks + 0.5) * 2.4 - 0.5, atol=1e-3)
    assert iou(det.box, np.array(GOLDEN_BOX) * 3) > 0.8
    small = backend("yunet", detect_size=256).detect(astronaut)[0]
    assert iou(small.box, GOLDEN_BOX) > 0.75


def test_min_size_and_threshold_filter():
    image = load_image(ASSETS / "astronaut_three.jpg")
    assert len(backend("yunet", min_size=80).detect(image)) == 1
    assert backend("yunet", score_threshold=1.0).detect(image) == []


def test_none_detector_is_the_whole_image():
    dets = create_detector("none").detect(np.zeros((30, 40, 3), np.uint8))
    assert dets == [Detection((0.0, 0.0, 40.0, 30.0), 1.0, None)]


# --- AFW recall (real data, skipped without it) -----------------------------------------------

@pytest.mark.data
@pytest.mark.slow
def test_default_recall_on_afw(data_dir):
    """Lenient rule of scripts/eval_detectors.py on every AFW photo: recall >= 99.5% (the
    script measured 100%), five landmarks on every detection."""
    afw = data_dir / "afw"
    if not (afw / "faces.csv").is_file():
        pytest.skip(f"{afw}/faces.csv not found")
    faces: dict[str, list[list[float]]] = {}
    with open(afw / "faces.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            box = [float(row[k]) for k in ("lm_xmin", "lm_ymin", "lm_xmax", "lm_ymax")]
            faces.setdefault(row["image"], []).append(box)
    detector, found, total = create_detector(), 0, 0
    for name in sorted(faces):
        dets = detector.detect(load_image(afw / name))
        assert all(d.landmarks is not None and d.landmarks.shape == (5, 2) for d in dets)
        for t in faces[name]:
            cx, cy = (t[0] + t[2]) / 2, (t[1] + t[3]) / 2
            found += any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] and iou(b, t) >= 0.2
                         for b in (d.box for d in dets))
            total += 1
    assert found / total >= 0.995, f"recall {found}/{total}"
