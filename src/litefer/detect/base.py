"""The Detector protocol and what every backend shares: input checks, the downscaled detection
copy, mapping back to source pixels, clipping and ordering."""
from __future__ import annotations

import math
from typing import Iterable, Protocol, runtime_checkable

import cv2
import numpy as np

from ..errors import InvalidImageError
from ..types import Detection


@runtime_checkable
class Detector(Protocol):
    """A face detector: ``detect(image_rgb)`` takes RGB uint8 (H, W, 3) and returns every face
    found as a :class:`Detection` in source pixels, boxes clipped to the image, sorted by score
    (highest first); no face is an empty list. ``name`` is its registry name."""

    name: str

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        ...


def check_image(image: np.ndarray) -> np.ndarray:
    """The image as contiguous RGB uint8 (H, W, 3), or InvalidImageError saying what is wrong."""
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"detect() needs a numpy array, got {type(image).__name__}; "
                                "use litefer.io.load_image for files and bytes")
    if (image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3
            or min(image.shape[:2]) < 1):
        raise InvalidImageError(f"detect() needs RGB uint8 (H, W, 3), got {image.dtype} "
                                f"{image.shape}; use litefer.io.load_image to convert")
    return np.ascontiguousarray(image)


AUTO = "auto"


def auto_detect_size(h: int, w: int) -> int:
    """40% of the longest side in steps of 32, within 256..640: real-time frames (640 x 480) are
    detected at 256 (faces down to ~33 source pixels), photos of 1600 px and more at 640."""
    return int(min(640, max(256, 32 * round(0.4 * max(h, w) / 32))))


def check_options(score_threshold: float, detect_size: int | str | None, min_size: float) -> None:
    """Validate the options every backend shares (ValueError on nonsense)."""
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"score_threshold must lie in 0..1, got {score_threshold}")
    if isinstance(detect_size, str):
        if detect_size != AUTO:
            raise ValueError(f"detect_size must be a number of pixels, None or {AUTO!r}")
    elif detect_size is not None and detect_size < 32:
        raise ValueError(f"detect_size must be None or >= 32 pixels, got {detect_size}")
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0 pixels, got {min_size}")


def shrink(image: np.ndarray, detect_size: int | str | None) -> tuple[np.ndarray, float]:
    """(copy for detection whose longest side is at most ``detect_size``, its scale = detection
    pixels per source pixel). Never upscales; detect_size None keeps the image as it is, "auto"
    uses :func:`auto_detect_size`."""
    h, w = image.shape[:2]
    if detect_size == AUTO:
        detect_size = auto_detect_size(h, w)
    if detect_size is None or max(h, w) <= detect_size:
        return image, 1.0
    scale = detect_size / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, size[0] / w


def logistic(x: float) -> float:
    """Squash an unbounded detector margin into 0..1 (monotone, not a calibrated probability)."""
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def logit(p: float) -> float:
    """Inverse of :func:`logistic`, clamped so 0 and 1 stay finite."""
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def to_detection(box: Iterable[float], score: float, landmarks: np.ndarray | None,
                 scale: float, image_shape: tuple[int, ...]) -> Detection | None:
    """A Detection in source pixels from detection-copy coordinates, or None if it is empty.

    box: (x1, y1, x2, y2) pixel edges, divided by ``scale`` then clipped to the image.
    landmarks: (K, 2) pixel-centre positions, mapped as (p + 0.5) / scale - 0.5 and not clipped
    (a point outside the frame still tells the alignment where the eye is).
    """
    h, w = image_shape[:2]
    x1, y1, x2, y2 = (float(v) / scale for v in box)
    x1, x2 = min(max(x1, 0.0), float(w)), min(max(x2, 0.0), float(w))
    y1, y2 = min(max(y1, 0.0), float(h)), min(max(y2, 0.0), float(h))
    if x2 - x1 < 1.0 or y2 - y1 < 1.0:
        return None
    if landmarks is not None:
        landmarks = ((np.asarray(landmarks, np.float32) + 0.5) / scale - 0.5).astype(np.float32)
    return Detection((x1, y1, x2, y2), float(min(max(score, 0.0), 1.0)), landmarks)


def finish(detections: Iterable[Detection | None], min_size: float = 0.0) -> list[Detection]:
    """Drop None and faces whose shorter box side is under ``min_size`` source pixels; sort by
    score, highest first (stable, so equal scores keep the backend's order)."""
    kept = [d for d in detections if d is not None and min(d.width, d.height) >= min_size]
    return sorted(kept, key=lambda d: -d.score)
