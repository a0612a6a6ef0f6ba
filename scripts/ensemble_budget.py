"""The best ensemble of trained ONNX classifiers that fits a parameter budget, chosen on PublicTest.

    python scripts/ensemble_budget.py --data ../shared/data/fer2013.csv.gz --budget-params 250000 \\
        --model src/litefer/weights/mini_xception.fer2013.fp32.onnx \\
        --model runs/e80_export/mini_xception.fer2013.fp32.onnx ... --json

Every subset of the listed models whose summed weights (graph_stats: conv/linear weights and
biases as exported, batch norms folded) fit the budget is scored by the mean of its members'
log-probabilities, the rule `litefer train --teacher` uses for an ensemble. The subset with the
highest PublicTest accuracy is selected (ties: fewer weights); PrivateTest is only reported, as
are the flip-averaged numbers. Each model runs once per split and view.
"""
from __future__ import annotations

import argparse
import itertools
import json

import numpy as np

from litefer.data import load_splits
from litefer.onnx_stats import graph_stats
from litefer.preprocess import to_input
from litefer.runtime.classifier import Classifier
from litefer.train.distill import OnnxTeacher


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--model", action="append", required=True, help="ONNX path or shipped name")
    p.add_argument("--budget-params", type=int, required=True)
    p.add_argument("--select", default="PublicTest")
    p.add_argument("--report", default="PrivateTest")
    p.add_argument("--top", type=int, default=10, help="subsets listed besides the selected one")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    import onnx

    spec = Classifier(args.model[0]).spec
    members = {m: OnnxTeacher([m], spec) for m in args.model}
    weights = {m: graph_stats(onnx.load(str(t.paths[0]))).weights for m, t in members.items()}
    sets = load_splits(args.data, (args.select, args.report))
    lp = {}
    for s, fs in sets.items():
        x = to_input(fs.images, spec)
        for m, t in members.items():
            lp[m, s, False] = t.log_probs(x)  # the code that teaches
            lp[m, s, True] = (lp[m, s, False] + t.log_probs(x[..., ::-1])) / 2

    def acc(group, split, tta):
        z = np.mean([lp[m, split, tta] for m in group], 0)
        return float((z.argmax(1) == sets[split].labels).mean())

    rows = []
    for r in range(1, len(members) + 1):
        for group in itertools.combinations(members, r):
            w = sum(weights[m] for m in group)
            if w <= args.budget_params:
                rows.append({"models": list(group), "weights": w,
                             **{f"{s}{'_tta' if t else ''}": acc(group, s, t)
                                for s in sets for t in (False, True)}})
    rows.sort(key=lambda r: (-r[args.select], r["weights"]))
    out = {"budget_params": args.budget_params, "selected_on": args.select,
           "weights": weights, "selected": rows[0] if rows else None,
           "candidates": len(rows), "top": rows[:args.top]}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for r in rows[:args.top]:
            print(f"{r['weights']:>8,} {r[args.select]:.4f} {r[args.report]:.4f}  "
                  + " + ".join(r["models"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
