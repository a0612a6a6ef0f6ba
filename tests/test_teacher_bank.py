"""The teacher bank (`litefer train --teacher-views K`): teacher outputs cached on fixed augmented
views, consistent with the pixels the student sees, deterministic, resumable and extendable."""
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="teacher-bank tests need litefer[train] (torch)")

from litefer.errors import LiteferError  # noqa: E402
from litefer.train.onnx_file import sha256  # noqa: E402
from litefer.runtime.classifier import Classifier  # noqa: E402
from litefer.train.config import AugmentConfig, TrainConfig  # noqa: E402
from litefer.train.cv import CVConfig  # noqa: E402
from litefer.train.distill import OnnxTeacher  # noqa: E402
from litefer.train.engine import Trainer, faces_to_uint8  # noqa: E402
from litefer.train.teacher_bank import bank_fingerprint, load_or_build_bank  # noqa: E402

from helpers import synthetic_faces  # noqa: E402

TEACHER = "mini_xception.fer2013"


@pytest.fixture(scope="module")
def setup():
    spec = Classifier(TEACHER).spec
    fs = synthetic_faces(40)
    return spec, faces_to_uint8(fs, spec), fs.labels, OnnxTeacher([TEACHER], spec, tta=True)


def _bank(setup, folder, views, seed=0, augment=AugmentConfig(), mirror=False):
    spec, x, y, teacher = setup
    return load_or_build_bank(x, y, spec, teacher, augment, views, seed, folder, batch_size=16,
                              progress=False, mirror=mirror)


def test_a_banked_batch_carries_the_teachers_logits_for_exactly_its_pixels(setup, tmp_path):
    spec, x, _, teacher = setup
    bank = _bank(setup, tmp_path, views=3)
    assert bank.theta.shape == (40, 3, 2, 3) and bank.logits.shape == (40, 3, 7)
    assert bank.logits.dtype == np.float32
    idx = np.array([0, 5, 6, 39])
    xb, soft = bank.batch(x, idx, spec, torch.Generator().manual_seed(1))
    assert xb.shape == (4, 1, 48, 48) and soft.shape == (4, 7)
    torch.testing.assert_close(soft, teacher(xb), atol=1e-4, rtol=0)
    # the views of one image are different warps, and the teacher sees the difference
    assert not np.allclose(bank.theta[0, 0], bank.theta[0, 1])
    assert not np.allclose(bank.logits[:, 0], bank.logits[:, 1], atol=1e-3)
    # over many draws every view is used
    seen = {tuple(np.round(bank.batch(x, np.array([7]), spec, g)[1].numpy()[0], 4))
            for g in [torch.Generator().manual_seed(s) for s in range(30)]}
    assert len(seen) == 3


def test_mirrored_views_are_exact_mirrors_with_the_flip_averaged_teachers_logits(setup, tmp_path):
    spec, x, y, teacher = setup
    plain = _bank(setup, tmp_path, views=3)
    mirrored = _bank(setup, tmp_path, views=3, mirror=True)
    idx = np.arange(40)
    xp, sp = plain.batch(x, idx, spec, torch.Generator().manual_seed(2))
    xm, sm = mirrored.batch(x, idx, spec, torch.Generator().manual_seed(2))
    torch.testing.assert_close(sm, sp)  # the same views were drawn
    torch.testing.assert_close(sm, teacher(xm), atol=1e-4, rtol=0)
    same = [torch.allclose(a, b, atol=1e-5) for a, b in zip(xm, xp)]
    flipped = [torch.allclose(a, b.flip(-1), atol=1e-5) for a, b in zip(xm, xp)]
    assert all(s != f for s, f in zip(same, flipped))  # each one is the view or its mirror
    assert 5 < sum(flipped) < 35
    with pytest.raises(LiteferError, match="flip-averaged"):
        load_or_build_bank(x, y, spec, OnnxTeacher([TEACHER], spec), AugmentConfig(), 1, 0,
                           tmp_path, progress=False, mirror=True)


def test_a_bank_is_deterministic_resumes_and_grows_view_by_view(setup, tmp_path):
    small = _bank(setup, tmp_path, views=2)
    (folder,) = tmp_path.iterdir()
    first = (folder / "view_00.npz").stat().st_mtime_ns
    (folder / "view_01.npz").unlink()  # an interrupted build
    grown = _bank(setup, tmp_path, views=3)
    assert (folder / "view_00.npz").stat().st_mtime_ns == first  # not recomputed
    assert sorted(p.name for p in folder.iterdir()) == ["bank.json"] + [f"view_0{v}.npz" for v in range(3)]
    manifest = json.loads((folder / "bank.json").read_text())  # a folder can be told apart
    spec, x, _, teacher = setup
    assert manifest["teachers"] == [{"file": Path(p).name, "sha256": sha256(p)} for p in teacher.paths]
    assert manifest["tta"] is True and manifest["seed"] == 0 and manifest["images"] == list(x.shape)
    assert manifest["augment"] == asdict(AugmentConfig())
    np.testing.assert_array_equal(grown.theta[:, :2], small.theta)
    np.testing.assert_allclose(grown.logits[:, :2], small.logits, atol=1e-6)
    other = _bank(setup, tmp_path / "elsewhere", views=3)
    np.testing.assert_array_equal(other.theta, grown.theta)


def test_the_fingerprint_follows_every_input_of_a_view(setup):
    spec, x, y, teacher = setup
    base = bank_fingerprint(x, y, teacher, AugmentConfig(), 0)
    assert bank_fingerprint(x, y, teacher, AugmentConfig(), 0) == base
    changed = [bank_fingerprint(x, y, teacher, AugmentConfig(), 1),
               bank_fingerprint(x, y, teacher, AugmentConfig(rotation=5.0), 0),
               bank_fingerprint(x, np.roll(y, 1), teacher, AugmentConfig(), 0),
               bank_fingerprint(x[::-1].copy(), y, teacher, AugmentConfig(), 0),
               bank_fingerprint(x, y, OnnxTeacher([TEACHER], spec), AugmentConfig(), 0),
               bank_fingerprint(x, y, OnnxTeacher(["mini_xception.fer2013.int8"], spec, tta=True),
                                AugmentConfig(), 0)]
    assert base not in changed and len(set(changed)) == len(changed)


def test_training_on_a_bank_never_runs_the_teacher_again(tmp_path):
    cfg = TrainConfig(out=str(tmp_path / "run"), epochs=2, batch_size=16, threads=1,
                      tag="synthetic", teachers=(TEACHER,), distill=0.5, teacher_views=2,
                      teacher_bank=str(tmp_path / "bank"))
    trainer = Trainer(cfg, train=synthetic_faces(48), val=synthetic_faces(16, seed=1))
    before = torch.cat([p.detach().flatten() for p in trainer.model.parameters()]).clone()

    def refuse(_x):
        raise AssertionError("the teacher ran although its outputs are banked")

    trainer.teacher = refuse
    summary = trainer.fit(progress=False)
    after = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    assert summary["epochs"] == 2 and not torch.allclose(before, after)
    assert len(list((tmp_path / "bank").glob("*/view_*.npz"))) == 2


@pytest.mark.parametrize("kw, message", [
    (dict(teacher_views=-1), "teacher views must be >= 0"),
    (dict(teacher_views=4), "needs --teacher"),
    (dict(teacher_views=4, teachers=(TEACHER,), distill=0.5, mixup=0.2), "cannot be combined"),
    (dict(teacher_mirror=True, teachers=(TEACHER,), distill=0.5, teacher_tta=True),
     "needs --teacher-views"),
    (dict(teacher_mirror=True, teachers=(TEACHER,), distill=0.5, teacher_views=4),
     "--teacher-tta"),
])
def test_bad_bank_settings_are_refused_before_any_data_loads(kw, message):
    with pytest.raises(LiteferError, match=message):
        TrainConfig(**kw)


def test_cross_validation_refuses_a_bank():
    with pytest.raises(LiteferError, match="litefer train"):
        CVConfig(train=TrainConfig(teachers=(TEACHER,), distill=0.5, teacher_views=2))
