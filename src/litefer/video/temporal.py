"""GRU one-step runner: the frame-to-sequence temporal model on ONNX Runtime (no torch).

The exported graph takes ``probs`` float32 (N, K) (this frame's per-frame probabilities, one
row per track) and ``h_in`` float32 (N, H) (each track's hidden state; zeros for a new track)
and returns ``logits`` float32 (N, K) and ``h_out`` float32 (N, H). Its ModelSpec (ONNX
metadata) has hidden_size = H, seq_len = the training sequence length, labels = the K classes
in the order of the classifier it was trained on. Cost per frame is one call, whatever the
track's age.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import LiteferError
from ..metrics import softmax
from ..spec import ModelSpec

STATE_KEY = "gru_h"
INPUTS = ("probs", "h_in")
OUTPUTS = ("logits", "h_out")


class GruStep:
    """Temporal model "gru": one ONNX Runtime call per frame for every track seen in it.

    path: a GRU step .onnx written by litefer.train.temporal.export_temporal_onnx; threads:
    intra-op threads. Raises LiteferError when the file cannot be loaded or is not a step model.
    """

    name = "gru"

    def __init__(self, path: str | Path, threads: int = 1):
        from ..runtime import create_session

        self.path = Path(path)
        if not self.path.is_file():
            raise LiteferError(f"GRU step model not found: {self.path}")
        try:
            self.session = create_session(self.path, threads, ["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise LiteferError(f"cannot load GRU step model {self.path}: {exc}") from exc
        meta = self.session.get_modelmeta().custom_metadata_map
        self.spec = ModelSpec.from_metadata(meta, str(self.path))
        names = tuple(i.name for i in self.session.get_inputs())
        if self.spec.hidden_size <= 0 or names != INPUTS:
            raise LiteferError(f"{self.path} is not a GRU step model (inputs {names}, hidden_size "
                               f"{self.spec.hidden_size}); export one with litefer.train.temporal")
        self.labels, self.hidden_size = self.spec.labels, self.spec.hidden_size

    def check_labels(self, labels: Sequence[str], classifier: str | None = None) -> None:
        """Raise LiteferError unless the classifier's labels are this model's, in order; warn
        (UserWarning) when ``classifier`` (its spec name) is not the one whose probabilities the
        GRU was trained on: it still runs, but was tuned to another model's confidence."""
        if tuple(labels) != tuple(self.labels):
            raise LiteferError(f"GRU model {self.path.name} was trained on labels {self.labels}, "
                               f"the classifier gives {tuple(labels)}")
        trained_on = self.spec.extra.get("classifier")
        if classifier and trained_on and classifier != trained_on:
            import warnings

            warnings.warn(f"GRU model {self.path.name} was trained on the probabilities of "
                          f"{trained_on}, not {classifier}; retrain it (scripts/make_clips.py, "
                          "python -m litefer.train.temporal) for best results", stacklevel=3)

    def step(self, probs: np.ndarray, hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """probs float32 (N, K), hidden float32 (N, H) -> (probabilities (N, K), new hidden)."""
        feeds = {"probs": np.ascontiguousarray(probs, np.float32),
                 "h_in": np.ascontiguousarray(hidden, np.float32)}
        out, h_out = self.session.run(list(OUTPUTS), feeds)
        if self.spec.output == "probs":
            return out.astype(np.float32), h_out
        return softmax(out.astype(np.float64), self.spec.temperature).astype(np.float32), h_out

    def update(self, tracks: Sequence, probs: np.ndarray) -> np.ndarray:
        """The TemporalModel protocol: one step for every track; state in Track.state["gru_h"]."""
        if not len(tracks):
            return np.zeros((0, len(self.labels)), np.float32)
        probs = np.asarray(probs, np.float32).reshape(len(tracks), -1)
        zero = np.zeros(self.hidden_size, np.float32)
        hidden = np.stack([t.state.get(STATE_KEY, zero) for t in tracks])
        out, h_out = self.step(probs, hidden)
        for track, h in zip(tracks, h_out):
            track.state[STATE_KEY] = h
        return out
