"""Mixup (Zhang et al., 2018): train on convex blends of two faces and of their losses."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .config import check_mixup_alpha


def mixup_batch(x: torch.Tensor, alpha: float,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """x float (N, C, H, W) -> (lam * x + (1 - lam) * x[perm], perm int64 (N,), lam).

    lam ~ Beta(alpha, alpha), folded to [0.5, 1] so that the first face dominates (its label is
    the one counted in training accuracy); one lam per batch. ``alpha == 0`` returns
    ``(x, None, 1.0)`` unchanged and draws nothing; a negative alpha raises LiteferError.
    Draws only from ``generator`` (reproducible runs).
    """
    check_mixup_alpha(alpha)
    if alpha == 0:
        return x, None, 1.0
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    lam = max(lam, 1.0 - lam)
    perm = torch.randperm(x.shape[0], generator=generator)
    return lam * x + (1.0 - lam) * x[perm], perm, lam


def mixed_loss(loss: Callable[[torch.Tensor], torch.Tensor], labels: torch.Tensor,
               perm: torch.Tensor | None, lam: float) -> torch.Tensor:
    """``lam * loss(labels) + (1 - lam) * loss(labels[perm])``; ``loss(labels)`` when perm is None.
    ``loss`` maps int64 labels (N,) to a scalar for the already computed (mixed) batch."""
    if perm is None:
        return loss(labels)
    return lam * loss(labels) + (1.0 - lam) * loss(labels[perm])
