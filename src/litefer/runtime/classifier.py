"""Classifier: an ONNX Runtime session over an exported emotion model (no torch)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import onnxruntime as ort

from ..errors import LiteferError
from ..metrics import softmax
from ..preprocess import to_input
from ..spec import ModelSpec
from .weights import resolve_weights


def create_session(path: Path, threads: int = 0, providers: Sequence[str] | None = None,
                   optimized_path: Path | None = None) -> ort.InferenceSession:
    """An InferenceSession on the best available provider (CPU unless CUDA/TensorRT are present).

    threads: intra-op threads (0 = ONNX Runtime's choice); optimized_path: also save the
    optimised graph there.
    """
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if optimized_path is not None:
        opts.optimized_model_filepath = str(optimized_path)
    available = ort.get_available_providers()
    preferred = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
    return ort.InferenceSession(str(path), opts, providers=list(providers or preferred
                                                                + ["CPUExecutionProvider"]))


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

    def predict_proba(self, crops: Sequence[np.ndarray] | np.ndarray, tta: bool = False
                      ) -> np.ndarray:
        """Crops -> float32 (N, K) probabilities (temperature from the spec applied), one call.

        tta: also classify the mirrored crops and average the logits.
        """
        x = to_input(crops, self.spec)
        if len(x) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        out = self.run(x)
        if tta:
            out = (out + self.run(np.ascontiguousarray(x[..., ::-1]))) / 2
        if self.spec.output == "probs":
            return out.astype(np.float32)
        return softmax(out.astype(np.float64), self.spec.temperature).astype(np.float32)

    def predict(self, crops: Sequence[np.ndarray] | np.ndarray) -> list[str]:
        """Crops -> arg-max label per crop."""
        return [self.labels[i] for i in self.predict_proba(crops).argmax(1)]
