"""`litefer analyze` on images, folders (with broken files), videos: records, files, exit codes."""
import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from litefer.cli import main

ASSETS = Path(__file__).parent / "assets"


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_single_image_to_stdout(capsys):
    assert main(["analyze", str(ASSETS / "astronaut.png")]) == 0
    (rec,) = records(capsys.readouterr().out)
    assert rec["error"] is None and len(rec["faces"]) == 1
    assert rec["faces"][0]["label"] in rec["faces"][0]["probs"]


def test_folder_with_broken_files_reports_them_and_analyses_the_rest(tmp_path, capsys):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(ASSETS / "astronaut.png", folder / "a.png")
    shutil.copy(ASSETS / "astronaut_three.jpg", folder / "sub" / "b.jpg")
    (folder / "c.jpg").write_bytes(b"garbage bytes")
    (folder / "d.png").write_bytes(b"")
    data = (ASSETS / "astronaut_three.jpg").read_bytes()
    (folder / "e.jpg").write_bytes(data[: len(data) // 3])  # truncated
    out_json = tmp_path / "out.jsonl"
    code = main(["analyze", str(folder), "--json", str(out_json), "--out", str(tmp_path / "ann"),
                 "--batch-size", "2"])
    assert code == 1  # some items failed
    recs = {Path(r["source"]).name: r for r in records(out_json.read_text())}
    assert set(recs) == {"a.png", "b.jpg", "c.jpg", "d.png", "e.jpg"}
    assert len(recs["a.png"]["faces"]) == 1 and len(recs["b.jpg"]["faces"]) == 3
    for bad in ("c.jpg", "d.png"):
        assert recs[bad]["error"] and bad in recs[bad]["error"] and recs[bad]["faces"] == []
    assert recs["e.jpg"]["error"] is not None or recs["e.jpg"]["faces"] is not None
    assert (tmp_path / "ann" / "a.annotated.jpg").is_file()


def test_clean_folder_exits_zero_and_missing_source_is_an_error(tmp_path, capsys):
    shutil.copy(ASSETS / "astronaut.png", tmp_path / "a.png")
    assert main(["analyze", str(tmp_path)]) == 0
    assert main(["analyze", str(tmp_path / "nothing_here")]) == 2
    assert "nothing_here: no such file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def face_video(tmp_path_factory) -> Path:
    """24 frames, 640x480, one face drifting right."""
    face = cv2.resize(cv2.imread(str(ASSETS / "astronaut.png")), (200, 200))
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (640, 480))
    for i in range(24):
        frame = np.full((480, 640, 3), 90, np.uint8)
        x = 100 + 5 * i
        frame[140:340, x:x + 200] = face
        writer.write(frame)
    writer.release()
    return path


def test_video_gives_frames_tracks_csv_and_annotated_mp4(face_video, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["analyze", str(face_video), "--out", str(out), "--csv"]) == 0
    recs = records(capsys.readouterr().out)
    assert [r["frame"] for r in recs] == list(range(24))
    ids = {f["track_id"] for r in recs for f in r["faces"]}
    assert ids == {1} and all(len(r["faces"]) == 1 for r in recs)
    assert recs[1]["time"] == pytest.approx(1 / 12, abs=1e-3)
    with open(out / "clip.timeline.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 24 and {"time", "track", "x1", "happy", "neutral"} <= set(rows[0])
    cap = cv2.VideoCapture(str(out / "clip.annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    summary = json.loads((out / "clip.tracks.json").read_text())
    assert summary["1"]["frames"] == 24 and abs(sum(summary["1"]["share"].values()) - 1) < 1e-9


def test_truncated_video_ends_with_an_error_record_not_a_crash(face_video, tmp_path, capsys):
    # An AVI keeps its frames readable up to the cut (an MP4 loses its index entirely).
    face = cv2.imread(str(ASSETS / "astronaut.png"))
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for _ in range(20):
        writer.write(cv2.resize(face, (320, 240)))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    code = main(["analyze", str(path)])
    recs = records(capsys.readouterr().out)
    assert code == 1
    assert recs[-1]["error"] and recs[-1]["faces"] == []
    assert 0 < len(recs) - 1 < 20 and all(r["error"] is None for r in recs[:-1])
