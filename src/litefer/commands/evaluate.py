"""`litefer eval`: accuracy, per-class P/R/F1, macro-F1 and confusion matrix on a dataset split."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="evaluate a model on a labelled dataset",
                       description="Evaluate a model (default: the package default) on a split.")
    p.add_argument("--model", default=None,
                   help="shipped name, .onnx path or training checkpoint .pt (default: package default)")
    p.add_argument("--data", required=True, help="FER2013 .csv/.csv.gz or a dataset folder")
    p.add_argument("--split", default="PrivateTest",
                   help="split to evaluate (FER2013 Usage or sub-folder); 'all' for the whole set")
    p.add_argument("--tta", action="store_true", help="average with horizontally mirrored faces")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--out", default=None, help="also write eval.json and confusion.png here")
    p.set_defaults(run=run)


def _print_table(report: dict) -> None:
    print(f"model {report['model']}  n={report['n']}  accuracy {report['accuracy']:.4f}  "
          f"macro-F1 {report['macro_f1']:.4f}")
    print(f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}")
    for name, m in report["per_class"].items():
        print(f"{name:<10} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} "
              f"{m['support']:>8d}")


def run(args: argparse.Namespace) -> int:
    from ..data import load_dataset
    from ..evaluate import evaluate, plot_confusion

    fs = load_dataset(args.data, None if args.split == "all" else args.split)
    report = evaluate(args.model, fs, tta=args.tta)
    report.update(split=args.split, data=str(args.data))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps(report, indent=2))
        try:
            plot_confusion(report, out / "confusion.png")
        except ImportError:
            print("matplotlib not installed: confusion.png skipped "
                  "(pip install 'litefer[train]')", file=sys.stderr)
    if args.json:
        print(json.dumps(report))
    else:
        _print_table(report)
    return 0
