"""The cross-data-set model table: every model scored on FER2013 PublicTest/PrivateTest, CK+48
(6 classes) and muxspace ``test`` (balanced), plus the selection score, through the classifier on
the data sets' crops (and, see litefer.evalpipeline, through detector + alignment).

Selection score = mean(PublicTest accuracy, CK+48 accuracy, muxspace test balanced accuracy);
PrivateTest is reported, never used to choose. Numpy + ONNX Runtime only (no torch).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .crossdata import EvalSet, data_root, fer2013_file, open_eval_set
from .errors import DatasetError, LiteferError
from .metrics import proba_from_output
from .progress import Progress
from .runtime.views import tta_mode

PUBLIC, PRIVATE, CKPLUS, MUXSPACE = ("fer2013:PublicTest", "fer2013:PrivateTest", "ckplus48",
                                     "muxspace:test")
TABLE_SETS = (PUBLIC, PRIVATE, CKPLUS, MUXSPACE)
# (set, metric) averaged into the selection score
SELECTION = ((PUBLIC, "accuracy"), (CKPLUS, "accuracy"), (MUXSPACE, "balanced_accuracy"))
README_START, README_END = "<!-- crossdata:start -->", "<!-- crossdata:end -->"


@dataclass
class TableSets:
    """The sets found under a data root (key -> EvalSet) and why the others were skipped."""

    root: Path
    sets: dict[str, EvalSet] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def load_table_sets(root: str | Path | None = None) -> TableSets:
    """Load TABLE_SETS from ``root`` (see crossdata.data_root); a set that is missing or
    malformed is recorded in ``skipped`` with the reason instead of raising."""
    root = data_root(root)
    out = TableSets(root)
    fer = fer2013_file(root)
    if fer is None:
        out.skipped.update({k: f"no fer2013.csv(.gz) in {root}" for k in (PUBLIC, PRIVATE)})
    else:
        from .data import load_splits

        for split, fs in load_splits(fer, ("PublicTest", "PrivateTest")).items():
            out.sets[f"fer2013:{split}"] = EvalSet(f"fer2013:{split}", fs,
                                                   tuple(fs.space.classes), "fer2013")
    for key, path, split in ((CKPLUS, root / "ckplus48", None), (MUXSPACE, root / "muxspace",
                                                                 "test")):
        if not path.is_dir():
            out.skipped[key] = f"{path} not found"
            continue
        try:
            out.sets[key] = open_eval_set(path, split)
        except DatasetError as exc:
            out.skipped[key] = str(exc)
    return out


def shipped_classifiers() -> list[Path]:
    """Every classifier ONNX file shipped in litefer/weights (arch.tag.precision.onnx; temporal
    step models are not classifiers and are left out)."""
    from .runtime.weights import list_weights

    return [w.path for w in list_weights()]


def set_metrics(probs: np.ndarray, es: EvalSet, labels: tuple[str, ...]) -> dict:
    """accuracy, balanced_accuracy, n and the worst recall among the balanced classes."""
    from .evaluate import score, true_indices

    rep = score(probs, true_indices(es.faces, labels), labels, es.balanced_over)
    worst = min(rep["balanced_over"], key=lambda c: rep["recall"][c])
    return {"n": rep["n"], "accuracy": rep["accuracy"],
            "balanced_accuracy": rep["balanced_accuracy"], "worst_class": worst,
            "worst_recall": rep["recall"][worst], "recall": rep["recall"]}


def outputs_metrics(outputs: dict[str, np.ndarray], sets: dict[str, EvalSet], spec) -> dict:
    """set key -> set_metrics of a model's raw outputs on that set ((N, K) float, as the graph
    returns them), read through ``spec``: its prior correction, temperature and labels."""
    return {k: set_metrics(proba_from_output(out, spec), sets[k], spec.labels)
            for k, out in outputs.items()}


def selection_score(metrics: dict[str, dict]) -> float | None:
    """Mean of SELECTION's three values; None when a set is missing."""
    vals = [metrics[k][m] for k, m in SELECTION if k in metrics]
    return float(np.mean(vals)) if len(vals) == len(SELECTION) else None


def score_difference(preds_a: dict[str, np.ndarray], preds_b: dict[str, np.ndarray],
                     sets: dict[str, EvalSet], labels: tuple[str, ...], n_boot: int = 2000,
                     seed: int = 0, level: float = 0.95) -> dict:
    """Selection score of model A minus model B on the same faces, with a paired bootstrap
    interval. preds_*: set key -> (N,) int64 answers (argmax indices into ``labels``) for every
    set of SELECTION. Each of ``n_boot`` replicates draws each set's faces with replacement, the
    same draw for both models, and recomputes the three values; the interval is the central
    ``level`` share of the replicates' differences. Returns {"a", "b", "difference" (A - B,
    fractions 0..1 as the score), "low", "high", "p_a_not_better" (share of replicates with
    A <= B), "n_boot", "level"}. A class that a replicate leaves without faces drops out of that
    replicate's balanced accuracy."""
    from .evaluate import true_indices

    rng = np.random.default_rng(seed)
    diffs = np.zeros(n_boot)
    point = {"a": 0.0, "b": 0.0}
    for key, metric in SELECTION:
        es = sets[key]
        y = true_indices(es.faces, labels)
        right = {m: np.asarray(p) == y for m, p in (("a", preds_a[key]), ("b", preds_b[key]))}
        classes = [labels.index(c) for c in es.balanced_over]

        def value(ok, yy):
            if metric == "accuracy":
                return ok.mean(-1)
            hits = np.stack([(ok & (yy == c)).sum(-1) for c in classes])
            counts = np.stack([(yy == c).sum(-1) for c in classes]).astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.nanmean(np.where(counts > 0, hits / counts, np.nan), 0)

        for m in point:
            point[m] += float(value(right[m], y)) / len(SELECTION)
        idx = rng.integers(0, len(y), size=(n_boot, len(y)))
        diffs += (value(right["a"][idx], y[idx]) - value(right["b"][idx], y[idx])) / len(SELECTION)
    tail = (1 - level) / 2
    return {"a": point["a"], "b": point["b"], "difference": point["a"] - point["b"],
            "low": float(np.quantile(diffs, tail)), "high": float(np.quantile(diffs, 1 - tail)),
            "p_a_not_better": float((diffs <= 0).mean()), "n_boot": n_boot, "level": level}


def model_rows(path: str | Path, sets: dict[str, EvalSet], taus=(None,),
               tta: bool | str | None = None,
               prior: str = "spec", progress: Progress | None = None) -> list[dict]:
    """Score one model on every set, once per prior strength in ``taus`` (None: the model's own);
    the network runs once per set, the correction is applied afterwards."""
    from .evaluate import effective_spec, model_outputs
    from .runtime import Classifier

    clf = Classifier(path, threads=0)
    outputs = {}
    for key, es in sets.items():
        outputs[key] = model_outputs(clf, es.faces.images, tta)
        if progress:
            progress.update(1, model=clf.spec.name, set=key)
    rows = []
    for tau in taus:
        spec = effective_spec(clf.spec, tau, prior)
        metrics = outputs_metrics(outputs, sets, spec)
        rows.append(_row(path, clf.spec, spec, tta, metrics))
    return rows


def _row(path, spec, eff, tta: bool, metrics: dict) -> dict:
    return {"model": Path(path).name[: -len(".onnx")], "path": str(path),
            "params": spec.extra.get("params"), "prior_tau": eff.prior_tau,
            "tta": tta_mode(tta) or False,
            "metrics": metrics, "selection_score": selection_score(metrics)}


def build_table(models: list[str | Path] | None = None, root: str | Path | None = None,
                taus=(None,), tta: bool | str | None = None, prior: str = "spec",
                pipeline: bool = False,
                detector: str = "default", show_progress: bool | None = None) -> dict:
    """The whole table as a JSON-ready dict: {data_root, sets {key: n}, skipped {key: reason},
    rows [...], pipeline {...} when asked}. models: ONNX paths or shipped names (default: every
    shipped classifier). Raises LiteferError when no set at all is available."""
    from .runtime.weights import resolve_weights

    paths = [resolve_weights(m) for m in models] if models else shipped_classifiers()
    ts = load_table_sets(root)
    if not ts.sets:
        raise LiteferError(f"no evaluation data under {ts.root}: " + "; ".join(
            f"{k}: {v}" for k, v in ts.skipped.items()) + " (set --data-root or LITEFER_DATA)")
    table = {"data_root": str(ts.root), "sets": {k: len(v.faces) for k, v in ts.sets.items()},
             "skipped": ts.skipped, "rows": []}
    with Progress(len(paths) * len(ts.sets), "classifier", show_progress) as bar:
        for p in paths:
            table["rows"] += model_rows(p, ts.sets, taus, tta, prior, bar)
    if pipeline:
        from .evalpipeline import pipeline_table

        table["pipeline"] = pipeline_table(paths, ts.sets, taus, prior, detector, show_progress)
    return table


def _pct(v, digits: int = 1) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f}"


def _cells(row: dict, skipped: dict) -> list[str]:
    m = row["metrics"]

    def val(key, metric):
        return _pct(m[key][metric]) if key in m else "n/a" if key in skipped else "–"

    worst = (f"{m[CKPLUS]['worst_class']} {_pct(m[CKPLUS]['worst_recall'])}"
             if CKPLUS in m else "–")
    tau = f"{row['prior_tau']:g}"
    name = row["model"] + (f" +{row['tta']}" if row["tta"] else "")
    return [name, str(row["params"] or "?"), tau,
            val(PUBLIC, "accuracy"), val(PRIVATE, "accuracy"), val(CKPLUS, "accuracy"), worst,
            val(MUXSPACE, "balanced_accuracy"), _pct(row["selection_score"], 2)]


HEADER = ["model", "params", "prior τ", "FER2013 PublicTest %", "FER2013 PrivateTest %",
          "CK+48 6-class %", "CK+48 worst class %", "muxspace test balanced %", "selection score"]


def render(table: dict, markdown: bool = False) -> str:
    """The table as Markdown (with its notes) or aligned plain text."""
    rows = [_cells(r, table["skipped"]) for r in table["rows"]]
    parts = [_grid(HEADER, rows, markdown)]
    if "pipeline" in table:
        from .evalpipeline import render_pipeline

        parts.append(render_pipeline(table["pipeline"], markdown))
    notes = [f"{k}: skipped ({v})" for k, v in table["skipped"].items()]
    parts.append("\n".join(("- " if markdown else "") + n for n in notes) if notes else "")
    return "\n\n".join(p for p in parts if p).rstrip() + "\n"


def _grid(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*r) for r in [header, *rows])


def write_between_markers(path: str | Path, text: str, start: str = README_START,
                          end: str = README_END) -> Path:
    """Replace what lies between the ``start`` and ``end`` marker lines of the file at ``path``
    with ``text`` (markers kept). Raises LiteferError when a marker is missing or out of order."""
    path = Path(path)
    doc = path.read_text(encoding="utf-8")
    i, j = doc.find(start), doc.find(end)
    if i < 0 or j < 0 or j < i:
        raise LiteferError(f"{path}: needs the lines {start} and {end} (in that order) around "
                           "the place for the table")
    path.write_text(doc[: i + len(start)] + "\n" + text.rstrip() + "\n" + doc[j:], encoding="utf-8")
    return path
