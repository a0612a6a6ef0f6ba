"""Two-stage fine-tuning: initialise a model from another run's weights except its classifier.

The classifier is the last leaf module with parameters in registration order (``classifier`` of
the Nano family, ``head`` of mini-Xception): its rows belong to the source label space, so it is
left freshly initialised. Sources:

- a training checkpoint (.pt with "model" and "spec", or a bare state_dict): loaded by key;
- an ONNX file written by ``litefer export``: its Conv/Gemm initialisers are matched to the
  model's Conv2d/Linear layers in execution order. The exporter folds each BatchNorm into the
  conv before it, so such a conv receives the folded weight and its BatchNorm is set to
  gamma=1, beta=folded bias, mean=0, var=1-eps: exact in eval mode, and a faithful warm start
  for training (batch statistics then re-normalise the folded conv's output).
  ``calibrate_folded_batchnorm`` then gives those BatchNorms the statistics of real inputs, so
  that training mode starts from the very function the file computes.

``init_from_onnx`` loads every layer, the classifier included, when the file predicts the same
labels: how ``litefer train --init-from MODEL.onnx`` continues an exported network's training.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import LiteferError
from ..spec import ModelSpec


def classifier_prefix(model: nn.Module) -> str:
    """State-dict prefix ("classifier.") of the last leaf module that owns parameters."""
    last = None
    for name, mod in model.named_modules():
        if not list(mod.children()) and any(True for _ in mod.parameters(recurse=False)):
            last = name
    if last is None:
        raise LiteferError("model has no parameters to treat as a classifier")
    return last + "."


def load_backbone(model: nn.Module, spec: ModelSpec, path: str | Path) -> dict:
    """Copy every weight of ``path`` except the classifier into ``model`` (in place).

    Returns {"source", "loaded" (tensor count), "skipped" (classifier keys)}. Raises
    LiteferError when the file is missing, is for another architecture, or shapes differ.
    """
    path = Path(path)
    if not path.is_file():
        raise LiteferError(f"--init-from file not found: {path}")
    if path.suffix == ".onnx":
        return _from_onnx(model, spec, path)
    state = torch.load(path, map_location="cpu", weights_only=False)
    weights = state.get("model", state) if isinstance(state, dict) else None
    if not isinstance(weights, dict):
        raise LiteferError(f"{path}: not a litefer checkpoint or state_dict")
    if "spec" in state:
        _same_arch(ModelSpec.from_json(state["spec"]).arch, spec.arch, path)
    head = classifier_prefix(model)
    own = model.state_dict()
    body = {k: v for k, v in weights.items() if not k.startswith(head)}
    missing = [k for k in own if not k.startswith(head) and k not in body]
    bad = [k for k, v in body.items() if k not in own or own[k].shape != v.shape]
    if missing or bad:
        raise LiteferError(f"{path}: weights do not fit {spec.arch} (missing {missing[:3]}, "
                           f"unexpected or mis-shaped {bad[:3]})")
    model.load_state_dict(body, strict=False)
    return {"source": str(path), "loaded": len(body), "skipped": sorted(set(weights) - set(body))}


def _same_arch(src: str, dst: str, path: Path) -> None:
    if src != dst:
        raise LiteferError(f"{path} holds a {src!r} model; cannot initialise {dst!r} from it")


def _onnx_layers(path: Path) -> tuple[list[tuple[np.ndarray, np.ndarray | None]], dict]:
    """(weight, bias) of each Conv/Gemm node in graph order, and the metadata props."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    layers = []
    for node in proto.graph.node:
        if node.op_type in ("Conv", "Gemm") and node.input[1] in init:
            bias = init.get(node.input[2]) if len(node.input) > 2 else None
            w = init[node.input[1]]
            transposed = any(a.name == "transB" and a.i == 0 for a in node.attribute)
            layers.append((w.T if node.op_type == "Gemm" and transposed else w, bias))
    return layers, {p.key: p.value for p in proto.metadata_props}


def _torch_layers(model: nn.Module, spec: ModelSpec) -> list[tuple[nn.Module, nn.Module | None]]:
    """Conv2d/Linear modules in execution order, each with the BatchNorm that directly follows."""
    seen: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda mod, i, o: seen.append(mod)) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))]
    was = model.training
    with torch.no_grad():
        model.eval()(torch.zeros(1, spec.channels, *spec.input_size))
    model.train(was)
    for h in hooks:
        h.remove()
    pairs = []
    for i, m in enumerate(seen):
        if isinstance(m, nn.BatchNorm2d):
            continue
        nxt = seen[i + 1] if i + 1 < len(seen) else None
        bn = nxt if isinstance(nxt, nn.BatchNorm2d) and isinstance(m, nn.Conv2d) else None
        pairs.append((m, bn))
    return pairs


def init_from_onnx(model: nn.Module, spec: ModelSpec, path: str | Path) -> list[nn.BatchNorm2d]:
    """Copy every layer of an exported ONNX file, the classifier included, into ``model``.

    The file must be a litefer export of ``spec.arch`` with ``spec.labels`` (LiteferError
    otherwise). Returns the BatchNorms that received a folded conv, to be given real statistics
    by :func:`calibrate_folded_batchnorm` before training.
    """
    path = Path(path)
    if not path.is_file():
        raise LiteferError(f"--init-from file not found: {path}")
    folded: list[nn.BatchNorm2d] = []
    _from_onnx(model, spec, path, keep_head=True, folded=folded)
    return folded


@torch.no_grad()
def calibrate_folded_batchnorm(model: nn.Module, norms: list[nn.BatchNorm2d],
                               x: torch.Tensor) -> None:
    """Give BatchNorms set up by a folded-conv load (gamma 1, beta = folded bias, mean 0,
    var 1 - eps) the per-channel mean m and variance v of their inputs on ``x`` (float32
    (N, C, H, W) model input, a few hundred training faces), with gamma = sqrt(v + eps) and
    beta = folded bias + m. The eval-mode function is unchanged (exactly, up to float error);
    training mode, which normalises by batch statistics close to m and v, now computes it too.
    """
    stats: dict[nn.BatchNorm2d, tuple[torch.Tensor, torch.Tensor]] = {}

    def grab(mod, inputs, _out):
        t = inputs[0].transpose(0, 1).reshape(inputs[0].shape[1], -1).double()
        stats[mod] = (t.mean(1), t.var(1, unbiased=False))

    hooks = [bn.register_forward_hook(grab) for bn in norms]
    was = model.training
    try:
        model.eval()(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    for bn in norms:
        m, v = stats[bn]
        bn.running_mean.copy_(m.float())
        bn.running_var.copy_(v.float())
        bn.bias.add_(m.float())
        bn.weight.copy_(torch.sqrt(v + bn.eps).float())


@torch.no_grad()
def _from_onnx(model: nn.Module, spec: ModelSpec, path: Path, keep_head: bool = False,
               folded: list | None = None) -> dict:
    """Load the Conv/Gemm layers of ``path`` into ``model`` (the classifier too with
    ``keep_head``, which needs a litefer export predicting ``spec.labels``); BatchNorms that
    receive a folded conv are appended to ``folded``."""
    layers, meta = _onnx_layers(path)
    if "litefer.spec" in meta:
        source = ModelSpec.from_json(meta["litefer.spec"])
        _same_arch(source.arch, spec.arch, path)
        if keep_head and tuple(source.labels) != tuple(spec.labels):
            raise LiteferError(f"{path} predicts {list(source.labels)}, the training set "
                               f"{list(spec.labels)}")
    elif keep_head:
        raise LiteferError(f"{path}: no litefer.spec metadata; only files written by "
                           "`litefer export` can initialise training")
    pairs = _torch_layers(model, spec)
    if len(layers) != len(pairs):
        raise LiteferError(f"{path}: {len(layers)} conv/linear layers, "
                           f"{spec.arch} has {len(pairs)}")
    head = dict(model.named_modules())[classifier_prefix(model)[:-1]]
    loaded = 0
    for (w, b), (mod, bn) in zip(layers, pairs):
        if tuple(w.shape) != tuple(mod.weight.shape):
            raise LiteferError(f"{path}: layer shapes differ from {spec.arch} "
                               f"({tuple(w.shape)} vs {tuple(mod.weight.shape)})")
        if mod is head and not keep_head:
            continue
        mod.weight.copy_(torch.from_numpy(w.copy()))
        bias = torch.zeros(w.shape[0]) if b is None else torch.from_numpy(b.copy())
        if bn is not None:
            bn.weight.fill_(1.0)
            bn.bias.copy_(bias)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            if folded is not None:
                folded.append(bn)
        elif mod.bias is not None:
            mod.bias.copy_(bias)
        elif b is not None and np.abs(b).max() > 0:
            raise LiteferError(f"{path}: a bias was folded into a layer {spec.arch} has no "
                               "BatchNorm for; initialise from the training checkpoint (.pt)")
        loaded += 1
    return {"source": str(path), "loaded": loaded,
            "skipped": [] if keep_head else [classifier_prefix(model)[:-1]]}
