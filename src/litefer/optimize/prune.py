"""Unstructured magnitude pruning: masks, per-layer sparsity, the compression ratio, and an
iterative prune -> fine-tune schedule.

Prunable weights are the kernels of Conv2d and Linear layers (biases and batch-norm parameters are
kept). Pruned weights are exactly zero, so they stay zero through ONNX export (batch-norm folding
only rescales a kernel) and compress well; the dense ONNX file itself keeps its size.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..data import FaceSet
from ..errors import LiteferError
from ..spec import ModelSpec
from .finetune import FinetuneConfig, accuracy, finetune

SCOPES = ("global", "layer")


def prunable(model: nn.Module, keep_first: bool = False) -> dict[str, nn.Parameter]:
    """Module name -> kernel of every Conv2d / Linear, in definition order; with ``keep_first``
    the first such layer (the stem conv reading the image: few weights, large effect) is left
    out."""
    layers = {n: m.weight for n, m in model.named_modules()
              if isinstance(m, (nn.Conv2d, nn.Linear))}
    return dict(list(layers.items())[1:]) if keep_first and len(layers) > 1 else layers


def _keep_top(scores: torch.Tensor, n_prune: int) -> torch.Tensor:
    """Bool mask of ``scores``' shape keeping all but the ``n_prune`` smallest (ties: by
    position)."""
    flat = scores.flatten()
    mask = torch.ones_like(flat, dtype=torch.bool)
    if n_prune > 0:
        mask[torch.argsort(flat, stable=True)[:n_prune]] = False
    return mask.view_as(scores)


@torch.no_grad()
def magnitude_masks(weights: dict[str, torch.Tensor], sparsity: float,
                    scope: str = "global") -> dict[str, torch.Tensor]:
    """Bool masks (True = keep) zeroing the fraction ``sparsity`` of smallest-|w| weights,
    over all tensors pooled (``global``) or in each tensor alike (``layer``)."""
    if not 0.0 <= sparsity < 1.0:
        raise LiteferError(f"sparsity must be in [0, 1), got {sparsity}")
    if scope not in SCOPES:
        raise LiteferError(f"pruning scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if scope == "layer":
        return {n: _keep_top(w.abs(), int(sparsity * w.numel())) for n, w in weights.items()}
    flat = torch.cat([w.detach().abs().flatten() for w in weights.values()])
    keep = _keep_top(flat, int(sparsity * flat.numel()))
    masks, start = {}, 0
    for n, w in weights.items():
        masks[n] = keep[start:start + w.numel()].view_as(w)
        start += w.numel()
    return masks


@torch.no_grad()
def apply_masks(weights: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> None:
    for n, mask in masks.items():
        weights[n].mul_(mask)


def sparsity_report(model: nn.Module) -> dict:
    """Per layer {shape, weights, nonzero, sparsity} and totals over every Conv2d / Linear kernel,
    with the compression ratio R = total weights / non-zero weights."""
    layers, total, nonzero = {}, 0, 0
    for name, w in prunable(model).items():
        n, nz = w.numel(), int(torch.count_nonzero(w))
        layers[name] = {"shape": list(w.shape), "weights": n, "nonzero": nz,
                        "sparsity": 1.0 - nz / n}
        total, nonzero = total + n, nonzero + nz
    return {"layers": layers, "weights": total, "nonzero": nonzero,
            "sparsity": 1.0 - nonzero / max(1, total),
            "compression_ratio": total / max(1, nonzero)}


def schedule(target: float, steps: int) -> list[float]:
    """Sparsity after each of ``steps`` prune rounds, on the cubic ramp of Zhu & Gupta (2017):
    s_k = target * (1 - (1 - k / steps)^3), so early rounds prune most while weights are many."""
    steps = max(1, steps)
    return [target * (1 - (1 - k / steps) ** 3) for k in range(1, steps + 1)]


@dataclass(frozen=True)
class PruneConfig:
    """sparsity: final fraction of zero weights; scope: "global" (one threshold over all layers)
    or "layer" (each layer alike); steps: prune -> fine-tune rounds; keep_first: leave the first
    conv dense (it has few weights: the overall sparsity stays close to the target)."""

    sparsity: float = 0.5
    scope: str = "global"
    steps: int = 3
    keep_first: bool = True
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


def prune_iterative(model: nn.Module, spec: ModelSpec, cfg: PruneConfig,
                    train: FaceSet | None = None, val: FaceSet | None = None,
                    teacher: nn.Module | None = None) -> list[dict]:
    """Prune ``model`` in place to ``cfg.sparsity`` in ``cfg.steps`` rounds, fine-tuning after
    each (masks held fixed) when ``train`` is given; returns one record per round
    (sparsity, compression ratio, validation accuracy before / after fine-tuning).
    teacher: for distillation when ``cfg.finetune.distill`` > 0."""
    from .compress import Compression

    weights = prunable(model, cfg.keep_first)
    rounds = []
    for target in schedule(cfg.sparsity, cfg.steps):
        masks = magnitude_masks(weights, target, cfg.scope)
        apply_masks(weights, masks)
        record = {"target_sparsity": target}
        if val is not None:
            from ..train.loop import faces_to_uint8

            record["val_acc_pruned"] = accuracy(model, faces_to_uint8(val, spec), val.labels, spec)
        if train is not None:
            tuned = finetune(model, spec, train, val, cfg.finetune, Compression(weights, masks),
                             teacher)
            record["val_acc_finetuned"] = max(tuned["val_acc"], default=None)
        report = sparsity_report(model)
        record.update(sparsity=report["sparsity"], compression_ratio=report["compression_ratio"])
        rounds.append(record)
    return rounds
