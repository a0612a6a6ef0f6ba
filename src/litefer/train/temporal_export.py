"""Export the temporal GRU as a one-step ONNX model and prove parity with torch.

Graph: inputs ``probs`` float32 (N, K) and ``h_in`` float32 (N, H); outputs ``logits`` float32
(N, K) and ``h_out`` float32 (N, H); N is dynamic (one row per track). The ModelSpec in the
metadata carries labels, hidden_size and seq_len; litefer.video.temporal.GruStep runs it.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from .onnx_file import save_with_spec
from ..spec import ModelSpec

PARITY_TOLERANCE = 1e-4


def export_temporal_onnx(model, spec: ModelSpec, path: str | Path, opset: int = 17) -> Path:
    """Write ``model`` (a litefer.models.temporal.TemporalGRU) as a one-step graph to ``path``
    with ``spec`` (hidden_size set to the model's) in ``metadata_props``."""
    from ..models.temporal import StepModule

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    k, h = model.num_classes, model.hidden_size
    spec = spec.with_(hidden_size=h, output="logits")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation notice
        torch.onnx.export(StepModule(model), (torch.full((1, k), 1.0 / k), torch.zeros(1, h)), buf,
                          dynamo=False, input_names=["probs", "h_in"],
                          output_names=["logits", "h_out"], opset_version=opset,
                          dynamic_axes={n: {0: "tracks"} for n in ("probs", "h_in", "logits",
                                                                  "h_out")})
    return save_with_spec(buf.getvalue(), spec, path)


@torch.no_grad()
def check_temporal_parity(model, path: str | Path, tracks: int = 6, steps: int = 12,
                          seed: int = 0) -> float:
    """Run ``steps`` frames of random probabilities for ``tracks`` tracks through torch and
    through GruStep (ONNX Runtime), each carrying its own hidden state; returns the max abs
    difference of probabilities and hidden states; AssertionError above PARITY_TOLERANCE."""
    from ..metrics import softmax
    from ..video.temporal import GruStep

    runner = GruStep(path)
    rng = np.random.default_rng(seed)
    k, h_size = model.num_classes, model.hidden_size
    h_t, h_o = torch.zeros(tracks, h_size), np.zeros((tracks, h_size), np.float32)
    diff = 0.0
    for _ in range(steps):
        probs = softmax(rng.normal(0, 2, (tracks, k))).astype(np.float32)
        logits, h_t = model.eval().step(torch.from_numpy(probs), h_t)
        ref = softmax(logits.numpy().astype(np.float64))
        got, h_o = runner.step(probs, h_o)
        diff = max(diff, float(np.abs(ref - got).max()), float(np.abs(h_t.numpy() - h_o).max()))
    if diff > PARITY_TOLERANCE:
        raise AssertionError(f"GRU step: ONNX Runtime differs from torch by {diff:.2e} > "
                             f"{PARITY_TOLERANCE}")
    return diff
