"""Video files in frame ranges: probing on the driver, reading one range in a worker.

A range [start, stop) is read by seeking to ``start`` (OpenCV's FFmpeg backend seeks to the
key frame before it and decodes forward, so the frame is exact) and then decoding frame by
frame, exactly as ``litefer.io.FrameStream`` does from frame 0: same colour conversion, same
timestamps (container time, else index / fps). Should a backend report a different position
after the seek, the range falls back to grabbing from frame 0 (slow but exact).
"""
from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np

from ..errors import InvalidImageError
from ..io import cannot_open_message, file_time


def probe(path: str, name: str) -> tuple[int | None, float]:
    """(declared frame count or None, fps) of a video file; raises InvalidImageError when it
    cannot be opened (the message FrameStream gives)."""
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise InvalidImageError(cannot_open_message(name))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return (count if count > 0 else None), float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        cap.release()


def read_range(path: str, name: str, start: int, stop: int | None,
               status: dict) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame_index, time_s, RGB uint8) for frames start <= index < stop (None: to the end).

    status is filled in as frames are read: "read" (frames yielded) and "error" (a frame that
    could not be decoded; an early end of file is not an error here: the driver, which knows
    the declared length, decides). Raises InvalidImageError when the file cannot be opened.
    """
    from ..io import _to_rgb8  # the exact conversion FrameStream applies

    cap = _open_at(path, name, start)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        index = start - 1
        while stop is None or index + 1 < stop:
            if not cap.grab():
                return
            index += 1
            ok, bgr = cap.retrieve()
            if not ok or bgr is None:
                status["error"] = f"{name}: frame {index} could not be decoded"
                return
            status["read"] += 1
            yield index, file_time(cap, index, fps), _to_rgb8(bgr, name, bgr=True)
    finally:
        cap.release()


def _open_at(path: str, name: str, start: int):
    """A capture whose next grab() returns frame ``start``."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise InvalidImageError(cannot_open_message(name))
    if start <= 0:
        return cap
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    if int(round(cap.get(cv2.CAP_PROP_POS_FRAMES))) == start:
        return cap
    cap.release()
    cap = cv2.VideoCapture(path)
    for _ in range(start):
        if not cap.grab():
            break
    return cap
