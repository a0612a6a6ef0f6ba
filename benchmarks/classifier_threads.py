"""Batch-1 classifier latency by ONNX Runtime thread count, measured in alternating windows.

    python benchmarks/classifier_threads.py [--model M] [--threads 1 0] [--windows 10]

One session per setting (``litefer.Classifier(model, threads=T)``; 0 = ONNX Runtime's choice,
whose threads sleep between calls), then ``--windows`` rounds in which every setting times
``--calls`` batch-1 calls in turn (every other round in reverse order). Printed per setting: the
median over windows of each window's median call time, and the lowest and highest window, in
milliseconds. Settings are compared inside each round, so a host whose speed drifts over
minutes slows them alike.
"""
from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np


def window_medians(model: str | None, threads: list[int], windows: int, calls: int,
                   warmup: int = 20) -> dict[int, list[float]]:
    """{threads: [median ms of each window]} for float32 random batch-1 inputs."""
    from litefer.bench import cpu_facts, cpu_label, in_turns, timed
    from litefer.runtime import Classifier

    clfs = {t: Classifier(model, threads=t) for t in threads}
    spec = next(iter(clfs.values())).spec
    x = np.random.default_rng(0).standard_normal(
        (1, spec.channels, *spec.input_size)).astype(np.float32)

    def window_ms(_: int, j: int) -> float:
        clf = clfs[threads[j]]
        return float(np.median(timed(lambda: clf.run(x), warmup, calls)) * 1e3)

    rows = in_turns(window_ms, len(threads), windows)
    print(f"{spec.name}: {windows} windows of {calls} batch-1 calls per setting, taken in turns; "
          f"{cpu_label(cpu_facts())}")
    return {t: [r[j] for r in rows] for j, t in enumerate(threads)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="shipped name or .onnx path (default: package "
                                                 "default)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 0])
    p.add_argument("--windows", type=int, default=10)
    p.add_argument("--calls", type=int, default=300)
    args = p.parse_args(argv)
    if args.windows < 1 or args.calls < 1 or any(t < 0 for t in args.threads):
        p.error("--windows and --calls must be >= 1, --threads >= 0")
    result = window_medians(args.model, args.threads, args.windows, args.calls)
    print(f"{'threads':>8} {'median ms':>10} {'fastest':>8} {'slowest':>8}")
    for t, ms in result.items():
        print(f"{t if t else '0 (auto)':>8} {statistics.median(ms):>10.3f} {min(ms):>8.3f} "
              f"{max(ms):>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
