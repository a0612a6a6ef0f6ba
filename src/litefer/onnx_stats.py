"""Static facts about an ONNX classifier, read from the graph without running it and without torch.

Weights are the initializers feeding Conv / Gemm / MatMul (and their QLinear / fused variants),
followed back through DequantizeLinear, Cast and Identity, so fp32, fp16 and QDQ int8 files of one
network report the same counts. MACs (multiply-accumulates) are per image at batch 1, from ONNX
shape inference; other ops (pooling, activations, adds) are not counted, as in
``litefer.models.profile.count_macs``. Needs the ``onnx`` package (``litefer[train]``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import require

# op type -> (index of the weight input, index of the bias input or None)
WEIGHT_INPUTS = {
    "Conv": (1, 2), "FusedConv": (1, 2), "ConvInteger": (1, None), "QLinearConv": (3, 8),
    "Gemm": (1, 2), "FusedGemm": (1, 2), "MatMul": (1, None), "MatMulInteger": (1, None),
    "QLinearMatMul": (3, None),
}
PASS_THROUGH = {"DequantizeLinear", "Cast", "Identity"}


@dataclass(frozen=True)
class GraphStats:
    """weights: elements of every weight and bias tensor; nonzero_weights: those not equal to 0;
    macs: multiply-accumulates per image (None when shapes could not be inferred, see reason)."""

    weights: int
    nonzero_weights: int
    macs: int | None
    reason: str = ""

    @property
    def compression_ratio(self) -> float:
        """R = total weights / non-zero weights (1.0 for a dense network)."""
        return self.weights / max(1, self.nonzero_weights)


def _source(name: str, producers: dict, inits: dict) -> tuple[str, np.ndarray | None]:
    """(name, array) of the initializer behind tensor ``name`` (through dequantise / cast /
    identity); array None when the tensor is computed."""
    for _ in range(8):
        if name in inits:
            return name, inits[name]
        node = producers.get(name)
        if node is None or node.op_type not in PASS_THROUGH:
            break
        name = node.input[0]
    return name, None


def _batch_one(model):
    """A copy of ``model`` whose first input has batch dimension 1 (for shape inference)."""
    onnx = require("onnx", "train")
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for inp in fixed.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if len(dims) and not dims[0].dim_value:
            dims[0].Clear()
            dims[0].dim_value = 1
    return fixed


def _shapes(model) -> dict[str, tuple[int, ...]]:
    onnx = require("onnx", "train")
    inferred = onnx.shape_inference.infer_shapes(_batch_one(model))
    shapes = {}
    graph = inferred.graph
    for vi in list(graph.value_info) + list(graph.output) + list(graph.input):
        dims = vi.type.tensor_type.shape.dim
        if dims and all(d.dim_value > 0 for d in dims):
            shapes[vi.name] = tuple(d.dim_value for d in dims)
    return shapes


def _shapes_by_running(model) -> dict[str, tuple[int, ...]]:
    """Shapes of every node output from one ONNX Runtime run on a zero batch of 1: the fallback
    for graphs whose contrib ops (com.microsoft QLinearAdd, ...) onnx shape inference skips."""
    import onnxruntime as ort

    onnx = require("onnx", "train")
    probe = _batch_one(model)
    known = {o.name for o in probe.graph.output}
    names = [o for n in probe.graph.node for o in n.output if o and o not in known]
    probe.graph.output.extend([onnx.ValueInfoProto(name=n) for n in names])
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {}
    for inp in sess.get_inputs():
        dims = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
        feeds[inp.name] = np.zeros(dims, np.float32 if "float" in inp.type else np.int64)
    outs = sess.run(None, feeds)
    return {o.name: tuple(v.shape) for o, v in zip(sess.get_outputs(), outs)}


def _node_macs(node, weight: np.ndarray, shapes: dict) -> int | None:
    out = shapes.get(node.output[0])
    if out is None:
        return None
    if node.op_type in ("Conv", "FusedConv", "ConvInteger", "QLinearConv"):
        return int(np.prod(out)) * int(np.prod(weight.shape[1:]))
    if node.op_type in ("Gemm", "FusedGemm"):
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return int(np.prod(out)) * int(weight.shape[1 if trans_b else 0])
    return int(np.prod(out)) * int(weight.shape[-2] if weight.ndim >= 2 else weight.shape[0])


def graph_stats(model) -> GraphStats:
    """Weights, non-zero weights and MACs of an ONNX model (a ModelProto, or a path to one)."""
    onnx = require("onnx", "train")
    from onnx import numpy_helper

    if isinstance(model, (str, Path)):
        model = onnx.load(str(model))
    graph = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    try:
        shapes = _shapes(model)
    except Exception as exc:  # onnx raises InferenceError / ValidationError for exotic graphs
        shapes, reason = {}, f"shape inference failed: {exc}"
    else:
        reason = ""
    weighted = [n for n in graph.node if n.op_type in WEIGHT_INPUTS]
    if any(n.output[0] not in shapes for n in weighted):
        try:
            shapes = {**_shapes_by_running(model), **shapes}
            reason = ""
        except Exception as exc:  # noqa: BLE001 - a graph ONNX Runtime cannot run either
            reason = reason or f"shapes unknown and the graph did not run: {exc}"
    seen, total, nonzero, macs = set(), 0, 0, 0
    for node in graph.node:
        if node.op_type not in WEIGHT_INPUTS:
            continue
        w_idx, b_idx = WEIGHT_INPUTS[node.op_type]
        weight = _source(node.input[w_idx], producers, inits)[1] if len(node.input) > w_idx \
            else None
        if weight is None:
            continue
        for idx in (w_idx, b_idx):
            if idx is None or len(node.input) <= idx or not node.input[idx]:
                continue
            name, arr = _source(node.input[idx], producers, inits)
            if arr is not None and name not in seen:
                seen.add(name)
                total += arr.size
                nonzero += int(np.count_nonzero(arr))
        node_macs = _node_macs(node, weight, shapes) if macs is not None else None
        if node_macs is None:
            reason = reason or f"no inferred output shape for {node.op_type} {node.name!r}"
        macs = None if node_macs is None or macs is None else macs + node_macs
    return GraphStats(total, nonzero, macs, reason)
