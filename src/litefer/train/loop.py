"""The one training loop: tensors in, an optimiser with its schedule, and one epoch of steps.

``litefer train`` (:class:`litefer.train.engine.Trainer`), ``litefer cv`` and the search proxy
(:func:`litefer.train.cv.fit_fixed_epochs`) and fine-tuning after pruning or for QAT
(:func:`litefer.optimize.finetune.finetune`) all step through :func:`run_epoch`. Compression
(pruning masks, fake quantisation) and distillation (a teacher callable or a teacher bank) are
arguments: this package imports nothing from ``litefer.optimize``.
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Callable

import numpy as np
import torch

from ..preprocess import fit_crop, normalize
from ..spec import ModelSpec
from .augment import random_affine
from .distill import distill_loss
from .domain import domain_shift
from .mixup import mixed_loss, mixup_batch


def faces_to_uint8(fs, spec: ModelSpec) -> np.ndarray:
    """FaceSet images -> uint8 (N, C, H, W) at the spec's size/channels (shared with runtime)."""
    if fs.images.ndim == 3 and spec.channels == 1 and fs.images.shape[1:] == spec.input_size:
        return fs.images[:, None]
    return np.stack([fit_crop(im, spec) for im in fs.images])


def batch_tensor(x_uint8: np.ndarray, spec: ModelSpec) -> torch.Tensor:
    """uint8 (N, C, H, W) -> normalised float32 tensor, the runtime's preprocessing."""
    return torch.from_numpy(normalize(x_uint8, spec))


@torch.no_grad()
def predict_logits(model: torch.nn.Module, x_uint8: np.ndarray, spec: ModelSpec,
                   batch_size: int = 512, tta: bool | str | None = None) -> np.ndarray:
    """Logits float32 (N, K) in eval mode; ``tta`` ("flip"/True or "crops") averages them over
    the runtime's test-time views (litefer.runtime.views.averaged_output)."""
    from ..runtime.views import averaged_output

    model.eval()

    def run(x: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(x)).numpy()

    out = [averaged_output(run, batch_tensor(x_uint8[i:i + batch_size], spec).numpy(), tta)
           for i in range(0, len(x_uint8), batch_size)]
    k = len(spec.labels)
    return np.concatenate(out) if out else np.zeros((0, k), np.float32)


def corrected_faceset_logits(model: torch.nn.Module, fs, spec: ModelSpec) -> np.ndarray:
    """float64 (N, K) logits of a FaceSet after the spec's prior correction and before its
    temperature: what a temperature is fitted on (litefer.calibrate.fit_temperature)."""
    from ..metrics import corrected_logits

    return corrected_logits(predict_logits(model, faces_to_uint8(fs, spec), spec), spec)


def warmup_cosine(epochs: int, warmup_epochs: float, steps_per_epoch: int
                  ) -> Callable[[int], float]:
    """Learning-rate factor per optimiser step: linear warm-up over ``warmup_epochs`` (none when
    0), then a cosine from 1 to 0 at the last step of ``epochs``."""
    total = max(1, epochs * steps_per_epoch)
    warm = int(warmup_epochs * steps_per_epoch)
    if warm <= 0:
        return lambda step: 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
    warm = max(1, warm)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return factor


def make_optimizer(model: torch.nn.Module, cfg, steps_per_epoch: int):
    """AdamW (cfg.lr, cfg.weight_decay) with the warm-up/cosine schedule of cfg.epochs and
    cfg.warmup_epochs; returns (optimizer, LambdaLR scheduler stepped once per batch)."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, warmup_cosine(cfg.epochs, cfg.warmup_epochs, steps_per_epoch))
    return opt, sched


def class_weights(labels: np.ndarray, k: int) -> torch.Tensor:
    """Inverse-frequency weights float32 (k,), mean 1 over the samples."""
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    w = counts.sum() / (k * np.maximum(counts, 1))
    return torch.tensor(w, dtype=torch.float32)


def make_loss(cfg, labels: np.ndarray, k: int) -> torch.nn.Module:
    """Label-smoothed cross-entropy, inverse-frequency weighted when cfg.class_weights."""
    weights = class_weights(labels, k) if cfg.class_weights else None
    return torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=cfg.label_smoothing)


def batch_loss(logits: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor,
               perm: torch.Tensor | None, lam: float, cfg, loss_fn, teacher=None) -> torch.Tensor:
    """Training loss of one batch ``xb`` (already blended by ``mixup_batch``: ``perm``, ``lam``)
    with logits (N, K) and int64 labels ``yb`` (N,): ``loss_fn(logits, labels)`` without a
    teacher, else ``distill_loss`` against ``teacher(xb)`` (computed once); both labels of a
    blend weighted by ``lam`` (``mixed_loss``)."""
    if teacher is None:
        return mixed_loss(lambda y: loss_fn(logits, y), yb, perm, lam)
    soft = teacher(xb)
    return mixed_loss(lambda y: distill_loss(logits, soft, y, cfg), yb, perm, lam)


def _frozen(teacher):
    """A teacher callable run without autograd (a torch module must not collect gradients)."""
    if teacher is None:
        return None

    def call(xb: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return teacher(xb)

    return call


def run_epoch(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, spec: ModelSpec, cfg,
              opt, sched, gen: torch.Generator, *, loss_fn=None, teacher=None, bank=None,
              compression=None, ema=None, loss_bias: torch.Tensor | None = None,
              first_step: int = 0, bar=None) -> tuple[float, float]:
    """One shuffled pass over uint8 images ``x`` (N, C, H, W) and int64 labels ``y`` (N,).

    cfg: a TrainConfig (batch_size, augment, domain, mixup, label_smoothing, distill, seed).
    Per batch: domain-shift augmentation (numpy, seeded by cfg.seed and ``first_step``), random
    affine, mixup, loss on ``logits + loss_bias`` (logit adjustment; None = off) against the
    labels or, with ``teacher`` (float32 batch -> (N, K) logits), the distillation loss. A
    ``bank`` (TeacherBank) supplies the augmented views and the teacher's logits instead.
    ``compression`` wraps each forward/backward in ``quantized()`` and gets ``step(i)`` with the
    global step ``i = first_step + batches done``; ``ema.update(model)`` runs after each step.
    Returns (mean loss, accuracy of the raw logits on the augmented batches).
    """
    model.train()
    loss_fn = loss_fn or torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    teacher = _frozen(teacher)
    order = torch.randperm(len(y), generator=gen).numpy()
    rng = np.random.default_rng([cfg.seed, first_step])
    loss_sum, correct, seen = 0.0, 0, 0
    for j, i in enumerate(range(0, len(order), cfg.batch_size)):
        idx = np.sort(order[i:i + cfg.batch_size])
        step_teacher = teacher
        if bank is not None:  # a banked view and the teacher's logits for it
            xb, soft = bank.batch(x, idx, spec, gen)
            step_teacher = lambda _x, soft=soft: soft  # noqa: E731
        else:
            xu = domain_shift(x[idx], cfg.domain, rng)
            xb = random_affine(batch_tensor(xu, spec), cfg.augment, gen)
        xb, perm, lam = mixup_batch(xb, cfg.mixup, gen)
        yb = torch.from_numpy(y[idx])
        with compression.quantized() if compression is not None else nullcontext():
            logits = model(xb)
            scored = logits + loss_bias if loss_bias is not None else logits
            loss = batch_loss(scored, xb, yb, perm, lam, cfg, loss_fn, step_teacher)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        opt.step()
        sched.step()
        if compression is not None:
            compression.step(first_step + j + 1)
        if ema is not None:
            ema.update(model)
        loss_sum += loss.item() * len(idx)
        correct += int((logits.argmax(1) == yb).sum())
        seen += len(idx)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
    return loss_sum / max(seen, 1), correct / max(seen, 1)
