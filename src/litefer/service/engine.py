"""Engine: the model loaded once per process, inference threads, admission (429) and deadlines.

Each request is admitted (or refused with :class:`Overloaded` when ``threads + queue`` are
already in flight), then runs in a dedicated thread pool so the event loop stays responsive.
A request that outlives its deadline is answered with :class:`TimedOut`, but it keeps its place
until its thread is done, so timeouts cannot pile up unbounded work; work still waiting when
its deadline passes is skipped, and whatever that late work raises is consumed (logged only when
it is not a typed error), never left for asyncio to report. Detectors are not thread-safe, so
each thread has its own; the ONNX Runtime session is shared (its ``run`` is thread-safe).
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from ..errors import LiteferError
from ..inputs import timed
from ..io import read_image
from ..pipeline import Recognizer
from ..runtime.views import TTA_MODES
from ..types import Result
from .config import ServiceConfig

logger = logging.getLogger("litefer.service")


class Overloaded(Exception):
    """Every inference thread and queue place is taken: answer 429 and let the client retry."""


class TimedOut(Exception):
    """The deadline passed; ``pending`` is the still-running work (None if it never started)."""

    def __init__(self, message: str, pending: asyncio.Future | None = None):
        super().__init__(message)
        self.pending = pending


@dataclass(frozen=True)
class Options:
    """Per-request choices: detector name (one of the allowed), min_face in source pixels,
    top_k: keep the k largest faces (0 = all), tta: None, "flip" or "crops" (test-time
    averaging of each face, litefer.runtime.views)."""

    detector: str
    min_face: float = 0.0
    top_k: int = 0
    tta: str | None = None


class Ticket:
    """One admitted request; releases its place once, when its work is done or never started."""

    def __init__(self, engine: "Engine", deadline: float):
        self.engine, self.deadline = engine, deadline
        self.future: asyncio.Future | None = None
        self._released = False

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def release(self, *_):
        if not self._released:
            self._released = True
            self.engine.in_flight -= 1

    def __enter__(self) -> "Ticket":
        return self

    def __exit__(self, *exc) -> None:
        if self.future is None:
            self.release()


class Engine:
    """recognizer: supplies the shared classifier, spec and face filter; detector_factory:
    name -> a new detector (called once per thread and name); allowed: detector names a request
    may choose."""

    def __init__(self, config: ServiceConfig, recognizer: Recognizer,
                 detector_factory: Callable[[str], object], allowed: list[str], default: str):
        self.config, self.recognizer = config, recognizer
        self.detector_factory, self.allowed, self.default = detector_factory, allowed, default
        self.executor = ThreadPoolExecutor(config.threads, thread_name_prefix="litefer-infer")
        self.in_flight = 0
        self.streams = 0
        self._local = threading.local()

    def options(self, detector: str | None, min_face: float, top_k: int,
                tta: str | None = None) -> Options:
        """Validated per-request options; ValueError names what is allowed."""
        name = detector or self.default
        if name not in self.allowed:
            raise ValueError(f"unknown detector {name!r}; this server offers: "
                             f"{', '.join(self.allowed)}")
        if tta not in (None, *TTA_MODES):
            raise ValueError(f"unknown tta {tta!r}; use {' or '.join(TTA_MODES)}")
        return Options(name, float(min_face), int(top_k), tta)

    def refuse_if_full(self) -> None:
        """Raise Overloaded when ``threads + queue`` requests are in flight."""
        if self.in_flight >= self.config.capacity:
            raise Overloaded(f"server busy: {self.in_flight} requests in progress; retry shortly")

    def admit(self, deadline: float | None = None) -> Ticket:
        """A place for one request, or Overloaded when ``threads + queue`` are in flight.
        deadline: time.monotonic() by which to answer (default: timeout_s from now)."""
        self.refuse_if_full()
        self.in_flight += 1
        return Ticket(self, time.monotonic() + self.config.timeout_s if deadline is None
                      else deadline)

    async def run(self, ticket: Ticket, fn: Callable, *args):
        """fn(*args) on an inference thread within the ticket's deadline (TimedOut otherwise)."""
        deadline = ticket.deadline

        def guarded():
            if time.monotonic() > deadline:  # waited out its deadline in the queue: skip it
                raise TimedOut("skipped: deadline passed while queued")
            return fn(*args)

        future = asyncio.get_running_loop().run_in_executor(self.executor, guarded)
        ticket.future = future
        future.add_done_callback(ticket.release)
        try:
            return await asyncio.wait_for(asyncio.shield(future), ticket.remaining())
        except asyncio.TimeoutError:
            future.add_done_callback(_consume_late)  # nobody awaits it after the 504
            raise TimedOut(f"analysis did not finish within {self.config.timeout_s:g} s",
                           future) from None

    def _recognizer(self, opts: Options) -> Recognizer:
        """The shared recognizer configured for this request (Recognizer.with_options): this
        thread's detector and the request's face filter; the classifier session is shared."""
        cache = self._local.__dict__.setdefault("detectors", {})
        if opts.detector not in cache:
            cache[opts.detector] = self.detector_factory(opts.detector)
        return self.recognizer.with_options(detector=cache[opts.detector],
                                            min_face=opts.min_face, max_faces=opts.top_k,
                                            tta=opts.tta or False)

    def _decode(self, data: bytes):
        """A TimedImage: the Recognizer reports its decode time as timings_ms["decode"]."""
        return timed(read_image, data, max_pixels=self.config.decode_pixels)

    def analyze(self, data: bytes, source: str, opts: Options) -> Result:
        """Encoded image -> Result (runs on an inference thread). Raises InvalidImageError."""
        rec = self._recognizer(opts)
        return rec.analyze(self._decode(data), source=source)

    def track(self, data: bytes, index: int, t: float, tracker, opts: Options) -> Result:
        """One camera frame -> Result with track ids from this connection's ``tracker``."""
        rec = self._recognizer(opts)
        return next(rec.stream([(index, t, self._decode(data))], source="<stream>",
                               tracker=tracker))

    def describe(self) -> dict:
        """The loaded model (file name only, never a server path), shipped weights, detectors."""
        from ..runtime.weights import list_weights

        spec = self.recognizer.spec
        weights = [{k: v for k, v in w.summary().items() if k != "path"} for w in list_weights()]
        return {
            "model": {"name": spec.name, "arch": spec.arch, "labels": list(spec.labels),
                      "input_size": list(spec.input_size), "channels": spec.channels,
                      "file": self.recognizer.classifier.path.name},
            "weights": weights,
            "detectors": {"default": self.default, "available": list(self.allowed)},
            "limits": {"max_body_bytes": self.config.max_body_bytes,
                       "max_image_pixels": self.config.max_image_pixels,
                       "timeout_s": self.config.timeout_s, "threads": self.config.threads,
                       "queue": self.config.queue, "max_top_k": self.config.max_top_k},
        }

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _consume_late(future: asyncio.Future) -> None:
    """Retrieve the outcome of work whose request already timed out: asyncio.shield drops its
    own callback when the waiter is cancelled, so an exception left here would be reported as
    "Future exception was never retrieved". Typed errors are expected; anything else is a bug
    and is logged with its traceback, as the generic 500 handler would have."""
    exc = None if future.cancelled() else future.exception()
    if exc is not None and not isinstance(exc, (TimedOut, LiteferError)):
        logger.error("analysis failed after its request had timed out",
                     exc_info=(type(exc), exc, exc.__traceback__))
