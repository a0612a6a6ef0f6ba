"""YuNet (libfacedetection) through the ``yuface`` package: the default detector.

yuface (BSD-3-Clause, ShiqiYu/libfacedetection) compiles the CNN and its weights into a C++
library, so nothing is downloaded and no ONNX file is shipped. It has wheels for CPython
3.6-3.11 on Linux x86_64 and Windows amd64 only; elsewhere use the ``mtcnn`` or ``haar`` detector
(``create_detector("auto")`` picks the first one installed).
"""
from __future__ import annotations

import ctypes
import glob
import os

import cv2
import numpy as np

from ..errors import MissingDependencyError
from ..types import Detection
from .base import check_image, check_options, finish, shrink, to_detection

_INSTALL = ("the 'yunet' detector needs the yuface package (wheels for CPython 3.10/3.11 on "
            "Linux x86_64 and Windows amd64): pip install yuface; or use detector 'mtcnn' "
            "(pip install 'litefer[mtcnn]') or 'haar' (no extra dependency)")


_RESULT_BYTES = 0x9000  # libfacedetection's result buffer: int count + up to 1024 rows of 16 int16


def _load_yuface():
    """facedetect_cnn from the libfacedetection.so inside yuface, called through ctypes with a
    buffer we own: yuface's own ``detect`` leaks about 36 KB per call (17.9 MB per 500 calls
    measured here), which a long video or a server cannot afford. ctypes also releases the GIL."""
    try:
        import yuface
    except ImportError as exc:
        raise MissingDependencyError(_INSTALL) from exc
    lib = ctypes.CDLL(os.path.join(os.path.dirname(yuface.__file__), "libfacedetection.so"))
    fn = lib._Z14facedetect_cnnPhS_iii  # facedetect_cnn(result, bgr, width, height, step)
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return fn


def _detect_rows(fn, bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 (H, W, 3) -> float32 (N, 15): score 0..100, x, y, w, h, 5 landmark (x, y)."""
    bgr = np.ascontiguousarray(bgr)
    buf = np.empty(_RESULT_BYTES, np.uint8)
    fn(buf.ctypes.data, bgr.ctypes.data, bgr.shape[1], bgr.shape[0], bgr.strides[0])
    n = int(buf[:4].view(np.int32)[0])
    return buf[4:4 + n * 32].view(np.int16).reshape(n, 16)[:, :15].astype(np.float32)


def _omp_setter():
    """omp_set_num_threads of the OpenMP runtime bundled with yuface, or None (Windows, ...)."""
    import yuface

    libs = os.path.join(os.path.dirname(os.path.dirname(yuface.__file__)), "yuface.libs")
    for path in glob.glob(os.path.join(libs, "libgomp*.so*")):
        try:
            return ctypes.CDLL(path).omp_set_num_threads
        except (OSError, AttributeError):
            continue
    return None


class YuNetDetector:
    """YuNet CNN, 5 landmarks (eyes, nose tip, mouth corners; image-left first), score 0..1.

    Operating range: frontal to near-profile faces, roll up to at least +-60 degrees, boxes down
    to about 13 px at detection scale, i.e. 13 * longest_side / detect_size source pixels (26 px
    in a 1280-px photo at the default 640). Speed: see README (``scripts/eval_detectors.py``); libfacedetection warns above 960 px.

    score_threshold: keep faces scoring at least this (0..1; yunet scores top out near 0.95).
    The default 0.7 keeps AFW recall at 100% (0.8: 99.7%, 0.9: 79.5%) and drops most blurred
    skin patches and backs of heads seen between 0.5 and 0.7. detect_size: "auto" (default: half
    the longest side within 320..640, so a 640 x 480 frame is detected at 320 for real-time
    speed and photos of 1280 px and more at 640 for small faces) or the longest side of the
    downscaled copy detection runs on (None: full resolution); min_size: smallest face side to
    report, source pixels; threads: OpenMP threads for yuface. None (default) reads
    ``LITEFER_DETECTOR_THREADS``, else 2 where the machine has 2 cores or more: on an idle 2-core
    VM the 640 x 480 pipeline runs at ~210 FPS with 2 threads and ~150 with 1. When every core is
    busy with other work, pass 1 (or set the variable): OpenMP's spinning threads then slow down
    by 2-40x, while 1 thread keeps its speed. The service's inference threads use 1.
    """

    name = "yunet"

    def __init__(self, *, score_threshold: float = 0.7, detect_size: int | str | None = "auto",
                 min_size: float = 0.0, threads: int | None = None):
        check_options(score_threshold, detect_size, min_size)
        if threads is None:
            threads = int(os.environ.get("LITEFER_DETECTOR_THREADS") or min(2, os.cpu_count() or 1))
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.score_threshold, self.detect_size = score_threshold, detect_size
        self.min_size, self.threads = min_size, threads
        self._native = _load_yuface()
        self._set_threads = _omp_setter()

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Faces in ``image_rgb`` (RGB uint8 (H, W, 3)); see the class docstring."""
        image = check_image(image_rgb)
        small, scale = shrink(image, self.detect_size)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        if self._set_threads is not None:  # per call: OpenMP settings are per calling thread
            self._set_threads(self.threads)
        rows = _detect_rows(self._native, bgr)
        found = []
        for row in rows:
            score = row[0] / 100.0
            if score < self.score_threshold:
                continue
            x, y, w, h = row[1:5]
            found.append(to_detection((x, y, x + w, y + h), score, row[5:15].reshape(5, 2),
                                      scale, image.shape))
        return finish(found, self.min_size)
