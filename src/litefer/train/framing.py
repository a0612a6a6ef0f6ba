"""Training faces framed exactly as the runtime frames them (``litefer train --align-faces``).

At run time a face reaches the classifier through the detector and ``align_faces``; FER2013's
crops were framed by another process. ``frame_like_runtime`` shows every training crop to the
runtime's detector as the pipeline table does (scaled and edge-padded, litefer.evalpipeline) and
keeps the aligned crop, or the original crop where the detector finds no face. Results are
cached by content hash, so each data set is framed once per detector and spec.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..evalpipeline import frame_face
from ..preprocess import fit_crop
from ..progress import Progress
from ..spec import ModelSpec


def frame_like_runtime(x_uint8: np.ndarray, spec: ModelSpec, detector, framing: str,
                       show_progress: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """x_uint8: (N, C, H, W) uint8 crops at the spec's size -> (same shape, aligned where a face
    was found; found: bool (N,))."""
    out, found = x_uint8.copy(), np.zeros(len(x_uint8), bool)
    with Progress(len(x_uint8), f"align ({detector.name})", show_progress) as bar:
        for i, chw in enumerate(x_uint8):
            face = chw[0] if chw.shape[0] == 1 else np.ascontiguousarray(chw.transpose(1, 2, 0))
            crop, _ = frame_face(face, detector, spec, framing)
            if crop is not None:
                out[i], found[i] = fit_crop(crop, spec), True
            bar.update(1)
    return out, found


def cached_frame_like_runtime(x_uint8: np.ndarray, spec: ModelSpec, detector_name: str,
                              cache_dir: str | Path, show_progress: bool | None = None
                              ) -> tuple[np.ndarray, np.ndarray]:
    """``frame_like_runtime`` with the runtime's named detector and its framing, cached in
    ``cache_dir`` under a hash of the images, the detector name and the spec's geometry."""
    from ..detect import create_detector
    from ..pipeline import framing_for

    detector = create_detector(detector_name)
    framing = framing_for(detector)
    key = hashlib.sha256(x_uint8.tobytes())
    key.update(f"{detector.name}|{framing}|{spec.input_size}|{spec.channels}|{spec.align}".encode())
    path = Path(cache_dir) / f"aligned-{key.hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as z:
            return z["x"], z["found"]
    x, found = frame_like_runtime(x_uint8, spec, detector, framing, show_progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, found=found)
    return x, found
