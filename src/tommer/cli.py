"""The ``tommer`` command line: ``detect``, ``train``, ``eval`` and ``serve``."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import time
from collections.abc import Iterator

from .errors import DataFormatError, TommerError

JSONL_SUFFIXES = (".jsonl", ".ndjson")


# -- detect ------------------------------------------------------------------------------
def _records(path: str) -> Iterator[tuple[int, dict]]:
    """Input records: JSONL objects with a ``text`` field, or one plain-text document per line."""
    from .readers import iter_lines, parse_json_object

    as_jsonl = path.endswith(JSONL_SUFFIXES)
    for number, line in iter_lines(path):
        if not as_jsonl:
            yield number, {"text": line}
            continue
        if not line.strip():
            continue
        rec = parse_json_object(path, number, line)
        if not isinstance(rec.get("text"), str):
            raise DataFormatError(path, number, "missing string field 'text'")
        yield number, rec


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextlib.contextmanager
def _open_output(path: str | None):
    """The output file (UTF-8), or stdout when no path is given."""
    if path is None:
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8") as handle:
        yield handle


def _logger(args: argparse.Namespace):
    """Print progress messages to stderr unless --quiet."""
    if args.quiet:
        return lambda message: None
    return lambda message: print(message, file=sys.stderr, flush=True)


def _print_readable(text: str, mentions) -> None:
    if not mentions:
        print("(no mentions)")
    for m in mentions:
        print(f"{m.start:>6} {m.end:>6}  {m.score:.3f}  {m.text}")


def cmd_detect(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .detector import load

    if not args.texts and not args.input:
        raise TommerError("give a text to analyse, or an input file with -i")
    detector = load(args.model)
    options = dict(threshold=args.threshold, decoding=args.decoding, batch_size=args.batch_size)
    html_docs: list[tuple[str, list | None]] = []  # (text, gold spans) for --html
    if args.texts:
        for text in args.texts:
            mentions = detector(text, **options)
            if args.json:
                print(json.dumps([m.to_dict() for m in mentions], ensure_ascii=False))
            else:
                _print_readable(text, mentions)
        if args.html:
            _write_html(args, detector, [(t, None) for t in args.texts])
        return 0
    with (
        _open_output(args.output) as out,
        tqdm(desc="detect", unit="doc", file=sys.stderr, disable=args.quiet) as bar,
    ):
        for chunk in _chunks(_records(args.input), max(args.batch_size * 8, 64)):
            results = detector([rec["text"] for _, rec in chunk], **options)
            for (_, rec), mentions in zip(chunk, results):
                if args.html and len(html_docs) < args.html_limit:
                    html_docs.append((rec["text"], rec.get("spans")))
                rec["mentions"] = [m.to_dict() for m in mentions]
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            out.flush()
            bar.update(len(chunk))
    if args.html:
        _write_html(args, detector, html_docs)
    return 0


def _write_html(args: argparse.Namespace, detector, docs: list[tuple[str, list | None]]) -> None:
    """The --html page: highlighted mentions (gold from a record's "spans"), scores, heatmaps."""
    from .viz import visualize_many, write_html

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


# -- serve -------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve

    serve(args.model, args.host, args.port, max_body_bytes=args.max_body)
    return 0


# -- train -------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from .backbone import Backbone
    from .probe import ProbeConfig
    from .readers import read_annotated
    from .training import (
        TrainConfig,
        build_detector,
        encode_corpus,
        evaluate,
        split_holdout,
        train_probe,
    )

    docs = [d for path in args.data for d in read_annotated(path)]
    if not docs:
        raise TommerError(f"no annotated texts in {', '.join(args.data)}")
    if args.val_data:
        train_docs, val_docs = docs, [d for p in args.val_data for d in read_annotated(p)]
    else:
        train_docs, val_docs = split_holdout(docs, args.val_fraction, args.seed)
    if args.max_docs:
        train_docs = train_docs[: args.max_docs]
    log = _logger(args)
    log(f"{len(train_docs)} training texts, {len(val_docs)} held-out texts")

    backbone = Backbone.load(args.backbone, args.layer)
    t0, w0 = time.process_time(), time.perf_counter()
    train = encode_corpus(
        backbone,
        train_docs,
        args.max_tokens,
        args.context,
        args.batch_size,
        args.cache_dir,
        desc="encode train",
    )
    val = (
        encode_corpus(
            backbone,
            val_docs,
            args.max_tokens,
            args.context,
            args.batch_size,
            args.cache_dir,
            desc="encode held-out",
        )
        if val_docs
        else None
    )
    encode_s, encode_wall = time.process_time() - t0, time.perf_counter() - w0

    probe_config = ProbeConfig(backbone.hidden_size, args.rank, args.cosine, args.max_span_tokens)
    train_config = TrainConfig(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        threshold=args.threshold,
    )
    t1, w1 = time.process_time(), time.perf_counter()
    probe, history = train_probe(train, val, probe_config, train_config, log=log)
    train_s, train_wall = time.process_time() - t1, time.perf_counter() - w1

    info: dict = {
        "training_data": ", ".join(args.data) + f" ({len(train_docs)} texts)",
        "validation": (
            ", ".join(args.val_data)
            if args.val_data
            else f"fixed {args.val_fraction:.0%} of the texts (seed {args.seed})"
        )
        + f" ({len(val_docs)} texts)",
        "seed": args.seed,
        "encode_cpu_seconds": round(encode_s, 1),
        "train_cpu_seconds": round(train_s, 1),
        "encode_wall_seconds": round(encode_wall, 1),
        "train_wall_seconds": round(train_wall, 1),
        "threshold": args.threshold,
        "command": "tommer " + " ".join(shlex.quote(a) for a in args.argv),
        "train_config": train_config.__dict__,
        "history": history,
    }
    if val is not None:
        info["metrics"] = evaluate(probe, val, args.threshold).to_dict()
        log("held-out: " + json.dumps(info["metrics"]))
    detector = build_detector(backbone, probe, args.max_tokens, args.context, info)
    out = detector.save_pretrained(args.out)
    log(f"saved to {out} ({probe.num_parameters():,} probe parameters)")
    return 0


# -- eval -------------------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import run_eval

    log = _logger(args)
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
        command="tommer " + " ".join(shlex.quote(a) for a in args.argv),
        pile_ner=args.pile_ner,
        log=log,
        progress=not args.quiet,
    )
    for name in report["predictors"]:
        pooled = report["pooled"][name]
        print(f"{name}: pooled P {pooled['precision']:.4f} R {pooled['recall']:.4f} F1 {pooled['f1']:.4f}")
    return 0


# -- parser ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from .backbone import DEFAULT_BACKBONE
    from .decoding import DECODERS
    from .detector import DEFAULT_MODEL

    parser = argparse.ArgumentParser(prog="tommer", description="Entity mention detection (ToMMeR).")
    sub = parser.add_subparsers(dest="command", required=True)

    det = sub.add_parser("detect", help="find mentions in texts")
    det.add_argument("texts", nargs="*", help="texts to analyse")
    det.add_argument(
        "-i", "--input", help="input .jsonl (objects with a 'text' field) or .txt (one doc per line)"
    )
    det.add_argument("-o", "--output", help="output .jsonl (default: stdout)")
    det.add_argument("--json", action="store_true", help="print mentions as JSON")
    det.add_argument("--model", default=DEFAULT_MODEL, help="shipped model name or saved directory")
    det.add_argument("--threshold", type=float, help="minimum span probability (default: the model's)")
    det.add_argument("--decoding", choices=sorted(DECODERS), default="threshold")
    det.add_argument("--batch-size", type=int, default=8)
    det.add_argument("--html", metavar="PATH", help="also write an HTML view: highlights, scores, heatmaps")
    det.add_argument("--html-limit", type=int, default=100, help="at most N texts in the --html page")
    det.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    det.set_defaults(func=cmd_detect)

    sv = sub.add_parser("serve", help="local web app and JSON API (POST /api/detect)")
    sv.add_argument("--model", default=DEFAULT_MODEL, help="shipped model name or saved directory")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--max-body", type=int, default=1_000_000, help="request size limit in bytes")
    sv.set_defaults(func=cmd_serve)

    tr = sub.add_parser("train", help="train a probe on annotated data")
    tr.add_argument("--data", nargs="+", required=True, help="benchmark .json, BIO .txt or .jsonl files")
    tr.add_argument("--val-data", nargs="+", help="held-out files (default: a fixed fraction of --data)")
    tr.add_argument("--val-fraction", type=float, default=0.1)
    tr.add_argument("--backbone", default=DEFAULT_BACKBONE)
    tr.add_argument("--layer", type=int, required=True)
    tr.add_argument("--rank", type=int, default=64)
    tr.add_argument("--cosine", action="store_true", help="cosine token matching (default: scaled dot)")
    tr.add_argument("--max-span-tokens", type=int, default=32)
    tr.add_argument("--max-tokens", type=int, default=512, help="window length in tokens")
    tr.add_argument("--context", type=int, default=64, help="window overlap in tokens")
    tr.add_argument("--epochs", type=int, default=8)
    tr.add_argument("--lr", type=float, default=2e-3)
    tr.add_argument("--batch-size", type=int, default=8)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threshold", type=float, default=0.5)
    tr.add_argument("--max-docs", type=int, help="use only the first N training texts")
    tr.add_argument("--cache-dir", help="keep layer-L hidden states here between runs")
    tr.add_argument("--out", required=True, help="directory to save the detector in")
    tr.add_argument("-q", "--quiet", action="store_true")
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="untyped mention scores on the benchmark folders")
    ev.add_argument("--model", default=DEFAULT_MODEL, help="model to score ('none': peers only)")
    ev.add_argument("--data-root", help="folder holding benchmarks/ and pile-ner/ (default $TOMMER_DATA)")
    ev.add_argument("--benchmarks", help="comma-separated benchmark names (default: all 13)")
    ev.add_argument("--split", default="test", help="test, dev, train, or a '+'-joined list")
    ev.add_argument("--limit", type=int, help="first N sentences per benchmark")
    ev.add_argument("--threshold", type=float, help="minimum span probability (default: the model's)")
    ev.add_argument(
        "--decoding", default="threshold", help="decoder, or several comma-separated (threshold,flat,nested)"
    )
    ev.add_argument("--batch-size", type=int, default=8)
    ev.add_argument("--peers", help="comma-separated peers: spacy, spacy+np")
    ev.add_argument("--pile-ner", action="store_true", help="also score the held-out Pile-NER part")
    ev.add_argument("--out", help="write eval.json and eval.md here")
    ev.add_argument("-q", "--quiet", action="store_true")
    ev.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except TommerError as err:
        print(f"tommer: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tommer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
