"""``tommer combine-types``: one type head averaging trained supervised heads (an ensemble)."""

from __future__ import annotations

import argparse

from ..training.type_training import run_combine_types
from .common import add_candidate_grid, command_line, logger


def run(args: argparse.Namespace) -> int:
    """Run ``tommer combine-types``."""
    run_combine_types(
        models=args.models,
        val_data=args.val_data,
        out=args.out,
        cache_dir=args.cache_dir,
        val_limit=args.val_limit,
        candidate_grid=args.candidate_grid,
        group_stride=args.group_stride,
        command=command_line(args),
        log=logger(args),
    )
    return 0


def add_parser(sub) -> None:
    """Add the command's subparser to ``sub`` (``argparse`` subparsers)."""
    ct = sub.add_parser(
        "combine-types",
        help="one type head averaging trained supervised heads (same probe; layers may differ)",
    )
    ct.add_argument("models", nargs="+", metavar="MODEL_DIR", help="detectors with supervised heads")
    ct.add_argument("--val-data", nargs="+", required=True, help="held-out files (thresholds)")
    add_candidate_grid(ct)
    ct.add_argument("--val-limit", type=int, help="use only the first N held-out texts")
    ct.add_argument(
        "--group-stride",
        type=int,
        default=0,
        metavar="N",
        help="heads reading sentence groups: start a group every N sentences (below the group size, each "
        "sentence is read in several groups and their class probabilities averaged; default: no overlap)",
    )
    ct.add_argument("--cache-dir", help="keep layer-L hidden states here between runs")
    ct.add_argument("--out", required=True, help="detector to write (first model's probe)")
    ct.add_argument("-q", "--quiet", action="store_true")
    ct.set_defaults(func=run)
