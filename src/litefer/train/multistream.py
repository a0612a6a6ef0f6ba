"""Train and test the four-stream network (models.multistream) subject-independently.

    python -m litefer.train.multistream --data ../shared/data/ckplus48 \\
        --out results/multistream/run --folds 5 --threads 1

Data: every CK+48 still (48x48, the last three frames of each labelled CK+ sequence) becomes one
T-frame synthetic clip (litefer.video.clips; camera motion, scale/rotation drift, blur, noise
and brightness drift, no occlusion and no dropped frames) whose last frame is the "peak". The
expression does not evolve within a clip, unlike the thesis's onset -> peak CK+ sequences.

Per fold of a subject-grouped k-fold (train.cv.group_kfold), as the thesis's Table 3.2: the
CNN is trained on the training clips' peak frames (random affine augmentation); with it frozen,
the static-feature GRU and the probability GRU are trained on its per-frame outputs; the
LBP-TOP stream on the XT/YT code maps; then the fusion classifier on the four frozen 128-d
vectors. Each stage: AdamW, linear warm-up and cosine decay to 0, label smoothing 0.1, a fixed
number of epochs, final weights tested (nothing is selected on the test fold). Every stream and
the fusion are scored on the test subjects, and the fused test logits are recomputed end to end
from raw frames (torch LBP-TOP inside the model) as a check of the cached pipeline.
Per-fold JSON in ``out/folds`` is re-used on resume with the same settings; ``out/result.json``
holds the report.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data import FaceSet
from ..data.folders import load_ckplus48
from ..features import lbp_top
from ..metrics import classification_report
from ..models.multistream import STAGES, STREAMS, MultiStreamConfig, MultiStreamNet
from ..video.clips import ClipConfig, make_clips
from .augment import random_affine
from .config import AugmentConfig
from .cv import group_kfold
from .loop import warmup_cosine


@dataclass(frozen=True)
class StageConfig:
    """One training stage: epochs, peak learning rate, batch size, AdamW weight decay."""

    epochs: int = 30
    lr: float = 3e-3
    batch_size: int = 32
    weight_decay: float = 1e-2


@dataclass(frozen=True)
class RunConfig:
    """folds: k of the subject-grouped k-fold; run_folds: test only the first n folds (0 = all);
    limit: keep n random images (smoke runs); stages: per-stage recipe (keys of STAGES)."""

    folds: int = 5
    run_folds: int = 0
    model: MultiStreamConfig = field(default_factory=lambda: MultiStreamConfig(size=48))
    stages: dict = field(default_factory=lambda: {s: StageConfig() for s in STAGES})
    seed: int = 0
    limit: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Sequences:
    """frames uint8 (N, T, S, S); xt, yt uint8 (N, T-2, S-2, S-2) LBP-TOP codes; labels int64
    (N,); subjects (N,) ids; classes in label order."""

    frames: np.ndarray
    xt: np.ndarray
    yt: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    classes: tuple[str, ...]


def build_sequences(fs: FaceSet, cfg: MultiStreamConfig, seed: int = 0) -> Sequences:
    """One synthetic clip of cfg.frames frames per still of ``fs`` (grey, cfg.size square)."""
    clip_cfg = ClipConfig(length=cfg.frames, occlusion_prob=0.0, drop_prob=0.0)
    frames, _ = make_clips(fs.images, clip_cfg, seed)
    maps = lbp_top(frames, cfg.lbp_mapping, planes=("xt", "yt"))
    return Sequences(frames, maps.xt, maps.yt, fs.labels, np.asarray(fs.subjects).astype(str),
                     fs.space.classes)


def fit_stage(model: MultiStreamNet, stage: str, forward, inputs: list[torch.Tensor],
              y: torch.Tensor, sc: StageConfig, seed: int, augment: bool = False,
              progress: bool = True) -> float:
    """Train ``stage`` of ``model`` (others frozen) on ``inputs`` (tensors, first axis N) with
    ``forward(*batch) -> logits``. Returns the last epoch's mean training loss."""
    params = model.train_stage(stage)
    gen = torch.Generator().manual_seed(seed)
    steps = math.ceil(len(y) / sc.batch_size)
    opt = torch.optim.AdamW(params, lr=sc.lr, weight_decay=sc.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, warmup_cosine(sc.epochs, 1.0, steps))
    aug, loss_sum = AugmentConfig(), 0.0
    with tqdm(total=sc.epochs * steps, desc=f"  {stage}", disable=not progress,
              leave=False, file=sys.stderr) as bar:
        for _ in range(sc.epochs):
            order, loss_sum = torch.randperm(len(y), generator=gen), 0.0
            for i in range(0, len(y), sc.batch_size):
                idx = order[i:i + sc.batch_size]
                batch = [t[idx] for t in inputs]
                if augment:
                    batch[0] = random_affine(batch[0], aug, gen)
                loss = F.cross_entropy(forward(*batch), y[idx], label_smoothing=0.1)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += loss.item() * len(idx)
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return loss_sum / len(y)


@torch.no_grad()
def batched(fn, inputs: list[torch.Tensor], size: int = 128) -> torch.Tensor:
    """fn over chunks of the first axis, concatenated (eval, no grad)."""
    return torch.cat([fn(*[t[i:i + size] for t in inputs]) for i in range(0, len(inputs[0]),
                                                                              size)])


def to_tensors(seqs: Sequences) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames normalised as the spec ((x/255 - 0.5) / 0.5) and the code maps as float."""
    frames = torch.from_numpy(seqs.frames).float().mul_(2.0 / 255.0).sub_(1.0)
    return frames, torch.from_numpy(seqs.xt).float(), torch.from_numpy(seqs.yt).float()


def run_fold(cfg: RunConfig, seqs: Sequences, folds: np.ndarray, f: int,
             progress: bool = True) -> dict:
    """Train every stage on the folds but ``f`` and test each on ``f``."""
    t0, times, seed = time.time(), {}, cfg.seed + 1000 * f
    torch.manual_seed(seed)
    model = MultiStreamNet(cfg.model, len(seqs.classes))
    frames, xt, yt = to_tensors(seqs)
    y = torch.from_numpy(seqs.labels)
    tr, te = torch.from_numpy(folds != f), torch.from_numpy(folds == f)
    st = {s: StageConfig(**c) if isinstance(c, dict) else c for s, c in cfg.stages.items()}

    def stage(name, forward, inputs, augment=False):
        t = time.time()
        fit_stage(model, name, forward, [x[tr] for x in inputs], y[tr], st[name], seed,
                  augment, progress)
        times[name] = time.time() - t

    peak = frames[:, -1:]
    stage("cnn", model.cnn, [peak], augment=True)
    both = batched(lambda x: torch.cat(model.frame_outputs(x), 2), [frames])
    feats, probs = both[..., :cfg.model.fc], both[..., cfg.model.fc:]
    stage("static", lambda v: model.heads["static"](model.static(v)), [feats])
    stage("prob", lambda v: model.heads["prob"](model.prob(v)), [probs])
    stage("lbp", lambda a, b: model.heads["lbp"](model.lbp(a, b)), [xt, yt])
    vecs = {"cnn": feats[:, -1], "static": batched(model.static, [feats]),
            "prob": batched(model.prob, [probs]), "lbp": batched(model.lbp, [xt, yt])}
    stage("fusion", lambda *v: model.fuse(dict(zip(STREAMS, v))), [vecs[s] for s in STREAMS])
    with torch.no_grad():
        test_logits = {s: model.head(s, vecs[s][te]) for s in STREAMS}
        test_logits["fusion"] = model.fuse({s: vecs[s][te] for s in STREAMS})
        e2e = batched(model, [frames[te]], 32)
    y_te = seqs.labels[te.numpy()]
    preds = {s: v.argmax(1).numpy() for s, v in test_logits.items()}
    return {"fold": f, "n": int(te.sum()), "subjects": sorted(set(seqs.subjects[te.numpy()])),
            "accuracy": {s: float((p == y_te).mean()) for s, p in preds.items()},
            "end_to_end_max_abs_diff": float((e2e - test_logits["fusion"]).abs().max()),
            "stage_seconds": times, "seconds": time.time() - t0, "y_true": y_te.tolist(),
            "y_pred": {s: p.tolist() for s, p in preds.items()}}


def run(cfg: RunConfig, seqs: Sequences, out: Path | None = None, progress: bool = True,
        log=print) -> dict:
    """Subject-grouped k-fold over ``seqs``; per-fold rows cached in out/folds. The report."""
    folds = group_kfold(seqs.subjects, seqs.labels, cfg.folds, cfg.seed)
    fp, rows = cfg.fingerprint(), []
    for f in range(cfg.run_folds or cfg.folds):
        path = out / "folds" / f"fold_{f:02d}.json" if out else None
        row = json.loads(path.read_text()) if path and path.is_file() else None
        if row is None or row.get("fingerprint") != fp:
            row = {**run_fold(cfg, seqs, folds, f, progress), "fingerprint": fp}
            if path:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(row))
        log(f"fold {f + 1}/{cfg.folds}: " + " ".join(
            f"{s} {a:.4f}" for s, a in row["accuracy"].items()) + f" ({row['seconds']:.0f}s)")
        rows.append(row)
    return summarize(cfg, seqs, rows)


def summarize(cfg: RunConfig, seqs: Sequences, rows: list[dict]) -> dict:
    """Mean/std over folds and pooled reports per stage."""
    y_true = np.concatenate([r["y_true"] for r in rows])
    report = {"mean_accuracy": {}, "std_accuracy": {}, "pooled": {}}
    for s in STAGES:
        accs = np.array([r["accuracy"][s] for r in rows])
        report["mean_accuracy"][s] = float(accs.mean())
        report["std_accuracy"][s] = float(accs.std(ddof=1)) if len(accs) > 1 else 0.0
        pooled = classification_report(y_true, np.concatenate([r["y_pred"][s] for r in rows]),
                                        seqs.classes)
        report["pooled"][s] = {k: pooled[k] for k in ("accuracy", "macro_f1") if k in pooled}
    keep = ("fold", "n", "subjects", "accuracy", "end_to_end_max_abs_diff", "stage_seconds",
            "seconds")
    return {"labels": list(seqs.classes), "n_sequences": int(len(seqs.labels)),
            "n_subjects": int(len(set(seqs.subjects))), "folds_run": len(rows), **report,
            "folds": [{k: r[k] for k in keep} for r in rows], "settings": cfg.to_dict(),
            "selection": "fixed epochs per stage, final weights",
            "seconds": float(sum(r["seconds"] for r in rows))}


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def parse_config(argv: list[str] | None) -> tuple[RunConfig, argparse.Namespace]:
    p = argparse.ArgumentParser(prog="python -m litefer.train.multistream",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="CK+48 folder (<class>/S<subject>_*.png)")
    p.add_argument("--out", default="runs/multistream")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--run-folds", type=int, default=0, help="test only the first n folds")
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--size", type=int, default=48, help="frame side in pixels")
    p.add_argument("--widths", type=_ints, default=(64, 128, 256), help="plain CNN, e.g. 32,64,128")
    p.add_argument("--lbp-widths", type=_ints, default=(32, 64, 128))
    p.add_argument("--lbp-mapping", choices=("plain", "uniform"), default="plain")
    for s, e in (("cnn", 30), ("gru", 30), ("lbp", 20), ("fusion", 30)):
        p.add_argument(f"--epochs-{s}", type=int, default=e)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=0, help="random n images only (smoke runs)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    model = MultiStreamConfig(frames=a.frames, size=a.size, widths=a.widths,
                              lbp_widths=a.lbp_widths, lbp_mapping=a.lbp_mapping)
    epochs = {"cnn": a.epochs_cnn, "static": a.epochs_gru, "prob": a.epochs_gru,
              "lbp": a.epochs_lbp, "fusion": a.epochs_fusion}
    stages = {s: StageConfig(e, a.lr, a.batch_size) for s, e in epochs.items()}
    return RunConfig(a.folds, a.run_folds, model, stages, a.seed, a.limit), a


def main(argv: list[str] | None = None) -> int:
    cfg, a = parse_config(argv)
    torch.set_num_threads(a.threads)
    fs = load_ckplus48(a.data, size=(cfg.model.size, cfg.model.size))
    if cfg.limit:
        keep = np.random.default_rng(cfg.seed).permutation(len(fs))[:cfg.limit]
        fs = fs.subset(np.sort(keep))
    seqs = build_sequences(fs, cfg.model, cfg.seed)
    out = Path(a.out)
    report = run(cfg, seqs, out, progress=not a.no_progress,
                 log=lambda m: print(m, file=sys.stderr, flush=True))
    report.update(data=str(a.data), threads=a.threads)
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({"out": str(out / "result.json"), **report["mean_accuracy"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
