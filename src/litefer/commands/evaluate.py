"""`litefer eval`: one model on one data set (FER2013, muxspace, CK+48 as a 6-class cross-data-set,
a class folder), or with --table every model on every shared set (litefer.evaltable)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name, help="evaluate models on labelled data sets (one set, or the cross-data-set table)",
        description="Evaluate a model (default: the package default) on a data set, or with "
                    "--table every shipped model (or --models) on FER2013 PublicTest/PrivateTest, "
                    "CK+48 (6 classes) and muxspace test.")
    p.add_argument("--model", default=None,
                   help="shipped name, .onnx path or training checkpoint .pt (default: package default)")
    p.add_argument("--data", default=None,
                   help="FER2013 .csv/.csv.gz, a muxspace folder (manifest.csv), CK+48 (scored on "
                        "the 6 classes it shares with FER2013) or a class folder")
    p.add_argument("--split", default=None,
                   help="FER2013 Usage (default PrivateTest), muxspace split (default test), "
                        "class-folder sub-folder (default PrivateTest); 'all' for the whole set")
    p.add_argument("--tta", nargs="?", const="flip", default=None, choices=["flip", "crops"],
                   help="also score with test-time averaging (reported separately, with its "
                        "ms/face): flip (the default) adds the mirror image, crops seven "
                        "framings and their mirrors (14 network calls)")
    p.add_argument("--prior-tau", default=None,
                   help="prior-correction strength overriding the model's (one value; with "
                        "--table a comma list, e.g. 0,0.5,1; write --prior-tau=-1,0 when the "
                        "first is negative: a negative strength adds the prior back)")
    p.add_argument("--prior", default="spec",
                   help="prior for --prior-tau: spec (the model's, else FER2013 Training counts), "
                        "fer2013, or comma-separated values in label order")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--out", default=None, help="also write eval.json and confusion.png here")
    t = p.add_argument_group("table")
    t.add_argument("--table", action="store_true", help="the cross-data-set table of models")
    t.add_argument("--models", nargs="+", default=None,
                   help="ONNX paths or shipped names (default: every shipped classifier)")
    t.add_argument("--data-root", default=None,
                   help="shared data folder (default: $LITEFER_DATA, else ../shared/data)")
    t.add_argument("--pipeline", action="store_true",
                   help="also score through detector + alignment on the upscaled crops")
    t.add_argument("--detector", default="default", help="detector for --pipeline")
    t.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    t.add_argument("--readme", default=None,
                   help="write the Markdown table into this file between <!-- crossdata:start --> "
                        "and <!-- crossdata:end -->")
    p.set_defaults(run=run)


def _taus(text: str | None, many: bool):
    from ..errors import LiteferError

    if text is None:
        return (None,)
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise LiteferError(f"--prior-tau takes numbers (e.g. 1 or 0,0.5,1), got {text!r}") from None
    if len(values) > 1 and not many:
        raise LiteferError(f"--prior-tau takes one value here (a list only with --table), "
                           f"got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    from ..errors import LiteferError

    if args.table:
        return _run_table(args)
    if args.data is None:
        raise LiteferError("--data is required (or use --table for the cross-data-set table)")
    return _run_one(args)


def _run_one(args) -> int:
    from ..crossdata import open_eval_set
    from ..evaluate import evaluate

    split = args.split
    if split is None and not Path(args.data).name.endswith((".csv", ".csv.gz")):
        split = None if _is_cross(Path(args.data)) else "PrivateTest"
    es = open_eval_set(args.data, split)
    tau = _taus(args.prior_tau, False)[0]
    report = evaluate(args.model, es.faces, prior_tau=tau, prior=args.prior,
                      balanced_over=es.balanced_over)
    report.update(set=es.key, split=split, data=str(args.data), skipped=es.faces.skipped)
    if args.tta:
        avg = evaluate(args.model, es.faces, tta=args.tta, prior_tau=tau, prior=args.prior,
                       balanced_over=es.balanced_over)
        report[f"tta_{args.tta}"] = {k: avg[k] for k in ("accuracy", "balanced_accuracy",
                                                         "recall", "predicted", "macro_f1",
                                                         "ms_per_face")}
    if args.out:
        _write_out(report, Path(args.out))
    print(json.dumps(report) if args.json else _text(report))
    return 0


def _is_cross(path: Path) -> bool:
    """A muxspace or CK+48 folder (their default split is not a sub-folder)."""
    from ..data import is_muxspace
    from ..data.folders import detect_layout

    return is_muxspace(path) or (path.is_dir() and detect_layout(path) == "ckplus48")


def _write_out(report: dict, out: Path) -> None:
    from ..errors import MissingDependencyError
    from ..evaluate import plot_confusion

    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(report, indent=2))
    try:
        plot_confusion(report, out / "confusion.png",
                       title=f"{report['model']} on {report['set']}: accuracy "
                             f"{report['accuracy']:.4f}, balanced {report['balanced_accuracy']:.4f}")
    except MissingDependencyError as exc:
        print(f"confusion.png skipped: {exc}", file=sys.stderr)


def _text(report: dict) -> str:
    lines = [f"model {report['model']} on {report['set']}  n={report['n']}  "
             f"prior tau {report['prior_tau']:g}",
             f"accuracy {report['accuracy']:.4f}  balanced accuracy "
             f"{report['balanced_accuracy']:.4f} (over {', '.join(report['balanced_over'])})  "
             f"macro-F1 {report['macro_f1']:.4f}",
             f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8} {'predicted':>9}"]
    for name, m in report["per_class"].items():
        lines.append(f"{name:<10} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} "
                     f"{m['support']:>8d} {report['predicted'][name]:>9.3f}")
    for mode, what in (("flip", "flip averaging"), ("crops", "14-view averaging (crops)")):
        avg = report.get(f"tta_{mode}")
        if not avg:
            continue
        cost = (f"  ({avg['ms_per_face']:.3f} ms/face against {report['ms_per_face']:.3f} "
                "without: preprocessing + inference in batches of 256)"
                if report.get("ms_per_face") is not None else "")
        lines.append(f"with {what}: accuracy {avg['accuracy']:.4f}  balanced accuracy "
                     f"{avg['balanced_accuracy']:.4f}{cost}")
    return "\n".join(lines)


def _run_table(args) -> int:
    from ..evaltable import build_table, render, write_between_markers

    table = build_table(args.models, args.data_root, _taus(args.prior_tau, True), args.tta,
                        args.prior, args.pipeline, args.detector)
    if args.readme:
        write_between_markers(args.readme, render(table, markdown=True))
    if args.json:
        print(json.dumps(table))
    else:
        print(render(table, markdown=args.markdown), end="")
    return 0
