"""Accuracy-vs-parameters Pareto front of a search log, as data and as a PNG."""
from __future__ import annotations

from pathlib import Path


def pareto_front(rows: list[dict]) -> list[dict]:
    """Trained rows no other row beats on both fewer-or-equal params and higher-or-equal accuracy
    (strictly better in one), sorted by params."""
    ordered = sorted(rows, key=lambda r: (r["params"], -r["accuracy"]))
    front, best = [], float("-inf")
    for r in ordered:
        if r["accuracy"] > best:
            front.append(r)
            best = r["accuracy"]
    return front


def best_row(rows: list[dict]) -> dict | None:
    """Most accurate trained row (ties: fewer params, then earlier trial); None when empty."""
    return min(rows, key=lambda r: (-r["accuracy"], r["params"], r["trial"]), default=None)


def plot_pareto(rows: list[dict], path: str | Path, budget_params: int = 0, rejected: int = 0,
                title: str = "") -> Path:
    """Scatter of proxy accuracy vs parameters, front as a step line, budget as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.6))
    ax.scatter([r["params"] / 1e3 for r in rows], [r["accuracy"] for r in rows], s=18,
               c=[r["trial"] for r in rows], cmap="viridis", label="candidates (colour = trial)")
    front = pareto_front(rows)
    ax.step([r["params"] / 1e3 for r in front], [r["accuracy"] for r in front], where="post",
            color="crimson", marker="o", label="Pareto front")
    if budget_params:
        ax.axvline(budget_params / 1e3, ls="--", color="grey", label="parameter budget")
    best = best_row(rows)
    if best:
        ax.annotate(f"trial {best['trial']}: {best['accuracy']:.3f}", (best["params"] / 1e3,
                    best["accuracy"]), textcoords="offset points", xytext=(-90, -14), fontsize=8)
    ax.set(xlabel="parameters (thousands)", ylabel="proxy accuracy",
           title=title or f"{len(rows)} trained, {rejected} rejected outside the budget")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
