"""`litefer optimize`: prune, fine-tune, quantise and compile a model; a report beside each file."""
from __future__ import annotations

import argparse
import json
import shlex

from ..errors import require


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name, help="prune / quantise / compile a model (needs litefer[train])",
        description="Chain: [--structured] channel pruning -> [--prune] magnitude pruning -> "
                    "[--qat] -> FP32 ONNX -> [--quantize fp16 int8] -> [--compile]. Fine-tunes on the "
                    "training split, selects and calibrates on PublicTest, reports PrivateTest. "
                    "Writes NAME.PRECISION.onnx with a model card (.json/.md) and a before/after "
                    "report (.report.json/.report.md) beside each.")
    p.add_argument("--model", required=True, help="training checkpoint (.pt) or an .onnx file")
    p.add_argument("--data", default="", help="FER2013 .csv/.csv.gz or a dataset folder")
    p.add_argument("--out", default="optimized", help="output folder")
    p.add_argument("--prune", type=float, default=0.0, help="magnitude-prune to this sparsity")
    p.add_argument("--prune-scope", default="global", choices=["global", "layer"])
    p.add_argument("--prune-steps", type=int, default=3, help="prune -> fine-tune rounds")
    p.add_argument("--structured", type=float, default=0.0,
                   help="remove this fraction of channels per group (a smaller dense network)")
    p.add_argument("--structured-scope", default="internal", choices=["internal", "all"],
                   help="internal: inside each module only; all: also stem and module widths")
    p.add_argument("--criterion", default="bn", choices=["bn", "l1"], help="channel ranking")
    p.add_argument("--channel-multiple", type=int, default=8,
                   help="round kept channel counts up to a multiple of this (SIMD-friendly)")
    p.add_argument("--qat", action="store_true", help="quantisation-aware fine-tuning before INT8")
    p.add_argument("--qat-bits", type=int, default=8)
    p.add_argument("--quantize", nargs="+", default=[], choices=["fp16", "int8"])
    p.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs per stage (0 = none)")
    p.add_argument("--lr", type=float, default=5e-4, help="fine-tuning peak learning rate")
    p.add_argument("--distill", type=float, default=0.0, metavar="A",
                   help="fine-tune with knowledge distillation from the uncompressed model: "
                        "weight A in [0, 1] of the soft-target term (0 = off)")
    p.add_argument("--distill-temperature", type=float, default=4.0, metavar="T")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, default=0, help="fine-tune on the first N faces only")
    p.add_argument("--threads", type=int, default=2, help="torch threads for fine-tuning")
    p.add_argument("--calib-samples", type=int, default=300, help="INT8 calibration faces")
    p.add_argument("--calibrate", default="minmax", choices=["minmax", "entropy", "percentile"])
    p.add_argument("--per-tensor", action="store_true", help="INT8 with one scale per tensor")
    p.add_argument("--int8-format", default="qoperator", choices=["qoperator", "qdq"],
                   help="INT8 graph: QLinearConv & co. (smaller file) or QDQ pairs")
    p.add_argument("--int8-full-range", action="store_true",
                   help="INT8 weights on 8 bits instead of 7: exact only on CPUs with VNNI, "
                        "saturates on AVX2-only x86")
    p.add_argument("--tag", default=None, help="variant tag suffix (default: e.g. c30-p50)")
    p.add_argument("--compile", nargs="?", const="extended", default="",
                   choices=["basic", "extended", "all"],
                   help="also save the ONNX Runtime-optimised graph (*.ort.onnx)")
    p.add_argument("--repeats", type=int, default=200, help="timed batch-1 calls per report")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run)


def command_line(args: argparse.Namespace) -> str:
    """The `litefer optimize` command reproducing ``args`` (non-default options only)."""
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(), "optimize")
    defaults = vars(parser.parse_args(["optimize", "--model", args.model]))
    parts = ["litefer", "optimize", "--model", args.model]
    for key, value in vars(args).items():
        if key in ("run", "command", "json", "model") or value == defaults.get(key):
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, list):
            parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return shlex.join(parts)


def config_from_args(args: argparse.Namespace):
    from ..bench import BenchConfig
    from ..optimize.chain import OptimizeConfig
    from ..optimize.finetune import FinetuneConfig
    from ..optimize.prune import PruneConfig
    from ..optimize.quantize import Int8Config
    from ..optimize.structured import StructuredConfig

    ft = FinetuneConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        threads=args.threads, limit=args.limit, distill=args.distill,
                        distill_temperature=args.distill_temperature)
    return OptimizeConfig(
        model=args.model, data=args.data, out=args.out,
        prune=PruneConfig(args.prune, args.prune_scope, args.prune_steps, finetune=ft)
        if args.prune else None,
        structured=StructuredConfig(args.structured, args.criterion, args.structured_scope,
                                    args.channel_multiple)
        if args.structured else None,
        qat=args.qat, qat_bits=args.qat_bits, quantize=tuple(args.quantize), finetune=ft,
        int8=Int8Config(per_channel=not args.per_tensor, calibrate=args.calibrate,
                        samples=args.calib_samples, format=args.int8_format,
                        reduce_range=not args.int8_full_range),
        tag=args.tag, compile=args.compile,
        bench=BenchConfig(repeats=args.repeats, batch_repeats=10, threads=1),
        command=command_line(args))


def run(args: argparse.Namespace) -> int:
    require("onnx", "train")
    if args.model.endswith(".pt") or args.prune or args.structured or args.qat:
        require("torch", "train")
    from ..optimize.chain import run_optimize

    rows = run_optimize(config_from_args(args))
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'artefact':<48} {'params':>8} {'non-zero':>8} {'MACs':>10} {'bytes':>8} "
          f"{'zipped':>8} {'p50 ms':>7} {'accuracy'}")
    for r in rows:
        acc = " ".join(f"{k} {v:.4f}" for k, v in (r.get("accuracy") or {}).items())
        print(f"{r['path'].split('/')[-1]:<48} {r['params'] or 0:>8} {r['nonzero_weights']:>8} "
              f"{r['macs'] or 0:>10} {r['file_bytes']:>8} {r['zipped_bytes']:>8} "
              f"{r['latency_ms_p50']:>7.3f} {acc}")
    return 0
