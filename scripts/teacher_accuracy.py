"""Accuracy of a distillation teacher (one ONNX model or an ensemble, optionally with mirrored
views) on FER2013 splits, computed by the very code that teaches during `litefer train --teacher`.

    python scripts/teacher_accuracy.py --data ../shared/data/fer2013.csv.gz \\
        --teacher results/training/teachers/vgg_fer.e40.onnx \\
        --teacher results/training/teachers/vgg_fer.r2.onnx --tta --json

Each listed model alone, then the ensemble; selection uses PublicTest, PrivateTest is reported.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from litefer.data import load_splits
from litefer.preprocess import to_input
from litefer.runtime.classifier import Classifier
from litefer.train.distill import OnnxTeacher


def accuracy(teacher: OnnxTeacher, x: np.ndarray, y: np.ndarray, batch: int = 512) -> float:
    pred = np.concatenate([teacher(torch.from_numpy(x[i:i + batch])).argmax(1).numpy()
                           for i in range(0, len(x), batch)])
    return float((pred == y).mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--teacher", action="append", required=True, help="ONNX path or shipped name")
    p.add_argument("--tta", action="store_true", help="also average the mirrored views")
    p.add_argument("--splits", nargs="+", default=["PublicTest", "PrivateTest"])
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    spec = Classifier(args.teacher[0]).spec
    sets = load_splits(args.data, tuple(args.splits))
    inputs = {s: to_input(fs.images, spec) for s, fs in sets.items()}
    groups = [[t] for t in args.teacher] + ([args.teacher] if len(args.teacher) > 1 else [])
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
