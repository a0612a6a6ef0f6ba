"""IoU tracker with a constant-velocity motion model: stable ids across frames and short gaps."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a: (N, 4), b: (M, 4) boxes x1, y1, x2, y2 -> (N, M) intersection over union."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class Track:
    id: int
    box: np.ndarray                    # (4,) last estimate, source pixels
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    misses: int = 0
    hits: int = 1
    state: dict = field(default_factory=dict)   # per-track temporal model state

    def predicted(self) -> np.ndarray:
        return self.box + self.velocity * (self.misses + 1)


class Tracker:
    """Greedy IoU association against motion-predicted boxes.

    iou_threshold: minimum IoU to continue a track; max_misses: frames a track survives
    without a detection (occlusion, missed detection) before it is dropped.
    """

    def __init__(self, iou_threshold: float = 0.3, max_misses: int = 15, momentum: float = 0.5):
        self.iou_threshold, self.max_misses, self.momentum = iou_threshold, max_misses, momentum
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, boxes: np.ndarray) -> list[Track]:
        """boxes (N, 4) of this frame -> the Track of each box, in the same order."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        preds = np.array([t.predicted() for t in self.tracks]).reshape(-1, 4)
        ious = iou_matrix(boxes, preds)
        assigned: list[Track | None] = [None] * len(boxes)
        used: set[int] = set()
        for flat in np.argsort(-ious, axis=None):
            i, j = divmod(int(flat), ious.shape[1])
            if ious[i, j] < self.iou_threshold:
                break
            if assigned[i] is None and j not in used:
                assigned[i] = self._continue(self.tracks[j], boxes[i])
                used.add(j)
        for j, track in enumerate(self.tracks):
            if j not in used:
                track.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        for i, box in enumerate(boxes):
            if assigned[i] is None:
                assigned[i] = Track(self._next_id, box.copy())
                self._next_id += 1
                self.tracks.append(assigned[i])
        return assigned  # type: ignore[return-value]

    def _continue(self, track: Track, box: np.ndarray) -> Track:
        step = (box - track.box) / (track.misses + 1)
        track.velocity = self.momentum * track.velocity + (1 - self.momentum) * step
        track.box, track.misses, track.hits = box.copy(), 0, track.hits + 1
        return track
