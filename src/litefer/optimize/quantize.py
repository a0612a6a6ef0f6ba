"""Quantisation: the paper's weight-quantisation analysis, FP16 ONNX and ONNX Runtime static INT8.

No torch here: the inputs are numpy arrays and ONNX files (needs ``onnx``, ``litefer[train]``).
Every ONNX file written keeps the source's metadata, with ``spec.extra["precision"]`` set.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import LiteferError
from ..preprocess import to_input
from .artefact import metadata, read_spec, with_extra, write_metadata
from ..train.onnx_file import compact


@dataclass(frozen=True)
class WeightQuant:
    """codes: int64 W_b; scale: s_b (shape () per tensor, or broadcastable (C, 1, ...) per
    channel); dequantized: float32 W_b / s_b; error: float64 W - W_b / s_b (not rounded to
    float32, so hand-computed values compare exactly)."""

    codes: np.ndarray
    scale: np.ndarray
    dequantized: np.ndarray
    error: np.ndarray
    bits: int
    per_channel: bool

    @property
    def max_abs_error(self) -> float:
        return float(np.abs(self.error).max()) if self.error.size else 0.0

    @property
    def mse(self) -> float:
        return float(np.mean(self.error.astype(np.float64) ** 2)) if self.error.size else 0.0


def quantize_weights(w: np.ndarray, bits: int = 8, per_channel: bool = False,
                     axis: int = 0) -> WeightQuant:
    """Symmetric uniform quantisation as the paper defines it:
    ``W_b = round(s_b * W)`` with ``s_b = (2^b - 1) / (2 * max|W|)``, dequantised as ``W_b / s_b``.

    max|W| is taken over the whole tensor, or per slice along ``axis`` (output channels) when
    ``per_channel``; an all-zero tensor or slice gets s_b = 1. ``round`` is ``np.round``: halves go
    to the even integer (127.5 -> 128, -127.5 -> -128, 2.5 -> 2; 63.75 -> 64). Since the largest
    weight maps to +-(2^b - 1)/2, always a half, codes span [-2^(b-1), 2^(b-1)]: 2^b + 1 levels, so +2^(b-1)
    (128 for b = 8) does not fit a two's-complement b-bit integer. This function analyses the
    formula exactly; ``quantize_int8`` stores with ONNX Runtime's own scale (max|W| / 127).
    """
    if bits < 2:
        raise ValueError(f"bits must be >= 2, got {bits}")
    w = np.asarray(w, np.float32)
    if per_channel and w.ndim:
        reduce = tuple(i for i in range(w.ndim) if i != axis % w.ndim)
        peak = np.abs(w).max(axis=reduce, keepdims=True) if w.size else np.zeros(())
    else:
        peak = np.asarray(np.abs(w).max() if w.size else 0.0)
    peak = peak.astype(np.float64)
    safe = np.where(peak > 0, peak, 1.0)
    half_levels = (2.0 ** bits - 1) / 2.0
    scale = np.where(peak > 0, half_levels / safe, 1.0)
    # s * W evaluated as (W / max|W|) * (2^b - 1) / 2, so the largest weight lands exactly on the
    # half (+-127.5) instead of a rounding error either side of it.
    codes = np.round(w.astype(np.float64) / safe * half_levels).astype(np.int64)
    deq = codes / scale
    return WeightQuant(codes, scale, deq.astype(np.float32), w - deq, bits, bool(per_channel))


def onnx_weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """float32 weight tensors (2-D or more: conv kernels, matrices) among the initializers."""
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer
            if i.data_type == TensorProto.FLOAT and len(i.dims) >= 2}


def quantization_table(weights: dict[str, np.ndarray],
                       bits: tuple[int, ...] = (8, 4)) -> list[dict]:
    """Per tensor: relative error ||W - W_hat|| / ||W|| of each bit width, per tensor and per
    channel (channels along axis 0), plus an "all" row pooling every tensor's squared errors."""
    rows, sums = [], {}
    for name, w in weights.items():
        row = {"tensor": name, "shape": list(w.shape)}
        norm = float(np.sum(w.astype(np.float64) ** 2))
        for b in bits:
            for pc in (False, True):
                key = f"int{b}_{'per_channel' if pc else 'per_tensor'}"
                err = float(np.sum(quantize_weights(w, b, pc).error.astype(np.float64) ** 2))
                row[key] = float(np.sqrt(err / norm)) if norm > 0 else 0.0
                e, n = sums.get(key, (0.0, 0.0))
                sums[key] = (e + err, n + norm)
        rows.append(row)
    rows.append({"tensor": "all", "shape": [],
                 **{k: float(np.sqrt(e / n)) if n > 0 else 0.0 for k, (e, n) in sums.items()}})
    return rows


def _to_fp16_tensor(t: TensorProto) -> TensorProto:
    return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name)


def _keep_io_float32(g: onnx.GraphProto) -> None:
    """Rename the graph's float inputs/outputs inside it and bridge them with Cast nodes."""
    init_names = {i.name for i in g.initializer}
    casts_in, renamed = [], {}
    for inp in g.input:
        if inp.name not in init_names and inp.type.tensor_type.elem_type == TensorProto.FLOAT:
            renamed[inp.name] = f"{inp.name}_fp16"
            casts_in.append(helper.make_node("Cast", [inp.name], [renamed[inp.name]],
                                             name=f"cast_{inp.name}", to=TensorProto.FLOAT16))
    outs = [o.name for o in g.output if o.type.tensor_type.elem_type == TensorProto.FLOAT]
    renamed.update({o: f"{o}_fp16" for o in outs})
    for node in g.node:
        node.input[:] = [renamed.get(x, x) for x in node.input]
        node.output[:] = [renamed.get(x, x) for x in node.output]
    casts_out = [helper.make_node("Cast", [renamed[o]], [o], name=f"cast_{o}", to=TensorProto.FLOAT)
                 for o in outs]
    nodes = casts_in + list(g.node) + casts_out
    del g.node[:]
    g.node.extend(nodes)


def convert_fp16(src: str | Path, dst: str | Path) -> Path:
    """Write an FP16 copy of the ONNX model ``src`` to ``dst``.

    Float32 initializers and Constant tensors become float16; the graph's float32 inputs and
    outputs stay float32 (keep_io_types) through Cast nodes, so callers feed and read float32 as
    before. Written with onnx.numpy_helper for the ops litefer's classifiers use (Conv, Gemm,
    MatMul, Relu, Add, pooling, Flatten, ...), not a general-purpose converter. ONNX Runtime's CPU
    provider computes most of these ops in float32 (it inserts casts): the gain there is file
    size; GPU providers compute in half precision.
    """
    model = onnx.load(str(src))
    spec = read_spec(model, str(src))
    g = model.graph
    for i, init in enumerate(g.initializer):
        if init.data_type == TensorProto.FLOAT:
            g.initializer[i].CopyFrom(_to_fp16_tensor(init))
    for node in g.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                attr.t.CopyFrom(_to_fp16_tensor(attr.t))
    _keep_io_float32(g)
    del g.value_info[:]  # float32 annotations of intermediates no longer hold
    write_metadata(model, metadata(model), with_extra(spec, precision="fp16"))
    onnx.save(compact(model), str(dst))  # compact() checks the model
    return Path(dst)


@dataclass(frozen=True)
class Int8Config:
    """ONNX Runtime static quantisation: QDQ format, weights int8 symmetric.

    per_channel: one scale per output channel; calibrate: "minmax", "entropy" or "percentile";
    samples: calibration faces used (the first N given); activation: "uint8" (the x86 U8S8 path) or
    "int8"; format: "qdq" (QuantizeLinear/DequantizeLinear pairs around float ops, fused by ONNX
    Runtime at load) or "qoperator" (QLinearConv & co. written out: one node per layer, the
    smaller file); reduce_range: weights on 7 bits, so that x86 CPUs without VNNI (AVX2's
    u8 x s8 pair sums saturate int16) compute what VNNI CPUs compute. Measured on an AVX2-only
    EPYC (2026-11-23): 8-bit weights moved a test model's probabilities by up to 0.056, 7-bit
    ones stay inside the documented 0.05; on FER2013 an 8-bit nano_a INT8 file lost 0.83
    PublicTest points there, the 7-bit one 0.03 (results/training/README.md)."""

    per_channel: bool = True
    calibrate: str = "minmax"
    samples: int = 300
    batch_size: int = 32
    activation: str = "uint8"
    format: str = "qoperator"
    reduce_range: bool = True


def _reader(crops, spec, input_name: str, batch_size: int):
    from onnxruntime.quantization import CalibrationDataReader

    class FaceCalibrationReader(CalibrationDataReader):
        """Batches of faces preprocessed exactly as at inference (litefer.preprocess.to_input)."""

        def __init__(self):
            self.index = 0

        def get_next(self):
            if self.index >= len(crops):
                return None
            batch = crops[self.index:self.index + batch_size]
            self.index += batch_size
            return {input_name: to_input(batch, spec)}

        def rewind(self):
            self.index = 0

    return FaceCalibrationReader()


def quantize_int8(src: str | Path, dst: str | Path, crops, cfg: Int8Config = Int8Config()) -> Path:
    """Static INT8 (QDQ) copy of ``src`` at ``dst``, calibrated on ``crops`` (uint8 faces, any size,
    e.g. PublicTest images; never the test split). Raises LiteferError without crops."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    crops = crops[: cfg.samples]
    if len(crops) == 0:
        raise LiteferError("INT8 calibration needs faces: pass --data with a PublicTest split")
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    formats = {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}
    if cfg.format not in formats:
        raise LiteferError(f"format must be one of {', '.join(formats)}, got {cfg.format!r}")
    if cfg.calibrate not in methods:
        raise LiteferError(f"calibrate must be one of {', '.join(methods)}, got {cfg.calibrate!r}")
    if cfg.calibrate != "minmax" and len(crops) > cfg.batch_size:
        # ONNX Runtime's histogram calibrators stack every batch's activations into one array,
        # so a shorter last batch makes it fail: calibrate on whole batches only
        crops = crops[: len(crops) // cfg.batch_size * cfg.batch_size]
    source = onnx.load(str(src))
    spec, props = read_spec(source, str(src)), metadata(source)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre))
        quantize_static(
            str(pre), str(dst), _reader(crops, spec, source.graph.input[0].name, cfg.batch_size),
            quant_format=formats[cfg.format], per_channel=cfg.per_channel,
            weight_type=QuantType.QInt8, reduce_range=cfg.reduce_range,
            calibrate_method=methods[cfg.calibrate],
            activation_type=QuantType.QUInt8 if cfg.activation == "uint8" else QuantType.QInt8)
    model = onnx.load(str(dst))
    calib = {"samples": len(crops), "method": cfg.calibrate, "per_channel": cfg.per_channel,
             "format": cfg.format, "weight_bits": 7 if cfg.reduce_range else 8}
    write_metadata(model, props, with_extra(spec, precision="int8", calibration=calib))
    onnx.save(compact(model), str(dst))
    return Path(dst)
