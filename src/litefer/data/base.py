"""FaceSet: an in-memory labelled set of face crops, the common currency of every loader."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..labels import LabelSpace


class Labelled:
    """What FaceSet and SequenceSet share: ``labels`` (N,), per-item ``subjects``, ``sources``,
    ``skipped`` messages. Subclasses name their items (images, frame lists) in ``_items``."""

    _items = "images"

    def _check(self) -> None:
        if len(getattr(self, self._items)) != len(self.labels):
            raise ValueError(f"{self._items} and labels differ in length")
        if self.subjects is None:
            self.subjects = np.array([""] * len(self.labels), dtype=object)

    def __len__(self) -> int:
        return len(self.labels)

    def _rows(self, index) -> tuple[np.ndarray, tuple]:
        """(selected row indices, the shared fields after ``labels`` restricted to them)."""
        idx = np.arange(len(self))[index]
        return idx, (self.labels[idx], self.space, self.subjects[idx],
                     [self.sources[i] for i in idx] if self.sources else [], list(self.skipped))


@dataclass
class FaceSet(Labelled):
    """images: uint8 (N, H, W) grey or (N, H, W, 3) RGB; labels: int64 (N,) indices into ``space``;
    subjects: per-image subject id ("" when unknown); sources: file names or "file:line";
    skipped: messages for inputs skipped with ``on_error="skip"`` (counted, never silent)."""

    images: np.ndarray
    labels: np.ndarray
    space: LabelSpace
    subjects: np.ndarray | None = None
    sources: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._check()

    def subset(self, index) -> "FaceSet":
        """Rows selected by a boolean mask or an index array."""
        idx, rest = self._rows(index)
        return FaceSet(self.images[idx], *rest)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.space))
        return {c: int(n) for c, n in zip(self.space.classes, counts)}
