"""Knowledge distillation while training: the ONNX teacher (one model, an ensemble, mirrored views)
and the Trainer's use of it."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="distillation tests need litefer[train] (torch)")

from litefer.errors import LiteferError  # noqa: E402
from litefer.labels import CKPLUS  # noqa: E402
from litefer.runtime.classifier import Classifier  # noqa: E402
from litefer.train.config import TrainConfig  # noqa: E402
from litefer.train.distill import OnnxTeacher  # noqa: E402
from litefer.train.engine import Trainer  # noqa: E402

from helpers import synthetic_faces  # noqa: E402

FP32, INT8 = "mini_xception.fer2013", "mini_xception.fer2013.int8"


def _log_probs(c: Classifier, x: np.ndarray) -> torch.Tensor:
    return torch.log_softmax(torch.from_numpy(c.run(np.ascontiguousarray(x))).double(), 1)


def test_teacher_returns_mean_log_probabilities_over_models_and_mirrored_views():
    fp32, int8 = Classifier(FP32), Classifier(INT8)
    x = torch.randn(6, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    one = OnnxTeacher([FP32], fp32.spec)(x)
    assert one.shape == (6, 7) and one.dtype == torch.float32
    torch.testing.assert_close(one.double(), _log_probs(fp32, x.numpy()), atol=1e-5, rtol=0)

    both = OnnxTeacher([FP32, INT8], fp32.spec, tta=True)(x)
    mirror = x.numpy()[..., ::-1]
    want = (_log_probs(fp32, x.numpy()) + _log_probs(fp32, mirror)
            + _log_probs(int8, x.numpy()) + _log_probs(int8, mirror)) / 4
    torch.testing.assert_close(both.double(), want, atol=1e-5, rtol=0)
    assert not torch.allclose(both, one, atol=1e-3)  # the ensemble and the mirror do count


def test_a_crops_teacher_averages_over_the_runtime_views():
    from litefer.runtime.views import tta_views

    fp32 = Classifier(FP32)
    x = torch.randn(4, 1, 48, 48, generator=torch.Generator().manual_seed(1))
    got = OnnxTeacher([FP32], fp32.spec, tta="crops")(x)
    want = torch.stack([_log_probs(fp32, v) for v in tta_views(x.numpy(), "crops")]).mean(0)
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=0)
    assert not torch.allclose(got, OnnxTeacher([FP32], fp32.spec, tta=True)(x), atol=1e-3)


def test_a_logit_adjusted_teacher_speaks_of_its_training_distribution(tmp_path):
    import shutil

    import onnx

    from litefer.optimize.artefact import metadata, restamp
    from litefer.train.distill import training_shift

    fp32 = Classifier(FP32)
    prior = np.array([0.1, 0.02, 0.14, 0.25, 0.17, 0.11, 0.21])
    x = torch.randn(5, 1, 48, 48, generator=torch.Generator().manual_seed(2))
    got = {}
    for a in (0.0, 1.0):
        path = tmp_path / f"adjusted{a}.onnx"
        shutil.copy(fp32.path, path)
        restamp(path, metadata(onnx.load(str(path))),
                fp32.spec.with_(prior=tuple(prior), logit_adjust=a))
        got[a] = OnnxTeacher([str(path)], fp32.spec)(x)
        np.testing.assert_allclose(training_shift(Classifier(path).spec), a * np.log(prior),
                                   rtol=1e-6)
    # a prior alone shifts nothing; a logit-adjusted model's logits get log(prior) back
    torch.testing.assert_close(got[0.0].double(), _log_probs(fp32, x.numpy()), atol=1e-5, rtol=0)
    raw = torch.from_numpy(fp32.run(np.ascontiguousarray(x.numpy()))).double()
    want = torch.log_softmax(raw + torch.from_numpy(np.log(prior)), 1)
    torch.testing.assert_close(got[1.0].double(), want, atol=1e-5, rtol=0)
    assert not torch.allclose(got[1.0], got[0.0], atol=1e-2)
    raw_mean = OnnxTeacher([str(tmp_path / "adjusted1.0.onnx")], fp32.spec, training_space=False)
    torch.testing.assert_close(raw_mean(x), got[0.0], atol=1e-6, rtol=0)  # as an output ensemble


def test_teacher_with_other_classes_than_the_student_is_refused():
    spec = Classifier(FP32).spec.with_(labels=CKPLUS.classes)
    with pytest.raises(LiteferError, match="labels"):
        OnnxTeacher([FP32], spec)
    with pytest.raises(LiteferError, match="at least one"):
        OnnxTeacher([], spec)


def _trainer(tmp_path, name, faces=None, **kw):
    cfg = TrainConfig(out=str(tmp_path / name), epochs=1, batch_size=32, threads=1,
                      tag="synthetic", **kw)
    return Trainer(cfg, train=faces or synthetic_faces(128), val=synthetic_faces(32, seed=1))


def _weights(trainer) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in trainer.model.parameters()])


def test_distillation_settings_are_checked(tmp_path):
    with pytest.raises(LiteferError, match="teacher"):
        _trainer(tmp_path, "a", distill=0.5)
    with pytest.raises(LiteferError, match=r"\[0, 1\]"):
        _trainer(tmp_path, "b", distill=1.5, teachers=(FP32,))
    with pytest.raises(LiteferError, match="weight is 0"):
        _trainer(tmp_path, "d", teachers=(FP32,))
    with pytest.raises(LiteferError, match="class weights"):
        _trainer(tmp_path, "c", distill=0.5, teachers=(FP32,), class_weights=True)


def test_full_distillation_ignores_the_labels_and_partial_distillation_uses_the_teacher(tmp_path):
    faces = synthetic_faces(128)
    shuffled = synthetic_faces(128)
    shuffled.labels = np.roll(shuffled.labels, 3)
    kd = dict(teachers=(FP32,), distill=1.0)
    a, b = _trainer(tmp_path, "a", faces, **kd), _trainer(tmp_path, "b", shuffled, **kd)
    a.fit(progress=False)
    b.fit(progress=False)
    torch.testing.assert_close(_weights(a), _weights(b))  # only the teacher's targets count

    plain = _trainer(tmp_path, "plain", faces)
    half = _trainer(tmp_path, "half", faces, teachers=(FP32,), distill=0.5, teacher_tta=True)
    plain.fit(progress=False)
    half.fit(progress=False)
    assert not torch.allclose(_weights(plain), _weights(half), atol=1e-4)
    saved = json.loads((tmp_path / "half" / "config.json").read_text())
    assert saved["teachers"] == [FP32] and saved["distill"] == 0.5 and saved["teacher_tta"]
    assert TrainConfig.from_dict(saved).teachers == (FP32,)


def test_card_command_reproduces_the_distillation_settings():
    import shlex

    from litefer.cli import build_parser
    from litefer.commands.train import config_from_args
    from litefer.optimize.card import training_command

    cfg = TrainConfig(data="d.csv.gz", out="runs/kd", tag="fer2013", teachers=("a.onnx", "b.onnx"),
                      teacher_tta=True, distill=0.9, distill_temperature=2.0, threads=1,
                      ema=0.999, teacher_views=8, teacher_mirror=True)
    cmd = training_command(cfg)
    assert "--ema 0.999" in cmd and "--teacher-views 8" in cmd and "--teacher-mirror" in cmd
    assert "--teacher a.onnx --teacher b.onnx --teacher-tta --distill 0.9" in cmd
    assert "--threads 1" in cmd  # runs are bit-identical only at the same thread count
    args = build_parser().parse_args(shlex.split(cmd)[1:] + ["--out", "runs/kd"])
    assert config_from_args(args) == cfg
    crops = TrainConfig(data="d.csv.gz", out="runs/kd", teachers=("a.onnx",),
                        teacher_tta="crops", distill=1.0)
    cmd = training_command(crops)
    assert "--teacher a.onnx --teacher-tta crops --distill 1.0" in cmd
    args = build_parser().parse_args(shlex.split(cmd)[1:] + ["--out", "runs/kd"])
    assert config_from_args(args) == crops
    args = build_parser().parse_args(["train", "--data", "d.csv.gz", "--teacher-tta", "flip"])
    assert config_from_args(args).teacher_tta is True  # flip is what configs record as True
    mixed = TrainConfig(data="d.csv.gz", out="runs/mix", mixup=0.2)
    cmd = training_command(mixed)
    assert "--mixup 0.2" in cmd
    args = build_parser().parse_args(shlex.split(cmd)[1:] + ["--out", "runs/mix"])
    assert config_from_args(args) == mixed
