"""`litefer average`: weight average of fine-tunes of one network (model soup, WiSE-FT)."""
from __future__ import annotations

import argparse
import json

from ..errors import require


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="average the weights of checkpoints fine-tuned from one network, "
                                  "or (--ensemble) the outputs of any networks of one "
                                  "architecture (needs litefer[train])")
    p.add_argument("--model", action="append", required=True, metavar="CKPT",
                   help="a training checkpoint (.pt); repeat, at least twice (once with --ema)")
    p.add_argument("--weights", type=float, nargs="+", default=None, metavar="W",
                   help="one non-negative weight per --model (default: equal); e.g. 0.3 0.7 "
                        "interpolates between a network and its fine-tune")
    p.add_argument("--ema", action="store_true",
                   help="average each checkpoint's weight average (last.pt of runs trained "
                        "with --ema) instead of its live weights")
    p.add_argument("--ensemble", action="store_true",
                   help="keep every network whole and average their log-probabilities (an "
                        "output ensemble, n times the size; the networks need not share a "
                        "start): architecture ARCH_x<n>")
    p.add_argument("--out", required=True, help="output checkpoint (.pt) for `litefer export`")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    require("torch", "train")
    from ..train.average import save_average

    path = save_average(args.model, args.out, args.weights, args.ema, args.ensemble)
    print(json.dumps({"path": str(path), "models": args.model,
                      "weights": args.weights or [1.0] * len(args.model),
                      "combine": "outputs" if args.ensemble else "weights"}))
    return 0
