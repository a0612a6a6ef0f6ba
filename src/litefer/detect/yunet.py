"""YuNet (libfacedetection.train) from the ONNX file shipped in the package: the default detector.

The network (``weights/yunet_n_dynamic.onnx``, Apache-2.0, licence text in
``weights/LICENSE.yunet``, source in the repository's NOTICE) runs in ONNX Runtime, a core
dependency, so the default detector is the same on every supported Python and platform. The
outputs are decoded here: per grid cell of stride 8, 16 and 32, score = sqrt(cls * obj), box
centre (col + dx, row + dy) * stride, size exp(dw, dh) * stride, landmarks (col + lx, row + ly) *
stride, then greedy non-maximum suppression. ``cv2.FaceDetectorYN`` decodes the same network the
same way; on AFW it gave identical recall and precision at 4.2-6.5x the time
(``scripts/eval_detectors.py --compare-opencv``, docs/detectors.md), so ONNX Runtime runs it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import LiteferError, MissingDependencyError, ModelNotFoundError
from ..types import Detection
from .base import check_image, check_options, finish, shrink, to_detection

WEIGHTS = Path(__file__).resolve().parent / "weights" / "yunet_n_dynamic.onnx"
STRIDES = (8, 16, 32)
PAD = 32  # the input's height and width must be multiples of the largest stride


def create_session(path: Path, threads: int):
    """A CPU InferenceSession for the detector (litefer.runtime.create_session's options:
    ``threads`` intra-op threads, no spin-waiting when there is more than one).

    Raises ModelNotFoundError when the file is missing, LiteferError when it does not load.
    """
    try:
        from ..runtime.classifier import create_session as ort_session
    except ImportError as exc:
        raise MissingDependencyError("the 'yunet' detector needs onnxruntime: "
                                     "pip install onnxruntime") from exc
    if not path.is_file():
        raise ModelNotFoundError(
            f"YuNet detector file {path} is missing; reinstall litefer "
            "(pip install --force-reinstall litefer) or pass model_path=, or name another "
            "detector explicitly (detector='haar', or 'auto' to fall back with a logged warning)")
    try:
        return ort_session(path, threads, ["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
        raise LiteferError(f"cannot load the YuNet detector {path}: {exc}; reinstall litefer "
                           "or name another detector (detector='haar')") from exc


def to_input(bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 (H, W, 3) -> float32 (1, 3, H', W') in 0..255, zero-padded at the bottom and
    right to multiples of 32 (the network's input convention)."""
    h, w = bgr.shape[:2]
    x = np.zeros((1, 3, -(-h // PAD) * PAD, -(-w // PAD) * PAD), np.float32)
    x[0, :, :h, :w] = bgr.transpose(2, 0, 1)
    return x


def decode(outputs: list[np.ndarray], width: int, threshold: float) -> np.ndarray:
    """The network's 12 outputs (cls, obj, bbox, kps for strides 8, 16, 32, batch 1) for an input
    ``width`` pixels wide -> float32 (N, 15) rows: x1, y1, x2, y2, score 0..1, then five (x, y)
    landmarks (image-left eye, image-right eye, nose tip, mouth left, mouth right), input
    pixels; only rows scoring at least ``threshold``, before suppression."""
    rows = []
    for k, stride in enumerate(STRIDES):
        cls, obj = outputs[k][0, :, 0], outputs[3 + k][0, :, 0]
        box, kps = outputs[6 + k][0], outputs[9 + k][0]
        score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        idx = np.flatnonzero(score >= threshold)
        row, col = np.divmod(idx, width // stride)
        cell = np.stack([col, row], 1).astype(np.float32)
        centre = (cell + box[idx, :2]) * stride
        half = np.exp(box[idx, 2:4]) * stride / 2
        points = (kps[idx].reshape(-1, 5, 2) + cell[:, None, :]) * stride
        rows.append(np.concatenate([centre - half, centre + half, score[idx, None],
                                    points.reshape(-1, 10)], 1))
    return np.concatenate(rows).astype(np.float32)


def suppress(rows: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression of decode()'s rows: keep the best-scoring box, drop every
    other whose IoU with it exceeds ``iou_threshold``, repeat; returned best first."""
    order = np.argsort(-rows[:, 4], kind="stable")
    x1, y1, x2, y2 = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    area = (x2 - x1) * (y2 - y1)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = iw * ih
        order = rest[inter <= iou_threshold * (area[i] + area[rest] - inter)]
    return rows[keep]


class YuNetDetector:
    """YuNet-n CNN (75,856 parameters) in ONNX Runtime: boxes, score 0..1, 5 landmarks
    (image-left eye, image-right eye, nose tip, mouth corner left, mouth corner right).

    Operating range: frontal to near-profile faces, boxes down to about 10 px at detection
    scale, i.e. 10 * longest_side / detect_size source pixels. AFW (scripts/eval_detectors.py):
    recall 100% at the default threshold, landmarks on every detection.

    score_threshold: keep faces scoring at least this (0..1; scores top out near 0.93). The
    default 0.7 keeps AFW recall at 100% (it holds up to 0.87 and falls to 99.4% at 0.88) and
    keeps a clear 200-px frontal face in compressed video frames, which scores 0.78-0.83.
    detect_size: "auto" (default: litefer.detect.base.auto_detect_size, so a 640 x 480 frame
    is detected at 256 and photos of 1600 px and more at 640), the longest side of the
    downscaled copy detection runs on, or None (full resolution). min_size: smallest face side
    to report, source pixels. nms_threshold: IoU above which the weaker of two boxes is dropped.
    threads: ONNX Runtime intra-op threads; 1 (default) because a second thread made a
    256 x 192 detection slower, not faster, on a 2-core machine; more threads never spin-wait.
    model_path: another YuNet ONNX export with the same outputs (default: the shipped file).

    Raises ModelNotFoundError when the model file is missing, LiteferError when it cannot load.
    """

    name = "yunet"

    def __init__(self, *, score_threshold: float = 0.7, detect_size: int | str | None = "auto",
                 min_size: float = 0.0, nms_threshold: float = 0.3, threads: int = 1,
                 model_path: str | Path | None = None):
        check_options(score_threshold, detect_size, min_size)
        if not 0.0 < nms_threshold <= 1.0:
            raise ValueError(f"nms_threshold must lie in (0, 1], got {nms_threshold}")
        if threads < 0:
            raise ValueError(f"threads must be >= 0 (0: ONNX Runtime's choice), got {threads}")
        self.score_threshold, self.detect_size = score_threshold, detect_size
        self.min_size, self.nms_threshold, self.threads = min_size, nms_threshold, threads
        self.model_path = Path(model_path) if model_path is not None else WEIGHTS
        self._session = create_session(self.model_path, threads)
        self._input = self._session.get_inputs()[0].name
        self._session.run(None, {self._input: np.zeros((1, 3, 64, 64), np.float32)})  # warm-up

    def raw(self, bgr: np.ndarray) -> np.ndarray:
        """BGR uint8 (H, W, 3) at detection scale -> float32 (N, 15) rows after suppression,
        best first (see :func:`decode` for the columns)."""
        x = to_input(bgr)
        outputs = self._session.run(None, {self._input: x})
        rows = decode(outputs, x.shape[3], self.score_threshold)
        return suppress(rows, self.nms_threshold) if len(rows) > 1 else rows

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Faces in ``image_rgb`` (RGB uint8 (H, W, 3)); see the class docstring."""
        image = check_image(image_rgb)
        small, scale = shrink(image, self.detect_size)
        rows = self.raw(small[..., ::-1])
        return finish((to_detection(r[:4], float(r[4]), r[5:15].reshape(5, 2), scale,
                                    image.shape) for r in rows), self.min_size)
