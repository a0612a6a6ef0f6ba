"""Face-detector recall, precision and speed on AFW (../shared/data/afw), every installed backend.

    python scripts/eval_detectors.py [--data DIR] [--detectors yunet,haar] [--json out.json]
    python scripts/eval_detectors.py --detectors yunet --compare-opencv --compare-yuface

--compare-opencv adds "yunet-opencv": the same network (yunet_n_640_640.onnx from --yunet-dir)
decoded by cv2.FaceDetectorYN at litefer's threshold and detection size; --compare-yuface adds
"yuface": libfacedetection's compiled YuNet from the yuface package (CPython <= 3.11, x86-64),
at its score scale 0..1. Neither is a litefer backend; they are here to compare against.

Matching rule (lenient, the issue's): a detection matches an annotated face when its box
contains the centre of the face's landmark extent (faces.csv lm_*: a tight brow-to-chin box)
and IoU(box, extent) >= 0.2. Strict variant: the same with IoU >= 0.5. Matching is greedy and
one-to-one: detections in score order each take the unmatched qualifying face of highest IoU.

recall = matched faces / annotated faces.
precision = matched / (matched + detections overlapping no annotated extent at all). AFW (from
300-W) leaves some faces unannotated (profiles, very small faces), so a detection on nothing
annotated is not necessarily false: this precision is a lower bound on the true one. Detections
that overlap an annotated face without matching (duplicates, poor boxes) are reported as
"overlap_unmatched" and left out of it; precision_all = matched / all detections.

landmarks = share of detections that carry landmarks.

Speed: milliseconds per 640 x 480 frame (AFW photos cropped and resized to 640 x 480), median
over --repeats passes after --warmup calls, one process, whatever threads the backend uses
(cv2.FaceDetectorYN: OpenCV's, cv2.getNumThreads()). Times from a machine other programs also
use are comparable only within one run.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from litefer.detect import create_detector, list_detectors
from litefer.detect.base import finish, shrink, to_detection
from litefer.io import load_image

ROOT = Path(__file__).resolve().parents[1]
LENIENT_IOU, STRICT_IOU = 0.2, 0.5


def default_data() -> Path:
    return Path(os.environ.get("LITEFER_DATA", ROOT.parent / "shared" / "data"))


def load_afw(afw: Path, limit: int | None = None) -> dict[str, np.ndarray]:
    """image path -> float (N, 4) landmark extents (x1, y1, x2, y2) from faces.csv."""
    faces: dict[str, list[list[float]]] = {}
    with open(afw / "faces.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            box = [float(row[k]) for k in ("lm_xmin", "lm_ymin", "lm_xmax", "lm_ymax")]
            faces.setdefault(row["image"], []).append(box)
    names = sorted(faces)[:limit]
    return {str(afw / n): np.array(faces[n], np.float64) for n in names}


def iou(box: tuple[float, ...], boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x1, y1, x2, y2) box with each row of boxes (N, 4)."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def match(boxes: list[tuple[float, ...]], truth: np.ndarray, min_iou: float) -> dict[str, int]:
    """Greedy one-to-one matching of score-sorted boxes to annotated extents (see module doc)."""
    used = np.zeros(len(truth), bool)
    cx, cy = (truth[:, 0] + truth[:, 2]) / 2, (truth[:, 1] + truth[:, 3]) / 2
    out = {"matched": 0, "clear_fp": 0, "overlap_unmatched": 0}
    for box in boxes:
        overlaps = iou(box, truth)
        inside = (cx >= box[0]) & (cx <= box[2]) & (cy >= box[1]) & (cy <= box[3])
        ok = inside & (overlaps >= min_iou) & ~used
        if ok.any():
            used[int(np.argmax(np.where(ok, overlaps, -1.0)))] = True
            out["matched"] += 1
        elif overlaps.max(initial=0.0) <= 0.0:
            out["clear_fp"] += 1
        else:
            out["overlap_unmatched"] += 1
    return out


def score_detector(detector, afw: dict[str, np.ndarray]) -> dict:
    """Run ``detector`` on every AFW photo; counts for the lenient and strict rules."""
    totals = {rule: {"matched": 0, "clear_fp": 0, "overlap_unmatched": 0}
              for rule in ("lenient", "strict")}
    n_faces = n_dets = n_marked = 0
    seconds = []
    for path, truth in afw.items():
        image = load_image(path)
        start = time.perf_counter()
        dets = detector.detect(image)
        seconds.append(time.perf_counter() - start)
        boxes = [d.box for d in dets]
        n_marked += sum(d.landmarks is not None for d in dets)
        n_faces, n_dets = n_faces + len(truth), n_dets + len(boxes)
        for rule, thr in (("lenient", LENIENT_IOU), ("strict", STRICT_IOU)):
            for k, v in match(boxes, truth, thr).items():
                totals[rule][k] += v
    result = {"faces": n_faces, "detections": n_dets, "landmarks": n_marked / max(n_dets, 1),
              "ms_per_afw_photo_median": 1000 * statistics.median(seconds)}
    for rule, t in totals.items():
        result[rule] = {**t, "recall": t["matched"] / max(n_faces, 1),
                        "precision": t["matched"] / max(t["matched"] + t["clear_fp"], 1),
                        "precision_all": t["matched"] / max(n_dets, 1)}
    return result


def frames_640x480(afw: dict[str, np.ndarray], count: int) -> list[np.ndarray]:
    """``count`` AFW photos centre-cropped to 4:3 and resized to 640 x 480 (RGB uint8)."""
    frames = []
    for path in list(afw)[:count]:
        image = load_image(path)
        h, w = image.shape[:2]
        cw, ch = min(w, h * 4 // 3), min(h, w * 3 // 4)
        x0, y0 = (w - cw) // 2, (h - ch) // 2
        crop = image[y0:y0 + ch, x0:x0 + cw]
        frames.append(cv2.resize(crop, (640, 480), interpolation=cv2.INTER_AREA))
    return frames


def time_detector(detector, frames: list[np.ndarray], warmup: int, repeats: int) -> dict:
    """Median and 90th-percentile milliseconds per 640 x 480 frame."""
    for frame in frames[:warmup]:
        detector.detect(frame)
    times = []
    for _ in range(repeats):
        for frame in frames:
            start = time.perf_counter()
            detector.detect(frame)
            times.append(1000 * (time.perf_counter() - start))
    times.sort()
    return {"ms_640x480_median": statistics.median(times),
            "ms_640x480_p90": times[int(0.9 * (len(times) - 1))]}


def markdown(results: dict[str, dict]) -> str:
    head = ("| detector | options | recall | precision | precision (all) | recall strict | "
            "precision strict | clear FP | overlap unmatched | landmarks | ms / 640x480 "
            "(median) | ms / AFW photo |\n|" + "---|" * 12)
    rows = [head]
    for name, r in results.items():
        le, st = r["lenient"], r["strict"]
        rows.append(
            f"| {name} | {r['options']} | {le['recall']:.1%} | {le['precision']:.1%} | "
            f"{le['precision_all']:.1%} | {st['recall']:.1%} | {st['precision']:.1%} | "
            f"{le['clear_fp']} | {le['overlap_unmatched']} | {r['landmarks']:.0%} | "
            f"{r['ms_640x480_median']:.2f} | "
            f"{r['ms_per_afw_photo_median']:.1f} |")
    return "\n".join(rows)


class OpenCVYuNet:
    """YuNet decoded by cv2.FaceDetectorYN (fixed-size export, input size set per image) at
    litefer's threshold, detection size and landmark mapping."""

    name = "yunet-opencv"

    def __init__(self, model: Path, score_threshold: float = 0.8, detect_size="auto"):
        self.detect_size = detect_size
        self.net = cv2.FaceDetectorYN.create(str(model), "", (320, 320), score_threshold, 0.3)

    def detect(self, image_rgb: np.ndarray) -> list:
        small, scale = shrink(image_rgb, self.detect_size)
        self.net.setInputSize((small.shape[1], small.shape[0]))
        _, rows = self.net.detect(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        rows = np.zeros((0, 15), np.float32) if rows is None else rows
        return finish(to_detection((r[0], r[1], r[0] + r[2], r[1] + r[3]), float(r[14]),
                                   r[4:14].reshape(5, 2), scale, image_rgb.shape) for r in rows)


class Yuface:
    """libfacedetection's YuNet from the yuface package (scores 0..100 mapped to 0..1)."""

    name = "yuface"

    def __init__(self, score_threshold: float = 0.7, detect_size="auto"):
        import yuface

        self.detect_size, self.threshold, self._detect = detect_size, score_threshold, yuface.detect

    def detect(self, image_rgb: np.ndarray) -> list:
        small, scale = shrink(image_rgb, self.detect_size)
        confs, boxes, points = self._detect(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), self.threshold)
        return finish(to_detection((x, y, x + w, y + h), c / 100.0,
                                   p.reshape(5, 2).astype(np.float32), scale, image_rgb.shape)
                      for c, (x, y, w, h), p in zip(confs.astype(float), boxes.astype(float),
                                                    points))


def parse_options(items: list[str]) -> dict[str, dict]:
    """["yunet.detect_size=480", ...] -> {"yunet": {"detect_size": 480}} (values as JSON)."""
    options: dict[str, dict] = {}
    for item in items:
        key, _, value = item.partition("=")
        name, _, option = key.partition(".")
        try:
            options.setdefault(name, {})[option] = json.loads(value)
        except json.JSONDecodeError:
            options.setdefault(name, {})[option] = value
    return options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data(), help="shared data folder")
    parser.add_argument("--detectors", default=",".join(
        n for n in list_detectors(available_only=True) if n != "none"))
    parser.add_argument("--option", action="append", default=[],
                        help="backend option, e.g. yunet.detect_size=480 (repeatable)")
    parser.add_argument("--limit", type=int, default=None, help="first N photos only")
    parser.add_argument("--frames", type=int, default=20, help="640x480 frames for timing")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--compare-opencv", action="store_true",
                        help="add YuNet decoded by cv2.FaceDetectorYN (see module doc)")
    parser.add_argument("--compare-yuface", action="store_true",
                        help="add yuface's compiled YuNet (needs pip install yuface)")
    parser.add_argument("--yunet-dir", type=Path, default=ROOT.parent / "shared" / "models" /
                        "yunet", help="folder with yunet_n_640_640.onnx for --compare-opencv")
    args = parser.parse_args(argv)
    afw_dir = args.data / "afw"
    if not (afw_dir / "faces.csv").is_file():
        sys.stderr.write(f"AFW not found at {afw_dir}\n")
        return 2
    afw = load_afw(afw_dir, args.limit)
    frames = frames_640x480(afw, args.frames)
    options = parse_options(args.option)
    results = {}
    extra = {"yunet-opencv": lambda **o: OpenCVYuNet(args.yunet_dir / "yunet_n_640_640.onnx", **o),
             "yuface": Yuface}
    names = list(filter(None, args.detectors.split(",")))
    names += ["yunet-opencv"] * args.compare_opencv + ["yuface"] * args.compare_yuface
    for name in names:
        factory = extra.get(name, lambda **o: create_detector(name, **o))
        detector = factory(**options.get(name, {}))
        results[name] = {"options": options.get(name, {}), **score_detector(detector, afw),
                         **time_detector(detector, frames, args.warmup, args.repeats)}
    sys.stdout.write(markdown(results) + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
