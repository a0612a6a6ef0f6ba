"""Does OpenCV's thread count matter to the default pipeline? Frames/s with cv2.setNumThreads(1)
against 2, alternating run by run, idle and beside --load busy processes.

    python scripts/opencv_threads.py [--runs 6] [--frames 60] [--load 2]

Same frame and Recognizer as `litefer bench --load` (litefer.bench_load); prints the median and
slowest run per setting and condition.
"""
from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

from litefer.bench import load_frame
from litefer.bench_load import busy_processes, rate
from litefer.pipeline import Recognizer


def measure(step, runs: int, frames: int) -> dict[int, list[float]]:
    fps: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(runs):
        for threads in (2, 1):
            cv2.setNumThreads(threads)
            fps[threads].append(rate(step, frames))
    return fps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--load", type=int, default=2)
    args = parser.parse_args(argv)
    rec, image = Recognizer(), load_frame(None)
    step = lambda: rec.analyze(image)  # noqa: E731
    rate(step, 20)
    results = {"idle": measure(step, args.runs, args.frames)}
    with busy_processes(args.load, 600):
        results[f"{args.load} busy"] = measure(step, args.runs, args.frames)
    for condition, fps in results.items():
        for threads, values in fps.items():
            print(f"{condition:>8}  cv2 threads {threads}: median {np.median(values):7.1f}  "
                  f"slowest {min(values):7.1f} frames/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
