"""Layer sweep for one backbone, on development data only (never test).

One backbone pass keeps the hidden states of every swept layer for: a Pile-NER training subset,
the fixed 10% Pile-NER held-out part, and the first ``--dev-limit`` sentences (with at least one
entity) of each benchmark's dev split. A probe is trained per layer with the same recipe and
scored on the held-out part and on the pooled dev sentences; the pooled DICE between the layers'
predicted mention sets on the dev sentences is recorded too. Writes
``results/layer_sweep_<backbone>.{json,md,png}`` (``--out`` to change); ``--save-best DIR`` saves
the probe of the layer with the best pooled dev F1 as a detector (config, weights, model card).

    python scripts/layer_sweep.py --backbone gemma3-270m --layers 1-12 --train-docs 300 --epochs 3 \
        --dev-limit 50 --thresholds 0.5 --save-best src/tommer/pretrained/gemma3-270m
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

from tommer.core.backbone import DEFAULT_BACKBONE, Backbone
from tommer.core.config import DetectorConfig
from tommer.core.probe import ProbeConfig
from tommer.data.metrics import SpanScores
from tommer.data.readers import PILE_NER_BIO, data_root, read_bio
from tommer.evaluation.compare import dice_matrix
from tommer.evaluation.evaluation import BENCHMARKS, load_benchmark
from tommer.training.training import (
    EncodedCorpus,
    TrainConfig,
    encode_corpus_layers,
    evaluate,
    predicted_spans,
    split_holdout,
    train_probe,
)
from tommer.typed.detector import MentionDetector


def parse_layers(spec: str) -> list[int]:
    """``"1-16"``, ``"2-16:2"`` (every second layer), ``"1,3,5"`` or a mix."""
    out: list[int] = []
    for part in spec.split(","):
        part, _, step = part.partition(":")
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1, int(step or 1)))
    return sorted(set(out))


def concat(corpora: list[EncodedCorpus]) -> EncodedCorpus:
    """Several encoded corpora as one (documents renumbered)."""
    docs, encodings, windows, hidden, gold = [], [], [], [], []
    for c in corpora:
        offset = len(docs)
        docs += c.docs
        encodings += c.encodings
        windows += [replace(w, doc=w.doc + offset) for w in c.windows]
        hidden += c.hidden
        gold += c.gold
    return EncodedCorpus(docs, encodings, windows, hidden, gold)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default=DEFAULT_BACKBONE)
    ap.add_argument("--layers", default="1-16")
    ap.add_argument("--rank", type=int, default=64)
    ap.add_argument("--train-docs", type=int, default=800)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--dev-limit", type=int, default=200)
    ap.add_argument("--thresholds", default="0.5,0.7,0.9")
    ap.add_argument("--held-limit", type=int, default=None, help="first N held-out Pile-NER passages")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="output stem (default results/layer_sweep_<backbone>)")
    ap.add_argument("--save-best", default=None, help="save the best-by-dev-F1 layer's detector here")
    args = ap.parse_args()
    args.out = args.out or f"results/layer_sweep_{args.backbone}"

    root = data_root()
    layers = parse_layers(args.layers)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    train_docs, held_docs = split_holdout(read_bio(root / PILE_NER_BIO), 0.1, args.seed)
    train_docs = train_docs[: args.train_docs]
    held_docs = held_docs[: args.held_limit]
    dev = {name: load_benchmark(root, name, "dev", limit=args.dev_limit) for name in BENCHMARKS}

    backbone = Backbone.load(args.backbone, max(layers))
    started = time.process_time()
    train = encode_corpus_layers(backbone, train_docs, layers, desc="pile-ner train")
    held = encode_corpus_layers(backbone, held_docs, layers, desc="pile-ner held-out")
    dev_enc = {
        name: encode_corpus_layers(backbone, docs, layers, desc=f"dev {name}") for name, docs in dev.items()
    }
    encode_s = time.process_time() - started

    rows, dev_predictions, trained = [], {}, {}
    train_config = TrainConfig(epochs=args.epochs, seed=args.seed)
    for layer in layers:
        started = time.process_time()
        probe, history = train_probe(
            train[layer],
            held[layer],
            ProbeConfig(backbone.hidden_size, rank=args.rank),
            train_config,
            log=lambda s: None,
        )
        trained[layer] = (probe, history, time.process_time() - started)
        dev_all = concat([dev_enc[name][layer] for name in BENCHMARKS])
        dev_predictions[layer] = predicted_spans(probe, dev_all, thresholds[0])
        for threshold in thresholds:
            pile = evaluate(probe, held[layer], threshold)
            pooled = SpanScores()
            per_bench = {}
            for name in BENCHMARKS:
                s = evaluate(probe, dev_enc[name][layer], threshold)
                per_bench[name] = s.recall
                pooled.tp += s.tp
                pooled.predicted += s.predicted
                pooled.gold += s.gold
            row = {
                "layer": layer,
                "relative_depth": layer / backbone.num_layers,
                "threshold": threshold,
                "pile_precision": pile.precision,
                "pile_recall": pile.recall,
                "pile_f1": pile.f1,
                "dev_precision": pooled.precision,
                "dev_recall": pooled.recall,
                "dev_f1": pooled.f1,
                "dev_recall_per_benchmark": per_bench,
            }
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "dev_recall_per_benchmark"}), flush=True)

    command = (
        f"python scripts/layer_sweep.py --backbone {args.backbone} --layers {args.layers} "
        f"--train-docs {args.train_docs} --epochs {args.epochs} --dev-limit {args.dev_limit} "
        f"--thresholds {args.thresholds}"
        + (f" --held-limit {args.held_limit}" if args.held_limit is not None else "")
        + (f" --out {args.out}" if args.out != f"results/layer_sweep_{args.backbone}" else "")
        + (f" --save-best {args.save_best}" if args.save_best else "")
    )
    dev_texts = [d.text for name in BENCHMARKS for d in dev[name]]
    best = max(
        (r for r in rows if r["threshold"] == thresholds[0]), key=lambda r: (r["dev_f1"], -r["layer"])
    )["layer"]
    meta = {
        "command": command,
        "backbone": args.backbone,
        "num_layers": backbone.num_layers,
        "bidirectional": backbone.bidirectional,
        "train_docs": len(train_docs),
        "held_out_docs": len(held_docs),
        "dev_sentences": {k: len(v) for k, v in dev.items()},
        "encode_cpu_s": encode_s,
        "train_cpu_s": {layer: trained[layer][2] for layer in layers},
        "best_layer": best,
        "best_rule": f"highest pooled dev F1 at threshold {thresholds[0]}",
        "layer_dice": {
            "threshold": thresholds[0],
            "layers": layers,
            "sentences": len(dev_texts),
            "matrix": dice_matrix({layer: dev_predictions[layer] for layer in layers}, dev_texts),
        },
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path, png_path = (out.with_name(out.name + ext) for ext in (".json", ".md", ".png"))
    json_path.write_text(json.dumps(meta, indent=2) + "\n")  # names may contain dots (qwen2.5-0.5b)
    write_markdown(md_path, meta, thresholds, png_path.name)
    plot(png_path, meta, thresholds)
    if args.save_best:
        save_best(args, meta, backbone, trained[best], held[best], train_config)


def save_best(args, meta: dict, backbone: Backbone, trained, held: EncodedCorpus, train_config) -> None:
    """Save the best layer's probe as a detector whose model card records data, seed and metrics."""
    probe, history, train_cpu = trained
    layer, threshold = meta["best_layer"], meta["layer_dice"]["threshold"]
    dev = next(r for r in meta["rows"] if r["layer"] == layer and r["threshold"] == threshold)
    info = {
        "training_data": f"{PILE_NER_BIO} (first {meta['train_docs']} training texts of the seeded split)",
        "validation": (
            f"fixed 10% of the texts (seed {args.seed}) ({meta['held_out_docs']} texts); "
            f"layer {layer} chosen among {meta['layer_dice']['layers']} by {meta['best_rule']} "
            f"(pooled dev F1 {dev['dev_f1']:.4f}, recall {dev['dev_recall']:.4f})"
        ),
        "seed": args.seed,
        "encode_cpu_seconds": meta["encode_cpu_s"],
        "train_cpu_seconds": train_cpu,
        "threshold": threshold,
        "command": meta["command"],
        "train_config": asdict(train_config),
        "history": history,
        "metrics": evaluate(probe, held, threshold).to_dict(),
        "bidirectional": backbone.bidirectional,
    }
    config = DetectorConfig(args.backbone, layer, probe.config, threshold=threshold, info=info)
    MentionDetector(config, backbone, probe).save_pretrained(args.save_best)


def write_markdown(path: Path, meta: dict, thresholds: list[float], png_name: str) -> None:
    lines = [
        "# Layer sweep (development data only)",
        "",
        f"Backbone `{meta['backbone']}` ({meta['num_layers']} layers"
        f"{', bidirectional' if meta.get('bidirectional') else ''}). One probe per layer (rank 64), "
        f"trained on {meta['train_docs']} Pile-NER passages; scored on the fixed 10% Pile-NER held-out "
        f"part ({meta['held_out_docs']} passages) and on the pooled **dev** splits of the 13 benchmarks "
        f"(first {max(meta['dev_sentences'].values())} sentences with at least one entity each). "
        "Untyped exact span match, decoding `threshold`. Regenerate with:",
        "",
        f"    {meta['command']}",
        "",
        "| layer | threshold | dev P | dev R | dev F1 | Pile-NER P | Pile-NER R | Pile-NER F1 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in meta["rows"]:
        lines.append(
            f"| {r['layer']} | {r['threshold']} | {r['dev_precision']:.3f} | {r['dev_recall']:.3f} | "
            f"{r['dev_f1']:.3f} | {r['pile_precision']:.3f} | {r['pile_recall']:.3f} | {r['pile_f1']:.3f} |"
        )
    ld = meta.get("layer_dice")
    if ld:
        lines += [
            "",
            f"Best layer: **{meta['best_layer']}** ({meta['best_rule']}).",
            "",
            f"Pooled DICE between the layers' predicted mention sets on the {ld['sentences']} dev sentences "
            f"(threshold {ld['threshold']}):",
            "",
            "| layer | " + " | ".join(str(x) for x in ld["layers"]) + " |",
            "| --- |" + " --- |" * len(ld["layers"]),
        ]
        for layer, row in zip(ld["layers"], ld["matrix"]):
            lines.append(f"| {layer} | " + " | ".join(f"{x:.2f}" for x in row) + " |")
    lines += ["", f"![layer sweep]({png_name})", ""]
    path.write_text("\n".join(lines))


def plot(path: Path, meta: dict, thresholds: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, prefix, title in (
        (axes[0], "dev", "benchmarks (dev, pooled)"),
        (axes[1], "pile", "Pile-NER held-out"),
    ):
        for t in thresholds:
            rows = [r for r in meta["rows"] if r["threshold"] == t]
            xs = [r["layer"] for r in rows]
            ax.plot(xs, [r[f"{prefix}_recall"] for r in rows], marker="o", label=f"recall @ {t}")
            ax.plot(
                xs, [r[f"{prefix}_precision"] for r in rows], marker="x", ls="--", label=f"precision @ {t}"
            )
        ax.set_xlabel("layer")
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{meta['backbone']}: mention detection by layer")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
