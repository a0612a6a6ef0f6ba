"""Result types shared by the API, CLI, service and video path (numpy only, JSON via to_dict).

The labelling rule lives here once: a face's label is the arg-max class of its probabilities,
or UNCERTAIN when that class's probability is below the caller's ``min_confidence``
(:func:`decide`). ``Result.from_dict`` inverts ``Result.to_dict`` exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

UNCERTAIN = "uncertain"


def decide(probs: np.ndarray, labels: Sequence[str], min_confidence: float) -> tuple[str, float]:
    """(label, confidence) for probabilities ``probs`` (K,) over ``labels``: the arg-max class
    and its probability; the label is UNCERTAIN when that probability is below min_confidence."""
    k = int(np.argmax(probs))
    conf = float(probs[k])
    return (labels[k] if conf >= min_confidence else UNCERTAIN), conf


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

    @classmethod
    def classified(cls, det: Detection, labels: Sequence[str], probs: np.ndarray,
                   min_confidence: float, track_id: int | None = None) -> "Face":
        """The face of ``det`` (box and landmarks in source pixels) with probabilities ``probs``
        (K,) over ``labels``, labelled by :func:`decide`."""
        label, conf = decide(probs, labels, min_confidence)
        lms = None if det.landmarks is None else np.asarray(det.landmarks, np.float32)
        return cls(tuple(float(v) for v in det.box), float(det.score), lms, tuple(labels),
                   np.asarray(probs, np.float32), label, conf, track_id)

    def relabelled(self, probs: np.ndarray, min_confidence: float,
                   track_id: int | None = None) -> "Face":
        """This face with new probabilities (K,) (e.g. a temporal model's), labelled again by
        :func:`decide`, and ``track_id``."""
        label, conf = decide(probs, self.labels, min_confidence)
        return replace(self, probs=np.asarray(probs, np.float32), label=label, confidence=conf,
                       track_id=track_id)

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

    @classmethod
    def from_dict(cls, d: dict) -> "Face":
        """Inverse of :meth:`to_dict`: probabilities and landmarks come back as float32 (the
        library's dtype; JSON keeps their values exactly). Raises KeyError for a missing key."""
        b, probs = d["box"], d["probs"]
        lms = None if d["landmarks"] is None else np.asarray(d["landmarks"], np.float32)
        return cls((float(b["x1"]), float(b["y1"]), float(b["x2"]), float(b["y2"])),
                   float(d["score"]), lms, tuple(probs),
                   np.asarray(list(probs.values()), np.float32), d["label"],
                   float(d["confidence"]), d["track_id"])


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

    @classmethod
    def from_dict(cls, d: dict) -> "Result":
        """Inverse of :meth:`to_dict`: ``Result.from_dict(r.to_dict()).to_dict() ==
        r.to_dict()``, also after a trip through JSON. Every key to_dict writes is required
        (KeyError names a missing one); timings come back as to_dict rounded them (0.001 ms)."""
        return cls(d["source"], [Face.from_dict(f) for f in d["faces"]], d["frame"], d["time"],
                   d["width"], d["height"], d["error"],
                   {k: float(v) for k, v in d["timings_ms"].items()})
