"""Measure FER2013's framing: where the eyes sit and where each detector's box falls in 48 x 48.

    python scripts/measure_fer_template.py [--data DIR] [--n 600] [--json out.json]

Draws --n random Training faces (seed 0), upscales each 4x (bicubic) and pads it by half its
size with the border replicated (detectors need context around a face that fills the frame),
runs every installed detector at full resolution, keeps the best-scoring detection whose box
centre lies inside the original frame, and maps it back to the 48 x 48 frame: points as pixel
centres ((p - pad + 0.5) / 4 - 0.5), boxes as edges ((b - pad) / 4). Prints, per detector, how
many faces it found and the medians (with quartiles) of the eye centres and box edges: the
constants litefer/align.py hard-codes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from litefer.align import eye_centres
from litefer.data import load_fer2013
from litefer.detect import create_detector, list_detectors

ROOT = Path(__file__).resolve().parents[1]
UP, PAD = 4, 96  # upscale factor; padding in upscaled pixels (half the 192-px face)


def upscaled(face48: np.ndarray) -> np.ndarray:
    """48 x 48 grey -> RGB uint8 (48*UP + 2*PAD) square, the face in the middle."""
    big = cv2.resize(face48, (48 * UP, 48 * UP), interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE)
    return cv2.cvtColor(big, cv2.COLOR_GRAY2RGB)


def best_in_frame(detections):
    """The best-scoring detection whose box centre lies inside the original face frame."""
    lo, hi = PAD, PAD + 48 * UP
    for det in detections:  # sorted by score already
        cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
        if lo <= cx <= hi and lo <= cy <= hi:
            return det
    return None


def measure(detector, faces: np.ndarray) -> dict:
    """Median eye centres (pixel centres) and box edges in the 48 x 48 frame, with quartiles."""
    eyes, boxes = [], []
    for face in faces:
        det = best_in_frame(detector.detect(upscaled(face)))
        if det is None:
            continue
        boxes.append([(v - PAD) / UP for v in det.box])
        if det.landmarks is not None:
            eyes.append((eye_centres(det.landmarks) - PAD + 0.5) / UP - 0.5)
    out = {"faces": int(len(faces)), "found": len(boxes)}
    if boxes:
        q = np.percentile(np.array(boxes), [25, 50, 75], axis=0)
        out["box_median"] = [round(float(v), 2) for v in q[1]]
        out["box_iqr"] = [[round(float(a), 2), round(float(b), 2)] for a, b in zip(q[0], q[2])]
    if eyes:
        q = np.percentile(np.array(eyes), [25, 50, 75], axis=0)
        out["eyes_median"] = np.round(q[1], 2).tolist()
        out["eyes_iqr"] = np.round(q[2] - q[0], 2).tolist()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("LITEFER_DATA", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default, help="shared data folder")
    parser.add_argument("--n", type=int, default=600, help="random Training faces to use")
    parser.add_argument("--detectors", default=",".join(
        n for n in list_detectors(available_only=True) if n != "none"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    faces = load_fer2013(args.data / "fer2013.csv.gz", splits="Training").images
    pick = np.random.default_rng(0).choice(len(faces), size=min(args.n, len(faces)), replace=False)
    faces = faces[np.sort(pick)]
    results = {name: measure(create_detector(name, detect_size=None), faces)
               for name in filter(None, args.detectors.split(","))}
    text = "{\n" + ",\n".join(f'  "{k}": {json.dumps(v)}' for k, v in results.items()) + "\n}"
    sys.stdout.write(text + "\n")
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
