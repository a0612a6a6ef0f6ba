"""IoU tracker with a constant-velocity motion model: stable ids across frames and short gaps.

Two kinds of frame: ``update(boxes)`` on frames where detection ran (tracks are matched to the
boxes, unmatched tracks count a miss and survive ``max_misses`` missed frames: occlusions,
missed detections), and ``coast()`` on frames where detection was skipped on purpose
(``--detect-every K``): every live track advances by its velocity and is returned at its
predicted box, without counting a miss.
"""
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
    """One tracked face. box: (4,) last *measured* box in source pixels; velocity: (4,) pixels
    per frame; misses: detection frames since the last match; coasted: frames since the last
    match on which detection was skipped; landmarks: (K, 2) of the last match or None;
    state: per-track temporal-model state (e.g. {"ema": probs} or {"gru_h": hidden})."""

    id: int
    box: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    misses: int = 0
    hits: int = 1
    state: dict = field(default_factory=dict)
    coasted: int = 0
    landmarks: np.ndarray | None = None

    @property
    def elapsed(self) -> int:
        """Frames since the last measurement."""
        return self.misses + self.coasted

    def predicted(self) -> np.ndarray:
        """Expected box on the next frame."""
        return self.box + self.velocity * (self.elapsed + 1)

    def current(self) -> np.ndarray:
        """Estimated box on the latest frame (the measured box right after a match)."""
        return self.box + self.velocity * self.elapsed

    def current_landmarks(self) -> np.ndarray | None:
        """The last landmarks moved with the box (same scale and offset), or None."""
        if self.landmarks is None:
            return None
        return move_points(self.landmarks, self.box, self.current())


def _centres(b: np.ndarray) -> np.ndarray:
    return (b[:, :2] + b[:, 2:]) / 2


def _areas(b: np.ndarray) -> np.ndarray:
    return np.clip(b[:, 2] - b[:, 0], 1e-9, None) * np.clip(b[:, 3] - b[:, 1], 1e-9, None)


def move_points(points: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """float32 (K, 2) points mapped from box ``old`` to box ``new`` (per-axis scale + shift)."""
    sx = (new[2] - new[0]) / max(old[2] - old[0], 1e-9)
    sy = (new[3] - new[1]) / max(old[3] - old[1], 1e-9)
    pts = np.asarray(points, np.float64)
    out = np.stack([new[0] + (pts[:, 0] - old[0]) * sx, new[1] + (pts[:, 1] - old[1]) * sy], 1)
    return out.astype(np.float32)


class Tracker:
    """Greedy association against motion-predicted boxes: by IoU first, then, for what is left,
    by centre distance (a small face moving fast, or a gap of several frames, can leave no
    overlap with its prediction).

    iou_threshold: minimum IoU to continue a track; max_jump: largest centre distance for the
    second pass, in units of the predicted box's side (sqrt of its area), times
    sqrt(frames since the track's last measurement), between boxes whose areas differ by less
    than 2x; max_misses: detection frames a track survives without a match before it is
    dropped; momentum: weight of the old velocity when a new measurement arrives.
    """

    def __init__(self, iou_threshold: float = 0.3, max_misses: int = 15, momentum: float = 0.5,
                 max_jump: float = 0.6):
        self.iou_threshold, self.max_misses, self.momentum = iou_threshold, max_misses, momentum
        self.max_jump = max_jump
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, boxes: np.ndarray, landmarks=None) -> list[Track]:
        """boxes (N, 4) of this frame -> the Track of each box, in the same order.

        landmarks: None or a sequence of N arrays (K, 2) / None, stored on the matched tracks.
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        preds = np.array([t.predicted() for t in self.tracks]).reshape(-1, 4)
        ious = iou_matrix(boxes, preds)
        assigned: list[Track | None] = [None] * len(boxes)
        used: set[int] = set()
        cost = np.where(ious >= self.iou_threshold, -ious, np.inf)
        self._greedy(cost, boxes, assigned, used)
        self._greedy(self._jumps(boxes, preds), boxes, assigned, used)
        for j, track in enumerate(self.tracks):
            if j not in used:
                track.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        for i, box in enumerate(boxes):
            if assigned[i] is None:
                assigned[i] = Track(self._next_id, box.copy())
                self._next_id += 1
                self.tracks.append(assigned[i])
        for i, track in enumerate(assigned):
            track.landmarks = None if landmarks is None or landmarks[i] is None \
                else np.asarray(landmarks[i], np.float32).copy()
        return assigned  # type: ignore[return-value]

    def _greedy(self, cost: np.ndarray, boxes, assigned: list, used: set) -> None:
        """Match (detection, track) pairs by increasing finite cost, each at most once."""
        for flat in np.argsort(cost, axis=None, kind="stable"):
            i, j = divmod(int(flat), cost.shape[1])
            if not np.isfinite(cost[i, j]):
                break
            if assigned[i] is None and j not in used:
                assigned[i] = self._continue(self.tracks[j], boxes[i])
                used.add(j)

    def _jumps(self, boxes: np.ndarray, preds: np.ndarray) -> np.ndarray:
        """(N, M) centre distance / allowed distance; inf where not allowed."""
        if len(boxes) == 0 or len(preds) == 0:
            return np.full((len(boxes), len(preds)), np.inf)
        dist = np.linalg.norm(_centres(boxes)[:, None] - _centres(preds)[None], axis=2)
        gap = np.sqrt([t.elapsed + 1 for t in self.tracks])
        allowed = self.max_jump * np.sqrt(_areas(preds)) * gap
        ratio = _areas(boxes)[:, None] / _areas(preds)[None]
        ok = (dist <= allowed[None]) & (ratio < 2) & (ratio > 0.5)
        return np.where(ok, dist / allowed[None], np.inf)

    def coast(self) -> list[Track]:
        """A frame without detection: advance every track by its velocity; returns the tracks
        matched on their last detection frame (misses == 0), at ``Track.current()``."""
        for track in self.tracks:
            track.coasted += 1
        return [t for t in self.tracks if t.misses == 0]

    def _continue(self, track: Track, box: np.ndarray) -> Track:
        step = (box - track.box) / (track.elapsed + 1)
        track.velocity = self.momentum * track.velocity + (1 - self.momentum) * step
        track.box, track.misses, track.coasted = box.copy(), 0, 0
        track.hits += 1
        return track
