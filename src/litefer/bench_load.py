"""Pipeline frames/s on an idle machine and beside N busy processes, with the ``fer`` package
measured in the same runs when it is installed (``litefer bench --load N``).

Protocol: one Recognizer (package defaults) and the 640 x 480 one-face frame of litefer.bench;
``runs`` runs of ``frames`` frames each, first idle, then while ``load`` child processes each
keep a core busy. A run's rate is frames / the run's wall time, so a run that stalls shows.
When ``fer`` is importable it runs in its own process (its TensorFlow threads stay out of this
one) on the same frame, run for run alternating with litefer, so both see the same load.
Runtime half only: numpy, OpenCV, onnxruntime (``fer`` brings its own TensorFlow).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import LiteferError

# Busy loop of one child: stops at its deadline or as soon as its parent is gone.
_BUSY = ("import os, sys, time\n"
         "end, parent = time.monotonic() + float(sys.argv[1]), int(sys.argv[2])\n"
         "while time.monotonic() < end and os.getppid() == parent:\n"
         "    sum(range(20000))\n")

# fer in a child process: prints {"faces", "version"} once, then for each line N on stdin runs
# detect_emotions N times on the frame and prints the seconds taken.
_FER = ("import json, sys, time\n"
        "import cv2, fer\n"
        "try:\n"
        "    from fer import FER\n"
        "except ImportError:  # fer 25.x keeps it in fer.fer\n"
        "    from fer.fer import FER\n"
        "from litefer.bench import load_frame\n"
        "frame = cv2.cvtColor(load_frame(sys.argv[1] or None), cv2.COLOR_RGB2BGR)\n"
        "model = FER()\n"
        "faces = len(model.detect_emotions(frame))\n"
        "print(json.dumps({'faces': faces, 'version': getattr(fer, '__version__', '?')}), "
        "flush=True)\n"
        "for line in sys.stdin:\n"
        "    t0 = time.perf_counter()\n"
        "    for _ in range(int(line)):\n"
        "        model.detect_emotions(frame)\n"
        "    print(time.perf_counter() - t0, flush=True)\n")


@dataclass(frozen=True)
class LoadConfig:
    """load: busy child processes during the loaded runs; runs: runs per condition; frames:
    frames per run; warmup: untimed frames first; max_seconds: lifetime bound of each busy
    process (it is ended earlier when the measurement ends); fer: include the ``fer`` package
    when it is importable."""

    load: int = 2
    runs: int = 10
    frames: int = 60
    warmup: int = 10
    max_seconds: float = 600.0
    fer: bool = True


@contextmanager
def busy_processes(n: int, max_seconds: float = 600.0) -> Iterator[list[int]]:
    """Start ``n`` child processes that each keep one core busy; yields their pids.

    Each child stops by itself after ``max_seconds`` or when this process is gone, and all are
    ended (terminate, then kill after 2 s) when the block exits, by exception or Ctrl-C too.
    """
    if n < 0 or max_seconds <= 0:
        raise ValueError(f"need n >= 0 and max_seconds > 0, got {n}, {max_seconds}")
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen(
                [sys.executable, "-c", _BUSY, str(max_seconds), str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield [p.pid for p in procs]
    finally:
        _end(procs)


def _end(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 2.0
    for p in procs:
        try:
            p.wait(max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def fer_available() -> bool:
    """True when the ``fer`` package can be imported here (checked without importing it)."""
    return importlib.util.find_spec("fer") is not None


class FerWorker:
    """The ``fer`` package (its default FER(): Haar cascade + TFLite model) in a child process
    on the benchmark frame. ``run(frames)`` -> frames/s of that many detect_emotions calls.
    Raises LiteferError when the child cannot start; ``close()`` always ends it."""

    def __init__(self, frame: str | None):
        self.log = tempfile.TemporaryFile("w+")  # TensorFlow's chatter cannot fill a pipe
        self.proc = subprocess.Popen([sys.executable, "-c", _FER, frame or ""],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line:
            err = self._errors()
            self.close()
            raise LiteferError(f"the fer package did not start: {err}")
        info = json.loads(line)
        self.faces, self.version = info["faces"], info["version"]

    def run(self, frames: int) -> float:
        self.proc.stdin.write(f"{frames}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise LiteferError(f"the fer process ended: {self._errors()}")
        return frames / float(line)

    def _errors(self) -> str:
        self.proc.wait(5)
        self.log.seek(0)
        return self.log.read()[-600:].strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        _end([self.proc])
        self.proc.stdout.close()
        self.log.close()


def rate(fn: Callable[[], object], frames: int) -> float:
    """Frames/s of ``frames`` consecutive calls of ``fn`` (frames / their total wall time)."""
    t0 = time.perf_counter()
    for _ in range(frames):
        fn()
    return frames / (time.perf_counter() - t0)


def _runs(step: Callable[[], object], fer: FerWorker | None, cfg: LoadConfig
          ) -> tuple[list[float], list[float] | None]:
    ours, theirs = [], [] if fer else None
    for _ in range(cfg.runs):
        ours.append(rate(step, cfg.frames))
        if fer:
            theirs.append(fer.run(cfg.frames))
    return ours, theirs


def summary(fps: list[float] | None) -> dict | None:
    """Median and slowest run of a list of frames/s (None stays None)."""
    if not fps:
        return None
    return {"median": float(np.median(fps)), "slowest": float(min(fps)), "runs": fps}


def ratios(ours: list[float], theirs: list[float] | None) -> dict | None:
    """litefer / fer per pair of runs made one after the other: median and lowest."""
    if not theirs:
        return None
    paired = [a / b for a, b in zip(ours, theirs)]
    return {"median": float(np.median(paired)), "lowest": float(min(paired))}


def load_bench(model: str | Path | None, frame: str | None = None, detector: str = "default",
               cfg: LoadConfig = LoadConfig()) -> dict:
    """Idle and loaded frames/s of Recognizer.analyze (and of fer when installed); see the
    module docstring. Raises LiteferError when the pipeline finds no face in the frame."""
    from .bench import load_frame
    from .pipeline import Recognizer

    rec = Recognizer(model, detector=detector)
    image = load_frame(frame)
    faces = len(rec.analyze(image).faces)
    if faces == 0:
        raise LiteferError("the pipeline finds no face in the benchmark frame; pass --frame")
    fer, fer_note = None, None
    if cfg.fer and fer_available():
        fer = FerWorker(frame)
    elif cfg.fer:
        fer_note = ("fer is not installed: pip install fer (it brings TensorFlow) for the "
                    "comparison in the same runs")
    try:
        step = lambda: rec.analyze(image)  # noqa: E731
        rate(step, cfg.warmup)
        if fer:
            fer.run(cfg.warmup)
        idle = _runs(step, fer, cfg)
        with busy_processes(cfg.load, cfg.max_seconds):
            loaded = _runs(step, fer, cfg)
    finally:
        if fer:
            fer.close()
    from .bench import cpu_facts

    return {"model": rec.spec.name, "detector": rec.detector.name, "faces": faces,
            **cpu_facts(), "config": asdict(cfg),
            "litefer": {"idle": summary(idle[0]), "loaded": summary(loaded[0])},
            "fer": None if fer is None else {"version": fer.version, "faces": fer.faces,
                                             "idle": summary(idle[1]),
                                             "loaded": summary(loaded[1])},
            "ratio": None if fer is None else {"idle": ratios(idle[0], idle[1]),
                                               "loaded": ratios(loaded[0], loaded[1])},
            "fer_note": fer_note}
