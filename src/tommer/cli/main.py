"""The ``tommer`` parser (one subcommand per module of this package) and ``main``."""

from __future__ import annotations

import argparse
import sys

from ..errors import Stopped, TommerError
from . import compare, detect, evaluate, judge, serve, train, train_types

COMMANDS = (detect, serve, train, evaluate, train_types, judge, compare)  # --help order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tommer", description="Entity mention detection (ToMMeR).")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except Stopped as err:  # SIGTERM / SIGINT: the last whole chunk is written
        print(f"tommer: {err}", file=sys.stderr)
        return 128 + err.signum
    except TommerError as err:
        print(f"tommer: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tommer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
