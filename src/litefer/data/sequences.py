"""Sequence datasets: CK+ image sequences, clip folders, and per-frame probability sequences.

SequenceSet holds frame *paths* (sequences are read on demand with ``load``, so a dataset of
thousands of 640x490 frames costs no memory until used). Loaders:

- ``load_ckplus_sequences(root)``: the original CK+ release, ``root/cohn-kanade-images/Sxxx/yyy/
  *.png`` with ``root/Emotion/Sxxx/yyy/*_emotion.txt`` (one float code 0..7; 0 neutral,
  1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise). Sequences go from
  neutral to the peak expression; the label belongs to the peak. Labels in the CKPLUS space.
- ``load_clip_folder(root)``: ``root/<label>/<clip>/<frame>.png`` (labels in ``space``, FER2013
  by default); frames in natural order ("2.png" before "10.png").

ProbSequences holds a classifier's per-frame probabilities over clips (the GRU's training data
and the robustness benchmark's input), saved as one .npz.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from ..labels import CKPLUS, FER2013, LabelSpace
from .base import Labelled
from .names import is_image_name

CKPLUS_CODES = {1: "angry", 2: "contempt", 3: "disgust", 4: "fear", 5: "happy", 6: "sad",
                7: "surprise"}


def natural_key(path: Path) -> list:
    """Sort key: digit runs compare as numbers ("f2" < "f10")."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", Path(path).name)]


@dataclass
class SequenceSet(Labelled):
    """frames: per sequence, its frame files in order; labels int64 (N,) into ``space``;
    subjects: per-sequence subject id ("" when unknown); sources: the sequence folders;
    skipped: messages for sequences or files left out (never silent)."""

    frames: list[list[Path]]
    labels: np.ndarray
    space: LabelSpace
    subjects: np.ndarray | None = None
    sources: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    _items = "frames"

    def __post_init__(self):
        self._check()

    def load(self, i: int, size: tuple[int, int] | None = None, grey: bool = True) -> np.ndarray:
        """Sequence ``i`` as uint8 (T, H, W) grey or (T, H, W, 3) RGB; ``size`` = (height, width)
        resizes every frame (INTER_AREA), None keeps the first frame's size. DatasetError names an
        unreadable frame."""
        from .folders import _read

        paths = self.frames[i]
        if size is None:
            size = _frame_size(paths[0])
        return np.stack([_read(p, size, grey) for p in paths])

    def subset(self, index) -> "SequenceSet":
        idx, rest = self._rows(index)
        return SequenceSet([self.frames[i] for i in idx], *rest)


def _frame_size(path: Path) -> tuple[int, int]:
    import cv2

    img = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise DatasetError(f"{path}: cannot decode image (corrupt or unsupported format)")
    return img.shape[:2]


def _frames_of(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and is_image_name(p)), key=natural_key)


def _subdirs(folder: Path) -> list[Path]:
    return sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")),
                  key=natural_key)


def read_ckplus_emotion(path: Path) -> str:
    """The class name in a CK+ ``*_emotion.txt`` file; DatasetError for anything else."""
    text = path.read_text().strip()
    try:
        code = float(text.split()[0])
    except (ValueError, IndexError):
        raise DatasetError(f"{path}: expected one emotion code, got {text[:40]!r}") from None
    if code != int(code) or int(code) not in CKPLUS_CODES:
        raise DatasetError(f"{path}: emotion code {code:g} is not one of 1..7 (CK+ has no "
                           "labelled neutral sequences)")
    return CKPLUS_CODES[int(code)]


def load_ckplus_sequences(root: str | Path, on_error: str = "raise") -> SequenceSet:
    """Labelled CK+ sequences of ``root`` (the folder holding cohn-kanade-images/ and Emotion/).

    Unlabelled sequences (no emotion file: 266 of CK+'s 593) are listed in ``skipped``. A bad
    emotion file or an empty sequence folder raises DatasetError, or is skipped with
    on_error="skip". subjects are "S005"-style ids.
    """
    root = Path(root)
    images, emotions = root / "cohn-kanade-images", root / "Emotion"
    for folder in (images, emotions):
        if not folder.is_dir():
            raise DatasetError(f"{root}: no {folder.name}/ folder; expected the CK+ layout "
                               "cohn-kanade-images/Sxxx/yyy/*.png and "
                               "Emotion/Sxxx/yyy/*_emotion.txt")
    frames, labels, subjects, sources, skipped = [], [], [], [], []
    for subject in _subdirs(images):
        for seq in _subdirs(subject):
            try:
                label, paths = _ckplus_sequence(seq, emotions / subject.name / seq.name)
            except DatasetError as exc:
                if on_error != "skip":
                    raise
                skipped.append(str(exc))
                continue
            if label is None:
                skipped.append(f"{seq}: no emotion label (unlabelled sequence)")
                continue
            frames.append(paths)
            labels.append(CKPLUS.index(label))
            subjects.append(subject.name)
            sources.append(str(seq))
    if not frames:
        raise DatasetError(f"{root}: no labelled sequences found ({len(skipped)} skipped)")
    return SequenceSet(frames, np.array(labels, np.int64), CKPLUS,
                       np.array(subjects, dtype=object), sources, skipped)


def _ckplus_sequence(seq: Path, label_dir: Path) -> tuple[str | None, list[Path]]:
    paths = _frames_of(seq)
    if not paths:
        raise DatasetError(f"{seq}: sequence folder holds no images")
    files = sorted(label_dir.glob("*_emotion.txt")) if label_dir.is_dir() else []
    return (read_ckplus_emotion(files[0]) if files else None), paths


def load_clip_folder(root: str | Path, space: LabelSpace = FER2013,
                     on_error: str = "raise") -> SequenceSet:
    """Clips of ``root/<label>/<clip>/<frame image>``; label folder names go through
    ``space.index`` (aliases allowed). Unknown label folders and empty clips raise
    DatasetError, or are skipped with on_error="skip"."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"clip folder not found: {root}")
    frames, labels, sources, skipped = [], [], [], []
    for label_dir in _subdirs(root):
        try:
            label = space.index(label_dir.name)
            clips = [(c, _frames_of(c)) for c in _subdirs(label_dir)]
            for clip, paths in clips:
                if not paths:
                    raise DatasetError(f"{clip}: clip folder holds no images")
        except DatasetError as exc:
            if on_error != "skip":
                raise
            skipped.append(str(exc))
            continue
        for clip, paths in clips:
            frames.append(paths)
            labels.append(label)
            sources.append(str(clip))
    if not frames:
        raise DatasetError(f"{root}: no clips found; expected <label>/<clip>/<frame>.png")
    return SequenceSet(frames, np.array(labels, np.int64), space, None, sources, skipped)


@dataclass
class ProbSequences:
    """probs float32 (N, T, K): a classifier's per-frame probabilities over N clips; present
    bool (N, T): False where the clip's face was not detected (no probabilities, NaN rows);
    labels int64 (N,): each clip's true class (constant over the clip); classes: class
    names in probability order; meta: provenance (classifier, split, clip config)."""

    probs: np.ndarray
    present: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n, t_len, k = self.probs.shape
        if self.present.shape != (n, t_len) or self.labels.shape != (n,) or k != len(self.classes):
            raise ValueError(f"inconsistent shapes: probs {self.probs.shape}, present "
                             f"{self.present.shape}, labels {self.labels.shape}, "
                             f"{len(self.classes)} classes")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> "ProbSequences":
        idx = np.arange(len(self))[index]
        return ProbSequences(self.probs[idx], self.present[idx], self.labels[idx], self.classes,
                             dict(self.meta))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, probs=self.probs, present=self.present, labels=self.labels,
                            classes=np.array(self.classes), meta=np.array(json.dumps(self.meta)))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ProbSequences":
        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"probability sequences not found: {path} (make them with "
                               "scripts/make_clips.py)")
        with np.load(path, allow_pickle=False) as z:
            return cls(z["probs"].astype(np.float32), z["present"].astype(bool),
                       z["labels"].astype(np.int64), tuple(str(c) for c in z["classes"]),
                       json.loads(str(z["meta"])))


def splice(seqs: ProbSequences, idx: np.ndarray, switch_prob: float, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sequences ``idx`` -> (probs (B, T, K), present (B, T), per-step targets (B, T), cut (B,)).

    A ``switch_prob`` share of the rows continues, from a cut point in the middle half of the
    clip, with the same frames of a clip of another class: an expression change as the GRU must
    follow it. cut is T for rows left whole. Probabilities stay NaN where not present.
    """
    probs, present = seqs.probs[idx].copy(), seqs.present[idx].copy()
    t_len = probs.shape[1]
    targets = np.repeat(seqs.labels[idx, None], t_len, 1)
    cuts = np.full(len(idx), t_len)
    for row in np.flatnonzero(rng.random(len(idx)) < switch_prob):
        others = np.flatnonzero(seqs.labels != targets[row, 0])
        if not len(others):
            continue
        j, cut = int(rng.choice(others)), int(rng.integers(t_len // 4, 3 * t_len // 4 + 1))
        probs[row, cut:], present[row, cut:] = seqs.probs[j, cut:], seqs.present[j, cut:]
        targets[row, cut:], cuts[row] = seqs.labels[j], cut
    return probs, present, targets, cuts
