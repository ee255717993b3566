"""``tommer detect``: mentions of texts, or of a JSONL / text corpus (streamed, resumable)."""

from __future__ import annotations

import argparse
import sys

from ..core.decoding import DECODERS, DEFAULT_DECODING
from ..core.engines import AUTO, ENGINES
from ..core.layout import DEFAULT_MODEL
from ..core.outputs import format_mentions
from ..data import jsonl
from ..errors import TommerError
from ..integrations.corpus import plan_corpus, stream_corpus
from ..typed.loading import load_detector
from .common import logger


def _print_readable(text: str, mentions) -> None:
    if not mentions:
        print("(no mentions)")
    for m in mentions:
        typed = f"  [{m.label} {m.label_score:.3f}]" if m.label is not None else ""
        print(f"{m.start:>6} {m.end:>6}  {m.score:.3f}  {m.text}{typed}")


def _output_format(args: argparse.Namespace) -> str:
    """``--format`` (``--json`` is short for ``--format json``); files always get JSONL."""
    if args.json and args.format not in (None, "json"):
        raise TommerError(f"--json means --format json: give one of --json and --format {args.format}")
    return "json" if args.json else (args.format or "table")


def _mention_dicts(mentions, fmt: str) -> list[dict]:
    """JSON mentions: ``Mention.to_dict()``, or Hugging Face pipeline dicts for ``--format pipeline``."""
    return format_mentions(mentions, "pipeline" if fmt == "pipeline" else "dicts")


def run(args: argparse.Namespace) -> int:
    """Run ``tommer detect``."""
    if not args.texts and not args.input:
        raise TommerError("give a text to analyse, or an input file with -i")
    if args.lm_labels and args.labels is None:
        raise TommerError("--lm-labels needs --labels")
    fmt = _output_format(args)
    if not args.texts:  # check the files (and repair a resumed output) before loading the model
        plan = plan_corpus(args.input, args.output, resume=args.resume, overwrite=args.overwrite)
    detector = load_detector(args.model, engine=args.engine)
    options = dict(threshold=args.threshold, decoding=args.decoding, batch_size=args.batch_size)
    predict = detector
    if args.labels is not None:  # zero-shot typed mentions (the --html view stays untyped)
        labels = [lab.strip() for lab in args.labels.split(",")]

        def predict(texts, **kw):
            return detector(
                texts, labels=labels, label_threshold=args.label_threshold, lm_labels=args.lm_labels, **kw
            )

    html_docs: list[tuple[str, list | None]] = []  # (text, gold spans) for --html
    if args.texts:
        for text in args.texts:
            mentions = predict(text, **options)
            if fmt != "table":
                print(jsonl.dumps(_mention_dicts(mentions, fmt)))
            else:
                _print_readable(text, mentions)
        if args.html:
            _write_html(args, detector, [(t, None) for t in args.texts])
        return 0

    def render(rec: dict, mentions: list) -> dict:
        if args.html and len(html_docs) < args.html_limit:
            html_docs.append((rec["text"], rec.get("spans")))
        rec["mentions"] = _mention_dicts(mentions, fmt)
        return rec

    stream_corpus(
        predict,
        plan,
        **options,
        chunk_size=args.chunk_size or max(args.batch_size * 8, 64),
        progress=not args.quiet,
        render=render,
        log=logger(args),
    )
    if args.html:
        _write_html(args, detector, html_docs)
    return 0


def _write_html(args: argparse.Namespace, detector, docs: list[tuple[str, list | None]]) -> None:
    """The --html page: highlighted mentions (gold from a record's "spans"), scores, heatmaps."""
    from ..integrations.viz import visualize_many, write_html  # torch: only for --html

    views = visualize_many(
        detector,
        [text for text, _ in docs],
        golds=[gold for _, gold in docs],
        titles=[f"text {k + 1}" for k in range(len(docs))],
        threshold=args.threshold,
        decoding=args.decoding,
    )
    path = write_html(args.html, views, title=f"tommer: {args.model}")
    if not args.quiet:
        print(f"wrote {path} ({len(views)} texts)", file=sys.stderr)


def add_parser(sub) -> None:
    """Add the command's subparser to ``sub`` (``argparse`` subparsers)."""
    det = sub.add_parser("detect", help="find mentions in texts")
    det.add_argument("texts", nargs="*", help="texts to analyse")
    det.add_argument(
        "-i", "--input", help="input .jsonl (objects with a 'text' field) or .txt (one doc per line)"
    )
    det.add_argument("-o", "--output", help="output .jsonl, or .jsonl.gz (default: stdout)")
    det.add_argument("--resume", action="store_true", help="continue an interrupted run's -o output")
    det.add_argument("--overwrite", action="store_true", help="replace an existing -o output")
    det.add_argument("--chunk-size", type=int, help="docs per written chunk (default: 8 batches, >= 64)")
    det.add_argument("--json", action="store_true", help="print mentions as JSON")
    det.add_argument(
        "--format",
        choices=["table", "json", "pipeline"],
        help="table (default for texts), json (Mention dicts) or pipeline (Hugging Face "
        "token-classification dicts: entity_group, score, word, start, end); with -i it sets "
        "the style of each record's 'mentions'",
    )
    det.add_argument("--model", default=DEFAULT_MODEL, help="shipped model name or saved directory")
    det.add_argument("--threshold", type=float, help="minimum span probability (default: the model's)")
    det.add_argument("--decoding", choices=sorted(DECODERS), default=DEFAULT_DECODING)
    det.add_argument("--labels", help="zero-shot types, comma-separated (e.g. person,organization,location)")
    det.add_argument("--label-threshold", type=float, help="minimum label score (default: the head's)")
    det.add_argument(
        "--lm-labels",
        action="store_true",
        help="with --labels: the whole backbone picks each mention's label (better for names unlike the "
        "head's training types; slower)",
    )
    det.add_argument("--batch-size", type=int, default=8)
    det.add_argument(
        "--engine",
        choices=[AUTO, *ENGINES],
        help="what runs the backbone and probe (default: $TOMMER_ENGINE, else auto: picked per CPU)",
    )
    det.add_argument("--html", metavar="PATH", help="also write an HTML view: highlights, scores, heatmaps")
    det.add_argument("--html-limit", type=int, default=100, help="at most N texts in the --html page")
    det.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    det.set_defaults(func=run)
