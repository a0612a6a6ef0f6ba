"""The long-lived actor of a bulk job: one Recognizer per worker process, one unit per call.

No Ray import here: Ray Data constructs ``Analyzer`` once per actor and calls it with batches of
units (dicts of numpy columns). Each output row is one record: ``unit``, ``pos`` (the record's
position in the unit), ``record`` (``json.dumps(Result.to_dict())``, exactly as the
single-process path writes it), ``failed`` (the record has ``error`` set). A video range
adds a last row with pos -1 and a status record ``{"read": frames read, "error": a frame that
could not be decoded, or the file could not be opened, else null, "fps": the container's frame
rate, present when the range ended early}``. Images and frames go through the public
Recognizer methods (``analyze_batch``, ``analyze``), as in one process.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from .inputs import Input, Unit

STATUS_POS = -1


@dataclass(frozen=True)
class RecognizerOptions:
    """The Recognizer arguments of `litefer analyze` (plain values: they travel to the actors).
    model: a shipped name or an absolute .onnx path."""

    model: str | None = None
    detector: str = "default"
    align: bool = True
    min_face: float = 0.0
    max_faces: int = 0
    min_confidence: float = 0.0
    detect_size: int | None = None
    tta: str | None = None

    def create(self, threads: int | None = None):
        """The Recognizer; threads: detector threads where the backend takes them (an actor
        uses as many as it holds CPUs, so actors sharing a machine do not oversubscribe it)."""
        from ..detect import create_detector
        from ..pipeline import Recognizer

        kwargs = asdict(self)
        if threads is not None:
            options = {} if self.detect_size is None else {"detect_size": self.detect_size}
            try:
                kwargs["detector"] = create_detector(self.detector, threads=threads, **options)
            except TypeError:  # a backend without a threads option
                pass
        return Recognizer(**kwargs)


class Analyzer:
    """Ray Data callable class: ``Analyzer(options, decode_threads, cpus)(batch) -> batch``;
    cpus: the CPUs the actor holds. It never runs more busy threads than that (OpenCV, detector
    and decode threads are each capped at ``cpus``; the classifier uses 1), so actors packed on
    a node by their CPU count do not oversubscribe it."""

    def __init__(self, options: RecognizerOptions, decode_threads: int = 2, cpus: int = 1):
        import cv2

        cv2.setNumThreads(cpus)  # OpenCV's own pool would otherwise fight the other actors
        self.rec = options.create(threads=cpus)
        self.pool = ThreadPoolExecutor(max(1, min(decode_threads, cpus)))

    def __call__(self, batch: dict) -> dict:
        units, positions, records, failed = [], [], [], []
        for text in batch["unit"]:
            unit = Unit.from_json(str(text))
            rows = self.video(unit) if unit.video else self.images(unit.images)
            for pos, record, error in rows:
                units.append(unit.index)
                positions.append(pos)
                records.append(record)
                failed.append(error)
        return {"unit": np.asarray(units, np.int64), "pos": np.asarray(positions, np.int64),
                "record": np.asarray(records, dtype=object), "failed": np.asarray(failed, bool)}

    def images(self, items: tuple[Input, ...]) -> list[tuple[int, str, bool]]:
        """One chunk: threads decode, then one analyze_batch (one classifier call), as
        `litefer analyze` does; an undecodable file becomes a record with ``error`` set."""
        decoded = list(self.pool.map(_decode, items))
        results = self.rec.analyze_batch(decoded, sources=[i.source for i in items])
        return [(pos, json.dumps(res.to_dict()), res.error is not None)
                for pos, res in enumerate(results)]

    def video(self, unit: Unit) -> list[tuple[int, str, bool]]:
        """Per-frame records of one range, without track ids (the driver stitches them)."""
        from ..errors import LiteferError
        from .video import read_range

        rows, status, name = [], {"read": 0, "error": None}, unit.video.source
        frames = read_range(unit.video.path, name, unit.start, unit.stop, status)
        try:
            for pos, (index, t, frame) in enumerate(frames):
                res = self.rec.analyze(frame, source=name)
                res.frame, res.time_s = index, t
                rows.append((pos, json.dumps(res.to_dict()), False))
        except LiteferError as exc:  # an unreadable video is an error record, not a failed job
            status["error"] = str(exc)
        if status["error"] or unit.stop is None or status["read"] < unit.stop - unit.start:
            status["fps"] = _fps(unit.video.path, name)  # for the time of an end-of-video record
        rows.append((STATUS_POS, json.dumps(status), status["error"] is not None))
        return rows


def _decode(item: Input):
    """TimedImage (it keeps its decode time for the record), or the error naming the source as
    listed (not the absolute path read)."""
    from ..errors import InvalidImageError, LiteferError
    from ..inputs import decode_file

    try:
        return decode_file(item.path, item.page)
    except LiteferError as exc:
        shown = item.path if item.page is None else f"{item.path}#page={item.page + 1}"
        return InvalidImageError(str(exc).replace(shown, item.source, 1))


def _fps(path: str, name: str) -> float:
    """The video's declared frame rate (0.0 when unknown or the file cannot be opened)."""
    from ..errors import InvalidImageError
    from .video import probe

    try:
        return probe(path, name)[1]
    except InvalidImageError:
        return 0.0
