"""`litefer prune-se`: prune an LB-MBNet's LBC channels by their SE weights, rebuild, retrain.

Writes to OUT: best.pt (the rebuilt, retrained network; reloads with `litefer export`),
report.json / report.md (params, MACs, accuracy on the selection and test splits before pruning,
after rebuilding and after retraining) and se_hist_before.png / se_hist_after.png.
"""
from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from ..errors import LiteferError, require

TEST_SPLIT = "PrivateTest"


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="prune LB-MBNet channels by SE weights (needs litefer[train])",
                       description="Score every LBC channel by its mean squeeze-excitation weight "
                                   "on training faces, keep the best cin * R per block, rebuild "
                                   "the LB-MBNet with ratio R and retrain it.")
    p.add_argument("--model", required=True, help="LB-MBNet training checkpoint (.pt)")
    p.add_argument("--data", required=True, help="FER2013 .csv/.csv.gz or a dataset folder")
    p.add_argument("--ratio", type=int, required=True, help="target expansion ratio r'")
    p.add_argument("--schedule", default="oneshot", choices=["oneshot", "segmented"])
    p.add_argument("--segments", type=int, default=3, help="pruning steps when segmented")
    p.add_argument("--epochs", type=int, default=2,
                   help="retraining epochs in all (shared out over the segments)")
    p.add_argument("--samples", type=int, default=4000,
                   help="training faces the SE weights are averaged over (0 = all)")
    p.add_argument("--lr", type=float, default=1e-3, help="retraining peak learning rate")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, default=0, help="use the first N training faces only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="runs/prune-se", help="output folder")
    p.set_defaults(run=run)


def command_line(args: argparse.Namespace) -> str:
    """The `litefer prune-se` command reproducing ``args``."""
    parts = ["litefer", "prune-se"]
    for key, value in vars(args).items():
        if key not in ("run", "command"):
            parts += ["--" + key.replace("_", "-"), str(value)]
    return shlex.join(parts)


def _accuracy(model, sets: dict, spec) -> dict:
    from ..optimize.finetune import accuracy
    from ..train.loop import faces_to_uint8

    return {s: accuracy(model, faces_to_uint8(fs, spec), fs.labels, spec) for s, fs in sets.items()}


def _row(label: str, model, spec, sets: dict) -> dict:
    from ..models.layers import count_params
    from ..models.profile import count_macs

    return {"model": label, "ratio": model.config.ratio, "params": count_params(model),
            "macs": count_macs(model, spec), "accuracy": _accuracy(model, sets, spec)}


def render_markdown(report: dict) -> str:
    """Tables 5.5-5.6 style: one row per network state, then the retraining record."""
    splits = list(report["rows"][0]["accuracy"])
    lines = [f"# SE-guided pruning of {report['source']}", "",
             f"Made with `{report['command']}` ({report['schedule']}, "
             f"{report['epochs']} retraining epoch(s), SE weights over {report['samples']} "
             "training faces).", "",
             "| network | r | params | MACs | " + " | ".join(splits) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(splits)]
    for r in report["rows"]:
        accs = " | ".join(f"{100 * r['accuracy'][s]:.2f}%" for s in splits)
        lines.append(f"| {r['model']} | {r['ratio']} | {r['params']:,} | {r['macs']:,} | {accs} |")
    lines += ["", "Kept LBC channels per block: "
              + ", ".join(f"r = {s['ratio']}: {s['kept']}" for s in report["steps"]), "",
              "SE weights: `se_hist_before.png` (original, kept/pruned), `se_hist_after.png` "
              "(rebuilt and retrained).", ""]
    return "\n".join(lines)


def _save(model, spec, out: Path, args, steps: list[dict]) -> Path:
    import torch

    from ..train.config import TrainConfig

    history = steps[-1]["finetune"]["val_acc"]
    cfg = TrainConfig(model=spec.arch, data=args.data, out=str(out), epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      threads=args.threads, limit=args.limit, tag=spec.name.split(".", 1)[-1])
    path = out / "best.pt"
    torch.save({"model": model.state_dict(), "spec": spec.to_json(), "epoch": args.epochs,
                "val_acc": max(history) if history else None,
                "config": cfg.to_dict()}, path)
    return path


def run(args: argparse.Namespace) -> int:
    require("torch", "train")
    require("matplotlib", "train")
    import torch

    from ..data import load_splits
    from ..optimize.finetune import FinetuneConfig
    from ..optimize.se_prune import (SEPruneConfig, blocks, plot_se_histograms, prune_se,
                                     sample_faces, se_scores, surviving)
    from ..train.checkpoint import load_checkpoint
    from ..train.loop import faces_to_uint8

    if not Path(args.model).is_file():
        raise LiteferError(f"checkpoint not found: {args.model}")
    torch.set_num_threads(args.threads)
    model, spec, info = load_checkpoint(args.model)
    blocks(model)  # LiteferError for other architectures, before any data is read
    val_split = info.get("config", {}).get("val_split", "PublicTest")
    sets = load_splits(args.data, tuple(dict.fromkeys(("Training", val_split, TEST_SPLIT))))
    train = sets.pop("Training")
    train = train.subset(slice(0, args.limit)) if args.limit else train
    cfg = SEPruneConfig(ratio=args.ratio, schedule=args.schedule, segments=args.segments,
                        samples=args.samples, finetune=FinetuneConfig(
                            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                            seed=args.seed, threads=args.threads))
    rows = [_row(f"{spec.name} (trained)", model, spec, sets)]
    x_train = faces_to_uint8(train, spec)
    final, new_spec, steps = prune_se(model, spec, x_train, train, sets[val_split], cfg)
    for s in steps:
        rows.append(_row(f"rebuilt r = {s['ratio']}, before retraining", s["rebuilt"], spec, sets))
    rows.append(_row(f"{new_spec.name} (retrained)", final, new_spec, sets))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sample = sample_faces(x_train, args.samples, args.seed)
    plot_se_histograms(steps[0]["scores"], out / "se_hist_before.png",
                       f"{spec.name}: SE weights before pruning", surviving(steps))
    plot_se_histograms(se_scores(final, sample, new_spec), out / "se_hist_after.png",
                       f"{new_spec.name}: SE weights after pruning and retraining")
    ckpt = _save(final, new_spec, out, args, steps)
    report = {"source": args.model, "checkpoint": str(ckpt), "schedule": args.schedule,
              "epochs": args.epochs, "samples": len(sample), "val_split": val_split,
              "rows": rows, "command": command_line(args),
              "steps": [{"ratio": s["ratio"], "kept": s["kept"], "finetune": s["finetune"]}
                        for s in steps]}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(report))
    print(json.dumps({"checkpoint": str(ckpt), "rows": rows}))
    return 0
