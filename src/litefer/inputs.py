"""What callers hand the Recognizer, checked: images decoded with their decode time, boxes
validated and clipped to the image.

Float image arrays: litefer reads float pixels as 0..1 (litefer.io). A float array with values
outside 0..1 (0..255 data cast to float, typically) or with NaN/infinity is refused with
InvalidImageError instead of being clipped to a white image: convert it first with
``img.astype(np.uint8)`` (0..255 data) or pass ``img / 255``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .errors import InvalidImageError, InvalidInputError
from .io import DEFAULT_MAX_PIXELS, DecodedImage, ImageSource, read_image
from .types import Detection

FLOAT_SLACK = 1e-3  # rounding error tolerated just outside 0..1 in float images
_BOX_HINT = "each box is 4 numbers (x1, y1, x2, y2), corners in source pixels"


@dataclass(frozen=True)
class TimedImage(DecodedImage):
    """A DecodedImage that carries how long decoding it took (decode_ms, milliseconds); the
    Recognizer reports it as ``timings_ms["decode"]``, wherever the decode ran (a thread pool
    decoding ahead, say)."""

    decode_ms: float = 0.0


def decode(src: ImageSource | DecodedImage, *, max_pixels: int = DEFAULT_MAX_PIXELS
           ) -> TimedImage:
    """``litefer.io.read_image(src)``, timed. A TimedImage is returned as is; a plain
    DecodedImage (decoded elsewhere, untimed) gets decode_ms 0. Raises InvalidImageError as
    read_image does, and for a float array outside 0..1 or with NaN/infinity."""
    if isinstance(src, TimedImage):
        return src
    if isinstance(src, DecodedImage):
        return TimedImage(src.image, src.source_size, src.name)
    if isinstance(src, np.ndarray):
        check_float_image(src)
    return timed(read_image, src, max_pixels=max_pixels)


def decode_file(path: str | Path, page: int | None = None) -> TimedImage:
    """A file, or page ``page`` (0-based) of a multi-page TIFF (litefer.io.read_page), decoded
    and timed. Raises InvalidImageError when it cannot be decoded."""
    from .io import read_page

    return decode(path) if page is None else timed(read_page, path, page)


def timed(read: Callable[..., DecodedImage], *args, **kwargs) -> TimedImage:
    """``read(*args, **kwargs)`` (a decoder such as litefer.io.read_image or read_page) as a
    TimedImage carrying how long it took; what ``read`` raises passes through."""
    t0 = time.perf_counter()
    d = read(*args, **kwargs)
    return TimedImage(d.image, d.source_size, d.name, (time.perf_counter() - t0) * 1e3)


def check_float_image(arr: np.ndarray) -> None:
    """Raise InvalidImageError unless a float array's pixels are finite and within 0..1
    (FLOAT_SLACK allowed for rounding); other dtypes pass unchecked."""
    if arr.dtype.kind != "f" or arr.size == 0:
        return
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidImageError("<array>: float pixels contain NaN or infinity; replace them "
                                "(np.nan_to_num) and pass values in 0..1 or a uint8 array")
    if lo < -FLOAT_SLACK or hi > 1 + FLOAT_SLACK:
        raise InvalidImageError(
            f"<array>: float pixels must lie in 0..1, these span {lo:g}..{hi:g}; for 0..255 "
            "data pass img.astype(np.uint8) (or img / 255)")


def check_boxes(boxes: Sequence, size: tuple[int, int]) -> list[Detection]:
    """Caller-given boxes -> Detections in source pixels, clipped to the image.

    boxes: a sequence (or (N, 4) array) of (x1, y1, x2, y2) corners in source pixels, or of
    Detection objects (their score and landmarks are kept); size: (width, height) of the
    source image. A box partly outside the image is clipped to it. Raises InvalidInputError,
    naming the box, for a box that is not 4 finite numbers, is inverted or empty (x2 <= x1 or
    y2 <= y1), or lies wholly outside the image.
    """
    if isinstance(boxes, (str, bytes)) or not hasattr(boxes, "__len__"):
        raise InvalidInputError(f"boxes must be a list of boxes, got {type(boxes).__name__}; "
                                f"{_BOX_HINT}")
    return [_check_box(i, b, size) for i, b in enumerate(boxes)]


def _check_box(i: int, box, size: tuple[int, int]) -> Detection:
    det = box if isinstance(box, Detection) else None
    try:
        values = [float(v) for v in (det.box if det else box)]
    except (TypeError, ValueError):
        raise InvalidInputError(f"box {i} is {box!r}: {_BOX_HINT}; a single box still goes "
                                "in a list: boxes=[(x1, y1, x2, y2)]") from None
    if len(values) != 4:
        raise InvalidInputError(f"box {i} has {len(values)} values {tuple(values)}: {_BOX_HINT}")
    shown = tuple(values)
    if not all(math.isfinite(v) for v in values):
        raise InvalidInputError(f"box {i} {shown} is not finite (NaN or infinity): {_BOX_HINT}")
    x1, y1, x2, y2 = values
    if x2 <= x1 or y2 <= y1:
        raise InvalidInputError(f"box {i} {shown} is inverted or empty: need x1 < x2 and "
                                "y1 < y2 (corners, not x, y, width, height)")
    w, h = size
    clipped = (max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h)))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise InvalidInputError(f"box {i} {shown} lies wholly outside the {w}x{h} image")
    return Detection(clipped) if det is None else Detection(clipped, det.score, det.landmarks)
