"""SE-guided channel pruning of LB-MBNet and rebuilding of the smaller network (thesis, ch. 5).

Each LB-MBConv block has ``cin * r`` LBC channels; each channel owns one expansion filter (+ BN),
one fixed ternary kernel (+ BN), one input and one output of the SE gate, and one input of the
projection. A channel's score is the mean of its SE gate (sigmoid output) over training faces.
Pruning keeps the ``cin * r'`` best channels of every block and copies everything they own into a
freshly built LB-MBNet with ratio ``r'``; the kept LBC kernels move with their channels.

Zeroing the pruned channels right after the LBC activation (``mask_pruned``) leaves exactly the
rebuilt network: a zero channel adds nothing to the SE squeeze, is gated to zero and adds nothing
to the projection. So before retraining the rebuilt network equals the masked original.

Schedules: ``oneshot`` goes from r to r' in one step, then retrains; ``segmented`` steps through
integer ratios evenly spaced between r and r' (``segments`` steps), re-scoring the channels and
retraining after each step. Retraining is ``optimize.finetune`` (augmented, selected on val).
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..data import FaceSet
from ..errors import LiteferError
from ..models.lbmbnet import RATIOS, LBMBConv, LBMBNet, arch_name, config_of
from ..spec import ModelSpec
from ..train.loop import batch_tensor
from .finetune import FinetuneConfig, finetune

SCHEDULES = ("oneshot", "segmented")
# Dimension of each per-block tensor that indexes LBC channels (absent: copied whole).
_CHANNEL_DIM = {"expand.0.weight": 0, "expand.1.weight": 0, "expand.1.bias": 0,
                "expand.1.running_mean": 0, "expand.1.running_var": 0, "lbc.0.weight": 0,
                "lbc.1.weight": 0, "lbc.1.bias": 0, "lbc.1.running_mean": 0,
                "lbc.1.running_var": 0, "se.reduce.weight": 1, "se.expand.weight": 0,
                "se.expand.bias": 0, "project.0.weight": 1}


@dataclass(frozen=True)
class SEPruneConfig:
    """ratio: target expansion r'; schedule: oneshot | segmented; segments: pruning steps of the
    segmented schedule; samples: training faces the SE gates are averaged over (0 = all);
    finetune: retraining, its ``epochs`` shared out over the steps (the last takes the rest)."""

    ratio: int = 3
    schedule: str = "oneshot"
    segments: int = 3
    samples: int = 4000
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise LiteferError(f"schedule must be one of {', '.join(SCHEDULES)}, "
                               f"got {self.schedule!r}")
        if self.ratio < 1 or self.segments < 1:
            raise LiteferError("ratio and segments must be positive")


def blocks(model: torch.nn.Module) -> list[LBMBConv]:
    """The LB-MBConv blocks of an LB-MBNet, in order (LiteferError for other models)."""
    if not isinstance(model, LBMBNet):
        raise LiteferError(f"prune-se needs an LB-MBNet (lbmbnet32, lbmbnet59, ...), "
                           f"not {type(model).__name__}")
    return list(model.blocks)


@torch.no_grad()
def se_scores(model: LBMBNet, x_uint8: np.ndarray, spec: ModelSpec,
              batch_size: int = 256) -> list[torch.Tensor]:
    """Per block, float32 (cin * r,): the mean SE gate of each LBC channel over the uint8 faces
    ``x_uint8`` (N, C, H, W), in eval mode."""
    if len(x_uint8) == 0:
        raise LiteferError("no faces to collect SE weights over")
    sums = [torch.zeros(b.se.expand.out_channels) for b in blocks(model)]

    def record(k: int):
        def hook(_module, _inputs, out):  # returns None: the output stays as it is
            sums[k].add_(out.flatten(1).sum(0))
        return hook

    hooks = [b.se.gate.register_forward_hook(record(k)) for k, b in enumerate(blocks(model))]
    model.eval()
    try:
        for i in range(0, len(x_uint8), batch_size):
            model(batch_tensor(x_uint8[i:i + batch_size], spec))
    finally:
        for h in hooks:
            h.remove()
    return [s / len(x_uint8) for s in sums]


def top_channels(scores: list[torch.Tensor], model: LBMBNet, ratio: int) -> list[torch.Tensor]:
    """Per block, the sorted int64 indices of its ``cin * ratio`` highest-scoring channels (ties:
    the lower index). Raises LiteferError when ``ratio`` would not shrink the network."""
    current = model.config.ratio
    if not 1 <= ratio < current:
        raise LiteferError(f"target ratio must be in 1..{current - 1} (the model has r = "
                           f"{current}), got {ratio}")
    keep = []
    for s, b in zip(scores, blocks(model)):
        n = b.expand[0].in_channels * ratio
        keep.append(torch.sort(torch.argsort(-s, stable=True)[:n]).values)
    return keep


@torch.no_grad()
def rebuild(model: LBMBNet, keep: list[torch.Tensor]) -> LBMBNet:
    """A new LB-MBNet whose block k holds channels ``keep[k]`` of ``model`` (same count for every
    block's ``cin``: cin * r'), with every corresponding weight, BN statistic and LBC kernel."""
    cins = [b.expand[0].in_channels for b in blocks(model)]
    ratios = {len(k) // c for k, c in zip(keep, cins)}
    if len(ratios) != 1 or any(len(k) % c for k, c in zip(keep, cins)):
        raise LiteferError("every block must keep cin * r' channels for one integer r'")
    state = {}
    for name, t in model.state_dict().items():
        parts = name.split(".")
        if parts[0] == "blocks" and ".".join(parts[2:]) in _CHANNEL_DIM:
            t = t.index_select(_CHANNEL_DIM[".".join(parts[2:])], keep[int(parts[1])])
        state[name] = t.clone()
    cfg = replace(model.config, ratio=ratios.pop())
    small = LBMBNet(cfg, model.classifier.out_features, model.stem[0].in_channels)
    small.load_state_dict(state)
    return small.train(model.training)


@contextlib.contextmanager
def mask_pruned(model: LBMBNet, keep: list[torch.Tensor]):
    """Inside the ``with`` statement, ``model``'s LBC channels not in ``keep`` output zero
    (forward hooks on each block's ``lbc``)."""
    hooks = []
    for b, k in zip(blocks(model), keep):
        mask = torch.zeros(b.se.expand.out_channels)
        mask[k] = 1.0
        hooks.append(b.lbc.register_forward_hook(
            lambda _m, _i, out, m=mask.view(1, -1, 1, 1): out * m))
    try:
        yield model
    finally:
        for h in hooks:
            h.remove()


def ratio_steps(start: int, target: int, schedule: str, segments: int) -> list[int]:
    """The ratios pruned to, in order: [target] (oneshot) or ``segments`` integer ratios evenly
    spaced from start down to target (segmented; repeated values dropped)."""
    if schedule == "oneshot" or segments == 1:
        return [target]
    steps = np.linspace(start, target, segments + 1)[1:]
    return list(dict.fromkeys(int(round(r)) for r in steps if int(round(r)) < start))


def split_epochs(total: int, parts: int) -> list[int]:
    """``total`` epochs shared out over ``parts`` steps, the remainder to the last."""
    base = total // parts
    return [base] * (parts - 1) + [total - base * (parts - 1)]


def sample_faces(x_uint8: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """A seeded random subset of ``n`` faces (all of them when n is 0 or too large), in order."""
    if n <= 0 or n >= len(x_uint8):
        return x_uint8
    idx = np.sort(np.random.default_rng(seed).choice(len(x_uint8), n, replace=False))
    return x_uint8[idx]


def prune_se(model: LBMBNet, spec: ModelSpec, x_train: np.ndarray, train: FaceSet,
             val: FaceSet | None, cfg: SEPruneConfig) -> tuple[LBMBNet, ModelSpec, list[dict]]:
    """Run the schedule: score (on ``sample_faces(x_train)``) -> keep top -> rebuild -> retrain,
    per step. Returns the final network (eval mode), its spec (registered arch for r') and, per
    step, {"ratio", "kept" (count per block), "keep" (indices per block), "scores" (before the
    step), "rebuilt" (a copy before retraining), "finetune" (its history)}. The spec's name keeps
    the source's tag: ``lbmbnet32.fer2013`` -> ``lbmbnet32_r3.fer2013-se6to3``. Raises
    LiteferError when r' has no registered architecture or does not shrink the network."""
    base = config_of(spec)
    if cfg.ratio not in RATIOS:
        raise LiteferError(f"no registered LB-MBNet with r = {cfg.ratio} (a checkpoint must "
                           f"reload by name); choose one of {RATIOS}")
    sample = sample_faces(x_train, cfg.samples, cfg.finetune.seed)
    ratios = ratio_steps(model.config.ratio, cfg.ratio, cfg.schedule, cfg.segments)
    steps = []
    for r, epochs in zip(ratios, split_epochs(cfg.finetune.epochs, len(ratios))):
        scores = se_scores(model, sample, spec)
        keep = top_channels(scores, model, r)
        model = rebuild(model, keep)
        step = {"ratio": r, "kept": [len(k) for k in keep], "keep": keep, "scores": scores,
                "rebuilt": _copy(model)}
        step["finetune"] = finetune(model, spec, train, val, replace(cfg.finetune, epochs=epochs))
        steps.append(step)
    arch = arch_name(base.depth, cfg.ratio)
    tag = (spec.name.split(".", 1)[1] + "-") if "." in spec.name else ""
    new_spec = spec.with_(arch=arch, name=f"{arch}.{tag}se{base.ratio}to{cfg.ratio}",
                          extra={**spec.extra, "lbmb_config": model.config.to_dict()})
    return model.eval(), new_spec, steps


def _copy(model: LBMBNet) -> LBMBNet:
    return copy.deepcopy(model).eval()


def surviving(steps: list[dict]) -> list[torch.Tensor]:
    """Per block, the original channel indices that survived every step of a schedule."""
    kept = steps[0]["keep"]
    for step in steps[1:]:
        kept = [k[s] for k, s in zip(kept, step["keep"])]
    return kept


def plot_se_histograms(scores: list[torch.Tensor], path, title: str,
                       kept: list[torch.Tensor] | None = None) -> None:
    """PNG histogram of every LBC channel's mean SE gate; with ``kept``, kept and pruned channels
    are stacked in two colours. Needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = torch.cat(scores).numpy()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0.0, 1.0, 41)
    if kept is None:
        ax.hist(values, bins=bins, color="tab:blue", label=f"{len(values)} channels")
    else:
        mask = torch.cat([torch.isin(torch.arange(len(s)), k) for s, k in zip(scores, kept)])
        ax.hist([values[mask.numpy()], values[~mask.numpy()]], bins=bins, stacked=True,
                color=["tab:blue", "tab:red"],
                label=[f"kept ({int(mask.sum())})", f"pruned ({int((~mask).sum())})"])
    ax.set_xlabel("mean SE weight over training faces")
    ax.set_ylabel("LBC channels")
    ax.set_title(title, fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
