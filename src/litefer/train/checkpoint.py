"""Load a training checkpoint (best.pt / last.pt) back into a model and its spec."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..models import create_model
from ..spec import ModelSpec


def checkpoint_spec(state: dict) -> ModelSpec:
    """The spec a checkpoint dict stores; one saved before specs recorded ``logit_adjust`` takes
    it from its training config, so that its exports teach in the right space."""
    spec = ModelSpec.from_json(state["spec"])
    stored = json.loads(state["spec"])
    adjust = (state.get("config") or {}).get("logit_adjust")
    if "logit_adjust" not in stored and adjust and spec.prior:
        spec = spec.with_(logit_adjust=float(adjust))
    return spec


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, ModelSpec, dict]:
    """-> (model in eval mode, spec, the checkpoint's other fields)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=False)
    spec = checkpoint_spec(state)
    model, _ = create_model(spec.arch, spec)
    model.load_state_dict(state["model"])
    return model.eval(), spec, {k: v for k, v in state.items() if k not in ("model", "opt")}
