"""`litefer multistream`: train and test the thesis's four-stream CNN-GRU + LBP-TOP network
subject-independently (needs litefer[train]); the options are litefer.train.multistream's."""
from __future__ import annotations

import argparse

from ..errors import require


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="four-stream CNN-GRU + LBP-TOP network, subject-grouped folds "
                                  "(needs litefer[train])", add_help=False, prefix_chars="+",
                       description="Options as `python -m litefer.train.multistream --help`.")
    p.add_argument("options", nargs=argparse.REMAINDER,
                   help="--data CK48 --out DIR --folds K ... (see --help)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    require("torch", "train")
    from ..train.multistream import main

    return main(args.options)
