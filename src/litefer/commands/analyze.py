"""`litefer analyze SOURCE`: images, folders, globs, videos and cameras -> JSON Lines (+ drawings)."""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="find faces and their emotions in images, folders, videos, cameras",
                       description="Analyse SOURCE: an image, a folder (recursive) or glob, a video "
                                   "file, a camera index (0) or a stream URL. Writes one JSON record "
                                   "per image or frame to stdout (or --json FILE).")
    p.add_argument("source", help="image | folder | glob | video | camera index | URL")
    p.add_argument("--model", default=None, help="shipped name or .onnx path (default: package default)")
    p.add_argument("--detector", default="default", help="face detector backend (default: yunet)")
    p.add_argument("--detect-size", type=int, default=None,
                   help="run detection on a copy whose longest side is N px (speed vs small faces)")
    p.add_argument("--no-align", action="store_true", help="crop boxes instead of aligning eyes")
    p.add_argument("--min-face", type=float, default=0.0, help="ignore faces smaller than N px")
    p.add_argument("--max-faces", type=int, default=0, help="keep the N largest faces (0 = all)")
    p.add_argument("--min-confidence", type=float, default=0.0,
                   help="label a face 'uncertain' below this probability")
    p.add_argument("--json", dest="json_out", default=None, help="write JSON Lines here, not stdout")
    p.add_argument("--out", default=None, help="write annotated images / video into this folder")
    p.add_argument("--csv", default=None, nargs="?", const="timeline.csv",
                   help="videos: per-frame timeline CSV (inside --out when relative)")
    p.add_argument("--show", action="store_true", help="show a live window (needs a display)")
    p.add_argument("--batch-size", type=int, default=16, help="images per classifier call")
    p.add_argument("--workers", type=int, default=2, help="decoding threads for folders")
    p.add_argument("--max-frames", type=int, default=None, help="videos: stop after N frames")
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

    if args.engine == "ray":
        from ..scale.command import run as run_on_ray

        return run_on_ray(args)
    rec = Recognizer(args.model, args.detector, align=not args.no_align, min_face=args.min_face,
                     max_faces=args.max_faces, min_confidence=args.min_confidence,
                     detect_size=args.detect_size)
    kind = source_kind(args.source)
    with ExitStack() as stack:
        sink = sys.stdout if not args.json_out else stack.enter_context(open(args.json_out, "w"))
        if kind == "images":
            failed = _images(rec, args, sink)
        else:
            from .analyze_video import analyze_video

            failed = analyze_video(rec, args, sink, kind)
    return 1 if failed else 0


def _images(rec, args, sink) -> int:
    """Bulk images: threads decode ahead (bounded), the main thread detects and classifies."""
    from ..draw import draw_result, save_image
    from ..errors import InvalidImageError, LiteferError
    from ..io import list_images, read_image
    from ..progress import Progress

    paths = list_images(args.source)
    if not paths:
        raise InvalidImageError(f"no images found at {args.source!r}")

    def decode(path):
        try:
            return read_image(path)
        except LiteferError as exc:
            return exc

    failed = 0
    with ThreadPoolExecutor(max(1, args.workers)) as pool, \
            Progress(len(paths), "analyze", args.progress) as bar:
        for start in range(0, len(paths), args.batch_size):
            chunk = paths[start:start + args.batch_size]
            decoded = list(pool.map(decode, chunk))  # bounded: one batch in memory at a time
            results = rec.analyze_batch(decoded, sources=[str(p) for p in chunk])
            for img, res in zip(decoded, results):
                failed += res.error is not None
                sink.write(json.dumps(res.to_dict()) + "\n")
                if args.out and res.error is None:
                    name = Path(res.source).stem + ".annotated.jpg"
                    save_image(Path(args.out) / name, draw_result(img.image, res, scale=img.scale))
            bar.update(len(chunk), faces=sum(len(r.faces) for r in results), failed=failed)
    sink.flush()
    return failed
