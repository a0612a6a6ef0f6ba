"""`litefer analyze` on bad input and rough edges: usage errors, silent losses, unique outputs,
resume, codecs, broken pipes, progress totals, --show without a GUI, lazy exports."""
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from litefer.cli import main

ASSETS = Path(__file__).parent / "assets"


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def claims_size(width: int, height: int) -> bytes:
    """A small valid JPEG whose start-of-frame header is patched to declare width x height."""
    ok, buf = cv2.imencode(".jpg", np.full((64, 64, 3), 120, np.uint8))
    data, pos = bytearray(buf.tobytes()), 2
    while data[pos + 1] not in (0xC0, 0xC1, 0xC2):
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
    data[pos + 5:pos + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def face_video(path: Path, frames: int = 4) -> Path:
    face = cv2.resize(cv2.imread(str(ASSETS / "astronaut.png")), (200, 200))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (320, 240))
    for _ in range(frames):
        frame = np.full((240, 320, 3), 90, np.uint8)
        frame[20:220, 60:260] = face
        writer.write(frame)
    writer.release()
    return path


# --- 5: a JPEG header larger than its data ----------------------------------------------------

def test_jpeg_declaring_30000_square_is_an_error_record_and_exit_1(tmp_path, capsys):
    path = tmp_path / "huge.jpg"
    path.write_bytes(claims_size(30000, 30000))
    assert main(["analyze", str(path)]) == 1
    (rec,) = records(capsys.readouterr().out)
    assert rec["faces"] == [] and "truncated JPEG" in rec["error"] and "30000x30000" in rec["error"]


# --- 7: usage errors say what is allowed --------------------------------------------------------

@pytest.mark.parametrize("flag, value, allowed", [
    ("--batch-size", "0", ">= 1"), ("--batch-size", "-1", ">= 1"), ("--detect-size", "0", ">= 1"),
    ("--max-frames", "-3", ">= 1"), ("--max-faces", "-1", ">= 0"), ("--batch-size", "x", ">= 1"),
    ("--detect-every", "0", ">= 1"), ("--workers", "0", ">= 1"), ("--num-workers", "0", ">= 1"),
    ("--cpus-per-worker", "0", ">= 1"), ("--range-frames", "0", ">= 1"),
])
def test_out_of_range_counts_exit_2_saying_what_is_allowed(flag, value, allowed, capsys):
    with pytest.raises(SystemExit) as info:
        main(["analyze", str(ASSETS / "astronaut.png"), flag, value])
    err = capsys.readouterr().err
    assert info.value.code == 2 and flag in err and allowed in err and "Traceback" not in err


@pytest.mark.parametrize("flag", ["--json", "--out"])
def test_unwritable_output_exits_2_before_any_work(tmp_path, capsys, flag):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    target = blocker / "inside"
    assert main(["analyze", str(ASSETS / "astronaut.png"), flag, str(target)]) == 2
    captured = capsys.readouterr()
    assert f"{flag} {target}: cannot write there" in captured.err and captured.out == ""


# --- 10: nothing lost silently ------------------------------------------------------------------

def test_folder_gifs_and_every_tiff_page_are_analysed(tmp_path, capsys):
    bgr = cv2.imread(str(ASSETS / "astronaut.png"))
    assert cv2.imwritemulti(str(tmp_path / "pages.tif"), [bgr, bgr[:, ::-1].copy(), bgr])
    pil = pytest.importorskip("PIL.Image")
    pil.fromarray(bgr[:, :, ::-1]).save(tmp_path / "still.gif")
    assert main(["analyze", str(tmp_path)]) == 0
    recs = {Path(r["source"]).name: r for r in records(capsys.readouterr().out)}
    assert set(recs) == {"pages.tif#page=1", "pages.tif#page=2", "pages.tif#page=3", "still.gif"}
    assert all(len(r["faces"]) == 1 and r["error"] is None for r in recs.values())


def test_unreadable_subfolder_is_an_error_record(tmp_path, capsys, monkeypatch):
    shutil.copy(ASSETS / "astronaut.png", tmp_path / "a.png")
    (tmp_path / "locked").mkdir()
    shutil.copy(ASSETS / "astronaut.png", tmp_path / "locked" / "b.png")
    real = os.scandir

    def scandir(path="."):  # permission bits do not stop root: refuse as a locked folder would
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert main(["analyze", str(tmp_path)]) == 1
    recs = {Path(r["source"]).name: r for r in records(capsys.readouterr().out)}
    assert recs["a.png"]["error"] is None
    assert "locked: folder cannot be read (Permission denied)" in recs["locked"]["error"]


# --- 11: --resume and --format parquet without --engine ray -------------------------------------

def test_local_resume_keeps_records_and_analyses_only_new_images(tmp_path, capsys):
    folder, out = tmp_path / "in", tmp_path / "out.jsonl"
    folder.mkdir()
    shutil.copy(ASSETS / "astronaut.png", folder / "a.png")
    assert main(["analyze", str(folder), "--json", str(out)]) == 0
    first = out.read_text()
    shutil.copy(ASSETS / "astronaut.png", folder / "b.png")
    assert main(["analyze", str(folder), "--json", str(out), "--resume"]) == 0
    text = out.read_text()
    assert text.startswith(first)
    assert [Path(r["source"]).name for r in records(text)] == ["a.png", "b.png"]


def test_local_resume_skips_a_committed_video(tmp_path, capsys):
    video, out = face_video(tmp_path / "clip.mp4", frames=3), tmp_path / "out.jsonl"
    assert main(["analyze", str(video), "--json", str(out), "--resume"]) == 0
    first = out.read_text()
    assert [r["frame"] for r in records(first)] == [0, 1, 2]
    assert main(["analyze", str(video), "--json", str(out), "--resume"]) == 0
    assert out.read_text() == first and "nothing to do" in capsys.readouterr().err


def test_local_parquet_writes_a_folder_and_needs_json(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    from litefer.scale.writer import read_records

    assert main(["analyze", str(ASSETS / "astronaut.png"), "--format", "parquet",
                 "--json", str(tmp_path / "parts")]) == 0
    (rec,) = read_records(tmp_path / "parts")
    assert rec["source"].endswith("astronaut.png") and len(rec["faces"]) == 1
    assert main(["analyze", str(ASSETS / "astronaut.png"), "--format", "parquet"]) == 2
    assert "needs an output" in capsys.readouterr().err


# --- 13: unique output names --------------------------------------------------------------------

def test_annotated_names_never_collide(tmp_path, capsys):
    folder = tmp_path / "in"
    for rel in ("a/photo.jpg", "b/photo.jpg", "photo.png", "photo.jpg"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ASSETS / "astronaut.png", folder / rel)
    assert main(["analyze", str(folder), "--out", str(tmp_path / "ann")]) == 0
    written = sorted(p.relative_to(tmp_path / "ann").as_posix()
                     for p in (tmp_path / "ann").rglob("*.jpg"))
    assert written == ["a/photo.annotated.jpg", "b/photo.annotated.jpg",
                       "photo.annotated.jpg", "photo.png.annotated.jpg"]


def test_csv_timeline_is_named_per_video(tmp_path, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    face_video(folder / "one.mp4")
    face_video(folder / "two.mp4")
    assert main(["analyze", str(folder), "--csv", "--out", str(tmp_path / "o"),
                 "--no-timeline"]) == 0  # 17: a folder of videos only is analysed
    recs = records(capsys.readouterr().out)
    assert sorted({Path(r["source"]).name for r in recs}) == ["one.mp4", "two.mp4"]
    for stem in ("one", "two"):
        lines = (tmp_path / "o" / f"{stem}.timeline.csv").read_text().splitlines()
        assert lines[0].startswith("time,frame,track") and len(lines) >= 2


# --- 14: which codec the annotated MP4 uses -----------------------------------------------------

def test_video_writer_falls_back_to_mp4v_and_says_so(tmp_path):
    from litefer.video.writer import open_video_writer

    writer = open_video_writer(tmp_path / "v.mp4", 10.0, 64, 48, encoders=("mp4v",))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.close()
    cap = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    assert writer.codec == "mpeg4" and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def test_video_writer_uses_h264_through_pyav(tmp_path):
    av = pytest.importorskip("av", reason="PyAV (litefer[video]) not installed")
    from litefer.video.writer import open_video_writer

    writer = open_video_writer(tmp_path / "v.mp4", 10.0, 65, 47)  # odd sizes are padded
    for i in range(3):
        writer.write(np.full((47, 65, 3), 40 * i, np.uint8))
    writer.close()
    with av.open(str(tmp_path / "v.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.frames == 3
    assert writer.codec == "h264"


def test_annotated_video_records_its_codec(tmp_path, capsys):
    video = face_video(tmp_path / "clip.mp4", frames=2)
    assert main(["analyze", str(video), "--out", str(tmp_path / "o"), "--no-timeline"]) == 0
    info = json.loads((tmp_path / "o" / "clip.annotated.json").read_text())
    assert info["codec"] in ("h264", "mpeg4") and info["frames"] == 2
    assert f"clip.annotated.mp4: {info['codec']}" in capsys.readouterr().err


# --- 15: a closed pipe ends quietly -------------------------------------------------------------

@pytest.mark.parametrize("args", [["models", "--json"], ["analyze", str(ASSETS / "astronaut.png")]])
def test_closed_stdout_ends_without_a_traceback(args):
    proc = subprocess.Popen([sys.executable, "-m", "litefer.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is written, as with `| head -0`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err


# --- 16: progress shows running totals ----------------------------------------------------------

def test_progress_faces_is_the_running_total(tmp_path, capsys):
    for name in ("a.png", "b.png", "c.png"):
        shutil.copy(ASSETS / "astronaut.png", tmp_path / name)
    assert main(["analyze", str(tmp_path), "--batch-size", "1", "--progress"]) == 0
    err = capsys.readouterr().err
    assert "3/3" in err and err.rstrip().endswith("faces=3 failed=0")


# --- 17: --show without a GUI -------------------------------------------------------------------

def test_show_on_headless_opencv_names_the_gui_build(tmp_path, capsys):
    from litefer.commands.analyze_video import require_gui
    from litefer.errors import MissingDependencyError

    try:
        require_gui()
    except MissingDependencyError:
        pass
    else:
        pytest.skip("this OpenCV has a GUI")
    video = face_video(tmp_path / "clip.mp4", frames=2)
    assert main(["analyze", str(video), "--show"]) == 2
    assert "pip install opencv-python" in capsys.readouterr().err


# --- 18, 19: the [plot] hint, dir(litefer) ------------------------------------------------------

def test_timeline_hint_names_the_plot_extra(tmp_path, capsys, monkeypatch):
    import tomllib

    from litefer.video import timeline

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert any(d.startswith("matplotlib") for d in
               extras["project"]["optional-dependencies"]["plot"])
    monkeypatch.setattr(timeline, "matplotlib_available", lambda: False)
    video = face_video(tmp_path / "clip.mp4", frames=1)
    assert main(["analyze", str(video), "--out", str(tmp_path / "o")]) == 0
    assert "pip install 'litefer[plot]'" in capsys.readouterr().err


def test_dir_lists_the_public_api():
    import litefer

    assert {"Recognizer", "Result", "InvalidImageError", "__version__"} <= set(dir(litefer))


# --- 6: decoded pixels held at once are bounded -------------------------------------------------

def test_batches_close_at_the_pixel_budget(tmp_path):
    from litefer.commands.analyze_images import decoded_batches, list_items

    paths = []
    for i, side in enumerate((300, 300, 100, 100, 300)):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), np.full((side, side, 3), 100, np.uint8))
    items = list_items(paths, [])
    sizes = [[b[1].image.shape[0] for b in batch]
             for batch in decoded_batches(items, batch_size=16, workers=2, budget=110_000)]
    assert sizes == [[300], [300, 100, 100], [300]]  # 90 000 + 20 000 px: at the budget
    assert [len(b) for b in decoded_batches(items, batch_size=2, workers=1)] == [2, 2, 1]


def test_bulk_inputs_report_an_unreadable_subfolder(tmp_path, monkeypatch):
    from litefer.scale.inputs import error_records, list_inputs

    (tmp_path / "locked").mkdir()
    shutil.copy(ASSETS / "astronaut.png", tmp_path / "a.png")
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": (
        _refuse(path) if Path(path).name == "locked" else real(path)))
    errors = []
    assert [Path(i.source).name for i in list_inputs(tmp_path, errors)] == ["a.png"]
    (line,) = error_records(errors)
    rec = json.loads(line)
    assert rec["source"] == str(tmp_path / "locked") and "cannot be read" in rec["error"]
    assert error_records(errors, done={str(tmp_path / "locked")}) == []


def _refuse(path):
    raise PermissionError(13, "Permission denied", str(path))
