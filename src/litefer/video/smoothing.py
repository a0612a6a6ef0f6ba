"""Per-track temporal models over per-frame probabilities (numpy only).

Every temporal model has one method, ``update(tracks, probs) -> probs``: ``tracks`` are the
Track objects of the faces seen this frame (one per row of ``probs``, float32 (N, K), rows
summing to 1) and the result is float32 (N, K) probabilities after the model. State lives in
``Track.state`` under the model's own key, so it follows the face and dies with its track.
A frame on which a track has no face (missed detection) does not update that track.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

TEMPORAL_MODELS = ("none", "ema", "gru")


class TemporalModel(Protocol):
    name: str

    def update(self, tracks: Sequence, probs: np.ndarray) -> np.ndarray:
        ...


class NoSmoothing:
    """Per-frame probabilities, unchanged."""

    name = "none"

    def update(self, tracks: Sequence, probs: np.ndarray) -> np.ndarray:
        return np.asarray(probs, np.float32)


class EmaSmoother:
    """Exponential moving average per track: s_1 = p_1, s_t = alpha * p_t + (1 - alpha) * s_t-1.

    alpha in (0, 1]: weight of the newest frame (1 = no smoothing); the time constant is about
    1 / alpha frames (alpha 0.2 at 30 FPS: ~0.17 s). The state is Track.state["ema"], (K,) float64.
    """

    name = "ema"

    def __init__(self, alpha: float = 0.2):
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must lie in (0, 1], got {alpha}")
        self.alpha = alpha

    def update(self, tracks: Sequence, probs: np.ndarray) -> np.ndarray:
        probs = np.asarray(probs, np.float64).reshape(len(tracks), -1) if len(tracks) \
            else np.zeros((0, np.shape(probs)[-1]))
        out = np.empty_like(probs)
        for i, track in enumerate(tracks):
            prev = track.state.get("ema")
            s = probs[i] if prev is None else self.alpha * probs[i] + (1 - self.alpha) * prev
            track.state["ema"] = s
            out[i] = s
        return out.astype(np.float32)


def smooth_batch(model: TemporalModel, probs: np.ndarray,
                 present: np.ndarray | None = None) -> np.ndarray:
    """Run ``model`` offline over N independent tracks: probs float32 (N, T, K), present bool
    (N, T) (False = no face on that frame: the track is not updated) -> float32 (N, T, K), NaN
    where not present. One ``update`` call per frame for all tracks, as live video does."""
    from .tracker import Track

    probs = np.asarray(probs, np.float32)
    n, t_len, _ = probs.shape
    present = np.ones((n, t_len), bool) if present is None else np.asarray(present, bool)
    tracks = [Track(i, np.zeros(4)) for i in range(n)]
    out = np.full(probs.shape, np.nan, np.float32)
    for t in range(t_len):
        rows = np.flatnonzero(present[:, t])
        if len(rows):
            out[rows, t] = model.update([tracks[i] for i in rows], probs[rows, t])
    return out


def create_temporal(name: str = "none", model=None, alpha: float = 0.2,
                    threads: int = 1) -> TemporalModel:
    """A temporal model by name: "none", "ema" (``alpha``) or "gru" (``model``: a GRU one-step
    .onnx exported by litefer.train.temporal, or the name of a shipped one; None = the shipped
    "temporal_gru.fer2013", trained on the default classifier's probabilities). Raises
    ValueError for an unknown name, LiteferError when "gru" has no usable model
    (ModelNotFoundError for an unknown shipped name)."""
    if name == "none":
        return NoSmoothing()
    if name == "ema":
        return EmaSmoother(alpha)
    if name == "gru":
        from ..runtime.weights import DEFAULT_TEMPORAL, resolve_temporal
        from .temporal import GruStep

        return GruStep(resolve_temporal(model or DEFAULT_TEMPORAL), threads=threads)
    raise ValueError(f"unknown temporal model {name!r}; choose one of {', '.join(TEMPORAL_MODELS)}")
