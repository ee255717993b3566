"""Type-head layer sweep, on development data only: which layer's states type mentions best.

The probe that proposes candidate spans stays where it is (its own layer, plain input). Only the
supervised type head moves: one backbone pass to the deepest swept layer keeps the states of
every swept layer (echo input with ``--echo``), and one head per layer is trained with the same
recipe on the first ``--train-limit`` sentences of the benchmark's train split and scored
(strict typed F1) on the first ``--val-limit`` sentences of its dev split. Writes
``<out>.json``, ``<out>.md`` and ``<out>.png``.

    python scripts/type_layer_sweep.py --model smollm2-135m-conll03 --benchmark "CoNLL 2003" \\
        --layers 6-24:3 --echo --train-limit 4000 --val-limit 1000 --epochs 4 \\
        --out results/typed/layer_sweep

``--zero-shot``: zero-shot heads instead, trained on the Pile-NER part (the first
``--train-limit`` texts of its fixed 90% split) and scored on its fixed 10% held-out part
(first ``--val-limit`` texts; each text is given its own types plus 8 other training types);
label prompts are read at the head's layer too.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch
from layer_sweep import parse_layers  # scripts/ is on sys.path when run as a script

from tommer.api import load
from tommer.core.backbone import Backbone
from tommer.data.mention import join_consecutive
from tommer.data.readers import PILE_NER_BIO, data_root, read_annotated
from tommer.training.training import encode_corpus, encode_corpus_layers, split_holdout
from tommer.training.type_training import (
    TypeTrainConfig,
    candidate_recall,
    held_out_label_sets,
    probe_candidates,
    supervised_validator,
    train_type_head,
    typed_gold,
    zero_shot_validator,
)
from tommer.typed.type_head import DEFAULT_PROMPT, TypeHead, TypeHeadConfig, label_states

RESULTS = Path(__file__).resolve().parent.parent / "results"  # written here from any cwd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="detector whose probe proposes the candidates")
    ap.add_argument("--benchmark", default="CoNLL 2003")
    ap.add_argument("--layers", default="6-24:3")
    ap.add_argument("--echo", action="store_true", help="the heads read echo input's second copy")
    ap.add_argument("--train-limit", type=int, default=4000)
    ap.add_argument("--val-limit", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--batch-windows", type=int, default=16, help="texts per optimizer step")
    ap.add_argument("--candidate-threshold", type=float, default=0.02)
    ap.add_argument("--zero-shot", action="store_true", help="zero-shot heads on the Pile-NER part")
    ap.add_argument(
        "--probe-feature", action="store_true", help="the heads read the probe's span probability"
    )
    ap.add_argument("--plain-bce", action="store_true", help="zero-shot: plain mean BCE (default: balanced)")
    ap.add_argument(
        "--join-sentences", type=int, default=1, metavar="N", help="N consecutive sentences per text"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--cache-dir", default=None, help="hidden-state cache (plain states; one swept layer's too)"
    )
    ap.add_argument("--out", default=str(RESULTS / "typed/layer_sweep"))
    args = ap.parse_args()
    torch.manual_seed(args.seed)

    layers = parse_layers(args.layers)
    if args.zero_shot:
        args.benchmark = "Pile-NER"
        docs = read_annotated(data_root() / PILE_NER_BIO, typed=True)
        train_docs, val_docs = split_holdout(docs, 0.1, args.seed)
        train_docs, val_docs = train_docs[: args.train_limit], val_docs[: args.val_limit]
    else:
        folder = data_root() / "benchmarks" / args.benchmark
        train_docs = read_annotated(folder / "train.json", typed=True)[: args.train_limit]
        val_docs = read_annotated(folder / "dev.json", typed=True)[: args.val_limit]
    n_train, n_val = len(train_docs), len(val_docs)
    train_docs = join_consecutive(train_docs, args.join_sentences)
    val_docs = join_consecutive(val_docs, args.join_sentences)
    detector = load(args.model)
    enc = dict(max_tokens=detector.config.max_tokens, context=detector.config.context, batch_size=16)

    started, wall = time.process_time(), time.perf_counter()
    plain = {
        name: encode_corpus(detector.backbone, docs, cache_dir=args.cache_dir, desc=f"plain {name}", **enc)
        for name, docs in (("train", train_docs), ("dev", val_docs))
    }
    cands = {
        name: probe_candidates(detector.probe, corpus, args.candidate_threshold)
        for name, corpus in plain.items()
    }
    deep = Backbone.load(detector.backbone.source, max(layers))

    def layer_states(name, docs):
        if len(layers) == 1:  # one layer: the same cache as `tommer train-types --layer`
            corpus = encode_corpus(deep, docs, cache_dir=args.cache_dir, desc=name, echo=args.echo, **enc)
            return {layers[0]: corpus}
        return encode_corpus_layers(deep, docs, layers, desc=f"layers {name}", echo=args.echo, **enc)

    states = {"train": layer_states("train", train_docs), "dev": layer_states("dev", val_docs)}
    encode = {"cpu_s": time.process_time() - started, "wall_s": time.perf_counter() - wall}
    print(json.dumps({"encode": encode}), flush=True)

    labels = sorted({lab for d in train_docs for lab in d.labels or []})
    vocab = sorted(set(labels) | {lab for d in val_docs for lab in d.labels or []})
    gold = typed_gold(plain["dev"])
    config = TypeTrainConfig(
        epochs=args.epochs, seed=args.seed, balanced=not args.plain_bce, batch_windows=args.batch_windows
    )
    names = held_out_label_sets(val_docs, labels, config.negative_labels, config.seed)
    rows = []
    for layer in layers:
        started, wall = time.process_time(), time.perf_counter()
        torch.manual_seed(args.seed)
        head = TypeHead(
            TypeHeadConfig.of(
                "zero-shot" if args.zero_shot else "supervised",
                detector.probe.config.hidden_size,
                labels=[] if args.zero_shot else labels,
                dim=args.dim,
                candidate_threshold=args.candidate_threshold,
                label_threshold=0.5 if args.zero_shot else 0.0,
                probe_feature=args.probe_feature,
                echo=args.echo,
                layer=layer,
            )
        )
        if args.zero_shot:
            vecs = label_states(deep, vocab, DEFAULT_PROMPT, layer=layer)
            validate = zero_shot_validator(states["dev"][layer], cands["dev"], vocab, vecs, names, gold)
        else:
            vocab, vecs = labels, None
            validate = supervised_validator(states["dev"][layer], cands["dev"], labels, gold)
        head, history = train_type_head(
            head, states["train"][layer], cands["train"], validate, config, vocab, vecs, log=lambda s: None
        )
        best = max(history, key=lambda r: r["val_f1"])
        row = {
            "layer": layer,
            "relative_depth": layer / deep.num_layers,
            "dev_f1": best["val_f1"],
            "dev_precision": best["val_precision"],
            "dev_recall": best["val_recall"],
            "best_epoch": best["epoch"],
            "train_cpu_s": time.process_time() - started,
            "train_wall_s": time.perf_counter() - wall,
            "history": history,
        }
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "history"}), flush=True)

    meta = {
        "command": "python scripts/type_layer_sweep.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "model": args.model,
        "probe_layer": detector.config.layer,
        "backbone": detector.backbone.source,
        "num_layers": deep.num_layers,
        "benchmark": args.benchmark,
        "kind": "zero-shot" if args.zero_shot else "supervised",
        "probe_feature": args.probe_feature,
        "echo": args.echo,
        "train_sentences": n_train,
        "dev_sentences": n_val,
        "join_sentences": args.join_sentences,
        "labels": labels,
        "candidate_threshold": args.candidate_threshold,
        "candidate_recall": {name: candidate_recall(plain[name], cands[name]) for name in plain},
        "train_config": config.__dict__,
        "dim": args.dim,
        "encode": encode,
        "best_layer": max(rows, key=lambda r: (r["dev_f1"], -r["layer"]))["layer"],
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    write_markdown(out.with_suffix(".md"), meta, out.with_suffix(".png").name)
    plot(out.with_suffix(".png"), meta)


def write_markdown(path: Path, meta: dict, png_name: str) -> None:
    lines = [
        "# Type-head layer sweep (development data only)",
        "",
        f"Backbone `{meta['backbone']}` ({meta['num_layers']} layers). Candidates: the probe of "
        f"`{meta['model']}` (layer {meta['probe_layer']}, plain input), probability >= "
        f"{meta['candidate_threshold']} (gold recall: train {meta['candidate_recall']['train']:.3f}, "
        f"dev {meta['candidate_recall']['dev']:.3f}). One {meta['kind']} head per layer "
        f"(dim {meta['dim']}, {meta['train_config']['epochs']} epochs of "
        f"{meta['train_config']['batch_windows']} texts per step, seed {meta['train_config']['seed']}"
        f"{', echo input' if meta['echo'] else ''}{', probe feature' if meta['probe_feature'] else ''}), "
        + (
            f"trained on the first {meta['train_sentences']} texts of the Pile-NER part's fixed 90% split "
            f"and scored on the first {meta['dev_sentences']} of its fixed 10% held-out part "
            "(own types plus 8 other training types per text; label threshold chosen per epoch)"
            if meta["kind"] == "zero-shot"
            else f"trained on the first {meta['train_sentences']} {meta['benchmark']} train sentences and "
            f"scored on the first {meta['dev_sentences']} **dev** sentences"
        )
        + (
            f", read in groups of {meta['join_sentences']} consecutive sentences (document context)"
            if meta.get("join_sentences", 1) > 1
            else ""
        )
        + ": strict typed micro P / R / F1 at the best epoch. Regenerate with:",
        "",
        f"    {meta['command']}",
        "",
        "| layer | depth | dev P | dev R | dev F1 | best epoch | train CPU s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in meta["rows"]:
        lines.append(
            f"| {r['layer']} | {r['relative_depth']:.2f} | {r['dev_precision']:.4f} | "
            f"{r['dev_recall']:.4f} | {r['dev_f1']:.4f} | {r['best_epoch']} | {r['train_cpu_s']:.0f} |"
        )
    lines += [
        "",
        f"Best layer by dev F1: **{meta['best_layer']}**. Encoding (all layers, one pass, train + dev): "
        f"{meta['encode']['wall_s']:.0f} s wall, {meta['encode']['cpu_s']:.0f} CPU s.",
        "",
        f"![dev F1 by layer]({png_name})",
        "",
    ]
    path.write_text("\n".join(lines))


def plot(path: Path, meta: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [r["layer"] for r in meta["rows"]]
    for key, style in (("dev_f1", "o-"), ("dev_precision", "x--"), ("dev_recall", "s--")):
        ax.plot(xs, [r[key] for r in meta["rows"]], style, label=key.replace("_", " "))
    ax.set_xlabel("layer of the type head's states")
    ax.set_title(f"{meta['benchmark']}: typed dev scores by layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
