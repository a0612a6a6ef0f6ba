"""The video loop behind Recognizer.stream: detect (every K-th frame) -> track -> classify ->
temporal model per track -> Result, one frame at a time (constant memory).

Detection every K frames (``detect_every``): on the frames in between, each face that was
matched on the last detection frame is placed at its track's motion-predicted box (constant
velocity), its last eye landmarks moved with the box so the crop stays aligned the same way,
and the classifier still runs on it. Fresh probabilities keep the temporal model fed at the
full frame rate; classifying a face costs far less than detecting (about 0.3 ms against 5-10
ms at 640x480 on one core), so this keeps most of the speed-up. A frame whose tracker holds no
face always runs detection, so new faces are picked up at once on an empty scene; a face that
enters while others are tracked is found at the next detection frame (at most K - 1 frames
late). Results of skipped-detection frames have no "detect" timing but a "predict" one.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Iterable, Iterator

import numpy as np

from ..types import Detection, Face, Result

SCORE_KEY = "det_score"


def run_stream(rec, frames: Iterable[tuple[int, float, np.ndarray]], source: str, tracker,
               temporal, detect_every: int = 1) -> Iterator[Result]:
    """(frame_index, time_s, RGB frame) -> one Result per frame, lazily.

    rec: a litefer.pipeline.Recognizer; tracker: a litefer.video.Tracker; temporal: a model of
    litefer.video.smoothing (``update(tracks, probs) -> probs``); detect_every >= 1.
    Raises ValueError for detect_every < 1.
    """
    if detect_every < 1:
        raise ValueError(f"detect_every must be >= 1, got {detect_every}")
    for n, (index, t, frame) in enumerate(frames):
        active = any(tr.misses == 0 for tr in tracker.tracks)
        if n % detect_every == 0 or not active:
            res, tracks = _detected(rec, frame, source, tracker)
        else:
            res, tracks = _predicted(rec, frame, source, tracker)
        res.frame, res.time_s = index, t
        t0 = time.perf_counter()
        if res.faces:
            probs = temporal.update(tracks, np.stack([f.probs for f in res.faces]))
            res.faces = [_relabel(rec, f, p, tr.id) for f, p, tr in zip(res.faces, probs, tracks)]
        res.timings_ms["temporal"] = (time.perf_counter() - t0) * 1e3
        yield res


def _detected(rec, frame, source: str, tracker):
    res = rec.analyze(frame, source=source)
    t0 = time.perf_counter()
    tracks = tracker.update(np.array([f.box for f in res.faces]).reshape(-1, 4),
                            [f.landmarks for f in res.faces])
    for tr, f in zip(tracks, res.faces):
        tr.state[SCORE_KEY] = f.score
    res.timings_ms["track"] = (time.perf_counter() - t0) * 1e3
    return res, tracks


def _predicted(rec, frame, source: str, tracker):
    """A frame without detection: faces at the tracks' predicted boxes, classified in one call."""
    from ..align import align_faces
    from ..io import DecodedImage, read_image

    t0 = time.perf_counter()
    decoded = frame if isinstance(frame, DecodedImage) else read_image(frame)
    t1 = time.perf_counter()
    w, h = decoded.source_size
    tracks, dets = [], []
    for tr in tracker.coast():
        box = np.clip(tr.current(), [0, 0, 0, 0], [w, h, w, h])
        if min(box[2] - box[0], box[3] - box[1]) < 1.0:
            continue  # predicted out of the frame: wait for the next detection
        lms = tr.current_landmarks()
        scale = decoded.scale
        dets.append(Detection(tuple(float(v) * scale for v in box), tr.state.get(SCORE_KEY, 1.0),
                              None if lms is None else lms * scale))
        tracks.append(tr)
    t2 = time.perf_counter()
    crops = align_faces(decoded.image, dets, rec.spec, fer=rec.framing)
    t3 = time.perf_counter()
    probs = rec.classifier.predict_proba(crops)
    t4 = time.perf_counter()
    res = Result(source, width=w, height=h, timings_ms={
        "decode": (t1 - t0) * 1e3, "predict": (t2 - t1) * 1e3, "align": (t3 - t2) * 1e3,
        "classify": (t4 - t3) * 1e3})
    res.faces = [rec._face(d, p, decoded.scale) for d, p in zip(dets, probs)]
    return res, tracks


def _relabel(rec, face: Face, probs: np.ndarray, track_id: int) -> Face:
    """The face with the temporal model's probabilities, arg-max label and confidence."""
    from ..pipeline import UNCERTAIN

    k = int(np.argmax(probs))
    conf = float(probs[k])
    label = face.labels[k] if conf >= rec.filter.min_confidence else UNCERTAIN
    return replace(face, probs=np.asarray(probs, np.float32), label=label, confidence=conf,
                   track_id=track_id)
