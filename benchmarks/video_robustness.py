"""Video robustness benchmark: per-frame accuracy, clip accuracy and flicker of each temporal
model (none / ema / gru) on synthetic clips made from FER2013 PrivateTest faces.

    python scripts/make_clips.py --data ../shared/data/fer2013.csv.gz --split PrivateTest \\
        --model mini_xception.fer2013 --out clips/private.npz
    python benchmarks/video_robustness.py --clips clips/private.npz \\
        --gru runs/temporal_gru.fer2013/temporal_gru.fer2013.fp32.onnx --json results/video.json

This is a robustness benchmark, NOT the thesis's CK+ protocol: each clip is one still FER2013
face moved, scaled, rotated, blurred, noised, re-lit, briefly occluded and with dropped
detections (litefer.video.clips), so its true label never changes and every label change is
flicker. It measures how a temporal model trades responsiveness for stability on such clips;
it says nothing about recognising real expression dynamics (onset -> apex), which is what the
CK+ sequence protocol measures. Clips from Training faces train the GRU; only PrivateTest clips
are used here. Metrics (litefer.video.metrics): frame accuracy over shown frames, clip accuracy
by majority vote and at the last frame, flicker = label changes per 100 frame transitions;
responsiveness: the same clips spliced at a random cut with a clip of another class, accuracy on
the first 8 shown frames after the cut and on all frames after it (smoothing's lag).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from litefer.data.sequences import ProbSequences, splice
from litefer.video import create_temporal, smooth_batch
from litefer.video.metrics import clip_report, switch_report

NOTE = ("robustness benchmark on synthetic clips of still FER2013 faces (constant "
        "labels); not the CK+ sequence protocol")
COLUMNS = (("frame_accuracy", "frame acc"), ("clip_accuracy_vote", "clip acc (vote)"),
           ("clip_accuracy_last", "clip acc (last)"), ("flicker_per_100", "flicker /100"),
           ("accuracy_first_window", "switch: first 8"), ("accuracy_after_switch", "after switch"))


def evaluate(seqs: ProbSequences, models: dict, window: int = 8) -> dict:
    """name -> temporal model; returns name -> clip_report on ``seqs`` plus switch_report on
    the same clips spliced with a clip of another class at a random cut (seed 0)."""
    report = {}
    spliced = splice(seqs, np.arange(len(seqs)), 1.0, np.random.default_rng(0))
    for name, model in models.items():
        out = smooth_batch(model, seqs.probs, seqs.present)
        report[name] = clip_report(out, seqs.present, seqs.labels, len(seqs.classes))
        out = smooth_batch(model, spliced[0], spliced[1])
        report[name].update(switch_report(out, spliced[1], spliced[2], spliced[3], window))
    base = report.get("none", {}).get("flicker_per_100")
    for row in report.values():
        row["flicker_reduction"] = (base / row["flicker_per_100"]
                                    if base and row["flicker_per_100"] else None)
    return report


def print_table(report: dict) -> None:
    print(f"{'temporal':<10}" + "".join(f"{title:>17}" for _, title in COLUMNS)
          + f"{'flicker x less':>16}")
    for name, row in report.items():
        red = row["flicker_reduction"]
        print(f"{name:<10}" + "".join(f"{row[k]:>17.4f}" for k, _ in COLUMNS)
              + f"{'-' if red is None else format(red, '.2f'):>16}")
    print(f"note: {NOTE}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", required=True, help="ProbSequences .npz of PrivateTest clips")
    p.add_argument("--gru", default=None, help="GRU step .onnx (omit to skip 'gru')")
    p.add_argument("--ema-alpha", type=float, nargs="+", default=[0.2],
                   help="one or more EMA weights of the newest frame")
    p.add_argument("--json", default=None, help="also write the report here")
    args = p.parse_args(argv)
    seqs = ProbSequences.load(args.clips)
    split = seqs.meta.get("split")
    if split != "PrivateTest":
        print(f"warning: {args.clips} holds {split!r} clips; report PrivateTest clips only",
              file=sys.stderr)
    models = {"none": create_temporal("none")}
    for alpha in args.ema_alpha:
        models["ema" if len(args.ema_alpha) == 1 else f"ema{alpha:g}"] = create_temporal(
            "ema", alpha=alpha)
    if args.gru:
        gru = create_temporal("gru", args.gru)
        gru.check_labels(seqs.classes)
        models["gru"] = gru
    report = evaluate(seqs, models)
    print_table(report)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"note": NOTE, "clips": args.clips,
                                               "meta": seqs.meta, "ema_alpha": args.ema_alpha,
                                               "gru": args.gru, "report": report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
