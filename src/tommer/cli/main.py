"""The ``tommer`` command line: ``detect``, ``train``, ``eval`` and ``serve``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

from ..errors import TommerError


# -- detect ------------------------------------------------------------------------------
def _logger(args: argparse.Namespace):
    """Print progress messages to stderr unless --quiet."""
    if args.quiet:
        return lambda message: None
    return lambda message: print(message, file=sys.stderr, flush=True)


def _command_line(args: argparse.Namespace) -> str:
    """The command as typed (shell-quoted), for reports and model cards."""
    return "tommer " + " ".join(shlex.quote(a) for a in args.argv)


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
    from ..core.outputs import format_mentions

    return format_mentions(mentions, "pipeline" if fmt == "pipeline" else "dicts")


def cmd_detect(args: argparse.Namespace) -> int:
    from ..core.detector import load
    from ..integrations.corpus import plan_corpus, stream_corpus

    if not args.texts and not args.input:
        raise TommerError("give a text to analyse, or an input file with -i")
    if args.lm_labels and args.labels is None:
        raise TommerError("--lm-labels needs --labels")
    fmt = _output_format(args)
    if not args.texts:  # check the files (and repair a resumed output) before loading the model
        plan = plan_corpus(args.input, args.output, resume=args.resume, overwrite=args.overwrite)
    detector = load(args.model)
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
                print(json.dumps(_mention_dicts(mentions, fmt), ensure_ascii=False))
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
        log=_logger(args),
    )
    if args.html:
        _write_html(args, detector, html_docs)
    return 0


def _write_html(args: argparse.Namespace, detector, docs: list[tuple[str, list | None]]) -> None:
    """The --html page: highlighted mentions (gold from a record's "spans"), scores, heatmaps."""
    from ..integrations.viz import visualize_many, write_html

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
    from ..integrations.server import serve

    serve(args.model, args.host, args.port, max_body_bytes=args.max_body)
    return 0


# -- train -------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from ..core.backbone import Backbone
    from ..core.probe import ProbeConfig
    from ..data.readers import read_annotated
    from ..training.training import (
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
        echo=args.echo,
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
            echo=args.echo,
        )
        if val_docs
        else None
    )
    encode_s, encode_wall = time.process_time() - t0, time.perf_counter() - w0
    distill: dict = {}
    if args.teacher:
        train, distill = _add_teacher_spans(args, backbone, train, log)

    probe_config = ProbeConfig(backbone.hidden_size, args.rank, args.cosine, args.max_span_tokens)
    train_config = TrainConfig(
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        seed=args.seed,
        threshold=args.threshold,
        init=args.init,
        grad_clip=args.grad_clip,
        patience_steps=args.patience_steps,
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
        "command": _command_line(args),
        "train_config": train_config.__dict__,
        **distill,
        "history": history,
    }
    if val is not None:
        info["metrics"] = evaluate(probe, val, args.threshold).to_dict()
        log("held-out: " + json.dumps(info["metrics"]))
    detector = build_detector(backbone, probe, args.max_tokens, args.context, info, echo=args.echo)
    out = detector.save_pretrained(args.out)
    log(f"saved to {out} ({probe.num_parameters():,} probe parameters)")
    return 0


def _add_teacher_spans(args: argparse.Namespace, backbone, train, log):
    """Self-distillation: add the teacher's confident spans to the training labels."""
    from ..core.detector import MentionDetector, resolve_model_dir
    from ..training.training import add_teacher_spans

    teacher = MentionDetector.from_pretrained(resolve_model_dir(args.teacher), backbone=backbone)
    if teacher.config.layer != backbone.layer or teacher.probe.config.hidden_size != backbone.hidden_size:
        raise TommerError(
            f"--teacher {args.teacher} reads layer {teacher.config.layer} of {teacher.config.backbone}; "
            f"the student reads layer {backbone.layer} of {args.backbone}: they must match"
        )
    if teacher.config.echo != args.echo:
        raise TommerError(
            f"--teacher {args.teacher} reads {'echo' if teacher.config.echo else 'plain'} input; "
            f"the student reads {'echo' if args.echo else 'plain'} input: they must match"
        )
    train, added = add_teacher_spans(
        train,
        teacher.probe,
        args.teacher_threshold,
        drop_crossing=args.teacher_drop_crossing,
        cap=args.teacher_cap,
    )
    gold = sum(len(g) for g in train.gold) - added
    log(f"self-distillation: {added} teacher spans (p >= {args.teacher_threshold}) added to {gold} gold")
    return train, {
        "teacher": str(args.teacher),
        "teacher_threshold": args.teacher_threshold,
        "teacher_spans_added": added,
        "teacher_drop_crossing": args.teacher_drop_crossing,
        "teacher_cap": args.teacher_cap,
    }


# -- eval -------------------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    from ..evaluation.evaluation import run_eval

    if args.typed:
        return cmd_eval_typed(args)

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
        command=_command_line(args),
        pile_ner=args.pile_ner,
        log=log,
        progress=not args.quiet,
    )
    for name in report["predictors"]:
        pooled = report["pooled"][name]
        print(f"{name}: pooled P {pooled['precision']:.4f} R {pooled['recall']:.4f} F1 {pooled['f1']:.4f}")
    return 0


# -- judge ------------------------------------------------------------------------------
def cmd_judge(args: argparse.Namespace) -> int:
    from ..evaluation.judge import run_judge

    report = run_judge(
        backend=args.backend,
        judge_model=args.judge_model,
        base_url=args.base_url,
        api_key=args.api_key,
        model=args.model,
        benchmark=args.benchmark,
        split=args.split,
        data_root=args.data_root,
        sample=args.sample,
        controls=args.controls,
        sentences=args.sentences,
        seed=args.seed,
        threshold=args.threshold,
        decoding=args.decoding,
        batch_size=args.batch_size,
        cache=args.cache,
        max_new_tokens=args.max_new_tokens,
        timeout=args.timeout,
        out_dir=args.out,
        command=_command_line(args),
        log=_logger(args),
        progress=not args.quiet,
    )
    p, gp, rel = report["precision"], report["gold_precision"], report["reliability"]
    print(
        f"judge precision {p['yes']}/{p['judged']} ({p['unparseable']} unparseable); "
        f"gold precision {gp['matches']}/{gp['sampled']}; yes on gold {rel['gold']['yes']}/"
        f"{rel['gold']['judged']}, on wrong spans {rel['wrong (both)']['yes']}/"
        f"{rel['wrong (both)']['judged']}"
    )
    return 0


# -- compare -----------------------------------------------------------------------------
def cmd_compare(args: argparse.Namespace) -> int:
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
        command=_command_line(args),
        log=_logger(args),
    )
    print(f"mean pairwise DICE {result['dice']['mean_pairwise']:.3f}; report in {args.out}/compare.md")
    return 0


def cmd_eval_typed(args: argparse.Namespace) -> int:
    """``tommer eval --typed``: strict typed scores, supervised and zero-shot rows."""
    from ..evaluation.typed_eval import run_typed_eval

    supervised = []
    for item in args.supervised or []:
        name, sep, model_dir = item.partition("=")
        if not sep:
            raise TommerError(f"--supervised takes BENCHMARK=MODEL_DIR, not {item!r}")
        supervised.append((name, model_dir))
    zero_shot = [b.strip() for b in args.zero_shot.split(",") if b.strip()] if args.zero_shot else []
    report = run_typed_eval(
        model=args.model,
        supervised=supervised,
        zero_shot=zero_shot,
        data_root=args.data_root,
        split=args.split,
        limit=args.limit,
        cache_dir=args.cache_dir,
        out_dir=args.out,
        command=_command_line(args),
        lm_labels=args.lm_labels,
        log=_logger(args),
    )
    for row in report["rows"]:
        m = row["micro"]
        name = f"{row['benchmark']} ({row['setting']})"
        print(f"{name}: P {m['precision']:.4f} R {m['recall']:.4f} F1 {m['f1']:.4f}")
    return 0


# -- train-types ---------------------------------------------------------------------------
def _layer_list(value: str) -> list[int]:
    """``"12,18"`` → ``[12, 18]`` (argparse type; a clear error otherwise)."""
    try:
        layers = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer numbers, got {value!r}") from None
    if any(m < 1 for m in layers):
        raise argparse.ArgumentTypeError(f"layers start at 1, got {value!r}")
    return layers


def cmd_train_types(args: argparse.Namespace) -> int:
    from ..training.type_training import TypeTrainConfig, run_train_types
    from ..typed.type_head import DEFAULT_PROMPT

    config = TypeTrainConfig(
        epochs=args.epochs,
        lr=args.lr,
        negative_labels=args.negative_labels,
        seed=args.seed,
        balanced=not args.plain_bce,
        batch_windows=args.batch_windows,
    )
    run_train_types(
        model=args.model,
        data=args.data,
        out=args.out,
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
        head_only=args.head_only,
        echo=args.echo,
        layer=args.layer,
        join_sentences=args.join_sentences,
        text_prefix=args.text_prefix.encode().decode("unicode_escape"),
        bilstm_dim=args.bilstm_dim,
        extra_layers=args.extra_layers,
        members=args.members,
        candidate_grid=args.candidate_grid,
        unseen_types=args.unseen_types,
        label_encoder=args.label_encoder,
        prompt=args.prompt or DEFAULT_PROMPT,
        command=_command_line(args),
        log=_logger(args),
    )
    return 0


def cmd_combine_types(args: argparse.Namespace) -> int:
    from ..training.type_training import run_combine_types

    run_combine_types(
        models=args.models,
        val_data=args.val_data,
        out=args.out,
        cache_dir=args.cache_dir,
        val_limit=args.val_limit,
        candidate_grid=args.candidate_grid,
        group_stride=args.group_stride,
        command=_command_line(args),
        log=_logger(args),
    )
    return 0


def _threshold_list(value: str) -> list[float]:
    """``1e-3,1e-4`` → [0.001, 0.0001] (probabilities strictly between 0 and 1)."""
    try:
        out = [float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated probabilities, got {value!r}") from None
    if not out or any(not 0 < t < 1 for t in out):
        raise argparse.ArgumentTypeError(f"probabilities must lie strictly between 0 and 1, got {value!r}")
    return out


def _add_candidate_grid(parser: argparse.ArgumentParser) -> None:
    from ..training.type_training import CANDIDATE_THRESHOLDS

    parser.add_argument(
        "--candidate-grid",
        type=_threshold_list,
        default=list(CANDIDATE_THRESHOLDS),
        metavar="P,...",
        help="supervised: candidate thresholds to choose from on the held-out texts (default "
        + ",".join(map(str, CANDIDATE_THRESHOLDS))
        + "; the highest within 0.0005 F1 of the best wins)",
    )


# -- parser ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from ..core.backbone import DEFAULT_BACKBONE
    from ..core.decoding import DECODERS, DEFAULT_DECODING
    from ..core.detector import DEFAULT_MODEL

    parser = argparse.ArgumentParser(prog="tommer", description="Entity mention detection (ToMMeR).")
    sub = parser.add_subparsers(dest="command", required=True)

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
    tr.add_argument(
        "--echo",
        action="store_true",
        help="the probe reads echo input (each window fed twice: right context, 2x the tokens)",
    )
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
    tr.add_argument("--teacher", help="self-distillation: a model whose confident spans join the labels")
    tr.add_argument("--teacher-threshold", type=float, default=0.9, help="teacher probability to add a span")
    tr.add_argument(
        "--teacher-drop-crossing",
        action="store_true",
        help="do not add teacher spans that cross a gold span (overlap it without nesting)",
    )
    tr.add_argument(
        "--teacher-cap", type=float, help="add at most this many teacher spans per gold span (most confident)"
    )
    tr.add_argument("--weight-decay", type=float, default=0.01)
    tr.add_argument("--init", choices=["default", "normal"], default="default", help="W_Q, W_K init")
    tr.add_argument("--grad-clip", type=float, default=0.0, help="max gradient norm (0: none)")
    tr.add_argument(
        "--patience-steps",
        type=int,
        default=0,
        help="halve the LR after this many steps without a lower training loss (0: after an epoch "
        "without a better held-out F1)",
    )
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
        "--decoding",
        default=f"threshold,{DEFAULT_DECODING}",
        help="decoder, or several comma-separated (threshold,flat,nested)",
    )
    ev.add_argument("--batch-size", type=int, default=8)
    ev.add_argument("--peers", help="comma-separated peers: spacy, spacy+np")
    ev.add_argument("--pile-ner", action="store_true", help="also score the held-out Pile-NER part")
    ev.add_argument("--out", help="write eval.json and eval.md here")
    ev.add_argument("-q", "--quiet", action="store_true")
    ev.add_argument("--typed", action="store_true", help="strict typed scores (writes typed.json / typed.md)")
    ev.add_argument("--supervised", nargs="+", metavar="BENCHMARK=MODEL_DIR", help="--typed: supervised rows")
    ev.add_argument("--zero-shot", help="--typed: comma-separated benchmarks for --model's zero-shot head")
    ev.add_argument("--cache-dir", help="--typed: keep layer-L hidden states here between runs")
    ev.add_argument(
        "--lm-labels",
        action="store_true",
        help="--typed: also score the zero-shot rows relabelled by the whole backbone "
        "(tommer.typed.lm_labels; slow)",
    )
    ev.set_defaults(func=cmd_eval)

    tt = sub.add_parser("train-types", help="train a span-type head (supervised or zero-shot)")
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
    _add_candidate_grid(tt)
    tt.add_argument("--dim", type=int, default=128, help="span / label vector size")
    tt.add_argument("--probe-feature", action="store_true", help="the head also reads the span probability")
    tt.add_argument(
        "--bilstm-dim",
        type=int,
        default=0,
        metavar="N",
        help="a trainable BiLSTM of width N over the head's states (default 0: none)",
    )
    tt.add_argument(
        "--members",
        type=int,
        default=1,
        metavar="N",
        help="supervised: train N heads (seeds --seed, --seed+1, ...) and average their class probabilities",
    )
    tt.add_argument("--epochs", type=int, default=6)
    tt.add_argument("--lr", type=float, default=1e-3)
    tt.add_argument("--batch-windows", type=int, default=16, help="texts (windows) per optimizer step")
    tt.add_argument("--negative-labels", type=int, default=8, help="zero-shot: random other types per text")
    tt.add_argument("--plain-bce", action="store_true", help="zero-shot: plain mean BCE (default: balanced)")
    tt.add_argument(
        "--label-encoder",
        choices=("mlp", "linear", "identity"),
        default="mlp",
        help="zero-shot: map from label prompt states to label vectors (identity: the states themselves, "
        "spans are mapped into their space; default: mlp)",
    )
    tt.add_argument(
        "--prompt",
        help="zero-shot: the text a label name is read in, with {label} "
        "(default: \"Entity type: '{label}'\")",
    )
    tt.add_argument(
        "--unseen-types",
        type=int,
        default=0,
        metavar="N",
        help="zero-shot: leave N training types out of training (every 5th by frequency) and score the "
        "held-out texts on them alone too: a check of label names the head never saw",
    )
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
    tt.set_defaults(func=cmd_train_types)

    ct = sub.add_parser(
        "combine-types",
        help="one type head averaging trained supervised heads (same probe; layers may differ)",
    )
    ct.add_argument("models", nargs="+", metavar="MODEL_DIR", help="detectors with supervised heads")
    ct.add_argument("--val-data", nargs="+", required=True, help="held-out files (thresholds)")
    _add_candidate_grid(ct)
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
    ct.set_defaults(func=cmd_combine_types)

    jd = sub.add_parser("judge", help="precision of predicted mentions according to an LLM judge")
    jd.add_argument("--backend", choices=["local", "http"], default="local")
    jd.add_argument("--judge-model", help="local: preset, HF dir or .gguf (smollm2-135m); http: model name")
    jd.add_argument("--base-url", help="http: OpenAI-compatible base URL, e.g. http://localhost:8000/v1")
    jd.add_argument("--api-key", help="http: API key (default $TOMMER_JUDGE_API_KEY or $OPENAI_API_KEY)")
    jd.add_argument("--timeout", type=float, default=60.0, help="http: seconds per request")
    jd.add_argument("--model", default=DEFAULT_MODEL, help="the detector whose predictions are judged")
    jd.add_argument("--benchmark", default="CoNLL 2003")
    jd.add_argument("--split", default="dev")
    jd.add_argument("--data-root", help="folder holding benchmarks/ (default $TOMMER_DATA)")
    jd.add_argument("--sample", type=int, default=100, help="predicted mentions to judge")
    jd.add_argument("--controls", type=int, default=25, help="gold and wrong control spans (each)")
    jd.add_argument("--sentences", type=int, default=200, help="sentences drawn to predict on")
    jd.add_argument("--seed", type=int, default=0)
    jd.add_argument("--threshold", type=float, help="minimum span probability (default: the model's)")
    jd.add_argument("--decoding", choices=sorted(DECODERS), default=DEFAULT_DECODING)
    jd.add_argument("--batch-size", type=int, default=8)
    jd.add_argument("--cache", help="judgment cache .jsonl (default ~/.cache/tommer/judge/; 'none': off)")
    jd.add_argument("--max-new-tokens", type=int, default=60)
    jd.add_argument("--out", help="write judge.json and judge.md here")
    jd.add_argument("-q", "--quiet", action="store_true")
    jd.set_defaults(func=cmd_judge)

    from ..evaluation.compare import DEFAULT_MODELS

    cp = sub.add_parser("compare", help="zero-shot scores and agreement (DICE) of several backbones' probes")
    cp.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated models or dirs")
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
    cp.set_defaults(func=cmd_compare)
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

