"""What the experiment scripts share: the command line as typed (for records) and running a parser's
command with tommer's errors printed as one line (exit status 2), as the ``tommer`` command does."""

from __future__ import annotations

import argparse
import shlex
import sys

from tommer.errors import TommerError


def command_line(script: str, argv: list[str]) -> str:
    """``python experiments/<script> ...`` as typed (shell-quoted), for the head's record and card."""
    return f"python experiments/{script} " + " ".join(shlex.quote(a) for a in argv)


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the process's), run ``args.func(args)``; a TommerError is one line."""
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except TommerError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
