"""Frame-to-sequence temporal model: a GRU over a track's per-frame probability vectors.

Each step takes the classifier's probabilities p_t (K,) of one frame, feeds log(p_t) (the
classifier's log-evidence; clamped at 1e-6) through a GRU cell with hidden size H (128 by
default) and a linear layer to K logits. The GRU cell is written with two nn.Linear layers and
follows torch.nn.GRU's equations exactly:

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h

so it exports to a plain ONNX graph and its MACs are counted like any linear layer.
``step(probs, h) -> (logits, h')`` is the one-step form exported for the runtime (constant
cost per frame); ``forward`` runs a whole sequence (used for training).

Registered as ``temporal_gru``. Its spec reuses the image fields for the sequence shape so the
registry's generic checks apply: input_size = (seq_len, K) and channels = 1, i.e. ``forward``
takes (N, 1, T, K) (or (N, T, K)) probabilities and returns the last step's logits (N, K);
``seq_len`` and ``hidden_size`` are set as well.
"""
from __future__ import annotations

import torch
from torch import nn

from ..labels import FER2013
from ..spec import ModelSpec
from .registry import register_model

HIDDEN = 128
SEQ_LEN = 32
EPS = 1e-6


class GruCell(nn.Module):
    """(N, I) input, (N, H) hidden -> (N, H) next hidden (torch.nn.GRUCell's equations)."""

    def __init__(self, inputs: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.ih, self.hh = nn.Linear(inputs, 3 * hidden), nn.Linear(hidden, 3 * hidden)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xi, hi = self.ih(x), self.hh(h)
        x_r, x_z, x_n = xi.chunk(3, dim=1)
        h_r, h_z, h_n = hi.chunk(3, dim=1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        return (1 - z) * n + z * h


class TemporalGRU(nn.Module):
    """Per-frame probabilities -> per-step logits over the same K classes."""

    def __init__(self, num_classes: int = 7, in_channels: int = 1, hidden: int = HIDDEN):
        super().__init__()
        if in_channels != 1:
            raise ValueError("a temporal model takes one channel of probabilities")
        self.num_classes, self.hidden_size = num_classes, hidden
        self.cell = GruCell(num_classes, hidden)
        self.out = nn.Linear(hidden, num_classes)

    def step(self, probs: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """probs (N, K), h (N, H) -> (logits (N, K), next h (N, H))."""
        h = self.cell(torch.log(probs.clamp_min(EPS)), h)
        return self.out(h), h

    def sequence(self, probs: torch.Tensor, h: torch.Tensor | None = None,
                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """probs (N, T, K) -> (logits (N, T, K), last h (N, H)). mask (N, T) bool: False steps
        leave h unchanged (a frame without the face), as the runtime does."""
        n, t_len, _ = probs.shape
        h = probs.new_zeros(n, self.hidden_size) if h is None else h
        outs = []
        for t in range(t_len):
            logits, h_new = self.step(probs[:, t], h)
            if mask is not None:
                h_new = torch.where(mask[:, t, None], h_new, h)
            h = h_new
            outs.append(logits)
        return torch.stack(outs, 1), h

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        """(N, 1, T, K) or (N, T, K) probabilities -> (N, K) logits after the last step."""
        if probs.dim() == 4:
            probs = probs[:, 0]
        return self.sequence(probs)[0][:, -1]


class StepModule(nn.Module):
    """The one-step graph for export: (probs, h_in) -> (logits, h_out)."""

    def __init__(self, model: TemporalGRU):
        super().__init__()
        self.model = model

    def forward(self, probs: torch.Tensor, h_in: torch.Tensor):
        return self.model.step(probs, h_in)


@register_model(
    ModelSpec(name="temporal_gru", arch="temporal_gru", labels=FER2013.classes,
              input_size=(SEQ_LEN, len(FER2013)), mean=(0.0,), std=(1.0,), align="none",
              seq_len=SEQ_LEN, hidden_size=HIDDEN),
    "GRU (128 hidden) over a track's per-frame probabilities; exported as a one-step model",
)
def temporal_gru(num_classes: int = 7, in_channels: int = 1, hidden: int = HIDDEN,
                 **config) -> TemporalGRU:
    if config:
        raise TypeError(f"temporal_gru takes no option {', '.join(sorted(config))}")
    return TemporalGRU(num_classes, in_channels, hidden)
