"""Model registry: architectures created by name, each with its default ModelSpec (timm-style)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import ModelNotFoundError
from ..spec import ModelSpec


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable
    spec: ModelSpec
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(spec: ModelSpec, description: str = ""):
    """Decorator: register ``builder(num_classes, in_channels, **config)`` under ``spec.arch``."""

    def wrap(builder: Callable) -> Callable:
        if spec.arch in _REGISTRY:
            raise ValueError(f"model {spec.arch!r} registered twice")
        _REGISTRY[spec.arch] = ModelEntry(spec.arch, builder, spec, description)
        return builder

    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelNotFoundError(
            f"unknown model {name!r}; registered: {', '.join(list_models())}"
        ) from None


def create_model(name: str, spec: ModelSpec | None = None, **config):
    """Build architecture ``name`` for ``spec`` (its default spec when None). Returns (module, spec)."""
    entry = get_entry(name)
    spec = spec or entry.spec
    model = entry.builder(num_classes=len(spec.labels), in_channels=spec.channels, **config)
    return model, spec
