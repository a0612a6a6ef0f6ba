"""Weight averaging of training checkpoints: model soups (Wortsman et al., 2022) and the
interpolation between a network and its fine-tune (WiSE-FT, Wortsman et al., 2022).

Averaging only makes sense for networks that share a starting point (fine-tunes of one
checkpoint): they lie in one basin, so the average of their weights is a network of the same
size and speed that often generalises better than each of them. Networks that do not share a
start are combined by their outputs instead (``ensemble_checkpoints``, `litefer average
--ensemble`): one network holding every member, n times the size.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import LiteferError
from ..spec import ModelSpec
from .checkpoint import checkpoint_spec


def _weights(state: dict, path: Path, ema: bool) -> dict:
    if not ema:
        return state["model"]
    if "ema" not in state:
        raise LiteferError(f"{path} holds no weight average (train it with --ema, or drop --ema)")
    return state["ema"]["module"]


def _read(paths: list[str | Path]) -> tuple[list[dict], list[ModelSpec]]:
    """Each checkpoint's fields and spec; LiteferError naming a path that is not a file."""
    states = []
    for p in map(Path, paths):
        if not p.is_file():
            raise LiteferError(f"checkpoint not found: {p}")
        states.append(torch.load(p, map_location="cpu", weights_only=False))
    return states, [checkpoint_spec(st) for st in states]


def average_checkpoints(paths: list[str | Path], weights: list[float] | None = None,
                        ema: bool = False) -> dict:
    """Checkpoints (best.pt / last.pt of one architecture) -> a checkpoint dict whose floating
    tensors are the weighted mean ``sum(w_i * t_i) / sum(w)`` (equal weights by default).

    Integer tensors (BatchNorm's step counters) are taken from the first checkpoint. The spec and
    training config are the first checkpoint's that stores a label prior (else the first's), so
    a soup of logit-adjusted fine-tunes keeps its prior; ``averaged_from`` records each input's
    path, weight (normalised), epoch and training config.
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
    states, specs = _read(paths)
    tensors = [_weights(st, Path(p), ema) for st, p in zip(states, paths)]
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
            "config": dict(states[keep].get("config", {})),  # not the input's own dict
            "averaged_from": [{"path": str(p), "weight": w / total, "epoch": st.get("epoch"),
                               "config": st.get("config", {})}
                              for p, w, st in zip(paths, weights, states)]}


def ensemble_checkpoints(paths: list[str | Path]) -> dict:
    """Checkpoints of one architecture ``A`` (independent runs welcome) -> a checkpoint of the
    registered output ensemble ``A_x<n>`` (litefer.models.ensemble) holding each network whole,
    the i-th under ``members.<i>.``.

    The spec is the first member's, renamed (``A_x<n>.<tag>``); the members must agree on labels
    and input (size, channels, normalisation, alignment), on their training label prior, if they
    store one (within 1e-4), and on their logit adjustment: a logit-adjusted member's raw scores
    are balanced against that prior, so members trained on other data or with another adjustment
    cannot share one prior correction. ``ensemble_of`` records each member's path, epoch and
    training config, and for a member that is itself a weight average its ``averaged_from``;
    ``config`` is the first member's.
    Raises LiteferError for fewer than two checkpoints, disagreeing members, or an architecture
    with no registered ensemble of that size.
    """
    from ..models.ensemble import ensemble_arch
    from ..models.registry import get_entry

    if len(paths) < 2:
        raise LiteferError("an ensemble needs at least two checkpoints")
    states, specs = _read(paths)
    first, same = specs[0], ("arch", "labels", "input_size", "channels", "mean", "std", "align")
    for p, spec in zip(paths[1:], specs[1:]):
        diff = [f for f in same if getattr(spec, f) != getattr(first, f)]
        if diff or spec.extra.get("nano_config") != first.extra.get("nano_config"):
            raise LiteferError(f"{p} and {paths[0]} differ in {', '.join(diff) or 'nano_config'}: "
                               "ensemble networks of one architecture, labels and input")
        prior_gap = max((abs(a - b) for a, b in zip(spec.prior, first.prior)), default=0.0)
        if (bool(spec.prior) != bool(first.prior) or prior_gap > 1e-4
                or spec.logit_adjust != first.logit_adjust):
            raise LiteferError(f"{p} and {paths[0]} store different training label priors or "
                               f"logit adjustments ({spec.prior or 'none'}, {spec.logit_adjust} "
                               f"against {first.prior or 'none'}, {first.logit_adjust}): "
                               "ensemble networks trained on the same data with the same loss")
    arch = ensemble_arch(first.arch, len(paths))
    entry = get_entry(arch)  # ModelNotFoundError (a LiteferError) names the registered ones
    tag = first.name.split(".", 1)[1] if "." in first.name else ""
    spec = first.with_(name=f"{arch}.{tag}" if tag else arch, arch=arch,
                       extra={**first.extra, **entry.spec.extra})
    model = {f"members.{i}.{k}": v for i, st in enumerate(states) for k, v in st["model"].items()}
    config = {**states[0].get("config", {}), "model": arch}
    return {"model": model, "spec": spec.to_json(), "epoch": states[0].get("epoch"),
            "config": config,
            "ensemble_of": [{"path": str(p), "epoch": st.get("epoch"),
                             "config": st.get("config", {}),
                             **({"averaged_from": st["averaged_from"]}
                                if st.get("averaged_from") else {})}
                            for p, st in zip(paths, states)]}


def save_average(paths: list[str | Path], out: str | Path, weights: list[float] | None = None,
                 ema: bool = False, ensemble: bool = False) -> Path:
    """average_checkpoints(...) (or, with ``ensemble``, ensemble_checkpoints(paths)) written to
    ``out`` (a .pt file that `litefer export` reads)."""
    out = Path(out)
    if out.suffix != ".pt":
        raise LiteferError(f"the averaged checkpoint is a .pt file, got {out}")
    if ensemble and (weights is not None or ema):
        raise LiteferError("--ensemble keeps every network whole: it takes neither --weights "
                           "nor --ema")
    state = ensemble_checkpoints(paths) if ensemble else average_checkpoints(paths, weights, ema)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, out)
    return out
