"""Export a torch model to ONNX with its ModelSpec in the metadata, and prove parity with torch."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from ..metrics import proba_from_output
from ..preprocess import to_input
from ..spec import ModelSpec
from ..train.onnx_file import save_with_spec

PARITY_TOLERANCE = 1e-4


def export_onnx(model: torch.nn.Module, spec: ModelSpec, path: str | Path,
                opset: int = 17) -> Path:
    """Write ``model`` (eval mode, float32 NCHW input, logits output, dynamic batch) to ``path``
    with ``spec`` in ``metadata_props``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    h, w = spec.input_size
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation notice
        torch.onnx.export(model, torch.zeros(1, spec.channels, h, w), buf, dynamo=False,
                          input_names=["input"], output_names=["logits"], opset_version=opset,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return save_with_spec(buf.getvalue(), spec.with_(output="logits"), path)


@torch.no_grad()
def check_parity(model: torch.nn.Module, onnx_path: str | Path, crops) -> float:
    """Max abs difference of probabilities between torch and ONNX Runtime on ``crops``
    (uint8 faces, any size), both through the runtime's rule (temperature and prior correction
    of the file's spec, litefer.metrics.proba_from_output); raises AssertionError above
    PARITY_TOLERANCE."""
    from ..runtime import Classifier

    clf = Classifier(onnx_path)
    x = to_input(crops, clf.spec)
    ref = proba_from_output(model.eval()(torch.from_numpy(x)).numpy(), clf.spec).astype(np.float64)
    got = clf.predict_proba(crops).astype(np.float64)
    diff = float(np.abs(ref - got).max()) if len(x) else 0.0
    if diff > PARITY_TOLERANCE:
        raise AssertionError(f"ONNX Runtime differs from torch by {diff:.2e} > {PARITY_TOLERANCE}")
    return diff
