"""Short fine-tuning of compressed models over a FaceSet, through the shared training loop.

Used after each pruning step, after channel pruning and for quantisation-aware fine-tuning. It
selects the epoch on the validation split (PublicTest for FER2013), never on the test split.
With ``distill`` > 0 a frozen teacher (the uncompressed model) adds knowledge distillation
(Hinton et al., 2015): loss = (1 - a) * CE(labels) + a * T^2 * KL(teacher_T || student_T).
"""
from __future__ import annotations

import copy
import math
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data import FaceSet
from ..spec import ModelSpec
from ..train.config import AugmentConfig, TrainConfig
from ..train.distill import check_distill
from ..train.loop import faces_to_uint8, make_optimizer, predict_logits, run_epoch


@dataclass(frozen=True)
class FinetuneConfig:
    """epochs: passes over the training faces (0 = no fine-tuning); lr: peak of a cosine decay to 0;
    limit: use only the first N training faces (0 = all; for smoke runs); distill: weight a of
    the distillation term in [0, 1] (0 = off; needs a teacher), distill_temperature: its T."""

    epochs: int = 2
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    seed: int = 0
    threads: int = 2
    limit: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    distill: float = 0.0
    distill_temperature: float = 4.0

    def recipe(self) -> TrainConfig:
        """The same settings as a TrainConfig for the shared loop: no warm-up (cosine from the
        first step), no mixup, no domain augmentation."""
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           warmup_epochs=0.0, weight_decay=self.weight_decay,
                           label_smoothing=self.label_smoothing, seed=self.seed,
                           threads=self.threads, limit=self.limit, augment=self.augment,
                           distill=self.distill, distill_temperature=self.distill_temperature)


def accuracy(model: torch.nn.Module, x_uint8: np.ndarray, y: np.ndarray, spec: ModelSpec,
             compression=None) -> float:
    """Top-1 accuracy in eval mode (with ``compression``'s fake-quantised weights, if any)."""
    with compression.quantized() if compression is not None else nullcontext():
        logits = predict_logits(model, x_uint8, spec)
    return float((logits.argmax(1) == y).mean()) if len(y) else 0.0


def finetune(model: torch.nn.Module, spec: ModelSpec, train: FaceSet, val: FaceSet | None,
             cfg: FinetuneConfig, compression=None, teacher: torch.nn.Module | None = None) -> dict:
    """Fine-tune ``model`` in place; returns {"epochs", "val_acc" per epoch, "best_epoch"}.

    compression: an ``optimize.compress.Compression`` whose ``quantized()`` wraps each forward and
    backward pass (quantisation-aware training, straight-through) and whose ``step(i)`` runs after
    each optimiser step (pruning masks). With ``val`` the best epoch's weights are kept.
    teacher: a model with the same input spec and classes, used (frozen, eval mode) when
    ``cfg.distill`` > 0; LiteferError if distillation is asked for without one.
    """
    if cfg.epochs <= 0 or len(train) == 0:
        return {"epochs": 0, "val_acc": [], "best_epoch": None}
    check_distill(cfg.distill, teacher is not None)
    teacher = teacher.eval() if cfg.distill > 0 else None
    torch.set_num_threads(cfg.threads)
    gen = torch.Generator().manual_seed(cfg.seed)
    train = train.subset(slice(0, cfg.limit)) if cfg.limit else train
    x, y = faces_to_uint8(train, spec), train.labels
    recipe = cfg.recipe()
    steps = math.ceil(len(y) / cfg.batch_size)
    opt, sched = make_optimizer(model, recipe, steps)
    history, best, best_state = [], -1.0, None
    for epoch in range(cfg.epochs):
        run_epoch(model, x, y, spec, recipe, opt, sched, gen, teacher=teacher,
                  compression=compression, first_step=epoch * steps)
        if val is not None:
            history.append(accuracy(model, faces_to_uint8(val, spec), val.labels, spec,
                                    compression))
            if history[-1] > best:
                best, best_state = history[-1], copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    best_epoch = int(np.argmax(history)) + 1 if history else cfg.epochs
    return {"epochs": cfg.epochs, "val_acc": history, "best_epoch": best_epoch}
