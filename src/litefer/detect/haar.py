"""OpenCV's Viola-Jones frontal-face Haar cascade (ships with opencv-python-headless 4.x)."""
from __future__ import annotations

import os

import cv2
import numpy as np

from ..errors import MissingDependencyError
from ..types import Detection
from .base import check_image, check_options, finish, logistic, shrink, to_detection

CASCADE = "haarcascade_frontalface_default.xml"


class HaarDetector:
    """Haar cascade, boxes only (no landmarks, so alignment falls back to the box crop).

    Operating range: upright frontal faces (yaw within about +-30 degrees, roll within about
    +-15); in practice faces of 30-45 px and more at detection scale (detect_min is only the
    smallest window tried). More false positives than the CNNs on cluttered scenes; AFW recall
    78%. Speed (scripts/eval_detectors.py, 2-core VM shared with a training job): 160-320 ms per
    640 x 480 frame.

    score: logistic of the cascade's last-stage weight (monotone, not calibrated).
    score_threshold: keep faces scoring at least this (0..1); detect_size: longest side of the
    copy detection runs on (None: full resolution); min_size: smallest face side to report,
    source pixels; scale_factor, min_neighbors, detect_min: cv2.CascadeClassifier's
    scaleFactor, minNeighbors and minSize (pixels of the detection copy).
    """

    name = "haar"

    def __init__(self, *, score_threshold: float = 0.0, detect_size: int | None = 640,
                 min_size: float = 0.0, scale_factor: float = 1.1, min_neighbors: int = 5,
                 detect_min: int = 20):
        check_options(score_threshold, detect_size, min_size)
        if scale_factor <= 1.0 or min_neighbors < 0 or detect_min < 1:
            raise ValueError("scale_factor must be > 1, min_neighbors >= 0, detect_min >= 1")
        self.score_threshold, self.detect_size = score_threshold, detect_size
        self.min_size, self.scale_factor = min_size, scale_factor
        self.min_neighbors, self.detect_min = min_neighbors, detect_min
        path = os.path.join(getattr(getattr(cv2, "data", None), "haarcascades", ""), CASCADE)
        self._cascade = cv2.CascadeClassifier(path) if os.path.isfile(path) else None
        if self._cascade is None or self._cascade.empty():
            raise MissingDependencyError(
                f"{CASCADE} not found in this OpenCV build; the 'haar' detector needs "
                "opencv-python-headless 4.x (pip install 'opencv-python-headless>=4.8,<5')")

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Faces in ``image_rgb`` (RGB uint8 (H, W, 3)); see the class docstring."""
        image = check_image(image_rgb)
        small, scale = shrink(image, self.detect_size)
        grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        side = max(self.detect_min, int(self.min_size * scale))
        rects, _, weights = self._cascade.detectMultiScale3(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(side, side), outputRejectLevels=True)
        found = []
        for (x, y, w, h), weight in zip(np.reshape(rects, (-1, 4)), np.ravel(weights)):
            score = logistic(float(weight))
            if score >= self.score_threshold:
                found.append(to_detection((x, y, x + w, y + h), score, None, scale, image.shape))
        return finish(found, self.min_size)
