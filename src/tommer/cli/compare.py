"""``tommer compare``: zero-shot scores and agreement (DICE) of several backbones' probes."""

from __future__ import annotations

import argparse

from ..core.decoding import DEFAULT_DECODING
from ..core.layout import BACKBONE_MODELS
from .common import command_line, logger


def run(args: argparse.Namespace) -> int:
    """Run ``tommer compare``."""
    from ..evaluation.compare import run_compare

    result = run_compare(
        models=[m.strip() for m in args.models.split(",") if m.strip()],
        limit=args.limit,
        benchmarks=[b.strip() for b in args.benchmarks.split(",")] if args.benchmarks else None,
        threshold=args.threshold,
        decodings=[d.strip() for d in args.decoding.split(",") if d.strip()],
        root=args.data_root,
        out_dir=args.out,
        sweeps_dir=args.sweeps,
        command=command_line(args),
        log=logger(args),
    )
    print(f"mean pairwise DICE {result['dice']['mean_pairwise']:.3f}; report in {args.out}/compare.md")
    return 0


def add_parser(sub) -> None:
    """Add the command's subparser to ``sub`` (``argparse`` subparsers)."""
    cp = sub.add_parser("compare", help="zero-shot scores and agreement (DICE) of several backbones' probes")
    cp.add_argument("--models", default=",".join(BACKBONE_MODELS), help="comma-separated models or dirs")
    cp.add_argument("--limit", type=int, default=50, help="first N test sentences per benchmark")
    cp.add_argument("--benchmarks", help="comma-separated benchmark names (default: all 13)")
    cp.add_argument("--threshold", type=float, help="minimum span probability (default: each model's)")
    cp.add_argument(
        "--decoding", default=f"{DEFAULT_DECODING},threshold", help="decoders, comma-separated (first: main)"
    )
    cp.add_argument("--data-root", help="folder holding benchmarks/ (default $TOMMER_DATA)")
    cp.add_argument("--sweeps", default="results", help="folder of layer_sweep_<backbone>.json files")
    cp.add_argument("--out", default="results/compare")
    cp.add_argument("-q", "--quiet", action="store_true")
    cp.set_defaults(func=run)
