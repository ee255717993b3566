"""``tommer detect``: mentions of texts, or of a JSONL / text corpus (streamed, resumable)."""

from __future__ import annotations

import argparse
import sys

from ..core.decoding import DECODERS, DEFAULT_DECODING
from ..core.detector import BATCH_SIZE
from ..core.layout import DEFAULT_MODEL
from ..data import jsonl
from ..errors import TommerError
from ..integrations.corpus import Detection, plan_corpus, stream_corpus
from ..typed.loading import load_detector
from .common import add_engine_option, logger

RAY = "ray"  # --engine ray: --ray
CHUNK_SIZE = 1024
"""Docs per chunk of a corpus run: one detector call each, so its windows are sorted by length over
1024 docs (less padding than over 64: results/bench.md), and a resumed run redoes at most one chunk."""


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


def run(args: argparse.Namespace) -> int:
    """Run ``tommer detect``."""
    if not args.texts and not args.input:
        raise TommerError("give a text to analyse, or an input file with -i")
    if args.lm_labels and args.labels is None:
        raise TommerError("--lm-labels needs --labels")
    fmt = _output_format(args)
    labels = None if args.labels is None else tuple(lab.strip() for lab in args.labels.split(","))
    detection = Detection(
        threshold=args.threshold,
        decoding=args.decoding,
        batch_size=args.batch_size,
        labels=labels,
        label_threshold=args.label_threshold,
        lm_labels=args.lm_labels,
        style="pipeline" if fmt == "pipeline" else "json",
    )
    chunk_size = args.chunk_size or max(args.batch_size * 32, CHUNK_SIZE)
    if args.engine == RAY:  # the same as --ray; the workers' engine is then auto (or $TOMMER_ENGINE)
        args.ray, args.engine = True, None
    if args.ray:
        return _run_ray(args, detection, chunk_size)
    for flag in ("address", "workers", "cpus_per_worker", "errors", "output_format"):
        if getattr(args, flag) is not None:
            raise TommerError(f"--{flag.replace('_', '-')} is an option of --ray runs")
    if not args.texts:  # check the files (and repair a resumed output) before loading the model
        plan = plan_corpus(args.input, args.output, resume=args.resume, overwrite=args.overwrite)
    detector = load_detector(args.model, engine=args.engine)
    if args.texts:
        for text in args.texts:
            mentions = detection.detect(detector, [text])[0]
            if fmt != "table":
                print(jsonl.dumps(detection.render({}, mentions)["mentions"]))
            else:
                _print_readable(text, mentions)
        if args.html:
            _write_html(args, detector, [(t, None) for t in args.texts])
        return 0

    html_docs: list[tuple[str, list | None]] = []  # (text, gold spans) for --html

    def keep_for_html(rec: dict) -> None:
        if args.html and len(html_docs) < args.html_limit:
            html_docs.append((rec["text"], rec.get("spans")))

    stream_corpus(
        detector,
        plan,
        detection,
        chunk_size=chunk_size,
        progress=not args.quiet,
        on_record=keep_for_html,
        log=logger(args),
    )
    if args.html:
        _write_html(args, detector, html_docs)
    return 0


def _run_ray(args: argparse.Namespace, detection: Detection, chunk_size: int) -> int:
    """``tommer detect --ray``: the corpus on a Ray cluster (``tommer[ray]``)."""
    if args.texts or not args.input or not args.output:
        raise TommerError("--ray annotates files: give -i INPUT (files, folders or globs) and -o FOLDER")
    for flag in ("resume", "html"):
        if getattr(args, flag):
            raise TommerError(f"--{flag} is not available with --ray (its output is a folder of parts)")
    from ..integrations.distributed import detect_files  # the ray extra

    run = detect_files(
        args.input,
        args.output,
        detection,
        model=args.model,
        engine=args.engine,
        output_format=args.output_format,
        errors=args.errors,
        workers=args.workers or 1,
        cpus_per_worker=args.cpus_per_worker or 1.0,
        chunk_size=chunk_size,
        address=args.address,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    logger(args)(run.summary())
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
        "-i",
        "--input",
        help="input .jsonl (objects with a 'text' field), .parquet (a string 'text' column) or .txt (one "
        "doc per line); .gz compressed",
    )
    det.add_argument("-o", "--output", help="output .jsonl, .jsonl.gz or .parquet (default: stdout)")
    det.add_argument("--resume", action="store_true", help="continue an interrupted run's -o output")
    det.add_argument("--overwrite", action="store_true", help="replace an existing -o output")
    det.add_argument(
        "--chunk-size", type=int, help=f"docs per written chunk (default: {CHUNK_SIZE}, at least 32 batches)"
    )
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
    det.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    add_engine_option(det, RAY, more_help="; ray: the same as --ray, each worker on the default engine")
    det.add_argument("--html", metavar="PATH", help="also write an HTML view: highlights, scores, heatmaps")
    det.add_argument("--html-limit", type=int, default=100, help="at most N texts in the --html page")
    ray = det.add_argument_group("a corpus on a Ray cluster (pip install 'tommer[ray]')")
    ray.add_argument(
        "--ray", action="store_true", help="run on Ray Data: -i takes files, folders or globs; -o is a folder"
    )
    ray.add_argument("--address", help="the Ray cluster to join (e.g. auto); default: start a local one")
    ray.add_argument("--workers", type=int, help="detector actors (default 1)")
    ray.add_argument("--cpus-per-worker", type=float, help="CPUs (and threads) per actor (default 1)")
    ray.add_argument("--output-format", choices=["jsonl", "parquet"], help="default: the input's")
    ray.add_argument("--errors", metavar="FOLDER", help="write bad records here (JSONL) instead of failing")
    det.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    det.set_defaults(func=run)
