"""`python -m replay <command>`: replay logs through Centinela.

`run` replays a file. `tune` and `evaluate` are registered when their
modules (replay.tune, replay.evaluate) are installed; each such module
exposes `add_parser(subparsers)` and sets a `handler` default that takes the
parsed arguments and returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from replay import run

OPTIONAL_COMMANDS = ("tune", "evaluate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m replay", description="Replay access logs through Centinela.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    run.add_parser(subparsers)
    for name in OPTIONAL_COMMANDS:
        try:
            module = importlib.import_module(f"replay.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"replay.{name}":
                raise  # the module exists but one of its imports is missing: show that error
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
