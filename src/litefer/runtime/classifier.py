"""Classifier: an ONNX Runtime session over an exported emotion model (no torch)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import onnxruntime as ort

from ..errors import InvalidImageError, LiteferError
from ..metrics import proba_from_output
from ..preprocess import to_input
from ..spec import ModelSpec
from .views import averaged_output, tta_mode
from .weights import resolve_weights


def create_session(path: Path, threads: int = 0, providers: Sequence[str] | None = None,
                   optimized_path: Path | None = None) -> ort.InferenceSession:
    """An InferenceSession on the best available provider (CPU unless CUDA/TensorRT are present).

    threads: intra-op threads (0 = ONNX Runtime's choice); with more than one, the pool's
    threads sleep instead of spin-waiting between calls (spinning threads collapse the pipeline
    when other programs hold the cores); optimized_path: also save the optimised graph there.
    The memory pattern (ONNX Runtime's plan of every buffer for the last input shape) is off:
    with it, peak RSS in ``litefer bench`` was 8-28% higher at the same latency
    (results/bench/memory_pattern.txt).
    """
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.enable_mem_pattern = False
    if threads != 1:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if optimized_path is not None:
        opts.optimized_model_filepath = str(optimized_path)
    available = ort.get_available_providers()
    preferred = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
    return ort.InferenceSession(str(path), opts, providers=list(providers or preferred
                                                                + ["CPUExecutionProvider"]))


def check_crops(crops: Sequence[np.ndarray] | np.ndarray, spec: ModelSpec) -> None:
    """Raise InvalidImageError, naming the crop, unless every crop is a non-empty (H, W) or
    (H, W, 1|3) array (a uint8 (N, C, H, W) batch at the spec's size passes as one)."""
    if isinstance(crops, np.ndarray) and crops.ndim == 4 and crops.shape[1:] == (
            spec.channels, *spec.input_size):
        return
    for i, crop in enumerate(crops):
        shape = getattr(crop, "shape", None)
        if shape is None or len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (
                1, 3)) or 0 in shape[:2]:
            raise InvalidImageError(f"crop {i} has shape {shape}: each crop must be a non-empty "
                                    "(H, W) grey or (H, W, 3) RGB uint8 array")


class Classifier:
    """Emotion classifier over face crops.

    model: None (the package default), a shipped name (``mini_xception.fer2013``) or an .onnx path.
    Crops are uint8 arrays, RGB (H, W, 3) or grey (H, W), any size: they are resized and converted
    to the model's spec (read from the ONNX metadata, never guessed). threads: ONNX Runtime
    intra-op threads; 1 (default) gives the lowest per-call latency for a few faces and leaves
    the other core to the detector, 0 lets ONNX Runtime use every core (large batches).
    """

    def __init__(self, model: str | Path | None = None, threads: int = 1,
                 providers: Sequence[str] | None = None):
        self.path = resolve_weights(model)
        try:
            self.session = create_session(self.path, threads, providers)
        except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
            raise LiteferError(f"cannot load model {self.path}: {exc}") from exc
        meta = self.session.get_modelmeta().custom_metadata_map
        self.spec = ModelSpec.from_metadata(meta, str(self.path))
        self.input_name = self.session.get_inputs()[0].name
        self.labels = self.spec.labels
        h, w = self.spec.input_size
        self.run(np.zeros((1, self.spec.channels, h, w), np.float32))  # warm-up

    def run(self, batch: np.ndarray) -> np.ndarray:
        """float32 (N, C, H, W) normalised input -> float32 (N, K) raw model output."""
        return self.session.run(None, {self.input_name: batch})[0]

    def predict_proba(self, crops: Sequence[np.ndarray] | np.ndarray,
                      tta: bool | str | None = None) -> np.ndarray:
        """Crops -> float32 (N, K) probabilities (the spec's prior correction and temperature
        applied by litefer.metrics.proba_from_output), one call per view.

        tta: test-time averaging of the logits over views (litefer.runtime.views): "flip" (or
        True) adds the mirrored crops, "crops" seven framings and their mirrors. Raises
        InvalidImageError for a crop that is not a non-empty (H, W) or (H, W, 1|3) array,
        LiteferError for an unknown ``tta``.
        """
        tta_mode(tta)
        check_crops(crops, self.spec)
        x = to_input(crops, self.spec)
        if len(x) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return proba_from_output(averaged_output(self.run, x, tta), self.spec)

    def predict(self, crops: Sequence[np.ndarray] | np.ndarray) -> list[str]:
        """Crops -> arg-max label per crop."""
        return [self.labels[i] for i in self.predict_proba(crops).argmax(1)]
