"""Video path: tracker ids through occlusion and crossings, detect-every-K, EMA, live frame
dropping, timelines, `analyze --temporal/--detect-every`, `bench --video`."""
import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from litefer.cli import main
from litefer.pipeline import Recognizer
from litefer.types import Detection
from litefer.video import EmaSmoother, NoSmoothing, Track, Tracker, create_temporal, smooth_batch
from litefer.video.live import LatestFrames
from litefer.video.timeline import TimelineBuffer, TimelineWriter, matplotlib_available
from litefer.video.tracker import move_points

ASSETS = Path(__file__).parent / "assets"


def box(x, y, s=60):
    return [x, y, x + s, y + s]


# --- tracker ---------------------------------------------------------------------------------

def test_ids_survive_a_few_frames_of_occlusion():
    tr = Tracker(max_misses=5)
    ids = [tr.update([box(10 * t, 50)])[0].id for t in range(6)]
    for _ in range(4):  # face hidden: no detection, the track coasts on its velocity
        assert tr.update(np.zeros((0, 4))) == []
    back = tr.update([box(10 * 10, 50)])[0]
    assert set(ids) == {1} and back.id == 1 and back.misses == 0


def test_a_track_missing_longer_than_max_misses_gets_a_new_id():
    tr = Tracker(max_misses=2)
    tr.update([box(0, 0)])
    for _ in range(3):
        tr.update(np.zeros((0, 4)))
    assert tr.update([box(0, 0)])[0].id == 2


def test_two_crossing_faces_keep_their_ids():
    tr = Tracker()
    first = second = None
    for t in range(25):  # A goes right, B goes left; they overlap around t = 12
        a, b = box(10 * t, 100), box(240 - 10 * t, 120)
        order = [a, b] if t % 2 else [b, a]  # the detector's order must not matter
        tracks = tr.update(order)
        ida, idb = (tracks[0].id, tracks[1].id) if t % 2 else (tracks[1].id, tracks[0].id)
        first, second = (first or ida), (second or idb)
        assert (ida, idb) == (first, second), f"swap at frame {t}"
    assert first != second


def test_coast_moves_tracks_without_counting_misses_and_moves_landmarks():
    tr = Tracker()
    lms = np.array([[20.0, 20.0], [40.0, 20.0]], np.float32)
    for t in range(4):
        tr.update([box(10 * t, 0)], [lms + [10 * t, 0]])
    (track,) = tr.coast()
    assert track.misses == 0 and track.coasted == 1
    assert track.current()[0] > 30 and track.predicted()[0] > track.current()[0]
    moved = track.current_landmarks()
    np.testing.assert_allclose(moved[:, 0] - (lms[:, 0] + 30), track.current()[0] - 30, atol=1e-4)
    assert tr.update([box(40, 0)])[0].id == track.id and track.coasted == 0


def test_move_points_follows_scale_and_shift():
    pts = move_points(np.array([[10.0, 10.0]]), np.array([0, 0, 20, 20.0]),
                      np.array([100, 100, 140, 140.0]))
    np.testing.assert_allclose(pts, [[120.0, 120.0]])


# --- temporal models -------------------------------------------------------------------------

def test_ema_math_per_track():
    ema = EmaSmoother(alpha=0.25)
    a, b = Track(1, np.zeros(4)), Track(2, np.zeros(4))
    p1 = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    np.testing.assert_allclose(ema.update([a, b], p1), p1)  # s_1 = p_1
    p2 = np.array([[0.0, 1.0]], np.float32)
    np.testing.assert_allclose(ema.update([a], p2), [[0.75, 0.25]])  # only a updates
    np.testing.assert_allclose(a.state["ema"], [0.75, 0.25])
    np.testing.assert_allclose(b.state["ema"], [0.0, 1.0])
    with pytest.raises(ValueError):
        EmaSmoother(0.0)


def test_smooth_batch_skips_absent_frames_and_none_is_identity():
    probs = np.array([[[1, 0], [0, 1], [0, 1]]], np.float32)
    present = np.array([[True, False, True]])
    out = smooth_batch(EmaSmoother(0.5), probs, present)
    assert np.isnan(out[0, 1]).all()
    np.testing.assert_allclose(out[0, 2], [0.5, 0.5])  # one update, not two
    np.testing.assert_allclose(smooth_batch(NoSmoothing(), probs)[0], probs[0])
    with pytest.raises(ValueError, match="unknown temporal"):
        create_temporal("kalman")


# --- the stream ------------------------------------------------------------------------------

class MovingDetector:
    """One 60-px face moving 4 px per call; counts calls."""
    name = "moving"

    def __init__(self):
        self.calls = 0

    def detect(self, image):
        x = 20.0 + 4 * self.calls
        self.calls += 1
        return [Detection((x, 30.0, x + 60, 90.0), 0.9)]


def frames(n, size=(160, 200)):
    rng = np.random.default_rng(0)
    return ((i, i / 30, rng.integers(0, 255, (*size, 3), dtype=np.uint8)) for i in range(n))


@pytest.fixture(scope="module")
def rec():
    return Recognizer(detector=MovingDetector())


def test_detect_every_k_runs_the_detector_on_every_kth_frame_and_classifies_between(rec):
    rec.detector.calls = 0
    results = list(rec.stream(frames(10), detect_every=4, temporal="ema"))
    assert rec.detector.calls == 3  # frames 0, 4, 8
    assert all(len(r.faces) == 1 and r.faces[0].track_id == 1 for r in results)
    assert ["detect" in r.timings_ms for r in results] == [i % 4 == 0 for i in range(10)]
    predicted = results[1].faces[0].box  # velocity known only after two detections
    assert predicted == results[0].faces[0].box
    assert results[6].faces[0].box[0] > results[4].faces[0].box[0]  # coasting moves the box
    for r in results:
        assert abs(float(r.faces[0].probs.sum()) - 1) < 1e-5


def test_stream_ema_changes_probabilities_and_keeps_state_on_the_track(rec):
    tracker = Tracker()
    rec.detector.calls = 0
    raw = [r.faces[0].probs for r in rec.stream(frames(4), tracker=Tracker())]
    rec.detector.calls = 0
    smooth = [r.faces[0].probs for r in rec.stream(frames(4), tracker=tracker,
                                                   temporal=EmaSmoother(0.5))]
    np.testing.assert_allclose(smooth[0], raw[0], atol=1e-6)
    np.testing.assert_allclose(smooth[1], 0.5 * raw[1] + 0.5 * raw[0], atol=1e-5)
    assert tracker.tracks[0].state["ema"].shape == (7,)
    with pytest.raises(ValueError, match="detect_every"):
        next(rec.stream(frames(1), detect_every=0))


# --- live sources ----------------------------------------------------------------------------

class FakeCamera:
    """A live source producing ``n`` frames at ``fps`` whether or not anyone reads them."""
    live = True

    def __init__(self, n, fps):
        self.n, self.period, self.closed = n, 1.0 / fps, False

    def __iter__(self):
        for i in range(self.n):
            time.sleep(self.period)
            yield i, i * self.period, np.full((4, 4, 3), i % 256, np.uint8)

    def close(self):
        self.closed = True


def test_live_source_drops_frames_instead_of_lagging():
    grab = LatestFrames(FakeCamera(60, 200))
    seen = []
    for index, _, _ in grab:
        seen.append(index)
        time.sleep(0.02)  # a consumer 4x slower than the camera
    assert seen == sorted(seen) and seen[-1] == 59  # ends on the camera's latest frame
    assert grab.dropped > 20 and grab.dropped + grab.delivered == 60


def test_files_are_never_dropped_and_early_stop_ends_the_grabber():
    cam = FakeCamera(30, 1000)
    cam.live = False
    grab = LatestFrames(cam)
    assert [i for i, _, _ in grab] == list(range(30)) and grab.dropped == 0
    live = LatestFrames(FakeCamera(10_000, 1000))
    for n, _ in enumerate(live):
        if n == 3:
            break
    live_threads = [t for t in threading.enumerate() if t.name == "litefer-grabber"]
    assert not live_threads and live.source.closed


# --- timelines -------------------------------------------------------------------------------

def test_timeline_buffer_memory_is_bounded_and_means_are_kept():
    buf = TimelineBuffer(2, capacity=8)
    for t in range(100):
        buf.add(float(t), [t / 100, 1 - t / 100])
    times, probs = buf.points()
    assert len(times) <= 8 and buf.frames == 100
    np.testing.assert_allclose(probs[:, 0] * 100, times)  # each point: mean of its frames
    np.testing.assert_allclose(probs.sum(1), 1.0)
    assert np.all(np.diff(times) > 0) and times[0] > 0 and times[-1] > 90


@pytest.mark.skipif(not matplotlib_available(), reason="matplotlib not installed")
def test_timeline_writer_draws_ended_tracks(tmp_path, rec):
    writer = TimelineWriter(tmp_path, "clip", rec.spec.labels, min_frames=3)
    tracker = Tracker()
    for res in rec.stream(frames(6), tracker=tracker):
        writer.add(res, [t.id for t in tracker.tracks])
    assert writer.written == []  # track 1 is still alive
    writer.add(type(res)("x", time_s=1.0), [])  # it ends
    assert [p.name for p in writer.written] == ["clip.track1.png"]
    assert cv2.imread(str(writer.written[0])) is not None


# --- CLI -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def face_video(tmp_path_factory) -> Path:
    face = cv2.resize(cv2.imread(str(ASSETS / "astronaut.png")), (200, 200))
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (480, 360))
    for i in range(16):
        frame = np.full((360, 480, 3), 90, np.uint8)
        frame[80:280, 60 + 6 * i:260 + 6 * i] = face
        writer.write(frame)
    writer.release()
    return path


def test_analyze_video_with_temporal_and_detect_every_writes_timelines(face_video, tmp_path,
                                                                        capsys):
    out = tmp_path / "out"
    assert main(["analyze", str(face_video), "--temporal", "ema", "--detect-every", "3",
                 "--out", str(out)]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(recs) == 16 and all(len(r["faces"]) == 1 for r in recs)
    assert {r["faces"][0]["track_id"] for r in recs} == {1}
    assert sum("detect" in r["timings_ms"] for r in recs) == 6
    if matplotlib_available():
        assert (out / "clip.track1.png").is_file()


def test_a_truncated_video_ends_with_a_full_error_record_at_the_first_frame_not_read(
        face_video, tmp_path, capsys):
    cut = tmp_path / "cut.avi"
    data = face_video.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert main(["analyze", str(cut)]) == 1
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    *frames, end = recs
    assert 0 < len(frames) < 16 and all(r["error"] is None for r in frames)
    assert [r["frame"] for r in frames] == list(range(len(frames)))
    assert set(end) == set(frames[-1]) and "truncated" in end["error"]
    assert end["frame"] == len(frames) and end["faces"] == [] and end["timings_ms"] == {}
    assert (end["width"], end["height"]) == (480, 360)
    assert end["time"] == pytest.approx(frames[-1]["time"] + 1 / 12.0)


def test_skipped_detection_frames_go_through_recognizer_classify(rec, monkeypatch):
    calls = []
    classify = Recognizer.classify
    monkeypatch.setattr(Recognizer, "classify",
                        lambda self, *a, **k: calls.append(len(a[1])) or classify(self, *a, **k))
    rec.detector.calls = 0
    results = list(rec.stream(frames(6), detect_every=3))
    assert calls == [1, 1, 1, 1]  # frames 1, 2, 4, 5: the tracked face at its predicted box
    assert [r.faces[0].track_id for r in results] == [1] * 6
    assert ["predict" in r.timings_ms for r in results] == [i % 3 != 0 for i in range(6)]


def test_analyze_gru_uses_the_shipped_step_model_and_names_unknown_ones(face_video, capsys):
    assert main(["analyze", str(face_video), "--temporal", "gru", "--max-frames", "4"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    probs = [f["probs"] for r in recs for f in r["faces"]]
    assert len(recs) == 4 and probs and all(abs(sum(p.values()) - 1) < 1e-3 for p in probs)
    assert main(["analyze", str(face_video), "--temporal", "gru", "--temporal-model",
                 "temporal_gru.nope"]) == 2
    assert "temporal_gru.fer2013" in capsys.readouterr().err

class PacedCamera:
    """Camera 0 for the CLI: the test video looped at 200 FPS in real time, queued like a
    driver's buffer (read without dropping, the output would lag: frames 0, 1, 2, ...)."""
    live, fps, frame_count, error, video = True, 200.0, None, None, None

    def __init__(self, source, **_):
        cap = cv2.VideoCapture(str(self.video))
        self.frames = [cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB) for _ in range(16)]
        cap.release()
        self.closed = False

    def __iter__(self):  # every frame the clock has produced, in order, as a driver queue
        start, i = time.monotonic(), 0
        while not self.closed:
            if i > (time.monotonic() - start) * self.fps:
                time.sleep(1 / self.fps)
                continue
            yield i, i / self.fps, self.frames[i % 16]
            i += 1

    def close(self):
        self.closed = True


def test_camera_runs_live_dropping_frames_and_stops_its_grabber(face_video, monkeypatch, capsys):
    import litefer.io as lio

    import litefer.pipeline as lpipe

    monkeypatch.setattr(PacedCamera, "video", face_video)
    monkeypatch.setattr(lio, "FrameStream", PacedCamera)
    detect = lpipe.Recognizer.detect

    def slow_detect(self, image):  # 40 ms a detection: slower than the 200 FPS camera on any CPU
        time.sleep(0.04)
        return detect(self, image)

    monkeypatch.setattr(lpipe.Recognizer, "detect", slow_detect)
    assert main(["analyze", "0", "--max-frames", "6", "--detect-every", "2"]) == 0
    out = capsys.readouterr()
    recs = [json.loads(line) for line in out.out.splitlines()]
    frames = [r["frame"] for r in recs]
    assert len(recs) == 6 and frames == sorted(frames) and frames[-1] > 5  # frames were skipped
    assert all(r["error"] is None and len(r["faces"]) == 1 for r in recs)
    assert "dropped to keep up with the live source" in out.err
    assert not [t for t in threading.enumerate() if t.name == "litefer-grabber"]


def test_bench_video_reports_fps_per_run(capsys):
    assert main(["bench", "--video", "--json", "--frames", "4", "--faces", "1",
                 "--detect-every", "1", "2", "--threads", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(r["faces"], r["detect_every"]) for r in result["runs"]] == [(1, 1), (1, 2)]
    for r in result["runs"]:
        assert r["fps"] > 0 and r["frames"] == 4 and r["faces_per_frame"] == 1.0
        assert r["target_fps"] == 60.0 and isinstance(r["meets_target"], bool)
    assert result["cpu_count"] >= 1 and result["cpu_model"]  # which machine measured it
