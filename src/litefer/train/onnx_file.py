"""Writing ONNX artefacts: the model spec stamped into the metadata, storage compaction, sha256.

``save_with_spec`` is how every trained graph (classifier, temporal GRU, quantised variant)
reaches disk; ``litefer.optimize`` builds on it, never the other way round.

Compaction, what a tiny model's file holds besides its weights:

For a 57K-parameter network the graph's bookkeeping is a large share of the file: exporter
tensor names (``/blocks/blocks.2/body/body.3/body.3.0/Conv_output_0``), node names, shape
annotations of intermediates and, in QDQ files, explicit all-zero zero points. ``compact`` keeps
the computation and the metadata bit for bit and rewrites only that bookkeeping:

- every node and intermediate tensor / initializer gets a short base-36 name (graph inputs and
  outputs keep theirs, the runtime feeds them by name);
- ``value_info`` and doc strings are dropped (ONNX Runtime re-infers shapes at load);
- zero points of ``DequantizeLinear`` are dropped where they are all zero and the quantised
  input is int8 or int32 (a missing zero point means 0 of the input's type, ONNX spec), i.e. the
  symmetric weights and biases ONNX Runtime writes; uint8 activation zero points are kept;
- identical small constant initializers (scales, zero points) are stored once.

numpy + onnx only.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import onnx
from onnx import TensorProto, numpy_helper

from ..spec import ModelSpec

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_SHARE_MAX_BYTES = 64  # initializers up to this size are de-duplicated by value


def _short(i: int) -> str:
    s = ""
    while True:
        i, r = divmod(i, 36)
        s = _DIGITS[r] + s
        if i == 0:
            return s


def _drop_zero_points(g: onnx.GraphProto) -> None:
    inits = {t.name: t for t in g.initializer}
    for node in g.node:
        if node.op_type != "DequantizeLinear" or len(node.input) < 3:
            continue
        x, zp = inits.get(node.input[0]), inits.get(node.input[2])
        if x is None or zp is None or x.data_type not in (TensorProto.INT8, TensorProto.INT32):
            continue
        if zp.data_type == x.data_type and not numpy_helper.to_array(zp).any():
            del node.input[2]


def _share_constants(g: onnx.GraphProto) -> dict[str, str]:
    """name -> name of the first identical small initializer (same dtype, dims and bytes)."""
    seen, alias = {}, {}
    for t in g.initializer:
        arr = numpy_helper.to_array(t)
        if arr.nbytes > _SHARE_MAX_BYTES:
            continue
        key = (t.data_type, tuple(t.dims), arr.tobytes())
        if key in seen:
            alias[t.name] = seen[key]
        else:
            seen[key] = t.name
    return alias


def compact(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` with short names, no value_info/doc strings, no all-zero symmetric
    zero points and shared small constants (see the module docstring). Same outputs."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    _drop_zero_points(g)
    alias = _share_constants(g)
    used = {alias.get(name, name) for node in g.node for name in node.input}
    keep = {i.name for i in g.input} | {o.name for o in g.output}
    inits = [t for t in g.initializer if t.name not in alias and (t.name in used or t.name in keep)]
    names: dict[str, str] = {}

    def rename(name: str) -> str:
        if not name or name in keep:
            return name
        name = alias.get(name, name)
        if name not in names:
            names[name] = _short(len(names))
        return names[name]

    for node in g.node:
        node.input[:] = [rename(x) for x in node.input]
        node.output[:] = [rename(x) for x in node.output]
        node.name = ""
        node.doc_string = ""
    kept = []
    for t in inits:
        t = onnx.TensorProto.FromString(t.SerializeToString())
        t.name = rename(t.name)
        kept.append(t)
    del g.initializer[:]
    g.initializer.extend(kept)
    init_names = {t.name for t in kept}
    inputs = [i for i in g.input if i.name not in init_names or i.name in keep]
    del g.input[:]
    g.input.extend(inputs)
    del g.value_info[:]
    g.doc_string = ""
    g.name = "g"
    m.doc_string = ""
    onnx.checker.check_model(m)
    return m


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_with_spec(onnx_bytes: bytes, spec: ModelSpec, path: Path) -> Path:
    """Stamp ``spec`` into an exported graph's metadata, check it and write it to ``path``."""
    proto = onnx.load_from_string(onnx_bytes)
    for key, value in spec.to_metadata().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "litefer"
    onnx.save(compact(proto), str(path))  # short names, no value_info; compact() checks it
    return path
