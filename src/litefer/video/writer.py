"""Annotated MP4s: H.264 where an encoder is installed, MPEG-4 Part 2 ("mp4v") otherwise.

Browsers play H.264 MP4s and not mp4v ones. Encoders are tried in this order:

1. libx264 through PyAV (``pip install 'litefer[video]'``: PyAV's wheels ship FFmpeg with
   libx264), yuv420p, moov atom first ("faststart") so a browser can start playing at once;
2. OpenCV's FFmpeg with the "avc1" tag, in OpenCV builds that have an H.264 encoder (the
   opencv-python-headless wheels litefer installs have none);
3. OpenCV's "mp4v" (MPEG-4 Part 2): always available, not played by browsers.

``codec`` says which one a writer uses ("h264" or "mpeg4"), ``encoder`` by what means.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import LiteferError


class _AvWriter:
    """H.264 through PyAV (libx264). Odd widths/heights are padded by one black pixel (4:2:0
    chroma needs even sizes)."""

    codec, encoder = "h264", "libx264 via PyAV"

    def __init__(self, path: Path, fps: float, width: int, height: int):
        import av

        self.path = path
        self.container = av.open(str(path), mode="w", options={"movflags": "faststart"})
        self.stream = self.container.add_stream(
            "libx264", rate=Fraction(fps).limit_denominator(1001))
        self.stream.width, self.stream.height = width + width % 2, height + height % 2
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"preset": "veryfast", "crf": "23"}

    def write(self, rgb: np.ndarray) -> None:
        import av

        extra = (self.stream.height - rgb.shape[0], self.stream.width - rgb.shape[1])
        if any(extra):
            rgb = np.pad(rgb, ((0, extra[0]), (0, extra[1]), (0, 0)))
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()


class _CvWriter:
    """cv2.VideoWriter with a fourcc ("avc1": H.264, "mp4v": MPEG-4 Part 2)."""

    def __init__(self, path: Path, fps: float, width: int, height: int, fourcc: str):
        self.path, self.fourcc = path, fourcc
        self.codec = "h264" if fourcc == "avc1" else "mpeg4"
        self.encoder = f"OpenCV FFmpeg, fourcc {fourcc}"
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps,
                                      (width, height))

    def opened(self) -> bool:
        return self.writer.isOpened()

    def write(self, rgb: np.ndarray) -> None:
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self.writer.release()


def _pyav_available() -> bool:
    try:
        import av
    except ImportError:
        return False
    return "libx264" in av.codecs_available


def open_video_writer(path: str | Path, fps: float, width: int, height: int,
                      encoders: tuple[str, ...] = ("pyav", "avc1", "mp4v")):
    """A writer of RGB uint8 (height, width, 3) frames to the MP4 ``path`` at ``fps`` frames per
    second, with ``write(frame)``, ``close()``, ``path``, ``codec`` ("h264" or "mpeg4") and
    ``encoder``: the first of ``encoders`` that works here. Raises LiteferError when none
    can write ``path``."""
    path = Path(path)
    for name in encoders:
        if name == "pyav":
            if _pyav_available():
                return _AvWriter(path, fps, width, height)
            continue
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:  # a missing encoder is expected here: no OpenCV error lines for it
            writer = _CvWriter(path, fps, width, height, name)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if writer.opened():
            return writer
    raise LiteferError(f"{path}: no video encoder could write it (tried {', '.join(encoders)}); "
                       "check that the folder is writable")
