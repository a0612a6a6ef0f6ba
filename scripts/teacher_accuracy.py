"""Accuracy of a distillation teacher (one ONNX model or an ensemble, optionally with mirrored
views) on FER2013 splits, computed by the very code that teaches during `litefer train --teacher`.

    python scripts/teacher_accuracy.py --data ../shared/data/fer2013.csv.gz \\
        --teacher results/training/teachers/vgg_fer.e40.onnx \\
        --teacher results/training/teachers/vgg_fer.r2.onnx --tta --json

Each listed model alone, then the ensemble; selection uses PublicTest, PrivateTest is reported.

With ``--crossdata DATA_ROOT`` it prints the cross-data-set table instead (the rows of
`litefer eval --table`: FER2013 PublicTest/PrivateTest, CK+48 6-class, muxspace test balanced,
selection score), once per prior strength in ``--prior-tau``; the correction uses the first
teacher's stored training prior (FER2013 Training counts when it stores none):

    python scripts/teacher_accuracy.py --crossdata ../shared/data --prior-tau=0.5,1 \
        --teacher runs/vgg_fer.xd/vgg_fer.fer2013.fp32.onnx \
        --teacher results/training/teachers/vgg_fer.e40.onnx
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from litefer.data import load_splits
from litefer.preprocess import to_input
from litefer.runtime.classifier import Classifier
from litefer.train.distill import OnnxTeacher


def accuracy(teacher: OnnxTeacher, x: np.ndarray, y: np.ndarray) -> float:
    return float((teacher.log_probs(x).argmax(1) == y).mean())


def crossdata_rows(groups: list[list[str]], root: str, taus: list[float], tta: bool) -> dict:
    """The cross-data-set table (litefer.evaltable's layout) of each teacher group."""
    from litefer.evaltable import load_table_sets, outputs_metrics, selection_score
    from litefer.evaluate import effective_spec

    sets = load_table_sets(root).sets
    table = {"data_root": root, "sets": {k: len(v.faces) for k, v in sets.items()},
             "skipped": {}, "rows": []}
    for group in groups:
        spec = Classifier(group[0]).spec
        teacher = OnnxTeacher(group, spec, tta=tta)
        params = sum(c.spec.extra.get("params", 0) for c in teacher.members)
        out = {k: teacher.log_probs(to_input(es.faces.images, spec)) for k, es in sets.items()}
        for tau in taus:
            eff = effective_spec(spec.with_(temperature=1.0), tau, "spec")
            metrics = outputs_metrics(out, sets, eff)
            name = " + ".join(Path(t).name[: -len(".onnx")] for t in group)
            table["rows"].append({"model": name, "path": group[0], "params": params,
                                  "prior_tau": tau, "tta": tta, "metrics": metrics,
                                  "selection_score": selection_score(metrics)})
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="FER2013 .csv/.csv.gz (the FER2013 accuracy mode)")
    p.add_argument("--crossdata", metavar="DATA_ROOT",
                   help="print the cross-data-set table from this shared data folder instead")
    p.add_argument("--prior-tau", default="0", help="with --crossdata: comma list, e.g. 0.5,1")
    p.add_argument("--teacher", action="append", required=True, help="ONNX path or shipped name")
    p.add_argument("--tta", action="store_true", help="also average the mirrored views")
    p.add_argument("--splits", nargs="+", default=["PublicTest", "PrivateTest"])
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    groups = [[t] for t in args.teacher] + ([args.teacher] if len(args.teacher) > 1 else [])
    if args.crossdata:
        from litefer.evaltable import render

        table = crossdata_rows(groups, args.crossdata,
                               [float(t) for t in args.prior_tau.split(",")], args.tta)
        print(json.dumps(table, indent=2) if args.json else render(table), end="")
        return 0
    if not args.data:
        p.error("give --data (FER2013 accuracy) or --crossdata (the cross-data-set table)")
    spec = Classifier(args.teacher[0]).spec
    sets = load_splits(args.data, tuple(args.splits))
    inputs = {s: to_input(fs.images, spec) for s, fs in sets.items()}
    rows = []
    for group in groups:
        teacher = OnnxTeacher(group, spec, tta=args.tta)
        rows.append({"teachers": group, "tta": args.tta,
                     **{s: accuracy(teacher, inputs[s], sets[s].labels) for s in sets}})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(" + ".join(r["teachers"]), *(f"{s} {r[s]:.4f}" for s in args.splits))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
