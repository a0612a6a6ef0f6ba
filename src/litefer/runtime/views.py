"""Test-time averaging: the views of a batch a classifier is run on, and their mean output.

Modes (``tta`` arguments across the API, `litefer eval --tta` and `litefer analyze --tta`):

- None / False: the batch as it is (one network call);
- "flip" (or True): the batch and its mirror image (2 calls);
- "crops": seven framings, each with its mirror (14 calls): as given, shifted by 1/24 of the
  side (2 px at 48 x 48) left, right, up and down, and zoomed by 1.1 and 1/1.1 about the centre,
  edge pixels repeated where a shift or zoom uncovers the border.

Raw outputs (logits) are averaged, then the model's prior correction and temperature apply as
without averaging (litefer.metrics.proba_from_output).
"""
from __future__ import annotations

from typing import Callable, Iterator

import cv2
import numpy as np

from ..errors import LiteferError

TTA_MODES = ("flip", "crops")
_ZOOM = 1.1


def tta_mode(tta: bool | str | None) -> str | None:
    """None (no averaging), "flip" or "crops" from a ``tta`` argument; True means "flip".
    LiteferError for any other value."""
    if tta is None or tta is False or tta == "":
        return None
    if tta is True:
        return "flip"
    if tta in TTA_MODES:
        return str(tta)
    raise LiteferError(f"unknown test-time averaging {tta!r}: use flip or crops")


def _framings(h: int, w: int) -> list[np.ndarray]:
    """2 x 3 affine matrices (output -> input pixel mapping for cv2.warpAffine) of the
    non-identity framings of "crops"."""
    s = max(1, round(max(h, w) / 24))
    centre = ((w - 1) / 2, (h - 1) / 2)
    mats = [np.float32([[1, 0, dx], [0, 1, dy]]) for dx, dy in ((-s, 0), (s, 0), (0, -s), (0, s))]
    mats += [cv2.getRotationMatrix2D(centre, 0, z).astype(np.float32) for z in (_ZOOM, 1 / _ZOOM)]
    return mats


def _warp(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    planes = x.reshape(n * c, h, w)
    out = np.empty_like(planes)
    for i, p in enumerate(planes):
        out[i] = cv2.warpAffine(p, m, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(n, c, h, w)


def tta_views(x: np.ndarray, tta: bool | str | None) -> Iterator[np.ndarray]:
    """The views of float32 (N, C, H, W) network input ``x`` for a mode (see the module), each
    float32 (N, C, H, W) and C-contiguous; the first is ``x`` itself."""
    mode = tta_mode(tta)
    framings = [x]
    if mode == "crops":
        framings += [_warp(x, m) for m in _framings(*x.shape[2:])]
    for v in framings:
        yield v
        if mode is not None:
            yield np.ascontiguousarray(v[..., ::-1])


def averaged_output(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                    tta: bool | str | None) -> np.ndarray:
    """Mean of ``run(view)`` (float32 (N, K) raw outputs) over the views of ``x``."""
    total, count = None, 0
    for v in tta_views(x, tta):
        out = np.asarray(run(v), np.float32)
        total = out.copy() if total is None else total + out
        count += 1
    return total / count
