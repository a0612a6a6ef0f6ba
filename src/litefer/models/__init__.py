"""Architectures (training half, needs torch). Importing this package registers every model."""
from ..errors import require

require("torch", "train")

from . import (baselines, lbmbnet, mini_xception, mobilenetv3, nano,  # noqa: E402,F401  (registers)
               multistream, temporal)
from . import ensemble  # noqa: E402,F401  (registers ensembles of the architectures above)
from .registry import create_model, get_entry, list_models, register_model  # noqa: E402

__all__ = ["create_model", "get_entry", "list_models", "register_model"]
