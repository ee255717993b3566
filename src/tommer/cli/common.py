"""Helpers shared by the commands: progress messages, the command line as typed, shared options."""

from __future__ import annotations

import argparse
import shlex
import sys

from ..core.engines import AUTO, ENGINES


def logger(args: argparse.Namespace):
    """Print progress messages to stderr unless --quiet."""
    if args.quiet:
        return lambda message: None
    return lambda message: print(message, file=sys.stderr, flush=True)


def command_line(args: argparse.Namespace) -> str:
    """The command as typed (shell-quoted), for reports and model cards."""
    return "tommer " + " ".join(shlex.quote(a) for a in args.argv)


def add_engine_option(parser: argparse.ArgumentParser, *extra: str, more_help: str = "") -> None:
    """``--engine``: what runs the backbone and probe (``extra``: more choices, ``more_help`` their help)."""
    parser.add_argument(
        "--engine",
        choices=[AUTO, *ENGINES, *extra],
        help="what runs the backbone and probe (default: $TOMMER_ENGINE, else auto: picked per CPU)"
        + more_help,
    )
