"""What a bulk job reads, and how it is cut into units of work (no Ray here).

Inputs come from a folder tree (recursive), a glob, a manifest file (one path per line) or one
file. Images and videos are both accepted; the order is the order of the records written:
folders and globs sorted exactly as ``litefer.io.list_images`` sorts them (so an images-only
folder gives the single-process path's order), manifests as listed (duplicates dropped). Each
page of a multi-page TIFF is an input of its own, as in `litefer analyze` without --engine.

A unit is what one actor call handles: up to ``batch_size`` images (one batched classifier call,
the same chunks as ``litefer analyze`` without --engine), or one frame range of a video.
"""
from __future__ import annotations

import glob
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InvalidImageError
from ..io import IMAGE_EXTENSIONS, MULTIPAGE_EXTENSIONS, page_count, walk_files

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg",
                              ".wmv"})
MANIFEST_EXTENSIONS = frozenset({".txt", ".lst", ".list", ".manifest"})


@dataclass(frozen=True)
class Input:
    """source: the name written in the records (the path as listed; "PATH#page=N" for page N,
    counted from 1, of a multi-page TIFF); path: absolute path the workers open (their working
    directory is not the driver's); kind: "image" or "video"; page: the 0-based TIFF page (None:
    the whole file)."""

    source: str
    path: str
    kind: str
    page: int | None = None


@dataclass(frozen=True)
class Unit:
    """One actor call. index: position in the job (records are written in unit order);
    images: inputs of an image chunk; video: the video input and its frames [start, stop)
    (stop None: to the end), last: whether this range ends the video."""

    index: int
    images: tuple[Input, ...] = ()
    video: Input | None = None
    start: int = 0
    stop: int | None = None
    last: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Unit":
        d = json.loads(text)
        video = None if d["video"] is None else Input(**d["video"])
        return cls(d["index"], tuple(Input(**i) for i in d["images"]), video, d["start"],
                   d["stop"], d["last"])

    @property
    def sources(self) -> list[str]:
        return [self.video.source] if self.video else [i.source for i in self.images]


def kind_of(path: str | Path) -> str | None:
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    return "video" if suffix in VIDEO_EXTENSIONS else None


def list_inputs(source: str | Path, errors: list[tuple[str, str]] | None = None) -> list[Input]:
    """Images and videos of a folder tree, glob, manifest (.txt/.lst/.list/.manifest: one path a
    line, '#' comments, relative paths taken from the manifest's folder) or a single file.
    errors: when given, (folder, message) is appended for each subfolder that cannot be read.
    Raises InvalidImageError when nothing usable (and no unreadable folder) is found or the
    source does not exist."""
    text, path = str(source), Path(source)
    found: list[tuple[str, str]] = []
    if path.is_file() and path.suffix.lower() in MANIFEST_EXTENSIONS:
        inputs = _manifest(path)
    elif path.is_file():
        inputs = [_input(path)] if kind_of(path) else []
    elif path.is_dir() or glob.has_magic(text):
        inputs = [_input(p) for p in walk_files(text, kind_of, found)]  # list_images' order
    else:
        raise InvalidImageError(f"{text}: no such file, folder or manifest")
    if not inputs and not (found and errors is not None):
        raise InvalidImageError(f"no images or videos found at {text!r}")
    if errors is not None:
        errors.extend(found)
    return [page for item in inputs for page in _pages(item)]


def _pages(item: Input) -> list[Input]:
    """One input per page of a multi-page TIFF, named as `litefer analyze` names them; any other
    input (a missing or one-page file included) as it is."""
    if item.kind != "image" or Path(item.path).suffix.lower() not in MULTIPAGE_EXTENSIONS:
        return [item]
    count = page_count(item.path)
    if count == 1:
        return [item]
    return [Input(f"{item.source}#page={k + 1}", item.path, "image", k) for k in range(count)]


def error_records(errors: list[tuple[str, str]], done=frozenset()) -> list[str]:
    """JSON lines (Result.to_dict()) reporting each (folder, message) whose folder is not in
    ``done`` (already written: --resume)."""
    from ..types import Result

    return [json.dumps(Result(folder, error=msg).to_dict()) for folder, msg in errors
            if folder not in done]


def _manifest(path: Path) -> list[Input]:
    seen, inputs = set(), []
    for line in path.read_text().splitlines():
        name = line.strip()
        if not name or name.startswith("#") or name in seen:
            continue
        seen.add(name)
        target = Path(name) if Path(name).is_absolute() else path.parent / name
        inputs.append(Input(name, str(target.resolve()), kind_of(name) or "image"))
    return inputs


def _input(p: Path) -> Input:
    return Input(str(p), str(p.resolve()), kind_of(p) or "image")


def plan_units(inputs: list[Input], batch_size: int, range_frames: int,
               frame_counts: dict[str, int | None],
               to_end: set[str] | frozenset[str] = frozenset()) -> list[Unit]:
    """Cut inputs into units, in input order: consecutive images into chunks of batch_size
    (a video in between closes the chunk), each video into ranges of range_frames frames.
    frame_counts: frames to analyse per video source (None: unknown, one range to the end);
    to_end: videos whose last range reads on to the end of the file (a declared frame count
    may be short; the single-process path reads until the file ends)."""
    if batch_size < 1 or range_frames < 1:
        raise ValueError("batch_size and range_frames must be >= 1")
    units: list[Unit] = []
    chunk: list[Input] = []

    def close_chunk():
        if chunk:
            units.append(Unit(len(units), tuple(chunk)))
            chunk.clear()

    for item in inputs:
        if item.kind == "image":
            chunk.append(item)
            if len(chunk) == batch_size:
                close_chunk()
            continue
        close_chunk()
        total = frame_counts.get(item.source)
        if not total:
            units.append(Unit(len(units), video=item, start=0, stop=total))
            continue
        for start in range(0, total, range_frames):
            stop = min(start + range_frames, total)
            last = stop == total
            units.append(Unit(len(units), video=item, start=start,
                              stop=None if last and item.source in to_end else stop, last=last))
    close_chunk()
    return units
