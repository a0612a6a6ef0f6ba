"""Detections -> face crops framed like FER2013, at the classifier's input size.

spec.align == "eyes" and the detection has landmarks: a similarity warp (rotation, uniform
scale, translation) puts the two eye centres on FER2013's median eye positions, so a tilted face
comes out upright. Otherwise (spec.align == "none", or no landmarks): an axis-aligned crop of
the box, enlarged by the margin FER2013 shows around that detector's median box.

Each detector sees FER2013's framing a little differently (a dlib box stops at the brows, a
Haar box nearly fills the frame), so FRAMINGS holds one measured set per detector, chosen by
the ``fer`` argument. Measured on FER2013 itself by
    python scripts/measure_fer_template.py --n 600
(600 random Training faces, seed 0, upscaled 4x and padded, run through each detector; medians
over the faces it found) in the 48 x 48 frame: points in pixel-centre coordinates (pixel i has
centre i), boxes in pixel-edge coordinates (the frame spans 0..48).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .spec import ModelSpec
from .types import Detection

FER_SIZE = 48


@dataclass(frozen=True)
class FerFraming:
    """How FER2013 frames a face, as one detector sees it, in the 48 x 48 frame.

    eyes: median eye centres ((x, y) image-left eye, then image-right), pixel centres, or None
    for a detector without landmarks; box: the detector's median box (x1, y1, x2, y2), edges.
    """

    eyes: tuple[tuple[float, float], tuple[float, float]] | None
    box: tuple[float, float, float, float]


# Measured (see the module docstring); faces found of 600: yunet 463 (the shipped ONNX model,
# litefer.detect.yunet), mtcnn 518, dlib 457, haar 450. Eye quartile spreads are 2.4-3.5 px:
# FER2013 crops are only loosely registered.
FRAMINGS: dict[str, FerFraming] = {
    "yunet": FerFraming(((14.92, 18.63), (32.41, 18.69)), (5.57, 1.4, 42.67, 47.71)),
    "mtcnn": FerFraming(((14.62, 18.38), (32.5, 17.88)), (4.5, -0.5, 42.75, 49.75)),
    "dlib": FerFraming(((14.75, 18.71), (32.25, 18.33)), (4.75, 5.5, 43.75, 48.25)),
    "haar": FerFraming(None, (0.75, 0.5, 47.25, 47.0)),
    "none": FerFraming(None, (0.0, 0.0, 48.0, 48.0)),
}
DEFAULT_FRAMING = "yunet"
MAX_SUPERSAMPLE = 4


def eye_centres(landmarks: np.ndarray) -> np.ndarray:
    """float64 (2, 2): (x, y) of the image-left eye then the image-right eye.

    5 points: points 0 and 1; 68 points (iBUG 300-W): the means of points 36-41 and 42-47.
    Raises ValueError for any other shape.
    """
    pts = np.asarray(landmarks, np.float64)
    if pts.shape == (5, 2):
        return pts[:2].copy()
    if pts.shape == (68, 2):
        return np.stack([pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)])
    raise ValueError(f"landmarks must be (5, 2) or (68, 2), got {pts.shape}")


def framing(name_or_framing: str | FerFraming) -> FerFraming:
    """FRAMINGS[name] (ValueError naming the choices) or the FerFraming given."""
    if isinstance(name_or_framing, FerFraming):
        return name_or_framing
    if name_or_framing not in FRAMINGS:
        raise ValueError(f"no FER2013 framing for {name_or_framing!r}; "
                         f"choose one of {', '.join(FRAMINGS)} or pass a FerFraming")
    return FRAMINGS[name_or_framing]


def template(spec: ModelSpec, fer: str | FerFraming = DEFAULT_FRAMING,
             points: int = 5) -> np.ndarray:
    """Where the eye centres land in a crop of spec.input_size: float64 (2, 2), pixel centres.

    fer: the framing (detector) whose eyes to use; one without eyes falls back to the yunet
    template for 5 points and the dlib one for 68 (eye-contour means sit lower than pupils).
    """
    h, w = spec.input_size
    eyes = framing(fer).eyes or FRAMINGS["dlib" if points == 68 else "yunet"].eyes
    return (np.array(eyes, np.float64) + 0.5) * [w / FER_SIZE, h / FER_SIZE] - 0.5


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2 x 3 float64 matrix of the similarity taking the two points ``src`` onto ``dst``
    exactly (closed form: complex ratio of the two difference vectors). ValueError if the
    source points coincide."""
    s = complex(*(src[1] - src[0]))
    d = complex(*(dst[1] - dst[0]))
    if abs(s) < 1e-6:
        raise ValueError("the two eye centres coincide; cannot align")
    a = d / s
    rot = np.array([[a.real, -a.imag], [a.imag, a.real]])
    return np.hstack([rot, (dst[0] - rot @ src[0])[:, None]])


def box_transform(box: Sequence[float], spec: ModelSpec,
                  frame: Sequence[float] = FRAMINGS[DEFAULT_FRAMING].box) -> np.ndarray:
    """2 x 3 matrix mapping source pixel centres into the crop for a box: the box lands where
    ``frame`` (a detector's median box in the 48 x 48 FER2013 frame) says, scaled per axis."""
    h, w = spec.input_size
    x1, y1, x2, y2 = (float(v) for v in box)
    fx1, fy1, fx2, fy2 = (float(v) for v in frame)
    sx = (fx2 - fx1) / FER_SIZE * w / max(x2 - x1, 1e-6)
    sy = (fy2 - fy1) / FER_SIZE * h / max(y2 - y1, 1e-6)
    tx = fx1 / FER_SIZE * w - x1 * sx
    ty = fy1 / FER_SIZE * h - y1 * sy
    # box edges map to edges; pixel centres sit half a pixel in on both sides
    return np.array([[sx, 0.0, tx + 0.5 * sx - 0.5], [0.0, sy, ty + 0.5 * sy - 0.5]])


def face_transform(det: Detection, spec: ModelSpec,
                   fer: str | FerFraming = DEFAULT_FRAMING) -> np.ndarray:
    """The 2 x 3 matrix (source pixel centres -> crop pixel centres) align_faces uses for det."""
    if spec.align not in ("eyes", "none"):
        raise ValueError(f"spec.align must be 'eyes' or 'none', got {spec.align!r}")
    if spec.align == "eyes" and det.landmarks is not None:
        eyes = eye_centres(det.landmarks)
        if np.linalg.norm(eyes[1] - eyes[0]) >= 1e-6:
            return similarity(eyes, template(spec, fer, len(det.landmarks)))
    return box_transform(det.box, spec, framing(fer).box)


def warp(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp ``image`` by ``matrix`` into a new (h, w) = ``size`` array, anti-aliased.

    When the warp shrinks by more than 1.5 x, it renders at f x the size (f <= MAX_SUPERSAMPLE)
    and averages f x f blocks (INTER_AREA), which a plain bilinear warp would alias. Pixels
    outside the image repeat its border.
    """
    h, w = size
    shrink = 1.0 / max(math.sqrt(abs(np.linalg.det(matrix[:, :2]))), 1e-9)
    f = int(min(MAX_SUPERSAMPLE, math.ceil(shrink))) if shrink > 1.5 else 1
    if f > 1:  # crop pixel x covers render pixels f x .. f x + f - 1, centre f x + (f - 1) / 2
        matrix = np.asarray(matrix, np.float64) * f
        matrix[:, 2] += (f - 1) / 2
    out = cv2.warpAffine(image, matrix, (w * f, h * f), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA) if f > 1 else out


def align_faces(image_rgb: np.ndarray, detections: Sequence[Detection], spec: ModelSpec,
                *, fer: str | FerFraming = DEFAULT_FRAMING) -> list[np.ndarray]:
    """One new RGB uint8 (h, w, 3) crop per detection, (h, w) = spec.input_size, in order.

    image_rgb: RGB uint8 (H, W, 3) in the detections' pixel coordinates. fer: the name of the
    detector that produced them (a FRAMINGS key: its measured eye template and box margin) or
    a FerFraming. Crops never share memory with the image or each other. Raises ValueError for
    a bad spec.align, an unknown framing or landmarks of an unknown shape.
    """
    if image_rgb.dtype != np.uint8 or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f"image must be RGB uint8 (H, W, 3), got {image_rgb.dtype} "
                         f"{image_rgb.shape}")
    size = spec.input_size
    return [warp(image_rgb, face_transform(d, spec, fer), size) for d in detections]
