"""Annotated images: boxes, track ids, labels and a probability bar per face (the only place with
colours and fonts). Input and output images are RGB uint8."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from .types import Face, Result

# RGB colour per emotion (colour-blind-friendly Okabe-Ito palette where possible)
COLOURS = {
    "angry": (213, 94, 0), "disgust": (0, 158, 115), "fear": (204, 121, 167),
    "happy": (240, 228, 66), "sad": (0, 114, 178), "surprise": (230, 159, 0),
    "neutral": (200, 200, 200), "contempt": (86, 180, 233), "uncertain": (128, 128, 128),
}
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, colour) -> None:
    thick = max(1, int(round(scale * 2)))
    cv2.putText(img, text, org, FONT, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, FONT, scale, colour, thick, cv2.LINE_AA)


def draw_face(img: np.ndarray, face: Face, bars: bool = True) -> None:
    """Draw one face in place: box, "label 0.87" (with #track id), landmarks, probability bars."""
    x1, y1, x2, y2 = (int(round(v)) for v in face.box)
    colour = COLOURS.get(face.label, (255, 255, 255))
    side = max(8, min(x2 - x1, y2 - y1))
    scale = float(np.clip(side / 220.0, 0.35, 1.2))
    cv2.rectangle(img, (x1, y1), (x2, y2), colour, max(1, side // 80), cv2.LINE_AA)
    head = f"#{face.track_id} " if face.track_id is not None else ""
    _text(img, f"{head}{face.label} {face.confidence:.2f}", (x1, max(12, y1 - 6)), scale, colour)
    if face.landmarks is not None:
        for x, y in np.asarray(face.landmarks, np.float32):
            cv2.circle(img, (int(x), int(y)), max(1, side // 100), (0, 255, 0), -1, cv2.LINE_AA)
    if bars:
        _bars(img, face, (x1, y2 + 4), max(60, x2 - x1), scale)


def _bars(img: np.ndarray, face: Face, origin: tuple[int, int], width: int, scale: float) -> None:
    x0, y = origin
    step = max(9, int(22 * scale))
    for name, p in zip(face.labels, face.probs):
        if y + step > img.shape[0]:
            break
        filled = int(round(float(p) * width))
        cv2.rectangle(img, (x0, y), (x0 + width, y + step - 3), (40, 40, 40), -1)
        cv2.rectangle(img, (x0, y), (x0 + filled, y + step - 3), COLOURS.get(name, (255,) * 3), -1)
        _text(img, f"{name} {p:.2f}", (x0 + 2, y + step - 5), scale * 0.55, (255, 255, 255))
        y += step


def draw_result(image: np.ndarray, result: Result, bars: bool = True, scale: float = 1.0
                ) -> np.ndarray:
    """A copy of ``image`` (RGB) with every face drawn; ``scale`` maps the result's source-pixel
    coordinates onto ``image`` (a downscaled decode has scale < 1)."""
    out = np.ascontiguousarray(image).copy()
    for face in result.faces:
        if scale != 1.0:
            lms = None if face.landmarks is None else np.asarray(face.landmarks) * scale
            face = replace(face, box=tuple(v * scale for v in face.box), landmarks=lms)
        draw_face(out, face, bars)
    return out


def save_image(path: str | Path, image_rgb: np.ndarray) -> Path:
    """Write an RGB image (format from the suffix); creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix or ".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"cannot encode an image as {path.suffix!r}")
    buf.tofile(str(path))
    return path
