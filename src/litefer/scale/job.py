"""A bulk job on Ray Data: units -> long-lived actors (one Recognizer each) -> driver -> writer.

Pipeline: ``ray.data.from_items`` (one block per unit) -> ``map_batches(Analyzer)`` on an actor
pool of ``num_workers`` actors (1 CPU each; one model load per actor; one unit, i.e. one batched
classifier call, per call) -> ``iter_batches`` on the driver, which puts units back in job order,
stitches video ranges, and writes.

Exactly once: Ray restarts a killed actor and re-runs its unfinished units (a unit's rows are
only delivered by a finished task); the driver keys every row by (unit, position), ignores a
unit it has already written, and commits only whole sources (see ``writer``). A unit that keeps
failing (``max_task_retries`` re-runs: a crashing decoder, out of memory) is skipped by Ray Data
and written as error records for its inputs, so the job ends either way.
"""
from __future__ import annotations

import logging
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

from .inputs import Unit, error_records, list_inputs, plan_units
from .worker import STATUS_POS, Analyzer, RecognizerOptions

COMMIT_EVERY_S = 1.0


@dataclass(frozen=True)
class ScaleOptions:
    """address: None (start a private local Ray instance), "auto" (the cluster `ray start`
    runs here) or "ray://host:10001"; num_workers: actors (None: every CPU of the cluster);
    cpus_per_worker: CPUs each actor holds and uses for detector/OpenCV threads (None: the
    cluster's CPUs shared out, at most one node's); batch_size: images per unit (= per
    classifier call); range_frames: frames per video range; decode_threads: reader threads per
    actor (at most its CPUs); max_task_retries: re-runs of a unit whose actor died; fmt: "jsonl" or "parquet";
    temporal / temporal_model / ema_alpha: as `analyze`."""

    address: str | None = None
    num_workers: int | None = None
    cpus_per_worker: int | None = None
    batch_size: int = 16
    range_frames: int = 300
    decode_threads: int = 2
    max_task_retries: int = 3
    fmt: str = "jsonl"
    resume: bool = False
    max_frames: int | None = None
    temporal: str = "none"
    temporal_model: str | None = None
    ema_alpha: float = 0.2
    progress: bool | None = None


@dataclass
class JobReport:
    """inputs listed, skipped (already written: --resume), units run, records written, failed
    inputs (error records), workers, seconds (wall), first_s (seconds to the first unit)."""

    inputs: int = 0
    skipped: int = 0
    units: int = 0
    records: int = 0
    failed: int = 0
    workers: int = 0
    seconds: float = 0.0
    first_s: float | None = None
    lost_units: list[int] = field(default_factory=list)


def analyze_bulk(source: str, output: str | None, recognizer: RecognizerOptions,
                 options: ScaleOptions, on_unit=None) -> JobReport:
    """Analyse every image and video of ``source`` on Ray; records go to ``output`` (JSON Lines
    file, Parquet folder, or stdout for JSON Lines when None). on_unit(written, total) is called
    on the driver after each unit is written. Raises MissingDependencyError without ray,
    InvalidImageError when source holds nothing usable."""
    from ..errors import require
    from ..progress import Progress
    from .writer import create_writer

    t0 = time.perf_counter()
    ray = require("ray", "scale")
    require("ray.data", "scale")
    unreadable: list[tuple[str, str]] = []
    inputs = list_inputs(source, unreadable)
    report = JobReport(inputs=len(inputs))
    driver = _Driver(recognizer, options, report, on_unit)  # checks the options first
    writer = driver.writer = create_writer(options.fmt, output, options.resume)
    folder_lines = error_records(unreadable, writer.done)  # a folder that cannot be listed
    writer.write(folder_lines)
    report.records += len(folder_lines)
    report.failed += len(folder_lines)
    todo = [i for i in inputs if i.source not in writer.done]
    report.skipped = len(inputs) - len(todo)
    counts = driver.frame_counts(todo)
    units = plan_units(todo, options.batch_size, options.range_frames, counts, driver.to_end)
    report.units = len(units)
    try:
        if units:
            with _connected(ray, options.address), \
                    Progress(len(units), "units", options.progress) as bar:
                report.workers = _workers(ray, options)
                driver.run(ray, units, bar, t0, report.workers)
    finally:  # interrupted: commit only if what was written ends with a whole input
        writer.close(commit=driver.at_boundary)
    report.seconds = time.perf_counter() - t0
    return report


class _Driver:
    """Puts units back in order, stitches videos, writes and commits."""

    def __init__(self, recognizer: RecognizerOptions, options: ScaleOptions, report,
                 on_unit=None):
        from ..video import create_temporal

        rec = recognizer.create()  # fail fast on a bad model or detector, before any worker
        self.temporal = lambda: create_temporal(options.temporal, options.temporal_model,
                                                options.ema_alpha)
        probe_temporal = self.temporal()
        if hasattr(probe_temporal, "check_labels"):
            probe_temporal.check_labels(rec.spec.labels, rec.spec.name)
        self.recognizer, self.options, self.report, self.writer = recognizer, options, report, None
        self.on_unit, self.written, self.at_boundary = on_unit, 0, True
        self.min_confidence = rec.filter.min_confidence
        self.declared: dict[str, int | None] = {}
        self.to_end: set[str] = set()
        self.stitchers: dict[str, object] = {}
        self.last_commit = time.monotonic()

    def frame_counts(self, inputs) -> dict[str, int | None]:
        """Frames to cut into ranges per video: the declared count, capped by max_frames (None:
        unknown or not openable here: one range, read to the end by a worker)."""
        from ..errors import InvalidImageError
        from .video import probe

        counts, limit = {}, self.options.max_frames
        for item in (i for i in inputs if i.kind == "video"):
            try:
                declared, _ = probe(item.path, item.source)
            except InvalidImageError:
                declared = None
            self.declared[item.source] = declared
            known = [n for n in (declared, limit) if n is not None]
            counts[item.source] = min(known) if known else None
            if declared is not None and (limit is None or limit > declared):
                self.to_end.add(item.source)  # as FrameStream: on to the end of the file
        return counts

    def run(self, ray, units: list[Unit], bar, t0: float, workers: int) -> None:
        pending: dict[int, dict[int, tuple[str, bool]]] = {}
        next_unit = 0
        for batch in _dataset(ray, units, self.recognizer, self.options, workers).iter_batches(
                batch_size=None, batch_format="numpy"):
            for u, pos, record, failed in zip(batch["unit"], batch["pos"], batch["record"],
                                              batch["failed"]):
                if int(u) >= next_unit:  # a unit already written may not come back twice
                    pending.setdefault(int(u), {})[int(pos)] = (str(record), bool(failed))
            while next_unit < len(units) and _complete(units[next_unit], pending.get(next_unit)):
                if self.report.first_s is None:
                    self.report.first_s = time.perf_counter() - t0
                self.emit(units[next_unit], pending.pop(next_unit))
                next_unit += 1
                bar.update(1)
        for unit in units[next_unit:]:  # only units Ray gave up on are left
            rows = pending.pop(unit.index, {})
            if not _complete(unit, rows):
                self.report.lost_units.append(unit.index)
                rows = _lost(unit, self.options.max_task_retries)
            self.emit(unit, rows)
            bar.update(1)

    def emit(self, unit: Unit, rows: dict[int, tuple[str, bool]]) -> None:
        if unit.video is None:
            lines = [rows[pos][0] for pos in range(len(unit.images))]
            self.report.failed += sum(rows[pos][1] for pos in range(len(unit.images)))
            ends_source = True
        else:
            lines, ends_source = self._video(unit, rows)
        self.writer.write(lines)
        self.report.records += len(lines)
        self.at_boundary = ends_source
        now = time.monotonic()
        if ends_source and now - self.last_commit >= COMMIT_EVERY_S:
            self.writer.commit()
            self.last_commit = now
        self.written += 1
        if self.on_unit is not None:
            self.on_unit(self.written, self.report.units)

    def _video(self, unit: Unit, rows) -> tuple[list[str], bool]:
        import json

        from .stitch import VideoStitcher

        name = unit.video.source
        if name not in self.stitchers:
            self.stitchers[name] = VideoStitcher(name, self.declared.get(name), self.temporal(),
                                                 self.min_confidence)
        stitcher = self.stitchers[name]
        if unit.last:  # its ranges are consecutive units: this one ends the video's units
            del self.stitchers[name]
        if stitcher.ended:  # a range after the one where the file ended: nothing to add
            return [], unit.last
        status = json.loads(rows[STATUS_POS][0])
        frames = [rows[pos][0] for pos in sorted(p for p in rows if p != STATUS_POS)]
        lines = stitcher.add_range(unit.start, unit.stop, unit.last, frames, status)
        self.report.failed += stitcher.failed
        return lines, unit.last


def _complete(unit: Unit, rows: dict | None) -> bool:
    if rows is None:
        return False
    if unit.video is not None:
        return STATUS_POS in rows
    return all(pos in rows for pos in range(len(unit.images)))


def _lost(unit: Unit, retries: int) -> dict[int, tuple[str, bool]]:
    """Error rows for a unit whose worker failed on every try."""
    import json

    from ..types import Result

    why = (f"no worker could analyse this input's batch (a worker process died on it "
           f"{retries + 1} times: crash or out of memory; or litefer raised an unexpected "
           "error); analyse it alone to see why")
    if unit.video is not None:
        return {STATUS_POS: (json.dumps({"read": 0, "error": f"{unit.video.source}: {why}"}),
                             True)}
    return {pos: (json.dumps(Result(i.source, error=f"{i.source}: {why}").to_dict()), True)
            for pos, i in enumerate(unit.images)}


def _dataset(ray, units: list[Unit], recognizer: RecognizerOptions, options: ScaleOptions,
             workers: int):
    import ray.data

    with warnings.catch_warnings():  # its own deprecated settings, read when first created
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.max_errored_blocks = -1  # a unit Ray gives up on becomes error records, not a failure
    ds = ray.data.from_items([{"unit": u.to_json()} for u in units],
                             override_num_blocks=len(units))
    cpus = options.cpus_per_worker or _cpus_per_worker(ray, workers)
    with warnings.catch_warnings():  # ray 2.60 warns that ray_remote_args go in 2.64
        warnings.simplefilter("ignore")
        return ds.map_batches(
            Analyzer, fn_constructor_args=(recognizer, options.decode_threads, cpus),
            batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=cpus,
            max_restarts=-1, max_task_retries=options.max_task_retries)


def _workers(ray, options: ScaleOptions) -> int:
    return options.num_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))


def _cpus_per_worker(ray, workers: int) -> int:
    """CPUs each actor holds: the cluster's CPUs shared out (1 worker on a 2-CPU machine uses
    both, like the single-process path), capped by the largest node."""
    nodes = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    total = sum(nodes) or 1
    return int(max(1, min(total // workers, max(nodes, default=1))))


@contextmanager
def _connected(ray, address: str | None):
    """Connect (or start a private local instance); leave a connection made by the caller."""
    if ray.is_initialized():
        yield
        return
    kwargs = {"include_dashboard": False} if address is None else {}
    ray.init(address=address, logging_level=logging.WARNING, **kwargs)
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    try:
        yield
    finally:
        ray.shutdown()
