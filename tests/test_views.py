"""Test-time averaging (litefer.runtime.views): the views, their mean, and that the runtime,
the pipeline and `litefer eval` average the same way."""
from __future__ import annotations

import numpy as np
import pytest

from litefer.cli import main
from litefer.errors import LiteferError
from litefer.evaluate import model_outputs
from litefer.metrics import proba_from_output
from litefer.pipeline import Recognizer
from litefer.preprocess import to_input
from litefer.runtime import Classifier
from litefer.runtime.views import averaged_output, tta_mode, tta_views


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier()


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (6, 48, 48), np.uint8)


@pytest.mark.parametrize("given, mode", [(None, None), (False, None), ("", None), (True, "flip"),
                                         ("flip", "flip"), ("crops", "crops")])
def test_modes(given, mode):
    assert tta_mode(given) == mode


@pytest.mark.parametrize("bad", ["flips", "Crops", 1])
def test_an_unknown_mode_is_an_error_naming_the_choices(bad):
    with pytest.raises(LiteferError, match="flip or crops"):
        tta_mode(bad)


def test_views_are_the_input_its_mirror_and_shifted_or_zoomed_framings():
    x = np.zeros((2, 1, 48, 48), np.float32)
    x[:, 0, 24, 30] = 1.0  # one bright pixel, right of centre
    assert [len(list(tta_views(x, m))) for m in (None, "flip", "crops")] == [1, 2, 14]
    views = list(tta_views(x, "crops"))
    assert views[0] is x and all(v.shape == x.shape and v.dtype == np.float32 for v in views)
    np.testing.assert_array_equal(views[1], x[..., ::-1])
    for v in views:
        assert v.flags["C_CONTIGUOUS"]
    # framings 1-4: the face shifted by 2 px (48 / 24) left, right, up, down; then zoomed
    peaks = [np.unravel_index(views[2 * k][0, 0].argmax(), (48, 48)) for k in range(1, 5)]
    assert sorted(peaks) == sorted([(24, 28), (24, 32), (22, 30), (26, 30)])
    zoom_in, zoom_out = views[10][0, 0], views[12][0, 0]
    assert np.unravel_index(zoom_in.argmax(), (48, 48))[1] > 30  # moves away from the centre
    assert np.unravel_index(zoom_out.argmax(), (48, 48))[1] < 31
    np.testing.assert_array_equal(views[13], views[12][..., ::-1])


def test_averaged_output_is_the_mean_over_the_views():
    x = np.random.default_rng(0).random((3, 1, 48, 48), np.float32)
    run = lambda v: v.reshape(len(v), -1)[:, :4] * 2.0  # noqa: E731
    want = np.mean([run(v) for v in tta_views(x, "crops")], 0)
    np.testing.assert_allclose(averaged_output(run, x, "crops"), want, rtol=1e-6)
    np.testing.assert_array_equal(averaged_output(run, x, None), run(x))


@pytest.mark.parametrize("mode", ["flip", "crops"])
def test_classifier_eval_and_pipeline_average_identically(clf, faces, mode):
    x = to_input(faces, clf.spec)
    logits = np.mean([clf.run(v) for v in tta_views(x, mode)], 0)
    want = proba_from_output(logits, clf.spec)
    np.testing.assert_allclose(clf.predict_proba(faces, tta=mode), want, atol=1e-6)
    np.testing.assert_allclose(model_outputs(clf, faces, mode, batch_size=4), logits, atol=1e-5)
    rec = Recognizer(detector="none", tta=mode)
    got = np.array([rec.analyze(f).faces[0].probs for f in faces])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert rec.with_options(min_confidence=0.5).tta == mode
    assert not np.allclose(clf.predict_proba(faces), want, atol=1e-3)  # averaging changed scores


def test_recognizer_and_analyze_refuse_an_unknown_mode(capsys):
    with pytest.raises(LiteferError, match="flip or crops"):
        Recognizer(detector="none", tta="mirror")
    with pytest.raises(SystemExit) as info:
        main(["analyze", "x.jpg", "--tta", "mirror"])
    assert info.value.code == 2 and "--tta" in capsys.readouterr().err
