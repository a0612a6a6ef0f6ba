"""`litefer analyze SOURCE --engine ray ...`: argparse namespace -> a bulk job on Ray."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import LiteferError

# Single-machine features a bulk job does not offer (their outputs are per-machine files).
UNSUPPORTED = {"out": "--out", "csv": "--csv", "show": "--show"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The --engine ray options of `litefer analyze`."""
    from ..commands.analyze import at_least

    g = p.add_argument_group("bulk analysis on Ray (--engine ray, pip install 'litefer[scale]')")
    g.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: this process (default); ray: a Ray cluster (docs/scale.md)")
    g.add_argument("--address", default=None,
                   help="Ray cluster: auto (the one `ray start` runs here), HOST:PORT, or "
                        "ray://HOST:10001; default: a private local instance")
    g.add_argument("--num-workers", type=at_least(1), default=None,
                   help="actors, each loading the model once (default: one per CPU of the "
                        "cluster)")
    g.add_argument("--cpus-per-worker", type=at_least(1), default=None,
                   help="CPUs (and detector threads) per actor (default: the cluster's CPUs "
                        "shared out among the workers)")
    g.add_argument("--format", dest="fmt", choices=["jsonl", "parquet"], default="jsonl",
                   help="jsonl: --json FILE (or stdout); parquet: --json names a folder of parts "
                        "(either engine)")
    g.add_argument("--resume", action="store_true",
                   help="keep the records already in --json and analyse only the other inputs "
                        "(either engine; a source is skipped when its records were committed)")
    g.add_argument("--range-frames", type=at_least(1), default=300,
                   help="videos are split into ranges of N frames, analysed in parallel")


def run(args: argparse.Namespace) -> int:
    from .job import ScaleOptions, analyze_bulk
    from .worker import RecognizerOptions

    _check(args)
    model = args.model
    if model is not None and Path(model).is_file():  # workers do not share our working folder
        model = str(Path(model).resolve())
    temporal_model = args.temporal_model and str(Path(args.temporal_model).resolve())
    recognizer = RecognizerOptions(model, args.detector, not args.no_align, args.min_face,
                                   args.max_faces, args.min_confidence, args.detect_size,
                                   args.tta)
    options = ScaleOptions(address=args.address, num_workers=args.num_workers,
                           cpus_per_worker=args.cpus_per_worker, batch_size=args.batch_size,
                           range_frames=args.range_frames, decode_threads=args.workers,
                           fmt=args.fmt, resume=args.resume, max_frames=args.max_frames,
                           temporal=args.temporal, temporal_model=temporal_model,
                           ema_alpha=args.ema_alpha, progress=args.progress)
    try:
        report = analyze_bulk(args.source, args.json_out, recognizer, options)
    except ValueError as exc:
        raise LiteferError(str(exc)) from exc
    print(f"litefer analyze: {report.inputs} inputs ({report.skipped} already written), "
          f"{report.records} records, {report.failed} failed, {report.workers} workers, "
          f"{report.seconds:.1f} s", file=sys.stderr)
    return 1 if report.failed else 0


def _check(args: argparse.Namespace) -> None:
    for name, flag in UNSUPPORTED.items():
        if getattr(args, name):
            raise LiteferError(f"{flag} is not available with --engine ray; run it without "
                               "--engine on the files that need it")
    if args.detect_every != 1:
        raise LiteferError("--detect-every is not available with --engine ray (frames are "
                           "analysed in independent ranges); add workers instead")
    if args.source.isdigit() or "://" in args.source or args.source.startswith("/dev/video"):
        raise LiteferError("--engine ray analyses files (a folder, glob, manifest or video "
                           "file), not cameras or streams")
    if min(args.batch_size, args.range_frames, args.num_workers or 1,
           args.cpus_per_worker or 1) < 1:
        raise LiteferError("--batch-size, --range-frames, --num-workers and --cpus-per-worker "
                           "must be >= 1")
