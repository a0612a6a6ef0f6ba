"""Compilation: ONNX Runtime graph optimisation saved to disk, and execution-provider choice.

ONNX Runtime optimises every graph when a session starts; saving the result
(``SessionOptions.optimized_model_filepath``) moves that work offline and shows what ran.
Level "extended" (node fusions such as Conv+ReLU -> FusedConv, QDQ -> QLinearConv) gives a file
that runs on any machine with the same ONNX Runtime; "all" adds CPU layout transforms (NCHWc)
tied to this machine's instruction set, so such a file should only be used where it was made.
The metadata (litefer.spec) is kept, so the Classifier loads the compiled file too.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import onnxruntime as ort

from ..bench import select_providers
from ..errors import LiteferError

LEVELS = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
          "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
def compile_onnx(src: str | Path, dst: str | Path, level: str = "extended",
                 providers: Sequence[str] = ()) -> dict:
    """Save ``src`` optimised at ``level`` for ``providers`` to ``dst``; returns the level, the
    providers used and skipped, and session start-up time (ms) from the source and from ``dst``."""
    if level not in LEVELS:
        raise LiteferError(f"optimisation level must be one of {', '.join(LEVELS)}, got {level!r}")
    use, skipped = select_providers(providers)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = LEVELS[level]
    opts.optimized_model_filepath = str(dst)
    t0 = time.perf_counter()
    ort.InferenceSession(str(src), opts, providers=use)
    t1 = time.perf_counter()
    plain = ort.SessionOptions()
    plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    ort.InferenceSession(str(dst), plain, providers=use)
    t2 = time.perf_counter()
    return {"path": str(dst), "level": level, "providers": use, "providers_skipped": skipped,
            "startup_ms_source": (t1 - t0) * 1e3, "startup_ms_compiled": (t2 - t1) * 1e3}
