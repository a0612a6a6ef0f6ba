"""FER2013 in its canonical CSV layout: ``emotion,pixels,Usage`` (``.csv`` or ``.csv.gz``)."""
from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from ..labels import FER2013
from .base import FaceSet

SPLITS = ("Training", "PublicTest", "PrivateTest")
SIDE = 48


def _open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _parse_row(row: list[str], where: str, usage_col: int, wanted=None
               ) -> tuple[int, np.ndarray | None, str]:
    """-> (label, 48x48 uint8 or None when the row's Usage is not ``wanted``, Usage)."""
    if len(row) <= usage_col:
        raise DatasetError(f"{where}: expected 3 fields (emotion,pixels,Usage), got {len(row)}")
    try:
        label = int(row[0])
    except ValueError:
        raise DatasetError(f"{where}: emotion {row[0]!r} is not an integer") from None
    if not 0 <= label < len(FER2013):
        raise DatasetError(f"{where}: unknown label {label}; FER2013 labels are 0..6")
    usage = row[usage_col].strip()
    if usage not in SPLITS:
        raise DatasetError(f"{where}: unknown Usage {usage!r}; expected one of {', '.join(SPLITS)}")
    if wanted and usage not in wanted:
        return label, None, usage  # pixels of unrequested splits are not parsed (speed)
    try:
        pixels = np.array(row[1].split(), dtype=np.int32)
    except (ValueError, OverflowError):  # e.g. "1e3" or "99999999999"
        raise DatasetError(f"{where}: pixels contain a non-integer value") from None
    if pixels.size != SIDE * SIDE:
        raise DatasetError(f"{where}: expected {SIDE * SIDE} pixel values, got {pixels.size}")
    if pixels.min() < 0 or pixels.max() > 255:
        raise DatasetError(f"{where}: pixel values must lie in 0..255")
    return label, pixels.astype(np.uint8).reshape(SIDE, SIDE), usage


def load_fer2013(path: str | Path, splits: str | tuple[str, ...] | None = None,
                 on_error: str = "raise") -> FaceSet:
    """Load FER2013 rows whose Usage is in ``splits`` (all when None) as 48x48 grey crops.

    on_error: "raise" (DatasetError naming file:line) or "skip" (counted in ``FaceSet.skipped``).
    Sources are "Usage:index-within-split" so a row can be found again.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"FER2013 file not found: {path}")
    if isinstance(splits, str):
        splits = (splits,)
    for s in splits or ():
        if s not in SPLITS:
            raise DatasetError(f"unknown split {s!r}; expected one of {', '.join(SPLITS)}")
    images, labels, sources, skipped = [], [], [], []
    per_split = {s: 0 for s in SPLITS}
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or [h.strip().lower() for h in header[:3]] != ["emotion", "pixels", "usage"]:
            raise DatasetError(f"{path}:1: header must be 'emotion,pixels,Usage', got {header}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            try:
                label, img, usage = _parse_row(row, where, 2, splits)
            except DatasetError as exc:
                if on_error != "skip":
                    raise
                skipped.append(str(exc))
                continue
            n = per_split[usage]
            per_split[usage] += 1
            if splits and usage not in splits:
                continue
            images.append(img)
            labels.append(label)
            sources.append(f"{usage}:{n}")
    if not images:
        raise DatasetError(f"{path}: no rows for splits {splits}")
    return FaceSet(np.stack(images), np.array(labels, np.int64), FER2013, sources=sources,
                   skipped=skipped)
