"""Cross-data-set evaluation: muxspace and CK+48 loaders, the prior correction shared by the
runtime and `litefer eval`, balanced accuracy, and the model table."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from litefer.crossdata import load_ckplus_cross, open_eval_set
from litefer.data import load_muxspace
from litefer.data.muxspace import read_manifest
from litefer.errors import DatasetError, LiteferError
from litefer.evaluate import effective_spec, evaluate, score, true_indices
from litefer.labels import (CKPLUS48_TO_FER2013, FER2013, FER2013_TRAINING_COUNTS,
                            MUXSPACE_BALANCED)
from litefer.metrics import proba_from_output, softmax
from litefer.spec import ModelSpec

HEADER = "path,label,subject,split,width,height\n"


def _face(value: int, size=(96, 96)) -> np.ndarray:
    img = np.full(size, value, np.uint8)
    img[size[0] // 3, :] = 255 - value  # not flat, so resizing is visible
    return img


def _muxspace(tmp_path, rows):
    """rows: (label, subject, split, grey value) -> folder with images/ and manifest.csv."""
    (tmp_path / "images").mkdir()
    lines = [HEADER]
    for i, (label, subject, split, value) in enumerate(rows):
        cv2.imwrite(str(tmp_path / "images" / f"{subject}_{i}.png"), _face(value))
        lines.append(f"images/{subject}_{i}.png,{label},{subject},{split},96,96\n")
    (tmp_path / "manifest.csv").write_text("".join(lines))
    return tmp_path


ROWS = [("happy", "ann", "train", 10), ("neutral", "bob", "test", 20),
        ("surprise", "bob", "test", 30), ("contempt", "cat", "test", 40),
        ("disgust", "dan", "train", 50), ("sad", "eve", "test", 60)]


def test_muxspace_split_labels_subjects_and_left_out_contempt(tmp_path):
    root = _muxspace(tmp_path, ROWS)
    fs = load_muxspace(root, "test", size=(48, 48), grey=True)
    assert fs.images.shape == (3, 48, 48) and fs.images.dtype == np.uint8
    assert [FER2013.classes[i] for i in fs.labels] == ["neutral", "surprise", "sad"]
    assert list(fs.subjects) == ["bob", "bob", "eve"]
    assert fs.images[0, 0, 0] == 20 and fs.images[2, 0, 0] == 60
    assert len(fs.skipped) == 1 and "manifest.csv:5: label 'contempt'" in fs.skipped[0]
    train = load_muxspace(root, "train", size=(96, 96), grey=False)
    assert train.images.shape == (2, 96, 96, 3)
    assert [FER2013.classes[i] for i in train.labels] == ["happy", "disgust"]
    assert len(load_muxspace(root, None)) == 5
    with pytest.raises(DatasetError, match="split 'val'; splits: test, train"):
        load_muxspace(root, "val")
    es = open_eval_set(root)  # the evaluation default: test split, 96 x 96 RGB
    assert es.key == "muxspace:test" and es.faces.images.shape == (3, 96, 96, 3)
    assert es.balanced_over == MUXSPACE_BALANCED
    assert len(open_eval_set(root, "all").faces) == 5


@pytest.mark.parametrize("row, needle", [
    ("images/a.png,happy,ann,test,96,96,extra\n", "malformed row"),
    ("images/a.png,happy\n", "malformed row"),
    ("images/a.png,bored,ann,test,96,96\n", "unknown label 'bored'"),
    (",happy,ann,test,96,96\n", "malformed row"),
    ("../outside.png,happy,ann,test,96,96\n", "leaves"),
])
def test_a_malformed_manifest_row_names_its_line(tmp_path, row, needle):
    good = "images/a.png,happy,ann,test,96,96\n"
    (tmp_path / "manifest.csv").write_text(HEADER + good + good + row + good)
    with pytest.raises(DatasetError, match=needle) as err:
        read_manifest(tmp_path)
    assert "manifest.csv:4:" in str(err.value)


def test_manifest_header_and_missing_image_are_named(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,label,split\nimages/a.png,happy,test\n")
    with pytest.raises(DatasetError, match=r"manifest.csv: missing column\(s\) subject"):
        load_muxspace(tmp_path, "test")
    (tmp_path / "manifest.csv").write_text(HEADER + "images/gone.png,happy,ann,test,96,96\n")
    with pytest.raises(DatasetError, match=r"gone.png"):
        load_muxspace(tmp_path, "test")


def _ckplus(tmp_path):
    folders = {"anger": 2, "contempt": 3, "disgust": 1, "fear": 1, "happy": 2, "sadness": 2,
               "surprise": 1}
    for k, (folder, n) in enumerate(folders.items()):
        (tmp_path / folder).mkdir()
        for i in range(n):
            cv2.imwrite(str(tmp_path / folder / f"S{k:03d}_00{i}_0000000{i}.png"),
                        _face(10 * k, (48, 48)))
    return tmp_path


def test_ckplus_cross_maps_folders_explicitly_and_leaves_contempt_out(tmp_path):
    fs = load_ckplus_cross(_ckplus(tmp_path))
    assert len(fs) == 9 and fs.space is FER2013
    assert fs.class_counts() == {"angry": 2, "disgust": 1, "fear": 1, "happy": 2, "sad": 2,
                                 "surprise": 1, "neutral": 0}
    assert "3 contempt image(s) left out" in fs.skipped[-1]
    assert set(CKPLUS48_TO_FER2013.values()) == set(FER2013.classes) - {"neutral"}
    es = open_eval_set(tmp_path)
    assert es.key == "ckplus48" and es.balanced_over == tuple(CKPLUS48_TO_FER2013.values())


def test_a_neutral_answer_on_ckplus_counts_as_wrong(tmp_path):
    fs = load_ckplus_cross(_ckplus(tmp_path))
    y = true_indices(fs, FER2013.classes)
    probs = np.eye(7)[y] * 0.4 + 0.01  # right class 0.41
    probs[:3, 6] = 0.9  # neutral wins for the first three faces
    rep = score(probs, y, FER2013.classes, tuple(CKPLUS48_TO_FER2013.values()))
    assert rep["accuracy"] == pytest.approx(6 / 9)
    assert rep["predicted"]["neutral"] == pytest.approx(3 / 9)
    assert "neutral" not in rep["recall"] and rep["recall"]["angry"] == 0.0


def _linear_onnx(path, spec: ModelSpec, seed=0):
    """A Flatten + Gemm classifier over 48x48 grey input with ``spec`` in its metadata."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(0, 0.05, (2304, 7)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(0, 1, 7).astype(np.float32), "b")
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 1, 48, 48])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 7])
    graph = helper.make_graph([helper.make_node("Flatten", ["input"], ["f"]),
                               helper.make_node("Gemm", ["f", "w", "b"], ["logits"])],
                              "g", [x], [y], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, spec.to_metadata())
    onnx.save(model, str(path))
    return path


def test_runtime_and_eval_apply_the_same_prior_rule(tmp_path):
    from litefer.runtime import Classifier

    from helpers import synthetic_faces

    prior = tuple(float(c) for c in FER2013_TRAINING_COUNTS)
    spec = ModelSpec(name="lin.t", arch="lin", labels=FER2013.classes, temperature=0.8,
                     prior=prior, prior_tau=1.0)
    path = _linear_onnx(tmp_path / "lin.onnx", spec)
    fs = synthetic_faces(70)
    clf = Classifier(path)
    runtime = clf.predict_proba(fs.images)
    raw = clf.run(np.stack([(im[None] / 255.0 - 0.5) / 0.5 for im in fs.images]).astype(np.float32))
    by_hand = softmax((raw - np.log(np.array(prior) / sum(prior))) / 0.8)
    np.testing.assert_allclose(runtime, by_hand, atol=1e-5)
    uncorrected = softmax(raw / 0.8)
    # the temperature calibrates and never decides: any T gives the corrected argmax
    hot = Classifier(path)
    hot.spec = hot.spec.with_(temperature=5.0)
    np.testing.assert_array_equal(hot.predict_proba(fs.images).argmax(1), runtime.argmax(1))
    assert (runtime.argmax(1) != uncorrected.argmax(1)).any()  # the correction matters here
    rep = evaluate(path, fs)
    assert rep["prior_tau"] == 1.0
    assert rep["accuracy"] == pytest.approx(float((runtime.argmax(1) == fs.labels).mean()))
    zero = evaluate(path, fs, prior_tau=0.0)
    assert zero["accuracy"] == pytest.approx(float((uncorrected.argmax(1) == fs.labels).mean()))
    flip = clf.predict_proba(fs.images, tta=True)
    assert evaluate(path, fs, tta=True)["accuracy"] == pytest.approx(
        float((flip.argmax(1) == fs.labels).mean()))


def test_eval_override_needs_a_prior_that_fits():
    spec = ModelSpec(name="m", arch="m", labels=("a", "b"))
    with pytest.raises(LiteferError, match="stores no label prior"):
        effective_spec(spec, 1.0)
    assert effective_spec(spec, 1.0, "1,3").prior == (1.0, 3.0)
    with pytest.raises(LiteferError, match="2 positive values"):
        effective_spec(spec, 1.0, "1,2,3")
    fer = ModelSpec(name="f", arch="f", labels=FER2013.classes)
    assert effective_spec(fer, 0.5).prior == tuple(float(c) for c in FER2013_TRAINING_COUNTS)


def test_set_prior_rewrites_only_the_spec(tmp_path):
    pytest.importorskip("onnx")
    from litefer.optimize.prior import set_prior
    from litefer.runtime import Classifier

    spec = ModelSpec(name="lin.t", arch="lin", labels=FER2013.classes)
    src = _linear_onnx(tmp_path / "lin.onnx", spec)
    new = set_prior(src, 1.0, "fer2013", tmp_path / "out" / "lin.onnx")
    counts = np.array(FER2013_TRAINING_COUNTS, float)
    np.testing.assert_allclose(new.prior, counts / counts.sum())
    old, adjusted = Classifier(src), Classifier(tmp_path / "out" / "lin.onnx")
    assert old.spec.prior_tau == 0.0 and adjusted.spec == new
    crops = np.random.default_rng(1).integers(0, 256, (5, 48, 48), np.uint8)
    np.testing.assert_allclose(adjusted.predict_proba(crops),
                               proba_from_output(old.run(_x(crops)), new), atol=1e-6)
    with pytest.raises(LiteferError, match="values"):
        set_prior(src, 1.0, "1,2")


def _x(crops):
    return ((crops[:, None] / 255.0 - 0.5) / 0.5).astype(np.float32)


def test_eval_imports_no_torch():
    code = ("import sys, litefer.crossdata, litefer.evaluate, litefer.evaltable, "
            "litefer.evalpipeline, litefer.commands.evaluate\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_table_writer_replaces_between_markers(tmp_path):
    from litefer.evaltable import write_between_markers

    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- crossdata:start -->\nold\n<!-- crossdata:end -->\nrest\n")
    write_between_markers(readme, "| new |\n")
    assert readme.read_text() == ("intro\n<!-- crossdata:start -->\n| new |\n"
                                  "<!-- crossdata:end -->\nrest\n")
    (tmp_path / "plain.md").write_text("no markers\n")
    with pytest.raises(LiteferError, match="crossdata:start"):
        write_between_markers(tmp_path / "plain.md", "x")


def test_table_on_synthetic_sets_with_a_missing_one_and_the_pipeline(tmp_path):
    from litefer.evaltable import CKPLUS, MUXSPACE, PUBLIC, build_table, render

    root = tmp_path / "data"
    (root / "ckplus48").mkdir(parents=True)
    _ckplus(root / "ckplus48")
    (root / "muxspace").mkdir()
    _muxspace(root / "muxspace", ROWS + [
        (lab, "fay", "test", 70) for lab in ("angry", "disgust", "happy")])
    model = _linear_onnx(tmp_path / "lin.onnx", ModelSpec(name="lin.t", arch="lin",
                                                          labels=FER2013.classes))
    table = build_table([model], root, taus=(None, 1.0), prior="fer2013", pipeline=True,
                        detector="none", show_progress=False)
    assert set(table["sets"]) == {CKPLUS, MUXSPACE} and PUBLIC in table["skipped"]
    assert "fer2013.csv" in table["skipped"][PUBLIC]
    plain, adjusted = table["rows"]
    assert plain["prior_tau"] == 0.0 and adjusted["prior_tau"] == 1.0
    assert plain["selection_score"] is None  # PublicTest missing: no score
    es = open_eval_set(root / "muxspace")
    rep = evaluate(model, es.faces, balanced_over=es.balanced_over)
    assert plain["metrics"][MUXSPACE]["balanced_accuracy"] == pytest.approx(
        rep["balanced_accuracy"])
    pipe = table["pipeline"]
    assert pipe["detection_rate"] == {CKPLUS: 1.0, MUXSPACE: 1.0}
    assert len(pipe["rows"]) == 2
    text = render(table, markdown=True)
    assert "| lin |" in text and "fer2013:PublicTest: skipped" in text
    json.dumps(table)


@pytest.mark.data
def test_shared_ckplus48_cross_set_has_927_faces_in_six_classes(data_dir):
    if not (data_dir / "ckplus48").is_dir():
        pytest.skip("ckplus48 not in the shared data")
    fs = load_ckplus_cross(data_dir / "ckplus48")
    assert fs.class_counts() == {"angry": 135, "disgust": 177, "fear": 75, "happy": 207,
                                 "sad": 84, "surprise": 249, "neutral": 0}
    assert fs.skipped[-1].startswith("54 contempt")


@pytest.mark.data
def test_shared_muxspace_test_split_matches_its_readme(data_dir):
    if not (data_dir / "muxspace" / "manifest.csv").is_file():
        pytest.skip("muxspace not in the shared data")
    fs = load_muxspace(data_dir / "muxspace", "test", size=(48, 48), grey=True)
    assert fs.class_counts() == {"angry": 50, "disgust": 19, "fear": 4, "happy": 1138,
                                 "sad": 53, "surprise": 73, "neutral": 1372}
    assert len(fs.skipped) == 1 and "'contempt'" in fs.skipped[0]
    train_items, _ = read_manifest(data_dir / "muxspace", "train")
    assert not {i.subject for i in train_items} & set(fs.subjects)


@pytest.mark.data
def test_fer2013_training_counts_match_the_csv(fer_csv):
    import csv
    import gzip

    counts = [0] * 7
    with gzip.open(fer_csv, "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Usage"] == "Training":
                counts[int(row["emotion"])] += 1
    assert tuple(counts) == FER2013_TRAINING_COUNTS


def test_export_fits_the_temperature_on_the_prior_corrected_logits(monkeypatch):
    pytest.importorskip("torch")
    import litefer.train.loop as loop
    from litefer.calibrate import fit_temperature
    from litefer.commands.export import _calibrate
    from litefer.metrics import adjust_logits

    from helpers import synthetic_faces

    fs = synthetic_faces(140)
    rng = np.random.default_rng(0)
    raw = 3.0 * np.eye(7)[fs.labels] + rng.normal(0, 2.0, (len(fs), 7))  # an over-confident net
    monkeypatch.setattr(loop, "predict_logits", lambda model, x, spec: raw.astype(np.float32))
    prior = tuple(float(c) for c in FER2013_TRAINING_COUNTS)
    spec = ModelSpec(name="m.t", arch="m", labels=FER2013.classes, prior=prior, prior_tau=-1.0)
    calibrated, report = _calibrate(None, spec, {"val": fs, "test": fs, "val_name": "PublicTest"})
    want = fit_temperature(adjust_logits(raw, prior, -1.0), fs.labels)
    assert 0.1 < want < 19 and calibrated.temperature == pytest.approx(want)
    assert calibrated.temperature != pytest.approx(fit_temperature(raw, fs.labels), rel=1e-2)
    assert report["nll_after"] < report["nll_before"]


def _selection_sets(rng):
    """The three SELECTION sets as small synthetic EvalSets in the FER2013 label space."""
    from litefer.crossdata import EvalSet
    from litefer.data import FaceSet
    from litefer.evaltable import CKPLUS, MUXSPACE, PUBLIC
    from litefer.labels import FER2013

    def es(key, n, over):
        labels = rng.integers(0, 7, n).astype(np.int64)
        labels[:7] = np.arange(7)  # every class present
        return EvalSet(key, FaceSet(np.zeros((n, 4, 4), np.uint8), labels, FER2013), over, key)

    return {PUBLIC: es(PUBLIC, 60, FER2013.classes), CKPLUS: es(CKPLUS, 40, FER2013.classes[:6]),
            MUXSPACE: es(MUXSPACE, 50, ("angry", "disgust", "happy", "sad", "surprise",
                                        "neutral"))}


def test_score_difference_point_matches_the_table_and_the_interval_is_paired():
    from litefer.evaltable import SELECTION, score_difference
    from litefer.labels import FER2013
    from litefer.metrics import balanced_accuracy

    rng = np.random.default_rng(3)
    sets = _selection_sets(rng)
    truth = {k: es.faces.labels for k, es in sets.items()}
    noisy = {k: np.where(rng.random(len(y)) < 0.6, y, rng.integers(0, 7, len(y)))
             for k, y in truth.items()}
    out = score_difference(noisy, truth, sets, FER2013.classes, n_boot=300, seed=1)
    by_hand = []
    for key, metric in SELECTION:
        y, p = truth[key], noisy[key]
        by_hand.append(float((p == y).mean()) if metric == "accuracy" else balanced_accuracy(
            y, p, [FER2013.classes.index(c) for c in sets[key].balanced_over]))
    assert out["b"] == pytest.approx(1.0)
    assert out["a"] == pytest.approx(np.mean(by_hand))
    assert out["difference"] == pytest.approx(out["a"] - 1.0)
    assert out["low"] <= out["difference"] <= out["high"] < 0
    assert out["p_a_not_better"] == 1.0
    same = score_difference(noisy, noisy, sets, FER2013.classes, n_boot=300)
    assert same["difference"] == same["low"] == same["high"] == 0.0  # paired: one draw for both
    assert same["p_a_not_better"] == 1.0
    again = score_difference(noisy, truth, sets, FER2013.classes, n_boot=300, seed=1)
    assert again == out  # seeded


def test_ensemble_budget_selects_the_best_subset_within_the_member_limit():
    """scripts/ensemble_budget.py --max-members: the selection is the first of the sorted rows
    with at most N members (None: the first row), and None when no row qualifies."""
    from helpers import load_script

    eb = load_script("ensemble_budget")
    rows = [{"members": ["a", "b", "c"], "score": 0.70}, {"members": ["a", "b"], "score": 0.69},
            {"members": ["c"], "score": 0.66}]
    assert eb.first_within(rows, "members", None) is rows[0]
    assert eb.first_within(rows, "members", 3) is rows[0]
    assert eb.first_within(rows, "members", 2) is rows[1]
    assert eb.first_within(rows, "members", 1) is rows[2]
    assert eb.first_within(rows, "members", 0) is None
    assert eb.first_within([], "members", None) is None
    # --list-within lists exactly the rows the selection may pick, in their order
    assert eb.rows_within(rows, "members", 2) == rows[1:]
    assert eb.rows_within(rows, "members", None) == rows
    assert eb.rows_within(rows, "members", 0) == []


def test_ensemble_budget_scores_a_logit_adjusted_network_as_its_output_ensemble_would(tmp_path):
    """crossdata_subsets scores raw outputs, as `litefer average --ensemble` averages them: a
    network whose spec records a logit-adjusted training loss gets the same rows as the same
    graph without that record, and the table's numbers for it."""
    pytest.importorskip("torch")
    from helpers import load_script
    from litefer.evaltable import CKPLUS, MUXSPACE, build_table

    eb = load_script("ensemble_budget")
    root = tmp_path / "data"
    (root / "ckplus48").mkdir(parents=True)
    _ckplus(root / "ckplus48")
    (root / "muxspace").mkdir()
    shared = ("angry", "disgust", "happy", "sad", "surprise", "neutral")
    _muxspace(root / "muxspace", [(shared[i % 6], f"p{i}", "test", 3 + 6 * i) for i in range(42)])
    prior = tuple(float(c) for c in FER2013_TRAINING_COUNTS)
    base = ModelSpec(name="lin.t", arch="lin", labels=FER2013.classes, prior=prior)
    plain = _linear_onnx(tmp_path / "plain.onnx", base)
    adjusted = _linear_onnx(tmp_path / "adjusted.onnx", base.with_(logit_adjust=1.0))
    got = {m: eb.crossdata_subsets([str(m)], str(root), 10**9, [0.0, 1.0])["rows"]
           for m in (plain, adjusted)}
    table = build_table([plain], root, taus=(0.0, 1.0), prior="spec", show_progress=False)
    by_tau = {r["prior_tau"]: r["metrics"][MUXSPACE]["recall"] for r in got[plain]}
    assert by_tau[0.0] != by_tau[1.0]  # the prior moves answers, so a shift would show
    for a, b in zip(got[plain], got[adjusted]):
        assert a["prior_tau"] == b["prior_tau"] and a["metrics"] == b["metrics"]
    for row in table["rows"]:
        mine = next(r for r in got[adjusted] if r["prior_tau"] == row["prior_tau"])
        for k in (CKPLUS, MUXSPACE):
            assert mine["metrics"][k]["accuracy"] == pytest.approx(row["metrics"][k]["accuracy"])
