"""`litefer train`: train a registered model (needs the [train] extra)."""
from __future__ import annotations

import argparse
import json

from ..errors import require


def add_parser(sub, name: str) -> None:
    from ..train.config import TrainConfig  # torch-free dataclass

    d = TrainConfig()
    p = sub.add_parser(name, help="train a model (needs litefer[train])",
                       description="Train a registered model; resumes from OUT/last.pt if present.")
    p.add_argument("--model", default=d.model, help="registered architecture (see `litefer models`)")
    p.add_argument("--data", required=True, help="FER2013 .csv/.csv.gz or a dataset folder")
    p.add_argument("--out", default=None, help="run directory (default runs/MODEL[.TAG])")
    p.add_argument("--tag", default=d.tag, help="weight tag, e.g. fer2013")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--class-weights", action="store_true", help="inverse-frequency class weights")
    p.add_argument("--no-augment", action="store_true", help="disable shift/rotation/zoom/flip")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--train-split", default=d.train_split)
    p.add_argument("--val-split", default=d.val_split, help="split used for model selection")
    p.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT/last.pt exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--prune-to", type=float, default=d.prune_to,
                   help="prune conv/linear weights to this sparsity during training (0 = off)")
    p.add_argument("--prune-scope", default=d.prune_scope, choices=["global", "layer"])
    p.add_argument("--prune-window", type=float, nargs=2, default=(d.prune_start, d.prune_end),
                   metavar=("START", "END"), help="fractions of training the sparsity ramp spans")
    p.add_argument("--qat", action="store_true", help="quantisation-aware training (fake-quant)")
    p.add_argument("--qat-bits", type=int, default=d.qat_bits)
    p.add_argument("--init-from", default="", metavar="CKPT",
                   help="start from this training checkpoint's weights, or an ONNX file that "
                        "`litefer export` wrote for the same architecture and labels (same "
                        "model; a new schedule)")
    p.add_argument("--teacher", action="append", default=[], metavar="MODEL",
                   help="ONNX path or shipped name of a frozen teacher for knowledge distillation "
                        "(repeat for an ensemble: the mean of their log-probabilities)")
    p.add_argument("--teacher-tta", nargs="?", const="flip", default=None,
                   choices=["flip", "crops"],
                   help="the teacher's outputs are averaged over views of the batch: flip (the "
                        "default) adds the mirror image, crops seven framings and their mirrors")
    p.add_argument("--distill", type=float, default=d.distill, metavar="A",
                   help="weight of the distillation term in [0, 1] (0 = off; needs --teacher)")
    p.add_argument("--distill-temperature", type=float, default=d.distill_temperature,
                   metavar="T")
    p.add_argument("--ema", type=float, default=d.ema, metavar="DECAY",
                   help="validate and save an exponential moving average of the weights with this "
                        "per-step decay, e.g. 0.999 (0 = off)")
    p.add_argument("--mixup", type=float, default=d.mixup, metavar="ALPHA",
                   help="mixup: train on blends of two faces, weight ~ Beta(ALPHA, ALPHA), "
                        "e.g. 0.2 (0 = off)")
    p.add_argument("--teacher-views", type=int, default=d.teacher_views, metavar="K",
                   help="run the teacher once on K fixed augmented views per image and train on "
                        "those views with the cached outputs (much faster epochs; 0 = run the "
                        "teacher on every batch)")
    p.add_argument("--teacher-bank", default=d.teacher_bank, metavar="DIR",
                   help="where teacher banks are kept, one folder per fingerprint "
                        f"(default {d.teacher_bank})")
    p.add_argument("--teacher-mirror", action="store_true",
                   help="with --teacher-views and --teacher-tta, also train on each view's mirror "
                        "image (the flip-averaged teacher gives it the same outputs): twice the "
                        "views for the same teacher work")
    p.add_argument("--extra-data", action="append", default=[], metavar="PATH[:SPLIT]",
                   help="append another labelled set to the training split, e.g. "
                        "../shared/data/muxspace:train (repeatable; same label space)")
    p.add_argument("--logit-adjust", type=float, default=d.logit_adjust, metavar="TAU",
                   help="logit-adjusted loss: train on logits + TAU * log(training prior), so the "
                        "raw scores are class-balanced (0 = plain cross-entropy)")
    p.add_argument("--domain-augment", type=float, default=0.0, metavar="P",
                   help="per-image probability of illumination/contrast, blur and JPEG changes "
                        "(noise and occlusion at P/2); 0 = off")
    p.add_argument("--align-faces", default="", metavar="DETECTOR",
                   help="frame every training crop as the runtime does: this detector (e.g. "
                        "default) + alignment over the upscaled crop; the original crop where "
                        "no face is found (cached under runs/aligned)")
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace):
    from ..train.augment import AugmentConfig
    from ..train.config import TrainConfig
    from ..train.domain import DomainConfig

    name = f"{args.model}.{args.tag}" if args.tag else args.model
    return TrainConfig(
        model=args.model, data=args.data, out=args.out or f"runs/{name}", epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, warmup_epochs=args.warmup_epochs,
        weight_decay=args.weight_decay, label_smoothing=args.label_smoothing,
        class_weights=args.class_weights, seed=args.seed, threads=args.threads,
        train_split=args.train_split, val_split=args.val_split, limit=args.limit,
        resume=not args.no_resume, tag=args.tag, augment=AugmentConfig(enabled=not args.no_augment),
        prune_to=args.prune_to, prune_scope=args.prune_scope, prune_start=args.prune_window[0],
        prune_end=args.prune_window[1], qat=args.qat, qat_bits=args.qat_bits,
        init_from=args.init_from, teachers=tuple(args.teacher),
        teacher_tta=_teacher_tta(args.teacher_tta), distill=args.distill,
        distill_temperature=args.distill_temperature, ema=args.ema, mixup=args.mixup,
        teacher_views=args.teacher_views, teacher_bank=args.teacher_bank,
        teacher_mirror=args.teacher_mirror, extra_data=tuple(args.extra_data),
        logit_adjust=args.logit_adjust, domain=DomainConfig.preset(args.domain_augment),
        align_faces=args.align_faces,
    )


def run(args: argparse.Namespace) -> int:
    require("torch", "train")
    from ..train.engine import Trainer

    from ..optimize.compress import from_train_config

    trainer = Trainer(config_from_args(args), progress=not args.quiet,
                      compression=from_train_config)
    summary = trainer.fit(progress=not args.quiet)
    print(json.dumps(summary))
    return 0


def _teacher_tta(value: str | None) -> bool | str:
    """TrainConfig.teacher_tta: False, True for flip (as configs have always recorded it), or
    "crops"."""
    return "crops" if value == "crops" else bool(value)
