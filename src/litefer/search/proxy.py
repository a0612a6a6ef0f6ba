"""Proxy training: a few epochs on a fixed subset, accuracy on a held-out subset.

Why FER2013 (Training subset -> PublicTest subset) rather than CK+: CK+ is the set the chosen
designs are cross-validated on, so searching on it would leak the test folds into the design;
it is also so small and easy that short runs saturate and barely rank candidates; and the same
designs must serve FER2013 itself. A CK+ or other folder still works (held-out subjects).
Every candidate sees the same images, order, augmentation and initial seed, so differences in
proxy accuracy come from the architecture.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data import FaceSet, load_dataset, load_splits
from ..models.nano import NanoConfig, build_nano
from ..spec import ModelSpec
from ..train.config import TrainConfig
from ..train.cv import fit_fixed_epochs, group_kfold
from ..train.engine import faces_to_uint8, predict_logits


@dataclass(frozen=True)
class ProxyConfig:
    """epochs / subset (training images) / val_subset (held-out images, 0 = all) and the recipe."""

    epochs: int = 3
    subset: int = 5000
    val_subset: int = 2000
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0


def _first(fs: FaceSet, n: int, seed: int) -> FaceSet:
    """A seeded random subset of ``n`` rows (all when n <= 0 or n >= len)."""
    if n <= 0 or n >= len(fs):
        return fs
    return fs.subset(np.sort(np.random.default_rng(seed).permutation(len(fs))[:n]))


def load_proxy_data(path: str, cfg: ProxyConfig) -> tuple[FaceSet, FaceSet]:
    """(train, held-out) subsets: FER2013 Training / PublicTest for a .csv(.gz); for a folder
    with subject ids, subjects of one of 5 group folds are held out; else a random 20%."""
    if str(path).endswith((".csv", ".csv.gz")):
        sets = load_splits(path, ("Training", "PublicTest"))
        train, val = sets["Training"], sets["PublicTest"]
    else:
        fs = load_dataset(path)
        if (fs.subjects != "").all():
            held = group_kfold(fs.subjects, fs.labels, 5, cfg.seed) == 0
        else:
            held = np.random.default_rng(cfg.seed).random(len(fs)) < 0.2
        train, val = fs.subset(~held), fs.subset(held)
    return _first(train, cfg.subset, cfg.seed), _first(val, cfg.val_subset, cfg.seed + 1)


class ProxyTrainer:
    """Callable config -> held-out accuracy (0..1) after a short training run."""

    def __init__(self, train: FaceSet, val: FaceSet, cfg: ProxyConfig, threads: int = 2):
        self.cfg = cfg
        self.spec = ModelSpec(name="nano_candidate", arch="nano_candidate",
                              labels=train.space.classes)
        self.x, self.y = faces_to_uint8(train, self.spec), train.labels
        self.x_val, self.y_val = faces_to_uint8(val, self.spec), val.labels
        self.threads = threads

    def __call__(self, config: NanoConfig) -> float:
        torch.set_num_threads(self.threads)
        torch.manual_seed(self.cfg.seed)
        model = build_nano(config, self.spec)
        recipe = TrainConfig(epochs=self.cfg.epochs, batch_size=self.cfg.batch_size,
                             lr=self.cfg.lr, warmup_epochs=0.5, seed=self.cfg.seed)
        fit_fixed_epochs(model, self.spec, self.x, self.y, recipe)
        logits = predict_logits(model, self.x_val, self.spec)
        return float((logits.argmax(1) == self.y_val).mean())
