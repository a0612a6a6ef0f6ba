"""Inputs -> RGB uint8 (H, W, 3): image files, encoded bytes, arrays, video files, cameras, URLs.

BGR exists only here. Decoded images are 8-bit RGB: grey replicated, alpha dropped, 16-bit scaled
(v / 257), EXIF orientation applied (cv2.imdecode does it for colour reads, bytes and files alike).
Memory bound: at most ``max_pixels`` pixels are returned; the size is read from the header first
(JPEG, PNG, BMP, WebP). JPEG is reduced 2, 4 or 8 x inside libjpeg while decoding, so even a
20000 x 20000 photo decodes into about ``max_pixels``. PNG, BMP and WebP decode only whole: up to
FULL_DECODE_FACTOR x max_pixels pixels (100 MP, 300 MB at 8-bit RGB by default), refused above.
Other formats (TIFF, JPEG 2000, PNM) are bounded by OpenCV's OPENCV_IO_MAX_IMAGE_PIXELS alone.
"""
from __future__ import annotations

import glob
import math
import re
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

import cv2
import numpy as np

from .errors import InvalidImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".webp", ".tif", ".tiff",
                              ".pgm", ".ppm", ".pnm", ".jp2"})
DEFAULT_MAX_PIXELS = 25_000_000
FULL_DECODE_FACTOR = 4
_REDUCED = {f: getattr(cv2, f"IMREAD_REDUCED_COLOR_{f}", cv2.IMREAD_COLOR) for f in (1, 2, 4, 8)}
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers
_FILL = re.compile(rb"\xff+")  # a run of JPEG fill bytes
_MAX_SEGMENTS = 4096  # markers walked before the first scan; real files have tens
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
    if head is not None and head[0] == "jpeg" and not _jpeg_complete(data):
        raise InvalidImageError(f"{name}: truncated JPEG (no end-of-image marker)")
    factor = 1 if head is None else _reduction(name, *head, max_pixels)
    try:
        raw = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED[factor] | cv2.IMREAD_ANYDEPTH)
    except cv2.error as exc:
        raise InvalidImageError(f"{name}: cannot be decoded ({str(exc).strip()})") from exc
    if raw is None:
        why = f"corrupt or truncated {head[0]}" if head else "not a supported image format"
        raise InvalidImageError(f"{name}: cannot be decoded ({why})")
    rgb = _to_rgb8(raw, name, bgr=True)
    size, aspect = (rgb.shape[1], rgb.shape[0]), rgb.shape[1] / rgb.shape[0]
    if head is not None:  # EXIF may have turned the image by 90 degrees: keep the closer aspect
        w, h = head[1:]
        size = (h, w) if abs(aspect - h / w) < abs(aspect - w / h) else (w, h)
    return DecodedImage(_limit(rgb, max_pixels), size, name)


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


def header_size(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from the header of a JPEG, PNG, BMP or WebP; None otherwise."""
    le = lambda b: int.from_bytes(b, "little")  # noqa: E731
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return ("png", *struct.unpack(">II", data[16:24]))
    if data[:2] == b"\xff\xd8":
        size = _jpeg_walk(data)[1]
        return None if size is None else ("jpeg", *size)
    if data[:2] == b"BM" and len(data) >= 26:  # height < 0: rows stored top-down
        return ("bmp", *(abs(v) for v in struct.unpack("<ii", data[18:26])))
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    sizes = {b"VP8X": (1 + le(data[24:27]), 1 + le(data[27:30])),
             b"VP8 ": (le(data[26:28]) & 0x3FFF, le(data[28:30]) & 0x3FFF),
             b"VP8L": (1 + (le(data[21:25]) & 0x3FFF), 1 + ((le(data[21:25]) >> 14) & 0x3FFF))}
    return ("webp", *sizes[data[12:16]]) if data[12:16] in sizes else None


def _jpeg_walk(data: bytes) -> tuple[int, tuple[int, int] | None]:
    """Walk JPEG header segments: (offset of the first scan or -1, (width, height) or None).

    Bounded for crafted input: a run of fill bytes is one regex step, and after _MAX_SEGMENTS
    markers the walk gives up (-1): a few milliseconds at most on an 8 MiB body, not seconds."""
    pos, size, n, steps = 2, None, len(data), 0
    while pos + 4 <= n and steps < _MAX_SEGMENTS:
        steps += 1
        if data[pos] != 0xFF:
            return -1, size
        marker = data[pos + 1]
        if marker == 0xFF:  # fill bytes: stop on the last 0xFF of the run, before its marker
            pos = _FILL.match(data, pos + 1).end() - 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker in _SOF and pos + 9 <= n and size is None:
            size = struct.unpack(">HH", data[pos + 5:pos + 9])[::-1]
        if marker == 0xDA:
            return pos, size
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
    return -1, size


def _jpeg_complete(data: bytes) -> bool:
    """True when an end-of-image marker follows the first scan (EXIF thumbnails come before it;
    0xFF 0xD9 cannot occur inside entropy-coded data, which stuffs every 0xFF with 0x00)."""
    start = _jpeg_walk(data)[0]
    if start < 0:
        return False
    scan = np.frombuffer(data, np.uint8, offset=start)
    return bool(np.any(scan[np.flatnonzero(scan[:-1] == 0xFF) + 1] == 0xD9))


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


def list_images(source: str | Path) -> list[Path]:
    """Image files (IMAGE_EXTENSIONS, any case) of a folder (recursive, hidden ".*" names such as
    macOS "._x.jpg" stubs skipped) or a glob, sorted; a single file is returned as given.
    Raises InvalidImageError when a path without glob characters does not exist."""
    text, path = str(source), Path(source)
    if path.is_file():
        return [path]
    if not path.is_dir() and not glob.has_magic(text):
        raise InvalidImageError(f"{text}: no such file or folder")
    return walk_files(text, lambda p: p.suffix.lower() in IMAGE_EXTENSIONS)


def walk_files(source: str | Path, wanted) -> list[Path]:
    """Files of a folder tree (recursive; names and folders starting with "." skipped) or of a
    glob (recursive "**"), for which ``wanted(path)`` is true, sorted."""
    text, path = str(source), Path(source)
    if path.is_dir():
        found = (p for p in path.rglob("*")
                 if not any(part.startswith(".") for part in p.relative_to(path).parts))
    else:
        found = (Path(p) for p in glob.glob(text, recursive=True))
    return sorted(p for p in found if p.is_file() and not p.name.startswith(".") and wanted(p))


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
