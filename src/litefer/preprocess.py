"""Face crops -> network input. Used by the runtime, training and quantisation calibration alike."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .spec import ModelSpec


def normalize(batch: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """uint8 (N, C, H, W) already at the spec's size and channels -> float32 (x/255 - mean) / std."""
    x = batch.astype(np.float32) * (1.0 / 255.0)
    mean = np.asarray(spec.mean, np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(spec.std, np.float32).reshape(1, -1, 1, 1)
    return (x - mean) / std


def fit_crop(crop: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """One crop (H, W) grey or (H, W, 3) RGB uint8, any size -> uint8 (C, h, w) for ``spec``."""
    if crop.dtype != np.uint8:
        raise TypeError(f"crops must be uint8, got {crop.dtype}")
    if crop.ndim == 3 and crop.shape[2] == 1:
        crop = crop[:, :, 0]
    if spec.channels == 1 and crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    elif spec.channels == 3 and crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2RGB)
    h, w = spec.input_size
    if crop.shape[:2] != (h, w):
        shrink = crop.shape[0] > h or crop.shape[1] > w
        crop = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return crop[None] if crop.ndim == 2 else np.ascontiguousarray(crop.transpose(2, 0, 1))


def to_input(crops: Sequence[np.ndarray] | np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Crops (grey HxW or RGB HxWx3 uint8, any size) -> float32 (N, C, H, W) network input."""
    if isinstance(crops, np.ndarray) and crops.ndim == 4 and crops.shape[1:] == (
        spec.channels, *spec.input_size
    ) and crops.dtype == np.uint8:
        return normalize(crops, spec)
    h, w = spec.input_size
    if len(crops) == 0:
        return np.zeros((0, spec.channels, h, w), np.float32)
    return normalize(np.stack([fit_crop(c, spec) for c in crops]), spec)
