"""Synthetic video clips from still face crops, with the effects a real camera and tracker add.

A clip shows one face for ``length`` frames; its expression never changes (the label is the
still's), so any change of the predicted label within a clip is flicker. Each frame is the crop
a detector + aligner would hand the classifier, perturbed by:

- motion: a slow random walk of the face in the crop plus per-frame detector jitter (pixels);
- scale and rotation drift: slow sinusoids (the person leaning in, tilting the head);
- blur: occasional motion blur along a random direction;
- noise: Gaussian sensor noise, its strength drawn per clip;
- brightness: a slow gain and offset drift (auto-exposure, a passing shadow);
- brief occlusion: a flat patch (a hand, a cup) over part of the face for a few frames;
- dropped detections: frames on which the face is not found (``present`` False); a heavy
  occlusion drops the detection more often.

numpy and OpenCV only; deterministic for a given ``rng``.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ClipConfig:
    """length: frames per clip; shift: max drift of the face centre (fraction of the side);
    jitter: per-frame detector jitter (fraction of the side, std); scale: max scale drift
    (fraction); rotation: max rotation drift (degrees); blur_prob: chance a frame is motion
    blurred; noise: max Gaussian noise std (grey levels); brightness: max gain drift (fraction);
    occlusion_prob: chance a clip has one occlusion of 2..occlusion_max frames; drop_prob:
    chance a frame's detection is dropped."""

    length: int = 32
    shift: float = 0.06
    jitter: float = 0.015
    scale: float = 0.08
    rotation: float = 6.0
    blur_prob: float = 0.15
    noise: float = 8.0
    brightness: float = 0.25
    occlusion_prob: float = 0.3
    occlusion_max: int = 6
    drop_prob: float = 0.05

    def to_dict(self) -> dict:
        return asdict(self)


def _drift(rng: np.random.Generator, length: int, amplitude: float) -> np.ndarray:
    """A slow sinusoid of random phase and period (1-3 clip lengths) in [-amplitude, amplitude]."""
    period = length * rng.uniform(1.0, 3.0)
    phase = rng.uniform(0, 2 * np.pi)
    wave = np.sin(2 * np.pi * np.arange(length) / period + phase)
    return amplitude * rng.uniform(0.3, 1.0) * wave


def _walk(rng: np.random.Generator, length: int, limit: float) -> np.ndarray:
    """(length, 2) random walk clipped to +-limit."""
    steps = rng.normal(0, limit / 4, (length, 2))
    return np.clip(np.cumsum(steps, 0), -limit, limit)


def _motion_blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    k = int(rng.integers(3, 6))
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2, :] = 1.0 / k
    rot = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (k, k))
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6), borderType=cv2.BORDER_REFLECT)


def _occlusion(rng: np.random.Generator, cfg: ClipConfig, side: int):
    """(first frame, last frame, x1, y1, x2, y2, grey value) of the clip's occlusion, or None."""
    if rng.random() >= cfg.occlusion_prob:
        return None
    frames = int(rng.integers(2, cfg.occlusion_max + 1))
    start = int(rng.integers(0, max(1, cfg.length - frames)))
    w, h = (int(side * rng.uniform(0.3, 0.6)) for _ in range(2))
    x, y = int(rng.integers(0, side - w)), int(rng.integers(side // 4, side - h))
    return start, start + frames - 1, x, y, x + w, y + h, int(rng.integers(40, 200))


def make_clip(face: np.ndarray, cfg: ClipConfig, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """One still face crop, uint8 (S, S) grey or (S, S, 3) -> (frames uint8 (T, S, S[, 3]),
    present bool (T,)). The first frame is always present (the track starts with a detection)."""
    face = np.ascontiguousarray(face)
    side, t_len = face.shape[0], cfg.length
    walk = _walk(rng, t_len, cfg.shift * side) + rng.normal(0, cfg.jitter * side, (t_len, 2))
    scale = 1 + _drift(rng, t_len, cfg.scale)
    angle = _drift(rng, t_len, cfg.rotation)
    gain = 1 + _drift(rng, t_len, cfg.brightness)
    offset = _drift(rng, t_len, 20 * cfg.brightness)
    sigma = rng.uniform(0.25, 1.0) * cfg.noise
    occ = _occlusion(rng, cfg, side)
    frames = np.empty((t_len, *face.shape), np.uint8)
    present = rng.random(t_len) >= cfg.drop_prob
    centre = ((side - 1) / 2, (side - 1) / 2)
    for t in range(t_len):
        m = cv2.getRotationMatrix2D(centre, float(angle[t]), float(scale[t]))
        m[:, 2] += walk[t]
        img = cv2.warpAffine(face, m, (side, side), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT101).astype(np.float32)
        if rng.random() < cfg.blur_prob:
            img = _motion_blur(img, rng)
        img = img * gain[t] + offset[t] + rng.normal(0, sigma, img.shape)
        if occ is not None and occ[0] <= t <= occ[1]:
            x1, y1, x2, y2, grey = occ[2:]
            img[y1:y2, x1:x2] = grey + rng.normal(0, 4, img[y1:y2, x1:x2].shape)
            heavy = (x2 - x1) * (y2 - y1) > 0.25 * side * side
            present[t] &= not (heavy and rng.random() < 0.5)
        frames[t] = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    present[0] = True
    return frames, present


def make_clips(faces: np.ndarray, cfg: ClipConfig, seed: int = 0, start: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """faces uint8 (N, S, S[, 3]) -> (frames uint8 (N, T, S, S[, 3]), present bool (N, T)),
    one clip per face; clip i is numbered start + i and depends only on (seed, number), so a
    large set can be made chunk by chunk with the same result."""
    frames = np.empty((len(faces), cfg.length, *faces.shape[1:]), np.uint8)
    present = np.empty((len(faces), cfg.length), bool)
    for i, face in enumerate(faces):
        frames[i], present[i] = make_clip(face, cfg, clip_rng(seed, start + i))
    return frames, present


def classify_clips(clf, faces: np.ndarray, labels, cfg: ClipConfig, seed: int, chunk: int = 256,
                   progress: bool = False):
    """Clips of ``faces`` (see make_clips) classified frame by frame by ``clf`` (a
    litefer.Classifier) -> ProbSequences: float32 probabilities (N, T, K), NaN where a frame is
    dropped, with ``labels`` int64 (N,). ``progress`` prints a count to stderr."""
    from ..data.sequences import ProbSequences

    k = len(clf.labels)
    probs = np.full((len(faces), cfg.length, k), np.nan, np.float32)
    present = np.zeros((len(faces), cfg.length), bool)
    t0 = time.time()
    for start in range(0, len(faces), chunk):
        frames, pres = make_clips(faces[start:start + chunk], cfg, seed, start)
        flat = frames.reshape(-1, *frames.shape[2:])
        out = np.concatenate([clf.predict_proba(flat[i:i + 1024])
                              for i in range(0, len(flat), 1024)])
        out = out.reshape(len(frames), cfg.length, k)
        probs[start:start + len(frames)] = np.where(pres[..., None], out, np.nan)
        present[start:start + len(frames)] = pres
        if progress:
            print(f"\r{start + len(frames)}/{len(faces)} clips, {time.time() - t0:.0f}s", end="",
                  file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    return ProbSequences(probs, present, np.asarray(labels, np.int64), tuple(clf.labels))


def clip_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of clip ``index`` for ``seed`` (independent streams)."""
    return np.random.default_rng([seed, index])
