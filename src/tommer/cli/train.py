"""``tommer train``: train a probe on annotated data and save the detector."""

from __future__ import annotations

import argparse
import json
import time

from ..core.config import ProbeConfig
from ..core.layout import resolve_model_dir
from ..core.sources import DEFAULT_BACKBONE
from ..data.readers import read_annotated
from ..errors import TommerError
from .common import command_line, logger


def run(args: argparse.Namespace) -> int:
    """Run ``tommer train`` (torch and the training loop are imported here, not for every command)."""
    from ..core.backbone import Backbone
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
    log = logger(args)
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
    distill: dict = {}
    if args.teacher:
        train, distill = _add_teacher_spans(args, backbone, train, log)

    probe_config = ProbeConfig(
        backbone.hidden_size, args.rank, args.cosine, args.max_span_tokens, args.token_shapes
    )
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
        overlap_weight=args.overlap_weight,
        val_decoding=args.val_decoding,
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
        "command": command_line(args),
        "train_config": train_config.__dict__,
        **distill,
        "history": history,
    }
    if val is not None:
        info["metrics"] = evaluate(probe, val, args.threshold).to_dict()
        info["metrics_flat"] = evaluate(probe, val, args.threshold, "flat").to_dict()
        log("held-out: " + json.dumps(info["metrics"]))
    info["combine_weights"] = [round(float(w), 4) for w in probe.combine.weight.detach().flatten()]
    detector = build_detector(backbone, probe, args.max_tokens, args.context, info)
    out = detector.save_pretrained(args.out)
    log(f"saved to {out} ({probe.num_parameters():,} probe parameters)")
    return 0


def _add_teacher_spans(args: argparse.Namespace, backbone, train, log):
    """Self-distillation: add the teacher's confident spans to the training labels."""
    from ..training.training import add_teacher_spans
    from ..typed.detector import MentionDetector

    teacher = MentionDetector.from_pretrained(resolve_model_dir(args.teacher), backbone=backbone)
    if teacher.config.layer != backbone.layer or teacher.probe.config.hidden_size != backbone.hidden_size:
        raise TommerError(
            f"--teacher {args.teacher} reads layer {teacher.config.layer} of {teacher.config.backbone}; "
            f"the student reads layer {backbone.layer} of {args.backbone}: they must match"
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


def add_parser(sub) -> None:
    """Add the command's subparser to ``sub`` (``argparse`` subparsers)."""
    tr = sub.add_parser("train", help="train a probe on annotated data")
    tr.add_argument("--data", nargs="+", required=True, help="benchmark .json, BIO .txt or .jsonl files")
    tr.add_argument("--val-data", nargs="+", help="held-out files (default: a fixed fraction of --data)")
    tr.add_argument("--val-fraction", type=float, default=0.1)
    tr.add_argument("--backbone", default=DEFAULT_BACKBONE)
    tr.add_argument("--layer", type=int, required=True)
    tr.add_argument("--rank", type=int, default=64)
    tr.add_argument("--cosine", action="store_true", help="cosine token matching (default: scaled dot)")
    tr.add_argument("--max-span-tokens", type=int, default=32)
    tr.add_argument(
        "--token-shapes",
        action="store_true",
        help="the probe also reads each token's case (for backbones whose tokenizer drops it)",
    )
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
    tr.add_argument(
        "--overlap-weight",
        type=float,
        default=0.0,
        help="extra loss weight on non-mention spans that overlap a mention (hard negatives)",
    )
    tr.add_argument(
        "--val-decoding",
        choices=["threshold", "flat", "nested"],
        default="threshold",
        help="decoding of the held-out F1 that picks the best epoch",
    )
    tr.add_argument("--out", required=True, help="directory to save the detector in")
    tr.add_argument("-q", "--quiet", action="store_true")
    tr.set_defaults(func=run)
