"""The "none" detector: the whole image is the face (for inputs that are already face crops)."""
from __future__ import annotations

import numpy as np

from ..types import Detection
from .base import check_image


class WholeImageDetector:
    """One Detection per image: box (0, 0, W, H), score 1.0, no landmarks.

    Operating range: images that are already a single face crop (FER2013-style 48 x 48, CK+
    crops, the output of another detector); any size; no cost beyond the input check.
    """

    name = "none"

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """[Detection covering ``image_rgb``] (RGB uint8 (H, W, 3))."""
        h, w = check_image(image_rgb).shape[:2]
        return [Detection((0.0, 0.0, float(w), float(h)), 1.0, None)]
