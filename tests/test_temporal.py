"""Temporal GRU (torch vs ONNX one-step parity, per-track hidden state, training smoke) and
MobileNetV3-small (registry, input sizes, the Trainer's 48 -> 96 resize)."""
import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="temporal/model tests need litefer[train] (torch)")

from litefer.data.sequences import ProbSequences  # noqa: E402
from litefer.labels import FER2013  # noqa: E402
from litefer.metrics import softmax  # noqa: E402
from litefer.models import create_model, get_entry  # noqa: E402
from litefer.models.temporal import GruCell  # noqa: E402
from litefer.train.temporal_export import check_temporal_parity, export_temporal_onnx  # noqa: E402
from litefer.video import Track, smooth_batch  # noqa: E402
from litefer.video.temporal import GruStep  # noqa: E402


@pytest.fixture(scope="module")
def gru_onnx(tmp_path_factory):
    torch.manual_seed(0)
    model, spec = create_model("temporal_gru")
    path = export_temporal_onnx(model, spec.with_(name="temporal_gru.test"),
                                tmp_path_factory.mktemp("gru") / "gru.onnx")
    return model, path


def test_gru_cell_follows_torch_gru_equations():
    torch.manual_seed(1)
    ref = torch.nn.GRUCell(7, 16)
    cell = GruCell(7, 16)
    with torch.no_grad():
        cell.ih.weight.copy_(ref.weight_ih)
        cell.ih.bias.copy_(ref.bias_ih)
        cell.hh.weight.copy_(ref.weight_hh)
        cell.hh.bias.copy_(ref.bias_hh)
    x, h = torch.randn(5, 7), torch.randn(5, 16)
    torch.testing.assert_close(cell(x, h), ref(x, h), atol=1e-6, rtol=1e-5)


def test_one_step_onnx_matches_torch_within_1e4_on_a_random_model(gru_onnx):
    model, path = gru_onnx
    assert check_temporal_parity(model, path, tracks=5, steps=20) <= 1e-4


def test_step_model_metadata_and_state_shapes(gru_onnx):
    _, path = gru_onnx
    runner = GruStep(path)
    assert runner.hidden_size == 128 and runner.spec.seq_len == 32
    assert runner.labels == FER2013.classes
    a, b = Track(1, np.zeros(4)), Track(2, np.zeros(4))
    p = softmax(np.random.default_rng(0).normal(size=(2, 7))).astype(np.float32)
    out = runner.update([a, b], p)
    assert out.shape == (2, 7) and np.allclose(out.sum(1), 1, atol=1e-5)
    assert a.state["gru_h"].shape == (128,) and not np.allclose(a.state["gru_h"], b.state["gru_h"])
    h_before = b.state["gru_h"].copy()
    runner.update([a], p[:1])  # b is not seen on this frame: its state must not move
    np.testing.assert_array_equal(b.state["gru_h"], h_before)
    assert runner.update([], np.zeros((0, 7), np.float32)).shape == (0, 7)


def test_per_track_states_equal_separate_runs(gru_onnx):
    """Batching tracks in one call gives each the result it would get alone."""
    _, path = gru_onnx
    runner = GruStep(path)
    rng = np.random.default_rng(2)
    probs = softmax(rng.normal(size=(3, 6, 7))).astype(np.float32)
    together = smooth_batch(runner, probs)
    alone = np.stack([smooth_batch(runner, probs[i:i + 1])[0] for i in range(3)])
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_labels_must_match_the_classifier(gru_onnx):
    from litefer.errors import LiteferError

    _, path = gru_onnx
    with pytest.raises(LiteferError, match="trained on labels"):
        GruStep(path).check_labels(("a", "b"))
    warned = GruStep(path)
    warned.spec = warned.spec.with_(extra={"classifier": "mini_xception.fer2013"})
    with pytest.warns(UserWarning, match="retrain"):
        warned.check_labels(FER2013.classes, "nano_a.fer2013")


def test_an_image_model_is_refused_as_a_step_model(tmp_path):
    from litefer.errors import LiteferError
    from litefer.optimize.export import export_onnx

    model, spec = create_model("mini_xception")
    path = export_onnx(model, spec, tmp_path / "img.onnx")
    with pytest.raises(LiteferError, match="not a GRU step model"):
        GruStep(path)


def test_gru_runtime_does_not_import_torch(gru_onnx):
    _, path = gru_onnx
    code = ("import sys, json, numpy as np\n"
            "import litefer.commands.analyze_video, litefer.video.bench, litefer.video.live\n"
            "import litefer.video.clips, litefer.video.metrics, litefer.video.timeline\n"
            "import litefer.data.sequences\n"
            "from litefer.video import create_temporal, Track\n"
            f"m = create_temporal('gru', {str(path)!r})\n"
            "out = m.update([Track(1, np.zeros(4))], np.full((1, 7), 1 / 7, np.float32))\n"
            "print(json.dumps({'torch': 'torch' in sys.modules, 'shape': list(out.shape)}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"torch": False, "shape": [1, 7]}


def _toy_sequences(n, t_len=12, seed=0):
    """Noisy per-frame probabilities whose arg-max is right 60 % of the time."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, n)
    logits = rng.normal(0, 1.0, (n, t_len, 7))
    logits[np.arange(n), :, labels] += 1.2
    present = rng.random((n, t_len)) > 0.1
    present[:, 0] = True
    probs = np.where(present[..., None], softmax(logits), np.nan).astype(np.float32)
    return ProbSequences(probs, present, labels.astype(np.int64), FER2013.classes,
                         {"classifier": "toy", "split": "Training"})


def test_training_smoke_exports_a_working_step_model(tmp_path):
    from litefer.train.temporal import TemporalTrainConfig, fit_temporal, switch_batch

    seqs = _toy_sequences(200)
    seqs.save(tmp_path / "train.npz")
    probs, present, targets = switch_batch(seqs, np.arange(20), 1.0, np.random.default_rng(0))
    assert not np.isnan(probs).any() and (targets[:, 0] != targets[:, -1]).all()
    cfg = TemporalTrainConfig(train=str(tmp_path / "train.npz"), out=str(tmp_path / "run"),
                              hidden=16, epochs=2, batch_size=64, threads=1)
    summary = fit_temporal(cfg, progress=False)
    assert summary["parity"] <= 1e-4 and summary["seq_len"] == 12
    runner = GruStep(summary["onnx"])
    assert runner.hidden_size == 16 and runner.spec.extra["classifier"] == "toy"


# --- MobileNetV3-small -----------------------------------------------------------------------

@pytest.mark.parametrize("name,side", [("mobilenetv3_small", 96), ("mobilenetv3_small_64", 64)])
def test_mobilenetv3_specs_sizes_and_rgb(name, side):
    model, spec = create_model(name)
    assert spec.input_size == (side, side) and spec.channels == 1
    assert model.eval()(torch.zeros(2, 1, side, side)).shape == (2, 7)
    rgb = spec.with_(channels=3, mean=(0.5,) * 3, std=(0.5,) * 3)
    m3, _ = create_model(name, rgb)
    assert m3.eval()(torch.zeros(1, 3, side, side)).shape == (1, 7)
    kinds = {type(m).__name__ for m in model.modules()}
    assert {"InvertedResidual", "SqueezeExcite", "Hardswish"} <= kinds


def test_trainer_upscales_fer_faces_to_96_and_trains_mobilenetv3(tmp_path):
    from helpers import synthetic_faces

    from litefer.train.config import AugmentConfig, TrainConfig
    from litefer.train.engine import Trainer

    faces = synthetic_faces(64)
    cfg = TrainConfig(model="mobilenetv3_small", out=str(tmp_path), epochs=1, batch_size=32,
                      threads=1, augment=AugmentConfig(enabled=True), warmup_epochs=0.5)
    trainer = Trainer(cfg, faces, faces.subset(slice(0, 16)))
    assert trainer.x_train.shape == (64, 1, 96, 96) and trainer.spec.input_size == (96, 96)
    summary = trainer.fit(progress=False)
    assert summary["epochs"] == 1 and (tmp_path / "best.pt").is_file()
    assert get_entry("mobilenetv3_small").spec.input_size == (96, 96)


def test_shipped_gru_loads_by_name_and_matches_its_card():
    import hashlib

    from litefer.errors import ModelNotFoundError
    from litefer.runtime.weights import (DEFAULT_MODEL, DEFAULT_TEMPORAL, WEIGHTS_DIR,
                                         list_weights, resolve_temporal, resolve_weights)
    from litefer.video import create_temporal

    path = resolve_temporal(DEFAULT_TEMPORAL)
    assert path == WEIGHTS_DIR / "temporal_gru.fer2013.onnx"
    card = json.loads(path.with_suffix(".json").read_text())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == card["sha256"]
    gru = create_temporal("gru", DEFAULT_TEMPORAL)
    assert gru.labels == FER2013.classes and gru.hidden_size == card["hidden_size"] == 128
    assert gru.spec.extra["classifier"] == card["classifier"] == DEFAULT_MODEL  # trained on it
    assert DEFAULT_TEMPORAL not in {w.name for w in list_weights()}  # not a classifier
    with pytest.raises(ModelNotFoundError):
        resolve_weights(DEFAULT_TEMPORAL)


def test_shipped_gru_steadies_noisy_constant_labels():
    """On toy probabilities it was not trained on, the shipped GRU still cuts flicker. Its accuracy
    there is not asserted: a GRU learns the confidence pattern of one classifier, and these flat
    toy distributions are not that classifier's (see results/video/README.md)."""
    from litefer.video import create_temporal
    from litefer.video.metrics import clip_report

    seqs = _toy_sequences(200, t_len=32)
    rows = {name: clip_report(smooth_batch(create_temporal(name, model), seqs.probs,
                                           seqs.present), seqs.present, seqs.labels)
            for name, model in (("none", None), ("gru", "temporal_gru.fer2013"))}
    assert rows["gru"]["flicker_per_100"] < 0.5 * rows["none"]["flicker_per_100"]


def test_shipped_gru_on_clips_of_real_faces_with_the_default_classifier(fer_csv):
    """In its own regime (the default classifier on clips of real faces) the GRU must cut flicker
    at least 3x and raise frame accuracy: 300 PublicTest faces, 32-frame clips."""
    from litefer.data import load_splits
    from litefer.runtime.classifier import Classifier
    from litefer.video import create_temporal
    from litefer.video.clips import ClipConfig, classify_clips
    from litefer.video.metrics import clip_report

    faces = load_splits(fer_csv, ("PublicTest",))["PublicTest"]
    seqs = classify_clips(Classifier(), faces.images[:300], faces.labels[:300], ClipConfig(), seed=2)
    rows = {name: clip_report(smooth_batch(create_temporal(name, model), seqs.probs,
                                           seqs.present), seqs.present, seqs.labels)
            for name, model in (("none", None), ("gru", "temporal_gru.fer2013"))}
    assert rows["gru"]["flicker_per_100"] < rows["none"]["flicker_per_100"] / 3
    assert rows["gru"]["frame_accuracy"] > rows["none"]["frame_accuracy"]


def test_gru_names_and_missing_model_are_clear_errors():
    from litefer.errors import LiteferError, ModelNotFoundError
    from litefer.video import create_temporal

    with pytest.raises(ModelNotFoundError, match="shipped: temporal_gru.fer2013"):
        create_temporal("gru", "temporal_gru.nope")
    assert create_temporal("gru").path.name == "temporal_gru.fer2013.onnx"  # the shipped default
    with pytest.raises(LiteferError, match="not found"):
        create_temporal("gru", "/nonexistent/gru.onnx")


def test_gru_card_script_applies_the_selection_rule_and_writes_the_card(tmp_path):
    """scripts/gru_card.py: the highest PublicTest clip vote among GRUs with >= 5x less flicker
    wins; its file is copied and every number on the card comes from the run and the reports."""
    import json
    from pathlib import Path

    from helpers import load_script

    gc = load_script("gru_card")

    def report(vote, reduction):
        return {"frame_accuracy": 0.6, "clip_accuracy_vote": vote, "clip_accuracy_last": 0.6,
                "flicker_per_100": 20 / reduction, "flicker_reduction": reduction,
                "accuracy_first_window": 0.5}

    runs, sels = [], []
    for s, vote, red in ((4, 0.70, 4.9), (8, 0.65, 9.0), (16, 0.66, 11.0)):  # 4 is too flickery
        run = tmp_path / f"s{s}"
        run.mkdir()
        cfg = {"hidden": 128, "epochs": 30, "batch_size": 128, "lr": 3e-3, "weight_decay": 1e-4,
               "switch_prob": 0.5, "stability": float(s), "seed": 0, "threads": 1}
        (run / "config.json").write_text(json.dumps(cfg))
        (run / "summary.json").write_text(json.dumps({
            "best_epoch": s, "best_val_step_accuracy": 0.6, "parity": 1e-7,
            "classifier": "nano_a.fer2013"}))
        (run / "temporal_gru.fer2013.fp32.onnx").write_bytes(b"gru%d" % s)
        sel = tmp_path / f"sel{s}.json"
        sel.write_text(json.dumps({"report": {"gru": report(vote, red)}}))
        runs.append(run)
        sels.append(sel)
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "temporal_gru.fer2013.json").write_text(json.dumps({
        "name": "temporal_gru.fer2013", "file": "temporal_gru.fer2013.onnx", "params": 53511,
        "commands": ["python scripts/make_clips.py --model old.fer2013 --out runs/clips/val.npz",
                     "python -m litefer.train.temporal --out runs/temporal_gru.s8 --stability 8"],
        "license_note": "research use", "private_test_robustness": {"stale": 1}}))
    classifier = tmp_path / "c.onnx"
    classifier.write_bytes(b"classifier")
    args = ["--runs", *map(str, runs), "--selection", *map(str, sels), "--classifier",
            str(classifier), "--classifier-note", "a test", "--weights", str(weights)]
    gc.main(args)
    card = json.loads((weights / "temporal_gru.fer2013.json").read_text())
    assert (weights / "temporal_gru.fer2013.onnx").read_bytes() == b"gru16"
    assert card["train_config"]["stability"] == 16.0 and card["best_epoch"] == 16
    assert card["classifier_file_sha256"] == gc.sha256(classifier)
    assert card["commands"] == [  # the chosen run and the classifier it was trained on
        "python scripts/make_clips.py --model nano_a.fer2013 --out runs/clips/val.npz",
        "python -m litefer.train.temporal --out runs/temporal_gru.s16 --stability 16"]
    assert "private_test_robustness" not in card  # never a stale PrivateTest report
    md = (weights / "temporal_gru.fer2013.md").read_text()
    assert "| **gru, stability 16** | **0.6000** | **0.6600** |" in md
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"gru": str(runs[0] / "temporal_gru.fer2013.fp32.onnx"),
                                   "report": {}}))
    with pytest.raises(SystemExit, match="not the chosen GRU"):
        gc.main(args + ["--private", str(private)])
    for sel, (vote, red) in zip(sels, ((0.66, 6.0), (0.66, 9.0), (0.65, 11.0))):
        sel.write_text(json.dumps({"report": {"gru": report(vote, red)}}))
    assert gc.choose(runs, sels)[0] == runs[1]  # a tie on the vote: the larger reduction wins
    for sel in sels:
        sel.write_text(json.dumps({"report": {"gru": report(0.7, 2.0)}}))
    with pytest.raises(SystemExit, match="5x"):
        gc.main(args)
