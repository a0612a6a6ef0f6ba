"""Stitching a video's frame ranges into one track-consistent record stream (on the driver).

Why this is exact: with detection on every frame, what a worker computes for a frame (decode,
detect, align, classify) does not depend on any earlier frame; only the tracker (ids, motion)
and the temporal model (per-track state) carry history, and both are cheap (well under a
millisecond per frame against tens of milliseconds for detection). So the workers analyse
their ranges independently, without tracking, and the driver replays the same
``litefer.video.Tracker`` and temporal model over the per-frame faces in frame order, range
after range, exactly as ``Recognizer.stream`` does in one process. The track ids, smoothed
probabilities and labels are therefore the ones the single-process path gives (the tests check
it); only the timings differ. Reconstructing faces from JSON is lossless: every value was a
float32 or a Python float, and JSON keeps Python floats exactly.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np

from ..pipeline import UNCERTAIN
from ..types import Face, Result
from ..video.stream import SCORE_KEY


class VideoStitcher:
    """One video: tracker and temporal model state across its ranges (given in order).

    frame_count: frames the container declares (None: unknown); temporal: a model from
    ``litefer.video.create_temporal``; min_confidence: the Recognizer's threshold for labels.
    """

    def __init__(self, source: str, frame_count: int | None, temporal, min_confidence: float):
        from ..video import Tracker

        self.source, self.frame_count = source, frame_count
        self.tracker, self.temporal, self.min_confidence = Tracker(), temporal, min_confidence
        self.last_frame: int | None = None
        self.ended = False
        self.failed = False

    def add_range(self, start: int, stop: int | None, last: bool, records: list[str],
                  status: dict) -> list[str]:
        """Per-frame records of the range [start, stop) in frame order -> JSON lines with track
        ids. After a range that ended early the video is over: later ranges give nothing, and
        the video ends with FrameStream's error record when the file was cut short."""
        if self.ended:
            return []
        out = [json.dumps(self._stitch(_result(json.loads(r))).to_dict()) for r in records]
        error = status.get("error")
        short = stop is None or status["read"] < stop - start
        if not error and short and self.frame_count is not None:
            seen = start + status["read"]
            if seen < self.frame_count - 1:
                error = (f"{self.source}: video ended after {seen} of the {self.frame_count} "
                         "frames its container declares (truncated or corrupt file)")
        self.ended = bool(error) or short or last
        if error:
            self.failed = True
            out.append(json.dumps({"source": self.source, "frame": self.last_frame,
                                   "faces": [], "error": error}))
        return out

    def _stitch(self, res: Result) -> Result:
        """What litefer.video.stream does to a detected frame after Recognizer.analyze."""
        t0 = time.perf_counter()
        tracks = self.tracker.update(np.array([f.box for f in res.faces]).reshape(-1, 4),
                                     [f.landmarks for f in res.faces])
        for tr, f in zip(tracks, res.faces):
            tr.state[SCORE_KEY] = f.score
        res.timings_ms["track"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        if res.faces:
            probs = self.temporal.update(tracks, np.stack([f.probs for f in res.faces]))
            res.faces = [self._relabel(f, p, tr.id) for f, p, tr in zip(res.faces, probs, tracks)]
        res.timings_ms["temporal"] = (time.perf_counter() - t0) * 1e3
        self.last_frame = res.frame
        return res

    def _relabel(self, face: Face, probs: np.ndarray, track_id: int) -> Face:
        k = int(np.argmax(probs))
        conf = float(probs[k])
        label = face.labels[k] if conf >= self.min_confidence else UNCERTAIN
        return replace(face, probs=np.asarray(probs, np.float32), label=label, confidence=conf,
                       track_id=track_id)


def _result(d: dict) -> Result:
    """Result.to_dict() -> Result (faces with float32 probabilities and landmarks)."""
    faces = []
    for f in d["faces"]:
        b, probs = f["box"], f["probs"]
        lms = None if f["landmarks"] is None else np.asarray(f["landmarks"], np.float32)
        faces.append(Face((b["x1"], b["y1"], b["x2"], b["y2"]), f["score"], lms, tuple(probs),
                          np.asarray(list(probs.values()), np.float32), f["label"],
                          f["confidence"], f["track_id"]))
    return Result(d["source"], faces, d["frame"], d["time"], d["width"], d["height"], d["error"],
                  dict(d["timings_ms"]))
