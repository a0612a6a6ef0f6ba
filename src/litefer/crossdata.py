"""Cross-data-set evaluation sets (numpy + OpenCV, never torch).

- muxspace layout (``manifest.csv`` with path,label,subject,split,width,height; read by
  litefer.data.load_muxspace): labels in FER2013 names, contempt left out;
- CK+48 scored by a FER2013 model: the six shared classes (litefer.labels.CKPLUS48_TO_FER2013),
  contempt left out;
- ``open_eval_set``: any of these, FER2013 CSV or a class-folder set, as one EvalSet whose labels
  are in the FER2013 space together with the classes its balanced accuracy averages over.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import (FaceSet, is_muxspace, load_any_folder, load_ckplus48, load_fer2013,
                   load_muxspace)
from .data.folders import detect_layout
from .errors import DatasetError
from .labels import CKPLUS48_LEFT_OUT, CKPLUS48_TO_FER2013, FER2013, MUXSPACE_BALANCED

Size = tuple[int, int]
MUXSPACE_SIZE = (96, 96)  # the rebuilt muxspace crops' longer side; RGB kept for any model


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
    PrivateTest), a muxspace folder (has manifest.csv; split default ``test``; 96 x 96 RGB, non-
    square crops stretched as the runtime's preprocessing would), CK+48 (the
    6-class cross-data-set; split ignored) or any class folder (split: its sub-folder).
    Raises DatasetError for a missing path or an unknown split."""
    p = Path(path)
    if p.name.endswith((".csv", ".csv.gz")):
        split = split or "PrivateTest"
        fs = load_fer2013(p, None if split == "all" else split)
        return EvalSet(f"fer2013:{split}", fs, FER2013.classes, "fer2013")
    if is_muxspace(p):
        split = split or "test"
        fs = load_muxspace(p, None if split == "all" else split, MUXSPACE_SIZE, grey=False)
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
