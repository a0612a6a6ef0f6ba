"""Exponential moving average of a model's weights (Polyak averaging), the model that is validated."""
from __future__ import annotations

import copy

import torch


class WeightAverage:
    """A frozen copy whose floating-point state follows ``avg <- d * avg + (1 - d) * live``.

    The decay is warmed up as ``d_t = min(decay, (1 + t) / (10 + t))`` (t = updates so far) so
    that the random initial weights are forgotten quickly. Integer buffers (BatchNorm's
    ``num_batches_tracked``) are copied. Call :meth:`update` after every optimiser step.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight-average decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        d = self.current_decay()
        live = model.state_dict()
        for name, avg in self.module.state_dict().items():
            if avg.dtype.is_floating_point:
                avg.mul_(d).add_(live[name].detach(), alpha=1 - d)
            else:
                avg.copy_(live[name])
        self.updates += 1

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = state["updates"]
