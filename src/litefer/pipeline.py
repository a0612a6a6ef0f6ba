"""Recognizer: the only orchestrator — detect -> align -> classify (one batched call) -> Result.

Still images (``analyze``, ``analyze_batch``), video (``stream``, and ``classify`` for faces
placed by a tracker), the service and the bulk engine all build their Results here; the label
rule is ``litefer.types.decide`` and the per-frame tracking lives in ``litefer.video.stream``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .errors import InvalidInputError
from .types import UNCERTAIN, Detection, Face, Result

__all__ = ["Recognizer", "FaceFilter", "UNCERTAIN", "framing_for"]


@dataclass(frozen=True)
class FaceFilter:
    """min_face: shorter box side in source pixels (>= 0); max_faces: keep the largest N (0 =
    all); min_confidence: below it a face is labelled "uncertain" (probabilities are kept).
    Raises InvalidInputError for a negative min_face or max_faces."""

    min_face: float = 0.0
    max_faces: int = 0
    min_confidence: float = 0.0

    def __post_init__(self):
        if not self.min_face >= 0 or int(self.max_faces) != self.max_faces or self.max_faces < 0:
            raise InvalidInputError(f"min_face must be >= 0 and max_faces a whole number >= 0 "
                                    f"(0 = all), got {self.min_face} and {self.max_faces}")

    def select(self, dets: list[Detection]) -> list[Detection]:
        dets = [d for d in dets if min(d.width, d.height) >= self.min_face]
        if self.max_faces:
            dets = sorted(dets, key=lambda d: d.width * d.height, reverse=True)[: self.max_faces]
        return dets


@dataclass
class _Prepared:
    """One image between align and classify: its Result so far, faces in decoded pixels."""

    result: Result
    dets: list[Detection] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)
    scale: float = 1.0


class Recognizer:
    """Facial emotion recognition on whole images.

    model: None (package default), a shipped name or an .onnx path; detector: a backend name
    (see ``litefer.detect.list_detectors()``), ``"none"`` for images that already are face crops,
    or a detector object with ``detect(image_rgb) -> list[Detection]``; detect_size: longest side
    of the copy the named detector runs on (None: its default); align: similarity-warp from eye
    landmarks when the detector gives them (else a box crop); threads: classifier threads;
    tta: None, "flip" or "crops", test-time averaging of each face's logits over views
    (litefer.runtime.views: 2 or 14 classifier runs per face).
    Images are RGB uint8 (H, W, 3) arrays (float arrays in 0..1 are converted; other floats are
    refused, see litefer.inputs), file paths or encoded bytes.
    """

    def __init__(self, model: str | Path | None = None, detector="default", align: bool = True,
                 min_face: float = 0.0, max_faces: int = 0, min_confidence: float = 0.0,
                 threads: int = 1, detect_size: int | None = None,
                 tta: str | bool | None = None):
        from .runtime import Classifier
        from .runtime.views import tta_mode

        tta = tta_mode(tta)
        classifier = Classifier(model, threads=threads)
        spec = classifier.spec if align else classifier.spec.with_(align="none")
        self._bind(classifier, spec, _detector(detector, detect_size),
                   FaceFilter(min_face, max_faces, min_confidence), tta)

    def _bind(self, classifier, spec, detector, face_filter: FaceFilter,
              tta: str | None = None) -> "Recognizer":
        self.classifier, self.spec, self.detector = classifier, spec, detector
        self.framing = framing_for(detector)
        self.filter = face_filter
        self.tta = tta
        return self

    def with_options(self, *, detector=None, detect_size: int | None = None,
                     min_face: float | None = None, max_faces: int | None = None,
                     min_confidence: float | None = None,
                     tta: str | bool | None = None) -> "Recognizer":
        """A new Recognizer sharing this one's classifier session and spec (no model is loaded)
        with the given choices replaced; None keeps the current one. detector: a backend name
        (a new detector; detect_size applies to it) or a detector object; the crop framing
        follows the detector; tta: "flip", "crops", or False for none. Raises
        InvalidInputError for negative min_face or max_faces, LiteferError for an unknown tta."""
        from .runtime.views import tta_mode

        f = self.filter
        face_filter = FaceFilter(f.min_face if min_face is None else min_face,
                                 f.max_faces if max_faces is None else max_faces,
                                 f.min_confidence if min_confidence is None else min_confidence)
        det = self.detector if detector is None else _detector(detector, detect_size)
        return Recognizer.__new__(Recognizer)._bind(self.classifier, self.spec, det, face_filter,
                                                    self.tta if tta is None else tta_mode(tta))

    @property
    def min_confidence(self) -> float:
        """Below this probability a face's label is "uncertain"."""
        return self.filter.min_confidence

    def detect(self, image: np.ndarray) -> list[Detection]:
        """RGB uint8 (H, W, 3) -> the detector's faces (in its pixels) that pass the filter."""
        return self.filter.select(self.detector.detect(image))

    def analyze(self, image, boxes: Sequence[Sequence[float]] | None = None,
                source: str | None = None) -> Result:
        """Every face in one image -> Result (faces sorted as the detector ranks them).

        boxes: optional (x1, y1, x2, y2) boxes (or Detections) in source pixels that replace
        detection; a box partly outside the image is clipped, and InvalidInputError is raised
        for one that is not 4 finite numbers, inverted or wholly outside (litefer.inputs).
        """
        return self.analyze_batch([image], None if boxes is None else [boxes],
                                  None if source is None else [source])[0]

    def analyze_batch(self, images: Sequence, boxes: Sequence | None = None,
                      sources: Sequence[str] | None = None) -> list[Result]:
        """Several images -> one Result each; all their faces are classified in one ONNX call.

        images: anything ``analyze`` takes, DecodedImages (a TimedImage from
        ``litefer.inputs.decode`` keeps its decode time) or a LiteferError handed in by a
        reader that failed. An input that cannot be decoded gives a Result with ``error`` set;
        the others go on. boxes, sources: one entry per image (InvalidInputError otherwise).
        """
        images = list(images)
        for name, values in (("boxes", boxes), ("sources", sources)):
            if values is not None and len(values) != len(images):
                raise InvalidInputError(f"{name} has {len(values)} entries for {len(images)} "
                                        "images: give one per image")
        return self._finish([
            self._prepare(item, sources[i] if sources else _name(item),
                          None if boxes is None else boxes[i], "detect")
            for i, item in enumerate(images)])

    def classify(self, image, detections: Sequence[Detection], source: str | None = None
                 ) -> Result:
        """Align and classify given faces without running the detector (e.g. a tracker's
        predicted boxes). detections: Detections in source pixels, checked and clipped as
        ``analyze``'s boxes; their score and landmarks are kept. Timings: decode, align,
        classify."""
        return self._finish([self._prepare(image, source or _name(image), detections, None)])[0]

    def _prepare(self, item, name: str, boxes, stage: str | None) -> _Prepared:
        """Decode, detect (or check ``boxes``) and align one image."""
        from .align import align_faces
        from .errors import LiteferError
        from .inputs import check_boxes, decode

        if isinstance(item, LiteferError):  # a decode failure handed in by a bulk reader
            return _Prepared(Result(name, error=str(item)))
        try:
            decoded = decode(item)
        except LiteferError as exc:
            return _Prepared(Result(name, error=str(exc)))
        t1 = time.perf_counter()
        scale = decoded.scale
        if boxes is None:
            dets = self.detect(decoded.image)
        else:
            dets = [_scaled(d, scale) for d in check_boxes(boxes, decoded.source_size)]
        t2 = time.perf_counter()
        crops = align_faces(decoded.image, dets, self.spec, fer=self.framing)
        w, h = decoded.source_size
        timings = {"decode": decoded.decode_ms, **({stage: (t2 - t1) * 1e3} if stage else {}),
                   "align": (time.perf_counter() - t2) * 1e3}
        return _Prepared(Result(name, width=w, height=h, timings_ms=timings), dets, crops, scale)

    def _finish(self, prepared: list[_Prepared]) -> list[Result]:
        """One classifier call for every crop, then the faces (in source pixels) of each."""
        crops = [c for p in prepared for c in p.crops]
        t0 = time.perf_counter()
        probs = self.classifier.predict_proba(crops, tta=self.tta)
        per_face_ms = (time.perf_counter() - t0) * 1e3 / max(1, len(crops))
        row = 0
        for p in prepared:
            inv = 1.0 / p.scale
            p.result.faces = [Face.classified(_scaled(d, inv), self.spec.labels, probs[row + j],
                                              self.min_confidence)
                              for j, d in enumerate(p.dets)]
            p.result.timings_ms["classify"] = per_face_ms * len(p.crops)
            row += len(p.crops)
        return [p.result for p in prepared]

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


def _detector(detector, detect_size: int | None):
    """A detector object from a backend name (created with detect_size) or the object given."""
    if not isinstance(detector, str):
        return detector
    from .detect import create_detector

    return create_detector(detector, **({} if detect_size is None else
                                        {"detect_size": detect_size}))


def _scaled(det: Detection, factor: float) -> Detection:
    """det with box and landmarks multiplied by factor (source <-> decoded pixels)."""
    lms = None if det.landmarks is None else np.asarray(det.landmarks, np.float32) * factor
    return Detection(tuple(float(v) * factor for v in det.box), det.score, lms)


def _name(item) -> str:
    return str(item) if isinstance(item, (str, Path)) else f"<{type(item).__name__}>"
