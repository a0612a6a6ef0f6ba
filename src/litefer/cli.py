"""`litefer` command line: argparse subcommands; training commands import torch lazily."""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import LiteferError

# name -> module in litefer.commands providing add_parser(subparsers) and run(args) -> int
COMMANDS = {
    "analyze": "analyze", "train": "train", "eval": "evaluate", "export": "export",
    "models": "models", "serve": "serve", "search": "search", "cv": "cv",
    "optimize": "optimize", "bench": "bench", "multistream": "multistream",
    "prune-se": "prune_se", "average": "average",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="litefer", description="Lightweight facial emotion recognition on an ordinary CPU.")
    parser.add_argument("--version", action="version", version=f"litefer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        mod = importlib.import_module(f"litefer.commands.{module}")
        mod.add_parser(sub, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except LiteferError as exc:
        print(f"litefer {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"litefer {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`litefer ... | head`): stop quietly
        _silence_stdout()
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again (the
    Python documentation's recipe for SIGPIPE); a stdout without a descriptor is left as is."""
    import os

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
