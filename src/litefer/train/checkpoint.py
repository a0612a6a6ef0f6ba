"""Load a training checkpoint (best.pt / last.pt) back into a model and its spec."""
from __future__ import annotations

from pathlib import Path

import torch

from ..models import create_model
from ..spec import ModelSpec


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, ModelSpec, dict]:
    """-> (model in eval mode, spec, the checkpoint's other fields)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=False)
    spec = ModelSpec.from_json(state["spec"])
    model, _ = create_model(spec.arch, spec)
    model.load_state_dict(state["model"])
    return model.eval(), spec, {k: v for k, v in state.items() if k not in ("model", "opt")}
