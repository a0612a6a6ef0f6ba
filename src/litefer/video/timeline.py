"""Per-track emotion timelines in bounded memory, drawn as one PNG per track.

TimelineBuffer keeps at most ``capacity`` points per track: when full, neighbouring points are
averaged in pairs and each later point covers twice as many frames, so a track of any length
costs the same memory (a 10-hour camera track keeps ``capacity`` points of ~70 s each).
Timelines (TimelineWriter) are written when their track ends (leaves the tracker) or at the
end of the stream, and then freed. Drawing needs matplotlib (optional); it is used through its
object API (Figure + Agg canvas), so no global backend or pyplot state is touched.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


class TimelineBuffer:
    """Times (seconds) and probabilities (K,) of one track, at most ``capacity`` points."""

    def __init__(self, num_classes: int, capacity: int = 1024):
        if capacity < 2 or capacity % 2:
            raise ValueError(f"capacity must be an even number >= 2, got {capacity}")
        self.capacity, self.frames = capacity, 0
        self._t = np.zeros(capacity)
        self._p = np.zeros((capacity, num_classes))
        self._n, self._bucket, self._acc, self._acc_n = 0, 1, None, 0

    def add(self, t: float, probs: np.ndarray) -> None:
        """One frame of the track; points are averages over ``bucket`` frames."""
        self.frames += 1
        row = np.concatenate([[t], np.asarray(probs, np.float64)])
        self._acc = row if self._acc is None else self._acc + row
        self._acc_n += 1
        if self._acc_n < self._bucket:
            return
        mean = self._acc / self._acc_n
        self._t[self._n], self._p[self._n] = mean[0], mean[1:]
        self._n += 1
        self._acc, self._acc_n = None, 0
        if self._n == self.capacity:  # full: pairs -> one point, each bucket twice as long
            self._t[: self._n // 2] = self._t[: self._n].reshape(-1, 2).mean(1)
            self._p[: self._n // 2] = self._p[: self._n].reshape(-1, 2, self._p.shape[1]).mean(1)
            self._n //= 2
            self._bucket *= 2

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """(times (M,), probabilities (M, K)), M < capacity + 1 (a partial bucket included)."""
        t, p = self._t[: self._n], self._p[: self._n]
        if self._acc is not None:
            mean = self._acc / self._acc_n
            t, p = np.append(t, mean[0]), np.vstack([p, mean[1:]])
        return t, p


def matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def plot_timeline(path: str | Path, times: np.ndarray, probs: np.ndarray,
                  labels: tuple[str, ...], title: str) -> Path:
    """Write a PNG: one line per class over time (seconds). Needs matplotlib."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..draw import COLOURS

    fig = Figure(figsize=(8, 3), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for k, name in enumerate(labels):
        colour = tuple(c / 255 for c in COLOURS.get(name, (0, 0, 0)))
        ax.plot(times, probs[:, k], label=name, color=colour, linewidth=1.2)
    ax.set(xlabel="time (s)", ylabel="probability", ylim=(0, 1), title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(str(path), format="png")
    return path


class TimelineWriter:
    """Collects each track's probabilities and writes ``<stem>.track<ID>.png`` into ``folder``
    when the track ends; tracks with fewer than ``min_frames`` frames are not drawn."""

    def __init__(self, folder: Path, stem: str, labels: tuple[str, ...], min_frames: int = 5,
                 capacity: int = 1024):
        self.folder, self.stem, self.labels = Path(folder), stem, tuple(labels)
        self.min_frames, self.capacity = min_frames, capacity
        self.buffers: dict[int, TimelineBuffer] = {}
        self.written: list[Path] = []

    def add(self, result, alive_ids) -> None:
        """Record the faces of one Result; flush tracks not in ``alive_ids`` (the tracker's)."""
        for face in result.faces:
            if face.track_id is None:
                continue
            buf = self.buffers.get(face.track_id)
            if buf is None:
                buf = self.buffers[face.track_id] = TimelineBuffer(len(self.labels), self.capacity)
            buf.add(result.time_s or 0.0, face.probs)
        alive = set(alive_ids)
        for tid in [t for t in self.buffers if t not in alive]:
            self._flush(tid)

    def close(self) -> list[Path]:
        """Write every remaining track; returns all PNGs written."""
        for tid in list(self.buffers):
            self._flush(tid)
        return self.written

    def _flush(self, tid: int) -> None:
        buf = self.buffers.pop(tid)
        if buf.frames < self.min_frames:
            return
        t, p = buf.points()
        path = self.folder / f"{self.stem}.track{tid}.png"
        self.written.append(plot_timeline(path, t, p, self.labels,
                                          f"{self.stem} track {tid} ({buf.frames} frames)"))
