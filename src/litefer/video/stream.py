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

Every frame goes through public Recognizer methods (``analyze`` on detection frames,
``classify`` on the others); :class:`VideoState` is the one place that tracks and smooths a
frame's faces, used here and by the bulk engine's stitcher (litefer.scale.stitch).
"""
from __future__ import annotations

import time
from typing import Iterable, Iterator

import numpy as np

from ..types import Detection, Result

SCORE_KEY = "det_score"


class VideoState:
    """Tracker and temporal model of one video, fed one frame's Result at a time.

    tracker: a litefer.video.Tracker; temporal: a model of litefer.video.smoothing
    (``update(tracks, probs) -> probs``); min_confidence: the Recognizer's label threshold.
    """

    def __init__(self, tracker, temporal, min_confidence: float):
        self.tracker, self.temporal, self.min_confidence = tracker, temporal, min_confidence

    def follow(self, res: Result) -> Result:
        """A frame where detection ran: match its faces to tracks, then :meth:`smooth`."""
        t0 = time.perf_counter()
        tracks = self.tracker.update(np.array([f.box for f in res.faces]).reshape(-1, 4),
                                     [f.landmarks for f in res.faces])
        for tr, f in zip(tracks, res.faces):
            tr.state[SCORE_KEY] = f.score
        res.timings_ms["track"] = (time.perf_counter() - t0) * 1e3
        return self.smooth(res, tracks)

    def predicted(self, size: tuple[int, int]) -> tuple[list, list[Detection]]:
        """A frame without detection: (tracks, their Detections at the predicted boxes, in
        source pixels, clipped to ``size`` = (width, height)); tracks predicted out of the
        frame are left out until the next detection."""
        w, h = size
        tracks, dets = [], []
        for tr in self.tracker.coast():
            box = np.clip(tr.current(), [0, 0, 0, 0], [w, h, w, h])
            if min(box[2] - box[0], box[3] - box[1]) < 1.0:
                continue
            dets.append(Detection(tuple(float(v) for v in box), tr.state.get(SCORE_KEY, 1.0),
                                  tr.current_landmarks()))
            tracks.append(tr)
        return tracks, dets

    def smooth(self, res: Result, tracks: list) -> Result:
        """The temporal model over the faces of ``res`` (one track each, in order): their
        probabilities, labels (litefer.types.decide) and track ids are replaced."""
        t0 = time.perf_counter()
        if res.faces:
            probs = self.temporal.update(tracks, np.stack([f.probs for f in res.faces]))
            res.faces = [f.relabelled(p, self.min_confidence, tr.id)
                         for f, p, tr in zip(res.faces, probs, tracks)]
        res.timings_ms["temporal"] = (time.perf_counter() - t0) * 1e3
        return res


def run_stream(rec, frames: Iterable[tuple[int, float, np.ndarray]], source: str, tracker,
               temporal, detect_every: int = 1) -> Iterator[Result]:
    """(frame_index, time_s, RGB frame) -> one Result per frame, lazily.

    rec: a litefer.pipeline.Recognizer; tracker, temporal: as :class:`VideoState` takes them;
    detect_every >= 1. Raises ValueError for detect_every < 1.
    """
    from ..inputs import decode

    if detect_every < 1:
        raise ValueError(f"detect_every must be >= 1, got {detect_every}")
    state = VideoState(tracker, temporal, rec.min_confidence)
    for n, (index, t, frame) in enumerate(frames):
        active = any(tr.misses == 0 for tr in tracker.tracks)
        if n % detect_every == 0 or not active:
            res = rec.analyze(frame, source=source)
            res.frame, res.time_s = index, t
            yield state.follow(res)
            continue
        decoded = decode(frame)
        t0 = time.perf_counter()
        tracks, dets = state.predicted(decoded.source_size)
        predict_ms = (time.perf_counter() - t0) * 1e3
        res = rec.classify(decoded, dets, source=source)
        res.frame, res.time_s = index, t
        res.timings_ms["predict"] = predict_ms
        yield state.smooth(res, tracks)


def stream_error(source: str, error: str, frame: int, fps: float, last: Result | None
                 ) -> Result:
    """The record that ends a video whose frames stopped early (truncated, undecodable, a live
    source gone silent): no faces, ``error`` set, ``frame`` the first frame that could not be
    read, ``time`` its expected time (the last frame's time plus the frames between at
    ``fps``; frame / fps without a last frame; None when fps is unknown), width and height
    those of the last frame read (None if none was), timings empty."""
    if fps > 0 and last is not None and last.time_s is not None and last.frame is not None:
        t = last.time_s + (frame - last.frame) / fps
    else:
        t = frame / fps if fps > 0 else None
    w, h = (None, None) if last is None else (last.width, last.height)
    return Result(source, frame=frame, time_s=t, width=w, height=h, error=error)
