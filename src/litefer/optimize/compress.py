"""Optimising while training: a pruning schedule and quantisation-aware training (QAT).

``Compression`` sits around an optimiser loop (``litefer train --prune-to 0.5 --qat`` and the
fine-tuning of ``litefer optimize``):

    with compression.quantized():      # forward + backward see fake-quantised weights
        loss = ...; loss.backward()
    opt.step()                         # updates the float weights (straight-through estimator)
    compression.step(global_step)      # prune on schedule, re-apply masks

QAT uses the paper's symmetric quantiser per output channel: W_hat = round(s W) / s with
s = (2^b - 1) / (2 max|W|). The gradient taken at W_hat is applied to W unchanged (STE).
Masks are recomputed from weight magnitudes, so a resumed run rebuilds them without extra state.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from .prune import apply_masks, magnitude_masks, prunable


@torch.no_grad()
def fake_quant(w: torch.Tensor, bits: int = 8, per_channel: bool = True) -> torch.Tensor:
    """round(s w) / s with s = (2^b - 1) / (2 max|w|) per tensor or per output channel (dim 0);
    computed in float64 and rounded half to even, exactly as quantize.quantize_weights."""
    dtype, w = w.dtype, w.double()
    if per_channel and w.dim() > 1:
        peak = w.abs().flatten(1).max(1).values.view(-1, *([1] * (w.dim() - 1)))
    else:
        peak = w.abs().max()
    peak = torch.where(peak > 0, peak, torch.ones_like(peak))
    half_levels = (2.0 ** bits - 1) / 2.0
    return (torch.round(w / peak * half_levels) / (half_levels / peak)).to(dtype)


@dataclass(frozen=True)
class PruneRamp:
    """Sparsity rises on a cubic ramp from 0 at optimiser step ``start`` to ``target`` at ``end``;
    masks are recomputed every ``every`` steps in between and re-applied after every step."""

    target: float
    start: int
    end: int
    scope: str = "global"
    every: int = 1

    def sparsity(self, step: int) -> float:
        if step < self.start:
            return 0.0
        t = min(1.0, (step - self.start) / max(1, self.end - self.start))
        return self.target * (1 - (1 - t) ** 3)


class Compression:
    """prune_weights/masks: kernels to keep masked (fixed masks, or rebuilt on ``ramp``);
    quant_weights/bits: kernels fake-quantised inside ``quantized()`` (bits 0 = no QAT)."""

    def __init__(self, prune_weights: dict[str, torch.Tensor] | None = None,
                 masks: dict[str, torch.Tensor] | None = None, ramp: PruneRamp | None = None,
                 quant_weights: dict[str, torch.Tensor] | None = None, bits: int = 0,
                 per_channel: bool = True):
        self.prune_weights, self.masks, self.ramp = prune_weights or {}, masks, ramp
        self.quant_weights, self.bits, self.per_channel = quant_weights or {}, bits, per_channel

    def done(self, step: int) -> bool:
        """True once the pruning target is reached (always, without a ramp)."""
        return self.ramp is None or step >= self.ramp.end

    def step(self, step: int) -> None:
        """Call after each optimiser step (``step`` counts from 1 over the whole run)."""
        ramp = self.ramp
        if ramp is not None and step >= ramp.start and (
                self.masks is None or (step - ramp.start) % ramp.every == 0 or step == ramp.end):
            self.masks = magnitude_masks(self.prune_weights, ramp.sparsity(step), ramp.scope)
        if self.masks is not None:
            apply_masks(self.prune_weights, self.masks)

    @contextmanager
    def quantized(self):
        """Inside: the quantised kernels hold their fake-quantised values; on exit the float
        values come back (gradients computed inside are left for the optimiser)."""
        if not self.bits:
            yield
            return
        saved = {n: w.detach().clone() for n, w in self.quant_weights.items()}
        with torch.no_grad():
            for w in self.quant_weights.values():
                w.copy_(fake_quant(w, self.bits, self.per_channel))
        try:
            yield
        finally:
            with torch.no_grad():
                for n, w in self.quant_weights.items():
                    w.copy_(saved[n])


def from_train_config(cfg, model: nn.Module, steps_per_epoch: int) -> Compression | None:
    """The Compression a TrainConfig asks for (``prune_to`` > 0 and/or ``qat``), else None."""
    prune_to, qat = getattr(cfg, "prune_to", 0.0), getattr(cfg, "qat", False)
    if not prune_to and not qat:
        return None
    ramp = None
    if prune_to:
        total = cfg.epochs * steps_per_epoch
        start, end = int(cfg.prune_start * total), max(1, int(cfg.prune_end * total))
        ramp = PruneRamp(prune_to, start, max(start + 1, end), cfg.prune_scope,
                         every=max(1, (end - start) // 20))
    return Compression(prunable(model, keep_first=True), None, ramp,
                       prunable(model) if qat else None, cfg.qat_bits if qat else 0)
