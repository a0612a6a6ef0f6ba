"""Confidence calibration: temperature scaling (Guo et al. 2017) and the abstain trade-off."""
from __future__ import annotations

import numpy as np

from .metrics import expected_calibration_error, softmax


def nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of labels ``y`` under softmax(logits / T)."""
    z = logits / temperature
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray, lo: float = 0.05, hi: float = 20.0,
                    iters: int = 80) -> float:
    """T > 0 minimising NLL on held-out (N, K) logits, by golden-section search on log T
    (NLL is unimodal in T for fixed logits)."""
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, y, np.exp(c)), nll(logits, y, np.exp(d))
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, y, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, y, np.exp(d))
    return float(np.exp((a + b) / 2))


def calibration_report(logits: np.ndarray, y: np.ndarray, temperature: float,
                       bins: int = 15) -> dict:
    """ECE (``bins`` equal-width bins) and NLL before (T = 1) and after temperature scaling."""
    return {
        "temperature": temperature,
        "ece_before": expected_calibration_error(softmax(logits), y, bins),
        "ece_after": expected_calibration_error(softmax(logits, temperature), y, bins),
        "nll_before": nll(logits, y, 1.0), "nll_after": nll(logits, y, temperature),
        "bins": bins,
    }


def coverage_curve(probs: np.ndarray, y: np.ndarray, thresholds=None) -> list[dict]:
    """For each confidence threshold: share of faces labelled (coverage) and their accuracy."""
    thresholds = np.linspace(0.0, 0.95, 20) if thresholds is None else thresholds
    conf, correct = probs.max(1), probs.argmax(1) == y
    rows = []
    for t in thresholds:
        keep = conf >= t
        rows.append({"threshold": float(t), "coverage": float(keep.mean()),
                     "accuracy": float(correct[keep].mean()) if keep.any() else None})
    return rows


def plot_coverage(rows: list[dict], path, title: str = "") -> None:
    """Accuracy vs coverage as the abstain threshold (--min-confidence) rises (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [r for r in rows if r["accuracy"] is not None]
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.plot([r["coverage"] for r in pts], [r["accuracy"] for r in pts], marker="o")
    for r in pts[::4]:
        ax.annotate(f"{r['threshold']:.2f}", (r["coverage"], r["accuracy"]), fontsize=7,
                    textcoords="offset points", xytext=(4, 4))
    ax.set(xlabel="coverage (share of faces given a label)", ylabel="accuracy on labelled faces",
           title=title or "Abstain trade-off (labels: --min-confidence)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
