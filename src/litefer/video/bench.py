"""`litefer bench --video`: end-to-end frames per second of the video path on synthetic clips.

The clips are 640 x 480 MJPG videos made from the packaged photo (assets/astronaut.jpg): one
face (the photo fitted into the frame) or four (a 2 x 2 grid of it), each drifting on its own
slow sinusoid so the tracker has motion to follow. Timed per frame: decode (FrameStream),
detection (every frame or every K-th), alignment, one classifier call, tracking, the temporal
model and JSON serialisation of the Result, as `litefer analyze VIDEO` does without drawing.
Runtime half only (numpy, OpenCV, onnxruntime).
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

SIZE = (640, 480)
TARGET_FPS = {1: 60.0, 4: 30.0}  # the project's targets on 2 cores


@dataclass(frozen=True)
class VideoBenchConfig:
    """frames: timed frames per run (after ``warmup`` untimed ones); faces: runs with 1 and/or
    4 faces; detect_every: one run per value (1 = detect on every frame); temporal: "none",
    "ema" or "gru" (needs temporal_model); detector/detect_size/threads as for `analyze`."""

    frames: int = 150
    warmup: int = 10
    faces: tuple[int, ...] = (1, 4)
    detect_every: tuple[int, ...] = (1, 3)
    temporal: str = "ema"
    temporal_model: str | None = None
    detector: str = "auto"
    detect_size: int | None = None
    threads: int = 1


def _tile(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The photo fitted (aspect kept) and centred on grey in a ``size`` = (w, h) canvas."""
    w, h = size
    k = min(w / photo.shape[1], h / photo.shape[0])
    small = cv2.resize(photo, (round(photo.shape[1] * k), round(photo.shape[0] * k)),
                       interpolation=cv2.INTER_AREA)
    canvas = np.full((h, w, 3), 114, np.uint8)
    y0, x0 = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    return canvas


def synthetic_frame(photo: np.ndarray, faces: int, t: int) -> np.ndarray:
    """BGR 640 x 480 frame ``t`` with 1 or 4 drifting copies of ``photo`` (BGR)."""
    w, h = SIZE
    grid = 1 if faces == 1 else 2
    if faces not in (1, 4):
        raise ValueError(f"faces must be 1 or 4, got {faces}")
    tw, th = w // grid, h // grid
    tile = _tile(photo, (tw, th))
    frame = np.full((h, w, 3), 114, np.uint8)
    for i in range(grid * grid):
        r, c = divmod(i, grid)
        dx, dy = 10 * np.sin(t / 15 + i), 6 * np.cos(t / 20 + 2 * i)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        frame[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = cv2.warpAffine(
            tile, m, (tw, th), borderMode=cv2.BORDER_CONSTANT, borderValue=(114, 114, 114))
    return frame


def make_bench_video(path: str | Path, faces: int, frames: int, fps: float = 30.0) -> Path:
    """Write the synthetic clip (MJPG .avi) and return its path."""
    from ..bench import DEFAULT_FRAME

    photo = cv2.imread(str(DEFAULT_FRAME), cv2.IMREAD_COLOR)
    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    for t in range(frames):
        writer.write(synthetic_frame(photo, faces, t))
    writer.release()
    return path


def _run(rec, video: Path, cfg: VideoBenchConfig, detect_every: int) -> dict:
    """One timed pass over ``video``; the first ``warmup`` frames are not timed."""
    from ..io import FrameStream
    from ..video import Tracker, create_temporal

    temporal = create_temporal(cfg.temporal, cfg.temporal_model)
    results = rec.stream(FrameStream(video), source=str(video), tracker=Tracker(),
                         temporal=temporal, detect_every=detect_every)
    faces, ids, timed = [], set(), 0
    t0 = time.perf_counter()
    for n, res in enumerate(results):
        json.dumps(res.to_dict())
        if n < cfg.warmup:
            t0 = time.perf_counter()  # the clock starts after the last warm-up frame
            continue
        timed += 1
        faces.append(len(res.faces))
        ids.update(f.track_id for f in res.faces)
    wall = time.perf_counter() - t0
    return {"fps": timed / wall if wall > 0 else None, "frames": timed,
            "faces_per_frame": float(np.mean(faces)) if faces else 0.0, "track_ids": len(ids)}


def video_bench(model, cfg: VideoBenchConfig = VideoBenchConfig()) -> dict:
    """End-to-end FPS for every (faces, detect_every) pair of ``cfg``; ``meets_target`` compares
    with TARGET_FPS (>= 60 FPS with 1 face, >= 30 with 4)."""
    from ..pipeline import Recognizer

    rec = Recognizer(model, detector=cfg.detector, threads=cfg.threads,
                     detect_size=cfg.detect_size)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for faces in cfg.faces:
            video = make_bench_video(Path(tmp) / f"faces{faces}.avi", faces,
                                     cfg.frames + cfg.warmup)
            for k in cfg.detect_every:
                row = {"faces": faces, "detect_every": k, **_run(rec, video, cfg, k)}
                target = TARGET_FPS.get(faces)
                row["target_fps"] = target
                row["meets_target"] = None if row["fps"] is None or target is None \
                    else row["fps"] >= target
                runs.append(row)
    from ..bench import cpu_facts

    return {"model": rec.spec.name, "detector": type(rec.detector).__name__,
            "detect_size": getattr(rec.detector, "detect_size", None),
            "frame_size": list(SIZE), "runs": runs, **cpu_facts(), "config": asdict(cfg)}
