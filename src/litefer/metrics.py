"""Classification metrics (numpy only): accuracy, balanced accuracy, per-class P/R/F1, confusion
matrix, ECE; and the one rule that turns a model's raw output into probabilities (prior
correction, then temperature), shared by the runtime Classifier and `litefer eval`."""
from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """int64 (n_classes, n_classes): rows are true classes, columns predictions."""
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def classification_report(y_true, y_pred, labels: tuple[str, ...]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, raw and row-normalised confusion."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(1), cm.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    rows = cm.sum(1, keepdims=True)
    normalized = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    present = support > 0
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]),
                   "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(labels)
        },
        "labels": list(labels),
        "confusion_matrix": normalized.tolist(),
        "confusion_counts": cm.tolist(),
    }


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width confidence bins: sum_b |B|/N * |acc(B) - conf(B)|."""
    conf = probs.max(1)
    correct = probs.argmax(1) == np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def balanced_accuracy(y_true, y_pred, classes) -> float:
    """Mean recall over ``classes`` (label indices); a class without samples raises ValueError."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recalls = []
    for c in classes:
        mask = y_true == c
        if not mask.any():
            raise ValueError(f"class {c} has no samples: balanced accuracy over it is undefined")
        recalls.append(float((y_pred[mask] == c).mean()))
    return float(np.mean(recalls)) if recalls else 0.0


def adjust_logits(logits: np.ndarray, prior, tau: float) -> np.ndarray:
    """Prior correction (post-hoc logit adjustment): ``logits - tau * log(prior)``.

    logits: (..., K) log-probabilities up to a constant per row; prior: K positive values in label
    order (normalised here; a uniform prior changes no argmax and no softmax); tau: any real
    (positive removes the prior, negative adds it, for a model trained on adjusted logits). An empty
    prior or tau == 0 returns ``logits`` itself. Raises ValueError for a prior of the wrong length
    or with a value <= 0.
    """
    if tau == 0 or prior is None or len(prior) == 0:
        return logits
    p = np.asarray(prior, np.float64)
    if p.shape != (logits.shape[-1],) or (p <= 0).any():
        raise ValueError(f"prior needs {logits.shape[-1]} positive values, got {p.tolist()}")
    return logits - tau * np.log(p / p.sum())


def proba_from_output(out: np.ndarray, spec) -> np.ndarray:
    """Raw model output (N, K) -> float32 probabilities (N, K), the runtime's rule.

    ``spec.output == "logits"``: softmax(adjust_logits(out, spec.prior, spec.prior_tau) /
    spec.temperature): the correction decides, the temperature only calibrates (it never changes
    an argmax); ``"probs"``: adjust_logits on log(out), without temperature. Without a correction
    the result is exactly what the runtime returned before priors existed (probs are passed
    through unchanged). To score with another correction, pass ``spec.with_(prior_tau=...)``.
    """
    if spec.output == "probs":
        if spec.prior_tau == 0 or not spec.prior:
            return out.astype(np.float32)
        z = np.log(np.clip(out.astype(np.float64), 1e-30, None))
        return softmax(adjust_logits(z, spec.prior, spec.prior_tau)).astype(np.float32)
    return softmax(corrected_logits(out, spec), spec.temperature).astype(np.float32)


def corrected_logits(out: np.ndarray, spec) -> np.ndarray:
    """Raw logits (N, K) -> float64 logits after the spec's prior correction, before the
    temperature: what a temperature is fitted on (litefer.calibrate)."""
    return adjust_logits(out.astype(np.float64), spec.prior, spec.prior_tau)
