"""Helpers shared by the commands: progress messages, the command line as typed, the candidate grid."""

from __future__ import annotations

import argparse
import shlex
import sys

from ..training.type_training import CANDIDATE_THRESHOLDS


def logger(args: argparse.Namespace):
    """Print progress messages to stderr unless --quiet."""
    if args.quiet:
        return lambda message: None
    return lambda message: print(message, file=sys.stderr, flush=True)


def command_line(args: argparse.Namespace) -> str:
    """The command as typed (shell-quoted), for reports and model cards."""
    return "tommer " + " ".join(shlex.quote(a) for a in args.argv)


def threshold_list(value: str) -> list[float]:
    """``1e-3,1e-4`` → [0.001, 0.0001] (probabilities strictly between 0 and 1)."""
    try:
        out = [float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated probabilities, got {value!r}") from None
    if not out or any(not 0 < t < 1 for t in out):
        raise argparse.ArgumentTypeError(f"probabilities must lie strictly between 0 and 1, got {value!r}")
    return out


def add_candidate_grid(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--candidate-grid",
        type=threshold_list,
        default=list(CANDIDATE_THRESHOLDS),
        metavar="P,...",
        help="supervised: candidate thresholds to choose from on the held-out texts (default "
        + ",".join(map(str, CANDIDATE_THRESHOLDS))
        + "; the highest within 0.0005 F1 of the best wins)",
    )
