"""`litefer cv`: subject-independent k-fold cross-validation (CK+ protocol), needs litefer[train].

Writes OUT/cv.json (mean ± std, per-fold accuracy, n and subjects, pooled report),
OUT/confusion.png (pooled over every test fold) and OUT/folds/fold_XX.json (re-used when the
run is resumed).
Each fold trains a FIXED number of epochs and tests the final weights (see litefer.train.cv).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import LiteferError, require


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="subject-independent k-fold cross-validation "
                                  "(needs litefer[train])",
                       description="Group k-fold by subject: every image of a subject is in one "
                                   "fold; each fold is tested once by a model trained on the "
                                   "others for a fixed number of epochs (final weights; no "
                                   "selection on the test fold).")
    p.add_argument("--model", required=True, help="registered architecture, e.g. nano_a")
    p.add_argument("--data", required=True, help="dataset folder with subject ids (CK+48)")
    p.add_argument("--folds", type=int, default=10)
    p.add_argument("--epochs", type=int, default=30, help="training epochs per fold (fixed)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (cosine to 0)")
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--class-weights", action="store_true",
                   help="inverse-frequency class weights in the loss (CK+: contempt has 54 of "
                        "981 images)")
    p.add_argument("--no-augment", action="store_true", help="disable shift/rotation/zoom/flip")
    p.add_argument("--tta", action="store_true", help="average test logits with mirrored faces")
    p.add_argument("--init-from", default="", metavar="CKPT_OR_ONNX",
                   help="initialise every fold from these weights except the classifier "
                        "(two-stage fine-tuning from e.g. a FER2013 run; .pt or .onnx)")
    p.add_argument("--save-models", action="store_true",
                   help="keep each fold's final weights in OUT/folds/fold_XX.pt (fold teachers)")
    p.add_argument("--teacher-cv", action="append", default=[], metavar="DIR",
                   help="distil fold f from fold f's model of an earlier run saved with "
                        "--save-models (same --folds and --seed: the same subjects, checked); "
                        "repeat for an ensemble")
    p.add_argument("--distill", type=float, default=None, metavar="A",
                   help="weight of the teacher's soft targets in [0, 1] (default 0.5)")
    p.add_argument("--distill-temperature", type=float, default=None, metavar="T",
                   help="softmax temperature of the soft targets (default 2)")
    p.add_argument("--teacher-tta", action="store_true",
                   help="the teacher also sees the mirrored batch")
    p.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                   help="mixup: train on blends of two faces, weight ~ Beta(ALPHA, ALPHA) "
                        "(0 = off)")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="test an exponential moving average of the weights with this per-step "
                        "decay, e.g. 0.99 (0 = off: the final weights)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None,
                   help="output folder (default runs/cv/MODEL, or runs/cv/MODEL.init with --init-from)")
    p.add_argument("--no-resume", action="store_true", help="recompute folds already on disk")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace):
    from ..train.config import AugmentConfig, TrainConfig
    from ..train.cv import CVConfig

    teacher = tuple(args.teacher_cv)
    given = [f for f in ("distill", "distill_temperature", "teacher_tta")
             if getattr(args, f) not in (None, False)]
    if given and not teacher:
        raise LiteferError(f"--{given[0].replace('_', '-')} needs a teacher (--teacher-cv DIR)")
    kd = {"distill": 0.5 if args.distill is None else args.distill,
          "distill_temperature": 2.0 if args.distill_temperature is None
          else args.distill_temperature,
          "teacher_tta": args.teacher_tta} if teacher else {}
    train = TrainConfig(model=args.model, epochs=args.epochs, batch_size=args.batch_size,
                        lr=args.lr, warmup_epochs=1.0, weight_decay=args.weight_decay,
                        label_smoothing=args.label_smoothing,
                        class_weights=args.class_weights, seed=args.seed,
                        threads=args.threads, augment=AugmentConfig(enabled=not args.no_augment),
                        mixup=args.mixup, ema=args.ema, **kd)
    return CVConfig(model=args.model, folds=args.folds, init_from=args.init_from, tta=args.tta,
                    train=train, teacher_cv=teacher)


def _print_table(report: dict) -> None:
    for f in report["folds"]:
        print(f"fold {f['fold'] + 1:>2}: accuracy {f['accuracy']:.4f}  n={f['n']:<4} "
              f"subjects={len(f['subjects'])}")
    init = f" (initialised from {report['init_from']})" if report["init_from"] else ""
    print(f"{report['model']}{init}: mean accuracy {report['mean_accuracy']:.4f} ± "
          f"{report['std_accuracy']:.4f} over {len(report['folds'])} folds; pooled "
          f"{report['pooled']['accuracy']:.4f} on {report['n_images']} images")


def run(args: argparse.Namespace) -> int:
    require("torch", "train")
    from ..data import load_dataset
    from ..evaluate import plot_confusion
    from ..models import get_entry
    from ..train.cv import run_cv

    get_entry(args.model)  # unknown names fail before any data is read
    cfg = config_from_args(args)
    for folder in cfg.teacher_cv:
        if not Path(folder, "folds").is_dir():
            raise LiteferError(f"--teacher-cv {folder}: no folds/ folder there (run the "
                               "teacher's `litefer cv` with --save-models and --out)")
    fs = load_dataset(args.data)
    out = Path(args.out or f"runs/cv/{args.model}{'.init' if args.init_from else ''}")
    out.mkdir(parents=True, exist_ok=True)
    log = (lambda m: print(m, file=sys.stderr)) if args.json else print
    report = run_cv(cfg, fs, out, resume=not args.no_resume, log=log,
                    save_models=args.save_models)
    report["data"] = str(args.data)
    (out / "cv.json").write_text(json.dumps(report, indent=1))
    init = " (from " + Path(args.init_from).name + ")" if args.init_from else ""
    if cfg.teacher_cv:
        init += ", distilled from " + " + ".join(Path(t).name for t in cfg.teacher_cv)
    plot_confusion(report["pooled"], out / "confusion.png",
                   title=f"{args.model}{init}: {cfg.folds}-fold CV "
                         f"{report['mean_accuracy']:.4f} ± {report['std_accuracy']:.4f}")
    if args.json:
        print(json.dumps(report))
    else:
        _print_table(report)
    return 0
