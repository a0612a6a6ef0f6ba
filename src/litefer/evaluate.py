"""Evaluate a classifier on a labelled FaceSet (ONNX Runtime; a torch checkpoint when given .pt).

Scores go through litefer.metrics.proba_from_output, the rule the runtime Classifier applies
(the prior correction stored in the model spec or overridden here, then the temperature), and the
argmax runs over all of the model's outputs: a dataset class the model cannot output is an error,
a model class the dataset lacks (neutral on CK+) is simply a wrong answer.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .data import FaceSet
from .errors import DatasetError, LiteferError
from .labels import FER2013, FER2013_TRAINING_COUNTS
from .metrics import balanced_accuracy, classification_report, proba_from_output
from .preprocess import to_input
from .spec import ModelSpec


def model_outputs(clf, images, tta: bool | str | None = None, batch_size: int = 256
                  ) -> np.ndarray:
    """Raw outputs (N, K) float32 of a runtime Classifier on uint8 crops, in batches; tta
    ("flip"/True or "crops") averages them over views exactly as Classifier.predict_proba does
    (litefer.runtime.views)."""
    from .runtime.views import averaged_output

    chunks = []
    for i in range(0, len(images), batch_size):
        x = to_input(images[i:i + batch_size], clf.spec)
        chunks.append(averaged_output(clf.run, x, tta))
    k = len(clf.spec.labels)
    return np.concatenate(chunks) if chunks else np.zeros((0, k), np.float32)


def resolve_prior(spec: ModelSpec, prior: str = "spec") -> tuple[float, ...]:
    """The label prior to correct with: "spec" (the model's own, else FER2013 Training counts for
    a model with FER2013's labels, else none), "fer2013" (those counts) or comma-separated values
    in label order. Raises LiteferError for a prior that does not fit the model's labels."""
    if prior == "spec" and spec.prior:
        return spec.prior
    if prior in ("spec", "fer2013"):
        if spec.labels == FER2013.classes:
            return tuple(float(c) for c in FER2013_TRAINING_COUNTS)
        if prior == "spec":
            return ()
        raise LiteferError(f"the FER2013 prior needs FER2013's labels; {spec.name} has "
                           f"{', '.join(spec.labels)}; pass --prior v1,v2,... in its label order")
    try:
        values = tuple(float(v) for v in prior.split(","))
    except ValueError:
        raise LiteferError(f"prior must be 'spec', 'fer2013' or numbers, got {prior!r}") from None
    if len(values) != len(spec.labels) or min(values) <= 0:
        raise LiteferError(f"prior needs {len(spec.labels)} positive values "
                           f"({', '.join(spec.labels)}), got {prior!r}")
    return values


def effective_spec(spec: ModelSpec, tau: float | None = None, prior: str = "spec") -> ModelSpec:
    """``spec`` with the correction an evaluation applies: tau None keeps the model's own
    (prior_tau and prior); a value sets prior_tau to it and the prior to resolve_prior(prior)."""
    if tau is None:
        return spec
    chosen = resolve_prior(spec, prior)
    if tau != 0 and not chosen:
        raise LiteferError(f"{spec.name} stores no label prior; pass --prior fer2013 or values")
    return spec.with_(prior=chosen, prior_tau=float(tau))


def predict_faceset(model: str | Path | None, fs: FaceSet, tta: bool | str | None = None,
                    batch_size: int = 256, prior_tau: float | None = None, prior: str = "spec"
                    ) -> tuple[np.ndarray, tuple[str, ...], dict]:
    """-> (probabilities (N, K) float32, model labels, model info {name, params, path, prior,
    prior_tau, ms_per_face (ONNX models: preprocessing + inference wall time per face)}).
    prior_tau/prior: see effective_spec."""
    if model is not None and str(model).endswith(".pt"):
        out, spec, info = _checkpoint_outputs(Path(model), fs, tta, batch_size)
    else:
        from .runtime import Classifier

        clf = Classifier(model)
        t0 = time.perf_counter()
        out, spec = model_outputs(clf, fs.images, tta, batch_size), clf.spec
        info = {"name": spec.name, "params": spec.extra.get("params"), "path": str(clf.path),
                "ms_per_face": (time.perf_counter() - t0) * 1e3 / max(1, len(fs))}
    eff = effective_spec(spec, prior_tau, prior)
    info.update(prior=list(eff.prior) if eff.prior_tau else [], prior_tau=eff.prior_tau)
    return proba_from_output(out, eff), spec.labels, info


def _checkpoint_outputs(path: Path, fs: FaceSet, tta: bool | str | None, batch_size: int):
    from .models.layers import count_params
    from .train.checkpoint import load_checkpoint
    from .train.loop import faces_to_uint8, predict_logits

    model, spec, _ = load_checkpoint(path)
    logits = predict_logits(model, faces_to_uint8(fs, spec), spec, batch_size, tta=tta)
    return logits, spec.with_(output="logits"), {"name": spec.name,
                                                 "params": count_params(model), "path": str(path)}


def true_indices(fs: FaceSet, labels: tuple[str, ...]) -> np.ndarray:
    """The dataset's labels as indices into the model's ``labels`` (matched by class name);
    DatasetError naming the classes the model cannot output."""
    missing = [c for c, n in fs.class_counts().items() if n and c not in labels]
    if missing:
        raise DatasetError(f"the model's labels ({', '.join(labels)}) lack the dataset's "
                           f"{', '.join(missing)}; map the dataset first (litefer.crossdata)")
    return np.array([labels.index(fs.space.classes[i]) for i in fs.labels], np.int64)


def score(probs: np.ndarray, y_true: np.ndarray, labels: tuple[str, ...],
          balanced_over: tuple[str, ...] | None = None) -> dict:
    """classification_report plus ``balanced_accuracy`` (mean recall over ``balanced_over``,
    default every class present), ``recall`` per class present and ``predicted``: the share of
    answers per model label (argmax over all outputs)."""
    y_pred = probs.argmax(1)
    report = classification_report(y_true, y_pred, labels)
    present = [c for i, c in enumerate(labels) if (y_true == i).any()]
    over = tuple(balanced_over) if balanced_over else tuple(present)
    over = tuple(c for c in over if c in present)
    counts = np.bincount(y_pred, minlength=len(labels))
    report.update(
        balanced_accuracy=balanced_accuracy(y_true, y_pred, [labels.index(c) for c in over]),
        balanced_over=list(over),
        recall={c: report["per_class"][c]["recall"] for c in present},
        predicted={c: float(counts[i] / max(1, len(y_pred))) for i, c in enumerate(labels)},
    )
    return report


def evaluate(model: str | Path | None, fs: FaceSet, tta: bool | str | None = None,
             prior_tau: float | None = None, prior: str = "spec",
             balanced_over: tuple[str, ...] | None = None) -> dict:
    """Accuracy, balanced accuracy, macro-F1, per-class metrics, predicted-label shares and
    confusion matrix of ``model`` on ``fs`` (see score). Raises DatasetError when the model
    cannot output one of the dataset's classes."""
    from .runtime.views import tta_mode

    probs, labels, info = predict_faceset(model, fs, tta, prior_tau=prior_tau, prior=prior)
    report = score(probs, true_indices(fs, labels), labels, balanced_over)
    report.update(model=info["name"], params=info["params"], model_path=info["path"],
                  tta=tta_mode(tta) or False,
                  prior=info["prior"], prior_tau=info["prior_tau"],
                  ms_per_face=info.get("ms_per_face"))
    return report


def plot_confusion(report: dict, path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix heat map: rows are the true classes present, columns every
    model label. Needs matplotlib: MissingDependencyError names the extra to install."""
    try:
        import matplotlib
    except ImportError:
        from .errors import MissingDependencyError

        raise MissingDependencyError("the confusion-matrix PNG needs matplotlib: "
                                     "pip install 'litefer[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = report["labels"]
    counts = report.get("confusion_counts")
    support = np.array(counts).sum(1) if counts else np.ones(len(labels))
    rows = [i for i in range(len(labels)) if support[i] > 0] or list(range(len(labels)))
    cm = np.array(report["confusion_matrix"])[rows]
    fig, ax = plt.subplots(figsize=(6.4, 0.8 + 0.68 * len(rows)))
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    ax.set(xticks=range(len(labels)), yticks=range(len(rows)), xticklabels=labels,
           yticklabels=[labels[i] for i in rows], xlabel="predicted", ylabel="true",
           title=title or f"{report['model']}: accuracy {report['accuracy']:.4f}")
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    for r in range(len(rows)):
        for j in range(len(labels)):
            ax.text(j, r, f"{cm[r, j]:.2f}", ha="center", va="center",
                    color="white" if cm[r, j] > 0.5 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
