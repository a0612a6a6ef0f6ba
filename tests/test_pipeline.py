"""Recognizer end to end: detection, alignment, batched classification, the result schema."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from litefer.pipeline import UNCERTAIN, Recognizer
from litefer.types import Detection

ASSETS = Path(__file__).parent / "assets"




def test_one_face_with_box_landmarks_and_probabilities(rec, astronaut):
    res = rec.analyze(astronaut)
    assert res.error is None and len(res.faces) == 1
    face = res.faces[0]
    x1, y1, x2, y2 = face.box
    assert 160 < x1 < 200 and 40 < y1 < 90 and 250 < x2 < 290 and 150 < y2 < 200
    assert face.landmarks.shape == (5, 2)
    assert face.probs.shape == (7,) and abs(float(face.probs.sum()) - 1) < 1e-5
    assert face.label == face.labels[int(face.probs.argmax())]
    assert face.confidence == pytest.approx(float(face.probs.max()))
    assert set(res.timings_ms) >= {"decode", "detect", "align", "classify"}


def test_to_dict_schema_round_trips_through_json(rec, astronaut):
    d = json.loads(json.dumps(rec.analyze(astronaut, source="a.png").to_dict()))
    assert d["source"] == "a.png" and d["error"] is None and d["frame"] is None
    face = d["faces"][0]
    assert set(face) == {"box", "score", "landmarks", "label", "confidence", "probs", "track_id"}
    assert set(face["box"]) == {"x1", "y1", "x2", "y2"}
    assert list(face["probs"]) == ["angry", "disgust", "fear", "happy", "sad", "surprise",
                                   "neutral"]
    assert sum(face["probs"].values()) == pytest.approx(1.0, abs=1e-5)


def test_multi_face_image_gives_every_face(rec):
    res = rec.analyze(str(ASSETS / "astronaut_three.jpg"))
    assert len(res.faces) == 3
    assert res.width == 640 and res.height == 480


def test_batch_equals_single_calls_and_uses_one_classifier_call(rec, astronaut, monkeypatch):
    small = cv2.resize(astronaut, (256, 256))
    singles = [rec.analyze(im) for im in (astronaut, small)]
    calls = []
    original = rec.classifier.predict_proba
    monkeypatch.setattr(rec.classifier, "predict_proba",
                        lambda crops, **kw: calls.append(len(crops)) or original(crops, **kw))
    batch = rec.analyze_batch([astronaut, small])
    assert calls == [2]
    for a, b in zip(singles, batch):
        np.testing.assert_allclose(a.faces[0].probs, b.faces[0].probs, atol=1e-5)


def test_boxes_given_by_the_caller_skip_detection(rec, astronaut):
    res = rec.analyze(astronaut, boxes=[(170, 60, 270, 180), (0, 0, 50, 50)])
    assert [f.box for f in res.faces] == [(170.0, 60.0, 270.0, 180.0), (0.0, 0.0, 50.0, 50.0)]
    assert all(f.landmarks is None for f in res.faces)


def test_no_face_is_an_empty_result(rec):
    res = rec.analyze(np.full((240, 320, 3), 127, np.uint8))
    assert res.faces == [] and res.error is None


def test_bad_inputs_in_a_batch_become_error_records(rec, astronaut, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    out = rec.analyze_batch([str(bad), astronaut, str(empty)])
    assert "broken.jpg" in out[0].error and out[0].faces == []
    assert out[1].error is None and len(out[1].faces) == 1
    assert "empty.png" in out[2].error


def test_filters_min_face_max_faces_and_min_confidence(astronaut):
    three = str(ASSETS / "astronaut_three.jpg")
    assert len(Recognizer(max_faces=2).analyze(three).faces) == 2
    sizes = [f.box[2] - f.box[0] for f in Recognizer().analyze(three).faces]
    big = Recognizer(min_face=sorted(sizes)[1] - 1).analyze(three).faces
    assert len(big) == 2
    face = Recognizer(min_confidence=1.01).analyze(astronaut).faces[0]
    assert face.label == UNCERTAIN and face.probs.sum() == pytest.approx(1, abs=1e-5)


def test_no_align_and_detector_none_work_on_crops(astronaut):
    crop = astronaut[60:180, 170:270]
    res = Recognizer(detector="none", align=False).analyze(crop)
    assert len(res.faces) == 1 and res.faces[0].box == (0.0, 0.0, 100.0, 120.0)


class FixedDetector:
    name = "fixed"

    def detect(self, image):
        return [Detection((10.0, 10.0, 60.0, 60.0), 0.9)]


def test_custom_detector_objects_and_stream_track_ids():
    rec = Recognizer(detector=FixedDetector())
    frames = ((i, i / 25, np.full((100, 100, 3), 100, np.uint8)) for i in range(5))
    results = list(rec.stream(frames, source="synthetic"))
    assert [r.frame for r in results] == list(range(5))
    assert {r.faces[0].track_id for r in results} == {1}
