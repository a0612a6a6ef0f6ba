"""`litefer bench --load N`: busy processes are bounded and always ended; fer runs alongside."""
from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time

import psutil
import pytest

from litefer import bench_load
from litefer.bench_load import LoadConfig, busy_processes, load_bench


def children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def gone(pids) -> bool:
    """True when none of ``pids`` is still running (zombies count as gone)."""
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


def test_busy_processes_run_and_are_ended():
    before = children()
    with busy_processes(2, max_seconds=60) as pids:
        assert len(pids) == 2 and set(pids) <= children()
        time.sleep(0.3)
        assert sum(psutil.Process(p).cpu_times().user for p in pids) > 0
    assert gone(pids) and children() == before


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_busy_processes_are_ended_on_error_and_ctrl_c(error):
    before = children()
    with pytest.raises(error):
        with busy_processes(2, max_seconds=60) as pids:
            raise error()
    assert gone(pids) and children() == before


def test_busy_processes_stop_by_themselves_at_their_deadline():
    with busy_processes(1, max_seconds=0.5) as pids:
        psutil.Process(pids[0]).wait(timeout=20)  # the child's own deadline ends it
        assert gone(pids)


def test_busy_processes_reject_nonsense():
    with pytest.raises(ValueError):
        with busy_processes(-1):
            pass


def fake_fer(tmp_path, monkeypatch):
    """A stand-in ``fer`` package (one face, a fixed cost per call) importable by children."""
    pkg = tmp_path / "fer"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        import time
        __version__ = "0.test"
        class FER:
            def detect_emotions(self, frame):
                assert frame.shape == (480, 640, 3)
                time.sleep(0.002)
                return [{"box": [0, 0, 1, 1], "emotions": {"happy": 1.0}}]
    """))
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setattr(bench_load, "fer_available", lambda: True)


def test_load_bench_reports_idle_and_loaded_side_by_side_and_leaves_nothing(
        tmp_path, monkeypatch):
    fake_fer(tmp_path, monkeypatch)
    before = children()
    result = load_bench(None, cfg=LoadConfig(load=2, runs=2, frames=3, warmup=1))
    assert children() == before
    assert result["faces"] == 1 and result["detector"] == "yunet"
    assert result["fer"]["version"] == "0.test" and result["fer"]["faces"] == 1
    for who in ("litefer", "fer"):
        for cond in ("idle", "loaded"):
            r = result[who][cond]
            assert len(r["runs"]) == 2 and r["slowest"] == min(r["runs"]) > 0
    fer_fps = result["fer"]["idle"]["runs"]
    assert max(fer_fps) < 1 / 0.002  # the stand-in sleeps 2 ms per call
    lowest = min(a / b for a, b in zip(result["litefer"]["loaded"]["runs"],
                                       result["fer"]["loaded"]["runs"]))
    assert result["ratio"]["loaded"]["lowest"] == pytest.approx(lowest)
    json.dumps(result)


def test_load_bench_without_fer_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(bench_load, "fer_available", lambda: False)
    result = load_bench(None, cfg=LoadConfig(load=1, runs=1, frames=2, warmup=1))
    assert result["fer"] is None and result["ratio"] is None
    assert "pip install fer" in result["fer_note"]


def run_cli(argv: list[str]) -> int:
    from litefer.commands import bench

    parser = argparse.ArgumentParser()
    bench.add_parser(parser.add_subparsers(), "bench")
    args = parser.parse_args(["bench", *argv])
    return args.run(args)


def test_cli_prints_both_conditions(capsys, monkeypatch):
    monkeypatch.setattr(bench_load, "fer_available", lambda: False)
    before = children()
    assert run_cli(["--load", "1", "--runs", "1", "--frames", "2", "--warmup", "1"]) == 0
    out = capsys.readouterr()
    assert "idle median" in out.out and "1 busy slowest" in out.out
    from litefer.bench import cpu_facts

    facts = cpu_facts()  # the header names the CPU that measured the rates
    assert f"{facts['cpu_count']} CPUs ({facts['cpu_model']};" in out.out.splitlines()[0]
    assert out.out.splitlines()[-1].startswith("litefer")
    assert "pip install fer" in out.err
    assert children() == before
    assert run_cli(["--load", "-1"]) == 2


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")
def test_busy_children_stop_when_the_parent_is_killed(tmp_path):
    import subprocess

    code = ("import time; from litefer.bench_load import busy_processes\n"
            "with busy_processes(1, 60) as pids:\n"
            "    print(pids[0], flush=True); time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 20
    while not gone([child]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone([child])


def test_a_broken_fer_is_a_typed_error_and_leaves_nothing(tmp_path, monkeypatch):
    from litefer.errors import LiteferError

    pkg = tmp_path / "fer"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('no tensorflow here')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(bench_load, "fer_available", lambda: True)
    before = children()
    with pytest.raises(LiteferError, match="no tensorflow here"):
        load_bench(None, cfg=LoadConfig(load=1, runs=1, frames=1, warmup=1))
    assert children() == before
