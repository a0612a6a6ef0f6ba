"""Every compression step proves itself: a before/after report (JSON + Markdown) beside each
artefact, and a model card so ``litefer models`` lists the variant with its accuracy.

Measured per ONNX file: parameters (from the spec), weights and non-zero weights (graph),
compression ratio R, MACs, file size raw and zlib-compressed, accuracy on the evaluated splits,
classifier latency p50/p95 at batch 1 and throughput at batch 64 (litefer.bench).
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import onnx

from ..bench import BenchConfig, EnergyMeter, classifier_bench
from ..data import FaceSet
from ..evaluate import evaluate
from ..onnx_stats import graph_stats
from ..runtime import Classifier
from .artefact import file_sizes, read_spec

COMPARED = ("params", "weights", "nonzero_weights", "compression_ratio", "macs", "file_bytes",
            "zipped_bytes", "latency_ms_p50", "latency_ms_p95", "throughput_fps_b64")


def measure(path: Path, sets: dict[str, FaceSet], bench: BenchConfig) -> tuple[dict, dict]:
    """-> (figures of the ONNX file at ``path``, full evaluate() report per split in ``sets``)."""
    spec = read_spec(onnx.load(str(path)), str(path))
    stats, sizes = graph_stats(path), file_sizes(path)
    clf = Classifier(path, threads=bench.threads)
    timing = classifier_bench(clf, bench, EnergyMeter())
    evals = {split: evaluate(path, fs) for split, fs in sets.items()}
    row = {"file": Path(path).name, "name": spec.name,
           "precision": spec.extra.get("precision", "fp32"),
           "params": spec.extra.get("params", stats.weights), "weights": stats.weights,
           "nonzero_weights": stats.nonzero_weights, "compression_ratio": stats.compression_ratio,
           "macs": spec.extra.get("macs", stats.macs), "file_bytes": sizes["raw"],
           "zipped_bytes": sizes["zipped"],
           **{k: timing[k] for k in ("latency_ms_p50", "latency_ms_p95", "throughput_fps_b64")},
           "accuracy": {s: e["accuracy"] for s, e in evals.items()},
           "macro_f1": {s: e["macro_f1"] for s, e in evals.items()}}
    return row, evals


def agreement(source: Path, variant: Path, faces) -> dict:
    """How far ``variant`` strays from ``source`` on ``faces`` (uint8 crops): top-1 agreement and
    the largest / mean absolute probability difference."""
    pa = Classifier(source).predict_proba(faces).astype(float)
    pb = Classifier(variant).predict_proba(faces).astype(float)
    diff = abs(pa - pb)
    return {"faces_compared": len(faces),
            "top1_agreement_vs_source": float((pa.argmax(1) == pb.argmax(1)).mean()),
            "max_abs_prob_diff_vs_source": float(diff.max()) if len(diff) else 0.0,
            "mean_abs_prob_diff_vs_source": float(diff.mean()) if len(diff) else 0.0}


def build_report(before: dict, after: dict, steps: list[dict], command: str,
                 threads: int = 0) -> dict:
    """The record written beside an artefact: both measurements, after/before ratios, accuracy
    differences (after - before, per split), the steps taken and the command that made it."""
    change = {k: after[k] / before[k] for k in COMPARED
              if after.get(k) is not None and before.get(k)}
    delta = {s: after["accuracy"][s] - before["accuracy"][s]
             for s in after["accuracy"] if s in before["accuracy"]}
    return {"artefact": after["file"], "source": before["file"], "before": before, "after": after,
            "ratio_after_over_before": change, "accuracy_change": delta, "steps": steps,
            "command": command, "threads": threads}


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def render_report(report: dict) -> str:
    """Markdown: before/after table, accuracy per split, then each step's record."""
    b, a, r = report["before"], report["after"], report["ratio_after_over_before"]
    lines = [f"# {report['artefact']}: optimisation report", "",
             f"Source `{report['source']}`. Made with `{report['command']}`.", "",
             "| metric | before | after | after / before |", "|---|---|---|---|"]
    lines += [f"| {k} | {_fmt(b.get(k))} | {_fmt(a.get(k))} | {_fmt(r.get(k))} |" for k in COMPARED]
    for split, acc in a["accuracy"].items():
        lines.append(f"| {split} accuracy | {_fmt(b['accuracy'].get(split))} | {_fmt(acc)} | "
                     f"{report['accuracy_change'].get(split, 0):+.4f} (difference) |")
    lines += ["", f"Latency: median (p50) / 95th percentile of batch-1 calls on this machine with "
              f"{report.get('threads') or 'default'} ONNX Runtime thread(s); "
              "R = weights / non-zero weights; zipped = zlib level 9.", "", "## Steps", ""]
    for step in report["steps"]:
        lines += [f"### {step['step']}", "", "```json", json.dumps(step, indent=1), "```", ""]
    return "\n".join(lines) + "\n"


def write_report(report: dict, artefact: Path) -> tuple[Path, Path]:
    """``X.report.json`` and ``X.report.md`` beside ``X.onnx``."""
    j, m = artefact.with_suffix(".report.json"), artefact.with_suffix(".report.md")
    j.write_text(json.dumps(report, indent=2) + "\n")
    m.write_text(render_report(report))
    return j, m


CARD_DEFAULTS = {"data": "unknown", "train_split": None, "selection_split": None, "epochs": None,
                 "best_epoch": None, "seed": None, "augmentation": {}, "optimizer": {},
                 "parity_max_abs_diff": float("nan"), "training_command": "unknown",
                 "licence": "", "public_test": None, "private_test": None}


def variant_card(base: dict | None, path: Path, figures: dict, evals: dict[str, dict],
                 provenance: dict) -> dict:
    """A model card for an optimised artefact: the source's card (training provenance) updated
    with this file's identity, size, counts and accuracy, plus ``optimization`` (steps, command,
    agreement with the source)."""
    spec = read_spec(onnx.load(str(path)), str(path))
    card = {**CARD_DEFAULTS, **copy.deepcopy(base or {})}
    for measured_on_the_source in ("calibration", "abstain_curve"):
        card.pop(measured_on_the_source, None)
    test = evals.get("PrivateTest", {})
    short = {k: {"accuracy": v["accuracy"], "macro_f1": v["macro_f1"], "n": v["n"]}
             for k, v in evals.items()}
    card.update(name=spec.name, arch=spec.arch, precision=figures["precision"], file=path.name,
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                file_bytes=figures["file_bytes"], params=figures["params"],
                macs=figures["macs"] or 0, public_test=short.get("PublicTest"),
                private_test=short.get("PrivateTest"),
                private_test_per_class=test.get("per_class"),
                private_test_confusion=test.get("confusion_matrix"), labels=test.get("labels"),
                optimization=provenance)
    card["eval_command"] = (f"litefer eval --model {spec.name}.{figures['precision']} "
                            f"--data {card['data']} --split PrivateTest --json")
    return card


def write_variant_card(card: dict, path: Path) -> tuple[Path, Path]:
    """``X.json`` (read by ``litefer models``) and ``X.md`` beside ``X.onnx``."""
    from .card import render_markdown

    j, m = path.with_suffix(".json"), path.with_suffix(".md")
    j.write_text(json.dumps(card, indent=2) + "\n")
    m.write_text(render_markdown(card))
    return j, m
