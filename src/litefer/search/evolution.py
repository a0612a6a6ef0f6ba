"""Constrained regularised (aging) evolution over the Nano design space, logged as JSON Lines.

Why regularised evolution (Real et al., AAAI 2019): with a few dozen noisy proxy evaluations it
matches or beats Bayesian optimisation and RL on NAS benchmarks while having two knobs
(population, sample size) and no surrogate model to fit over a mixed discrete space (widths,
depths, connection sets). Aging — the oldest member leaves, not the worst — keeps a candidate
that was lucky on a 3-epoch proxy from ruling the population forever. Its state is exactly the
ordered list of finished trials, so resuming = re-reading the log.

Each trial: the first ``population`` trials are random samples; later ones take ``sample_size``
members of the last ``population`` trials, mutate the most accurate, and retry until the child
is new and inside the budget. A candidate outside the budget is logged ("rejected", with its
measured params/MACs) and never reaches the proxy trainer. Proposals for trial t come from an
RNG seeded by (seed, t), so a resumed run proposes exactly what the uninterrupted one would have.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..errors import LiteferError
from ..models.nano import NanoConfig
from ..spec import ModelSpec
from .space import Budget, SearchSpace, measure


@dataclass(frozen=True)
class EvolutionConfig:
    """trials: candidates to train; population / sample_size: aging-evolution knobs;
    max_attempts: proposals per trial before giving up (LiteferError)."""

    budget: Budget
    trials: int = 30
    population: int = 8
    sample_size: int = 3
    seed: int = 0
    max_attempts: int = 500


def read_log(path: Path) -> list[dict]:
    """Rows of a JSON Lines log ([] when absent). A truncated last line (a crash mid-write) is
    dropped and the file rewritten; a corrupt line elsewhere raises LiteferError (file:line)."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1:
                raise LiteferError(
                    f"{path}:{i + 1}: not a JSON line; fix or remove the log") from None
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def _plain(config: NanoConfig) -> dict:
    """The config as a JSON-ready dict (lists, not tuples), equal to what read_log returns."""
    return json.loads(config.to_json())


def _append(path: Path, row: dict) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")
        fh.flush()


def _check_header(path: Path, rows: list[dict], header: dict) -> None:
    if not rows:
        _append(path, header)
        return
    if rows[0].get("status") != "header" or rows[0].get("settings") != header["settings"]:
        raise LiteferError(f"{path} was written by a search with other settings (budget, space, "
                           "seed or proxy); choose another --out or delete the log")


def _propose(cfg: EvolutionConfig, space: SearchSpace, done: list[dict], rng: random.Random):
    """-> (config, parent trial or None, mutation kind or "random")."""
    if len(done) < cfg.population:
        return space.sample(rng), None, "random"
    alive = done[-cfg.population:]
    parent = max(rng.sample(alive, min(cfg.sample_size, len(alive))), key=lambda r: r["accuracy"])
    child, kind = space.mutate(NanoConfig.from_dict(parent["config"]), rng)
    return child, parent["trial"], kind


def _next_candidate(cfg, space, spec, done, t, logged, path):
    """The first proposal of trial t that is new and inside the budget; rejections are logged."""
    rng = random.Random(f"{cfg.seed}:{t}")
    seen = {json.dumps(r["config"], sort_keys=True) for r in done}
    for attempt in range(cfg.max_attempts):
        config, parent, kind = _propose(cfg, space, done, rng)
        key = config.to_json()
        if key in seen:
            continue
        params, macs = measure(config, spec)
        reason = cfg.budget.violation(params, macs)
        if reason is None:
            return config, parent, kind, params, macs
        seen.add(key)
        if (t, attempt) not in logged:
            _append(path, {"status": "rejected", "trial": t, "attempt": attempt, "reason": reason,
                           "config": _plain(config), "params": params, "macs": macs})
    raise LiteferError(f"no new candidate inside the budget after {cfg.max_attempts} proposals; "
                       "widen the budget (--budget-params/--budget-macs/--min-params)")


def run_search(cfg: EvolutionConfig, space: SearchSpace, spec: ModelSpec,
               evaluate: Callable[[NanoConfig], float], log_path: str | Path,
               settings: dict | None = None,
               log: Callable[[str], None] | None = None) -> list[dict]:
    """Run (or resume) the search until ``cfg.trials`` candidates are trained.

    evaluate(config) -> proxy accuracy in 0..1, called only for in-budget candidates. The log
    starts with a header row holding the settings (budget, space, seed, plus ``settings``, e.g.
    the proxy recipe); resuming with other settings raises LiteferError. Returns the trained rows
    (trial, config, params, macs, accuracy, seconds, parent, mutation) in trial order.
    """
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = read_log(path)
    header = {"status": "header", "settings": json.loads(json.dumps({
        "budget": asdict(cfg.budget), "population": cfg.population,
        "sample_size": cfg.sample_size, "seed": cfg.seed, "space": asdict(space),
        "labels": list(spec.labels), **(settings or {})}))}
    _check_header(path, rows, header)
    done = [r for r in rows if r.get("status") == "trained"]
    logged = {(r["trial"], r["attempt"]) for r in rows if r.get("status") == "rejected"}
    for t in range(len(done), cfg.trials):
        config, parent, kind, params, macs = _next_candidate(cfg, space, spec, done, t, logged,
                                                             path)
        t0 = time.time()
        acc = float(evaluate(config))
        row = {"status": "trained", "trial": t, "config": _plain(config), "params": params,
               "macs": macs, "accuracy": acc, "seconds": time.time() - t0, "parent": parent,
               "mutation": kind}
        _append(path, row)
        done.append(row)
        if log:
            log(f"trial {t + 1}/{cfg.trials}: accuracy {acc:.4f} params {params} macs {macs} "
                f"({row['seconds']:.0f}s, {kind})")
    return done
