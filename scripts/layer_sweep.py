"""Layer sweep for the default backbone, on development data only (never test).

One backbone pass keeps the hidden states of every swept layer for: a Pile-NER training subset,
the fixed 10% Pile-NER held-out part, and the first ``--dev-limit`` sentences (with at least one
entity) of each benchmark's dev split. A probe is trained per layer with the same recipe and
scored on the held-out part and on the pooled dev sentences. Writes results/layer_sweep.{json,md,png}.

    python scripts/layer_sweep.py --layers 1-16 --train-docs 800 --epochs 3 --dev-limit 200
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tommer.backbone import DEFAULT_BACKBONE, Backbone
from tommer.evaluation import BENCHMARKS, load_benchmark
from tommer.metrics import SpanScores
from tommer.probe import ProbeConfig
from tommer.readers import PILE_NER_BIO, data_root, read_bio
from tommer.training import TrainConfig, encode_corpus_layers, evaluate, split_holdout, train_probe


def parse_layers(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default=DEFAULT_BACKBONE)
    ap.add_argument("--layers", default="1-16")
    ap.add_argument("--rank", type=int, default=64)
    ap.add_argument("--train-docs", type=int, default=800)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--dev-limit", type=int, default=200)
    ap.add_argument("--thresholds", default="0.5,0.7,0.9")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/layer_sweep")
    args = ap.parse_args()

    root = data_root()
    layers = parse_layers(args.layers)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    train_docs, held_docs = split_holdout(read_bio(root / PILE_NER_BIO), 0.1, args.seed)
    train_docs = train_docs[: args.train_docs]
    dev = {name: load_benchmark(root, name, "dev", limit=args.dev_limit) for name in BENCHMARKS}

    backbone = Backbone.load(args.backbone, max(layers))
    started = time.process_time()
    train = encode_corpus_layers(backbone, train_docs, layers, desc="pile-ner train")
    held = encode_corpus_layers(backbone, held_docs, layers, desc="pile-ner held-out")
    dev_enc = {
        name: encode_corpus_layers(backbone, docs, layers, desc=f"dev {name}") for name, docs in dev.items()
    }
    encode_s = time.process_time() - started

    rows = []
    for layer in layers:
        probe, _ = train_probe(
            train[layer],
            held[layer],
            ProbeConfig(backbone.hidden_size, rank=args.rank),
            TrainConfig(epochs=args.epochs, seed=args.seed),
            log=lambda s: None,
        )
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
        f"python scripts/layer_sweep.py --layers {args.layers} --train-docs {args.train_docs} "
        f"--epochs {args.epochs} --dev-limit {args.dev_limit} --thresholds {args.thresholds}"
    )
    meta = {
        "command": command,
        "backbone": args.backbone,
        "num_layers": backbone.num_layers,
        "train_docs": len(train_docs),
        "held_out_docs": len(held_docs),
        "dev_sentences": {k: len(v) for k, v in dev.items()},
        "encode_cpu_s": encode_s,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    write_markdown(out.with_suffix(".md"), meta, thresholds)
    plot(out.with_suffix(".png"), meta, thresholds)


def write_markdown(path: Path, meta: dict, thresholds: list[float]) -> None:
    lines = [
        "# Layer sweep (development data only)",
        "",
        f"Backbone `{meta['backbone']}` ({meta['num_layers']} layers). One probe per layer (rank 64), "
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
    lines += ["", "![layer sweep](layer_sweep.png)", ""]
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
