"""Cross-data-set evaluation sets (numpy + OpenCV, never torch).

- muxspace layout: ``<root>/manifest.csv`` with ``path,label,subject,split,width,height``, image
  paths relative to the manifest's folder, labels in FER2013 names (plus contempt);
- CK+48 scored by a FER2013 model: the six shared classes (litefer.labels.CKPLUS48_TO_FER2013),
  contempt left out;
- ``open_eval_set``: any of these, FER2013 CSV or a class-folder set, as one EvalSet whose labels
  are in the FER2013 space together with the classes its balanced accuracy averages over.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import FaceSet, load_any_folder, load_ckplus48, load_fer2013
from .data.folders import _read, detect_layout
from .errors import DatasetError
from .labels import (CKPLUS48_LEFT_OUT, CKPLUS48_TO_FER2013, FER2013, MUXSPACE_BALANCED,
                     MUXSPACE_LABELS, MUXSPACE_LEFT_OUT)

MANIFEST = "manifest.csv"
MANIFEST_FIELDS = ("path", "label", "subject", "split", "width", "height")
Size = tuple[int, int]


@dataclass(frozen=True)
class ManifestRow:
    """One manifest entry; ``line`` is its 1-based line number in the file (header = 1)."""

    path: Path
    label: str
    subject: str
    split: str
    width: int
    height: int
    line: int


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Parse a muxspace ``manifest.csv``; image paths are resolved against its folder.

    Raises DatasetError naming ``file:line`` for a missing/misnamed header column, a row with the
    wrong number of fields, an empty path/split, a label outside MUXSPACE_LABELS or a width/height
    that is not a positive integer.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"manifest not found: {path}; a muxspace folder holds {MANIFEST}")
    rows = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [f for f in MANIFEST_FIELDS if f not in header]
        if missing:
            raise DatasetError(f"{path}:1: header lacks {', '.join(missing)}; expected "
                               f"{','.join(MANIFEST_FIELDS)}")
        col = {f: header.index(f) for f in MANIFEST_FIELDS}
        for fields in reader:
            if fields:
                rows.append(_row(fields, col, len(header), f"{path}:{reader.line_num}",
                                 path.parent, reader.line_num))
    return rows


def _row(fields: list[str], col: dict, n: int, where: str, base: Path, line: int) -> ManifestRow:
    if len(fields) != n:
        raise DatasetError(f"{where}: expected {n} fields ({','.join(MANIFEST_FIELDS)}), "
                           f"got {len(fields)}")
    get = {f: fields[i].strip() for f, i in col.items()}
    if not get["path"] or not get["split"]:
        raise DatasetError(f"{where}: empty path or split")
    label = get["label"].lower()
    if label not in MUXSPACE_LABELS:
        raise DatasetError(f"{where}: unknown label {get['label']!r}; expected one of "
                           f"{', '.join(MUXSPACE_LABELS)}")
    try:
        width, height = int(get["width"]), int(get["height"])
    except ValueError:
        raise DatasetError(f"{where}: width/height must be integers, got "
                           f"{get['width']!r}, {get['height']!r}") from None
    if width <= 0 or height <= 0:
        raise DatasetError(f"{where}: width/height must be positive, got {width}x{height}")
    return ManifestRow(base / get["path"], label, get["subject"], get["split"], width, height, line)


def load_muxspace(root: str | Path, split: str | None = "test", size: Size = (96, 96),
                  grey: bool = False) -> FaceSet:
    """The ``split`` rows of ``root/manifest.csv`` (None or "all": every row) as a FaceSet in the
    FER2013 label space: uint8 (N, H, W, 3) RGB, or (N, H, W) grey, resized to ``size`` =
    (height, width) with INTER_AREA (non-square crops are stretched, as the runtime's
    preprocessing would). Contempt rows are left out and counted in ``skipped``; subjects come from
    the manifest; sources are the image paths. Raises DatasetError for a malformed manifest row
    (naming its line), an unknown split (naming those present) or an unreadable image (naming
    the file and its manifest line).
    """
    rows = read_manifest(Path(root) / MANIFEST)
    if split not in (None, "all"):
        present = sorted({r.split for r in rows})
        if split not in present:
            raise DatasetError(f"{root}: no split {split!r} in {MANIFEST}; present: "
                               f"{', '.join(present)} (or 'all')")
        rows = [r for r in rows if r.split == split]
    kept = [r for r in rows if r.label not in MUXSPACE_LEFT_OUT]
    if not kept:
        raise DatasetError(f"{root}: no images with a FER2013 label in split {split!r}")
    images = []
    for r in kept:
        try:
            images.append(_read(r.path, size, grey))
        except DatasetError as exc:
            raise DatasetError(f"{exc} (manifest line {r.line})") from None
    skipped = [f"{len(rows) - len(kept)} image(s) labelled {'/'.join(MUXSPACE_LEFT_OUT)} left out "
               "(no FER2013 class)"] if len(kept) < len(rows) else []
    return FaceSet(np.stack(images), np.array([FER2013.index(r.label) for r in kept], np.int64),
                   FER2013, np.array([r.subject for r in kept], dtype=object),
                   [str(r.path) for r in kept], skipped)


def load_ckplus_cross(root: str | Path, size: Size = (48, 48), grey: bool = True) -> FaceSet:
    """CK+48 (``root/<folder>/S*_*_*.png``) relabelled into the FER2013 space by the explicit
    CKPLUS48_TO_FER2013 table; contempt images are left out (counted in ``skipped``). A class
    folder in neither table raises DatasetError."""
    root = Path(root)
    fs = load_ckplus48(root, size, grey)
    folders = [Path(s).relative_to(root).parts[0].lower() for s in fs.sources]
    unknown = sorted({f for f in folders if f not in CKPLUS48_TO_FER2013
                      and f not in CKPLUS48_LEFT_OUT})
    if unknown:
        raise DatasetError(f"{root}: class folder(s) {', '.join(unknown)} have no cross-data-set "
                           f"mapping; expected {', '.join(CKPLUS48_TO_FER2013)} or contempt")
    keep = np.array([f in CKPLUS48_TO_FER2013 for f in folders])
    out = fs.subset(keep)
    out.labels = np.array([FER2013.index(CKPLUS48_TO_FER2013[f])
                           for f, k in zip(folders, keep) if k], np.int64)
    out.space = FER2013
    if not keep.all():
        out.skipped.append(f"{int((~keep).sum())} contempt image(s) left out (no FER2013 class)")
    return out


@dataclass
class EvalSet:
    """A labelled set ready for scoring: ``faces`` in the FER2013 label space (or the folder's
    own space), ``balanced_over`` the class names its balanced accuracy averages over."""

    key: str
    faces: FaceSet
    balanced_over: tuple[str, ...]
    kind: str


def open_eval_set(path: str | Path, split: str | None = None) -> EvalSet:
    """Load an evaluation set by path: FER2013 ``.csv``/``.csv.gz`` (split: a Usage, default
    PrivateTest), a muxspace folder (has manifest.csv; split default ``test``), CK+48 (the
    6-class cross-data-set; split ignored) or any class folder (split: its sub-folder).
    Raises DatasetError for a missing path or an unknown split."""
    p = Path(path)
    if p.name.endswith((".csv", ".csv.gz")):
        split = split or "PrivateTest"
        fs = load_fer2013(p, None if split == "all" else split)
        return EvalSet(f"fer2013:{split}", fs, FER2013.classes, "fer2013")
    if (p / MANIFEST).is_file():
        split = split or "test"
        fs = load_muxspace(p, split)
        return EvalSet(f"muxspace:{split}", fs, MUXSPACE_BALANCED, "muxspace")
    if split in (None, "all") and detect_layout(p) == "ckplus48":
        fs = load_ckplus_cross(p)
        return EvalSet("ckplus48", fs, tuple(CKPLUS48_TO_FER2013.values()), "ckplus48")
    fs = load_any_folder(p, None if split == "all" else split)
    present = tuple(c for c, n in fs.class_counts().items() if n > 0)
    return EvalSet(f"{p.name}:{split or 'all'}", fs, present, "folder")


def data_root(arg: str | Path | None = None) -> Path:
    """The shared data folder: ``arg``, else $LITEFER_DATA, else ../shared/data from the cwd."""
    if arg:
        return Path(arg)
    env = os.environ.get("LITEFER_DATA")
    return Path(env) if env else Path.cwd().parent / "shared" / "data"


def fer2013_file(root: Path) -> Path | None:
    """``root/fer2013.csv.gz`` or ``root/fer2013.csv``, whichever exists (None if neither)."""
    return next((root / n for n in ("fer2013.csv.gz", "fer2013.csv") if (root / n).is_file()),
                None)
