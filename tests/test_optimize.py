"""Network optimisation: the paper's quantiser, pruning, channel pruning, FP16/INT8, compilation,
`litefer optimize` and `litefer train --prune-to/--qat`. Synthetic and small; torch tests skip
without litefer[train]."""
import json

import numpy as np
import pytest

from litefer.optimize.quantize import quantize_weights

from helpers import synthetic_faces, write_fer_csv

# np.round rounds halves to the even integer: 127.5 -> 128, -127.5 -> -128, 2.5 -> 2, 7.5 -> 8.


def test_paper_quantiser_on_hand_computed_values_8_bit():
    q = quantize_weights(np.array([-1.0, 0.5, 0.25]), bits=8)
    assert float(q.scale) == 127.5                                 # (2^8 - 1) / (2 * 1)
    np.testing.assert_array_equal(q.codes, [-128, 64, 32])         # -127.5, 63.75, 31.875
    np.testing.assert_allclose(q.dequantized, [-128 / 127.5, 64 / 127.5, 32 / 127.5], rtol=1e-6)
    np.testing.assert_allclose(q.error, [0.5 / 127.5, -0.25 / 127.5, -0.125 / 127.5], atol=1e-7)
    assert q.max_abs_error == pytest.approx(1 / 255, rel=1e-5)


def test_paper_quantiser_4_bit_and_half_to_even_rounding():
    q = quantize_weights(np.array([-1.0, 0.5, 0.25]), bits=4)
    assert float(q.scale) == 7.5
    np.testing.assert_array_equal(q.codes, [-8, 4, 2])              # -7.5, 3.75, 1.875
    halves = quantize_weights(np.array([127.5, 2.5, 3.5, -1.5]), bits=8)  # s = 1 exactly
    np.testing.assert_array_equal(halves.codes, [128, 2, 4, -2])
    zero = quantize_weights(np.zeros(4), bits=8)
    assert float(zero.scale) == 1.0 and not zero.codes.any()


def test_per_channel_keeps_small_channels_that_per_tensor_erases():
    w = np.array([[1.0, -0.5], [0.01, 0.02]])
    per_tensor = quantize_weights(w, bits=4)
    per_channel = quantize_weights(w, bits=4, per_channel=True)
    np.testing.assert_array_equal(per_tensor.codes, [[8, -4], [0, 0]])
    np.testing.assert_array_equal(per_channel.codes, [[8, -4], [4, 8]])  # 3.75, 7.5 at s = 375
    np.testing.assert_allclose(per_channel.scale.ravel(), [7.5, 375.0])
    assert per_channel.mse < per_tensor.mse


def test_quantization_table_reports_errors_growing_as_bits_shrink():
    from litefer.optimize.quantize import quantization_table

    rng = np.random.default_rng(0)
    rows = quantization_table({"a": rng.normal(size=(8, 4, 3, 3)), "b": rng.normal(size=(4, 8))})
    pooled = rows[-1]
    assert pooled["tensor"] == "all" and len(rows) == 3
    assert 0 < pooled["int8_per_tensor"] < pooled["int4_per_tensor"] < 1


# ---- torch half --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="pruning needs litefer[train] (torch)")


def _confident_model(torch, seed=0):
    """Random mini_xception with non-trivial batch-norm statistics and large logits."""
    from litefer.models import create_model

    torch.manual_seed(seed)
    model, spec = create_model("mini_xception")
    model.eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
        model.head.weight.mul_(30)
    return model, spec.with_(name="mini_xception.test")


@pytest.fixture(scope="module")
def fp32(torch, tmp_path_factory):
    from litefer.models.layers import count_params
    from litefer.models.profile import count_macs
    from litefer.optimize.export import export_onnx

    model, spec = _confident_model(torch)
    spec = spec.with_(extra={"params": count_params(model), "macs": count_macs(model, spec)})
    path = tmp_path_factory.mktemp("opt") / "mini_xception.test.fp32.onnx"
    return model, spec, export_onnx(model, spec, path)


def test_fake_quant_matches_the_numpy_quantiser(torch):
    from litefer.optimize.compress import fake_quant

    w = torch.randn(6, 3, 3, 3)
    for per_channel in (False, True):
        ref = quantize_weights(w.numpy(), 4, per_channel).dequantized
        np.testing.assert_allclose(fake_quant(w, 4, per_channel).numpy(), ref, atol=1e-6)


def test_global_and_layerwise_masks_and_compression_ratio(torch):
    from litefer.optimize.prune import apply_masks, magnitude_masks, prunable, sparsity_report

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Conv2d(4, 4, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(36.0).view(4, 1, 3, 3) + 1)   # large weights
        model[1].weight.copy_((torch.arange(16.0).view(4, 4, 1, 1) + 1) / 100)  # small ones
    weights = prunable(model)
    layer = magnitude_masks(weights, 0.5, "layer")
    assert [int(m.sum()) for m in layer.values()] == [18, 8]
    glob = magnitude_masks(weights, 0.5, "global")                 # 26 of 52 removed
    assert [int(m.sum()) for m in glob.values()] == [26, 0]        # the small layer goes first
    apply_masks(weights, magnitude_masks(weights, 0.75, "layer"))
    report = sparsity_report(model)
    assert report["weights"] == 52 and report["nonzero"] == 9 + 4
    assert report["compression_ratio"] == pytest.approx(52 / 13)
    assert report["layers"]["1"]["sparsity"] == 0.75


def test_iterative_schedule_is_cubic_and_reaches_the_target(torch):
    from litefer.optimize.prune import PruneConfig, prune_iterative, prunable, schedule

    s = schedule(0.5, 3)
    assert s[-1] == pytest.approx(0.5) and s[0] > 0.5 / 3 and s == sorted(s)
    model, spec = _confident_model(torch)
    rounds = prune_iterative(model, spec, PruneConfig(0.5, steps=3))
    kept = prunable(model, keep_first=True)
    zeros = sum(int((w == 0).sum()) for w in kept.values())
    assert zeros == int(0.5 * sum(w.numel() for w in kept.values()))
    assert len(rounds) == 3 and rounds[-1]["compression_ratio"] > 1.8


@pytest.mark.parametrize("scope", ["internal", "all"])
def test_channel_pruning_reduces_macs_and_is_exact_for_zeroed_channels(torch, scope):
    from litefer.models.layers import count_params
    from litefer.models.profile import count_macs
    from litefer.optimize.structured import StructuredConfig, channel_groups, prune_channels

    model, spec = _confident_model(torch)
    cfg = StructuredConfig(0.5, "bn", scope, multiple=1)
    with torch.no_grad():  # silence the channels the criterion will pick: gamma = beta = 0
        for g in channel_groups(model, scope):
            for bn in g.norms:
                bn.weight[: g.size // 2] = 0
                bn.bias[: g.size // 2] = 0
    pruned, groups = prune_channels(model, cfg)
    assert all(g["kept"] == g["channels"] - g["channels"] // 2 for g in groups)
    assert count_macs(pruned, spec) < 0.8 * count_macs(model, spec)
    assert count_params(pruned) < count_params(model)
    x = torch.randn(5, 1, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), model(x), atol=1e-5, rtol=1e-5)


def test_channel_multiple_rounds_widths_up(torch):
    from litefer.optimize.structured import StructuredConfig, kept_channels

    assert kept_channels(128, StructuredConfig(0.3, multiple=1)) == 90
    assert kept_channels(128, StructuredConfig(0.3, multiple=8)) == 96
    assert kept_channels(16, StructuredConfig(0.3, multiple=8)) == 16


def test_structured_pruning_of_an_unknown_architecture_is_a_typed_error(torch):
    from litefer.errors import LiteferError
    from litefer.optimize.structured import StructuredConfig, prune_channels

    with pytest.raises(LiteferError, match="mini_xception"):
        prune_channels(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)), StructuredConfig())


def test_pruned_export_keeps_zeros_and_counts_in_the_graph(torch, tmp_path):
    from litefer.models.profile import count_macs
    from litefer.onnx_stats import graph_stats
    from litefer.optimize.artefact import file_sizes
    from litefer.optimize.export import check_parity, export_onnx
    from litefer.optimize.prune import PruneConfig, prune_iterative
    from litefer.optimize.structured import StructuredConfig, prune_channels

    model, spec = _confident_model(torch)
    dense = export_onnx(model, spec, tmp_path / "dense.onnx")
    small, _ = prune_channels(model, StructuredConfig(0.5, scope="all"))
    prune_iterative(small, spec, PruneConfig(0.6, steps=1))
    path = export_onnx(small, spec, tmp_path / "pruned.onnx")
    assert check_parity(small, path, synthetic_faces(16).images) <= 1e-4
    d, p = graph_stats(dense), graph_stats(path)
    assert d.macs == count_macs(model, spec) and p.macs == count_macs(small, spec) < d.macs
    assert p.compression_ratio > 2.0 and d.compression_ratio < 1.05
    assert file_sizes(path)["zipped"] < 0.5 * file_sizes(dense)["zipped"]


def test_compression_ramp_masks_and_qat_straight_through(torch):
    from litefer.optimize.compress import Compression, PruneRamp, fake_quant

    layer = torch.nn.Linear(16, 4, bias=False)
    ramp = PruneRamp(0.5, start=2, end=6, every=1)
    assert ramp.sparsity(0) == 0 and ramp.sparsity(6) == 0.5 and 0 < ramp.sparsity(4) < 0.5
    comp = Compression({"w": layer.weight}, None, ramp, {"w": layer.weight}, bits=4)
    before = layer.weight.detach().clone()
    with comp.quantized():
        torch.testing.assert_close(layer.weight.detach(), fake_quant(before, 4))
        layer(torch.randn(3, 16)).sum().backward()
    torch.testing.assert_close(layer.weight.detach(), before)      # float weights are back
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    comp.step(6)
    assert int((layer.weight == 0).sum()) == 32 and comp.done(6) and not comp.done(5)


def test_fp16_and_int8_load_in_the_classifier_and_agree_with_fp32(fp32, tmp_path):
    """Documented tolerances on synthetic faces: FP16 max |dp| <= 5e-3, INT8 max |dp| <= 0.05;
    top-1 agreement >= 0.95 for both."""
    from litefer.optimize.quantize import convert_fp16, quantize_int8
    from litefer.runtime import Classifier

    _, spec, path = fp32
    half = convert_fp16(path, tmp_path / "mini_xception.test.fp16.onnx")
    int8 = quantize_int8(path, tmp_path / "mini_xception.test.int8.onnx",
                         synthetic_faces(96, seed=7).images)
    faces = synthetic_faces(140, seed=3).images
    ref = Classifier(path).predict_proba(faces)
    for variant, tol in ((half, 5e-3), (int8, 0.05)):
        clf = Classifier(variant)
        assert clf.spec.labels == spec.labels and clf.spec.extra["params"] == spec.extra["params"]
        assert clf.spec.extra["precision"] == variant.name.split(".")[-2]
        assert clf.session.get_inputs()[0].type == "tensor(float)"
        got = clf.predict_proba(faces)
        assert np.abs(got - ref).max() <= tol
        assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.95
    assert half.stat().st_size < 0.6 * path.stat().st_size
    assert int8.stat().st_size < 0.6 * path.stat().st_size


def test_graph_macs_are_the_same_for_every_precision(fp32, tmp_path):
    from litefer.onnx_stats import graph_stats
    import onnx

    from litefer.optimize.quantize import Int8Config, convert_fp16, quantize_int8

    _, spec, path = fp32
    half = convert_fp16(path, tmp_path / "h.onnx")
    faces = synthetic_faces(32).images
    qop = quantize_int8(path, tmp_path / "q.onnx", faces)
    qdq = quantize_int8(path, tmp_path / "qdq.onnx", faces, Int8Config(format="qdq"))
    ops = [{n.op_type for n in onnx.load(str(p)).graph.node} for p in (qop, qdq)]
    assert "QLinearConv" in ops[0] and "Conv" not in ops[0]
    assert "QLinearConv" not in ops[1] and "DequantizeLinear" in ops[1]
    assert {graph_stats(p).macs for p in (path, half, qop, qdq)} == {spec.extra["macs"]}


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_histogram_calibration_works_when_the_faces_do_not_fill_the_last_batch(fp32, tmp_path,
                                                                             method):
    from litefer.optimize.quantize import Int8Config, quantize_int8
    from litefer.runtime import Classifier

    _, _, path = fp32
    faces = synthetic_faces(45).images  # one batch of 32 and a short one of 13
    q = quantize_int8(path, tmp_path / f"{method}.onnx", faces, Int8Config(calibrate=method))
    clf = Classifier(q)
    assert clf.spec.extra["calibration"]["method"] == method
    assert clf.spec.extra["calibration"]["samples"] == 32
    assert clf.predict_proba(faces[:4]).shape == (4, 7)


def test_compiled_graph_keeps_the_spec_and_missing_providers_are_skipped(fp32, tmp_path):
    from litefer.bench import select_providers
    from litefer.optimize.compile import compile_onnx
    from litefer.runtime import Classifier

    _, spec, path = fp32
    info = compile_onnx(path, tmp_path / "c.ort.onnx", "extended")
    assert Classifier(info["path"]).spec == Classifier(path).spec
    use, skipped = select_providers(["NoSuchExecutionProvider", "cpu"])
    assert use == ["CPUExecutionProvider"] and skipped == ["NoSuchExecutionProvider"]


def _fer_csv(path, n=(140, 70, 70)):
    return write_fer_csv(path, n)


@pytest.mark.slow
def test_optimize_command_chains_and_reports(torch, tmp_path, capsys):
    from litefer.cli import main
    from litefer.runtime import Classifier
    from litefer.runtime.weights import list_weights
    from litefer.train.config import TrainConfig
    from litefer.train.engine import Trainer

    data = _fer_csv(tmp_path / "fer.csv.gz")
    Trainer(TrainConfig(data=str(data), out=str(tmp_path / "run"), epochs=1, batch_size=32,
                        threads=1, tag="syn")).fit(progress=False)
    out = tmp_path / "out"
    code = main(["optimize", "--model", str(tmp_path / "run" / "best.pt"), "--data", str(data),
                 "--out", str(out), "--structured", "0.5", "--prune", "0.5", "--prune-steps", "1",
                 "--quantize", "fp16", "int8", "--epochs", "1", "--threads", "1", "--distill",
                 "0.5", "--repeats", "5", "--calib-samples", "64", "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["precision"] for r in rows] == ["fp32", "fp16", "int8"]
    names = {w.full_name for w in list_weights(out)}
    assert {"mini_xception.syn-c50-p50.fp32", "mini_xception.syn-c50-p50.int8",
            "mini_xception.syn.fp32"} <= names
    report = json.loads((out / "mini_xception.syn-c50-p50.int8.report.json").read_text())
    assert report["after"]["macs"] < report["before"]["macs"]
    assert report["after"]["compression_ratio"] > 1.5
    assert set(report["after"]["accuracy"]) == {"PublicTest", "PrivateTest"}
    assert [s["step"] for s in report["steps"]] == ["structured", "unstructured", "export", "int8"]
    assert report["steps"][0]["distill"] == report["steps"][1]["distill"] == \
        {"weight": 0.5, "temperature": 4.0}
    assert (out / "mini_xception.syn-c50-p50.int8.report.md").read_text().startswith("# ")
    assert Classifier(out / "mini_xception.syn-c50-p50.int8.onnx").spec.extra["precision"] == "int8"
    # the card's provenance section is part of the one renderer, so rewriting a card (as
    # scripts/models_table.py --cards does) keeps it
    from litefer.optimize.card import render_markdown

    card_md = out / "mini_xception.syn-c50-p50.int8.md"
    card = json.loads(card_md.with_suffix(".json").read_text())
    assert card_md.read_text() == render_markdown(card)
    assert "## Optimisation" in card_md.read_text()
    assert "`mini_xception.syn-c50-p50.int8.report.md`" in card_md.read_text()


def test_optimize_refuses_pruning_an_onnx_file(fp32, tmp_path, capsys):
    from litefer.cli import main

    assert main(["optimize", "--model", str(fp32[2]), "--prune", "0.5",
                 "--out", str(tmp_path)]) == 2
    assert "checkpoint" in capsys.readouterr().err


def test_train_with_pruning_schedule_and_qat(torch, tmp_path):
    from litefer.errors import LiteferError
    from litefer.optimize.compress import from_train_config
    from litefer.optimize.prune import prunable
    from litefer.train.checkpoint import load_checkpoint
    from litefer.train.config import TrainConfig
    from litefer.train.engine import Trainer

    assert Trainer.__init__ and TrainConfig().prune_to == 0 and not TrainConfig().qat
    cfg = TrainConfig(out=str(tmp_path / "run"), epochs=2, batch_size=32, threads=1, tag="p",
                      prune_to=0.5, prune_start=0.0, prune_end=0.5, qat=True)
    with pytest.raises(LiteferError, match="compression factory"):
        Trainer(cfg, train=synthetic_faces(140), val=synthetic_faces(35, seed=1))
    trainer = Trainer(cfg, train=synthetic_faces(140), val=synthetic_faces(35, seed=1),
                      compression=from_train_config)
    summary = trainer.fit(progress=False)
    model, _, info = load_checkpoint(tmp_path / "run" / "best.pt")
    kept = prunable(model, keep_first=True)
    zeros = sum(int((w == 0).sum()) for w in kept.values())
    assert zeros / sum(w.numel() for w in kept.values()) == pytest.approx(0.5, abs=0.01)
    assert summary["best_epoch"] == info["epoch"]


@pytest.mark.data
def test_int8_calibrated_on_real_publictest_faces_agrees_on_privatetest(fp32, fer_csv, tmp_path):
    from litefer.data import load_splits
    from litefer.optimize.quantize import quantize_int8
    from litefer.runtime import Classifier

    sets = load_splits(fer_csv, ("PublicTest", "PrivateTest"))
    int8 = quantize_int8(fp32[2], tmp_path / "mini_xception.test.int8.onnx",
                         sets["PublicTest"].images[:300])
    faces = sets["PrivateTest"].images[:500]
    ref, got = Classifier(fp32[2]).predict_proba(faces), Classifier(int8).predict_proba(faces)
    assert np.abs(got - ref).max() <= 0.05
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.95


def test_train_command_exposes_pruning_and_qat_options():
    from litefer.cli import build_parser
    from litefer.commands.train import config_from_args

    args = build_parser().parse_args(["train", "--data", "x.csv", "--prune-to", "0.5", "--qat",
                                      "--prune-window", "0.1", "0.6"])
    cfg = config_from_args(args)
    assert (cfg.prune_to, cfg.qat, cfg.prune_start, cfg.prune_end) == (0.5, True, 0.1, 0.6)
    plain = config_from_args(build_parser().parse_args(["train", "--data", "x.csv"]))
    assert (plain.prune_to, plain.qat) == (0.0, False)


def test_compact_keeps_outputs_io_names_and_metadata_and_shrinks(tmp_path):
    """Storage compaction: same outputs bit for bit, same I/O names and spec, smaller file,
    symmetric zero points dropped only where they are zero."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from litefer.train.onnx_file import compact

    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (4, 1, 3, 3)).astype(np.int8)
    inits = [numpy_helper.from_array(w, "a_very_long_exporter_weight_name"),
             numpy_helper.from_array(np.float32(0.02), "weight_scale_long_name"),
             numpy_helper.from_array(np.int8(0), "weight_zero_point_long_name"),
             numpy_helper.from_array(np.float32(0.02), "duplicate_scale"),
             numpy_helper.from_array(np.float32(1.5), "offset_value")]
    nodes = [helper.make_node("DequantizeLinear", ["a_very_long_exporter_weight_name",
                                                  "weight_scale_long_name",
                                                  "weight_zero_point_long_name"],
                              ["/dequantized/weight_output_0"], name="/dq/DequantizeLinear"),
             helper.make_node("Conv", ["input", "/dequantized/weight_output_0"],
                              ["/conv/Conv_output_0"], name="/conv/Conv", pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["/conv/Conv_output_0", "duplicate_scale"], ["/mul_out"]),
             helper.make_node("Add", ["/mul_out", "offset_value"], ["logits"])]
    graph = helper.make_graph(nodes, "a_long_graph_name",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                             [None, 1, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.helper.set_model_props(model, {"litefer.spec": "{}"})
    model = onnx.shape_inference.infer_shapes(model)
    assert len(model.graph.value_info) > 0
    small = compact(model)
    assert small.ByteSize() < model.ByteSize()
    assert [i.name for i in small.graph.input] == ["input"]
    assert [o.name for o in small.graph.output] == ["logits"]
    assert {p.key: p.value for p in small.metadata_props} == {"litefer.spec": "{}"}
    assert len(small.graph.value_info) == 0
    assert all(len(t.name) <= 2 for t in small.graph.initializer)
    assert len(small.graph.initializer) == 3  # equal scales stored once, zero point dropped
    dq = [n for n in small.graph.node if n.op_type == "DequantizeLinear"][0]
    assert len(dq.input) == 2  # all-zero int8 zero point dropped
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    outs = []
    for m in (model, small):
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        outs.append(sess.run(None, {"input": x})[0])
    np.testing.assert_array_equal(outs[0], outs[1])
    # a non-zero zero point is kept
    model.graph.initializer[2].CopyFrom(numpy_helper.from_array(np.int8(3),
                                                                "weight_zero_point_long_name"))
    dq = [n for n in compact(model).graph.node if n.op_type == "DequantizeLinear"][0]
    assert len(dq.input) == 3


def test_distillation_loss_values(torch):
    from litefer.optimize.finetune import FinetuneConfig
    from litefer.train.distill import distill_loss

    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    labels = torch.tensor([0, 2])
    ce = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
    cfg = FinetuneConfig(distill=0.0, label_smoothing=0.1)
    torch.testing.assert_close(distill_loss(logits, logits + 5.0, labels, cfg), ce)
    # a = 1 and a teacher equal to the student (up to a constant shift): KL = 0
    same = distill_loss(logits, logits + 5.0, labels, FinetuneConfig(distill=1.0))
    assert abs(float(same)) < 1e-6
    # hand-computed: T = 1, teacher uniform -> KL(u || p) = mean over rows of sum u log(u / p)
    teacher = torch.zeros_like(logits)
    p = torch.softmax(logits, 1)
    kl = float((torch.full_like(p, 1 / 3) * (torch.log(torch.tensor(1 / 3)) - p.log())).sum(1).mean())
    got = distill_loss(logits, teacher, labels, FinetuneConfig(distill=1.0, distill_temperature=1.0))
    assert abs(float(got) - kl) < 1e-6


def test_full_distillation_ignores_the_labels_and_needs_a_teacher(torch):
    import copy

    from litefer.errors import LiteferError
    from litefer.models import create_model
    from litefer.optimize.finetune import FinetuneConfig, finetune

    faces = synthetic_faces(64)
    shuffled = faces.subset(slice(None))
    shuffled.labels = np.roll(faces.labels, 3)
    teacher, spec = create_model("mini_xception")
    torch.manual_seed(0)
    student, _ = create_model("mini_xception")

    def tuned(data, distill):
        model = copy.deepcopy(student)
        cfg = FinetuneConfig(epochs=1, batch_size=32, threads=1, distill=distill)
        finetune(model, spec, data, None, cfg, teacher=teacher)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    torch.testing.assert_close(tuned(faces, 1.0), tuned(shuffled, 1.0))   # soft targets only
    assert not torch.allclose(tuned(faces, 0.5), tuned(shuffled, 0.5))     # labels count again
    with pytest.raises(LiteferError, match="teacher"):
        finetune(copy.deepcopy(student), spec, faces, None, FinetuneConfig(epochs=1, distill=0.5))
    with pytest.raises(LiteferError, match=r"\[0, 1\]"):
        finetune(copy.deepcopy(student), spec, faces, None, FinetuneConfig(epochs=1, distill=2.0),
                 teacher=teacher)
