"""Knowledge distillation: the loss, and a frozen ONNX teacher (one model or an ensemble).

The teacher sees the very batch the student sees (after augmentation), through ONNX Runtime, so
any exported model, including an ensemble of earlier runs, can teach without its PyTorch code.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import LiteferError
from ..runtime.classifier import Classifier
from ..spec import ModelSpec


def check_distill(weight: float, has_teacher: bool) -> None:
    """LiteferError unless ``weight`` is in [0, 1] and a teacher exists whenever it is > 0."""
    if not 0.0 <= weight <= 1.0:
        raise LiteferError(f"distill weight must be in [0, 1], got {weight}")
    if weight > 0 and not has_teacher:
        raise LiteferError("distillation (distill > 0) needs at least one teacher model")


def check_distill_recipe(cfg, has_teacher: bool) -> None:
    """check_distill on a TrainConfig's ``distill`` weight, then the rest of its distillation
    settings: temperature > 0, no class weights with distillation, no teacher without a weight.
    LiteferError names the first problem."""
    check_distill(cfg.distill, has_teacher)
    if cfg.distill_temperature <= 0:
        raise LiteferError(f"distill temperature must be > 0, got {cfg.distill_temperature}")
    if cfg.distill > 0 and cfg.class_weights:
        raise LiteferError("class weights are not supported with distillation")
    if cfg.distill == 0 and has_teacher:
        raise LiteferError("teacher models given but the distillation weight is 0 (--distill A)")


def check_teacher_spec(name: str, teacher: ModelSpec, student: ModelSpec) -> None:
    """LiteferError unless the teacher takes the student's input (size, channels, mean, std) and
    predicts the student's labels, so that it can see the student's very batches."""
    mismatch = [f"{k} {getattr(teacher, k)} != {getattr(student, k)}" for k in
                ("input_size", "channels", "mean", "std", "labels")
                if getattr(teacher, k) != getattr(student, k)]  # ModelSpec keeps tuples
    if mismatch:
        raise LiteferError(f"teacher {name} does not match the student: " + "; ".join(mismatch))


def training_shift(spec: ModelSpec) -> np.ndarray:
    """(K,) float32 added to a model's raw logits to give scores of its training distribution:
    ``spec.logit_adjust * log(spec.prior)``; zeros for a model trained without logit adjustment."""
    if not spec.logit_adjust:
        return np.zeros(len(spec.labels), np.float32)
    return (spec.logit_adjust * np.log(np.asarray(spec.prior, np.float64))).astype(np.float32)


class OnnxTeacher:
    """models: ONNX paths or shipped names, each with the student's input spec and classes.

    ``teacher(x)`` takes the student's float32 input (N, C, H, W) and returns float32 (N, K)
    teacher logits: the mean over models (and, with ``tta``, over the input and its mirror, or
    with ``tta="crops"`` over its 14 views, litefer.runtime.views) of
    each one's log-probabilities. Those are logits of the ensemble's normalised geometric-mean
    distribution, ready for a temperature. The models' calibration temperatures and prior
    corrections are not applied; a model trained with a logit-adjusted loss
    (``spec.logit_adjust`` a != 0) has a * log(spec.prior) added first (``training_shift``), so
    that every member speaks of its training distribution, as the student's adjusted logits do
    where they meet the teacher (train.loop). ``training_space=False`` leaves every member's
    logits raw: the mean then equals an output ensemble's (`litefer average --ensemble`).
    """

    def __init__(self, models: Sequence[str], student: ModelSpec, tta: bool | str = False,
                 threads: int = 1, training_space: bool = True):
        if not models:
            raise LiteferError("a teacher needs at least one model")
        self.tta = tta
        self.members = [Classifier(m, threads=threads) for m in models]
        self.paths = [c.path for c in self.members]
        for m, c in zip(models, self.members):
            s = c.spec
            if s.output != "logits":
                raise LiteferError(f"teacher {m} returns {s.output}, not logits")
            check_teacher_spec(str(m), s, student)
        # each member's shift, computed once (the teacher runs on every training batch)
        self.shifts = [training_shift(c.spec) if training_space else 0.0 for c in self.members]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        def run(c: Classifier, shift):
            return lambda v: torch.from_numpy(c.run(np.ascontiguousarray(
                v.numpy(), dtype=np.float32)) + shift)

        return mean_log_probs([run(c, sh) for c, sh in zip(self.members, self.shifts)],
                              x.detach().cpu(), self.tta)

    def log_probs(self, x: np.ndarray, batch: int = 512) -> np.ndarray:
        """``self(x)`` for a whole float32 (N, C, H, W) array in batches: (N, K) float32."""
        k = len(self.members[0].spec.labels)
        out = [self(torch.from_numpy(np.ascontiguousarray(x[i:i + batch]))).numpy()
               for i in range(0, len(x), batch)]
        return np.concatenate(out) if out else np.zeros((0, k), np.float32)


def mean_log_probs(members: Sequence[Callable[[torch.Tensor], torch.Tensor]], x: torch.Tensor,
                   tta: bool | str) -> torch.Tensor:
    """Mean over ``members`` (each float32 (N, C, H, W) -> (N, K) logits) and over the views of
    ``x`` (``tta``: False, True / "flip" for ``x`` and its mirror along W, "crops" for the 14
    views of litefer.runtime.views) of the log-probabilities: the logits of the ensemble's
    normalised geometric-mean distribution, (N, K) float32."""
    from ..runtime.views import tta_views

    views = [torch.from_numpy(v) for v in tta_views(x.detach().cpu().numpy(), tta)]
    return torch.stack([torch.log_softmax(m(v), 1) for m in members for v in views]).mean(0)


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor,
                 cfg) -> torch.Tensor:
    """(1 - a) * label-smoothed CE + a * T^2 * KL(softmax(teacher / T) || softmax(student / T));
    logits (N, C), labels int64 (N,); cfg: anything with
    ``distill`` (a), ``distill_temperature`` (T) and ``label_smoothing`` (a FinetuneConfig or a
    TrainConfig). The T^2 keeps the soft term's gradients on the CE scale."""
    a, t = cfg.distill, cfg.distill_temperature
    ce = F.cross_entropy(student, labels, label_smoothing=cfg.label_smoothing)
    kl = F.kl_div(F.log_softmax(student / t, 1), F.log_softmax(teacher / t, 1), log_target=True,
                  reduction="batchmean")
    return (1 - a) * ce + a * t * t * kl
