"""The best ensemble of trained ONNX classifiers that fits a parameter budget, chosen on PublicTest.

    python scripts/ensemble_budget.py --data ../shared/data/fer2013.csv.gz --budget-params 250000 \\
        --model src/litefer/weights/mini_xception.fer2013.fp32.onnx \\
        --model runs/e80_export/mini_xception.fer2013.fp32.onnx ... --json

Every subset of the listed models whose summed weights (graph_stats: conv/linear weights and
biases as exported, batch norms folded) fit the budget is scored by the mean of its members'
log-probabilities of their raw outputs, what `litefer average --ensemble` exports. The subset with the
highest PublicTest accuracy is selected (ties: fewer weights); PrivateTest is only reported, as
are the flip-averaged numbers. Each model runs once per split and view.

With ``--crossdata DATA_ROOT`` the subsets are chosen by the default's rule instead
(litefer.evaltable: highest mean of FER2013 PublicTest accuracy, CK+48 6-class accuracy and
muxspace `test` balanced accuracy; PrivateTest reported), at every prior strength of
``--prior-tau`` (applied to the first model's stored training prior), and the budget counts
trainable parameters (the ``params`` of each file's spec, as `litefer models` lists them):

    python scripts/ensemble_budget.py --crossdata ../shared/data --budget-params 250000 \
        --prior-tau=-0.25,-0.125,0 --model a.onnx --model b.onnx --model c.onnx --model d.onnx

With ``--max-members N`` the selected subset has at most N networks; larger ones are still scored
and listed unless ``--list-within`` is given (then only the subsets the selection may pick are
listed). This is the speed condition of the default's rule once `litefer bench --compare` has
shown that only N of these networks fit the latency target (each member adds its own time:
benchmarks/ensemble_fusion.py).
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
    p.add_argument("--data", help="FER2013 .csv/.csv.gz (choose on --select)")
    p.add_argument("--crossdata", metavar="DATA_ROOT",
                   help="choose by the cross-data-set selection score on this shared data folder")
    p.add_argument("--prior-tau", default="0", help="with --crossdata: comma list, e.g. -0.25,0")
    p.add_argument("--model", action="append", required=True, help="ONNX path or shipped name")
    p.add_argument("--budget-params", type=int, required=True)
    p.add_argument("--max-members", type=int, default=None, metavar="N",
                   help="select among subsets of at most N networks (all are still listed "
                        "unless --list-within)")
    p.add_argument("--select", default="PublicTest")
    p.add_argument("--report", default="PrivateTest")
    p.add_argument("--top", type=int, default=10, help="subsets listed besides the selected one")
    p.add_argument("--list-within", action="store_true",
                   help="list only subsets of at most --max-members networks")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.crossdata:
        out = crossdata_subsets(args.model, args.crossdata, args.budget_params,
                                [float(t) for t in args.prior_tau.split(",")], args.max_members)
        listed = rows_within(out["rows"], "members", args.max_members if args.list_within else None)
        if args.json:
            print(json.dumps({**out, "top": listed[:args.top], "rows": None}, indent=2))
        else:
            from litefer.evaltable import render

            print(render({**out, "rows": listed[:args.top]}), end="")
            sel = out["selected"]
            print("selected: " + ("none" if sel is None else f"{sel['model']} (prior tau "
                  f"{sel['prior_tau']:g}, score {100 * sel['selection_score']:.2f})"))
        return 0
    if not args.data:
        p.error("give --data (choose on a FER2013 split) or --crossdata (the selection score)")
    import onnx

    spec = Classifier(args.model[0]).spec
    members = {m: OnnxTeacher([m], spec, training_space=False) for m in args.model}
    weights = {m: graph_stats(onnx.load(str(t.paths[0]))).weights for m, t in members.items()}
    sets = load_splits(args.data, (args.select, args.report))
    lp = {}
    for s, fs in sets.items():
        x = to_input(fs.images, spec)
        for m, t in members.items():
            lp[m, s, False] = t.log_probs(x)  # raw, as an output ensemble averages them
            lp[m, s, True] = (lp[m, s, False] + t.log_probs(x[..., ::-1])) / 2

    def acc(group, split, tta):
        z = np.mean([lp[m, split, tta] for m in group], 0)
        return float((z.argmax(1) == sets[split].labels).mean())

    rows = [{"models": list(group), "weights": sum(weights[m] for m in group),
             **{f"{s}{'_tta' if t else ''}": acc(group, s, t) for s in sets for t in (False, True)}}
            for group in within_budget(list(members), weights, args.budget_params)]
    rows.sort(key=lambda r: (-r[args.select], r["weights"]))
    listed = rows_within(rows, "models", args.max_members if args.list_within else None)
    out = {"budget_params": args.budget_params, "selected_on": args.select,
           "weights": weights, "selected": first_within(rows, "models", args.max_members),
           "candidates": len(rows), "top": listed[:args.top]}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for r in listed[:args.top]:
            print(f"{r['weights']:>8,} {r[args.select]:.4f} {r[args.report]:.4f}  "
                  + " + ".join(r["models"]))
    return 0


def within_budget(models: list[str], size: dict[str, int], budget: int) -> list[tuple[str, ...]]:
    """Every non-empty subset of ``models`` (smallest first, in their order) whose summed
    ``size`` is at most ``budget``."""
    return [group for r in range(1, len(models) + 1)
            for group in itertools.combinations(models, r) if sum(size[m] for m in group) <= budget]


def rows_within(rows: list[dict], key: str, max_members: int | None) -> list[dict]:
    """The ``rows`` (order kept) whose ``key`` list has at most ``max_members`` entries
    (None: every row)."""
    return [r for r in rows if max_members is None or len(r[key]) <= max_members]


def first_within(rows: list[dict], key: str, max_members: int | None) -> dict | None:
    """The first of the sorted ``rows`` whose ``key`` list has at most ``max_members`` entries
    (None: the first row); None when no row qualifies."""
    return next(iter(rows_within(rows, key, max_members)), None)


def crossdata_subsets(models: list[str], root: str, budget: int, taus: list[float],
                      max_members: int | None = None) -> dict:
    """Every subset of ``models`` within ``budget`` trainable parameters, at every prior
    strength in ``taus``, as rows of litefer.evaltable's table (``model``: the members joined
    by " + "), sorted by selection score (ties: fewer parameters); the choice is the first row
    of at most ``max_members`` networks (None: the first row)."""
    from litefer.evaltable import load_table_sets, outputs_metrics, selection_score
    from litefer.evaluate import effective_spec

    spec = Classifier(models[0]).spec
    members = {m: OnnxTeacher([m], spec, training_space=False) for m in models}
    params = {m: t.members[0].spec.extra.get("params", 0) for m, t in members.items()}
    sets = load_table_sets(root).sets
    lp = {(m, k): t.log_probs(to_input(es.faces.images, spec))
          for m, t in members.items() for k, es in sets.items()}
    effs = {tau: effective_spec(spec.with_(temperature=1.0), tau, "spec") for tau in taus}
    rows = []
    for group in within_budget(models, params, budget):
        mean_lp = {k: np.mean([lp[m, k] for m in group], 0) for k in sets}
        for tau, eff in effs.items():
            metrics = outputs_metrics(mean_lp, sets, eff)
            rows.append({"model": " + ".join(group), "members": list(group),
                         "params": sum(params[m] for m in group), "prior_tau": tau, "tta": False,
                         "metrics": metrics, "selection_score": selection_score(metrics)})
    rows.sort(key=lambda r: (-(r["selection_score"] or -1.0), r["params"]))  # None: a set missing
    return {"data_root": root, "budget_params": budget, "max_members": max_members,
            "sets": {k: len(v.faces) for k, v in sets.items()}, "skipped": {},
            "candidates": len(rows), "rows": rows,
            "selected": first_within(rows, "members", max_members)}


if __name__ == "__main__":
    raise SystemExit(main())
