"""Image-file datasets: class folders, CK+48, KDEF and JAFFE, decoded with OpenCV.

Every loader returns a FaceSet of uint8 images at ``size`` = (height, width), resized with
INTER_AREA: (N, H, W) grey when ``grey`` else (N, H, W, 3) in RGB order (never BGR). Files are
visited in sorted path order, so the result is deterministic; ``sources`` are the file paths.
Dotfiles are ignored; other non-image files are listed in ``skipped`` and never decoded.
on_error="raise" raises DatasetError naming the file; "skip" records the message in ``skipped``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..errors import DatasetError
from ..labels import CKPLUS, FER2013, LabelSpace
from .base import FaceSet
from .names import (KDEF_ANGLES, is_image_name, parse_ckplus_name, parse_jaffe_name,
                    parse_kdef_name)

ON_ERROR = ("raise", "skip")
# FER2013 split names -> common folder names, in order of preference (lowercase).
SPLIT_FOLDERS = {
    "training": ("train", "training"),
    "publictest": ("val", "valid", "validation", "publictest", "test"),
    "privatetest": ("test", "privatetest"),
}
Size = tuple[int, int]


@dataclass(frozen=True)
class _Item:
    path: Path
    label: int
    subject: str = ""


def _check_args(size: Size, on_error: str) -> Size:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    h, w = (int(v) for v in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be two positive ints (height, width), got {size!r}")
    return h, w


def _need_dir(path: str | Path) -> Path:
    path = Path(path)
    if path.is_file():
        raise DatasetError(f"{path} is a file, not a dataset folder: give a FER2013 CSV "
                           "(.csv / .csv.gz) or a folder (class subfolders, CK+48, muxspace "
                           "manifest.csv)")
    if not path.is_dir():
        raise DatasetError(f"dataset folder not found: {path}")
    return path


def _handle(exc: DatasetError, on_error: str, skipped: list[str]) -> None:
    if on_error == "raise":
        raise exc
    skipped.append(str(exc))


def _read(path: Path, size: Size, grey: bool) -> np.ndarray:
    """One file -> uint8 (H, W) grey or (H, W, 3) RGB at ``size``; DatasetError if unreadable."""
    try:
        buf = np.fromfile(str(path), dtype=np.uint8)  # imread cannot open non-ASCII paths
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    except (OSError, cv2.error) as exc:
        raise DatasetError(f"{path}: cannot read image ({exc})") from None
    if img is None or img.size == 0:
        raise DatasetError(f"{path}: cannot decode image (corrupt or unsupported format)")
    if not grey:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    h, w = size
    if img.shape[:2] != (h, w):
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return img


def _images_under(folder: Path, skipped: list[str]) -> list[Path]:
    """Image files below ``folder`` (recursive, sorted); non-image files are noted in skipped."""
    found = []
    for p in sorted(folder.rglob("*")):
        if p.name.startswith(".") or not p.is_file():
            continue
        if is_image_name(p):
            found.append(p)
        else:
            skipped.append(f"{p}: ignored, not an image file")
    return found


def _build(root: Path, items: list[_Item], space: LabelSpace, size: Size, grey: bool,
           on_error: str, skipped: list[str]) -> FaceSet:
    images, kept = [], []
    for item in items:
        try:
            images.append(_read(item.path, size, grey))
        except DatasetError as exc:
            _handle(exc, on_error, skipped)
            continue
        kept.append(item)
    if not images:
        raise DatasetError(f"{root}: no images loaded ({len(skipped)} inputs skipped)"
                           + (f"; first: {skipped[0]}" if skipped else ""))
    return FaceSet(np.stack(images), np.array([i.label for i in kept], np.int64), space,
                   np.array([i.subject for i in kept], dtype=object),
                   [str(i.path) for i in kept], skipped)


def _label_or_none(space: LabelSpace, name: str) -> int | None:
    try:
        return space.index(name)
    except DatasetError:
        return None


def _class_items(root: Path, space: LabelSpace, on_error: str, skipped: list[str],
                 subject_of: Callable[[Path], str] | None = None) -> list[_Item]:
    """Items of ``root/<class>/**``; class names go through ``space.index`` (aliases allowed)."""
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    labels = {d: _label_or_none(space, d.name) for d in dirs}
    if not any(v is not None for v in labels.values()):
        found = ", ".join(d.name for d in dirs) or "none"
        raise DatasetError(
            f"{root}: no class sub-folders (found: {found}); expected one folder per class named "
            f"like {', '.join(space.classes)} for label space {space.name!r}")
    items = []
    for d in dirs:
        if labels[d] is None:
            _handle(DatasetError(f"{d}: unknown class folder {d.name!r}; expected one of "
                                 f"{', '.join(space.classes)}"), on_error, skipped)
            continue
        for p in _images_under(d, skipped):
            try:
                items.append(_Item(p, labels[d], subject_of(p) if subject_of else ""))
            except DatasetError as exc:
                _handle(exc, on_error, skipped)
    return items


def load_image_folder(root: str | Path, space: LabelSpace = FER2013, size: Size = (48, 48),
                      grey: bool = True, on_error: str = "raise") -> FaceSet:
    """Load ``root/<class>/**/<image>``: one sub-folder per class of ``space``.

    Raises DatasetError for a missing/empty root, a root whose sub-folders match no class, an
    unknown class folder or an undecodable image (the last two are skipped with on_error="skip").
    """
    size = _check_args(size, on_error)
    root, skipped = _need_dir(root), []
    items = _class_items(root, space, on_error, skipped)
    return _build(root, items, space, size, grey, on_error, skipped)


def load_ckplus48(root: str | Path, size: Size = (48, 48), grey: bool = True,
                  on_error: str = "raise") -> FaceSet:
    """Load CK+48 (``root/<class>/S<subject>_<seq>_<frame>.png``) in the 7-class CKPLUS space.

    ``subjects`` holds ids like "S010"; a file name off that pattern is a DatasetError.
    """
    size = _check_args(size, on_error)
    root, skipped = _need_dir(root), []
    items = _class_items(root, CKPLUS, on_error, skipped,
                         lambda p: parse_ckplus_name(p).subject)
    return _build(root, items, CKPLUS, size, grey, on_error, skipped)


def load_kdef(root: str | Path, angles: tuple[str, ...] = ("S",), size: Size = (48, 48),
              grey: bool = True, on_error: str = "raise") -> FaceSet:
    """Load KDEF images found recursively below ``root`` (e.g. ``AF01/AF01ANS.JPG``).

    Keeps the camera ``angles`` given (S, HL, HR, FL, FR); labels in FER2013 space; subjects
    like "F01" (both sessions of a person share one id). Whole images are resized, not cropped.
    """
    size = _check_args(size, on_error)
    angles = (angles,) if isinstance(angles, str) else tuple(angles)
    wanted = {a.upper() for a in angles}
    if not wanted or not wanted <= set(KDEF_ANGLES):
        raise DatasetError(f"unknown KDEF angles {angles!r}; expected some of {KDEF_ANGLES}")
    root, skipped = _need_dir(root), []
    items = _named_items(root, parse_kdef_name, on_error, skipped, lambda n: n.angle in wanted)
    return _build(root, items, FER2013, size, grey, on_error, skipped)


def _named_items(root: Path, parse, on_error: str, skipped: list[str], keep=None) -> list:
    """One _Item per image below ``root`` whose name ``parse`` reads (expression, subject) and
    ``keep`` accepts; names it cannot read go through ``on_error``."""
    items = []
    for p in _images_under(root, skipped):
        try:
            n = parse(p)
        except DatasetError as exc:
            _handle(exc, on_error, skipped)
            continue
        if keep is None or keep(n):
            items.append(_Item(p, FER2013.index(n.expression), n.subject))
    return items


def load_jaffe(root: str | Path, size: Size = (48, 48), grey: bool = True,
               on_error: str = "raise") -> FaceSet:
    """Load JAFFE images (``KA.AN1.39.tiff``) found recursively below ``root``.

    Labels in FER2013 space; subjects are the initials ("KA"). Whole images are resized.
    """
    size = _check_args(size, on_error)
    root, skipped = _need_dir(root), []
    items = _named_items(root, parse_jaffe_name, on_error, skipped)
    return _build(root, items, FER2013, size, grey, on_error, skipped)


def _first_image(folder: Path) -> str | None:
    with os.scandir(folder) as it:
        names = sorted(e.name for e in it if e.is_file() and not e.name.startswith("."))
    return next((n for n in names if is_image_name(n)), None)


def _parses(parser: Callable, name: str | None) -> bool:
    try:
        parser(name)
    except DatasetError:
        return False
    return True


def detect_layout(root: str | Path) -> str:
    """The layout of ``root``: "jaffe" (JAFFE names directly in root), "ckplus48" (the first
    image of every sub-folder is a CK+ name), "kdef" (likewise KDEF names, in folders that are
    not class names), else "classes" (one sub-folder per class)."""
    root = _need_dir(root)
    if _parses(parse_jaffe_name, _first_image(root) or ""):
        return "jaffe"
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    firsts = [f for f in map(_first_image, dirs) if f is not None]
    if firsts and all(_parses(parse_ckplus_name, f) for f in firsts):
        return "ckplus48"
    # KDEF images sorted into class folders stay a class-folder set (all angles kept).
    class_dirs = any(_label_or_none(FER2013, d.name) is not None for d in dirs)
    if firsts and not class_dirs and all(_parses(parse_kdef_name, f) for f in firsts):
        return "kdef"
    return "classes"


def split_folder(root: str | Path, split: str) -> Path:
    """The sub-folder of ``root`` holding ``split``: a folder named ``split`` itself, else the
    SPLIT_FOLDERS names of a FER2013 split (case-insensitive; PublicTest prefers val over test)."""
    root = _need_dir(root)
    subs: dict[str, Path] = {}
    for d in sorted(root.iterdir()):
        if d.is_dir():
            subs.setdefault(d.name.lower(), d)
    names = tuple(dict.fromkeys((split.lower(),) + SPLIT_FOLDERS.get(split.lower(), ())))
    for name in names:
        if name in subs:
            return subs[name]
    raise DatasetError(f"{root}: no sub-folder for split {split!r}; expected one of "
                       f"{', '.join(names)} (any case); use split=None to load the whole folder")


_LOADERS = {"jaffe": load_jaffe, "ckplus48": load_ckplus48, "kdef": load_kdef,
            "classes": load_image_folder}


def load_any_folder(path: str | Path, split: str | None = None) -> FaceSet:
    """Load a dataset folder with default options: the ``split`` sub-folder when given (see
    split_folder; DatasetError when absent), else the whole folder, by its detect_layout."""
    root = _need_dir(path) if split is None else split_folder(path, split)
    return _LOADERS[detect_layout(root)](root)
