"""Training logs: CSV + JSON history with process CPU % and peak RSS, and a curves PNG."""
from __future__ import annotations

import csv
import json
import os
import resource
import time
from pathlib import Path


class ResourceMeter:
    """Process CPU % (100 = one core) and peak RSS (MB) since the previous ``sample()``."""

    def __init__(self):
        self._wall, self._cpu = time.time(), self._cpu_seconds()

    @staticmethod
    def _cpu_seconds() -> float:
        t = os.times()
        return t.user + t.system

    def sample(self) -> dict:
        wall, cpu = time.time(), self._cpu_seconds()
        pct = 100.0 * (cpu - self._cpu) / max(wall - self._wall, 1e-9)
        self._wall, self._cpu = wall, cpu
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        return {"cpu_percent": round(pct, 1), "peak_rss_mb": round(peak_mb, 1)}


def write_history(rows: list[dict], out: Path) -> None:
    """history.csv, history.json and curves.png (loss and accuracy per epoch) in ``out``."""
    if not rows:
        return
    with open(out / "history.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "history.json").write_text(json.dumps(rows, indent=1))
    plot_curves(rows, out / "curves.png")


def plot_curves(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [r["train_loss"] for r in rows], label="train")
    a.plot(ep, [r["val_loss"] for r in rows], label="validation")
    a.set(xlabel="epoch", ylabel="loss", title="Loss")
    b.plot(ep, [r["train_acc"] for r in rows], label="train (augmented)")
    b.plot(ep, [r["val_acc"] for r in rows], label="validation")
    if "live_val_acc" in rows[0]:  # --ema: validation is the weight average; the live weights too
        b.plot(ep, [r["live_val_acc"] for r in rows], label="validation (live weights)", alpha=0.6)
    b.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
