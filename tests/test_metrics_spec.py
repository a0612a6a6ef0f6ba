import json

import numpy as np
import pytest

from litefer.labels import CKPLUS, FER2013, mapping
from litefer.errors import DatasetError
from litefer.metrics import (adjust_logits, balanced_accuracy, classification_report,
                             expected_calibration_error, proba_from_output, softmax)
from litefer.preprocess import fit_crop, to_input
from litefer.spec import ModelSpec


def test_report_matches_hand_computed_values():
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0, 2]
    r = classification_report(y_true, y_pred, ("a", "b", "c"))
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert r["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert r["per_class"]["b"]["recall"] == pytest.approx(2 / 3)
    assert r["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    assert r["confusion_counts"] == [[1, 1, 0], [1, 2, 0], [0, 0, 1]]
    np.testing.assert_allclose(r["confusion_matrix"][1], [1 / 3, 2 / 3, 0])
    json.dumps(r)


def test_ece_is_zero_when_confidence_equals_accuracy_and_positive_otherwise():
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, np.array([0, 0, 0, 1])) == pytest.approx(0.0)
    assert expected_calibration_error(probs, np.array([1, 1, 0, 1])) == pytest.approx(0.5)


def test_softmax_with_temperature():
    p = softmax(np.array([[0.0, np.log(3.0)]]), temperature=1.0)
    np.testing.assert_allclose(p, [[0.25, 0.75]])
    assert softmax(np.array([[0.0, 10.0]]), temperature=1e6)[0, 0] == pytest.approx(0.5, abs=1e-4)


def test_spec_round_trips_through_json_and_metadata():
    spec = ModelSpec(name="x.t", arch="x", labels=CKPLUS.classes, input_size=(64, 64), channels=3,
                     mean=(0.1, 0.2, 0.3), std=(1, 2, 3), temperature=1.3, extra={"params": 5})
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert ModelSpec.from_metadata(spec.to_metadata()) == spec


def test_spec_rejects_inconsistent_channels():
    with pytest.raises(ValueError):
        ModelSpec(name="x", arch="x", labels=("a",), channels=3)


def test_label_spaces_and_explicit_mapping():
    assert FER2013.classes == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert FER2013.index("Sadness") == 4 and CKPLUS.index("anger") == 0
    m = mapping(CKPLUS, FER2013)
    assert m == {0: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5}  # contempt has no FER2013 class
    with pytest.raises(DatasetError, match="unknown label"):
        FER2013.index("contempt")


def test_to_input_normalises_and_resizes():
    spec = ModelSpec(name="x", arch="x", labels=("a",))
    x = to_input([np.full((96, 96, 3), 255, np.uint8), np.zeros((48, 48), np.uint8)], spec)
    assert x.shape == (2, 1, 48, 48) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], 1.0, atol=1e-6)
    np.testing.assert_allclose(x[1], -1.0)


def test_fit_crop_uses_rgb_order_for_grey_conversion():
    spec = ModelSpec(name="x", arch="x", labels=("a",), input_size=(4, 4))
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    assert fit_crop(red, spec)[0, 0, 0] == 76  # 0.299 * 255: red weighs as red, not as blue


def test_balanced_accuracy_by_hand():
    y_true = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 0, 2, 2, 2, 0, 0, 0]
    assert balanced_accuracy(y_true, y_pred, [0, 1, 2]) == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3)
    assert balanced_accuracy(y_true, y_pred, [0, 2]) == pytest.approx((3 / 4 + 1 / 2) / 2)
    with pytest.raises(ValueError, match="no samples"):
        balanced_accuracy(y_true, y_pred, [3])


def test_uniform_prior_changes_nothing():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 7))
    adjusted = adjust_logits(logits, (1.0,) * 7, 2.0)
    np.testing.assert_array_equal(adjusted.argmax(1), logits.argmax(1))
    np.testing.assert_allclose(softmax(adjusted), softmax(logits), atol=1e-12)
    spec = ModelSpec(name="m", arch="m", labels=FER2013.classes, prior=(3.0,) * 7, prior_tau=1.5)
    np.testing.assert_allclose(proba_from_output(logits, spec),
                               proba_from_output(logits, spec.with_(prior_tau=0.0)), atol=1e-6)
    assert adjust_logits(logits, (), 1.0) is logits and adjust_logits(logits, (1, 2), 0) is logits


def test_a_known_prior_shifts_the_argmax_as_by_hand():
    logits = np.array([[2.0, 1.5, 0.0]])
    prior = (0.6, 0.2, 0.2)
    # tau 1: 2 - ln 0.6 = 2.511, 1.5 - ln 0.2 = 3.109, 0 - ln 0.2 = 1.609 -> class 1
    np.testing.assert_allclose(adjust_logits(logits, prior, 1.0),
                               [[2 - np.log(0.6), 1.5 - np.log(0.2), -np.log(0.2)]])
    assert adjust_logits(logits, prior, 1.0).argmax() == 1
    # tau 0.4: 2.204 against 2.144 -> class 0 stays; a prior given as counts is the same prior
    assert adjust_logits(logits, prior, 0.4).argmax() == 0
    np.testing.assert_allclose(adjust_logits(logits, (30, 10, 10), 1.0),
                               adjust_logits(logits, prior, 1.0))
    with pytest.raises(ValueError, match="3 positive values"):
        adjust_logits(logits, (0.5, 0.5), 1.0)


def test_probs_output_is_adjusted_in_log_space_and_untouched_without_prior():
    probs = np.array([[0.5, 0.3, 0.2]], np.float32)
    spec = ModelSpec(name="m", arch="m", labels=("a", "b", "c"), output="probs")
    np.testing.assert_array_equal(proba_from_output(probs, spec), probs)
    got = proba_from_output(probs, spec.with_(prior=(0.5, 0.3, 0.2), prior_tau=1.0))
    np.testing.assert_allclose(got, [[1 / 3, 1 / 3, 1 / 3]], atol=1e-6)


def test_spec_prior_fields_round_trip_and_old_metadata_reads_as_none():
    spec = ModelSpec(name="m", arch="m", labels=("a", "b"), prior=(0.25, 0.75), prior_tau=0.5)
    assert ModelSpec.from_metadata(spec.to_metadata()) == spec
    old = json.loads(spec.to_json())
    del old["prior"], old["prior_tau"]
    back = ModelSpec.from_json(json.dumps(old))
    assert back.prior == () and back.prior_tau == 0.0
    with pytest.raises(ValueError, match="one positive value per label"):
        ModelSpec(name="m", arch="m", labels=("a", "b"), prior=(1.0,))


def test_the_training_logit_adjustment_round_trips_needs_a_prior_and_reads_old_files_as_none():
    spec = ModelSpec(name="m", arch="m", labels=("a", "b"), prior=(0.25, 0.75), logit_adjust=1)
    back = ModelSpec.from_metadata(spec.to_metadata())
    assert back == spec and back.logit_adjust == 1.0 and isinstance(back.logit_adjust, float)
    old = json.loads(spec.to_json())
    del old["logit_adjust"]
    assert ModelSpec.from_json(json.dumps(old)).logit_adjust == 0.0
    with pytest.raises(ValueError, match="training prior"):
        ModelSpec(name="m", arch="m", labels=("a", "b"), logit_adjust=1.0)


def test_a_negative_strength_adds_the_prior_back():
    logits = np.array([[0.3, -1.2, 2.0], [1.0, 1.0, 1.0]])
    prior = (0.7, 0.2, 0.1)
    np.testing.assert_allclose(adjust_logits(adjust_logits(logits, prior, 0.8), prior, -0.8),
                               logits, atol=1e-12)
    spec = ModelSpec(name="m", arch="m", labels=("a", "b", "c"), prior=prior, prior_tau=-1.0)
    np.testing.assert_allclose(proba_from_output(logits[1:], spec), [prior], atol=1e-6)
