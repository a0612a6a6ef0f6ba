"""Live sources without lag: a grabber thread keeps only the newest frame.

A camera delivers frames at its own rate whether or not we keep up; reading them one by one
from a slower loop builds a queue and the output lags further and further behind. LatestFrames
reads the source on a thread and hands the consumer only the newest frame (older ones are
dropped and counted), so the output follows the camera's time. Files are never dropped: a
source whose ``live`` attribute is false is passed through unchanged, one frame at a time.
Memory: one pending frame.
"""
from __future__ import annotations

import threading
from typing import Iterable, Iterator


class LatestFrames:
    """Iterate (index, time_s, frame) items of ``source`` (an iterable of such tuples with a
    ``live`` attribute, e.g. litefer.io.FrameStream); for live sources only the newest frame
    is delivered. ``dropped`` counts frames never delivered; ``delivered`` those handed out.
    An exception raised by the source on the grabber thread is re-raised in the consumer."""

    def __init__(self, source: Iterable, live: bool | None = None):
        self.source = source
        self.live = bool(getattr(source, "live", False)) if live is None else live
        self.dropped = self.delivered = 0
        self._cond = threading.Condition()
        self._item = None
        self._done = False
        self._error: BaseException | None = None
        self._stop = threading.Event()

    def __iter__(self) -> Iterator:
        if not self.live:
            for item in self.source:
                self.delivered += 1
                yield item
            return
        thread = threading.Thread(target=self._grab, name="litefer-grabber", daemon=True)
        thread.start()
        try:
            while True:
                item = self._next()
                if item is None:
                    break
                self.delivered += 1
                yield item
        finally:
            self._stop.set()
            thread.join(timeout=5.0)
        if self._error is not None:
            raise self._error

    def _next(self):
        """Block until a new frame arrives (-> it) or the source ends (-> None)."""
        with self._cond:
            while self._item is None and not self._done:
                self._cond.wait()
            item, self._item = self._item, None
            return item

    def _grab(self) -> None:
        try:
            for item in self.source:
                with self._cond:
                    if self._item is not None:
                        self.dropped += 1
                    self._item = item
                    self._cond.notify()
                if self._stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, never lost on this thread
            self._error = exc
        finally:
            close = getattr(self.source, "close", None)
            if self._stop.is_set() and close is not None:
                close()
            with self._cond:
                self._done = True
                self._cond.notify()
