"""Recognizer: the only orchestrator — detect -> align -> classify (one batched call) -> Result."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .types import Detection, Face, Result

UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class FaceFilter:
    """min_face: shorter box side in source pixels; max_faces: keep the largest N (0 = all);
    min_confidence: below it a face is labelled "uncertain" (probabilities are kept)."""

    min_face: float = 0.0
    max_faces: int = 0
    min_confidence: float = 0.0

    def select(self, dets: list[Detection]) -> list[Detection]:
        dets = [d for d in dets if min(d.width, d.height) >= self.min_face]
        if self.max_faces:
            dets = sorted(dets, key=lambda d: d.width * d.height, reverse=True)[: self.max_faces]
        return dets


class Recognizer:
    """Facial emotion recognition on whole images.

    model: None (package default), a shipped name or an .onnx path; detector: a backend name
    (see ``litefer.detect.list_detectors()``), ``"none"`` for images that already are face crops,
    or a detector object with ``detect(image_rgb) -> list[Detection]``; detect_size: longest side
    of the copy the named detector runs on (None: its default); align: similarity-warp from eye
    landmarks when the detector gives them (else a box crop); threads: classifier threads.
    Images are RGB uint8 (H, W, 3) arrays, file paths or encoded bytes.
    """

    def __init__(self, model: str | Path | None = None, detector="default", align: bool = True,
                 min_face: float = 0.0, max_faces: int = 0, min_confidence: float = 0.0,
                 threads: int = 1, detect_size: int | None = None):
        from .detect import create_detector
        from .runtime import Classifier

        self.classifier = Classifier(model, threads=threads)
        self.spec = self.classifier.spec
        if not align:
            self.spec = self.spec.with_(align="none")
        if isinstance(detector, str):
            options = {} if detect_size is None else {"detect_size": detect_size}
            detector = create_detector(detector, **options)
        self.detector = detector
        self.framing = framing_for(self.detector)
        self.filter = FaceFilter(min_face, max_faces, min_confidence)

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.filter.select(self.detector.detect(image))

    def analyze(self, image, boxes: Sequence[Sequence[float]] | None = None,
                source: str | None = None) -> Result:
        """Every face in one image -> Result (faces sorted as the detector ranks them).

        boxes: optional (x1, y1, x2, y2) boxes in source pixels that replace detection.
        """
        return self.analyze_batch([image], None if boxes is None else [boxes],
                                  None if source is None else [source])[0]

    def analyze_batch(self, images: Sequence, boxes: Sequence | None = None,
                      sources: Sequence[str] | None = None) -> list[Result]:
        """Several images -> one Result each; all their faces are classified in one ONNX call.

        An input that cannot be decoded gives a Result with ``error`` set; the others go on.
        """
        prepared = [self._prepare(item, None if boxes is None else boxes[i],
                                  sources[i] if sources else _name(item))
                    for i, item in enumerate(images)]
        crops = [c for _, _, _, cs in prepared for c in cs]
        t0 = time.perf_counter()
        probs = self.classifier.predict_proba(crops)
        per_face_ms = (time.perf_counter() - t0) * 1e3 / max(1, len(crops))
        results, row = [], 0
        for res, dets, scale, cs in prepared:
            res.faces = [self._face(d, probs[row + j], scale) for j, d in enumerate(dets)]
            res.timings_ms["classify"] = per_face_ms * len(cs)
            row += len(cs)
            results.append(res)
        return results

    def _prepare(self, item, boxes, name: str):
        """Decode, detect and align one image -> (Result without faces, dets, scale, crops)."""
        from .align import align_faces
        from .errors import LiteferError
        from .io import DecodedImage, read_image

        t0 = time.perf_counter()
        if isinstance(item, LiteferError):  # a decode failure handed in by a bulk reader
            return Result(name, error=str(item)), [], 1.0, []
        try:
            decoded = item if isinstance(item, DecodedImage) else read_image(item)
        except LiteferError as exc:
            return Result(name, error=str(exc)), [], 1.0, []
        t1 = time.perf_counter()
        image, scale = decoded.image, decoded.scale
        if boxes is not None:
            dets = [Detection(tuple(float(v) * scale for v in b[:4])) for b in boxes]
        else:
            dets = self.detect(image)
        t2 = time.perf_counter()
        crops = align_faces(image, dets, self.spec, fer=self.framing)
        t3 = time.perf_counter()
        w, h = decoded.source_size
        res = Result(name, width=w, height=h, timings_ms={
            "decode": (t1 - t0) * 1e3, "detect": (t2 - t1) * 1e3, "align": (t3 - t2) * 1e3})
        return res, dets, scale, crops

    def _face(self, det: Detection, probs: np.ndarray, scale: float) -> Face:
        k = int(probs.argmax())
        conf = float(probs[k])
        label = self.spec.labels[k] if conf >= self.filter.min_confidence else UNCERTAIN
        inv = 1.0 / scale
        lms = None if det.landmarks is None else np.asarray(det.landmarks, np.float32) * inv
        return Face(tuple(float(v) * inv for v in det.box), float(det.score), lms,
                    self.spec.labels, probs, label, conf)

    def stream(self, frames: Iterable[tuple[int, float, np.ndarray]], source: str = "<stream>",
               tracker=None, temporal=None, detect_every: int = 1) -> Iterator[Result]:
        """(frame_index, time_s, RGB frame) -> one Result per frame, lazily (constant memory).

        Faces carry ``track_id`` from ``tracker`` (a fresh litefer.video.Tracker when None).
        temporal: None (per-frame probabilities), a name ("none", "ema", "gru" needs a model:
        use litefer.video.create_temporal) or a temporal model object; its probabilities,
        label and confidence replace the per-frame ones. detect_every: run the detector on every
        K-th frame and classify the tracker's predicted boxes in between (see litefer.video.stream).
        """
        from .video import Tracker, create_temporal
        from .video.stream import run_stream

        if temporal is None or isinstance(temporal, str):
            temporal = create_temporal(temporal or "none")
        if hasattr(temporal, "check_labels"):
            temporal.check_labels(self.spec.labels, self.spec.name)
        yield from run_stream(self, frames, source, tracker or Tracker(), temporal, detect_every)


def framing_for(detector) -> str:
    """Which measured FER2013 framing (litefer.align.FRAMINGS) matches this detector's boxes."""
    from .align import FRAMINGS

    name = getattr(detector, "name", "yunet")
    return name if name in FRAMINGS else "yunet"


def _name(item) -> str:
    return str(item) if isinstance(item, (str, Path)) else f"<{type(item).__name__}>"
