"""`litefer analyze SOURCE`: images, folders, globs, videos and cameras -> JSON Lines (+ drawings).

Usage errors exit 2 with a message saying what is allowed: counts out of range, an output that
cannot be written, --show without a GUI build of OpenCV. A folder's videos are analysed after
its images. --resume and --format parquet write through litefer.scale.writer, as --engine ray.
"""
from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from pathlib import Path

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


def at_least(minimum: int):
    """An argparse type: an integer >= minimum, or a usage error saying so."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="find faces and their emotions in images, folders, videos, cameras",
                       description="Analyse SOURCE: an image, a folder (recursive) or glob, a video "
                                   "file, a camera index (0) or a stream URL. Writes one JSON record "
                                   "per image or frame to stdout (or --json FILE).")
    p.add_argument("source", help="image | folder | glob | video | camera index | URL")
    p.add_argument("--model", default=None, help="shipped name or .onnx path (default: package default)")
    p.add_argument("--detector", default="default", help="face detector backend (default: yunet)")
    p.add_argument("--detect-size", type=at_least(1), default=None,
                   help="run detection on a copy whose longest side is N px (speed vs small faces)")
    p.add_argument("--no-align", action="store_true", help="crop boxes instead of aligning eyes")
    p.add_argument("--min-face", type=float, default=0.0, help="ignore faces smaller than N px")
    p.add_argument("--max-faces", type=at_least(0), default=0,
                   help="keep the N largest faces (0 = all)")
    p.add_argument("--min-confidence", type=float, default=0.0,
                   help="label a face 'uncertain' below this probability")
    p.add_argument("--tta", nargs="?", const="flip", default=None, choices=["flip", "crops"],
                   help="average each face's scores over views: flip (the default) adds the "
                        "mirror image (2x the classifier time), crops seven framings and their "
                        "mirrors (14x)")
    p.add_argument("--json", dest="json_out", default=None, help="write JSON Lines here, not stdout")
    p.add_argument("--out", default=None, help="write annotated images / video into this folder")
    p.add_argument("--csv", default=None, nargs="?", const=True, metavar="FILE",
                   help="videos: per-frame timeline CSV (default name: VIDEO.timeline.csv; "
                        "inside --out when relative)")
    p.add_argument("--show", action="store_true", help="show a live window (needs a display)")
    p.add_argument("--batch-size", type=at_least(1), default=16,
                   help="images per classifier call")
    p.add_argument("--workers", type=at_least(1), default=2, help="decoding threads for folders")
    p.add_argument("--max-frames", type=at_least(1), default=None,
                   help="videos: stop after N frames")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    from ..scale.command import add_arguments as add_scale_arguments
    from .analyze_video import add_video_arguments

    add_video_arguments(p)
    add_scale_arguments(p)
    p.set_defaults(run=run)


def source_kind(source: str) -> str:
    """'camera', 'url', 'video' or 'images'."""
    if source.isdigit() or source.startswith("/dev/video"):
        return "camera"
    if "://" in source:
        return "url"
    return "video" if Path(source).suffix.lower() in VIDEO_EXTENSIONS else "images"


def run(args: argparse.Namespace) -> int:
    from ..pipeline import Recognizer

    check_outputs(args)
    if args.engine == "ray":
        from ..scale.command import run as run_on_ray

        return run_on_ray(args)
    kind = source_kind(args.source)
    images, videos, root = _list_sources(args.source) if kind == "images" else ([], [], None)
    rec = Recognizer(args.model, args.detector, align=not args.no_align, min_face=args.min_face,
                     max_faces=args.max_faces, min_confidence=args.min_confidence,
                     detect_size=args.detect_size, tta=args.tta)
    with ExitStack() as stack:
        sink = _open_sink(args, stack)
        done = getattr(sink, "done", set())
        if kind != "images":
            from .analyze_video import analyze_video

            if args.source in done:
                print(f"litefer analyze: {args.source}: already in {args.json_out} (--resume); "
                      "nothing to do", file=sys.stderr)
                return 0
            return 1 if analyze_video(rec, args, sink, kind) else 0
        failed = _images_and_videos(rec, args, sink, images, videos, root, done)
    return 1 if failed else 0


def _images_and_videos(rec, args, sink, images, videos, root, done) -> int:
    from .analyze_images import analyze_images
    from .analyze_video import analyze_video

    images = [i for i in images if i.source not in done]
    failed = analyze_images(rec, args, sink, images, root) if images else 0
    if args.csv and len(videos) > 1:  # one timeline per video: VIDEO.timeline.csv
        args = argparse.Namespace(**{**vars(args), "csv": True})
    for video in videos:
        if str(video) not in done:
            failed += analyze_video(rec, args, sink, "video", source=str(video))
    return failed


def _list_sources(source: str):
    """(image items, video paths, root folder for annotated names) of a file, folder or glob."""
    import glob

    from ..errors import InvalidImageError
    from ..io import IMAGE_EXTENSIONS, list_images, walk_files
    from .analyze_images import list_items

    errors: list[tuple[str, str]] = []
    path = Path(source)
    if path.is_file() or not (path.is_dir() or glob.has_magic(source)):
        images, videos = list_images(source, errors), []  # the file, or "no such file or folder"
    else:  # one walk of the tree for both kinds
        wanted = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
        files = walk_files(source, lambda p: p.suffix.lower() in wanted, errors)
        videos = [p for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
        images = [p for p in files if p.suffix.lower() not in VIDEO_EXTENSIONS]
    items = list_items(images, errors)
    if not items and not videos:
        raise InvalidImageError(f"no images or videos found at {source!r}")
    if path.is_dir():
        root = path
    elif glob.has_magic(source) and items:
        root = Path(os.path.commonpath([str(i.path.parent) for i in items]))
    else:
        root = None
    return items, videos, root


def check_outputs(args: argparse.Namespace) -> None:
    """Usage errors found before any work: an unwritable --json or --out, --show without a GUI,
    --format parquet or --resume without an output to write to."""
    from ..errors import LiteferError

    if args.json_out:
        _writable(Path(args.json_out), "--json", folder=args.fmt == "parquet")
    elif args.resume or args.fmt == "parquet":
        raise LiteferError(f"--{'resume' if args.resume else 'format parquet'} needs an output: "
                           "--json FILE (a folder for parquet)")
    if args.out and args.engine == "local":
        _writable(Path(args.out), "--out", folder=True)


def _writable(path: Path, flag: str, *, folder: bool) -> None:
    """Create ``path`` (folder) or its parent folder, or raise LiteferError saying why not."""
    from ..errors import LiteferError

    where = path if folder else path.parent
    try:
        if not folder and path.is_dir():
            raise IsADirectoryError(21, "it is a folder", str(path))
        where.mkdir(parents=True, exist_ok=True)
        if not os.access(where, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise PermissionError(13, "permission denied", str(path))
    except OSError as exc:
        raise LiteferError(f"{flag} {path}: cannot write there ({exc.strerror or exc}); give a "
                           "path in a folder you can write to") from None


class _WriterSink:
    """File-like front of a litefer.scale.writer writer: write() takes JSON lines, flush()
    commits; ``done``: sources already in the output (--resume)."""

    def __init__(self, writer):
        self.writer, self.done = writer, writer.done

    def write(self, text: str) -> None:
        self.writer.write([line for line in text.splitlines() if line.strip()])

    def flush(self) -> None:
        self.writer.commit()


def _open_sink(args: argparse.Namespace, stack: ExitStack):
    """stdout, the --json file, or (--resume, --format parquet) a committing writer that keeps
    what it has and commits only on a normal end."""
    from ..errors import LiteferError

    if not (args.resume or args.fmt == "parquet"):
        if not args.json_out:
            return sys.stdout
        return stack.enter_context(open(args.json_out, "w"))
    from ..scale.writer import create_writer

    try:
        writer = create_writer(args.fmt, args.json_out, args.resume)
    except ValueError as exc:
        raise LiteferError(str(exc)) from exc

    def close(exc_type, exc, tb):
        writer.close(commit=exc_type is None)

    stack.push(close)
    return _WriterSink(writer)
