"""Result types shared by the API, CLI, service and video path (numpy only, JSON via to_dict)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detection:
    """One detected face. box: (x1, y1, x2, y2) float pixels of the source image;
    score: detector confidence 0..1; landmarks: float32 (K, 2) (x, y) pixels or None.
    K = 5: eye on the image's left, eye on the image's right, nose tip, mouth corner left,
    mouth corner right (image left/right, i.e. the subject's right eye comes first);
    K = 68: the iBUG 300-W scheme."""

    box: tuple[float, float, float, float]
    score: float = 1.0
    landmarks: np.ndarray | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass(frozen=True)
class Face:
    """A classified face: detection + probabilities over every class of ``labels`` (sum 1).

    label is the arg-max class, or "uncertain" when confidence is below the caller's threshold.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None
    labels: tuple[str, ...]
    probs: np.ndarray
    label: str
    confidence: float
    track_id: int | None = None

    def to_dict(self) -> dict:
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return {
            "box": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
            "score": float(self.score),
            "landmarks": None if self.landmarks is None
            else [[float(x), float(y)] for x, y in np.asarray(self.landmarks)],
            "label": self.label,
            "confidence": float(self.confidence),
            "probs": {k: float(p) for k, p in zip(self.labels, self.probs)},
            "track_id": self.track_id,
        }


@dataclass
class Result:
    """Everything found in one image or video frame. ``error`` is None unless this item failed;
    timings are milliseconds per stage (decode, detect, align, classify, ...)."""

    source: str
    faces: list[Face] = field(default_factory=list)
    frame: int | None = None
    time_s: float | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "frame": self.frame,
            "time": self.time_s,
            "width": self.width,
            "height": self.height,
            "faces": [f.to_dict() for f in self.faces],
            "error": self.error,
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }
