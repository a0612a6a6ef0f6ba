import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training tests need litefer[train] (torch)")

from litefer.train.augment import random_affine  # noqa: E402
from litefer.train.config import AugmentConfig, TrainConfig  # noqa: E402
from litefer.train.engine import Trainer  # noqa: E402
from litefer.train.checkpoint import load_checkpoint  # noqa: E402

from helpers import synthetic_faces  # noqa: E402


def _trainer(tmp_path, epochs=1, batch_size=32, **kw):
    cfg = TrainConfig(out=str(tmp_path / "run"), epochs=epochs, batch_size=batch_size, threads=1,
                      tag="synthetic", **kw)
    return Trainer(cfg, train=synthetic_faces(280), val=synthetic_faces(70, seed=1))


def test_one_epoch_writes_checkpoints_logs_and_curves(tmp_path):
    summary = _trainer(tmp_path).fit(progress=False)
    run = tmp_path / "run"
    assert summary["epochs"] == 1 and summary["best_epoch"] == 1
    for name in ("best.pt", "last.pt", "history.csv", "history.json", "curves.png",
                 "config.json", "summary.json"):
        assert (run / name).is_file(), name
    row = json.loads((run / "history.json").read_text())[0]
    assert np.isfinite(row["train_loss"]) and 0 <= row["val_acc"] <= 1
    assert row["cpu_percent"] > 0 and row["peak_rss_mb"] > 10
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model, spec, info = load_checkpoint(run / "best.pt")
    assert spec.name == "mini_xception.synthetic" and info["epoch"] == 1


def test_resume_continues_from_last_checkpoint(tmp_path):
    _trainer(tmp_path, epochs=1).fit(progress=False)
    t = _trainer(tmp_path, epochs=2)
    assert t.epoch == 1
    t.fit(progress=False)
    assert [r["epoch"] for r in t.history] == [1, 2]


def test_training_is_deterministic_for_a_seed(tmp_path):
    a = _trainer(tmp_path / "a").fit(progress=False)
    b = _trainer(tmp_path / "b").fit(progress=False)
    assert a["best_val_acc"] == b["best_val_acc"]


def test_learns_the_synthetic_task(tmp_path):
    summary = _trainer(tmp_path, epochs=5, batch_size=16, lr=5e-3, warmup_epochs=0.5,
                       augment=AugmentConfig(enabled=False)).fit(progress=False)
    assert summary["best_val_acc"] > 0.5  # chance is 1/7


def test_augmentation_is_identity_when_disabled_and_changes_images_otherwise():
    x = torch.rand(4, 1, 48, 48)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(random_affine(x, AugmentConfig(enabled=False), g), x)
    y = random_affine(x, AugmentConfig(), g)
    assert y.shape == x.shape and not torch.allclose(y, x)


def test_flip_only_augmentation_mirrors_exactly():
    x = torch.rand(64, 1, 8, 8)
    cfg = AugmentConfig(shift=0, rotation=0, zoom=0, hflip=True)
    y = random_affine(x, cfg, torch.Generator().manual_seed(1))
    same = torch.isclose(y, x, atol=1e-5).flatten(1).all(1)
    mirrored = torch.isclose(y, x.flip(3), atol=1e-5).flatten(1).all(1)
    assert bool((same | mirrored).all()) and 10 < int(mirrored.sum()) < 54


def test_init_from_starts_at_a_checkpoints_weights_and_refuses_another_model(tmp_path):
    from litefer.errors import LiteferError

    _trainer(tmp_path / "first").fit(progress=False)
    ckpt = tmp_path / "first" / "run" / "best.pt"
    saved = torch.load(ckpt, weights_only=False)["model"]
    t = _trainer(tmp_path / "second", init_from=str(ckpt))
    assert t.epoch == 0  # a new schedule, not a resume
    for k, v in t.model.state_dict().items():
        torch.testing.assert_close(v, saved[k])
    with pytest.raises(LiteferError, match="mini_xception"):
        _trainer(tmp_path / "third", model="nano_b", init_from=str(ckpt))


def test_init_from_an_exported_onnx_continues_the_same_function_in_both_modes(tmp_path):
    from litefer.errors import LiteferError
    from litefer.models import create_model
    from litefer.optimize.export import export_onnx
    from litefer.runtime.classifier import Classifier
    from litefer.train.loop import batch_tensor
    from litefer.train.transfer import init_from_onnx

    first = _trainer(tmp_path / "first", model="nano_b")
    first.fit(progress=False)
    src, spec, _ = load_checkpoint(tmp_path / "first" / "run" / "best.pt")
    path = export_onnx(src, spec, tmp_path / "m.onnx")  # BatchNorms folded into the convs
    t = _trainer(tmp_path / "second", model="nano_b", init_from=str(path))
    assert t.epoch == 0 and t.model.training
    faces = batch_tensor(first.x_train[:128], spec)
    with torch.no_grad():  # every layer, the classifier included, computes what the file does
        want = Classifier(str(path)).run(faces.numpy())
        np.testing.assert_allclose(t.model.eval()(faces).numpy(), want, atol=1e-4)
        # training mode normalises by the batch; the plain folded load (mean 0, variance 1)
        # changes the function there, the calibrated statistics keep it close
        plain, _ = create_model("nano_b", t.spec)
        init_from_onnx(plain, t.spec, path)
        drift = lambda m: float((m.train()(faces) - torch.from_numpy(want)).abs().mean())  # noqa: E731
        assert drift(t.model) < 0.5 * drift(plain)
    with pytest.raises(LiteferError, match="holds a 'nano_b' model"):
        _trainer(tmp_path / "third", model="mini_xception", init_from=str(path))
    renamed = export_onnx(src, spec.with_(labels=tuple(reversed(spec.labels))), tmp_path / "r.onnx")
    with pytest.raises(LiteferError, match="predicts"):
        _trainer(tmp_path / "fourth", model="nano_b", init_from=str(renamed))


def test_weight_average_follows_the_decay_rule_and_copies_integer_buffers():
    from litefer.train.ema import WeightAverage

    live = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    avg = WeightAverage(live, decay=0.9)
    w0 = avg.module[0].weight.clone()
    with torch.no_grad():
        live[0].weight.add_(1.0)
    live[1].num_batches_tracked += 5
    d = avg.current_decay()
    assert d == pytest.approx(1 / 10)  # warmed up: (1 + 0) / (10 + 0)
    avg.update(live)
    torch.testing.assert_close(avg.module[0].weight, d * w0 + (1 - d) * live[0].weight)
    assert int(avg.module[1].num_batches_tracked) == 5
    assert not avg.module[0].weight.requires_grad
    avg.updates = 10_000
    assert avg.current_decay() == 0.9
    with pytest.raises(ValueError):
        WeightAverage(live, decay=1.0)


def test_ema_run_saves_the_average_and_resumes_it_exactly(tmp_path):
    kw = dict(ema=0.9, lr=5e-3, warmup_epochs=0.5)
    whole = _trainer(tmp_path / "a", epochs=2, **kw)
    whole.fit(progress=False)
    rows = json.loads((tmp_path / "a" / "run" / "history.json").read_text())
    assert all(0 <= r["live_val_acc"] <= 1 for r in rows)
    first = _trainer(tmp_path / "b", epochs=2, **kw)
    first.cfg.epochs = 1  # interrupted after epoch 1 of a 2-epoch schedule
    first.fit(progress=False)
    best, _, info = load_checkpoint(tmp_path / "b" / "run" / "best.pt")
    assert info["epoch"] == 1  # best.pt holds the average, not the live weights
    for k, v in best.state_dict().items():
        torch.testing.assert_close(v, first.ema.module.state_dict()[k])
    assert any(not torch.equal(v, first.model.state_dict()[k])
               for k, v in best.state_dict().items() if v.dtype.is_floating_point)
    resumed = _trainer(tmp_path / "b", epochs=2, **kw)
    assert resumed.epoch == 1 and resumed.ema.updates == first.ema.updates
    resumed.fit(progress=False)
    for k, v in resumed.ema.module.state_dict().items():
        torch.testing.assert_close(v, whole.ema.module.state_dict()[k])


def test_ema_is_refused_with_pruning_and_when_resuming_a_run_without_it(tmp_path):
    from litefer.errors import LiteferError

    with pytest.raises(LiteferError, match="--ema cannot be combined"):
        _trainer(tmp_path / "p", ema=0.99, prune_to=0.5)
    _trainer(tmp_path / "r", epochs=1).fit(progress=False)
    with pytest.raises(LiteferError, match="without --ema"):
        _trainer(tmp_path / "r", epochs=2, ema=0.99)


def test_mixup_blends_a_batch_with_its_permutation_reproducibly():
    from litefer.errors import LiteferError
    from litefer.train.mixup import mixed_loss, mixup_batch

    x = torch.randn(16, 1, 8, 8)
    g = torch.Generator().manual_seed(3)
    state = g.get_state()
    same, perm, lam = mixup_batch(x, 0.0, g)
    assert same is x and perm is None and lam == 1.0
    assert torch.equal(g.get_state(), state)  # off: draws nothing, so old runs stay identical
    mixed, perm, lam = mixup_batch(x, 0.4, g)
    assert 0.5 <= lam <= 1.0 and sorted(perm.tolist()) == list(range(16))
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[perm])
    again = mixup_batch(x, 0.4, torch.Generator().manual_seed(3))
    assert torch.equal(again[1], perm) and again[2] == lam
    lams = [mixup_batch(x, 0.4, g)[2] for _ in range(200)]
    assert 0.5 <= min(lams) and max(lams) <= 1.0 and np.std(lams) > 0.05  # really drawn
    y = torch.arange(16) % 7
    logits = torch.randn(16, 7)
    ce = torch.nn.functional.cross_entropy
    torch.testing.assert_close(mixed_loss(lambda t: ce(logits, t), y, perm, lam),
                               lam * ce(logits, y) + (1 - lam) * ce(logits, y[perm]))
    assert mixed_loss(lambda t: ce(logits, t), y, None, 1.0) == ce(logits, y)
    with pytest.raises(LiteferError, match="mixup"):
        mixup_batch(x, -0.1, g)


@pytest.mark.parametrize("command", ["train", "cv"])
@pytest.mark.parametrize("flag, value, message", [("--mixup", "-0.1", "mixup alpha must be >= 0"),
                                                  ("--ema", "1.5", "decay must be in")])
def test_bad_mixup_or_average_is_refused_before_any_data_loads(tmp_path, capsys, command, flag,
                                                                value, message):
    from litefer.cli import main

    missing = tmp_path / "no_such_data"  # a data error would name it: the check comes first
    assert main([command, "--model", "nano_b", "--data", str(missing), flag, value]) == 2
    err = capsys.readouterr().err
    assert message in err and "no_such_data" not in err


def test_mixup_reaches_the_training_loop(tmp_path, monkeypatch):
    import litefer.train.loop as loop

    seen = []
    real = loop.mixup_batch

    def spy(x, alpha, gen):
        out = real(x, alpha, gen)
        seen.append((alpha, out[2]))
        return out

    monkeypatch.setattr(loop, "mixup_batch", spy)
    plain = _trainer(tmp_path / "a", limit=64).fit(progress=False)
    assert {a for a, _ in seen} == {0.0} and {lam for _, lam in seen} == {1.0}
    seen.clear()
    _trainer(tmp_path / "b", limit=64, mixup=0.4).fit(progress=False)
    assert len(seen) == 2 and all(a == 0.4 and 0.5 <= lam < 1.0 for a, lam in seen)
    a = json.loads((tmp_path / "a" / "run" / "history.json").read_text())[0]
    b = json.loads((tmp_path / "b" / "run" / "history.json").read_text())[0]
    assert a["train_loss"] != b["train_loss"] and plain["epochs"] == 1
