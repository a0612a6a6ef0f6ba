"""Subject-independent k-fold cross-validation (CK+ protocol) and a fixed-epoch training loop.

Protocol: every image of a subject falls in one fold (group k-fold, greedily balanced by class);
each fold is tested once by a model trained on the other folds' subjects. Epoch choice: a FIXED
number of epochs with the recipe of ``litefer train`` (AdamW, linear warm-up then cosine decay to
zero, label smoothing, random affine augmentation) and the final weights are tested; nothing is
selected on the test fold. Why not a validation part: CK+ has 118 subjects, so a validation part
of the training subjects would hold ~10 of them (~80 images) and its accuracy saturates, which
makes the chosen epoch noise; the cosine schedule ends at lr = 0, so the last epoch is stable.

Distillation inside the protocol: ``save_models`` keeps each fold's final weights
(``out/folds/fold_XX.pt``, with the subjects it was tested on); a later run with
``teacher_cv=(out, ...)`` distils every fold from the teachers (one run, or several averaged)
trained on exactly the same training subjects (checked), so no test subject ever reaches the
student through a teacher.

Per-fold results are written to ``out/folds/fold_XX.json`` and re-used when a run is resumed with
the same settings, so an interrupted 10-fold run only repeats the unfinished fold. The thread
count is not part of those settings, yet results are bit-identical only at the same thread count
(floating-point reduction order), so quote numbers together with ``--threads``.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..data import FaceSet
from ..errors import DatasetError, LiteferError
from ..metrics import classification_report
from ..models import create_model
from ..spec import ModelSpec
from .config import TrainConfig
from .distill import check_distill_recipe, check_teacher_spec, mean_log_probs
from .ema import WeightAverage
from .loop import faces_to_uint8, make_loss, make_optimizer, predict_logits, run_epoch


# Settings added after folds had been cached (fold teachers, mixup, teacher_views, which CV
# refuses, and teacher_mirror, which needs teacher_views), as paths into asdict(CVConfig); while
# off they are not hashed, so folds computed without them keep their fingerprint.
_ADDED_LATER = (("teacher_cv",), ("train", "mixup"), ("train", "teacher_views"),
                ("train", "teacher_mirror"), ("train", "extra_data"), ("train", "logit_adjust"),
                ("train", "domain"), ("train", "align_faces"))


@dataclass(frozen=True)
class CVConfig:
    """folds: k; init_from: checkpoint (.pt) or ONNX whose weights, except the classifier,
    initialise every fold (two-stage fine-tuning), "" = from scratch; tta: average with the
    mirrored test image; train: the per-fold recipe (its data/out/split fields are unused;
    distill, distill_temperature and teacher_tta apply to the fold teachers); teacher_cv: output
    folders of earlier runs with saved fold models whose fold f teaches fold f (several: their
    mean log-probabilities; () = no teacher)."""

    model: str = "nano_a"
    folds: int = 10
    init_from: str = ""
    tta: bool = False
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=30, batch_size=32, lr=3e-3, warmup_epochs=1.0, weight_decay=1e-2))
    teacher_cv: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.train.teacher_views:
            raise LiteferError("a teacher bank (teacher_views) is for `litefer train`; CV fold "
                               "teachers run online")
        t = self.train
        unused = [flag for flag, on in (("--logit-adjust", t.logit_adjust),
                                        ("--extra-data", t.extra_data),
                                        ("--align-faces", t.align_faces),
                                        ("--teacher (ONNX)", t.teachers)) if on]
        if unused:  # the fold loop implements none of them; silently dropping one misleads
            raise LiteferError(f"cross-validation does not support {', '.join(unused)}: folds "
                               "train on the data set's own faces with a plain loss and fold "
                               "teachers (teacher_cv) only")

    def fingerprint(self) -> str:
        """Hash of every setting that changes a fold's result (used to validate resumed folds)."""
        d = asdict(self)
        for *parents, key in _ADDED_LATER:  # off: left out, so older cached folds stay valid
            owner = d
            for name in parents:
                owner = owner[name]
            value = owner[key]
            if not (any(value.values()) if isinstance(value, dict) else value):
                del owner[key]
        for k in ("data", "out", "resume", "tag", "threads", "limit", "teacher_bank", "align_cache"):
            d["train"].pop(k, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def group_kfold(subjects: np.ndarray, labels: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Fold index int64 (N,) in 0..k-1 with all images of a subject in one fold.

    Subjects are placed largest first (ties in a seeded random order) into the fold that keeps
    per-class counts closest to an even 1/k share, so folds are roughly stratified and sized.
    Raises DatasetError when a subject id is missing ("") or there are fewer subjects than k.
    """
    subjects, labels = np.asarray(subjects).astype(str), np.asarray(labels)
    if len(subjects) != len(labels) or (subjects == "").any():
        raise DatasetError("cross-validation needs a subject id for every image "
                           "(load CK+ with load_ckplus48 / a folder of S<subject>_... names)")
    names, inverse = np.unique(subjects, return_inverse=True)
    if len(names) < k:
        raise DatasetError(f"{len(names)} subjects cannot fill {k} folds; "
                           f"use --folds <= {len(names)}")
    n_cls = int(labels.max()) + 1
    per_subject = np.zeros((len(names), n_cls))
    np.add.at(per_subject, (inverse, labels), 1)
    target = per_subject.sum(0) / k
    order = np.random.default_rng(seed).permutation(len(names))
    order = order[np.argsort(-per_subject[order].sum(1), kind="stable")]
    fold_counts, assign = np.zeros((k, n_cls)), np.zeros(len(names), np.int64)
    for s in order:
        before, after = fold_counts, fold_counts + per_subject[s]
        cost = ((after - target) ** 2).sum(1) - ((before - target) ** 2).sum(1)
        cost += (after.sum(1) - target.sum()) ** 2 - (before.sum(1) - target.sum()) ** 2
        f = int(np.argmin(cost))
        fold_counts[f] += per_subject[s]
        assign[s] = f
    return assign[inverse]


def fit_fixed_epochs(model: torch.nn.Module, spec: ModelSpec, x: np.ndarray, y: np.ndarray,
                     cfg: TrainConfig, teacher=None) -> list[dict]:
    """Train ``model`` in place for cfg.epochs on uint8 (N, C, H, W) images ``x`` and int64
    labels ``y`` with the ``litefer train`` recipe; no validation, no files. ``teacher``: a
    callable float32 (N, C, H, W) batch -> (N, K) logits; with it the loss is
    ``distill_loss`` (weight cfg.distill, temperature cfg.distill_temperature). cfg.mixup > 0
    blends batches (``mixup_batch``); cfg.ema > 0 keeps a weight average that is copied into
    ``model`` at the end (the weights that are tested). Returns per-epoch
    {"epoch", "train_loss", "train_acc", "seconds"} (accuracy on augmented batches)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = math.ceil(len(y) / cfg.batch_size)
    opt, sched = make_optimizer(model, cfg, steps)
    loss_fn = make_loss(cfg, y, len(spec.labels))
    ema = WeightAverage(model, cfg.ema) if cfg.ema else None
    history = []
    for epoch in range(cfg.epochs):
        t0 = time.time()
        loss, acc = run_epoch(model, x, y, spec, cfg, opt, sched, gen, loss_fn=loss_fn,
                              teacher=teacher, ema=ema, first_step=epoch * steps)
        history.append({"epoch": epoch + 1, "train_loss": loss, "train_acc": acc,
                        "seconds": time.time() - t0})
    if ema is not None:
        model.load_state_dict(ema.module.state_dict())
    return history


def cv_spec(model: str, fs: FaceSet) -> ModelSpec:
    """The registered spec of ``model`` with the dataset's labels (e.g. CK+ with contempt)."""
    from ..models import get_entry

    base = get_entry(model).spec
    return base.with_(name=f"{model}.{fs.space.name}-cv", labels=fs.space.classes)


class FoldTeacher:
    """The frozen networks that the ``teacher_cv`` runs trained for fold ``f``: ``teacher(x)``
    maps the student's float32 batch (N, C, H, W) to (N, K) logits, the mean log-probabilities
    over the networks (and, with ``tta``, over the batch and its mirror; ``mean_log_probs``, as
    litefer.train.distill.OnnxTeacher for ONNX teachers)."""

    def __init__(self, folders: Sequence[str], f: int, subjects: list[str], fs: FaceSet,
                 student: ModelSpec, tta: bool):
        if not folders:
            raise LiteferError("a fold teacher needs at least one run folder")
        self.tta, self.models, self.sources = tta, [], []
        for folder in folders:
            path = Path(folder) / "folds" / f"fold_{f:02d}.pt"
            self.models.append(self._load(path, f, subjects, fs, student))
            self.sources.append(str(path))

    @staticmethod
    def _load(path: Path, f: int, subjects: list[str], fs: FaceSet,
              student: ModelSpec) -> torch.nn.Module:
        if not path.is_file():
            raise LiteferError(f"no teacher for fold {f + 1}: {path} is missing (run the teacher's "
                               f"`litefer cv` with --save-models and the same --folds/--seed)")
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if sorted(saved["subjects"]) != sorted(subjects):
            raise LiteferError(f"teacher {path} was tested on other subjects than fold {f + 1}: "
                               "its training set would include this fold's test subjects")
        spec = cv_spec(saved["model"], fs)
        check_teacher_spec(str(path), spec, student)
        model, _ = create_model(saved["model"], spec)
        model.load_state_dict(saved["state_dict"])
        return model.eval()

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return mean_log_probs(self.models, x, self.tta)


def run_fold(cfg: CVConfig, fs: FaceSet, folds: np.ndarray, f: int,
             save_to: Path | None = None) -> dict:
    """Train on every fold but ``f`` and test on ``f``. Returns accuracy, n, subjects (sorted),
    seconds, init info and the per-image y_true / y_pred (label indices) of the test fold.
    ``save_to``: write the final weights there (a FoldTeacher file)."""
    t0 = time.time()
    spec = cv_spec(cfg.model, fs)
    torch.manual_seed(cfg.train.seed + 1000 * f)
    model, _ = create_model(cfg.model, spec)
    init = None
    if cfg.init_from:
        from .transfer import load_backbone

        init = load_backbone(model, spec, cfg.init_from)
    x = faces_to_uint8(fs, spec)
    test = folds == f
    subjects = sorted(set(map(str, fs.subjects[test])))
    teacher = None
    if cfg.teacher_cv:
        check_distill_recipe(cfg.train, True)
        teacher = FoldTeacher(cfg.teacher_cv, f, subjects, fs, spec, cfg.train.teacher_tta)
    seed_cfg = TrainConfig.from_dict({**cfg.train.to_dict(), "seed": cfg.train.seed + f})
    history = fit_fixed_epochs(model, spec, x[~test], fs.labels[~test], seed_cfg, teacher)
    logits = predict_logits(model, x[test], spec, tta=cfg.tta)
    y_true, y_pred = fs.labels[test], logits.argmax(1)
    if save_to is not None:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model": cfg.model, "subjects": subjects, "state_dict": model.state_dict()},
                   save_to)
    return {"fold": f, "accuracy": float((y_true == y_pred).mean()), "n": int(test.sum()),
            "subjects": subjects, "seconds": time.time() - t0,
            "final_train_loss": history[-1]["train_loss"] if history else None, "init": init,
            "teacher": teacher.sources if teacher else None,
            "y_true": y_true.tolist(), "y_pred": y_pred.tolist()}


def _cached_fold(path: Path, fingerprint: str, n: int) -> dict | None:
    if not path.is_file():
        return None
    try:
        row = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    ok = row.get("fingerprint") == fingerprint and row.get("n_images") == n
    return row if ok else None


def run_cv(cfg: CVConfig, fs: FaceSet, out: Path | None = None, resume: bool = True,
           log=None, save_models: bool = False) -> dict:
    """k-fold subject-independent CV of ``cfg.model`` on ``fs``. Returns the report:
    mean_accuracy, std_accuracy (sample std over folds, ddof=1), folds (fold, accuracy, n,
    subjects, seconds), pooled (classification_report over all test predictions), settings.
    With ``out``, per-fold JSON files are written there and re-used on resume; with
    ``save_models`` also each fold's weights (``fold_XX.pt``; a cached fold without them is
    retrained)."""
    if save_models and out is None:
        raise LiteferError("saving the fold models needs an output folder")
    torch.set_num_threads(cfg.train.threads)
    folds = group_kfold(fs.subjects, fs.labels, cfg.folds, cfg.train.seed)
    fp, rows = cfg.fingerprint(), []
    for f in range(cfg.folds):
        path = out / "folds" / f"fold_{f:02d}.json" if out else None
        weights = path.with_suffix(".pt") if save_models else None
        row = _cached_fold(path, fp, len(fs)) if (path and resume) else None
        if row is not None and weights is not None and not weights.is_file():
            row = None
        if row is None:
            row = {**run_fold(cfg, fs, folds, f, weights), "fingerprint": fp,
                   "n_images": len(fs)}
            if path:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(row))
        if log:
            log(f"fold {f + 1}/{cfg.folds}: accuracy {row['accuracy']:.4f} "
                f"(n={row['n']}, {len(row['subjects'])} subjects, {row['seconds']:.0f}s)")
        rows.append(row)
    return summarize(cfg, fs, rows)


def summarize(cfg: CVConfig, fs: FaceSet, rows: list[dict]) -> dict:
    """The CV report from per-fold rows (see run_cv)."""
    accs = np.array([r["accuracy"] for r in rows])
    y_true = np.concatenate([r["y_true"] for r in rows]).astype(np.int64)
    y_pred = np.concatenate([r["y_pred"] for r in rows]).astype(np.int64)
    pooled = classification_report(y_true, y_pred, fs.space.classes)
    pooled["model"] = cv_spec(cfg.model, fs).name
    keep = ("fold", "accuracy", "n", "subjects", "seconds", "final_train_loss", "init",
            "teacher")
    return {"model": cfg.model, "labels": list(fs.space.classes), "n_images": len(fs),
            "n_subjects": len(set(map(str, fs.subjects))),
            "mean_accuracy": float(accs.mean()),
            "std_accuracy": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0,
            "folds": [{k: r.get(k) for k in keep} for r in rows], "pooled": pooled,
            "init_from": cfg.init_from or None, "teacher_cv": list(cfg.teacher_cv) or None,
            "selection": "fixed epochs, final weights",
            "settings": asdict(cfg), "seconds": float(sum(r["seconds"] for r in rows))}
