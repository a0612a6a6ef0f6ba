"""Augmentation aimed at domain shift: illumination, contrast, blur, JPEG artefacts, occlusion.

FER2013's web crops differ from studio portraits (CK+) and news photos (muxspace) mostly in
light, contrast, sharpness, compression and what covers the face. These transforms draw a fresh
setting per image and run on the uint8 batch before normalisation, so the geometric warp
(:mod:`litefer.train.augment`) composes with them unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DomainConfig:
    """Per-image probabilities and ranges; the defaults (all 0) leave a batch untouched.

    photometric: probability of a random brightness (+-32 grey levels), contrast (x0.6..1.4)
    and gamma (0.67..1.5) change; blur: probability of a Gaussian blur, sigma 0.5..1.5 px at
    48 px; jpeg: probability of re-encoding at quality 15..60; erase: probability of one grey
    rectangle covering 10-25% of the face (partial occlusion); noise: probability of Gaussian
    noise, sigma 2..8 grey levels.
    """

    photometric: float = 0.0
    blur: float = 0.0
    jpeg: float = 0.0
    erase: float = 0.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("photometric", "blur", "jpeg", "erase", "noise"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"domain augmentation '{name}' is a probability in [0, 1], got {p}")

    @property
    def enabled(self) -> bool:
        return any((self.photometric, self.blur, self.jpeg, self.erase, self.noise))

    @classmethod
    def preset(cls, strength: float) -> "DomainConfig":
        """The recipe used by ``litefer train --domain-augment P``: each transform with probability
        P (noise and occlusion at P / 2)."""
        return cls(photometric=strength, blur=strength, jpeg=strength, erase=strength / 2,
                   noise=strength / 2)


def _photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = img.astype(np.float32) / 255.0
    x = np.clip(x, 0.0, 1.0) ** rng.uniform(0.67, 1.5)
    mean = float(x.mean())
    x = (x - mean) * rng.uniform(0.6, 1.4) + mean + rng.uniform(-32, 32) / 255.0
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = rng.uniform(0.5, 1.5) * img.shape[-1] / 48.0
    return cv2.GaussianBlur(img, (0, 0), sigmaX=sigma)


def _jpeg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 61))])
    out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else img
    return out.reshape(img.shape)


def _erase(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    area = rng.uniform(0.10, 0.25) * h * w
    aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
    eh, ew = min(h, int(round(np.sqrt(area / aspect)))), min(w, int(round(np.sqrt(area * aspect))))
    y, x = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
    out = img.copy()
    out[y:y + eh, x:x + ew] = int(rng.integers(0, 256))
    return out


def _noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noisy = img.astype(np.float32) + rng.normal(0.0, rng.uniform(2, 8), img.shape)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


_STEPS = (("photometric", _photometric), ("blur", _blur), ("jpeg", _jpeg), ("noise", _noise),
          ("erase", _erase))


def domain_shift(batch: np.ndarray, cfg: DomainConfig, rng: np.random.Generator) -> np.ndarray:
    """batch: uint8 (N, C, H, W), C = 1 or 3 -> a new uint8 array of the same shape.

    Each image goes through each transform with that transform's probability (independent
    draws from ``rng``); with ``cfg`` disabled the input is returned as it is and nothing is drawn.
    """
    if batch.dtype != np.uint8 or batch.ndim != 4:
        raise ValueError(f"domain_shift needs uint8 (N, C, H, W), got {batch.dtype} {batch.shape}")
    if not cfg.enabled:
        return batch
    out = np.empty_like(batch)
    for i, chw in enumerate(batch):
        img = np.ascontiguousarray(chw.transpose(1, 2, 0))  # HWC for OpenCV
        if img.shape[2] == 1:
            img = img[:, :, 0]
        for name, step in _STEPS:
            if rng.random() < getattr(cfg, name):
                img = step(img, rng)
        out[i] = img.reshape(img.shape[0], img.shape[1], -1).transpose(2, 0, 1)
    return out
