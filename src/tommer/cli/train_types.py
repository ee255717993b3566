"""``tommer train-types``: train a span-type head (supervised or zero-shot) on a detector's probe."""

from __future__ import annotations

import argparse

from ..core.layout import DEFAULT_MODEL
from .common import command_line, logger


def _layer_list(value: str) -> list[int]:
    """``"12,18"`` → ``[12, 18]`` (argparse type; a clear error otherwise)."""
    try:
        layers = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer numbers, got {value!r}") from None
    if any(m < 1 for m in layers):
        raise argparse.ArgumentTypeError(f"layers start at 1, got {value!r}")
    return layers


def training_options(args: argparse.Namespace) -> dict:
    """The options of :func:`~tommer.training.type_training.prepare_type_training` from the command line."""
    from ..training.type_training import TypeTrainConfig

    config = TypeTrainConfig(
        epochs=args.epochs,
        lr=args.lr,
        negative_labels=args.negative_labels,
        seed=args.seed,
        balanced=not args.plain_bce,
        batch_windows=args.batch_windows,
    )
    return dict(
        model=args.model,
        data=args.data,
        val_data=args.val_data,
        zero_shot=args.zero_shot,
        cache_dir=args.cache_dir,
        max_docs=args.max_docs,
        val_limit=args.val_limit,
        val_fraction=args.val_fraction,
        candidate_threshold=args.candidate_threshold,
        dim=args.dim,
        probe_feature=args.probe_feature,
        config=config,
        echo=args.echo,
        layer=args.layer,
        join_sentences=args.join_sentences,
        text_prefix=args.text_prefix.encode().decode("unicode_escape"),
        bilstm_dim=args.bilstm_dim,
        extra_layers=args.extra_layers,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``tommer train-types``."""
    from ..training.type_training import run_train_types

    run_train_types(
        out=args.out,
        head_only=args.head_only,
        command=command_line(args),
        log=logger(args),
        **training_options(args),
    )
    return 0


def add_parser(sub) -> None:
    """Add the command's subparser to ``sub`` (``argparse`` subparsers)."""
    tt = sub.add_parser("train-types", help="train a span-type head (supervised or zero-shot)")
    add_arguments(tt)
    tt.set_defaults(func=run)


def add_arguments(tt: argparse.ArgumentParser) -> None:
    """The options of ``tommer train-types`` (read back by :func:`training_options`)."""
    tt.add_argument("--data", nargs="+", required=True, help="typed benchmark .json or BIO files")
    tt.add_argument("--val-data", nargs="+", help="held-out files (default: a fixed fraction of --data)")
    tt.add_argument("--val-fraction", type=float, default=0.1)
    tt.add_argument("--val-limit", type=int, help="use only the first N held-out texts")
    tt.add_argument("--max-docs", type=int, help="use only the first N training texts")
    tt.add_argument("--model", default=DEFAULT_MODEL, help="the detector whose probe gives the candidates")
    tt.add_argument("--zero-shot", action="store_true", help="label-name bi-encoder (default: supervised)")
    tt.add_argument(
        "--candidate-threshold", type=float, default=0.02, help="probe probability of training candidates"
    )
    tt.add_argument("--dim", type=int, default=128, help="span / label vector size")
    tt.add_argument("--probe-feature", action="store_true", help="the head also reads the span probability")
    tt.add_argument(
        "--bilstm-dim",
        type=int,
        default=0,
        metavar="N",
        help="a trainable BiLSTM of width N over the head's states (default 0: none)",
    )
    tt.add_argument("--epochs", type=int, default=6)
    tt.add_argument("--lr", type=float, default=1e-3)
    tt.add_argument("--batch-windows", type=int, default=16, help="texts (windows) per optimizer step")
    tt.add_argument("--negative-labels", type=int, default=8, help="zero-shot: random other types per text")
    tt.add_argument("--plain-bce", action="store_true", help="zero-shot: plain mean BCE (default: balanced)")
    tt.add_argument("--seed", type=int, default=0)
    tt.add_argument("--cache-dir", help="keep layer-L hidden states here between runs")
    tt.add_argument("--out", required=True, help="detector directory to write (probe + head)")
    tt.add_argument(
        "--echo",
        action="store_true",
        help="the head reads echo input (each window fed twice; right context, 2x the tokens)",
    )
    tt.add_argument(
        "--layer",
        type=int,
        default=None,
        help="backbone layer the head reads (default: the probe's; deeper costs those layers on typed calls)",
    )
    tt.add_argument(
        "--extra-layers",
        type=_layer_list,
        default=[],
        metavar="M,...",
        help="supervised: more layers the head reads, concatenated with --layer's (e.g. 18)",
    )
    tt.add_argument(
        "--join-sentences",
        type=int,
        default=1,
        metavar="N",
        help="read N consecutive sentences as one text (document context; the files keep document order)",
    )
    tt.add_argument(
        "--text-prefix",
        default="",
        metavar="WS",
        help=r"whitespace fed before every text (e.g. '\n'): its first words read like running text",
    )
    tt.add_argument("--head-only", action="store_true", help="write only types.json / types.safetensors")
    tt.add_argument("-q", "--quiet", action="store_true")
