"""Subject-independent cross-validation: folds by subject, reports, resume, weight transfer."""
import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="cross-validation tests need litefer[train] (torch)")

from litefer.cli import main  # noqa: E402
from litefer.data import FaceSet, load_ckplus48  # noqa: E402
from litefer.errors import DatasetError, LiteferError  # noqa: E402
from litefer.labels import CKPLUS  # noqa: E402
from litefer.models import create_model  # noqa: E402
from litefer.train import cv as cvmod  # noqa: E402
from litefer.train import loop  # noqa: E402
from litefer.train.config import TrainConfig  # noqa: E402
from litefer.train.cv import CVConfig, group_kfold, run_cv  # noqa: E402
from litefer.train.transfer import classifier_prefix, load_backbone  # noqa: E402

from helpers import synthetic_faces  # noqa: E402


def _subject_set(n_subjects=12, per_subject=7, seed=0) -> FaceSet:
    fs = synthetic_faces(n_subjects * per_subject, seed)
    subjects = np.array([f"S{i // per_subject:03d}" for i in range(len(fs))], dtype=object)
    return FaceSet(fs.images, fs.labels, CKPLUS, subjects, fs.sources)


def _check_folds(folds, subjects, k):
    assert folds.shape == subjects.shape and set(folds.tolist()) == set(range(k))
    for s in set(subjects.tolist()):
        assert len(set(folds[subjects == s].tolist())) == 1, s  # never split across folds


@pytest.mark.parametrize("k", [2, 5, 10])
def test_folds_never_share_a_subject_and_cover_every_image_once(k, rng):
    subjects = rng.integers(0, 40, 500).astype(str)
    labels = rng.integers(0, 7, 500)
    folds = group_kfold(subjects, labels, k, seed=3)
    _check_folds(folds, subjects, k)
    sizes = np.bincount(folds, minlength=k)
    assert sizes.sum() == 500 and sizes.min() > 0


def test_folds_are_deterministic_for_a_seed_and_roughly_stratified(rng):
    subjects = np.repeat(np.arange(60), 8).astype(str)
    labels = rng.integers(0, 7, len(subjects))
    a = group_kfold(subjects, labels, 10, seed=1)
    assert np.array_equal(a, group_kfold(subjects, labels, 10, seed=1))
    share = np.array([np.bincount(labels[a == f], minlength=7) for f in range(10)])
    assert (np.abs(share - share.mean(0)) <= share.mean(0) * 0.6 + 3).all()


def test_missing_subjects_or_too_few_subjects_are_dataset_errors():
    with pytest.raises(DatasetError, match="subject id"):
        group_kfold(np.array(["S1", ""]), np.array([0, 1]), 2)
    with pytest.raises(DatasetError, match="folds <= 2"):
        group_kfold(np.array(["S1", "S2", "S2"]), np.array([0, 1, 2]), 3)


def _cfg(tmp_path=None, **kw):
    train = TrainConfig(epochs=1, batch_size=16, threads=1, lr=3e-3, warmup_epochs=0.5)
    return CVConfig(model="nano_b", folds=3, train=train, **kw)


@pytest.mark.parametrize("setting, flag", [({"logit_adjust": 1.0}, "--logit-adjust"),
                                           ({"extra_data": ("x:train",)}, "--extra-data"),
                                           ({"align_faces": "default"}, "--align-faces"),
                                           ({"teachers": ("t.onnx",), "distill": 0.5},
                                            "--teacher")])
def test_settings_the_fold_loop_does_not_implement_are_refused(setting, flag):
    train = TrainConfig(epochs=1, batch_size=16, threads=1, **setting)
    with pytest.raises(LiteferError, match=f"does not support {flag}"):
        CVConfig(model="nano_b", folds=3, train=train)


def test_run_cv_reports_every_fold_and_resumes_without_retraining(tmp_path, monkeypatch):
    fs = _subject_set()
    report = run_cv(_cfg(), fs, tmp_path)
    folds = report["folds"]
    assert len(folds) == 3 and sum(f["n"] for f in folds) == len(fs)
    subjects = [s for f in folds for s in f["subjects"]]
    assert sorted(subjects) == sorted(set(fs.subjects.tolist()))  # each subject tested once
    accs = [f["accuracy"] for f in folds]
    assert report["mean_accuracy"] == pytest.approx(np.mean(accs))
    assert report["std_accuracy"] == pytest.approx(np.std(accs, ddof=1))
    assert report["pooled"]["n"] == len(fs) and len(report["pooled"]["confusion_counts"]) == 7

    def boom(*a, **k):
        raise AssertionError("a finished fold was retrained")

    monkeypatch.setattr(cvmod, "run_fold", boom)
    again = run_cv(_cfg(), fs, tmp_path)
    assert again["mean_accuracy"] == report["mean_accuracy"]
    with pytest.raises(AssertionError, match="retrained"):  # other settings -> recomputed
        run_cv(_cfg(tta=True), fs, tmp_path)


def _write_ckplus(root, fs: FaceSet):
    for i, (img, y, s) in enumerate(zip(fs.images, fs.labels, fs.subjects)):
        d = root / CKPLUS.classes[y]
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{s}_{i:03d}_{i:08d}.png"), img)
    return root


def test_cli_cv_json_has_the_documented_keys_and_a_confusion_plot(tmp_path, capsys, monkeypatch):
    """Without --out the run is written under runs/cv/MODEL of the working directory."""
    data = _write_ckplus(tmp_path / "ck", _subject_set(9, 7))
    assert len(load_ckplus48(data)) == 63
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "cv" / "nano_b"
    code = main(["cv", "--model", "nano_b", "--data", str(data), "--folds", "3", "--epochs", "1",
                 "--threads", "1", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("mean_accuracy", "std_accuracy", "folds", "pooled", "init_from"):
        assert key in report
    assert all(set(f) >= {"accuracy", "n", "subjects"} for f in report["folds"])
    assert report["pooled"]["labels"][1] == "contempt"
    assert (out / "confusion.png").is_file() and (out / "cv.json").is_file()


def test_cli_cv_unknown_model_is_a_clean_error(tmp_path, capsys):
    assert main(["cv", "--model", "nope", "--data", str(tmp_path)]) == 2
    assert "nano_a" in capsys.readouterr().err


def _fer_trained(name):
    torch.manual_seed(1)
    model, spec = create_model(name)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics, as after training
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval(), spec


@pytest.mark.parametrize("name", ["nano_a", "mini_xception"])
@pytest.mark.parametrize("fmt", ["pt", "onnx"])
def test_init_from_copies_everything_but_the_classifier(tmp_path, name, fmt):
    src, spec = _fer_trained(name)
    if fmt == "pt":
        path = tmp_path / "best.pt"
        torch.save({"model": src.state_dict(), "spec": spec.to_json()}, path)
    else:
        from litefer.optimize.export import export_onnx

        path = export_onnx(src, spec, tmp_path / "m.onnx")
    ck_spec = spec.with_(labels=CKPLUS.classes)
    dst, _ = create_model(name, ck_spec)
    head = classifier_prefix(dst)
    before = {k: v.clone() for k, v in dst.state_dict().items() if k.startswith(head)}
    info = load_backbone(dst, ck_spec, path)
    assert info["loaded"] > 0 and all(s.startswith(head[:-1]) for s in info["skipped"])
    for k, v in before.items():
        assert torch.equal(dst.state_dict()[k], v)  # classifier left as initialised
    dst.load_state_dict({k: v for k, v in src.state_dict().items() if k.startswith(head)},
                        strict=False)
    x = torch.randn(3, 1, 48, 48)
    assert torch.allclose(src(x), dst.eval()(x), atol=1e-4)


def test_init_from_another_architecture_or_a_missing_file_is_refused(tmp_path):
    src, spec = _fer_trained("nano_b")
    torch.save({"model": src.state_dict(), "spec": spec.to_json()}, tmp_path / "b.pt")
    dst, dspec = create_model("nano_a")
    with pytest.raises(LiteferError, match="cannot initialise 'nano_a'"):
        load_backbone(dst, dspec, tmp_path / "b.pt")
    with pytest.raises(LiteferError, match="not found"):
        load_backbone(dst, dspec, tmp_path / "none.pt")


def test_cv_with_init_from_is_reported_separately(tmp_path):
    src, spec = _fer_trained("nano_b")
    torch.save({"model": src.state_dict(), "spec": spec.to_json()}, tmp_path / "fer.pt")
    report = run_cv(_cfg(init_from=str(tmp_path / "fer.pt")), _subject_set(), None)
    assert report["init_from"].endswith("fer.pt")
    assert all(f["init"]["loaded"] > 0 for f in report["folds"])


@pytest.mark.data
def test_real_ckplus_folds_are_subject_disjoint(data_dir):
    root = data_dir / "ckplus48"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    fs = load_ckplus48(root)
    folds = group_kfold(fs.subjects, fs.labels, 10)
    _check_folds(folds, fs.subjects, 10)
    assert len(fs) == 981 and len(set(fs.subjects.tolist())) == 118


def test_cli_class_weights_reach_the_recipe_and_its_fingerprint():
    from litefer.cli import build_parser
    from litefer.commands.cv import config_from_args

    parse = build_parser().parse_args
    plain = config_from_args(parse(["cv", "--model", "nano_b", "--data", "x"]))
    weighted = config_from_args(parse(["cv", "--model", "nano_b", "--data", "x",
                                       "--class-weights"]))
    assert (plain.train.class_weights, weighted.train.class_weights) == (False, True)
    # folds cached on disk by one recipe are never reused by the other
    assert plain.fingerprint() != weighted.fingerprint()


def _kd_cfg(teacher_dir, **kw):
    train = TrainConfig(epochs=1, batch_size=16, threads=1, lr=3e-3, warmup_epochs=0.5,
                        distill=0.5, distill_temperature=2.0, **kw)
    return CVConfig(model="nano_b", folds=3, train=train, teacher_cv=(str(teacher_dir),))


def test_saved_fold_models_reproduce_their_fold_and_teach_the_same_fold(tmp_path, monkeypatch):
    fs = _subject_set()
    teacher_dir = tmp_path / "teacher"
    report = run_cv(_cfg(), fs, teacher_dir, save_models=True)
    spec = cvmod.cv_spec("nano_b", fs)
    x = cvmod.faces_to_uint8(fs, spec)
    folds = group_kfold(fs.subjects, fs.labels, 3, 0)
    for f, row in enumerate(report["folds"]):
        t = cvmod.FoldTeacher([str(teacher_dir)], f, row["subjects"], fs, spec, tta=False)
        logits = cvmod.predict_logits(t.models[0], x[folds == f], spec)
        saved = json.loads((teacher_dir / "folds" / f"fold_{f:02d}.json").read_text())
        assert logits.argmax(1).tolist() == saved["y_pred"], f  # the weights that were tested

    calls = []
    real_call = cvmod.FoldTeacher.__call__

    def spy(self, xb):
        calls.append(self.sources[0])
        out = real_call(self, xb)
        assert out.shape == (len(xb), 7) and torch.allclose(out.exp().sum(1), torch.ones(len(xb)))
        return out

    monkeypatch.setattr(cvmod.FoldTeacher, "__call__", spy)
    student = run_cv(_kd_cfg(teacher_dir), fs, tmp_path / "student")
    assert [f["teacher"] for f in student["folds"]] == [
        [str(teacher_dir / "folds" / f"fold_{f:02d}.pt")] for f in range(3)]
    assert sorted(set(calls)) == [f["teacher"][0] for f in student["folds"]]  # every fold taught
    assert student["teacher_cv"] == [str(teacher_dir)]
    assert _kd_cfg(teacher_dir).fingerprint() != _cfg().fingerprint()


def test_a_teacher_from_other_folds_or_without_weights_is_refused(tmp_path):
    fs = _subject_set()
    other = tmp_path / "other_seed"
    run_cv(CVConfig(model="nano_b", folds=3, train=TrainConfig(
        epochs=1, batch_size=16, threads=1, seed=5)), fs, other, save_models=True)
    with pytest.raises(LiteferError, match="other subjects"):  # its training saw our test subjects
        run_cv(_kd_cfg(other, seed=0), fs, tmp_path / "s1")
    plain = tmp_path / "plain"
    run_cv(_cfg(), fs, plain)  # no --save-models: nothing to teach with
    with pytest.raises(LiteferError, match="save-models"):
        run_cv(_kd_cfg(plain), fs, tmp_path / "s2")


def test_cli_distill_options_need_a_teacher(tmp_path, capsys):
    assert main(["cv", "--model", "nano_b", "--data", str(tmp_path), "--distill", "0.5"]) == 2
    assert "--teacher-cv" in capsys.readouterr().err
    assert main(["cv", "--model", "nano_b", "--data", str(tmp_path),
                 "--teacher-cv", str(tmp_path / "none")]) == 2
    assert "save-models" in capsys.readouterr().err


def test_recorded_cv_settings_keep_their_fingerprints():
    """Settings added to TrainConfig / CVConfig after folds were cached (fold teachers, mixup, the
    teacher bank's fields) must not change the hash of folds computed without them, or a resumed
    run would recompute every fold. tests/data/cv_fingerprints.json holds the settings and fold
    fingerprint of five recorded CK+ runs (plain, fold teacher, mixup, weight average, teacher
    from another seed), copied from their cv.json / folds/fold_00.json."""
    from pathlib import Path

    records = json.loads((Path(__file__).parent / "data" / "cv_fingerprints.json").read_text())
    assert len(records) == 5
    for record in records:
        settings = record["settings"]
        cfg = CVConfig(**{**settings, "train": TrainConfig.from_dict(settings["train"])})
        assert cfg.fingerprint() == record["fingerprint"], record["run"]
    changed = CVConfig(**{**records[0]["settings"], "folds": 5,
                          "train": TrainConfig.from_dict(records[0]["settings"]["train"])})
    assert changed.fingerprint() != records[0]["fingerprint"]


def test_two_fold_teachers_average_their_log_probabilities(tmp_path):
    fs = _subject_set()
    a, b = tmp_path / "a", tmp_path / "b"
    run_cv(_cfg(), fs, a, save_models=True)
    row = run_cv(CVConfig(model="nano_b", folds=3, train=TrainConfig(
        epochs=2, batch_size=16, threads=1)), fs, b, save_models=True)["folds"][1]
    spec = cvmod.cv_spec("nano_b", fs)
    x = loop.batch_tensor(cvmod.faces_to_uint8(fs, spec)[:8], spec)
    one = [cvmod.FoldTeacher([str(d)], 1, row["subjects"], fs, spec, tta=True)(x) for d in (a, b)]
    both = cvmod.FoldTeacher([str(a), str(b)], 1, row["subjects"], fs, spec, tta=True)(x)
    assert not torch.allclose(one[0], one[1])
    torch.testing.assert_close(both, (one[0] + one[1]) / 2)


def test_cv_mixup_and_weight_average_reach_the_fold_recipe(tmp_path, monkeypatch):
    from litefer.cli import build_parser
    from litefer.commands.cv import config_from_args

    args = build_parser().parse_args(["cv", "--model", "nano_b", "--data", "x", "--mixup", "0.4",
                                      "--ema", "0.99"])
    cfg = config_from_args(args)
    assert (cfg.train.mixup, cfg.train.ema) == (0.4, 0.99)
    assert cfg.fingerprint() != config_from_args(build_parser().parse_args(
        ["cv", "--model", "nano_b", "--data", "x"])).fingerprint()

    averages, lams = [], []
    real_avg, real_mix = cvmod.WeightAverage, loop.mixup_batch

    def keep(model, decay):
        averages.append(real_avg(model, decay))
        return averages[-1]

    def mix(x, alpha, gen):
        out = real_mix(x, alpha, gen)
        lams.append(out[2])
        return out

    monkeypatch.setattr(cvmod, "WeightAverage", keep)
    monkeypatch.setattr(loop, "mixup_batch", mix)
    fs = _subject_set()
    spec = cvmod.cv_spec("nano_b", fs)
    torch.manual_seed(0)
    model, _ = create_model("nano_b", spec)
    x = cvmod.faces_to_uint8(fs, spec)
    train = TrainConfig(epochs=1, batch_size=16, threads=1, warmup_epochs=0.5, ema=0.9,
                        mixup=0.4)
    cvmod.fit_fixed_epochs(model, spec, x, fs.labels, train)
    assert len(averages) == 1 and averages[0].updates == len(lams) == 6  # 84 images / 16
    assert all(0.5 <= lam < 1.0 for lam in lams)
    for k, v in model.state_dict().items():  # the average is what gets tested
        torch.testing.assert_close(v, averages[0].module.state_dict()[k])
