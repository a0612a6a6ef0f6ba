"""Inputs -> RGB uint8 (H, W, 3): image files, encoded bytes, arrays, video files, cameras, URLs.

BGR exists only here. Decoded images are 8-bit RGB: grey replicated, alpha dropped, 16-bit scaled
(v / 257), EXIF orientation applied (cv2.imdecode does it for colour reads, bytes and files alike).
Memory bound: at most ``max_pixels`` pixels are returned; the size is read from the header first
(JPEG, PNG, BMP, WebP). JPEG is reduced 2, 4 or 8 x inside libjpeg while decoding, so even a
20000 x 20000 photo decodes into about ``max_pixels``. PNG, BMP and WebP decode only whole: up to
FULL_DECODE_FACTOR x max_pixels pixels (100 MP, 300 MB at 8-bit RGB by default), refused above;
such a full-size buffer is reduced before any other copy is made, and one at a time per process.
Other formats (TIFF, GIF, JPEG 2000, PNM) are bounded by OpenCV's OPENCV_IO_MAX_IMAGE_PIXELS
alone. A JPEG whose data is too short for the size its header declares is refused, not decoded
into grey (see litefer.imageheader). Multi-page TIFFs: :func:`page_count`, :func:`read_page`.
"""
from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

import cv2
import numpy as np

from .errors import InvalidImageError
from .files import IMAGE_EXTENSIONS, list_images, walk_files  # noqa: F401 (public here too)
from .imageheader import header_size, jpeg_problem  # noqa: F401 (header_size: public here too)

MULTIPAGE_EXTENSIONS = frozenset({".tif", ".tiff"})
DEFAULT_MAX_PIXELS = 25_000_000
FULL_DECODE_FACTOR = 4
# One decode larger than max_pixels at a time per process: each holds a full-size buffer (up to
# FULL_DECODE_FACTOR x max_pixels) until it is reduced, so concurrent ones would add up.
_OVERSIZED = threading.Lock()
_REDUCED = {f: getattr(cv2, f"IMREAD_REDUCED_COLOR_{f}", cv2.IMREAD_COLOR) for f in (1, 2, 4, 8)}
ImageSource = Union[str, Path, bytes, bytearray, memoryview, np.ndarray]


@dataclass(frozen=True)
class DecodedImage:
    """image: RGB uint8 (h, w, 3); source_size: (width, height) of the source as displayed
    (after EXIF orientation); name: the file name, "<bytes>" or "<array>"."""

    image: np.ndarray
    source_size: tuple[int, int]
    name: str

    @property
    def scale(self) -> float:
        """Decoded pixels per source pixel (1.0 when not downscaled); source = decoded / scale."""
        return self.image.shape[1] / self.source_size[0]


def load_image(src: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """RGB uint8 (H, W, 3) from a path, encoded bytes or an array; see :func:`read_image`."""
    return read_image(src, max_pixels=max_pixels).image


def read_image(src: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode ``src`` to RGB uint8 with at most ``max_pixels`` pixels, reporting the scale.

    Arrays are taken as RGB already: (H, W) grey or (H, W, 1|3|4) RGB(A), of uint8, uint16
    (scaled by 1/257), bool, or float in 0..1; one that is already contiguous RGB uint8 within
    the bound is returned without a copy. Raises InvalidImageError naming the source and the
    reason (missing, empty, truncated, undecodable, too large, unsupported array).
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    if isinstance(src, np.ndarray):
        rgb = _to_rgb8(src, "<array>", bgr=False)
        return DecodedImage(_limit(rgb, max_pixels), (rgb.shape[1], rgb.shape[0]), "<array>")
    if isinstance(src, (bytes, bytearray, memoryview)):
        return _decode(bytes(src), "<bytes>", max_pixels)
    if not isinstance(src, (str, Path)):
        raise InvalidImageError(f"cannot read an image from a {type(src).__name__}: pass a path")
    try:
        data = Path(src).read_bytes()
    except FileNotFoundError:
        raise InvalidImageError(f"{src}: no such file") from None
    except OSError as exc:  # a folder, no permission, I/O error
        raise InvalidImageError(f"{src}: cannot be read ({exc.strerror or exc})") from exc
    return _decode(data, str(src), max_pixels)


def _decode(data: bytes, name: str, max_pixels: int) -> DecodedImage:
    if not data:
        raise InvalidImageError(f"{name}: empty (0 bytes), not an image")
    head = header_size(data)
    if head is not None and min(head[1:]) <= 0:
        raise InvalidImageError(f"{name}: the {head[0]} header declares an empty image")
    problem = jpeg_problem(data) if head is not None and head[0] == "jpeg" else None
    if problem:
        raise InvalidImageError(f"{name}: {problem}")
    factor = 1 if head is None else _reduction(name, *head, max_pixels)
    oversized = head is not None and _decoded_pixels(head, factor) > max_pixels
    with _OVERSIZED if oversized else contextlib.nullcontext():
        try:
            raw = cv2.imdecode(np.frombuffer(data, np.uint8),
                               _REDUCED[factor] | cv2.IMREAD_ANYDEPTH)
        except cv2.error as exc:
            raise InvalidImageError(f"{name}: cannot be decoded ({str(exc).strip()})") from exc
        if raw is None:
            why = f"corrupt or truncated {head[0]}" if head else "not a supported image format"
            raise InvalidImageError(f"{name}: cannot be decoded ({why})")
        size, aspect = (raw.shape[1], raw.shape[0]), raw.shape[1] / max(1, raw.shape[0])
        raw = _limit(raw, max_pixels) if raw.ndim in (2, 3) and raw.size else raw
    rgb = _to_rgb8(raw, name, bgr=True)
    if head is not None:  # EXIF may have turned the image by 90 degrees: keep the closer aspect
        w, h = head[1:]
        size = (h, w) if abs(aspect - h / w) < abs(aspect - w / h) else (w, h)
    return DecodedImage(rgb, size, name)


def _decoded_pixels(head: tuple[str, int, int], factor: int) -> int:
    return math.ceil(head[1] / factor) * math.ceil(head[2] / factor)


def page_count(path: str | Path) -> int:
    """Pages of a multi-page TIFF; 1 for any other file and for a TIFF OpenCV cannot count."""
    if Path(path).suffix.lower() not in MULTIPAGE_EXTENSIONS:
        return 1
    try:
        return max(1, int(cv2.imcount(str(path))))
    except cv2.error:
        return 1


def read_page(path: str | Path, page: int, *,
              max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Page ``page`` (0-based) of a multi-page TIFF as :func:`read_image` decodes a file (name
    "PATH#page=N", N counted from 1). Raises InvalidImageError when it cannot be decoded."""
    name = f"{path}#page={page + 1}"
    try:
        ok, mats = cv2.imreadmulti(str(path), start=page, count=1,
                                   flags=cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    except cv2.error as exc:
        raise InvalidImageError(f"{name}: cannot be decoded ({str(exc).strip()})") from exc
    if not ok or not mats:
        raise InvalidImageError(f"{name}: cannot be decoded (corrupt TIFF page)")
    raw = mats[0]
    return DecodedImage(_to_rgb8(_limit(raw, max_pixels), name, bgr=True),
                        (raw.shape[1], raw.shape[0]), name)


def _reduction(name: str, fmt: str, w: int, h: int, max_pixels: int) -> int:
    """Smallest libjpeg reduction (1, 2, 4, 8) meeting max_pixels; refuse what cannot fit."""
    factor, decoded = 1, w * h
    while decoded > max_pixels and fmt == "jpeg" and factor < 8:
        factor *= 2
        decoded = math.ceil(w / factor) * math.ceil(h / factor)
    if decoded > FULL_DECODE_FACTOR * max_pixels:
        raise InvalidImageError(f"{name}: {w}x{h} {fmt} is too large to decode within "
                                f"{FULL_DECODE_FACTOR} x max_pixels; raise max_pixels or use JPEG")
    return factor


def _to_rgb8(arr: np.ndarray, name: str, *, bgr: bool) -> np.ndarray:
    """(H, W) or (H, W, 1|3|4) of a supported dtype -> contiguous RGB uint8 (H, W, 3)."""
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidImageError(f"{name}: expected (H, W) or (H, W, 1|3|4), got {arr.shape}")
    if arr.dtype == np.uint16:
        arr = cv2.convertScaleAbs(arr, alpha=1.0 / 257.0)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * np.uint8(255)
    elif arr.dtype in (np.float16, np.float32, np.float64):
        arr = (np.clip(np.nan_to_num(arr.astype(np.float32)), 0, 1) * 255 + 0.5).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise InvalidImageError(f"{name}: {arr.dtype} pixels; use uint8, uint16, bool, float 0..1")
    arr = arr.reshape(*arr.shape[:2], -1)
    if arr.shape[2] == 1:
        return cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_GRAY2RGB)
    if bgr:
        return cv2.cvtColor(np.ascontiguousarray(arr[:, :, :3]), cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(arr[:, :, :3])


def _limit(rgb: np.ndarray, max_pixels: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    f = math.sqrt(max_pixels / (h * w))
    size = (max(1, math.floor(w * f)), max(1, math.floor(h * f)))
    return rgb if f >= 1 else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


class FrameStream:
    """Frames of a video file, camera or URL as (frame_index, time_s, RGB uint8); iterate once.

    Constant memory (one frame at a time; frames skipped by ``step`` are grabbed, not decoded).
    time_s: container timestamp for files, seconds since opening for cameras and URLs. The loop
    ends without raising unless on_error="raise"; then ``error`` is None for a normal end (end of
    file, max_frames) or says what broke: fewer frames than the container declares (truncated or
    corrupt file), an undecodable frame, a live source silent for ``retries`` reads in a row.
    Also: fps (0.0 when unknown), frame_count (None when unknown or live), frames_read."""

    def __init__(self, source: int | str | Path, *, step: int = 1, max_frames: int | None = None,
                 on_error: str = "stop", retries: int = 5):
        if step < 1 or on_error not in ("stop", "raise") or retries < 0:
            raise ValueError("step must be >= 1, retries >= 0, on_error 'stop' or 'raise'")
        self.name, self.live, target = _video_target(source)
        self.step, self.max_frames, self.on_error = step, max_frames, on_error
        self.retries = retries
        self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            raise InvalidImageError(cannot_open_message(self.name))
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 and not self.live else None
        self.error: str | None = None
        self.frames_read = 0

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        cap = self._cap
        if cap is None:
            raise InvalidImageError(f"{self.name}: this stream was already consumed or closed")
        start, yielded, index, failures = time.monotonic(), 0, -1, 0
        try:
            while self.max_frames is None or yielded < self.max_frames:
                if not cap.grab():
                    failures += 1
                    if self.live and failures <= self.retries:
                        time.sleep(0.02)
                        continue
                    return self._end(index + 1, decoded=True)
                index, failures = index + 1, 0
                if index % self.step:
                    continue
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    return self._end(index, decoded=False)
                self.frames_read += 1
                t = time.monotonic() - start if self.live else file_time(cap, index, self.fps)
                yield index, t, _to_rgb8(bgr, self.name, bgr=True)
                yielded += 1
        finally:
            self.close()

    def _end(self, seen: int, *, decoded: bool) -> None:
        if not decoded:
            self.error = f"{self.name}: frame {seen} could not be decoded"
        elif self.live:
            self.error = f"{self.name}: stream stopped delivering frames after {seen} frames"
        elif self.frame_count is not None and seen < self.frame_count - 1:
            self.error = (f"{self.name}: video ended after {seen} of the {self.frame_count} "
                          "frames its container declares (truncated or corrupt file)")
        if self.error and self.on_error == "raise":
            raise InvalidImageError(self.error)

    def close(self) -> None:
        """Release the capture; safe to call twice."""
        if self._cap is not None:
            self._cap, cap = None, self._cap
            cap.release()


def file_time(cap, index: int, fps: float) -> float:
    """Seconds of frame ``index`` just read from a video file: the container timestamp, or
    index / fps when the backend reports none (POS_MSEC is 0 then)."""
    msec = cap.get(cv2.CAP_PROP_POS_MSEC)
    return msec / 1000.0 if msec > 0 or index == 0 or fps <= 0 else index / fps


def cannot_open_message(name: str) -> str:
    """The error text for a video (or camera) OpenCV cannot open."""
    return (f"{name}: cannot open video (missing, unsupported codec or container, truncated "
            "index, or camera busy)")


def iter_frames(source: int | str | Path, *, step: int = 1, max_frames: int | None = None,
                on_error: str = "stop", retries: int = 5) -> FrameStream:
    """A :class:`FrameStream` of every ``step``-th frame (at most ``max_frames``) of a video file,
    camera (0 or "0") or URL (rtsp://...); InvalidImageError now if it cannot be opened."""
    return FrameStream(source, step=step, max_frames=max_frames, on_error=on_error, retries=retries)


def _video_target(source: int | str | Path) -> tuple[str, bool, int | str]:
    """(display name, is a live source, what cv2.VideoCapture opens)."""
    text = str(source)
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return f"camera {text}", True, int(source)
    if "://" in text:
        return text, not text.startswith("file://"), text
    if not Path(text).is_file():
        raise InvalidImageError(f"{text}: no such video file")
    return text, False, text
