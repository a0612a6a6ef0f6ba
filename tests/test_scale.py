"""Bulk analysis on a REAL local Ray cluster (never a mock): parity with the single-process path,
a worker killed mid-job, --resume, Parquet, and a video split into frame ranges.

The cluster is `ray start --head --block` on 127.0.0.1 with 2 CPUs, started once for this
module and stopped (SIGTERM to that process, which stops what it started) at the end. Tests
needing it skip with a reason when ray is not installed (pip install -e '.[scale]').
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from litefer.cli import main
from litefer.scale import RecognizerOptions, ScaleOptions, analyze_bulk, read_records
from litefer.scale.inputs import list_inputs, plan_units

ASSETS = Path(__file__).parent / "assets"


def stripped(records: list[dict]) -> list[dict]:
    """Records without timings_ms (measurements, different on every run)."""
    return [{k: v for k, v in r.items() if k != "timings_ms"} for r in records]


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---- without a cluster ----------------------------------------------------------------------

def test_importing_litefer_and_its_scale_package_does_not_import_ray():
    code = ("import sys, litefer, litefer.scale, litefer.cli; litefer.cli.build_parser(); "
            "assert 'ray' not in sys.modules and 'pyarrow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_engine_ray_without_ray_installed_names_the_extra(tmp_path):
    shutil.copy(ASSETS / "astronaut.png", tmp_path / "a.png")
    code = ("import sys; sys.modules['ray'] = None; from litefer.cli import main; "
            f"sys.exit(main(['analyze', {str(tmp_path)!r}, '--engine', 'ray']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2 and "pip install 'litefer[scale]'" in proc.stderr


@pytest.mark.parametrize("flag", [["--out", "x"], ["--show"], ["--detect-every", "2"]])
def test_single_machine_options_are_refused_with_engine_ray(tmp_path, capsys, flag):
    shutil.copy(ASSETS / "astronaut.png", tmp_path / "a.png")
    assert main(["analyze", str(tmp_path), "--engine", "ray", *flag]) == 2
    assert "not available with --engine ray" in capsys.readouterr().err


class SquareDetector:
    """Faces = the bright squares of a frame: what it finds depends on the frame alone, as on a
    worker analysing a range of a video."""
    name = "squares"

    def detect(self, image):
        from litefer.types import Detection

        n, _, stats, _ = cv2.connectedComponentsWithStats((image[..., 0] > 200).astype(np.uint8))
        return [Detection((float(x), float(y), float(x + w), float(y + h)), 0.9)
                for x, y, w, h, _ in stats[1:n]]


def square_frames(n: int):
    """Frame i: one textured square moving right; a second one from frame 5 on."""
    rng = np.random.default_rng(1)
    for i in range(n):
        img = np.full((160, 240, 3), 60, np.uint8)
        spots = [(10 + 6 * i, 40)] + ([(150, 20 + 3 * i)] if i >= 5 else [])
        for x, y in spots:
            img[y:y + 50, x:x + 50] = rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)
            img[y:y + 50, x:x + 50, 0] = rng.integers(201, 256, (50, 50), dtype=np.uint8)
        yield i, i / 12.5, img


def test_stitched_ranges_give_the_stream_records_without_ray():
    from litefer.pipeline import Recognizer
    from litefer.scale.stitch import VideoStitcher
    from litefer.video import EmaSmoother

    rec = Recognizer(detector=SquareDetector(), min_confidence=0.3)
    single = [r.to_dict() for r in rec.stream(square_frames(10), source="v.avi",
                                              temporal=EmaSmoother(0.3))]
    per_frame = []  # what workers send: Recognizer.analyze per frame, no tracking
    for index, t, img in square_frames(10):
        res = rec.analyze(img, source="v.avi")
        res.frame, res.time_s = index, t
        per_frame.append(json.dumps(res.to_dict()))
    stitcher = VideoStitcher("v.avi", 10, EmaSmoother(0.3), rec.min_confidence)
    lines = []
    for start, stop in ((0, 4), (4, 8), (8, 10)):
        lines += stitcher.add_range(start, stop, stop == 10, per_frame[start:stop],
                                    {"read": stop - start, "error": None})
    stitched = [json.loads(line) for line in lines]
    assert stripped(stitched) == stripped(single) and not stitcher.failed
    assert [len(r["faces"]) for r in stitched] == [1] * 5 + [2] * 5
    assert {f["track_id"] for r in stitched for f in r["faces"]} == {1, 2}


def test_a_range_cut_short_ends_the_video_with_a_full_error_record():
    from litefer.scale.stitch import VideoStitcher
    from litefer.types import Result
    from litefer.video import NoSmoothing

    frames = [json.dumps(Result("v.avi", frame=i, time_s=i / 10, width=320, height=240,
                                timings_ms={"decode": 1.0}).to_dict()) for i in range(6)]
    stitcher = VideoStitcher("v.avi", 20, NoSmoothing(), 0.0)
    assert len(stitcher.add_range(0, 4, False, frames[:4], {"read": 4, "error": None})) == 4
    out = [json.loads(x) for x in stitcher.add_range(4, 8, False, frames[4:],
                                                     {"read": 2, "error": None, "fps": 10.0})]
    end = out[-1]
    assert [r["frame"] for r in out] == [4, 5, 6] and stitcher.failed and stitcher.ended
    assert "video ended after 6 of the 20 frames" in end["error"]
    assert set(end) == set(out[0]) and end["timings_ms"] == {} and end["faces"] == []
    assert (end["width"], end["height"]) == (320, 240)
    assert end["time"] == pytest.approx(0.6)
    assert stitcher.add_range(8, 12, False, [], {"read": 0, "error": None}) == []


def test_inputs_from_folder_glob_and_manifest_and_their_units(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.jpg", "d/a.png", "d/sub/c.JPG", "d/v.mp4", "d/.hidden.jpg", "d/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    folder = [i.source for i in list_inputs(tmp_path / "d")]
    assert folder == [str(tmp_path / n) for n in ("d/a.png", "d/b.jpg", "d/sub/c.JPG", "d/v.mp4")]
    globbed = list_inputs(str(tmp_path / "d" / "*.jpg"))
    assert [i.source for i in globbed] == [str(tmp_path / "d/b.jpg")]
    manifest = tmp_path / "d" / "list.txt"
    manifest.write_text("# photos\nsub/c.JPG\n\nb.jpg\nsub/c.JPG\n/abs/missing.png\nv.mp4\n")
    items = list_inputs(manifest)
    assert [i.source for i in items] == ["sub/c.JPG", "b.jpg", "/abs/missing.png", "v.mp4"]
    assert items[0].path == str((tmp_path / "d/sub/c.JPG").resolve())
    assert [i.kind for i in items] == ["image", "image", "image", "video"]
    units = plan_units(items, batch_size=2, range_frames=4, frame_counts={"v.mp4": 10})
    assert [u.sources for u in units] == [["sub/c.JPG", "b.jpg"], ["/abs/missing.png"]] + \
        [["v.mp4"]] * 3
    assert [(u.start, u.stop, u.last) for u in units[2:]] == [(0, 4, False), (4, 8, False),
                                                              (8, 10, True)]
    assert units[1] == type(units[1]).from_json(units[1].to_json())
    # a declared frame count may be short: the last range then reads on to the end of the file
    assert plan_units(items, 2, 4, {"v.mp4": 10}, {"v.mp4"})[-1].stop is None
    with pytest.raises(Exception, match="no images or videos"):
        list_inputs(tmp_path / "d" / "sub" / "nothing*")


def test_each_page_of_a_multipage_tiff_is_an_input_decoded_by_the_worker(tmp_path):
    from litefer.scale.worker import _decode

    one = cv2.imread(str(ASSETS / "astronaut.png"))
    pages = [one, cv2.flip(one, 1), cv2.resize(one, (64, 48))]
    assert cv2.imwritemulti(str(tmp_path / "p.tif"), pages)
    cv2.imwrite(str(tmp_path / "q.tif"), one)
    items = list_inputs(tmp_path)
    assert [i.source for i in items] == [f"{tmp_path}/p.tif#page={k}" for k in (1, 2, 3)] + \
        [f"{tmp_path}/q.tif"]
    assert [i.page for i in items] == [0, 1, 2, None]
    assert items[1] == type(items[1])(**json.loads(json.dumps(items[1].__dict__)))
    third = _decode(items[2])
    assert third.source_size == (64, 48)
    np.testing.assert_array_equal(_decode(items[1]).image, cv2.cvtColor(pages[1], cv2.COLOR_BGR2RGB))
    gone = type(items[0])("x.tif#page=2", str(tmp_path / "missing.tif"), "image", 1)
    err = _decode(gone)
    assert isinstance(err, Exception) and str(err).startswith("x.tif#page=2: ")


def test_jsonl_writer_commits_at_boundaries_and_resumes_from_the_last_commit(tmp_path):
    from litefer.scale.writer import JsonlWriter

    rec = [json.dumps({"source": f"s{i}", "faces": []}) for i in range(4)]
    out = tmp_path / "out.jsonl"
    w = JsonlWriter(out)
    w.write(rec[:2])
    w.commit()
    w.write(rec[2:3])  # written, never committed (the job died here)
    w.close(commit=False)
    assert len(out.read_text().splitlines()) == 3
    w = JsonlWriter(out, resume=True)
    assert w.done == {"s0", "s1"}  # s2 is dropped and analysed again
    w.write(rec[2:])
    w.close()
    assert out.read_text().splitlines() == rec
    (tmp_path / "out.jsonl.commit").unlink()  # e.g. a file of the single-process path
    out.write_text("\n".join(rec[:3]) + "\n" + rec[3][:9])
    assert JsonlWriter(out, resume=True).done == {"s0", "s1", "s2"}


def test_parquet_parts_are_whole_and_read_back_as_records(tmp_path):
    pytest.importorskip("pyarrow", reason="pyarrow is not installed: pip install -e '.[scale]'")
    from litefer.scale.writer import ParquetWriter

    face = {"box": {"x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.5}, "score": 0.9,
            "landmarks": [[1.0, 2.0]], "label": "happy", "confidence": 0.75,
            "probs": {"happy": 0.75, "sad": 0.25}, "track_id": None}
    recs = [{"source": f"s{i}", "frame": None, "time": None, "width": 640, "height": 480,
             "faces": [face] * i, "error": None, "timings_ms": {"detect": 1.5}} for i in range(5)]
    recs.append({"source": "v.mp4", "frame": 3, "faces": [], "error": "v.mp4: cut"})
    w = ParquetWriter(tmp_path / "out", rows_per_part=2)
    for r in recs[:3]:
        w.write([json.dumps(r)])
        w.commit()
    (tmp_path / "out" / "part-000009.parquet.tmp").write_bytes(b"half a part")
    w.write([json.dumps(recs[3])])
    w.close(commit=False)  # died: rows not yet in a part are lost, the parts are whole
    w = ParquetWriter(tmp_path / "out", resume=True, rows_per_part=2)
    assert w.done == {"s0", "s1"} and not list((tmp_path / "out").glob("*.tmp"))
    for r in recs[2:]:
        w.write([json.dumps(r)])
    w.close()
    back = read_records(tmp_path / "out")
    assert back[:5] == recs[:5]
    assert back[5] == {**recs[5], "time": None, "width": None, "height": None,
                       "timings_ms": None}


# ---- on a real local cluster ----------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """`ray start --head` on 127.0.0.1 with 2 CPUs; this process connects as the driver."""
    # Token authentication with a token of this module's own, given to the cluster (and so its
    # workers) and to this driver alike: Ray 2.60 turns it on for `ray start` whenever
    # ~/.ray/auth_token exists, but never for a driver given an explicit address. Ray reads
    # the mode when imported, so it is set first.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    saved = {k: os.environ.get(k) for k in (*auth, "RAY_AUTH_TOKEN_PATH")}
    os.environ.update(auth)
    os.environ.pop("RAY_AUTH_TOKEN_PATH", None)
    try:
        ray = pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[scale]'")
        pytest.importorskip("ray.data", reason="ray[data] is missing: pip install -e '.[scale]'")
    except BaseException:
        _restore(saved)
        raise
    port, temp = _free_port(), tempfile.mkdtemp(prefix="litefer-ray-", dir="/tmp")
    log = open(Path(temp) / "ray-start.log", "w")
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
           "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
           "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", temp]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
                                 # stop at once on SIGTERM (no 30 s drain for Ray Serve)
                                 "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"})
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in (Path(temp) / "ray-start.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("ray start failed:\n" + (Path(temp) / "ray-start.log").read_text())
            time.sleep(0.2)
        ray.init(address=f"127.0.0.1:{port}", logging_level=logging.ERROR, log_to_driver=False)
        yield proc
    finally:
        ray.shutdown()
        proc.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
        _restore(saved)


def _restore(saved: dict) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """11 photos and a 3-page TIFF in a tree: faces at several sizes, no face, a corrupt and a
    truncated file."""
    root = tmp_path_factory.mktemp("corpus") / "photos"
    (root / "sub").mkdir(parents=True)
    one, three = cv2.imread(str(ASSETS / "astronaut.png")), cv2.imread(str(ASSETS /
                                                                             "astronaut_three.jpg"))
    cv2.imwrite(str(root / "a.png"), one)
    cv2.imwrite(str(root / "b_flipped.jpg"), cv2.flip(one, 1))
    cv2.imwrite(str(root / "sub" / "c_three.jpg"), three)
    cv2.imwrite(str(root / "sub" / "d_small.jpg"), cv2.resize(three, (320, 240)))
    cv2.imwrite(str(root / "sub" / "e_grey.png"), cv2.cvtColor(one, cv2.COLOR_BGR2GRAY))
    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)
    cv2.imwrite(str(root / "f_noface.png"), noise)
    for i, scale in enumerate((0.6, 0.8, 1.2)):
        cv2.imwrite(str(root / "sub" / f"g{i}.jpg"), cv2.resize(three, None, fx=scale, fy=scale))
    assert cv2.imwritemulti(str(root / "sub" / "j_pages.tif"), [one, noise, cv2.flip(one, 1)])
    (root / "h_corrupt.jpg").write_bytes(b"this is not an image")
    data = (ASSETS / "astronaut_three.jpg").read_bytes()
    (root / "sub" / "i_truncated.jpg").write_bytes(data[: len(data) // 3])
    return root


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> list[dict]:
    """The single-process path's records for the corpus (batch size 3), run from the corpus's
    parent folder with the relative source "photos" (so sources are relative paths)."""
    out = tmp_path_factory.mktemp("reference") / "single.jsonl"
    here = os.getcwd()
    os.chdir(corpus.parent)
    try:
        assert main(["analyze", "photos", "--json", str(out), "--batch-size", "3"]) == 1
    finally:
        os.chdir(here)
    return jsonl(out)


@pytest.mark.slow
def test_ray_path_gives_the_single_process_records(cluster, corpus, reference, tmp_path,
                                                   monkeypatch):
    monkeypatch.chdir(corpus.parent)  # relative paths: the workers' working folder differs
    out = tmp_path / "ray.jsonl"
    code = main(["analyze", "photos", "--engine", "ray", "--num-workers", "2",
                 "--batch-size", "3", "--json", str(out)])
    assert code == 1  # like the single-process path: some inputs failed
    records = jsonl(out)
    assert stripped(records) == stripped(reference)  # same records, same (input) order
    errors = {r["source"]: r["error"] for r in records if r["error"]}
    assert set(errors) == {"photos/h_corrupt.jpg", "photos/sub/i_truncated.jpg"}
    assert errors["photos/h_corrupt.jpg"].startswith("photos/h_corrupt.jpg: ")
    assert sum(len(r["faces"]) for r in records) >= 8


@pytest.mark.slow
def test_parquet_output_reads_back_as_the_same_records(cluster, corpus, reference, tmp_path,
                                                       monkeypatch):
    monkeypatch.chdir(corpus.parent)
    out = tmp_path / "records.parquet"
    report = analyze_bulk("photos", str(out), RecognizerOptions(),
                          ScaleOptions(num_workers=2, batch_size=3, fmt="parquet"))
    assert report.records == len(reference) and report.failed >= 1
    assert [p.name for p in out.iterdir()] == ["part-000000.parquet"]
    assert stripped(read_records(out)) == stripped(reference)


def _map_workers(cluster) -> list:
    import psutil

    return [p for p in psutil.Process(cluster.pid).children(recursive=True)
            if "MapWorker" in " ".join(p.cmdline())]


def _gone(pid: int, timeout: float = 30.0) -> bool:
    """True once the process ``pid`` has ended (its parent, the raylet, reaps it: on a loaded
    machine that can lag behind the job's end)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        proc.wait(timeout)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return proc.status() == psutil.STATUS_ZOMBIE
    return True


@pytest.mark.slow
def test_killing_a_worker_mid_job_still_writes_every_input_exactly_once(cluster, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(36):
        shutil.copy(ASSETS / ("astronaut_three.jpg" if i % 3 else "astronaut.png"),
                    folder / f"p{i:02d}{'.jpg' if i % 3 else '.png'}")
    expected = tmp_path / "single.jsonl"
    main(["analyze", str(folder), "--json", str(expected), "--batch-size", "2"])
    killed = []

    def kill_one_worker(written: int, total: int) -> None:
        if killed:
            return
        assert written < total  # mid-job: most units are still to come
        worker = _map_workers(cluster)[0]
        worker.send_signal(signal.SIGKILL)
        killed.append(worker.pid)

    out = tmp_path / "ray.jsonl"
    report = analyze_bulk(str(folder), str(out), RecognizerOptions(),
                          ScaleOptions(num_workers=2, batch_size=2), on_unit=kill_one_worker)
    assert killed and _gone(killed[0])  # the job finished without the killed worker
    records = jsonl(out)
    sources = [r["source"] for r in records]
    assert len(sources) == len(set(sources)) == 36 and report.lost_units == []
    assert stripped(records) == stripped(jsonl(expected))


@pytest.mark.slow
def test_resume_keeps_committed_records_and_analyses_only_the_rest(cluster, corpus, reference,
                                                                     tmp_path, monkeypatch):
    monkeypatch.chdir(corpus.parent)
    out = tmp_path / "ray.jsonl"
    kept = [json.dumps(r) for r in reference[:4]]
    committed = "".join(line + "\n" for line in kept)
    # an interrupted run: 4 records committed, then half a record written after the last commit
    out.write_text(committed + json.dumps(reference[4])[:50])
    Path(str(out) + ".commit").write_text(json.dumps({"bytes": len(committed.encode())}))
    code = main(["analyze", "photos", "--engine", "ray", "--num-workers", "2",
                 "--batch-size", "3", "--json", str(out), "--resume"])
    assert code == 1
    lines = out.read_text().splitlines()
    assert lines[:4] == kept  # untouched: not analysed again (their timings are the old ones)
    assert stripped([json.loads(line) for line in lines]) == stripped(reference)
    report = analyze_bulk("photos", str(out), RecognizerOptions(),
                          ScaleOptions(batch_size=3, resume=True))
    assert (report.skipped, report.units, report.records) == (len(reference), 0, 0)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """A folder with two videos. two.mp4: 30 frames, 640x480, face A drifting right throughout,
    face B on frames 9..19 only (its track starts and ends inside later ranges). cut.avi: 20
    frames declared, cut in half (an AVI stays readable up to the cut)."""
    folder = tmp_path_factory.mktemp("videos")
    face = cv2.imread(str(ASSETS / "astronaut.png"))
    a, b = cv2.resize(face, (170, 170)), cv2.resize(face, (150, 150))
    writer = cv2.VideoWriter(str(folder / "two.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0,
                             (640, 480))
    for i in range(30):
        frame = np.full((480, 640, 3), 80, np.uint8)
        frame[60:230, 20 + 4 * i:190 + 4 * i] = a
        if 9 <= i <= 19:
            frame[300:450, 460 - 3 * i:610 - 3 * i] = b
        writer.write(frame)
    writer.release()
    writer = cv2.VideoWriter(str(folder / "cut.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0,
                             (320, 240))
    for _ in range(20):
        writer.write(cv2.resize(face, (320, 240)))
    writer.release()
    data = (folder / "cut.avi").read_bytes()
    (folder / "cut.avi").write_bytes(data[: len(data) // 2])
    return folder


@pytest.mark.slow
def test_videos_split_into_ranges_give_the_single_process_records(cluster, videos, tmp_path):
    common = ["--temporal", "ema", "--ema-alpha", "0.3"]
    expected = []
    for name in ("cut.avi", "two.mp4"):  # the folder's order
        out = tmp_path / f"{name}.jsonl"
        main(["analyze", str(videos / name), "--json", str(out), *common])
        expected += jsonl(out)
    ranged = tmp_path / "ray.jsonl"
    report = analyze_bulk(str(videos), str(ranged), RecognizerOptions(),
                          ScaleOptions(num_workers=2, range_frames=7, temporal="ema",
                                       ema_alpha=0.3))
    assert report.units == 3 + 5  # cut.avi: 0-6, 7-13, 14-19; two.mp4: 0-6, ..., 28-29
    records = jsonl(ranged)
    cut = [r for r in records if r["source"].endswith("cut.avi")]
    assert [r["frame"] for r in cut] == list(range(11)) and "truncated" in cut[-1]["error"]
    two = [r for r in records if r["source"].endswith("two.mp4")]
    assert [r["frame"] for r in two] == list(range(30))
    ids = {f["track_id"] for r in two for f in r["faces"]}
    assert ids >= {1, 2}  # B's track is born in a later range
    assert stripped(records) == stripped(expected)  # ids, smoothed probabilities, times, boxes
    assert report.failed == 1
