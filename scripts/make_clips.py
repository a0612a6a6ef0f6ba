"""Make synthetic video clips from FER2013 faces (litefer.video.clips) and classify every frame.

    # probability sequences for the GRU (Training) and for model selection (PublicTest)
    python scripts/make_clips.py --data ../shared/data/fer2013.csv.gz --split Training \\
        --model nano_a.fer2013 --out clips/train.npz
    python scripts/make_clips.py --data ../shared/data/fer2013.csv.gz --split PublicTest \\
        --model nano_a.fer2013 --out clips/val.npz
    # reporting only: PrivateTest clips (never used for training or selection)
    python scripts/make_clips.py --data ../shared/data/fer2013.csv.gz --split PrivateTest \\
        --model nano_a.fer2013 --out clips/private.npz
    # a few clips as PNG frames (clips/<label>/<clip>/<frame>.png) to look at or to reload
    python scripts/make_clips.py --data ../shared/data/fer2013.csv.gz --split PrivateTest \\
        --png clips/png --limit 20

One clip per face (``--clips-per-face`` for more), ``--length`` frames each; clip i of a split
depends only on (seed, i), so reruns give identical clips. Frames whose detection was dropped
have no probabilities (NaN) and ``present`` False. The classifier sees each frame as a face
crop (detection is simulated by the clip generator, not run). Output: litefer.data.ProbSequences.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from litefer.data import load_fer2013
from litefer.video.clips import ClipConfig, classify_clips, make_clips

SPLIT_SEEDS = {"Training": 1, "PublicTest": 2, "PrivateTest": 3}


def write_png(root: Path, faces, labels, classes, cfg: ClipConfig, seed: int) -> int:
    """Clips as root/<label>/<clip>/<frame>.png; dropped frames are not written (gaps in the
    frame numbers)."""
    frames, present = make_clips(faces, cfg, seed)
    for i, (clip, pres) in enumerate(zip(frames, present)):
        folder = root / classes[int(labels[i])] / f"clip{i:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        for t in np.flatnonzero(pres):
            cv2.imwrite(str(folder / f"{t:03d}.png"), clip[t])
    return len(frames)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="FER2013 .csv/.csv.gz")
    p.add_argument("--split", required=True, choices=sorted(SPLIT_SEEDS))
    p.add_argument("--model", default=None, help="classifier (shipped name or .onnx)")
    p.add_argument("--out", default=None, help="ProbSequences .npz to write")
    p.add_argument("--png", default=None, help="write clips as PNG frames into this folder")
    p.add_argument("--limit", type=int, default=0, help="first N faces only (0 = all)")
    p.add_argument("--clips-per-face", type=int, default=1)
    p.add_argument("--length", type=int, default=ClipConfig.length)
    p.add_argument("--seed", type=int, default=None, help="default: fixed per split")
    p.add_argument("--threads", type=int, default=0, help="classifier threads (0 = all)")
    args = p.parse_args(argv)
    if not args.out and not args.png:
        p.error("give --out FILE.npz and/or --png DIR")
    fs = load_fer2013(args.data, args.split)
    faces, labels = fs.images, fs.labels
    if args.limit:
        faces, labels = faces[:args.limit], labels[:args.limit]
    faces = np.concatenate([faces] * args.clips_per_face)
    labels = np.concatenate([labels] * args.clips_per_face)
    cfg = ClipConfig(length=args.length)
    seed = SPLIT_SEEDS[args.split] if args.seed is None else args.seed
    if args.png:
        n = write_png(Path(args.png), faces, labels, fs.space.classes, cfg, seed)
        print(f"{n} clips written below {args.png}", file=sys.stderr)
    if args.out:
        from litefer.runtime import Classifier

        clf = Classifier(args.model, threads=args.threads)
        seqs = classify_clips(clf, faces, labels, cfg, seed, progress=True)
        seqs.meta.update(classifier=clf.spec.name, split=args.split, seed=seed,
                         clip_config=cfg.to_dict(), source=str(args.data))
        seqs.save(args.out)
        print(json.dumps({"out": args.out, "clips": len(seqs), "frames": int(seqs.present.sum()),
                          "classifier": clf.spec.name, "split": args.split}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
