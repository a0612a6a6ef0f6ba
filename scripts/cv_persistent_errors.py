"""Which CK+ images do all the cross-validation runs get wrong? Reads the per-fold predictions of
several `litefer cv` output folders (same dataset, --folds and --seed, so the same folds),
counts per image how many runs misclassified it, prints the histogram as JSON and draws the
images wrong in at least --min-runs runs (label > most frequent prediction, subject, count).

    python scripts/cv_persistent_errors.py --data ../shared/data/ckplus48 \\
        --out results/cv/persistent_errors.png results/cv/nano_a.init-kdvgg results/cv/nano_b.init ...

CK+48 holds the last three frames of each sequence, so errors usually come in threes.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np

from litefer.data import load_dataset
from litefer.train.cv import group_kfold


def count_errors(runs: list[Path], folds: np.ndarray, labels: np.ndarray):
    """Per image index: how many runs got it wrong, and their predictions (label indices)."""
    wrong, preds = Counter(), defaultdict(list)
    for run in runs:
        rows = [json.loads(p.read_text()) for p in sorted((run / "folds").glob("fold_*.json"))]
        if len(rows) != folds.max() + 1:
            raise SystemExit(f"{run}: {len(rows)} fold files, expected {folds.max() + 1}")
        for row in rows:
            idx = np.flatnonzero(folds == row["fold"])
            if labels[idx].tolist() != row["y_true"]:
                raise SystemExit(f"{run}: fold {row['fold']} holds other images (other --seed?)")
            for i, p in zip(idx, row["y_pred"]):
                if p != labels[i]:
                    wrong[int(i)] += 1
                    preds[int(i)].append(p)
    return wrong, preds


def montage(fs, indices, wrong, preds, n_runs: int, cols: int = 6) -> np.ndarray:
    tiles = []
    for i in indices:
        tile = cv2.resize(fs.images[i], (96, 96))
        tile = cv2.cvtColor(tile, cv2.COLOR_GRAY2BGR) if tile.ndim == 2 else tile
        tile = cv2.copyMakeBorder(tile, 0, 28, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        guess = Counter(preds[i]).most_common(1)[0][0]
        lines = (f"{fs.space.classes[fs.labels[i]][:5]} > {fs.space.classes[guess][:5]}",
                 f"{fs.subjects[i]}  {wrong[i]}/{n_runs}")
        for k, text in enumerate(lines):
            cv2.putText(tile, text, (2, 108 + 12 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
        tiles.append(tile)
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % cols)
    return np.vstack([np.hstack(tiles[k:k + cols]) for k in range(0, len(tiles), cols)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="`litefer cv` output folders")
    ap.add_argument("--data", required=True, help="the CK+48 folder the runs used")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-runs", type=int, default=0, help="draw images wrong in at least this "
                                                            "many runs (default: all but two)")
    ap.add_argument("--out", type=Path, help="PNG montage of those images")
    args = ap.parse_args(argv)
    fs = load_dataset(args.data)
    folds = group_kfold(fs.subjects, fs.labels, args.folds, args.seed)
    wrong, preds = count_errors(args.runs, folds, fs.labels)
    n = len(args.runs)
    least = args.min_runs or max(1, n - 2)
    hard = sorted((i for i in wrong if wrong[i] >= least), key=lambda i: (-wrong[i], i))
    report = {"runs": [str(r) for r in args.runs], "n_images": len(fs),
              "wrong_in_k_runs": {k: sum(1 for v in wrong.values() if v == k)
                                  for k in range(1, n + 1)},
              "min_runs": least,
              "persistent": [{"source": Path(fs.sources[i]).name, "label":
                              fs.space.classes[fs.labels[i]], "wrong_in": wrong[i]} for i in hard]}
    if args.out and hard:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.out), montage(fs, hard, wrong, preds, n))
        report["montage"] = str(args.out)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
