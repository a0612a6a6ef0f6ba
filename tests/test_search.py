"""Design search: budgets hold before training, the log resumes, the front and plot are right."""
import json
import random

import pytest

torch = pytest.importorskip("torch", reason="search tests need litefer[train] (torch)")

from litefer.cli import main  # noqa: E402
from litefer.errors import LiteferError  # noqa: E402
from litefer.labels import FER2013  # noqa: E402
from litefer.models.nano import NanoConfig  # noqa: E402
from litefer.search import (Budget, EvolutionConfig, ProxyConfig, ProxyTrainer,  # noqa: E402
                            SearchSpace, measure, pareto_front, plot_pareto, read_log,
                            run_search)
from litefer.spec import ModelSpec  # noqa: E402

from helpers import synthetic_faces  # noqa: E402

SPEC = ModelSpec(name="c", arch="c", labels=FER2013.classes)
SPACE = SearchSpace(stems=(8, 12), widths=(8, 16, 24, 32, 48, 64), max_depth=3)


class Recorder:
    """A fake proxy trainer: records every config it is asked to train."""

    def __init__(self, fail_at: int | None = None):
        self.calls, self.fail_at = [], fail_at

    def __call__(self, config: NanoConfig) -> float:
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise KeyboardInterrupt
        self.calls.append(config)
        return sum(config.widths) / 1000 + sum(config.depths) / 100  # deterministic "accuracy"


def _search(path, trials, evaluate, budget=Budget(30_000), **kw):
    cfg = EvolutionConfig(budget, trials=trials, population=3, sample_size=2, **kw)
    return run_search(cfg, SPACE, SPEC, evaluate, path)


def test_no_candidate_over_the_budget_is_ever_trained(tmp_path):
    rec = Recorder()
    budget = Budget(max_params=30_000, max_macs=3_000_000, min_params=5_000)
    rows = _search(tmp_path / "log.jsonl", 8, rec, budget)
    assert len(rec.calls) == 8 == len(rows)
    for cfg in rec.calls:
        params, macs = measure(cfg, SPEC)
        assert 5_000 <= params <= 30_000 and macs <= 3_000_000
    log = read_log(tmp_path / "log.jsonl")
    rejected = [r for r in log if r["status"] == "rejected"]
    assert rejected, "this budget should force some rejections"
    trained = {json.dumps(r["config"], sort_keys=True) for r in rows}
    for r in rejected:
        assert budget.violation(r["params"], r["macs"]) == r["reason"]
        assert json.dumps(r["config"], sort_keys=True) not in trained
    assert all(set(r) >= {"config", "params", "macs", "accuracy", "seconds"} for r in rows)


def test_resume_does_not_rerun_finished_trials_and_matches_an_uninterrupted_run(tmp_path):
    whole = _search(tmp_path / "a.jsonl", 6, Recorder())
    crashing = Recorder(fail_at=4)
    with pytest.raises(KeyboardInterrupt):
        _search(tmp_path / "b.jsonl", 6, crashing)
    with open(tmp_path / "b.jsonl", "a") as fh:
        fh.write('{"status": "trained", "tri')  # a write cut short by the crash
    rest = Recorder()
    resumed = _search(tmp_path / "b.jsonl", 6, rest)
    assert len(rest.calls) == 2
    assert [r["config"] for r in resumed] == [r["config"] for r in whole]
    a, b = read_log(tmp_path / "a.jsonl"), read_log(tmp_path / "b.jsonl")
    assert [(r["status"], r.get("trial"), r.get("attempt")) for r in a] == \
        [(r["status"], r.get("trial"), r.get("attempt")) for r in b]


def test_a_finished_search_can_be_extended_and_other_settings_are_refused(tmp_path):
    path = tmp_path / "log.jsonl"
    _search(path, 3, Recorder())
    more = Recorder()
    assert len(_search(path, 5, more)) == 5 and len(more.calls) == 2
    with pytest.raises(LiteferError, match="other settings"):
        _search(path, 6, Recorder(), budget=Budget(50_000))


def test_a_corrupt_line_inside_the_log_names_the_line(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"status": "header"}\nnot json\n{"status": "trained"}\n')
    with pytest.raises(LiteferError, match="log.jsonl:2"):
        read_log(path)


def test_an_impossible_budget_is_a_typed_error_not_a_hang(tmp_path):
    with pytest.raises(LiteferError, match="widen the budget"):
        _search(tmp_path / "log.jsonl", 1, Recorder(), budget=Budget(10), max_attempts=20)


def test_sampled_and_mutated_configs_are_valid_and_widths_never_shrink():
    rng = random.Random(0)
    space = SearchSpace()
    for _ in range(200):
        cfg = space.sample(rng)
        child, kind = space.mutate(cfg, rng)
        for c in (cfg, child):
            assert list(c.widths) == sorted(c.widths) and len(c.widths) == space.stages
            assert all(1 <= d <= space.max_depth for d in c.depths)
            assert NanoConfig.from_json(c.to_json()) == c


def test_pareto_front_keeps_only_non_dominated_rows(tmp_path):
    rows = [{"trial": i, "params": p, "macs": 1, "accuracy": a}
            for i, (p, a) in enumerate([(10, .5), (20, .4), (30, .7), (40, .7), (50, .8)])]
    assert [r["trial"] for r in pareto_front(rows)] == [0, 2, 4]
    path = plot_pareto(rows, tmp_path / "p.png", budget_params=60, rejected=3)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_proxy_trainer_trains_briefly_and_returns_an_accuracy():
    proxy = ProxyTrainer(synthetic_faces(56), synthetic_faces(28, seed=1),
                         ProxyConfig(epochs=1, batch_size=16), threads=1)
    acc = proxy(NanoConfig(8, (8, 16), (1, 2)))
    assert 0.0 <= acc <= 1.0


def _fer_csv(path, n_train=70, n_val=28):
    rows = ["emotion,pixels,Usage"]
    for usage, fs in (("Training", synthetic_faces(n_train)),
                      ("PublicTest", synthetic_faces(n_val, seed=1))):
        rows += [f"{y}," + " ".join(map(str, im.ravel())) + f",{usage}"
                 for im, y in zip(fs.images, fs.labels)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_cli_search_rejects_before_training_logs_plots_and_resumes(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_proxy(self, config):
        calls.append(measure(config, self.spec)[0])
        return 0.5 + len(calls) / 100

    monkeypatch.setattr(ProxyTrainer, "__call__", fake_proxy)
    csv, out = _fer_csv(tmp_path / "fer.csv"), tmp_path / "search"
    args = ["search", "--budget-params", "40000", "--data", str(csv), "--trials", "4",
            "--out", str(out), "--proxy-epochs", "1", "--proxy-subset", "50", "--threads", "1",
            "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(calls) == 4 and max(calls) <= 40000
    assert summary["trained"] == 4 and summary["best"]["params"] <= 40000
    assert (out / "pareto.png").is_file() and (out / "best.json").is_file()
    assert main(args[:6] + ["6"] + args[7:]) == 0
    assert len(calls) == 6  # only the two new trials were trained
