"""Which files a folder tree or glob holds: the image walk of `litefer analyze` and bulk jobs."""
from __future__ import annotations

import glob
import os
from pathlib import Path

from .errors import InvalidImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".webp", ".tif", ".tiff",
                              ".pgm", ".ppm", ".pnm", ".jp2", ".gif"})


def list_images(source: str | Path, errors: list[tuple[str, str]] | None = None) -> list[Path]:
    """Image files (IMAGE_EXTENSIONS, any case) of a folder (recursive, hidden ".*" names such as
    macOS "._x.jpg" stubs skipped) or a glob, sorted; a single file is returned as given.
    errors: when given, (folder, message) is appended for every subfolder that cannot be read.
    Raises InvalidImageError when a path without glob characters does not exist."""
    text, path = str(source), Path(source)
    if path.is_file():
        return [path]
    if not path.is_dir() and not glob.has_magic(text):
        raise InvalidImageError(f"{text}: no such file or folder")
    return walk_files(text, lambda p: p.suffix.lower() in IMAGE_EXTENSIONS, errors)


def walk_files(source: str | Path, wanted,
               errors: list[tuple[str, str]] | None = None) -> list[Path]:
    """Files of a folder tree (recursive; names and folders starting with "." skipped; links to
    folders not followed) or of a glob (recursive "**"), for which ``wanted(path)`` is true,
    sorted. errors: when given, (folder, "FOLDER: folder cannot be read (why)") is appended for
    every folder of the tree that cannot be listed (otherwise such folders are skipped)."""
    text, path = str(source), Path(source)
    if not path.is_dir():
        found = [Path(p) for p in glob.glob(text, recursive=True)]
        return sorted(p for p in found if p.is_file() and not p.name.startswith(".") and wanted(p))

    def unreadable(exc: OSError) -> None:
        if errors is not None:
            errors.append((str(exc.filename),
                           f"{exc.filename}: folder cannot be read ({exc.strerror or exc})"))

    found = []
    for root, dirs, files in os.walk(path, onerror=unreadable):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(root) / f for f in files if not f.startswith("."))
    return sorted(p for p in found if p.is_file() and wanted(p))
