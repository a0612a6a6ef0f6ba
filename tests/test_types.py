"""Result types: the one labelling rule and Result.from_dict inverting to_dict through JSON."""
import json

import numpy as np
import pytest

from litefer.types import UNCERTAIN, Detection, Face, Result, decide

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def random_face(rng, track_id=None, landmarks=True) -> Face:
    probs = rng.dirichlet(np.ones(len(LABELS))).astype(np.float32)
    lms = rng.uniform(0, 640, (5, 2)).astype(np.float32) if landmarks else None
    x, y = rng.uniform(0, 500, 2)
    det = Detection((float(x), float(y), float(x) + 61.37, float(y) + 73.1), 0.8731, lms)
    return Face.classified(det, LABELS, probs, 0.3, track_id)


def test_decide_is_the_argmax_unless_below_the_threshold():
    probs = np.array([0.1, 0.2, 0.7], np.float32)
    assert decide(probs, ("a", "b", "c"), 0.0) == ("c", pytest.approx(0.7))
    assert decide(probs, ("a", "b", "c"), float(probs[2]))[0] == "c"  # at the threshold: kept
    label, conf = decide(probs, ("a", "b", "c"), 0.71)
    assert label == UNCERTAIN and conf == pytest.approx(0.7)


def test_classified_and_relabelled_faces_follow_the_rule():
    det = Detection((1.0, 2.0, 3.0, 4.0), 0.5, None)
    face = Face.classified(det, ("a", "b"), np.array([0.4, 0.6]), 0.5)
    assert face.label == "b" and face.probs.dtype == np.float32 and face.track_id is None
    again = face.relabelled(np.array([0.55, 0.45]), 0.6, track_id=7)
    assert again.label == UNCERTAIN and again.confidence == pytest.approx(0.55)
    assert again.track_id == 7 and again.box == face.box and face.label == "b"


def test_result_from_dict_inverts_to_dict_through_json():
    rng = np.random.default_rng(3)
    res = Result("clip.mp4", [random_face(rng, 1), random_face(rng, 2, landmarks=False)],
                 frame=12, time_s=0.48, width=640, height=480,
                 timings_ms={"decode": 1.23456, "detect": 7.0, "classify": 0.3333333})
    d = json.loads(json.dumps(res.to_dict()))
    back = Result.from_dict(d)
    assert back.to_dict() == d
    for a, b in zip(res.faces, back.faces):
        assert b.probs.dtype == np.float32 and np.array_equal(a.probs, b.probs)
        assert b.box == a.box and b.score == a.score and b.labels == LABELS
        assert (a.landmarks is None and b.landmarks is None) or np.array_equal(a.landmarks,
                                                                               b.landmarks)
        assert (b.label, b.confidence, b.track_id) == (a.label, a.confidence, a.track_id)
    assert back.timings_ms == {"decode": 1.235, "detect": 7.0, "classify": 0.333}


@pytest.mark.parametrize("res", [
    Result("a.jpg", error="a.jpg: cannot be decoded", timings_ms={"classify": 0.0}),
    Result("v.avi", frame=10, time_s=0.8333, width=320, height=240,
           error="v.avi: video ended after 10 of the 20 frames", timings_ms={}),
])
def test_error_records_round_trip_with_every_field(res):
    d = json.loads(json.dumps(res.to_dict()))
    assert set(d) == {"source", "frame", "time", "width", "height", "faces", "error",
                      "timings_ms"}
    back = Result.from_dict(d)
    assert back == res and back.to_dict() == d


def test_from_dict_names_a_missing_key():
    d = Result("x.png").to_dict()
    del d["width"]
    with pytest.raises(KeyError, match="width"):
        Result.from_dict(d)
