"""The muxspace layout: ``manifest.csv`` (path,label,subject,split,...) beside the image files.

``load_muxspace(root, split)`` returns a FaceSet in the FER2013 label space: labels outside it
(muxspace's ``contempt``) are left out and counted in ``skipped``; subjects come from the
manifest, so the split stays person-disjoint. Images are decoded like every folder loader
(``folders._read``: grey or RGB, resized with INTER_AREA to ``size``).
"""
from __future__ import annotations

import csv
from pathlib import Path

from ..errors import DatasetError
from ..labels import FER2013, MUXSPACE_LEFT_OUT
from .base import FaceSet
from .folders import Size, _Item, _build, _check_args, _need_dir

MANIFEST = "manifest.csv"
REQUIRED = ("path", "label", "subject", "split")


def is_muxspace(root: str | Path) -> bool:
    """True when ``root`` is a folder holding a ``manifest.csv``."""
    return (Path(root) / MANIFEST).is_file()


def read_manifest(root: str | Path, split: str | None = None) -> tuple[list[_Item], list[str]]:
    """Rows of ``root/manifest.csv`` whose ``split`` equals ``split`` (all rows when None).

    Returns (items in file order with FER2013 label indices, skipped messages for the labels in
    MUXSPACE_LEFT_OUT). Raises DatasetError naming the line for a row with a missing field, an
    empty path, an unknown label or a path that leaves ``root``; and when the manifest lacks a
    required column.
    """
    root = _need_dir(root)
    path = root / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{root}: no {MANIFEST} (expected columns {', '.join(REQUIRED)})")
    items, skipped, splits = [], [], set()
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
        for row in reader:
            line = reader.line_num
            values = {k: (row.get(k) or "").strip() for k in REQUIRED}
            if None in row or any(not values[k] for k in ("path", "label", "split")):
                raise DatasetError(f"{path}:{line}: malformed row (expected {', '.join(REQUIRED)})")
            splits.add(values["split"])
            if split is not None and values["split"] != split:
                continue
            file = (root / values["path"]).resolve()
            if root.resolve() not in file.parents:
                raise DatasetError(f"{path}:{line}: path {values['path']!r} leaves {root}")
            name = values["label"].lower()
            if name in MUXSPACE_LEFT_OUT:
                skipped.append(f"{path}:{line}: label {name!r} not in {FER2013.name}, left out")
                continue
            try:
                label = FER2013.index(name)
            except DatasetError as exc:
                raise DatasetError(f"{path}:{line}: {exc}") from None
            items.append(_Item(file, label, values["subject"]))
    if split is not None and split not in splits:
        raise DatasetError(f"{path}: no rows with split {split!r}; splits: {', '.join(sorted(splits))}")
    return items, skipped


def load_muxspace(root: str | Path, split: str | None = "train", size: Size = (48, 48),
                  grey: bool = True, on_error: str = "raise") -> FaceSet:
    """FaceSet of the ``split`` rows (uint8 (N, H, W) grey, or (N, H, W, 3) RGB), FER2013 labels."""
    size = _check_args(size, on_error)
    items, skipped = read_manifest(root, split)
    return _build(Path(root), items, FER2013, size, grey, on_error, skipped)
