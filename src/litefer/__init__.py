"""litefer: lightweight facial emotion recognition on an ordinary CPU.

Importing litefer loads no model and imports no torch; the public surface is resolved lazily.
"""
from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "Classifier": "litefer.runtime.classifier",
    "Recognizer": "litefer.pipeline",
    "Detection": "litefer.types",
    "Face": "litefer.types",
    "Result": "litefer.types",
    "ModelSpec": "litefer.spec",
    "LiteferError": "litefer.errors",
    "InvalidImageError": "litefer.errors",
    "InvalidInputError": "litefer.errors",
    "DatasetError": "litefer.errors",
    "ModelNotFoundError": "litefer.errors",
    "MissingDependencyError": "litefer.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'litefer' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public surface (resolved lazily) beside the module's own names."""
    return sorted(set(globals()) | set(__all__))
