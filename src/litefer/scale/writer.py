"""Writing records once and only once, and resuming: JSON Lines or Parquet.

Only the driver writes. Records arrive as JSON lines (``Result.to_dict()``) in job order and are
committed at source boundaries: a source's records are either all committed or none.

* JSON Lines (one file, the single-process format): records are appended; a commit flushes,
  fsyncs and records the committed length in a sidecar ``FILE.commit`` (replaced atomically).
  ``--resume`` cuts the file back to that length (dropping records written after the last
  commit, e.g. half of a video when the driver died) and skips every source found before it. A
  file without a sidecar (written by the single-process path) counts up to its last complete
  line.
* Parquet (a folder): each commit that has gathered ``rows_per_part`` rows, and the last one,
  writes ``part-NNNNNN.parquet`` under a temporary name and renames it, so a part is whole or
  absent. ``--resume`` skips every source found in the parts. The schema is fixed (maps for
  ``probs`` and ``timings_ms``), so parts of any label set or stage mix read as one table;
  ``read_records`` turns them back into ``to_dict()`` records.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

FORMATS = ("jsonl", "parquet")
SIDECAR = ".commit"


class JsonlWriter:
    """path None: stdout (no resume). ``done``: sources already committed (resume)."""

    def __init__(self, path: str | Path | None, resume: bool = False):
        self.path, self.done = (Path(path) if path else None), set()
        if self.path is None:
            if resume:
                raise ValueError("--resume needs an output file (--json FILE)")
            self.fh = sys.stdout
            return
        self.sidecar = self.path.with_name(self.path.name + SIDECAR)
        if resume and self.path.exists():
            committed = self._committed_length()
            with open(self.path, "r+b") as fh:
                fh.truncate(committed)
                fh.seek(0)
                self.done = {json.loads(line)["source"] for line in fh if line.strip()}
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(b"")
        self.fh = open(self.path, "ab")
        self.commit()

    def _committed_length(self) -> int:
        size = self.path.stat().st_size
        if self.sidecar.is_file():
            return min(size, int(json.loads(self.sidecar.read_text())["bytes"]))
        with open(self.path, "rb") as fh:  # no sidecar: up to the last complete line
            end = size
            while end > 0:
                start = max(0, end - 65536)
                fh.seek(start)
                newline = fh.read(end - start).rfind(b"\n")
                if newline >= 0:
                    return start + newline + 1
                end = start
        return 0

    def write(self, lines: list[str]) -> None:
        if lines:
            text = "".join(line + "\n" for line in lines)
            self.fh.write(text if self.path is None else text.encode())

    def commit(self) -> None:
        self.fh.flush()
        if self.path is None:
            return
        os.fsync(self.fh.fileno())
        tmp = self.sidecar.with_name(self.sidecar.name + ".tmp")
        tmp.write_text(json.dumps({"bytes": self.fh.tell()}))
        os.replace(tmp, self.sidecar)

    def close(self, commit: bool = True) -> None:
        """commit False (an interrupted job in the middle of an input): leave the last commit,
        so --resume drops what was written after it."""
        if commit:
            self.commit()
        if self.path is not None:
            self.fh.close()


class ParquetWriter:
    """A folder of atomically written parts; ``done``: sources found in existing parts."""

    def __init__(self, path: str | Path, resume: bool = False, rows_per_part: int = 10_000):
        from ..errors import require

        require("pyarrow", "scale")
        self.path, self.rows_per_part, self.rows, self.done = Path(path), rows_per_part, [], set()
        self.path.mkdir(parents=True, exist_ok=True)
        for tmp in self.path.glob("*.tmp"):
            tmp.unlink()
        parts = sorted(self.path.glob("part-*.parquet"))
        if resume:
            import pyarrow.parquet as pq

            for part in parts:
                self.done.update(pq.read_table(part, columns=["source"]).column(0).to_pylist())
        else:
            for part in parts:
                part.unlink()
            parts = []
        self.next_part = 1 + max((int(p.stem.split("-")[1]) for p in parts), default=-1)

    def write(self, lines: list[str]) -> None:
        self.rows.extend(json.loads(line) for line in lines)

    def commit(self, final: bool = False) -> None:
        if not self.rows or (len(self.rows) < self.rows_per_part and not final):
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([_arrow_row(r) for r in self.rows], schema=schema())
        name = self.path / f"part-{self.next_part:06d}.parquet"
        tmp = name.with_name(name.name + ".tmp")
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, name)
        self.next_part, self.rows = self.next_part + 1, []

    def close(self, commit: bool = True) -> None:
        if commit:
            self.commit(final=True)


def create_writer(fmt: str, path: str | Path | None, resume: bool):
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "jsonl":
        return JsonlWriter(path, resume)
    if not path:
        raise ValueError("--format parquet needs an output folder: --json FOLDER")
    return ParquetWriter(path, resume)


def schema():
    """The Arrow schema of a record (Result.to_dict()); probs and timings are maps."""
    import pyarrow as pa

    f64, i64, text = pa.float64(), pa.int64(), pa.string()
    box = pa.struct([(k, f64) for k in ("x1", "y1", "x2", "y2")])
    face = pa.struct([("box", box), ("score", f64), ("landmarks", pa.list_(pa.list_(f64))),
                      ("label", text), ("confidence", f64), ("probs", pa.map_(text, f64)),
                      ("track_id", i64)])
    return pa.schema([("source", text), ("frame", i64), ("time", f64), ("width", i64),
                      ("height", i64), ("faces", pa.list_(face)), ("error", text),
                      ("timings_ms", pa.map_(text, f64))])


def _arrow_row(r: dict) -> dict:
    faces = [{**f, "probs": list(f["probs"].items())} for f in r.get("faces") or []]
    timings = r.get("timings_ms")
    return {**r, "faces": faces, "timings_ms": None if timings is None else list(timings.items())}


def read_records(path: str | Path) -> list[dict]:
    """Records of a JSON Lines file or a Parquet folder written by a bulk job, as dicts shaped
    like Result.to_dict() (a record without timings, such as a video's error record, has
    ``timings_ms`` None when read from Parquet)."""
    path = Path(path)
    if path.is_file():
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    import pyarrow.parquet as pq

    rows = []
    for part in sorted(path.glob("part-*.parquet")):
        rows.extend(pq.read_table(part).to_pylist())
    for r in rows:
        for f in r["faces"]:
            f["probs"] = dict(f["probs"])
        r["timings_ms"] = None if r["timings_ms"] is None else dict(r["timings_ms"])
    return rows
