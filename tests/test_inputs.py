"""What callers hand the Recognizer: boxes checked and clipped, float images, bad crops, the
decode time, face filters and per-request options (Recognizer.with_options)."""
import math
from pathlib import Path

import numpy as np
import pytest

from litefer.errors import InvalidImageError, InvalidInputError, LiteferError
from litefer.inputs import TimedImage, check_boxes, decode
from litefer.pipeline import FaceFilter, Recognizer
from litefer.types import Detection

ASSETS = Path(__file__).parent / "assets"
BOX = (170.0, 60.0, 270.0, 180.0)




@pytest.mark.parametrize("boxes, message", [
    ([(math.nan, 60, 270, 180)], "box 0 .* not finite"),
    ([BOX, (170, 60, math.inf, 180)], "box 1 .* not finite"),
    ([(270, 60, 170, 180)], "box 0 .* inverted or empty"),
    ([(170, 60, 170, 180)], "inverted or empty"),
    ([(170, 60, 270)], "box 0 has 3 values"),
    ([(900, 60, 1000, 180)], "wholly outside the 512x512 image"),
    ([(-200, -100, -10, -1)], "wholly outside"),
    (BOX, "a single box still goes in a list"),
    ("170,60,270,180", "boxes must be a list"),
])
def test_bad_boxes_raise_a_typed_error_naming_the_box(rec, astronaut, boxes, message):
    with pytest.raises(InvalidInputError, match=message) as info:
        rec.analyze(astronaut, boxes=boxes)
    assert isinstance(info.value, ValueError) and isinstance(info.value, LiteferError)


def test_boxes_partly_off_the_image_are_clipped(rec, astronaut):
    res = rec.analyze(astronaut, boxes=[(-30.0, 400.0, 100.0, 600.0), np.array(BOX)])
    assert [f.box for f in res.faces] == [(0.0, 400.0, 100.0, 512.0), BOX]
    assert res.error is None and all(math.isfinite(f.confidence) for f in res.faces)


def test_check_boxes_keeps_a_detections_score_and_landmarks():
    lms = np.zeros((5, 2), np.float32)
    (det,) = check_boxes([Detection((-5.0, 0.0, 20.0, 20.0), 0.7, lms)], (10, 10))
    assert det.box == (0.0, 0.0, 10.0, 10.0) and det.score == 0.7 and det.landmarks is lms


def test_batch_boxes_and_sources_need_one_entry_per_image(rec, astronaut):
    with pytest.raises(InvalidInputError, match="boxes has 1 entries for 2 images"):
        rec.analyze_batch([astronaut, astronaut], boxes=[[BOX]])
    with pytest.raises(InvalidInputError, match="sources has 3 entries"):
        rec.analyze_batch([astronaut], sources=["a", "b", "c"])


@pytest.mark.parametrize("crop", [np.zeros((0, 10, 3), np.uint8), np.zeros((10, 0), np.uint8),
                                  np.zeros((10, 10, 2), np.uint8), np.zeros(5, np.uint8)])
def test_a_bad_crop_is_a_typed_error_not_a_cv2_error(rec, crop):
    good = np.full((48, 48), 120, np.uint8)
    with pytest.raises(InvalidImageError, match="crop 1 has shape"):
        rec.classifier.predict_proba([good, crop])


def test_float_images_in_0_1_are_read_and_0_255_refused_with_the_fix(rec, astronaut):
    as_uint8 = rec.analyze(astronaut)
    as_float = rec.analyze(astronaut.astype(np.float32) / 255)
    assert as_float.error is None and len(as_float.faces) == len(as_uint8.faces) == 1
    np.testing.assert_allclose(as_float.faces[0].probs, as_uint8.faces[0].probs, atol=1e-5)
    refused = rec.analyze(astronaut.astype(np.float32))
    assert refused.faces == [] and "float pixels must lie in 0..1" in refused.error
    assert "astype(np.uint8)" in refused.error and "0..255" in refused.error
    nan = astronaut.astype(np.float64) / 255
    nan[0, 0, 0] = np.nan
    assert "NaN" in rec.analyze(nan).error
    with pytest.raises(InvalidImageError, match="0..1"):
        decode(np.full((8, 8), 2.0))


def test_decode_time_is_the_time_of_the_actual_decode(rec):
    path = str(ASSETS / "astronaut_three.jpg")
    decoded = decode(path)
    assert isinstance(decoded, TimedImage) and decoded.decode_ms > 0
    assert decode(decoded) is decoded
    res = rec.analyze_batch([decoded], sources=[path])[0]
    assert res.timings_ms["decode"] == decoded.decode_ms and len(res.faces) == 3
    assert rec.analyze(path).timings_ms["decode"] > 0


def test_face_filter_refuses_negative_values():
    with pytest.raises(InvalidInputError, match="max_faces"):
        FaceFilter(max_faces=-1)
    with pytest.raises(InvalidInputError, match="min_face"):
        FaceFilter(min_face=-3)


class CountingDetector:
    name = "counting"

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def detect(self, image):
        self.calls += 1
        return self.inner.detect(image)


def test_with_options_shares_the_session_and_leaves_the_original_alone(rec):
    three = str(ASSETS / "astronaut_three.jpg")
    counting = CountingDetector(rec.detector)
    top2 = rec.with_options(detector=counting, max_faces=2, min_confidence=1.01)
    assert top2.classifier is rec.classifier and top2.spec == rec.spec
    assert top2.framing == "yunet" and top2.filter == FaceFilter(0.0, 2, 1.01)
    faces = top2.analyze(three).faces
    assert len(faces) == 2 and counting.calls == 1
    assert {f.label for f in faces} == {"uncertain"}
    assert len(rec.analyze(three).faces) == 3 and rec.filter == FaceFilter()
    fresh = Recognizer(max_faces=2).analyze(three).faces
    assert [f.box for f in faces] == [f.box for f in fresh]
