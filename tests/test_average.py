"""Weight averaging (`litefer average`): the arithmetic, what it refuses, and what the card says."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from litefer.cli import main  # noqa: E402
from litefer.errors import LiteferError  # noqa: E402
from litefer.models import create_model  # noqa: E402
from litefer.optimize.card import (distillation_teachers, weights_command,  # noqa: E402
                                   weights_origin)
from litefer.train.average import average_checkpoints  # noqa: E402
from litefer.train.checkpoint import load_checkpoint  # noqa: E402
from litefer.train.config import TrainConfig  # noqa: E402


def _checkpoint(path, seed, arch="mini_xception", prior=(), labels=None, ema=False,
                logit_adjust=0.0):
    torch.manual_seed(seed)
    model, spec = create_model(arch)
    for p in model.parameters():
        p.data.normal_()
    if labels:
        spec = spec.with_(labels=labels)
    spec = spec.with_(prior=prior, logit_adjust=logit_adjust)
    state = {"model": model.state_dict(), "spec": spec.to_json(), "epoch": seed,
             "config": {"model": arch, "epochs": 6}}
    if ema:
        state["ema"] = {"module": {k: v * 0 + seed for k, v in model.state_dict().items()},
                        "updates": 3}
    torch.save(state, path)
    return model.state_dict()


def test_the_average_is_the_weighted_mean_and_keeps_integer_buffers(tmp_path):
    a = _checkpoint(tmp_path / "a.pt", 1)
    b = _checkpoint(tmp_path / "b.pt", 2, prior=(0.5,) * 7)
    out = average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt"], [1, 3])
    for k, v in a.items():
        if v.is_floating_point():
            torch.testing.assert_close(out["model"][k], 0.25 * v + 0.75 * b[k])
        else:
            assert torch.equal(out["model"][k], v)
    assert [round(x["weight"], 6) for x in out["averaged_from"]] == [0.25, 0.75]
    assert out["epoch"] == 2  # spec and config from the checkpoint that stores a prior
    equal = average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt"])
    k = next(k for k, v in a.items() if v.is_floating_point())
    torch.testing.assert_close(equal["model"][k], (a[k] + b[k]) / 2)


def test_the_cli_writes_a_checkpoint_that_loads_and_the_ema_option_reads_the_average(tmp_path,
                                                                                       capsys):
    _checkpoint(tmp_path / "a.pt", 1, ema=True)
    _checkpoint(tmp_path / "b.pt", 3, ema=True)
    out = tmp_path / "soup" / "avg.pt"
    assert main(["average", "--model", str(tmp_path / "a.pt"), "--model", str(tmp_path / "b.pt"),
                 "--ema", "--out", str(out)]) == 0
    model, spec, info = load_checkpoint(out)
    weight = next(v for v in model.state_dict().values() if v.is_floating_point())
    assert torch.all(weight == 2.0)  # mean of the EMA modules filled with 1 and 3
    assert spec.arch == "mini_xception" and len(info["averaged_from"]) == 2
    assert "weight average of 2 checkpoints" in weights_origin(info, TrainConfig(epochs=6))
    alone = average_checkpoints([tmp_path / "b.pt"], ema=True)
    assert all(torch.all(v == 3.0) for v in alone["model"].values() if v.is_floating_point())


@pytest.mark.parametrize("case, message", [
    ("one", "at least two checkpoints"),
    ("weights", "one non-negative weight per checkpoint"),
    ("arch", "is a nano_b"),
    ("labels", "with labels a, b"),
    ("ema", "holds no weight average"),
    ("missing", "checkpoint not found"),
])
def test_what_cannot_be_averaged_is_refused_with_a_reason(tmp_path, case, message):
    _checkpoint(tmp_path / "a.pt", 1)
    other = tmp_path / "b.pt"
    if case == "arch":
        _checkpoint(other, 2, arch="nano_b")
    elif case == "labels":
        _checkpoint(other, 2, labels=("a", "b"))
    elif case != "missing":
        _checkpoint(other, 2)
    paths = [tmp_path / "a.pt"] if case == "one" else [tmp_path / "a.pt", other]
    with pytest.raises(LiteferError, match=message):
        average_checkpoints(paths, [1.0] if case == "weights" else None, ema=case == "ema")


def test_the_card_says_which_epoch_the_weights_come_from():
    cfg = TrainConfig(epochs=6, val_split="PublicTest")
    assert weights_origin({"epoch": 4, "val_acc": 0.6}, cfg) == "epoch 4 of 6, chosen on PublicTest"
    assert weights_origin({"epoch": 6, "history": []}, cfg) == \
        "the last epoch (6 of 6), no selection"
    assert weights_origin({"epoch": 3}, cfg) == "epoch 3 of 6"
    soup = {"averaged_from": [{"path": "runs/a/last.pt", "weight": 0.25},
                              {"path": "b.pt", "weight": 0.75}]}
    assert weights_origin(soup, cfg) == ("weight average of 2 checkpoints (`litefer average`): "
                                         "a/last.pt x 0.25, b.pt x 0.75")


def test_an_ensemble_answers_the_mean_of_its_members_log_probabilities(tmp_path, capsys):
    prior = (0.1, 0.02, 0.14, 0.25, 0.17, 0.11, 0.21)
    for i in range(3):
        _checkpoint(tmp_path / f"m{i}.pt", i + 1, prior=prior)
    out = tmp_path / "ens.pt"
    assert main(["average", "--ensemble", *sum((["--model", str(tmp_path / f"m{i}.pt")]
                                                for i in range(3)), []), "--out", str(out)]) == 0
    model, spec, info = load_checkpoint(out)
    assert (spec.arch, spec.name, spec.prior) == ("mini_xception_x3", "mini_xception_x3", prior)
    assert sum(p.numel() for p in model.parameters()) == 3 * 56_951
    x = torch.randn(5, 1, 48, 48)
    members = [load_checkpoint(tmp_path / f"m{i}.pt")[0] for i in range(3)]
    with torch.no_grad():
        expected = torch.stack([torch.log_softmax(m(x), 1) for m in members]).mean(0)
        torch.testing.assert_close(model(x), expected)
        # not a weight average: the soup of the same three networks answers differently
        soup, _ = create_model("mini_xception")
        soup.load_state_dict(average_checkpoints([tmp_path / f"m{i}.pt" for i in range(3)])["model"])
        assert not torch.allclose(torch.log_softmax(soup.eval()(x), 1), expected, atol=1e-3)
    origin = weights_origin(info, TrainConfig(epochs=6))
    assert origin.startswith("output ensemble of 3 networks") and origin.endswith("m2.pt")
    command = weights_command(TrainConfig(model=spec.arch, data="d.csv"), info)
    assert command.count("litefer train --model mini_xception --data d.csv") == 3


def test_an_ensembles_card_names_every_members_teacher():
    info = {"ensemble_of": [{"path": "a/last.pt", "config": {"teachers": ["t1.onnx"]}},
                            {"path": "b/last.pt", "config": {"teachers": ["t2.onnx", "t1.onnx"]}},
                            {"path": "c/last.pt", "config": {}}]}
    cfg = TrainConfig(teachers=["t1.onnx"])  # the first member's, as the ensemble stores it
    assert distillation_teachers(cfg, info) == ["t1.onnx", "t2.onnx"]
    assert distillation_teachers(cfg, {}) == ["t1.onnx"]


def test_a_soup_inside_an_ensemble_keeps_every_input_run_on_the_card(tmp_path):
    from litefer.train.average import ensemble_checkpoints

    prior = (1 / 7,) * 7
    for name, seed in (("a", 1), ("b", 2), ("c", 3)):
        _checkpoint(tmp_path / f"{name}.pt", seed, prior=prior)
        state = torch.load(tmp_path / f"{name}.pt", weights_only=False)
        state["config"] = {"model": "mini_xception", "epochs": 6 + seed, "teachers": [f"t{name}"]}
        torch.save(state, tmp_path / f"{name}.pt")
    torch.save(average_checkpoints([tmp_path / "b.pt", tmp_path / "c.pt"], [1.0, 3.0]),
               tmp_path / "soup.pt")
    info = ensemble_checkpoints([tmp_path / "a.pt", tmp_path / "soup.pt"])
    assert [a["config"]["epochs"] for a in info["ensemble_of"][1]["averaged_from"]] == [8, 9]
    origin = weights_origin(info, TrainConfig())
    assert origin.endswith(f", {tmp_path.name}/soup.pt (weight average of 2 checkpoints "
                           f"(`litefer average`): {tmp_path.name}/b.pt x 0.25, "
                           f"{tmp_path.name}/c.pt x 0.75)")
    command = weights_command(TrainConfig(data="d.csv"), info)
    assert [c.split("--epochs ")[1].split()[0] for c in command.split(" ; ")] == ["7", "8", "9"]
    assert distillation_teachers(TrainConfig(), info) == ["ta", "tb", "tc"]
    # a soup saved before inputs recorded their configs: the stored (first input's) config
    old = {"averaged_from": [{"path": "b.pt", "weight": 0.5}, {"path": "c.pt", "weight": 0.5}]}
    assert weights_command(TrainConfig(data="d.csv", epochs=8), old).count("litefer train") == 1


@pytest.mark.parametrize("case, message", [
    ("one", "at least two checkpoints"),
    ("arch", "differ in arch"),
    ("prior", "different training label priors"),
    ("adjust", "logit adjustments"),
    ("size", "unknown model 'mini_xception_x5'"),
    ("weights", "neither --weights nor --ema"),
])
def test_what_cannot_be_ensembled_is_refused_with_a_reason(tmp_path, case, message):
    from litefer.train.average import save_average

    _checkpoint(tmp_path / "a.pt", 1, prior=(1 / 7,) * 7)
    _checkpoint(tmp_path / "b.pt", 2, arch="nano_b" if case == "arch" else "mini_xception",
                prior=(0.5,) + (0.5 / 6,) * 6 if case == "prior" else (1 / 7,) * 7,
                logit_adjust=1.0 if case == "adjust" else 0.0)
    paths = {"one": ["a.pt"], "size": ["a.pt", "b.pt"] * 2 + ["a.pt"]}.get(case, ["a.pt", "b.pt"])
    with pytest.raises(LiteferError, match=message):
        save_average([tmp_path / p for p in paths], tmp_path / "e.pt",
                     weights=[1.0, 1.0] if case == "weights" else None, ensemble=True)


def test_a_checkpoint_saved_before_specs_held_the_logit_adjustment_takes_it_from_its_config():
    from litefer.train.checkpoint import checkpoint_spec

    spec = create_model("mini_xception")[1].with_(prior=(1 / 7,) * 7)
    old = json.loads(spec.to_json())
    del old["logit_adjust"]
    state = {"spec": json.dumps(old), "config": {"logit_adjust": 1.0}}
    assert checkpoint_spec(state).logit_adjust == 1.0
    assert checkpoint_spec({**state, "config": {}}).logit_adjust == 0.0
    stored = {"spec": spec.with_(logit_adjust=0.5).to_json(), "config": {"logit_adjust": 1.0}}
    assert checkpoint_spec(stored).logit_adjust == 0.5  # a stored value wins over the config
