"""Evaluate a classifier on a labelled FaceSet (ONNX Runtime; a torch checkpoint when given .pt)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import FaceSet
from .errors import DatasetError
from .labels import LABEL_SPACES, mapping
from .metrics import classification_report


def predict_faceset(model: str | Path | None, fs: FaceSet, tta: bool = False,
                    batch_size: int = 256) -> tuple[np.ndarray, tuple[str, ...], dict]:
    """-> (probabilities (N, K) float32, model labels, model info {name, params, path})."""
    if model is not None and str(model).endswith(".pt"):
        return _predict_checkpoint(Path(model), fs, tta, batch_size)
    from .runtime import Classifier

    clf = Classifier(model)
    probs = np.concatenate([clf.predict_proba(fs.images[i:i + batch_size], tta=tta)
                            for i in range(0, len(fs), batch_size)])
    info = {"name": clf.spec.name, "params": clf.spec.extra.get("params"), "path": str(clf.path)}
    return probs, clf.spec.labels, info


def _predict_checkpoint(path: Path, fs: FaceSet, tta: bool, batch_size: int):
    from .metrics import softmax
    from .train.checkpoint import load_checkpoint
    from .train.engine import faces_to_uint8, predict_logits
    from .models.layers import count_params

    model, spec, _ = load_checkpoint(path)
    logits = predict_logits(model, faces_to_uint8(fs, spec), spec, batch_size, tta_flip=tta)
    probs = softmax(logits.astype(np.float64), spec.temperature).astype(np.float32)
    return probs, spec.labels, {"name": spec.name, "params": count_params(model), "path": str(path)}


def evaluate(model: str | Path | None, fs: FaceSet, tta: bool = False) -> dict:
    """Accuracy, macro-F1, per-class metrics and confusion matrix of ``model`` on ``fs``.

    The model's labels must cover the dataset's label space (mapped by name, explicitly); a
    dataset class the model cannot output raises DatasetError.
    """
    probs, labels, info = predict_faceset(model, fs, tta)
    model_space = next((s for s in LABEL_SPACES.values() if s.classes == labels), None)
    if labels != fs.space.classes:
        if model_space is None or len(mapping(fs.space, model_space)) != len(fs.space):
            raise DatasetError(f"model labels {labels} do not cover dataset labels {fs.space.classes}")
    y_true = np.array([labels.index(fs.space.classes[i]) for i in fs.labels])
    report = classification_report(y_true, probs.argmax(1), labels)
    report.update(model=info["name"], params=info["params"], model_path=info["path"], tta=tta)
    return report


def plot_confusion(report: dict, path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix heat map (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm, labels = np.array(report["confusion_matrix"]), report["labels"]
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xticklabels=labels,
           yticklabels=labels, xlabel="predicted", ylabel="true",
           title=title or f"{report['model']}: accuracy {report['accuracy']:.4f}")
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center",
                    color="white" if cm[i, j] > 0.5 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
