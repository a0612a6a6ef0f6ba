"""Video files, cameras and stream URLs for `litefer analyze`: JSON per frame, CSV timeline,
annotated MP4, per-track summary, optional live window."""
from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

import cv2


def _outputs(args, name: str, labels: tuple[str, ...]):
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    table = None
    if args.csv:
        path = Path(args.csv)
        if out and not path.is_absolute():
            path = out / path
        fh = open(path, "w", newline="")
        table = (fh, csv.writer(fh))
        table[1].writerow(["time", "frame", "track", "x1", "y1", "x2", "y2", "label", "confidence",
                           *labels])
    return out, table


def analyze_video(rec, args, sink, kind: str) -> int:
    """Returns the number of failures (0 or 1: a stream that ended with an error)."""
    from ..draw import draw_result
    from ..errors import MissingDependencyError
    from ..io import FrameStream
    from ..progress import Progress

    source = int(args.source) if args.source.isdigit() else args.source
    stream = FrameStream(source, max_frames=args.max_frames)
    name = str(args.source)
    out, table = _outputs(args, name, rec.spec.labels)
    writer, tracks = None, defaultdict(Counter)
    last, frames = None, _LastFrame(stream)
    with Progress(stream.frame_count, "frames", args.progress) as bar:
        for res in rec.stream(frames, source=name):
            last = res
            sink.write(json.dumps(res.to_dict()) + "\n")
            for f in res.faces:
                tracks[f.track_id][f.label] += 1
                if table:
                    table[1].writerow([f"{res.time_s:.3f}", res.frame, f.track_id,
                                       *(f"{v:.1f}" for v in f.box), f.label,
                                       f"{f.confidence:.4f}", *(f"{p:.4f}" for p in f.probs)])
            if out or args.show:
                frame = draw_result(frames.frame, res)
            if out:
                writer = writer or _writer(out / (Path(name).stem or "camera"), stream.fps, frame)
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            if args.show:
                try:
                    cv2.imshow("litefer", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                except cv2.error as exc:
                    raise MissingDependencyError("--show needs an OpenCV build with a GUI "
                                                 "(pip install opencv-python) and a display") from exc
                if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                    break
            bar.update(1, faces=len(res.faces))
    if writer is not None:
        writer.release()
    if table:
        table[0].close()
    if out:
        _write_summary(out / f"{Path(name).stem or 'camera'}.tracks.json", tracks, stream.fps)
    if stream.error:
        frame = None if last is None else last.frame
        sink.write(json.dumps({"source": name, "frame": frame, "faces": [],
                               "error": stream.error}) + "\n")
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


def _writer(stem: Path, fps: float, frame) -> cv2.VideoWriter:
    h, w = frame.shape[:2]
    return cv2.VideoWriter(str(stem) + ".annotated.mp4", cv2.VideoWriter_fourcc(*"mp4v"),
                           fps or 25.0, (w, h))


def _write_summary(path: Path, tracks: dict, fps: float) -> None:
    """Per track: frames seen, dominant emotion and share of frames per emotion."""
    summary = {}
    for tid, counts in tracks.items():
        n = sum(counts.values())
        summary[str(tid)] = {"frames": n, "seconds": n / fps if fps else None,
                             "dominant": counts.most_common(1)[0][0],
                             "share": {k: v / n for k, v in counts.most_common()}}
    path.write_text(json.dumps(summary, indent=2))
