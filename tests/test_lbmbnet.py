"""LB-MBNet: frozen ternary LBC kernels, SE-guided pruning and rebuilding, ONNX parity, prune-se.
Synthetic and small; skips without litefer[train]."""
import argparse
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="LB-MBNet needs litefer[train] (torch)")

from litefer.errors import LiteferError  # noqa: E402
from litefer.models import create_model, list_models  # noqa: E402
from litefer.models.layers import count_params  # noqa: E402
from litefer.models.lbmbnet import (LBConv2d, LBMBConfig, LBMBNet, arch_name,  # noqa: E402
                                    lbc_kernels, se_hidden)
from litefer.models.profile import count_macs  # noqa: E402
from litefer.optimize import se_prune  # noqa: E402

from helpers import synthetic_faces, write_fer_csv  # noqa: E402

torch.set_num_threads(1)


def _lbc(model):
    return {n: m for n, m in model.named_modules() if isinstance(m, LBConv2d)}


def _busy(model, seed=0):
    """Non-trivial BN statistics and SE biases, so that scores differ and folding is exercised."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 1.5 + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=gen) * 0.2 - 0.1)
            if isinstance(m, se_prune.LBMBConv):
                m.se.expand.bias.copy_(torch.randn(m.se.expand.out_channels, generator=gen))
    return model.eval()


def _x(n=6, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, 1, 48, 48))
                            .astype(np.float32))


def test_six_variants_are_registered_with_their_config_in_the_spec():
    names = [arch_name(d, r) for d in (32, 59) for r in (3, 6, 20)]
    assert set(names) <= set(list_models()) and "lbmbnet32" in names
    for name in names:
        model, spec = create_model(name)
        cfg = LBMBConfig(**spec.extra["lbmb_config"])
        assert model.config == cfg and arch_name(cfg.depth, cfg.ratio) == name


@pytest.mark.parametrize("depth,blocks", [(32, 10), (59, 19)])
def test_depth_counts_stem_three_layers_per_block_and_the_classifier(depth, blocks):
    model = LBMBNet(LBMBConfig(depth=depth, ratio=3))
    assert len(model.blocks) == blocks
    weighted = [n for n, m in model.named_modules()
                if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and ".se." not in n]
    assert len(weighted) == depth


def test_kernels_are_ternary_with_the_requested_sparsity_and_reproducible():
    for sparsity in (0.1, 0.5, 0.9):
        k = lbc_kernels(4000, sparsity, seed=3)
        assert k.shape == (4000, 1, 3, 3) and k.dtype == torch.float32
        assert set(k.unique().tolist()) <= {-1.0, 0.0, 1.0}
        nonzero = float((k != 0).float().mean())
        assert abs(nonzero - sparsity) < 0.01
        assert abs(float((k == 1).sum() - (k == -1).sum())) / float((k != 0).sum()) < 0.05
        assert torch.equal(k, lbc_kernels(4000, sparsity, seed=3))
    assert not torch.equal(lbc_kernels(64, 0.5, 0), lbc_kernels(64, 0.5, 1))
    with pytest.raises(ValueError, match="sparsity"):
        lbc_kernels(8, 0.0, 0)


def test_every_lbc_layer_of_a_model_is_ternary_at_its_configured_sparsity():
    model = LBMBNet(LBMBConfig(ratio=6, sparsity=0.3))
    model.blocks[0].lbc[0].reset_parameters()   # must not overwrite the fixed kernel
    kernels = torch.cat([m.weight.flatten() for m in _lbc(model).values()])
    assert set(kernels.unique().tolist()) == {-1.0, 0.0, 1.0}
    assert abs(float((kernels != 0).float().mean()) - 0.3) < 0.01
    seeds = [b.lbc[0].weight for b in model.blocks[:2]]
    assert not torch.equal(seeds[0], seeds[1][:len(seeds[0])])   # each block draws its own


def test_same_seed_same_kernels_and_a_checkpoint_reloads_identically(tmp_path):
    a, b = create_model("lbmbnet32_r3")[0].eval(), create_model("lbmbnet32_r3")[0].eval()
    assert all(torch.equal(m.weight, _lbc(b)[n].weight) for n, m in _lbc(a).items())
    other = LBMBNet(LBMBConfig(ratio=3, seed=7))
    assert not torch.equal(other.blocks[0].lbc[0].weight, a.blocks[0].lbc[0].weight)
    torch.save(other.state_dict(), tmp_path / "w.pt")
    a.load_state_dict(torch.load(tmp_path / "w.pt"))
    assert torch.equal(a(_x()), other.eval()(_x()))


def test_lbc_kernels_are_buffers_and_stay_frozen_through_training():
    model, _ = create_model("lbmbnet32_r3")
    before = {n: m.weight.clone() for n, m in _lbc(model).items()}
    params = {id(p) for p in model.parameters()}
    assert all(id(m.weight) not in params and not m.weight.requires_grad
               for m in _lbc(model).values())
    buffers = {n for n, _ in model.named_buffers() if n.endswith("lbc.0.weight")}
    assert buffers == {f"{n}.weight" for n in before} and len(buffers) == 10
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
    stem_before = model.stem[0].weight.clone()
    model.train()
    for step in range(3):
        loss = torch.nn.functional.cross_entropy(model(_x(8, step)), torch.arange(8) % 7)
        opt.zero_grad()
        loss.backward()
        assert all(m.weight.grad is None for m in _lbc(model).values())
        opt.step()
    assert not torch.equal(stem_before, model.stem[0].weight)   # the rest did train
    for n, m in _lbc(model).items():
        assert torch.equal(m.weight, before[n]) and m.weight.grad is None


def test_lbc_channels_count_as_macs_but_not_as_parameters():
    model, spec = create_model("lbmbnet32_r3")
    lbc_weights = sum(m.weight.numel() for m in _lbc(model).values())
    assert lbc_weights == 9 * sum(b.expand[0].out_channels for b in model.blocks)
    assert count_params(model, trainable_only=False) == count_params(model)
    assert count_macs(model, spec) > count_params(model)


def test_residual_only_where_shapes_match():
    model = LBMBNet(LBMBConfig())
    assert [b.residual for b in model.blocks] == [
        cin == cout and s == 1 for cin, cout, s in model.config.blocks()]
    assert sum(b.residual for b in model.blocks) == 6


# ---- SE-guided pruning ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pruned():
    model = _busy(LBMBNet(LBMBConfig(ratio=6)))
    faces = (np.random.default_rng(1).integers(0, 255, (40, 1, 48, 48))).astype(np.uint8)
    _, spec = create_model("lbmbnet32")
    scores = se_prune.se_scores(model, faces, spec, batch_size=16)
    keep = se_prune.top_channels(scores, model, 3)
    return model, spec, faces, scores, keep, se_prune.rebuild(model, keep).eval()


def test_se_scores_are_the_mean_gate_of_each_channel(pruned):
    model, spec, faces, scores, _, _ = pruned
    seen = []
    block = model.blocks[4]
    hook = block.se.gate.register_forward_hook(lambda m, i, o: seen.append(o.flatten(1)))
    with torch.no_grad():
        model(torch.from_numpy((faces.astype(np.float32) / 255 - 0.5) / 0.5))
    hook.remove()
    torch.testing.assert_close(scores[4], seen[0].mean(0), atol=1e-6, rtol=0)
    assert [len(s) for s in scores] == [b.expand[0].out_channels for b in model.blocks]
    assert all(((s > 0) & (s < 1)).all() for s in scores)


def test_pruning_keeps_exactly_the_top_k_se_channels(pruned):
    model, _, _, scores, keep, _ = pruned
    for s, k, b in zip(scores, keep, model.blocks):
        n = b.expand[0].in_channels * 3
        assert len(k) == n and torch.equal(k, torch.sort(k).values)
        dropped = torch.ones(len(s), dtype=torch.bool)
        dropped[k] = False
        assert s[k].min() >= s[dropped].max()
        assert set(k.tolist()) == set(torch.topk(s, n).indices.tolist())


def test_rebuilt_network_matches_the_masked_original_before_retraining(pruned):
    model, _, _, _, keep, small = pruned
    x = _x(6, 2)
    with torch.no_grad(), se_prune.mask_pruned(model, keep):
        masked = model(x)
    with torch.no_grad():
        torch.testing.assert_close(small(x), masked, atol=1e-5, rtol=0)
        assert (model(x) - masked).abs().max() > 1e-3     # the mask does change the output
    assert small.config.ratio == 3
    for b_old, b_new, k in zip(model.blocks, small.blocks, keep):
        assert torch.equal(b_new.lbc[0].weight, b_old.lbc[0].weight[k])   # kernels moved along


def test_parameter_count_shrinks_by_what_the_removed_channels_owned(pruned):
    model, _, _, _, keep, small = pruned
    expected = 0
    for (cin, cout, _), k in zip(model.config.blocks(), keep):
        removed = cin * 6 - len(k)
        # expansion filter + BN(2), LBC BN(2), SE reduce column + expand row + bias, projection
        expected += removed * (cin + 2 + 2 + 2 * se_hidden(cin) + 1 + cout)
    assert count_params(model) - count_params(small) == expected
    assert count_params(small) == count_params(create_model("lbmbnet32_r3")[0])


def test_pruning_errors_are_typed():
    model = LBMBNet(LBMBConfig(ratio=3))
    scores = [torch.rand(b.expand[0].out_channels) for b in model.blocks]
    with pytest.raises(LiteferError, match="target ratio"):
        se_prune.top_channels(scores, model, 3)
    with pytest.raises(LiteferError, match="LB-MBNet"):
        se_prune.blocks(create_model("nano_b")[0])
    with pytest.raises(LiteferError, match="schedule"):
        se_prune.SEPruneConfig(schedule="gradual")


def test_segmented_schedule_steps_and_epoch_split():
    assert se_prune.ratio_steps(20, 3, "oneshot", 3) == [3]
    assert se_prune.ratio_steps(20, 3, "segmented", 3) == [14, 9, 3]
    assert se_prune.ratio_steps(6, 3, "segmented", 3) == [5, 4, 3]
    assert se_prune.ratio_steps(6, 5, "segmented", 3) == [5]
    assert se_prune.split_epochs(5, 3) == [1, 1, 3]


def test_onnx_export_parity_with_torch(pruned, tmp_path):
    pytest.importorskip("onnxruntime")
    from litefer.optimize.export import check_parity, export_onnx

    _, spec, _, _, _, small = pruned
    spec = spec.with_(name="lbmbnet32_r3.test", arch="lbmbnet32_r3")
    path = export_onnx(small, spec, tmp_path / "lbmbnet32_r3.test.fp32.onnx")
    assert check_parity(small, path, list(synthetic_faces(16).images)) <= 1e-4


# ---- the command ---------------------------------------------------------------------------------

def _fer_csv(path, n=(84, 42, 42)):
    return write_fer_csv(path, n)


@pytest.mark.parametrize("schedule", ["oneshot", "segmented"])
def test_prune_se_command_rebuilds_retrains_and_reports(schedule, tmp_path, capsys):
    from litefer.commands import prune_se
    from litefer.train.checkpoint import load_checkpoint

    data = _fer_csv(tmp_path / "fer.csv.gz")
    model, spec = create_model("lbmbnet32")
    ckpt = tmp_path / "src.pt"
    torch.save({"model": _busy(model).state_dict(), "spec": spec.with_(name="lbmbnet32.syn")
                .to_json(), "config": {"val_split": "PublicTest"}}, ckpt)
    parser = argparse.ArgumentParser()
    prune_se.add_parser(parser.add_subparsers(dest="command"), "prune-se")
    out = tmp_path / "out"
    args = parser.parse_args(["prune-se", "--model", str(ckpt), "--data", str(data), "--ratio",
                              "3", "--schedule", schedule, "--epochs", "1", "--samples", "32",
                              "--threads", "1", "--batch-size", "32", "--out", str(out)])
    assert args.run(args) == 0
    report = json.loads((out / "report.json").read_text())
    rows = report["rows"]
    assert rows[0]["ratio"] == 6 and rows[-1]["ratio"] == 3
    assert rows[-1]["params"] < rows[0]["params"] and rows[-1]["macs"] < rows[0]["macs"]
    assert set(rows[-1]["accuracy"]) == {"PublicTest", "PrivateTest"}
    assert [s["ratio"] for s in report["steps"]] == ([3] if schedule == "oneshot" else [5, 4, 3])
    assert "prune-se" in report["command"] and (out / "report.md").read_text().startswith("# ")
    assert (out / "se_hist_before.png").stat().st_size > 0
    assert (out / "se_hist_after.png").stat().st_size > 0
    small, small_spec, _ = load_checkpoint(out / "best.pt")
    assert small_spec.arch == "lbmbnet32_r3" and small_spec.name == "lbmbnet32_r3.syn-se6to3"
    assert count_params(small) == rows[-1]["params"]
    assert json.loads(capsys.readouterr().out)["checkpoint"] == str(out / "best.pt")


def test_prune_se_refuses_an_unregistered_target_ratio(tmp_path):
    model, spec = create_model("lbmbnet32")
    train = synthetic_faces(8)
    with pytest.raises(LiteferError, match="registered"):
        se_prune.prune_se(model, spec, train.images[:, None], train, None,
                          se_prune.SEPruneConfig(ratio=4))
