"""Video files, cameras and stream URLs for `litefer analyze`: JSON per frame, CSV timeline,
annotated MP4, per-track summary and emotion-timeline PNGs, optional live window.

Live sources (cameras, rtsp/http URLs) are read on a grabber thread that keeps only the newest
frame, so the output follows the camera's time and drops frames rather than lagging; files are
never dropped. Memory stays constant: one frame in flight, bounded per-track timelines written
(and freed) when their track ends.
"""
from __future__ import annotations

import csv
import json
import sys
from collections import Counter, defaultdict
from itertools import islice
from pathlib import Path

import cv2


def add_video_arguments(p) -> None:
    """The video-only options of `litefer analyze`."""
    from .analyze import at_least

    p.add_argument("--detect-every", type=at_least(1), default=1, metavar="K",
                   help="videos: detect faces on every K-th frame only; in between, faces are "
                        "placed at their tracks' predicted boxes and still classified (speed)")
    p.add_argument("--temporal", default="none", choices=["none", "ema", "gru"],
                   help="videos: per-track temporal model over the per-frame probabilities")
    p.add_argument("--temporal-model", default=None, metavar="NAME|FILE.onnx",
                   help="GRU one-step model for --temporal gru (default: the shipped "
                        "temporal_gru.fer2013)")
    p.add_argument("--ema-alpha", type=float, default=0.2,
                   help="weight of the newest frame for --temporal ema (0 < alpha <= 1)")
    p.add_argument("--no-timeline", action="store_true",
                   help="videos: do not draw per-track timeline PNGs into --out")


class _Outputs:
    """Everything written besides JSON: CSV rows, annotated MP4, track summary, timelines."""

    def __init__(self, args, name: str, labels: tuple[str, ...], fps: float):
        self.args, self.fps, self.stem = args, fps, Path(name).stem or "camera"
        self.frames = 0
        self.out = Path(args.out) if args.out else None
        if self.out:
            self.out.mkdir(parents=True, exist_ok=True)
        self.table = self._table(labels) if args.csv else None
        self.writer, self.tracks, self.timelines = None, defaultdict(Counter), None
        if self.out and not args.no_timeline:
            from ..video.timeline import TimelineWriter, matplotlib_available

            if matplotlib_available():
                self.timelines = TimelineWriter(self.out, self.stem, labels)
            else:
                print("litefer analyze: matplotlib is not installed; per-track timeline PNGs "
                      "skipped (pip install 'litefer[plot]')", file=sys.stderr)

    def _table(self, labels):
        path = Path(f"{self.stem}.timeline.csv" if self.args.csv is True else self.args.csv)
        if self.out and not path.is_absolute():
            path = self.out / path
        fh = open(path, "w", newline="")
        writer = csv.writer(fh)
        writer.writerow(["time", "frame", "track", "x1", "y1", "x2", "y2", "label", "confidence",
                         *labels])
        return fh, writer

    def add(self, res, frame, alive_ids) -> None:
        for f in res.faces:
            self.tracks[f.track_id][f.label] += 1
            if self.table:
                self.table[1].writerow([f"{res.time_s:.3f}", res.frame, f.track_id,
                                        *(f"{v:.1f}" for v in f.box), f.label,
                                        f"{f.confidence:.4f}", *(f"{p:.4f}" for p in f.probs)])
        if self.timelines is not None:
            self.timelines.add(res, alive_ids)
        if self.out:
            if self.writer is None:
                from ..video.writer import open_video_writer

                self.writer = open_video_writer(self.out / f"{self.stem}.annotated.mp4",
                                                self.fps or 25.0, frame.shape[1], frame.shape[0])
                print(f"litefer analyze: {self.writer.path}: {self.writer.codec} "
                      f"({self.writer.encoder})", file=sys.stderr)
            self.writer.write(frame)
            self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.table:
            self.table[0].close()
        if self.timelines is not None:
            self.timelines.close()
        if self.out:
            _write_summary(self.out / f"{self.stem}.tracks.json", self.tracks, self.fps)
        if self.writer is not None:  # which codec the annotated MP4 has (browsers need h264)
            info = {"file": self.writer.path.name, "codec": self.writer.codec,
                    "encoder": self.writer.encoder, "fps": self.fps or 25.0,
                    "frames": self.frames}
            (self.out / f"{self.stem}.annotated.json").write_text(json.dumps(info, indent=2))


def analyze_video(rec, args, sink, kind: str, source: str | None = None) -> int:
    """Analyse ``source`` (default: args.source). Returns the number of failures (0 or 1: a
    stream that ended with an error). Raises MissingDependencyError for --show without a GUI."""
    from ..io import FrameStream
    from ..progress import Progress
    from ..video import Tracker, create_temporal
    from ..video.live import LatestFrames

    name = str(args.source if source is None else source)
    if args.show:
        require_gui()
    source = int(name) if name.isdigit() else name
    probe = FrameStream(source, max_frames=args.max_frames)
    live = LatestFrames(probe)
    if live.live:  # count delivered frames, not grabbed ones
        probe.max_frames = None
    tracker = Tracker()
    temporal = create_temporal(args.temporal, args.temporal_model, args.ema_alpha)
    outputs = _Outputs(args, name, rec.spec.labels, probe.fps)
    grabbed = iter(live)
    frames = _LastFrame(islice(grabbed, args.max_frames) if live.live else grabbed)
    results = rec.stream(frames, source=name, tracker=tracker, temporal=temporal,
                         detect_every=args.detect_every)
    last, faces = None, 0
    try:
        with Progress(probe.frame_count, "frames", args.progress) as bar:
            for last in results:
                sink.write(json.dumps(last.to_dict()) + "\n")
                drawn = _draw(frames.frame, last) if args.out or args.show else None
                outputs.add(last, drawn, [t.id for t in tracker.tracks])
                if args.show and _show(drawn):
                    break
                faces += len(last.faces)
                bar.update(1, faces=faces)
    finally:
        results.close()
        grabbed.close()  # stops a live source's grabber thread now, not at garbage collection
        outputs.close()
    return _finish(sink, name, probe, live, last)


def _draw(frame, res):
    from ..draw import draw_result

    return draw_result(frame, res)


def require_gui() -> None:
    """Raise MissingDependencyError unless this OpenCV can open a window (the headless build
    that litefer installs cannot)."""
    import re

    from ..errors import MissingDependencyError

    gui = re.search(r"GUI:\s*(\S+)", cv2.getBuildInformation())
    if gui is None or gui.group(1).upper() == "NONE":
        raise MissingDependencyError(
            "--show needs a GUI build of OpenCV, and the installed one (opencv-python-headless, "
            "litefer's default) has none: pip uninstall opencv-python-headless && pip install "
            "opencv-python; or drop --show and write an annotated video with --out")


def _show(frame) -> bool:
    """Show a frame; True when the user pressed q or Esc."""
    from ..errors import MissingDependencyError

    try:
        cv2.imshow("litefer", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    except cv2.error as exc:
        raise MissingDependencyError("--show needs an OpenCV build with a GUI "
                                     "(pip install opencv-python) and a display") from exc
    return (cv2.waitKey(1) & 0xFF) in (27, ord("q"))


def _finish(sink, name: str, stream, live, last) -> int:
    """Error record for a broken stream; a note on frames dropped from a live source."""
    if live.live and live.dropped:
        print(f"litefer analyze: {name}: {live.dropped} of {live.dropped + live.delivered} "
              "frames dropped to keep up with the live source", file=sys.stderr)
    if stream.error:  # the first frame not read: every frame is read when step is 1
        from ..video.stream import stream_error

        end = stream_error(name, stream.error, stream.frames_read * stream.step, stream.fps, last)
        sink.write(json.dumps(end.to_dict()) + "\n")
    sink.flush()
    return 1 if stream.error else 0


class _LastFrame:
    """Pass frames through, keeping the latest one for drawing."""

    def __init__(self, frames):
        self.frames, self.frame = frames, None

    def __iter__(self):
        for index, t, frame in self.frames:
            self.frame = frame
            yield index, t, frame


def _write_summary(path: Path, tracks: dict, fps: float) -> None:
    """Per track: frames seen, dominant emotion and share of frames per emotion."""
    summary = {}
    for tid, counts in tracks.items():
        n = sum(counts.values())
        summary[str(tid)] = {"frames": n, "seconds": n / fps if fps else None,
                             "dominant": counts.most_common(1)[0][0],
                             "share": {k: v / n for k, v in counts.most_common()}}
    path.write_text(json.dumps(summary, indent=2))
