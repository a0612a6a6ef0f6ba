"""Sequence data: CK+ and clip-folder loaders on synthetic fixtures, ProbSequences round trip,
synthetic camera clips, and the video metrics (flicker, clip accuracy) on hand-made sequences."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from litefer.data.sequences import (ProbSequences, load_ckplus_sequences, load_clip_folder,
                                    natural_key)
from litefer.errors import DatasetError
from litefer.labels import CKPLUS, FER2013
from litefer.video.clips import ClipConfig, make_clip, make_clips
from litefer.video.metrics import clip_report, flicker_per_100


def _png(path: Path, value: int, size=(49, 64)):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full(size, value, np.uint8))


@pytest.fixture()
def ckplus(tmp_path) -> Path:
    """Three sequences: S005/001 disgust (code 3), S010/002 surprise (7), S010/003 unlabelled."""
    for subject, seq, n in (("S005", "001", 3), ("S010", "002", 4), ("S010", "003", 2)):
        for f in range(1, n + 1):
            _png(tmp_path / "cohn-kanade-images" / subject / seq / f"{subject}_{seq}_{f:08d}.png",
                 20 * f)
    for subject, seq, code in (("S005", "001", 3), ("S010", "002", 7)):
        emo = tmp_path / "Emotion" / subject / seq / f"{subject}_{seq}_00000004_emotion.txt"
        emo.parent.mkdir(parents=True)
        emo.write_text(f"   {code:.7e}\n")
    (tmp_path / "cohn-kanade-images" / "S005" / "001" / ".DS_Store").write_bytes(b"x")
    return tmp_path


def test_ckplus_sequences_labels_subjects_and_frames(ckplus):
    seqs = load_ckplus_sequences(ckplus)
    assert len(seqs) == 2 and seqs.space is CKPLUS
    assert [CKPLUS.classes[i] for i in seqs.labels] == ["disgust", "surprise"]
    assert list(seqs.subjects) == ["S005", "S010"]
    assert [len(f) for f in seqs.frames] == [3, 4]
    assert any("unlabelled" in s for s in seqs.skipped)
    frames = seqs.load(1)
    assert frames.shape == (4, 49, 64) and list(frames[:, 0, 0]) == [20, 40, 60, 80]
    assert seqs.load(0, size=(48, 48), grey=False).shape == (3, 48, 48, 3)
    assert len(seqs.subset([1])) == 1


def test_ckplus_bad_emotion_file_and_missing_layout(ckplus, tmp_path_factory):
    bad = ckplus / "Emotion" / "S005" / "001" / "S005_001_00000004_emotion.txt"
    bad.write_text("0.0000000e+00\n")  # neutral is not a CK+ sequence label
    with pytest.raises(DatasetError, match="not one of 1..7"):
        load_ckplus_sequences(ckplus)
    assert len(load_ckplus_sequences(ckplus, on_error="skip")) == 1
    with pytest.raises(DatasetError, match="cohn-kanade-images"):
        load_ckplus_sequences(tmp_path_factory.mktemp("empty"))


def test_clip_folder_natural_frame_order_and_aliases(tmp_path):
    for f in (1, 2, 10):
        _png(tmp_path / "happy" / "clip_a" / f"{f}.png", f)
    _png(tmp_path / "anger" / "c1" / "000.png", 5)
    seqs = load_clip_folder(tmp_path)
    assert [FER2013.classes[i] for i in seqs.labels] == ["angry", "happy"]
    assert [p.name for p in seqs.frames[1]] == ["1.png", "2.png", "10.png"]
    assert list(seqs.load(1)[:, 0, 0]) == [1, 2, 10]
    (tmp_path / "bogus" / "c").mkdir(parents=True)
    with pytest.raises(DatasetError, match="unknown label"):
        load_clip_folder(tmp_path)
    assert len(load_clip_folder(tmp_path, on_error="skip")) == 2
    assert sorted(["f10", "f2"], key=lambda n: natural_key(Path(n))) == ["f2", "f10"]


def test_prob_sequences_round_trip(tmp_path):
    probs = np.full((2, 3, 7), 1 / 7, np.float32)
    present = np.array([[True, False, True], [True, True, True]])
    probs[0, 1] = np.nan
    seqs = ProbSequences(probs, present, np.array([3, 6]), FER2013.classes, {"split": "x"})
    back = ProbSequences.load(seqs.save(tmp_path / "s.npz"))
    np.testing.assert_array_equal(back.present, present)
    assert np.isnan(back.probs[0, 1]).all() and back.meta == {"split": "x"}
    assert back.classes == FER2013.classes and back.subset([1]).labels.tolist() == [6]
    with pytest.raises(ValueError, match="inconsistent"):
        ProbSequences(probs, present[:, :2], np.array([3, 6]), FER2013.classes)
    with pytest.raises(DatasetError, match="make_clips"):
        ProbSequences.load(tmp_path / "missing.npz")


def test_synthetic_clips_are_deterministic_perturbed_and_drop_detections():
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 255, (6, 48, 48), dtype=np.uint8)
    cfg = ClipConfig(length=20, drop_prob=0.3)
    frames, present = make_clips(faces, cfg, seed=4)
    again, _ = make_clips(faces[3:], cfg, seed=4, start=3)  # chunked == whole
    assert frames.shape == (6, 20, 48, 48) and present.shape == (6, 20)
    np.testing.assert_array_equal(frames[3:], again)
    assert present[:, 0].all() and not present.all()
    assert not np.array_equal(frames[0, 0], frames[0, 1])  # the camera moves
    assert np.abs(frames[0].astype(int) - faces[0]).mean() < 80  # still the same face
    still, pres = make_clip(faces[0], ClipConfig(length=3, shift=0, jitter=0, scale=0,
                                                 rotation=0, blur_prob=0, noise=0, brightness=0,
                                                 occlusion_prob=0, drop_prob=0),
                            np.random.default_rng(0))
    assert pres.all() and np.abs(still.astype(int) - faces[0]).max() <= 1


def test_flicker_counts_changes_per_100_transitions():
    assert flicker_per_100([[1, 1, 1, 1]]) == 0.0
    assert flicker_per_100([[1, 2, 1, 2, 1]]) == 100.0
    assert flicker_per_100([[0, 0, 1], [2]]) == 50.0  # 1 change / 2 transitions; [2] has none
    assert flicker_per_100([]) == 0.0


def test_clip_report_on_hand_made_sequences():
    eye = np.eye(3, dtype=np.float32)
    probs = np.stack([eye[[0, 0, 1, 0]], eye[[2, 2, 2, 1]]])  # labels 0 and 2
    present = np.array([[True, True, True, True], [True, True, True, False]])
    probs[1, 3] = np.nan
    rep = clip_report(probs, present, np.array([0, 2]))
    assert rep["frames"] == 7 and rep["frame_accuracy"] == pytest.approx(6 / 7)
    assert rep["clip_accuracy_vote"] == 1.0 and rep["clip_accuracy_last"] == 1.0
    assert rep["flicker_per_100"] == pytest.approx(100 * 2 / 5)


def _script(name, folder="scripts"):
    from helpers import load_script

    return load_script(name, folder)


def test_make_clips_png_layout_loads_back(tmp_path):
    mod = _script("make_clips")
    faces = np.random.default_rng(0).integers(0, 255, (3, 48, 48), dtype=np.uint8)
    n = mod.write_png(tmp_path, faces, np.array([3, 3, 0]), FER2013.classes,
                      ClipConfig(length=5), seed=0)
    seqs = load_clip_folder(tmp_path)
    assert n == 3 and len(seqs) == 3 and sorted(seqs.labels.tolist()) == [0, 3, 3]
    assert all(1 <= len(f) <= 5 for f in seqs.frames)


def test_video_robustness_reports_every_temporal_model(tmp_path, capsys):
    mod = _script("video_robustness", "benchmarks")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 40)
    logits = rng.normal(0, 1, (40, 16, 7))
    logits[np.arange(40), :, labels] += 1.5
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    ProbSequences(probs.astype(np.float32), np.ones((40, 16), bool), labels, FER2013.classes,
                  {"split": "PrivateTest"}).save(tmp_path / "p.npz")
    assert mod.main(["--clips", str(tmp_path / "p.npz"), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr()
    assert "not the CK+ sequence protocol" in out.err
    import json

    report = json.loads((tmp_path / "r.json").read_text())["report"]
    assert set(report) == {"none", "ema"}
    assert report["ema"]["flicker_per_100"] < report["none"]["flicker_per_100"]
    assert report["ema"]["flicker_reduction"] > 1
