"""Training loop: AdamW + warm-up/cosine, batched augmentation, checkpoint/resume, selection on val."""
from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data import FaceSet, load_splits
from ..errors import LiteferError
from ..models import create_model
from ..preprocess import fit_crop, normalize
from ..spec import ModelSpec
from .augment import random_affine
from .config import TrainConfig
from .checkpoint import load_checkpoint
from .distill import OnnxTeacher, check_distill_recipe, distill_loss
from .ema import WeightAverage
from .mixup import mixed_loss, mixup_batch
from .history import ResourceMeter, write_history
from .teacher_bank import TeacherBank, load_or_build_bank


def faces_to_uint8(fs: FaceSet, spec: ModelSpec) -> np.ndarray:
    """FaceSet images -> uint8 (N, C, H, W) at the spec's size/channels (shared with runtime)."""
    if fs.images.ndim == 3 and spec.channels == 1 and fs.images.shape[1:] == spec.input_size:
        return fs.images[:, None]
    return np.stack([fit_crop(im, spec) for im in fs.images])


def batch_tensor(x_uint8: np.ndarray, spec: ModelSpec) -> torch.Tensor:
    return torch.from_numpy(normalize(x_uint8, spec))


@torch.no_grad()
def predict_logits(model: torch.nn.Module, x_uint8: np.ndarray, spec: ModelSpec,
                   batch_size: int = 512, tta_flip: bool = False) -> np.ndarray:
    """Logits float32 (N, K) in eval mode; with tta_flip, the mean with the mirrored image."""
    model.eval()
    out = []
    for i in range(0, len(x_uint8), batch_size):
        xb = batch_tensor(x_uint8[i:i + batch_size], spec)
        logits = model(xb)
        if tta_flip:
            logits = (logits + model(torch.flip(xb, dims=[3]))) / 2
        out.append(logits.numpy())
    k = len(spec.labels)
    return np.concatenate(out) if out else np.zeros((0, k), np.float32)


def _schedule(cfg: TrainConfig, steps_per_epoch: int):
    total = cfg.epochs * steps_per_epoch
    warm = max(1, int(cfg.warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return factor


def _class_weights(labels: np.ndarray, k: int) -> torch.Tensor:
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    w = counts.sum() / (k * np.maximum(counts, 1))
    return torch.tensor(w, dtype=torch.float32)


def batch_loss(logits: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor,
               perm: torch.Tensor | None, lam: float, cfg: TrainConfig, loss_fn,
               teacher=None) -> torch.Tensor:
    """Training loss of one batch ``xb`` (already blended by ``mixup_batch``: ``perm``, ``lam``)
    with logits (N, K) and int64 labels ``yb`` (N,): ``loss_fn(logits, labels)`` without a
    teacher, else ``distill_loss`` against ``teacher(xb)`` (computed once); both labels of a
    blend weighted by ``lam`` (``mixed_loss``). Shared by Trainer and litefer.train.cv."""
    if teacher is None:
        return mixed_loss(lambda y: loss_fn(logits, y), yb, perm, lam)
    soft = teacher(xb)
    return mixed_loss(lambda y: distill_loss(logits, soft, y, cfg), yb, perm, lam)


class Trainer:
    """Owns one run directory: config.json, last.pt (resume), best.pt (selected on val), logs.

    With ``cfg.ema`` the weight average (:class:`WeightAverage`) is validated and saved as
    best.pt; the live weights' accuracy is logged beside it as ``live_val_acc``.
    With ``cfg.teacher_views`` the teacher bank is built (or read) here; ``progress`` shows its
    bar.
    """

    def __init__(self, cfg: TrainConfig, train: FaceSet | None = None, val: FaceSet | None = None,
                 progress: bool = True):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        if train is None or val is None:
            sets = load_splits(cfg.data, (cfg.train_split, cfg.val_split))
            train, val = sets[cfg.train_split], sets[cfg.val_split]
        if cfg.limit:
            train = train.subset(slice(0, cfg.limit))
        self.model, base_spec = create_model(cfg.model)
        name = f"{cfg.model}.{cfg.tag}" if cfg.tag else cfg.model
        self.spec = base_spec.with_(name=name, labels=train.space.classes)
        if len(train.space) != len(base_spec.labels):
            self.model, _ = create_model(cfg.model, self.spec)
        if cfg.init_from:
            self._init_from(cfg.init_from)
        self.x_train, self.y_train = faces_to_uint8(train, self.spec), train.labels
        self.x_val, self.y_val = faces_to_uint8(val, self.spec), val.labels
        self.steps = math.ceil(len(self.y_train) / cfg.batch_size)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr,
                                     weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, _schedule(cfg, self.steps))
        weights = _class_weights(self.y_train, len(self.spec.labels)) if cfg.class_weights else None
        self.loss_fn = torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=cfg.label_smoothing)
        self.teacher = self._teacher()
        self.bank: TeacherBank | None = None
        if cfg.teacher_views:  # built (or read) before any step, so a resumed run finds it
            self.bank = load_or_build_bank(self.x_train, self.y_train, self.spec, self.teacher,
                                           cfg.augment, cfg.teacher_views, cfg.seed,
                                           cfg.teacher_bank, progress=progress,
                                           mirror=cfg.teacher_mirror)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.epoch, self.best_acc, self.history = 0, -1.0, []
        self.compress = None  # pruning schedule / QAT, only when the config asks (prune_to, qat)
        if cfg.prune_to or cfg.qat:
            from ..optimize.compress import from_train_config

            self.compress = from_train_config(cfg, self.model, self.steps)
        if cfg.ema and self.compress is not None:
            raise LiteferError("--ema cannot be combined with pruning or QAT: the average of the "
                               "weights is neither sparse nor quantised")
        self.ema = WeightAverage(self.model, cfg.ema) if cfg.ema else None
        (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        if cfg.resume and (self.out / "last.pt").exists():
            self._load(self.out / "last.pt")

    def _init_from(self, path: str) -> None:
        source, spec, _ = load_checkpoint(path)
        if spec.arch != self.spec.arch:
            raise LiteferError(f"--init-from {path} holds a {spec.arch}, not a {self.spec.arch}")
        self.model.load_state_dict(source.state_dict())

    def _teacher(self) -> OnnxTeacher | None:
        cfg = self.cfg
        check_distill_recipe(cfg, bool(cfg.teachers))
        if cfg.distill == 0:
            return None
        return OnnxTeacher(cfg.teachers, self.spec, tta=cfg.teacher_tta, threads=cfg.threads)

    def _state(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "sched": self.sched.state_dict(), "epoch": self.epoch, "best_acc": self.best_acc,
                "history": self.history, "gen": self.gen.get_state(),
                "spec": self.spec.to_json(), "config": self.cfg.to_dict(),
                **({"ema": self.ema.state_dict()} if self.ema is not None else {})}

    def _load(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=False)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.gen.set_state(state["gen"])
        self.epoch, self.best_acc = state["epoch"], state["best_acc"]
        self.history = state["history"]
        if self.ema is not None:
            if "ema" not in state:
                raise LiteferError(f"{path} was trained without --ema; resume it without --ema "
                                   "or start over (--no-resume)")
            self.ema.load_state_dict(state["ema"])

    def _quantized(self):
        return self.compress.quantized() if self.compress is not None else nullcontext()

    def _train_epoch(self, bar: tqdm) -> tuple[float, float]:
        self.model.train()
        order = torch.randperm(len(self.y_train), generator=self.gen).numpy()
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(0, len(order), self.cfg.batch_size):
            idx = np.sort(order[i:i + self.cfg.batch_size])
            teacher = self.teacher
            if self.bank is not None:  # a banked view and the teacher's logits for it
                xb, soft = self.bank.batch(self.x_train, idx, self.spec, self.gen)
                teacher = lambda _x, soft=soft: soft  # noqa: E731
            else:
                xb = random_affine(batch_tensor(self.x_train[idx], self.spec), self.cfg.augment,
                                   self.gen)
            xb, perm, lam = mixup_batch(xb, self.cfg.mixup, self.gen)
            yb = torch.from_numpy(self.y_train[idx])
            with self._quantized():
                logits = self.model(xb)
                loss = batch_loss(logits, xb, yb, perm, lam, self.cfg, self.loss_fn, teacher)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
            self.opt.step()
            self.sched.step()
            if self.compress is not None:
                self.compress.step(self.epoch * self.steps + i // self.cfg.batch_size + 1)
            if self.ema is not None:
                self.ema.update(self.model)
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(idx)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        return loss_sum / seen, correct / seen

    def fit(self, progress: bool = True) -> dict:
        """Train to cfg.epochs (continuing a resumed run); returns the summary written to disk."""
        meter = ResourceMeter()
        while self.epoch < self.cfg.epochs:
            t0 = time.time()
            with tqdm(total=self.steps, desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}",
                      disable=not progress, leave=False) as bar:
                tr_loss, tr_acc = self._train_epoch(bar)
            selected = self.ema.module if self.ema is not None else self.model
            with self._quantized():
                logits = predict_logits(selected, self.x_val, self.spec)
            val_loss = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(self.y_val)))
            val_acc = float((logits.argmax(1) == self.y_val).mean())
            self.epoch += 1
            row = {"epoch": self.epoch, "train_loss": tr_loss, "train_acc": tr_acc,
                   "val_loss": val_loss, "val_acc": val_acc, "lr": self.opt.param_groups[0]["lr"],
                   "seconds": time.time() - t0, **meter.sample()}
            if self.ema is not None:  # the live weights, for comparison with their average
                live = predict_logits(self.model, self.x_val, self.spec)
                row["live_val_acc"] = float((live.argmax(1) == self.y_val).mean())
            if self.compress is not None:  # epochs before the pruning target are not eligible
                row["selectable"] = self.compress.done(self.epoch * self.steps)
            self.history.append(row)
            if val_acc > self.best_acc and row.get("selectable", True):
                self.best_acc = val_acc
                torch.save({"model": selected.state_dict(), "spec": self.spec.to_json(),
                            "epoch": self.epoch, "val_acc": val_acc,
                            "config": self.cfg.to_dict()}, self.out / "best.pt")
            torch.save(self._state(), self.out / "last.pt")
            write_history(self.history, self.out)
            if progress:
                tqdm.write(f"epoch {self.epoch}: train {tr_acc:.4f} val {val_acc:.4f} "
                           f"(best {self.best_acc:.4f}) {row['seconds']:.0f}s")
        eligible = [r for r in self.history if r.get("selectable", True)]
        best = max(eligible, key=lambda r: r["val_acc"]) if eligible else {}
        summary = {"model": self.spec.name, "epochs": self.epoch, "best_epoch": best.get("epoch"),
                   "best_val_acc": best.get("val_acc"), "val_split": self.cfg.val_split,
                   "train_images": int(len(self.y_train))}
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary
