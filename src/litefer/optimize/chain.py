"""`litefer optimize` as one library call, chaining the compression steps:

    checkpoint (.pt) -> [channel pruning -> fine-tune] -> [magnitude pruning -> fine-tune]*
        -> [quantisation-aware fine-tune] -> FP32 ONNX -> [FP16] [INT8] -> [compiled graph]
    or an ONNX file -> [FP16] [INT8] -> [compiled graph]   (pruning needs the torch weights)

Beside every artefact written: a before/after report (``X.report.json`` / ``.md``, against the
unpruned FP32 source) and a model card (``X.json`` / ``.md``). Fine-tuning uses the training
split, epoch selection and INT8 calibration the validation split (PublicTest), and accuracy is
reported on the test split (PrivateTest), never used for any choice.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx

from ..bench import BenchConfig
from ..errors import LiteferError
from .artefact import artefact_path, read_spec, variant_name, with_extra
from .compile import compile_onnx
from .finetune import FinetuneConfig
from .prune import PruneConfig
from .quantize import (Int8Config, convert_fp16, onnx_weights, quantization_table,
                       quantize_int8)
from .report import build_report, measure, variant_card, write_report, write_variant_card
from .structured import StructuredConfig


@dataclass(frozen=True)
class OptimizeConfig:
    """model: training checkpoint (.pt) or ONNX file; data: dataset path ("" = no fine-tuning,
    calibration or accuracy); prune/structured: None = skip; quantize: any of "fp16", "int8";
    tag: suffix of the variant's weight tag (None = derived, e.g. "c30-p50"); compile: ""
    or an ONNX Runtime level ("extended", "all") to also save the optimised graph."""

    model: str
    data: str = ""
    out: str = "optimized"
    prune: PruneConfig | None = None
    structured: StructuredConfig | None = None
    qat: bool = False
    qat_bits: int = 8
    quantize: tuple[str, ...] = ()
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    int8: Int8Config = field(default_factory=Int8Config)
    tag: str | None = None
    compile: str = ""
    bench: BenchConfig = field(default_factory=lambda: BenchConfig(repeats=200, batch_repeats=10))
    train_split: str = "Training"
    val_split: str = "PublicTest"
    test_split: str = "PrivateTest"
    command: str = ""

    @property
    def torch_steps(self) -> bool:
        return self.prune is not None or self.structured is not None or self.qat

    def derived_tag(self) -> str:
        if self.tag is not None:
            return self.tag
        parts = [f"c{round(self.structured.ratio * 100)}"] if self.structured else []
        parts += [f"p{round(self.prune.sparsity * 100)}"] if self.prune else []
        return "-".join(parts + (["qat"] if self.qat else []))


def _load_sets(cfg: OptimizeConfig) -> dict:
    if not cfg.data:
        return {}
    from ..data import load_splits

    wanted = [cfg.val_split, cfg.test_split]
    if cfg.torch_steps and cfg.finetune.epochs > 0:
        wanted.insert(0, cfg.train_split)
    return load_splits(cfg.data, tuple(dict.fromkeys(wanted)))


def _source(cfg: OptimizeConfig, sets: dict, out: Path):
    """-> (FP32 ONNX to start from, torch model or None, source card or None, checkpoint info
    and export parity for building that card from a checkpoint)."""
    path = Path(cfg.model)
    if not path.is_file():
        raise LiteferError(f"model not found: {path} (give a training checkpoint .pt or an .onnx)")
    if path.suffix == ".onnx":
        if cfg.torch_steps:
            raise LiteferError("pruning and QAT need the training checkpoint (.pt), not ONNX")
        card = path.with_suffix(".json")
        return path, None, json.loads(card.read_text()) if card.is_file() else None, None, None
    from ..models.layers import count_params
    from ..models.profile import count_macs
    from ..train.checkpoint import load_checkpoint
    from .export import check_parity, export_onnx

    model, spec, info = load_checkpoint(path)
    spec = _calibrated(model, with_extra(spec, params=count_params(model),
                                         macs=count_macs(model, spec)), sets, cfg.val_split)
    onnx_path = export_onnx(model, spec, artefact_path(out, spec.name, "fp32"))
    parity = check_parity(model, onnx_path, _faces(sets, cfg.val_split, 256)) if sets else None
    return onnx_path, model, None, info, parity


def _base_card(cfg, info: dict, path: Path, evals: dict, parity) -> dict | None:
    """The card of the FP32 export of a checkpoint (as `litefer export --data` writes it)."""
    if not evals:
        return None
    from ..train.config import TrainConfig
    from .card import build_card, write_card
    from ..train.onnx_file import sha256

    spec = model_spec(path)
    tcfg = TrainConfig.from_dict(info["config"]) if "config" in info \
        else TrainConfig(model=spec.arch)
    tcfg.data = cfg.data
    card = build_card(spec.name, "fp32", path, tcfg, info.get("epoch"), spec.extra["params"],
                      spec.extra["macs"], evals, parity or 0.0, sha256(path), info)
    write_card(card, path)
    return card


def _calibrated(model, spec, sets: dict, split: str):
    """``spec`` with the temperature fitted on ``split`` (as `litefer export --data` does)."""
    if split not in sets:
        return spec
    from ..calibrate import fit_temperature
    from ..train.loop import corrected_faceset_logits

    logits = corrected_faceset_logits(model, sets[split], spec)
    return spec.with_(temperature=fit_temperature(logits, sets[split].labels))


def _faces(sets: dict, split: str, n: int):
    return sets[split].images[:n] if split in sets else np.zeros((0, 48, 48), np.uint8)


def compress_torch(model, spec, cfg: OptimizeConfig, sets: dict):
    """Structured pruning, magnitude pruning and QAT in that order -> (model, step records)."""
    from ..models.layers import count_params
    from ..models.profile import count_macs
    from .compress import Compression
    from .finetune import finetune
    from .prune import prunable, prune_iterative, sparsity_report
    from .structured import prune_channels

    train, val = sets.get(cfg.train_split), sets.get(cfg.val_split)
    teacher = copy.deepcopy(model).eval() if cfg.finetune.distill > 0 else None  # uncompressed
    kd = {"distill": {"weight": cfg.finetune.distill,
                      "temperature": cfg.finetune.distill_temperature}} if teacher else {}
    steps = []
    if cfg.structured is not None:
        model, groups = prune_channels(model, cfg.structured)
        tuned = finetune(model, spec, train, val, cfg.finetune, teacher=teacher) \
            if train is not None else None
        steps.append({"step": "structured", "config": vars(cfg.structured), "groups": groups,
                      "params": count_params(model), "macs": count_macs(model, spec),
                      "finetune": tuned, **kd})
    if cfg.prune is not None:
        prune_cfg = replace(cfg.prune, finetune=cfg.finetune)
        rounds = prune_iterative(model, spec, prune_cfg, train, val, teacher)
        steps.append({"step": "unstructured", "config": {k: v for k, v in vars(prune_cfg).items()
                                                         if k != "finetune"},
                      "rounds": rounds, "sparsity": sparsity_report(model), **kd})
    if cfg.qat:
        kept = prunable(model, keep_first=True)
        masks = {n: w != 0 for n, w in kept.items()} if cfg.prune is not None else None
        comp = Compression(kept, masks, None, prunable(model), cfg.qat_bits)
        steps.append({"step": "qat", "bits": cfg.qat_bits,
                      "finetune": finetune(model, spec, train, val, cfg.finetune, comp, teacher),
                      **kd})
    return model.eval(), steps


def _export_variant(model, spec, cfg: OptimizeConfig, out: Path, sets: dict) -> tuple[Path, float]:
    from ..models.layers import count_params
    from ..models.profile import count_macs
    from .export import check_parity, export_onnx
    from .prune import sparsity_report

    sp = sparsity_report(model)
    name = variant_name(spec.name, cfg.derived_tag())
    spec = with_extra(spec.with_(name=name), params=count_params(model),
                      macs=count_macs(model, spec), precision="fp32",
                      sparsity=sp["sparsity"], compression_ratio=sp["compression_ratio"])
    spec = _calibrated(model, spec, sets, cfg.val_split)
    path = export_onnx(model, spec, artefact_path(out, name, "fp32"))
    faces = _faces(sets, cfg.val_split, 256)
    return path, (check_parity(model, path, faces) if len(faces) else float("nan"))


def _finish(path: Path, cfg: OptimizeConfig, sets: dict, before: dict, base_card, steps: list,
            parent: Path | None) -> dict:
    """Measure ``path``, optionally compile it, write its report and card; -> summary row."""
    from .report import agreement

    evalsets = {s: sets[s] for s in (cfg.val_split, cfg.test_split) if s in sets}
    after, evals = measure(path, evalsets, cfg.bench)
    steps = list(steps)
    if parent is not None and cfg.val_split in sets:
        steps[-1] = {**steps[-1], **agreement(parent, path, _faces(sets, cfg.val_split, 1000))}
    if cfg.compile:
        steps.append({"step": "compile", **compile_onnx(path, path.with_suffix(".ort.onnx"),
                                                        cfg.compile, cfg.bench.providers)})
    report = build_report(before, after, steps, cfg.command, cfg.bench.threads)
    rj, _ = write_report(report, path)
    card = variant_card(base_card, path, after, evals,
                        {"source": before["file"], "command": cfg.command, "steps": steps})
    cj, _ = write_variant_card(card, path)
    return {"path": str(path), "report": str(rj), "card": str(cj), **{
        k: after[k] for k in ("precision", "params", "macs", "nonzero_weights", "file_bytes",
                              "zipped_bytes", "latency_ms_p50", "accuracy")}}


def run_optimize(cfg: OptimizeConfig) -> list[dict]:
    """Run the chain; returns one summary row per artefact written (the source's first)."""
    for q in cfg.quantize:
        if q not in ("fp16", "int8"):
            raise LiteferError(f"--quantize takes fp16 or int8, got {q!r}")
    if cfg.qat and (not cfg.data or cfg.finetune.epochs <= 0):
        raise LiteferError("--qat fine-tunes: it needs --data and --epochs > 0")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    sets = _load_sets(cfg)
    if "int8" in cfg.quantize and cfg.val_split not in sets:
        raise LiteferError("INT8 calibration needs faces: pass --data (PublicTest is used)")
    source, model, base_card, info, parity = _source(cfg, sets, out)
    evalsets = {s: sets[s] for s in (cfg.val_split, cfg.test_split) if s in sets}
    before, evals = measure(source, evalsets, cfg.bench)
    if info is not None:
        base_card = _base_card(cfg, info, source, evals, parity)
    rows, steps, current = [], [], source
    if cfg.torch_steps:
        model, steps = compress_torch(model, model_spec(source), cfg, sets)
        current, parity = _export_variant(model, model_spec(source), cfg, Path(cfg.out), sets)
        steps.append({"step": "export", "parity_max_abs_diff": parity})
        rows.append(_finish(current, cfg, sets, before, base_card, steps, None))
    for precision in cfg.quantize:
        dst = artefact_path(out, model_spec(current).name, precision)
        if precision == "fp16":
            convert_fp16(current, dst)
            step = {"step": "fp16", "keep_io_types": True}
        else:
            quantize_int8(current, dst, _faces(sets, cfg.val_split, cfg.int8.samples), cfg.int8)
            step = {"step": "int8", **vars(cfg.int8),
                    "paper_formula_relative_error": quantization_table(
                        onnx_weights(onnx.load(str(current))))}
        rows.append(_finish(dst, cfg, sets, before, base_card, steps + [step], current))
    return rows or [{"path": str(source), **before}]


def model_spec(path: Path):
    """The ModelSpec stored in the ONNX file at ``path``."""
    return read_spec(onnx.load(str(path)), str(path))
