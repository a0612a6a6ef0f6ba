"""`litefer bench` and litefer.bench: keys, units, isolation, energy honesty, no torch."""
import json
import subprocess
import sys

import numpy as np
import pytest

from litefer.bench import EnergyMeter, compare, label, timed
from litefer.runtime.weights import DEFAULT_MODEL

KEYS = ("params", "macs", "file_bytes", "latency_ms_p50", "latency_ms_p95", "throughput_fps_b64",
        "pipeline_fps", "cpu_percent", "peak_rss_mb", "batch_faces_per_s", "single_faces_per_s",
        "batch_speedup", "import_seconds")
FAST = ["--repeats", "5", "--warmup", "2", "--batch-repeats", "2", "--frames", "2",
        "--threads", "1"]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    pytest.importorskip("torch", reason="exporting the test model needs litefer[train]")
    from litefer.models import create_model
    from litefer.models.layers import count_params
    from litefer.models.profile import count_macs
    from litefer.optimize.export import export_onnx

    model, spec = create_model("mini_xception")
    spec = spec.with_(name="mini_xception.bench",
                      extra={"params": count_params(model), "macs": count_macs(model, spec)})
    return export_onnx(model, spec, tmp_path_factory.mktemp("bench") / "m.fp32.onnx")


def test_bench_json_has_every_key_and_positive_values(model_path, capsys):
    from litefer.cli import main

    assert main(["bench", "--model", str(model_path), "--json", *FAST]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in KEYS:
        assert key in result, key
        if key == "pipeline_fps" and result[key] is None:  # no detector installed here
            assert result["pipeline_reason"]
            continue
        assert result[key] > 0, key
    assert result["params"] == 56951 and result["macs"] == 5520448
    assert result["latency_ms_p95"] >= result["latency_ms_p50"]
    gain = result["batch_faces_per_s"] / result["single_faces_per_s"]
    assert result["batch_speedup"] == pytest.approx(gain) and result["batch_crops"] == 32
    assert result["config"]["repeats"] == 5


def test_energy_is_measured_or_declared_unavailable_never_estimated(monkeypatch, tmp_path):
    import litefer.bench as bench

    monkeypatch.setattr(bench, "RAPL", tmp_path / "missing")
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    meter = EnergyMeter()
    assert meter.source is None and meter.read() is None and "RAPL" in meter.reason
    counter = tmp_path / "energy_uj"
    counter.write_text("5000000\n")
    monkeypatch.setattr(bench, "RAPL", counter)
    meter = EnergyMeter()
    assert meter.source == "rapl" and meter.read() == pytest.approx(5.0)


def test_timed_and_compare():
    assert len(timed(lambda: None, 2, 7)) == 7
    a = {"model": "m.a", "precision": "fp32", "file_bytes": 200, "latency_ms_p50": 2.0,
         "pipeline_fps": None}
    b = {"model": "m.b", "precision": "int8", "file_bytes": 50, "latency_ms_p50": 1.0,
         "pipeline_fps": 30.0}
    (row,) = compare([a, b])
    assert row["model"] == label(b) == "m.b.int8" and row["baseline"] == "m.a.fp32"
    assert row["ratios"]["file_bytes"] == 0.25 and row["ratios"]["latency_ms_p50"] == 0.5
    assert row["ratios"]["pipeline_fps"] is None and row["ratios"]["macs"] is None


def test_compare_runs_each_model_in_its_own_process(model_path, capsys):
    from litefer.cli import main

    assert main(["bench", "--compare", str(model_path), str(model_path), "--json", *FAST]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["results"]) == 2 and out["ratios"][0]["ratios"]["params"] == 1.0


def _run(model: str, p50: float, **extra) -> dict:
    return {"model": model, "precision": "fp32", "params": 10, "file_bytes": 100,
            "latency_ms_p50": p50, "pipeline_fps": None, "energy_source": "rapl", **extra}


def test_rounds_are_summarised_by_their_median_with_the_range_kept():
    from litefer.bench import summarise_rounds
    from litefer.errors import LiteferError

    runs = [_run("m", 0.6, cpu_percent=100.0), _run("m", 0.3, cpu_percent=140.0),
            _run("m", 0.4)]
    out = summarise_rounds(runs)
    assert out["latency_ms_p50"] == pytest.approx(0.4) and out["spread"]["latency_ms_p50"] == [0.3, 0.6]
    assert out["cpu_percent"] == pytest.approx(120.0)  # median of the rounds that measured it
    assert out["pipeline_fps"] is None and "pipeline_fps" not in out["spread"]
    assert out["params"] == 10 and out["rounds"] == 3 and out["round_results"] == runs
    with pytest.raises(LiteferError, match="different models"):
        summarise_rounds([_run("m", 0.5), _run("other", 0.5)])
    with pytest.raises(LiteferError, match="no benchmark rounds"):
        summarise_rounds([])


def test_round_ratios_are_taken_within_each_round():
    """Ratios within rounds (2.0, 1/3, 1.5: median 1.5), not of the medians (2.0 / 2.0)."""
    from litefer.bench import compare_rounds

    rounds = [[_run("a", 1.0), _run("b", 2.0)], [_run("a", 3.0), _run("b", 1.0)],
              [_run("a", 2.0), _run("b", 3.0)]]
    (row,) = compare_rounds(rounds)
    assert row["ratios"]["latency_ms_p50"] == pytest.approx(1.5) and row["rounds"] == 3
    assert row["model"] == "b.fp32" and row["baseline"] == "a.fp32"
    assert row["ratios"]["file_bytes"] == 1.0 and row["ratios"]["pipeline_fps"] is None


def test_rounds_alternate_the_order_of_models_and_pause_between_rounds(monkeypatch, capsys):
    import litefer.bench as litefer_bench
    import litefer.commands.bench as cmd
    from litefer.cli import main

    calls, sleeps = [], []

    def fake_run(args, model):
        calls.append(model)
        return _run(model, 1.0 + len(calls))

    monkeypatch.setattr(cmd, "_run_isolated", fake_run)
    monkeypatch.setattr(litefer_bench.time, "sleep", sleeps.append)
    assert main(["bench", "--compare", "a", "b", "--rounds", "3", "--round-gap", "7",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert calls == ["a", "b", "b", "a", "a", "b"] and sleeps == [7.0, 7.0]
    a, b = out["results"]
    assert a["rounds"] == 3 and [r["latency_ms_p50"] for r in a["round_results"]] == [2.0, 5.0, 6.0]
    assert a["latency_ms_p50"] == 5.0 and b["latency_ms_p50"] == 4.0
    assert out["ratios"][0]["ratios"]["latency_ms_p50"] == pytest.approx(np.median([1.5, 0.8, 7 / 6]))


def test_rounds_of_one_model_report_medians(monkeypatch, capsys):
    import litefer.commands.bench as cmd
    from litefer.cli import main

    p50s = iter([0.5, 0.3, 0.4])
    monkeypatch.setattr(cmd, "_run_isolated", lambda args, model: _run(model, next(p50s)))
    assert main(["bench", "--rounds", "3"]) == 0
    captured = capsys.readouterr()
    assert f"{DEFAULT_MODEL}.fp32" in captured.out and " 0.400 " in captured.out
    assert "medians of 3 rounds; p50 ms ranged 0.300-0.500" in captured.err


@pytest.mark.parametrize("argv", [["--rounds", "0"], ["--round-gap", "-1"],
                                  ["--rounds", "2", "--load", "1"], ["--rounds", "2", "--video"]])
def test_bad_round_settings_are_usage_errors(argv, capsys):
    from litefer.cli import main

    assert main(["bench", *argv]) == 2
    assert "--round" in capsys.readouterr().err


def test_bench_table_gives_a_column_per_round(tmp_path, capsys):
    from helpers import load_script

    from litefer.bench import summarise_rounds

    bt = load_script("bench_table", "benchmarks")
    rounds = summarise_rounds([_run("m", 0.5), _run("m", 0.3), _run("m", 0.4)])
    (tmp_path / "rounds.json").write_text(json.dumps(rounds))
    (tmp_path / "one.json").write_text(json.dumps(_run("m", 0.9)))
    assert bt.main([str(tmp_path / "rounds.json"), str(tmp_path / "one.json")]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "p50" in line)
    assert row == "| classifier latency p50, batch 1 (ms) | 0.500 | 0.300 | 0.400 | 0.900 | 0.450 |"
    (tmp_path / "compare.json").write_text(json.dumps({"results": [rounds], "ratios": []}))
    assert bt.main([str(tmp_path / "compare.json")]) == 2
    assert "holds a --compare result" in capsys.readouterr().err


def test_results_say_which_cpu_measured_them(tmp_path):
    from litefer.bench import cpu_facts

    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu sse2 avx2 fma "
                   "avx512f avx512_vnni\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 9B14\n")
    facts = cpu_facts(x86)
    assert facts["cpu_model"] == "AMD EPYC 9B14" and facts["cpu_count"] >= 1
    assert facts["cpu_isa"] == ["avx2", "fma", "avx512f", "avx512_vnni"]
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm asimddp\n")
    assert cpu_facts(arm)["cpu_isa"] == ["asimd", "asimddp"]
    assert cpu_facts(tmp_path / "missing")["cpu_isa"] is None


def test_results_name_shipped_files_inside_the_package_not_this_machines_folders(tmp_path):
    from litefer.bench import shown_path
    from litefer.runtime.weights import resolve_weights

    path = resolve_weights(DEFAULT_MODEL)
    assert shown_path(path) == f"litefer/weights/{path.name}"
    assert shown_path(tmp_path / "m.onnx") == str(tmp_path / "m.onnx")


def test_bench_and_graph_stats_do_not_import_torch(model_path):
    code = ("import sys, json\n"
            "from litefer.bench import BenchConfig, benchmark\n"
            f"r = benchmark({str(model_path)!r}, BenchConfig(warmup=1, repeats=3, batch=4, "
            "batch_repeats=1, frames=1, threads=1))\n"
            "print(json.dumps({'torch': 'torch' in sys.modules, 'macs': r['macs'], "
            "'weights': r['weights']}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["torch"] is False and result["macs"] == 5520448 and result["weights"] > 50000


def test_test_frames_are_640x480_rgb(tmp_path):
    import cv2

    from litefer.bench import draw_test_frame, load_frame

    for frame in (load_frame(None), draw_test_frame()):
        assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
    cv2.imwrite(str(tmp_path / "tall.png"), np.full((300, 100, 3), 255, np.uint8))
    tall = load_frame(tmp_path / "tall.png")  # fitted, not stretched: grey bars either side
    assert tall.shape == (480, 640, 3) and tall[240, 0, 0] == 114 and tall[240, 320, 0] == 255


def _variants_table_script():
    from helpers import load_script

    return load_script("variants_table", "benchmarks")


@pytest.mark.parametrize("page", ["README.md", "docs/models.md"])
def test_published_models_table_is_the_one_the_shipped_cards_give(page):
    """Every cell of the models table in the README and docs/models.md comes from a card:
    regenerating it changes nothing."""
    from pathlib import Path

    vt = _variants_table_script()
    text = (Path(__file__).resolve().parents[1] / page).read_text()
    section = text.split(vt.MODELS_START, 1)[1].split(vt.MODELS_END, 1)[0]
    table = vt.models_table()
    assert section.strip() == table
    default = table.splitlines()[2]
    assert default.startswith(f"| `{DEFAULT_MODEL}.fp32` (default) |") and "**" in default


def test_models_table_reads_every_cell_from_the_cards(tmp_path):
    vt = _variants_table_script()
    card = {"params": 1234, "macs": 2_500_000, "file_bytes": 4000,
            "public_test": {"accuracy": 0.61234}, "private_test": {"accuracy": 0.65}}
    for precision, extra in (("fp32", {}), ("int8", {"file_bytes": 1000, "optimization": {
            "steps": [{"step": "int8", "per_channel": True, "format": "qdq"}]}})):
        (tmp_path / f"toy.t.{precision}.onnx").write_bytes(b"x")
        (tmp_path / f"toy.t.{precision}.json").write_text(json.dumps({**card, **extra}))
    rows = vt.models_table(tmp_path).splitlines()[2:]
    assert rows == ["| `toy.t.fp32` | 1,234 | 2.50 M | 4,000 B | 61.23% | **65.00%** |",
                    "| `toy.t.int8` (static, qdq, per channel) | 1,234 | 2.50 M | 1,000 B (4.00x smaller)"
                    " | 61.23% | 65.00% |"]
    readme = tmp_path / "R.md"
    readme.write_text(f"a\n{vt.MODELS_START}\nold\n{vt.MODELS_END}\nb\n")
    assert vt.main(["--weights", str(tmp_path), "--cards-only", "--write", str(readme)]) == 0
    assert readme.read_text() == f"a\n{vt.MODELS_START}\n{vt.models_table(tmp_path)}\n{vt.MODELS_END}\nb\n"


def test_variants_table_rounds_take_the_variants_in_turn(monkeypatch):
    import argparse
    from pathlib import Path

    vt = _variants_table_script()
    calls = []

    def fake_bench(path, args):
        calls.append(path.name)
        return _run(path.stem, float(len(calls)))

    monkeypatch.setattr(vt, "bench", fake_bench)
    a, b = Path("a.onnx"), Path("b.onnx")
    out = vt.bench_all([a, b], argparse.Namespace(rounds=3))
    assert calls == ["a.onnx", "b.onnx", "b.onnx", "a.onnx", "a.onnx", "b.onnx"]
    assert [r["latency_ms_p50"] for r in out] == [4.0, 3.0] and out[0]["rounds"] == 3
    calls.clear()
    (one,) = vt.bench_all([a], argparse.Namespace(rounds=1))
    assert one["latency_ms_p50"] == 1.0 and "rounds" not in one


def test_variants_table_is_written_between_the_markers(model_path, tmp_path):
    import shutil

    vt = _variants_table_script()
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(model_path, weights / "mini_xception.bench.fp32.onnx")
    (weights / "mini_xception.bench.fp32.json").write_text(
        json.dumps({"private_test": {"accuracy": 0.6543}}))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{vt.START}\nold table\n{vt.END}\nafter\n")
    assert vt.main(["--weights", str(weights), "--repeats", "3", "--frames", "1",
                    "--write", str(readme)]) == 0
    text = readme.read_text()
    assert "old table" not in text and text.endswith(f"{vt.END}\nafter\n")
    assert "| mini_xception.bench | fp32 | 56,951 | 5,520,448 |" in text and "0.6543" in text


def test_classifier_threads_times_every_setting_in_every_window(capsys):
    from helpers import load_script

    ct = load_script("classifier_threads", "benchmarks")
    out = ct.window_medians(None, [1, 0], windows=3, calls=4, warmup=1)
    assert sorted(out) == [0, 1] and all(len(v) == 3 and min(v) > 0 for v in out.values())
    assert f"{DEFAULT_MODEL}: 3 windows of 4 batch-1 calls" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        ct.main(["--windows", "0"])
