"""Batched geometric augmentation on uint8 face tensors (shift, rotation, zoom, horizontal flip)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import AugmentConfig


def random_affine(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """x: float (N, C, H, W) -> same shape, each image warped by its own random affine.

    Border pixels are replicated (Keras' fill_mode='nearest').
    """
    if not cfg.enabled:
        return x
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    angle = uniform(-cfg.rotation, cfg.rotation) * (math.pi / 180.0)
    scale = 1.0 / uniform(1.0 - cfg.zoom, 1.0 + cfg.zoom)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if cfg.hflip \
        else torch.ones(n)
    tx, ty = uniform(-2 * cfg.shift, 2 * cfg.shift), uniform(-2 * cfg.shift, 2 * cfg.shift)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([
        torch.stack([cos * flip, -sin, tx], 1),
        torch.stack([sin * flip, cos, ty], 1),
    ], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
