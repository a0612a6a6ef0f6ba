"""Weight averaging of training checkpoints: model soups (Wortsman et al., 2022) and the
interpolation between a network and its fine-tune (WiSE-FT, Wortsman et al., 2022).

Averaging only makes sense for networks that share a starting point (fine-tunes of one
checkpoint): they lie in one basin, so the average of their weights is a network of the same
size and speed that often generalises better than each of them.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import LiteferError
from ..spec import ModelSpec


def _weights(state: dict, path: Path, ema: bool) -> dict:
    if not ema:
        return state["model"]
    if "ema" not in state:
        raise LiteferError(f"{path} holds no weight average (train it with --ema, or drop --ema)")
    return state["ema"]["module"]


def average_checkpoints(paths: list[str | Path], weights: list[float] | None = None,
                        ema: bool = False) -> dict:
    """Checkpoints (best.pt / last.pt of one architecture) -> a checkpoint dict whose floating
    tensors are the weighted mean ``sum(w_i * t_i) / sum(w)`` (equal weights by default).

    Integer tensors (BatchNorm's step counters) are taken from the first checkpoint. The spec and
    training config are the first checkpoint's that stores a label prior (else the first's), so
    a soup of logit-adjusted fine-tunes keeps its prior; ``averaged_from`` records the inputs.
    ema: average each checkpoint's weight average (last.pt of a run trained with --ema).
    A single checkpoint is allowed with ``ema``: its weight average alone.
    Raises LiteferError for fewer than two checkpoints, weights that do not fit, different
    architectures, labels or tensor names and shapes.
    """
    if len(paths) < (1 if ema else 2):
        raise LiteferError("averaging needs at least two checkpoints (or one with --ema: its "
                           "weight average alone)")
    weights = [1.0] * len(paths) if weights is None else [float(w) for w in weights]
    if len(weights) != len(paths) or min(weights) < 0 or sum(weights) <= 0:
        raise LiteferError(f"need one non-negative weight per checkpoint ({len(paths)}) with a "
                           f"positive sum, got {weights}")
    states, specs, tensors = [], [], []
    for p in map(Path, paths):
        if not p.is_file():
            raise LiteferError(f"checkpoint not found: {p}")
        state = torch.load(p, map_location="cpu", weights_only=False)
        states.append(state)
        specs.append(ModelSpec.from_json(state["spec"]))
        tensors.append(_weights(state, p, ema))
    first, shapes = specs[0], {k: tuple(v.shape) for k, v in tensors[0].items()}
    for p, spec, sd in zip(paths[1:], specs[1:], tensors[1:]):
        if (spec.arch, spec.labels, spec.extra.get("nano_config")) != \
                (first.arch, first.labels, first.extra.get("nano_config")):
            raise LiteferError(f"{p} is a {spec.arch} with labels {', '.join(spec.labels)}; "
                               f"{paths[0]} is a {first.arch} with {', '.join(first.labels)}")
        if {k: tuple(v.shape) for k, v in sd.items()} != shapes:
            raise LiteferError(f"{p} and {paths[0]} hold different tensors: average only "
                               "fine-tunes of one network")
    total = sum(weights)
    model = {}
    for k, v in tensors[0].items():
        if v.is_floating_point():
            model[k] = sum(w * sd[k].double() for w, sd in zip(weights, tensors)).div(total).to(
                v.dtype)
        else:
            model[k] = v.clone()
    keep = next((i for i, s in enumerate(specs) if s.prior), 0)
    return {"model": model, "spec": states[keep]["spec"], "epoch": states[keep].get("epoch"),
            "config": states[keep].get("config", {}),
            "averaged_from": [{"path": str(p), "weight": w / total}
                              for p, w in zip(paths, weights)]}


def save_average(paths: list[str | Path], out: str | Path, weights: list[float] | None = None,
                 ema: bool = False) -> Path:
    """average_checkpoints(...) written to ``out`` (a .pt file that `litefer export` reads)."""
    out = Path(out)
    if out.suffix != ".pt":
        raise LiteferError(f"the averaged checkpoint is a .pt file, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(average_checkpoints(paths, weights, ema), out)
    return out
