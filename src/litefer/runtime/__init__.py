"""Inference runtime (onnxruntime only)."""
from .classifier import Classifier, create_session
from .weights import DEFAULT_MODEL, list_weights, resolve_weights

__all__ = ["Classifier", "create_session", "DEFAULT_MODEL", "list_weights", "resolve_weights"]
