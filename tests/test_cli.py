"""CLI exit codes, messages and JSON outputs."""
import json
import subprocess
import sys

import numpy as np
import pytest

from litefer.cli import main
from litefer.runtime.weights import DEFAULT_MODEL


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "litefer.cli", *args], capture_output=True,
                          text=True)


def test_help_lists_every_subcommand():
    out = run_cli("--help")
    assert out.returncode == 0
    for name in ("train", "eval", "export", "models"):
        assert name in out.stdout


def test_unknown_subcommand_is_a_usage_error():
    out = run_cli("frobnicate")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_eval_with_missing_data_names_the_file(capsys):
    code = main(["eval", "--data", "/nonexistent/fer2013.csv"])
    assert code == 2
    assert "/nonexistent/fer2013.csv" in capsys.readouterr().err


def test_eval_with_unknown_model_says_what_is_shipped(tmp_path, capsys):
    csv = tmp_path / "f.csv"
    csv.write_text("emotion,pixels,Usage\n3," + " ".join(["0"] * 2304) + ",PrivateTest\n")
    assert main(["eval", "--model", "nope", "--data", str(csv)]) == 2
    assert "shipped" in capsys.readouterr().err


def test_eval_json_has_the_documented_keys(tmp_path, capsys):
    rows = ["emotion,pixels,Usage"]
    rng = np.random.default_rng(0)
    for i in range(14):
        rows.append(f"{i % 7}," + " ".join(map(str, rng.integers(0, 256, 2304))) + ",PrivateTest")
    csv = tmp_path / "f.csv"
    csv.write_text("\n".join(rows) + "\n")
    assert main(["eval", "--data", str(csv), "--json", "--out", str(tmp_path / "ev")]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("accuracy", "macro_f1", "per_class", "confusion_matrix", "n", "model", "params"):
        assert key in report
    assert report["n"] == 14 and report["model"] == DEFAULT_MODEL
    assert 0 < report["params"] <= 250_000  # the default's parameter budget
    assert len(report["confusion_matrix"]) == 7
    assert json.loads((tmp_path / "ev" / "eval.json").read_text())["n"] == 14
    assert (tmp_path / "ev" / "confusion.png").is_file()


def test_models_json_lists_architectures_and_the_shipped_default(capsys):
    assert main(["models", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    default = [w for w in out["weights"] if w["default"]]
    assert len(default) == 1 and default[0]["arch"] == DEFAULT_MODEL.split(".")[0]
    assert default[0]["precision"] == "fp32" and default[0]["private_test_accuracy"] > 0.6
    if out["architectures"] is not None:
        names = {a["name"]: a for a in out["architectures"]}
        assert names["mini_xception"]["params"] == 56951


def test_train_then_export_round_trip(tmp_path, capsys):
    pytest.importorskip("torch")
    rows = ["emotion,pixels,Usage"]
    rng = np.random.default_rng(1)
    for usage, n in (("Training", 64), ("PublicTest", 14), ("PrivateTest", 14)):
        for i in range(n):
            rows.append(f"{i % 7}," + " ".join(map(str, rng.integers(0, 256, 2304))) + f",{usage}")
    csv = tmp_path / "tiny.csv"
    csv.write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert main(["train", "--data", str(csv), "--epochs", "1", "--out", str(run), "--quiet",
                 "--tag", "tiny", "--threads", "1"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["epochs"] == 1 and summary["model"] == "mini_xception.tiny"
    assert main(["export", "--model", str(run / "best.pt"), "--out", str(tmp_path / "w"),
                 "--data", str(csv), "--note", "resumed once"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["parity_max_abs_diff"] <= 1e-4 and result["params"] == 56951
    card = json.loads((tmp_path / "w" / "mini_xception.tiny.fp32.json").read_text())
    assert card["private_test"]["n"] == 14 and "litefer train" in card["training_command"]
    assert card["note"] == "resumed once"
    assert "- note: resumed once" in (tmp_path / "w" / "mini_xception.tiny.fp32.md").read_text()
    assert main(["eval", "--model", result["path"], "--data", str(csv), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == card["private_test"]["accuracy"]
