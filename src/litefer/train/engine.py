"""Training loop: AdamW + warm-up/cosine, batched augmentation, checkpoint/resume, selection on val."""
from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data import FaceSet, load_dataset, load_splits
from ..errors import LiteferError
from ..models import create_model
from .config import TrainConfig
from .checkpoint import load_checkpoint
from .distill import OnnxTeacher, check_distill_recipe
from .ema import WeightAverage
from .history import ResourceMeter, write_history
from .loop import batch_tensor, faces_to_uint8, make_loss, make_optimizer, predict_logits, run_epoch
from .teacher_bank import TeacherBank, load_or_build_bank
from .transfer import calibrate_folded_batchnorm, init_from_onnx


def load_extra(specs: tuple[str, ...], space) -> list[FaceSet]:
    """Extra training sets named "PATH[:SPLIT]" (e.g. "../shared/data/muxspace:train"), each in
    the label space ``space``; LiteferError for another label space."""
    sets = []
    for item in specs:
        path, _, split = item.partition(":") if not Path(item).exists() else (item, "", "")
        fs = load_dataset(path, split or None)
        if fs.space.classes != space.classes:
            raise LiteferError(f"--extra-data {item}: labels {fs.space.classes} differ from the "
                               f"training set's {space.classes}")
        sets.append(fs)
    return sets


def label_prior(labels: np.ndarray, k: int) -> np.ndarray:
    """Class frequencies float64 (k,) of int labels (N,), each at least 1 count (no log(0))."""
    counts = np.maximum(np.bincount(labels, minlength=k).astype(np.float64), 1.0)
    return counts / counts.sum()


class Trainer:
    """Owns one run directory: config.json, last.pt (resume), best.pt (selected on val), logs.

    With ``cfg.ema`` the weight average (:class:`WeightAverage`) is validated and saved as
    best.pt; the live weights' accuracy is logged beside it as ``live_val_acc``.
    With ``cfg.teacher_views`` the teacher bank is built (or read) here; ``progress`` shows its
    bar. ``compression``: a factory ``(cfg, model, steps_per_epoch) -> Compression`` (e.g.
    ``litefer.optimize.compress.from_train_config``), required when cfg asks for pruning or QAT.
    """

    def __init__(self, cfg: TrainConfig, train: FaceSet | None = None, val: FaceSet | None = None,
                 progress: bool = True, compression: Callable | None = None):
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
        self._folded = None  # BatchNorms awaiting statistics after an ONNX --init-from
        if cfg.init_from:
            self._init_from(cfg.init_from)
        extra = load_extra(cfg.extra_data, train.space)
        self.x_train = np.concatenate([faces_to_uint8(fs, self.spec) for fs in (train, *extra)])
        self.y_train = np.concatenate([train.labels, *(fs.labels for fs in extra)])
        if cfg.align_faces:  # framed as the runtime frames faces; the original where none is found
            from .framing import cached_frame_like_runtime

            self.x_train, found = cached_frame_like_runtime(
                self.x_train, self.spec, cfg.align_faces, cfg.align_cache, progress)
            self.aligned_fraction = float(found.mean())
        if self._folded is not None:
            self._calibrate_onnx_init(cfg.init_from)
        prior = label_prior(self.y_train, len(self.spec.labels))
        # Logit adjustment: the loss sees logits + tau * log(prior), so the raw logits learn the
        # class-balanced posterior; the runtime may add the prior back (spec.prior_tau < 0), and a
        # teacher made of this run is shifted back by spec.logit_adjust (train.distill).
        self.spec = self.spec.with_(prior=tuple(float(p) for p in prior),
                                    logit_adjust=float(cfg.logit_adjust or 0.0))
        self.loss_bias = (torch.tensor(cfg.logit_adjust * np.log(prior), dtype=torch.float32)
                          if cfg.logit_adjust else None)
        self.x_val, self.y_val = faces_to_uint8(val, self.spec), val.labels
        self.steps = math.ceil(len(self.y_train) / cfg.batch_size)
        self.opt, self.sched = make_optimizer(self.model, cfg, self.steps)
        self.loss_fn = make_loss(cfg, self.y_train, len(self.spec.labels))
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
            if compression is None:
                raise LiteferError("pruning or QAT needs a compression factory: "
                                   "Trainer(cfg, compression=litefer.optimize.compress."
                                   "from_train_config)")
            self.compress = compression(cfg, self.model, self.steps)
        self.ema = WeightAverage(self.model, cfg.ema) if cfg.ema else None
        (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        if cfg.resume and (self.out / "last.pt").exists():
            self._load(self.out / "last.pt")

    def _init_from(self, path: str) -> None:
        if Path(path).suffix == ".onnx":  # an exported network: every layer, BatchNorms folded
            self._folded = init_from_onnx(self.model, self.spec, path)
            return
        source, spec, _ = load_checkpoint(path)
        if spec.arch != self.spec.arch:
            raise LiteferError(f"--init-from {path} holds a {spec.arch}, not a {self.spec.arch}")
        self.model.load_state_dict(source.state_dict())

    def _calibrate_onnx_init(self, path: str, n: int = 512) -> None:
        """Statistics for the folded BatchNorms from ``n`` training faces (fixed by the seed),
        then a check that the model computes what the ONNX file does on them."""
        from ..runtime.classifier import Classifier

        pick = np.random.default_rng(self.cfg.seed).permutation(len(self.x_train))[:n]
        xb = batch_tensor(self.x_train[np.sort(pick)], self.spec)
        calibrate_folded_batchnorm(self.model, self._folded, xb)
        with torch.no_grad():
            ours = self.model.eval()(xb).numpy()
        theirs = Classifier(path, threads=self.cfg.threads).run(xb.numpy())
        gap = float(np.abs(ours - theirs).max())
        if gap > 1e-3 * max(1.0, float(np.abs(theirs).max())):
            raise LiteferError(f"--init-from {path}: the {self.spec.arch} model rebuilt from it "
                               f"differs from the file by {gap:.3g} in logits; initialise "
                               "from its training checkpoint (.pt) instead")
        self.model.train()
        self._folded = None

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
        return run_epoch(self.model, self.x_train, self.y_train, self.spec, self.cfg, self.opt,
                         self.sched, self.gen, loss_fn=self.loss_fn, teacher=self.teacher,
                         bank=self.bank, compression=self.compress, ema=self.ema,
                         loss_bias=self.loss_bias,
                         first_step=self.epoch * self.steps, bar=bar)

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
