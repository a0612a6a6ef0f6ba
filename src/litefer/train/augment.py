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
    return warp(x, sample_affine(x.shape[0], cfg, generator))


def sample_affine(n: int, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """n random warps as float32 (n, 2, 3) matrices in affine_grid's normalised coordinates;
    with augmentation disabled, n identities (and nothing drawn from ``generator``)."""
    if not cfg.enabled:
        return torch.eye(2, 3).repeat(n, 1, 1)

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    angle = uniform(-cfg.rotation, cfg.rotation) * (math.pi / 180.0)
    scale = 1.0 / uniform(1.0 - cfg.zoom, 1.0 + cfg.zoom)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if cfg.hflip \
        else torch.ones(n)
    tx, ty = uniform(-2 * cfg.shift, 2 * cfg.shift), uniform(-2 * cfg.shift, 2 * cfg.shift)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    return torch.stack([
        torch.stack([cos * flip, -sin, tx], 1),
        torch.stack([sin * flip, cos, ty], 1),
    ], 1)


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """x: float (N, C, H, W), theta: float (N, 2, 3) -> x resampled bilinearly, border replicated."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
