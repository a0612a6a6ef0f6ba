"""`litefer search`: budgeted architecture search over the Nano family (needs litefer[train]).

Writes OUT/trials.jsonl (every candidate: config, params, MACs, proxy accuracy, seconds; rejected
over-budget ones with their reason), OUT/pareto.png and OUT/best.json. Re-running the same
command resumes from the log; a larger --trials extends a finished search.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from ..errors import LiteferError, require


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="search Nano architectures under a parameter/MAC budget",
                       description="Regularised evolution over widths, depths and long-range "
                                   "mixing connections; candidates over budget are rejected "
                                   "before training; resumes from OUT/trials.jsonl.")
    p.add_argument("--budget-params", type=int, required=True, help="max trainable parameters")
    p.add_argument("--budget-macs", type=int, default=0, help="max MACs per image (0 = no limit)")
    p.add_argument("--min-params", type=int, default=0,
                   help="reject candidates smaller than this (search a size band)")
    p.add_argument("--data", required=True,
                   help="proxy data: FER2013 .csv(.gz) (Training -> PublicTest) or a folder")
    p.add_argument("--trials", type=int, required=True, help="candidates to train")
    p.add_argument("--out", default="runs/search", help="output folder")
    p.add_argument("--proxy-epochs", type=int, default=3)
    p.add_argument("--proxy-subset", type=int, default=5000, help="training images for the proxy")
    p.add_argument("--proxy-val", type=int, default=2000, help="held-out images for the proxy")
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--sample-size", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(run=run)


def _summary(rows: list[dict], rejected: int, out: Path, args) -> dict:
    from ..search import best_row, pareto_front

    best = best_row(rows)
    return {"trained": len(rows), "rejected": rejected, "budget_params": args.budget_params,
            "budget_macs": args.budget_macs or None, "min_params": args.min_params,
            "best": best,
            "pareto_front": [{k: r[k] for k in ("trial", "params", "macs", "accuracy")}
                             for r in pareto_front(rows)],
            "log": str(out / "trials.jsonl"), "plot": str(out / "pareto.png")}


def run(args: argparse.Namespace) -> int:
    require("torch", "train")
    from ..search import (Budget, EvolutionConfig, ProxyConfig, ProxyTrainer, SearchSpace,
                          load_proxy_data, plot_pareto, read_log, run_search)

    if args.trials < 1 or args.budget_params < 1:
        raise LiteferError("--trials and --budget-params must be positive")
    out = Path(args.out)
    budget = Budget(args.budget_params, args.budget_macs, args.min_params)
    evo = EvolutionConfig(budget, args.trials, args.population, args.sample_size, args.seed)
    proxy_cfg = ProxyConfig(epochs=args.proxy_epochs, subset=args.proxy_subset,
                            val_subset=args.proxy_val, seed=args.seed)
    train, val = load_proxy_data(args.data, proxy_cfg)
    proxy = ProxyTrainer(train, val, proxy_cfg, threads=args.threads)
    settings = {"proxy": asdict(proxy_cfg), "data": Path(args.data).name}
    rows = run_search(evo, SearchSpace(), proxy.spec, proxy, out / "trials.jsonl", settings,
                      log=lambda m: print(m, file=sys.stderr))
    rejected = sum(r.get("status") == "rejected" for r in read_log(out / "trials.jsonl"))
    plot_pareto(rows, out / "pareto.png", args.budget_params, rejected)
    summary = _summary(rows, rejected, out, args)
    (out / "best.json").write_text(json.dumps(summary, indent=1))
    if args.json:
        print(json.dumps(summary))
    else:
        b = summary["best"]
        print(f"best of {len(rows)} (rejected {rejected}): trial {b['trial']} proxy accuracy "
              f"{b['accuracy']:.4f}, {b['params']} params, {b['macs']} MACs")
        print(json.dumps(b["config"]))
    return 0
