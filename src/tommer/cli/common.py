"""Helpers shared by the commands: progress messages and the command line as typed."""

from __future__ import annotations

import argparse
import shlex
import sys


def logger(args: argparse.Namespace):
    """Print progress messages to stderr unless --quiet."""
    if args.quiet:
        return lambda message: None
    return lambda message: print(message, file=sys.stderr, flush=True)


def command_line(args: argparse.Namespace) -> str:
    """The command as typed (shell-quoted), for reports and model cards."""
    return "tommer " + " ".join(shlex.quote(a) for a in args.argv)
