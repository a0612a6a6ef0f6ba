"""The `fer` package's classifier on the cross-data-set table's crops, beside litefer's default.

    python benchmarks/peers_crossdata.py [--data-root ../shared/data] [--json out.json]

Runs in an environment where both litefer and `fer` (with TensorFlow) import; `fer` is not a
litefer dependency (docs/detectors.md shows how the bench venv that has it was made). Each
data-set crop goes to fer's own emotion model the way `fer.FER.detect_emotions` feeds a face:
grey, resized to 64 x 64 (bilinear), scaled to -1..1, its quantised TFLite model (the default
`FER()`); litefer's default gets the same crops through `Classifier.predict_proba`. Both are
scored by `litefer.evaluate.score` with the table's rules (CK+48: 6 classes, a neutral answer is
wrong; muxspace: balanced over angry, disgust, happy, sad, surprise, neutral).
"""
from __future__ import annotations

import argparse
import json
import sys

import cv2
import numpy as np


def fer_probs(images: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 (N, H, W) grey or (N, H, W, 3) RGB crops -> fer's probabilities (N, 7), FER2013 order."""
    from fer.fer import FER

    model = FER()
    out = []
    for i in range(0, len(images), batch):
        faces = []
        for img in images[i:i + batch]:
            grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
            faces.append(cv2.resize(grey, (64, 64)))
        x = (np.asarray(faces, np.float32) / 255.0 - 0.5) * 2.0
        out.append(np.asarray(model._classify_emotions(x), np.float32))
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    from litefer import Classifier
    from litefer.evaltable import SELECTION, load_table_sets
    from litefer.evaluate import score, true_indices
    from litefer.labels import FER2013

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    sets = load_table_sets(args.data_root).sets
    clf = Classifier()
    rows = {}
    for name, predict in (("fer (FER(), TFLite)", fer_probs),
                          (f"litefer {clf.spec.name}", clf.predict_proba)):
        rows[name] = {}
        for key, es in sets.items():
            probs = predict(es.faces.images)
            rep = score(probs, true_indices(es.faces, FER2013.classes), FER2013.classes,
                        es.balanced_over)
            rows[name][key] = {"accuracy": rep["accuracy"],
                               "balanced_accuracy": rep["balanced_accuracy"],
                               "recall": rep["recall"], "n": rep["n"]}
    print("| model | " + " | ".join(sets) + " | selection score |")
    print("|---" * (len(sets) + 2) + "|")
    for name, m in rows.items():
        cells = [f"{100 * m[k]['accuracy']:.1f} (bal. {100 * m[k]['balanced_accuracy']:.1f})"
                 for k in sets]
        sel = np.mean([m[k][metric] for k, metric in SELECTION if k in m])
        print(f"| {name} | " + " | ".join(cells) + f" | {100 * sel:.2f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
