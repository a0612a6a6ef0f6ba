"""Synthetic photo corpus for the bulk-analysis benchmark (docs/scale.md).

N photos, 640x480 JPEG (quality 90): a random background (colour gradient, blurred noise,
random shapes) with 1-3 faces pasted on it, 70 to 220 px wide, blended through a feathered
ellipse. Faces come from the shared data: the annotated AFW faces (real photographs, cropped
around their landmarks with a margin) and FER2013 48x48 faces (first rows of the CSV). Photo i
depends only on (seed, i), so any subset is reproducible. Written as OUT/NNN/photo_NNNNNN.jpg
(1,000 per folder) plus OUT/manifest.txt; the data itself never enters the repository.

    python benchmarks/make_scale_corpus.py --out /work/scale_corpus --count 20000
"""
from __future__ import annotations

import argparse
import csv
import gzip
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
W, H = 640, 480


def afw_faces(data: Path, max_side: int = 256) -> list[np.ndarray]:
    """BGR crops of the AFW faces: landmark extent + 35% margin, squared, at most max_side."""
    faces = []
    with open(data / "afw" / "faces.csv") as fh:
        rows = list(csv.DictReader(fh))
    images: dict[str, np.ndarray] = {}
    for row in rows:
        img = images.get(row["image"])
        if img is None:
            img = images[row["image"]] = cv2.imread(str(data / "afw" / row["image"]))
        x1, y1, x2, y2 = (float(row[k]) for k in ("lm_xmin", "lm_ymin", "lm_xmax", "lm_ymax"))
        cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, 1.35 * max(x2 - x1, y2 - y1)
        a, b = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        crop = img[b:int(cy + side / 2), a:int(cx + side / 2)]
        if min(crop.shape[:2]) < 40:
            continue
        scale = min(1.0, max_side / max(crop.shape[:2]))
        faces.append(cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    return faces


def fer_faces(data: Path, count: int = 600) -> list[np.ndarray]:
    """The first ``count`` FER2013 faces as BGR 48x48."""
    faces = []
    with gzip.open(data / "fer2013.csv.gz", "rt") as fh:
        for row in csv.DictReader(fh):
            grey = np.asarray(row["pixels"].split(), np.uint8).reshape(48, 48)
            faces.append(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
            if len(faces) == count:
                break
    return faces


def background(rng: np.random.Generator) -> np.ndarray:
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, W if rng.random() < 0.5 else H, dtype=np.float32)[:, None]
    ramp = (c0 * (1 - t) + c1 * t).astype(np.uint8)[:, None, :]
    img = np.ascontiguousarray(np.broadcast_to(ramp.transpose(1, 0, 2), (H, W, 3))
                               if len(t) == W else np.broadcast_to(ramp, (H, W, 3)))
    noise = cv2.resize(rng.integers(0, 80, (H // 16, W // 16, 3), np.uint8), (W, H))
    img = cv2.add(img, noise)
    for _ in range(rng.integers(2, 7)):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        p = tuple(int(v) for v in (rng.integers(0, W), rng.integers(0, H)))
        if rng.random() < 0.5:
            cv2.circle(img, p, int(rng.integers(10, 90)), colour, -1)
        else:
            q = (p[0] + int(rng.integers(-150, 150)), p[1] + int(rng.integers(-150, 150)))
            cv2.rectangle(img, p, q, colour, -1)
    return img


def paste(img: np.ndarray, face: np.ndarray, rng: np.random.Generator) -> None:
    side = int(rng.integers(70, 221))
    h = int(round(side * face.shape[0] / face.shape[1]))
    if h >= H - 4:
        return
    face = cv2.resize(face, (side, h), interpolation=cv2.INTER_AREA if side < face.shape[1]
                      else cv2.INTER_LINEAR)
    x, y = int(rng.integers(0, W - side)), int(rng.integers(0, H - h))
    mask = np.zeros((h, side), np.float32)
    cv2.ellipse(mask, (side // 2, h // 2), (side // 2 - 2, h // 2 - 2), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, side / 30))[:, :, None]
    roi = img[y:y + h, x:x + side].astype(np.float32)
    img[y:y + h, x:x + side] = (mask * face + (1 - mask) * roi).astype(np.uint8)


def photo(i: int, seed: int, afw: list, fer: list) -> np.ndarray:
    rng = np.random.default_rng([seed, i])
    img = background(rng)
    for _ in range(int(rng.choice([1, 1, 1, 2, 2, 3]))):
        pool = afw if rng.random() < 0.7 else fer
        paste(img, pool[int(rng.integers(len(pool)))], rng)
    return img


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output folder (outside the repository)")
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=os.environ.get("LITEFER_DATA",
                                                     ROOT.parent / "shared" / "data"))
    args = ap.parse_args(argv)
    out, data = Path(args.out), Path(args.data)
    if out.resolve().is_relative_to(ROOT):
        ap.error("write the corpus outside the repository")
    if not (data / "afw" / "faces.csv").is_file():
        ap.error(f"shared data not found at {data} (set LITEFER_DATA)")
    afw, fer = afw_faces(data), fer_faces(data)
    t0, names = time.perf_counter(), []
    for i in range(args.count):
        name = f"{i // 1000:03d}/photo_{i:06d}.jpg"
        path = out / name
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), photo(i, args.seed, afw, fer), [cv2.IMWRITE_JPEG_QUALITY, 90])
        names.append(name)
        if (i + 1) % 1000 == 0:
            print(f"{i + 1}/{args.count} photos, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    (out / "manifest.txt").write_text("".join(n + "\n" for n in names))
    print(f"{args.count} photos in {out} ({len(afw)} AFW + {len(fer)} FER2013 faces), "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
