"""``tommer train-types`` plus ``--members N``: N supervised heads that differ only in their seed
(``--seed``, ``--seed`` + 1, ...), trained one after another on one encoding of the texts (each keeps
its best held-out epoch), saved as one head averaging their class probabilities, whose thresholds are
chosen again on the held-out texts. The backbone pass is shared, so a typed call costs N small heads.

    python experiments/train_types_lab.py --model smollm2-135m --echo --layer 12 \\
        --extra-layers 8,18 --join-sentences 8 --batch-windows 2 --candidate-threshold 0.002 \\
        --bilstm-dim 128 --data "../shared/data/benchmarks/CoNLL 2003/train.json" \\
        --val-data "../shared/data/benchmarks/CoNLL 2003/dev.json" --epochs 8 --seed 1 --members 2 \\
        --cache-dir build/cache --out build/l12-8-18-s1

(the second of the three runs behind the CoNLL 2003 ensemble ``build/conll2003-l12-8-18-bilstm-x5``, recorded
there as ``tommer train-types ... --members 2``). With ``--members 1`` (the default) it is
``tommer train-types``. ``combine_types.py`` joins such runs into one ensemble.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ensembles import ensemble
from lab_cli import command_line, run_command

from tommer.cli.common import logger
from tommer.cli.train_types import add_arguments, training_options
from tommer.errors import TommerError
from tommer.training.type_training import prepare_type_training


def train_members(
    members: int, out: str, head_only: bool = False, command: str = "", log=print, **options
) -> Path:
    """Train ``members`` heads (seeds ``config.seed``, +1, ...) and save their ensemble (``options``:
    those of :func:`~tommer.training.type_training.prepare_type_training`)."""
    if members < 1 or (members > 1 and options.get("zero_shot")):
        raise TommerError(f"--members must be 1, or more for a supervised head; got {members}")
    training = prepare_type_training(log=log, **options)
    seed = training.config.seed
    trained = []
    for k in range(members):
        if members > 1:
            log(f"member {k + 1} of {members} (seed {seed + k})")
        trained.append(training.train(seed + k, log))
    head = ensemble([h for h, _ in trained])
    histories = [(seed + k, history) for k, (_, history) in enumerate(trained)]
    return training.save(head, histories, out, head_only, command, log)


def run(args: argparse.Namespace) -> int:
    train_members(
        args.members,
        args.out,
        args.head_only,
        command_line("train_types_lab.py", args.argv),
        logger(args),
        **training_options(args),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="experiments/train_types_lab.py", description=__doc__.split("\n")[0]
    )
    add_arguments(parser)
    parser.add_argument(
        "--members",
        type=int,
        default=1,
        metavar="N",
        help="supervised: train N heads (seeds --seed, --seed+1, ...) and average their class probabilities",
    )
    parser.set_defaults(func=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
