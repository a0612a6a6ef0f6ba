"""Stitching a video's frame ranges into one track-consistent record stream (on the driver).

Why this is exact: with detection on every frame, what a worker computes for a frame (decode,
detect, align, classify) does not depend on any earlier frame; only the tracker (ids, motion)
and the temporal model (per-track state) carry history, and both are cheap (well under a
millisecond per frame against tens of milliseconds for detection). So the workers analyse
their ranges independently, without tracking, and the driver replays the same
``litefer.video.Tracker`` and temporal model over the per-frame faces in frame order, range
after range, exactly as ``Recognizer.stream`` does in one process. The track ids, smoothed
probabilities and labels are therefore the ones the single-process path gives (the tests check
it); only the timings differ. Reconstructing faces from JSON (``Result.from_dict``) is lossless:
every value was a float32 or a Python float, and JSON keeps Python floats exactly. The tracking
and smoothing step is ``litefer.video.stream.VideoState.follow``, the same object the
single-process stream uses, and a broken video ends with the same record
(``litefer.video.stream.stream_error``).
"""
from __future__ import annotations

import json

from ..types import Result
from ..video.stream import VideoState, stream_error


class VideoStitcher:
    """One video: tracker and temporal model state across its ranges (given in order).

    frame_count: frames the container declares (None: unknown); temporal: a model from
    ``litefer.video.create_temporal``; min_confidence: the Recognizer's threshold for labels.
    """

    def __init__(self, source: str, frame_count: int | None, temporal, min_confidence: float):
        from ..video import Tracker

        self.source, self.frame_count = source, frame_count
        self.state = VideoState(Tracker(), temporal, min_confidence)
        self.last: Result | None = None
        self.ended = False
        self.failed = False

    def add_range(self, start: int, stop: int | None, last: bool, records: list[str],
                  status: dict) -> list[str]:
        """Per-frame records of the range [start, stop) in frame order -> JSON lines with track
        ids. After a range that ended early the video is over: later ranges give nothing, and
        the video ends with an error record (as FrameStream's) when the file was cut short.
        status: the worker's {"read": frames read, "error": str or None, "fps": float}."""
        if self.ended:
            return []
        out = []
        for record in records:
            self.last = self.state.follow(Result.from_dict(json.loads(record)))
            out.append(json.dumps(self.last.to_dict()))
        error = status.get("error")
        short = stop is None or status["read"] < stop - start
        seen = start + status["read"]  # the first frame of the range not read
        if not error and short and self.frame_count is not None and seen < self.frame_count - 1:
            error = (f"{self.source}: video ended after {seen} of the {self.frame_count} "
                     "frames its container declares (truncated or corrupt file)")
        self.ended = bool(error) or short or last
        if error:
            self.failed = True
            record = stream_error(self.source, error, seen, status.get("fps") or 0.0, self.last)
            out.append(json.dumps(record.to_dict()))
        return out
