"""``tommer eval``: untyped mention scores on the benchmarks, or (``--typed``) strict typed scores."""

from __future__ import annotations

import argparse

from ..core.decoding import DEFAULT_DECODING
from ..core.layout import DEFAULT_MODEL
from ..errors import TommerError
from .common import add_engine_option, command_line, logger

TYPED_ONLY = ("supervised", "zero_shot", "lm_labels")  # options read only by --typed
UNTYPED_ONLY = ("benchmarks", "threshold", "peers", "pile_ner", "engine")  # options --typed does not read
DEFAULT_DECODINGS = f"threshold,{DEFAULT_DECODING}"


def _refuse(args: argparse.Namespace, names: tuple[str, ...], rule: str) -> None:
    given = ["--" + name.replace("_", "-") for name in names if name != "decoding" and getattr(args, name)]
    if "decoding" in names and args.decoding != DEFAULT_DECODINGS:
        given.append("--decoding")
    if given:
        raise TommerError(f"{', '.join(given)} {rule}")


def run(args: argparse.Namespace) -> int:
    """Run ``tommer eval`` (``--typed``: :func:`run_typed`)."""
    if args.typed:
        _refuse(args, (*UNTYPED_ONLY, "decoding"), "cannot be used with --typed (each head has its own)")
        return run_typed(args)
    _refuse(args, TYPED_ONLY, "only apply with --typed")

    log = logger(args)
    from ..evaluation.evaluation import run_eval

    report = run_eval(
        model=args.model,
        data_root=args.data_root,
        benchmarks=args.benchmarks,
        split=args.split,
        limit=args.limit,
        threshold=args.threshold,
        decoding=args.decoding,
        batch_size=args.batch_size,
        peers=args.peers,
        out_dir=args.out,
        command=command_line(args),
        pile_ner=args.pile_ner,
        engine=args.engine,
        log=log,
        progress=not args.quiet,
    )
    for name in report["predictors"]:
        pooled = report["pooled"][name]
        print(f"{name}: pooled P {pooled['precision']:.4f} R {pooled['recall']:.4f} F1 {pooled['f1']:.4f}")
    return 0


def run_typed(args: argparse.Namespace) -> int:
    """``tommer eval --typed``: strict typed scores, supervised and zero-shot rows."""
    supervised = []
    for item in args.supervised or []:
        name, sep, model_dir = item.partition("=")
        if not sep:
            raise TommerError(f"--supervised takes BENCHMARK=MODEL_DIR, not {item!r}")
        supervised.append((name, model_dir))
    zero_shot = [b.strip() for b in args.zero_shot.split(",") if b.strip()] if args.zero_shot else []
    from ..evaluation.typed_eval import run_typed_eval

    report = run_typed_eval(
        model=args.model,
        supervised=supervised,
        zero_shot=zero_shot,
        data_root=args.data_root,
        split=args.split,
        limit=args.limit,
        batch_size=args.batch_size,
        out_dir=args.out,
        command=command_line(args),
        lm_labels=args.lm_labels,
        log=logger(args),
    )
    for row in report["rows"]:
        m = row["micro"]
        name = f"{row['benchmark']} ({row['setting']})"
        print(f"{name}: P {m['precision']:.4f} R {m['recall']:.4f} F1 {m['f1']:.4f}")
    return 0


def add_parser(sub) -> None:
    """Add the command's subparser to ``sub`` (``argparse`` subparsers)."""
    ev = sub.add_parser("eval", help="untyped mention scores on the benchmark folders")
    ev.add_argument("--model", default=DEFAULT_MODEL, help="model to score ('none': peers only)")
    ev.add_argument("--data-root", help="folder holding benchmarks/ and pile-ner/ (default $TOMMER_DATA)")
    ev.add_argument("--benchmarks", help="comma-separated benchmark names (default: all 13)")
    ev.add_argument("--split", default="test", help="test, dev, train, or a '+'-joined list")
    ev.add_argument("--limit", type=int, help="first N sentences per benchmark")
    ev.add_argument("--threshold", type=float, help="minimum span probability (default: the model's)")
    ev.add_argument(
        "--decoding",
        default=DEFAULT_DECODINGS,
        help="decoder, or several comma-separated (threshold,flat,nested)",
    )
    ev.add_argument("--batch-size", type=int, default=8)
    add_engine_option(ev)
    ev.add_argument("--peers", help="comma-separated peers: spacy, spacy+np")
    ev.add_argument("--pile-ner", action="store_true", help="also score the held-out Pile-NER part")
    ev.add_argument("--out", help="write eval.json and eval.md here")
    ev.add_argument("-q", "--quiet", action="store_true")
    ev.add_argument("--typed", action="store_true", help="strict typed scores (writes typed.json / typed.md)")
    ev.add_argument("--supervised", nargs="+", metavar="BENCHMARK=MODEL_DIR", help="--typed: supervised rows")
    ev.add_argument("--zero-shot", help="--typed: comma-separated benchmarks for --model's zero-shot head")
    ev.add_argument(
        "--lm-labels",
        action="store_true",
        help="--typed: also score the zero-shot rows relabelled by the whole backbone "
        "(tommer.typed.lm_labels; slow)",
    )
    ev.set_defaults(func=run)
