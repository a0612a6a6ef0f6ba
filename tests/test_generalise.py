"""Training for faces from elsewhere: domain-shift augmentation, the logit-adjusted loss, extra
training sets, runtime framing of training crops, and the train/ -> optimize/ layering."""
import ast
from pathlib import Path

import cv2
import numpy as np
import pytest

from litefer.train.domain import DomainConfig, domain_shift

from helpers import synthetic_faces

SRC = Path(__file__).resolve().parents[1] / "src" / "litefer"


def _batch(n=16, seed=0):
    return synthetic_faces(n, seed).images[:, None].copy()


def test_domain_shift_off_returns_the_batch_and_draws_nothing():
    x, rng = _batch(), np.random.default_rng(0)
    assert domain_shift(x, DomainConfig(), rng) is x
    assert rng.random() == np.random.default_rng(0).random()


def test_domain_shift_changes_images_reproducibly_and_keeps_shape():
    x = _batch()
    cfg = DomainConfig.preset(1.0)
    a = domain_shift(x, cfg, np.random.default_rng(3))
    b = domain_shift(x, cfg, np.random.default_rng(3))
    assert a.shape == x.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert all((a[i] != x[i]).any() for i in range(len(x)))
    assert (domain_shift(x, cfg, np.random.default_rng(4)) != a).any()


def test_occlusion_paints_one_constant_rectangle_of_the_stated_size():
    x = np.full((1, 1, 48, 48), 7, np.uint8)
    out = domain_shift(x, DomainConfig(erase=1.0), np.random.default_rng(1))[0, 0]
    changed = np.argwhere(out != 7)
    if len(changed) == 0:  # the drawn grey level happened to be 7
        pytest.skip("drawn fill equals the background")
    (y0, x0), (y1, x1) = changed.min(0), changed.max(0)
    box = out[y0:y1 + 1, x0:x1 + 1]
    assert (box == box[0, 0]).all()
    assert 0.08 * 48 * 48 <= box.size <= 0.27 * 48 * 48


def test_jpeg_only_matches_an_opencv_round_trip_at_a_quality_in_range():
    x = _batch(1)
    out = domain_shift(x, DomainConfig(jpeg=1.0), np.random.default_rng(0))[0, 0]
    trips = []
    for q in range(15, 61):
        ok, buf = cv2.imencode(".jpg", x[0, 0], [cv2.IMWRITE_JPEG_QUALITY, q])
        trips.append(np.array_equal(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), out))
    assert any(trips)


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_domain_probabilities_outside_0_1_are_refused(bad):
    with pytest.raises(ValueError, match="probability"):
        DomainConfig(blur=bad)


def test_train_package_imports_nothing_from_optimize():
    offenders = []
    for path in (SRC / "train").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = ("." * node.level) + (node.module or "")
                if "optimize" in target.split("."):
                    offenders.append(f"{path.name}: {target}")
            elif isinstance(node, ast.Import):
                offenders += [f"{path.name}: {a.name}" for a in node.names
                              if a.name.startswith("litefer.optimize")]
    assert offenders == []


# --- training half -------------------------------------------------------------------------

def _torch():
    return pytest.importorskip("torch", reason="training tests need litefer[train] (torch)")


def _write_muxspace(root: Path, n=14, label="happy", split="train"):
    (root / "images").mkdir(parents=True)
    rows = ["path,label,subject,split,width,height"]
    for i, img in enumerate(synthetic_faces(n, seed=5).images):
        cv2.imwrite(str(root / "images" / f"f{i}.png"), cv2.resize(img, (96, 96)))
        rows.append(f"images/f{i}.png,{label},p{i % 3},{split},96,96")
    rows.append("images/f0.png,contempt,p0,train,96,96")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def test_extra_data_is_appended_and_the_prior_and_loss_bias_follow_the_labels(tmp_path):
    _torch()
    from litefer.train.config import TrainConfig
    from litefer.train.engine import Trainer

    mux = _write_muxspace(tmp_path / "mux")
    cfg = TrainConfig(out=str(tmp_path / "run"), epochs=1, batch_size=32, threads=1,
                      extra_data=(f"{mux}:train",), logit_adjust=1.0)
    t = Trainer(cfg, train=synthetic_faces(70), val=synthetic_faces(14, seed=1))
    assert len(t.y_train) == 70 + 14  # the contempt row is left out
    counts = np.bincount(t.y_train, minlength=7)
    np.testing.assert_allclose(t.spec.prior, counts / counts.sum())
    np.testing.assert_allclose(t.loss_bias.numpy(), np.log(counts / counts.sum()), rtol=1e-6)
    assert t.spec.logit_adjust == 1.0  # what a teacher made of this run is shifted back by


def test_extra_data_in_another_label_space_is_refused(tmp_path):
    _torch()
    from litefer.errors import LiteferError
    from litefer.train.engine import load_extra
    from litefer.labels import CKPLUS

    mux = _write_muxspace(tmp_path / "mux")
    with pytest.raises(LiteferError, match="differ"):
        load_extra((f"{mux}:train",), CKPLUS)


def test_logit_adjusted_loss_is_plain_cross_entropy_plus_the_log_prior():
    torch = _torch()
    from litefer.train.config import TrainConfig
    from litefer.train.loop import batch_loss

    cfg = TrainConfig(label_smoothing=0.0)
    logits = torch.tensor([[1.0, 0.0, -1.0], [0.2, 0.3, 0.1]])
    y = torch.tensor([2, 0])
    prior = torch.tensor([0.7, 0.2, 0.1])
    ce = torch.nn.CrossEntropyLoss()
    adjusted = batch_loss(logits + prior.log(), logits, y, None, 1.0, cfg, ce)
    by_hand = -np.mean([np.log(np.exp(r[k]) / np.exp(r).sum()) for r, k in
                        zip((logits + prior.log()).numpy(), y.numpy())])
    assert float(adjusted) == pytest.approx(by_hand, rel=1e-6)
    # a uniform prior shifts every logit equally: the loss is unchanged
    uniform = batch_loss(logits + torch.full((3,), 1 / 3).log(), logits, y, None, 1.0, cfg, ce)
    assert float(uniform) == pytest.approx(float(ce(logits, y)), rel=1e-6)


def _astronaut_face(size=96):
    from litefer import Recognizer
    from litefer.io import load_image

    img = load_image(SRC / "assets" / "astronaut.jpg")
    x1, y1, x2, y2 = (int(round(v)) for v in Recognizer().analyze(img).faces[0].box)
    return cv2.resize(img[y1:y2, x1:x2], (size, size), interpolation=cv2.INTER_AREA)


def test_training_preparation_frames_a_face_as_the_runtime_does():
    """The crop that training preparation makes from a tight face crop is the crop the runtime
    classifies when it analyses the same face shown on the same canvas."""
    from litefer import Recognizer
    from litefer.evalpipeline import canvas
    from litefer.preprocess import fit_crop
    from litefer.train.framing import frame_like_runtime

    rec = Recognizer()
    face = cv2.cvtColor(_astronaut_face(), cv2.COLOR_RGB2GRAY)
    x = fit_crop(face, rec.spec)[None]
    prepared, found = frame_like_runtime(x, rec.spec, rec.detector, rec.framing, False)
    assert found.tolist() == [True] and (prepared != x).any()
    big, _ = canvas(x[0, 0])
    result = rec.analyze(big)
    assert len(result.faces) == 1
    runtime = rec.classifier.predict_proba([cv2.cvtColor(prepared[0, 0], cv2.COLOR_GRAY2RGB)])
    np.testing.assert_allclose(result.faces[0].probs, runtime[0], atol=1e-6)


def test_training_preparation_keeps_the_crop_where_no_face_is_found():
    from litefer import Recognizer
    from litefer.train.framing import frame_like_runtime

    rec = Recognizer()
    x = np.full((2, 1, 48, 48), 128, np.uint8)
    out, found = frame_like_runtime(x, rec.spec, rec.detector, rec.framing, False)
    assert found.tolist() == [False, False]
    np.testing.assert_array_equal(out, x)


def test_export_writes_the_prior_correction_the_runtime_applies(tmp_path, capsys):
    _torch()
    import json

    from litefer.cli import main
    from litefer.metrics import softmax
    from litefer.preprocess import to_input
    from litefer.runtime import Classifier
    from litefer.train.config import TrainConfig
    from litefer.train.engine import Trainer

    cfg = TrainConfig(model="nano_b", out=str(tmp_path / "run"), epochs=1, batch_size=32,
                      threads=1, tag="la", logit_adjust=1.0)
    train = synthetic_faces(70).subset(np.r_[0:70, 0:70:7])  # an uneven label prior
    Trainer(cfg, train=train, val=synthetic_faces(14, seed=1)).fit(progress=False)
    out = tmp_path / "onnx"
    assert main(["export", "--model", str(tmp_path / "run" / "last.pt"), "--out", str(out),
                 "--prior-tau=-0.5"]) == 0
    path = Path(json.loads(capsys.readouterr().out)["path"])
    clf = Classifier(path)
    counts = np.bincount(train.labels, minlength=7)
    assert clf.spec.prior_tau == -0.5 and clf.spec.logit_adjust == 1.0
    np.testing.assert_allclose(clf.spec.prior, counts / counts.sum(), rtol=1e-6)
    crops = list(synthetic_faces(5, seed=2).images)
    raw = clf.run(to_input(crops, clf.spec))
    by_hand = softmax(raw.astype(np.float64) + 0.5 * np.log(counts / counts.sum()))
    np.testing.assert_allclose(clf.predict_proba(crops), by_hand, atol=1e-5)
    assert not np.allclose(clf.predict_proba(crops), softmax(raw.astype(np.float64)), atol=1e-3)
