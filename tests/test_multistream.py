"""Four-stream network: stream and fusion shapes, LBP-TOP parity with litefer.features, frozen
streams while one stage trains, and a tiny end-to-end training run."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="model tests need litefer[train] (torch)")

from litefer.data import FaceSet  # noqa: E402
from litefer.features import lbp_top  # noqa: E402
from litefer.labels import CKPLUS  # noqa: E402
from litefer.models import create_model, get_entry  # noqa: E402
from litefer.models.multistream import (STAGES, STREAMS, MultiStreamConfig,  # noqa: E402
                                        MultiStreamNet, lbp_planes)
from litefer.train.multistream import (RunConfig, StageConfig, build_sequences,  # noqa: E402
                                       run)

TINY = MultiStreamConfig(frames=5, size=16, widths=(4, 8), lbp_widths=(4,), dropout=0.0)


def tiny_net(seed: int = 0, cfg: MultiStreamConfig = TINY) -> MultiStreamNet:
    torch.manual_seed(seed)
    return MultiStreamNet(cfg, num_classes=3).eval()


def frames(n: int, cfg: MultiStreamConfig = TINY, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, cfg.frames, cfg.size, cfg.size, generator=g) * 2 - 1


def test_each_stream_gives_a_128_d_vector_and_its_own_logits():
    net, x = tiny_net(), frames(2)
    vecs = net.vectors(x)
    assert list(vecs) == list(STREAMS)
    assert all(v.shape == (2, 128) for v in vecs.values())
    for stage in STAGES:
        assert net.stream_logits(stage, x).shape == (2, 3)
    assert net.heads["fusion"].in_features == 512
    torch.testing.assert_close(net(x), net.stream_logits("fusion", x))


def test_filmstrip_and_frame_stack_inputs_agree_and_other_shapes_raise():
    net, x = tiny_net(), frames(2)
    strip = x.reshape(2, 1, TINY.frames * TINY.size, TINY.size)
    torch.testing.assert_close(net(strip), net(x))
    with pytest.raises(ValueError, match="filmstrip"):
        net(torch.zeros(2, 1, TINY.size, TINY.size))


def test_frame_outputs_are_per_frame_features_and_probabilities():
    net, x = tiny_net(), frames(2)
    feats, probs = net.frame_outputs(x)
    assert feats.shape == (2, TINY.frames, 128) and probs.shape == (2, TINY.frames, 3)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, TINY.frames))
    torch.testing.assert_close(feats[:, -1], net.cnn.features(x[:, -1:]))


@pytest.mark.parametrize("mapping", ["plain", "uniform"])
def test_torch_lbp_planes_equal_the_numpy_reference(mapping, rng):
    raw = rng.integers(0, 256, (2, 10, 20, 18)).astype(np.uint8)
    normed = torch.from_numpy((raw.astype(np.float32) / 255 - 0.5) / 0.5)
    xt, yt = lbp_planes(normed, mapping)
    ref = lbp_top(raw, mapping)
    assert xt.shape == yt.shape == (2, 8, 18, 16)
    np.testing.assert_array_equal(xt.numpy(), ref.xt)
    np.testing.assert_array_equal(yt.numpy(), ref.yt)


def _snapshot(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _stage_keys(net, stage):
    names = {id(p): n for n, p in net.named_parameters()}
    keys = set()
    for m in net.stage_modules(stage):
        keys |= {names[id(p)] for p in m.parameters()}
    return keys


@pytest.mark.parametrize("stage", STAGES)
def test_training_one_stage_leaves_every_other_weight_and_statistic_unchanged(stage):
    net, x, y = tiny_net(), frames(4), torch.tensor([0, 1, 2, 0])
    before = _snapshot(net)
    params = net.train_stage(stage)
    assert {n for n, p in net.named_parameters() if p.requires_grad} == _stage_keys(net, stage)
    opt = torch.optim.SGD(params, lr=0.5)
    for _ in range(2):
        loss = torch.nn.functional.cross_entropy(net.stream_logits(stage, x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    own = _stage_keys(net, stage)
    prefixes = tuple(k.rsplit(".", 1)[0] + "." for k in own)
    assert changed & own, "the trained stage did not move"
    assert all(k in own or k.startswith(prefixes) for k in changed), changed - own


def test_fusion_training_keeps_streams_frozen_and_in_eval_mode():
    net, x = tiny_net(), frames(4)
    before = _snapshot(net)
    net.train_stage("fusion")
    assert not net.cnn.training and not net.lbp.training and net.heads["fusion"].training
    net(x).sum().backward()
    frozen = [p for n, p in net.named_parameters() if not n.startswith("heads.fusion")]
    assert frozen and all(p.grad is None for p in frozen)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics included


def test_a_few_end_to_end_steps_reduce_the_loss():
    net, x, y = tiny_net(1), frames(6, seed=1), torch.tensor([0, 1, 2, 0, 1, 2])
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()  # batch statistics (dropout is 0 in TINY), so the loss is a function of weights
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_registered_model_uses_the_thesis_shapes_and_takes_overrides():
    spec = get_entry("multistream").spec
    assert spec.input_size == (640, 64) and spec.seq_len == 10 and spec.labels == CKPLUS.classes
    assert spec.extra["multistream_config"]["widths"] == [64, 128, 256]
    model, _ = create_model("multistream", size=16, frames=4, widths=(4,), lbp_widths=(4,))
    assert model.eval()(torch.zeros(1, 1, 64, 16)).shape == (1, 7)
    with pytest.raises(ValueError, match="unknown MultiStreamConfig keys"):
        create_model("multistream", widht=3)
    with pytest.raises(ValueError, match="lbp_mapping"):
        MultiStreamConfig(lbp_mapping="riu2")
    with pytest.raises(ValueError, match="frames >= 3"):
        MultiStreamConfig(frames=2)


def test_subject_grouped_run_trains_every_stage_on_synthetic_stills(rng):
    n = 24
    faces = rng.integers(0, 256, (n, 16, 16)).astype(np.uint8)
    labels = np.arange(n) % 3
    faces[labels == 1, 4:8] = 255  # a learnable "expression"
    fs = FaceSet(faces, labels.astype(np.int64), CKPLUS,
                 np.array([f"S{i % 6:03d}" for i in range(n)], dtype=object))
    cfg = RunConfig(folds=3, run_folds=1, model=TINY,
                    stages={s: StageConfig(epochs=2, batch_size=8) for s in STAGES})
    seqs = build_sequences(fs, TINY)
    assert seqs.frames.shape == (n, 5, 16, 16) and seqs.xt.shape == (n, 3, 14, 14)
    report = run(cfg, seqs, progress=False, log=lambda m: None)
    fold = report["folds"][0]
    train_subjects = {f"S{i:03d}" for i in range(6)} - set(fold["subjects"])
    assert train_subjects and fold["n"] == 8  # two subjects of four images each
    assert set(report["mean_accuracy"]) == set(STAGES)
    assert all(0.0 <= a <= 1.0 for a in fold["accuracy"].values())
    assert fold["end_to_end_max_abs_diff"] < 1e-4


def test_cli_forwards_options_and_reports_a_missing_folder(tmp_path, capsys):
    from litefer.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["multistream", "--help"])
    assert exc.value.code == 0 and "--epochs-fusion" in capsys.readouterr().out
    assert main(["multistream", "--data", str(tmp_path / "missing"), "--out",
                 str(tmp_path / "out")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
