"""Layer sweep for one backbone, on development data only (never test).

One backbone pass keeps the hidden states of every swept layer (cached in ``--cache-dir``) for
the Pile-NER part (the fixed 90% training split, all of it unless ``--train-docs``), its fixed
10% held-out split, and the first ``--dev-limit`` sentences (with at least one entity) of each
benchmark's dev split. A probe is trained per layer with the library's default recipe (what
``tommer train`` does without options) and scored on the held-out Pile-NER part and on the
pooled dev sentences, under threshold decoding (0.5) and the greedy ``flat`` decoder (margin 0).
The cost column is the multiply-adds of the first L blocks per token (2 × their parameters,
attention over the context not counted). Writes ``results/layer_sweep_<backbone>.{json,md,png}``;
``--save-best DIR`` saves the probe of the layer with the best pooled dev F1 under ``flat``.

    python scripts/layer_sweep.py --backbone minilm-l6 --layers 1-6 --epochs 4 \
        --save-best src/tommer/pretrained/minilm-l6
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from sweep_common import cpu_flags, encode_cached, pooled

from tommer.core.backbone import DEFAULT_BACKBONE, Backbone
from tommer.core.config import DetectorConfig
from tommer.core.probe import ProbeConfig
from tommer.data.readers import PILE_NER_BIO, data_root, read_bio
from tommer.evaluation.evaluation import BENCHMARKS, load_benchmark
from tommer.training.training import TrainConfig, evaluate, split_holdout, train_probe
from tommer.typed.detector import MentionDetector

DECODINGS = ("threshold", "flat")


def parse_layers(spec: str) -> list[int]:
    """``"1-16"``, ``"2-16:2"`` (every second layer), ``"1,3,5"`` or a mix."""
    out: list[int] = []
    for part in spec.split(","):
        part, _, step = part.partition(":")
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1, int(step or 1)))
    return sorted(set(out))


def mflop_per_token(backbone: Backbone, layer: int) -> float:
    """2 × the parameters of the first ``layer`` blocks, in millions."""
    return 2 * sum(p.numel() for block in list(backbone.layers)[:layer] for p in block.parameters()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default=DEFAULT_BACKBONE)
    ap.add_argument("--layers", default="2-8:2")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--train-docs", type=int, help="first N training texts (default: all)")
    ap.add_argument("--dev-limit", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default="build/ablation-cache")
    ap.add_argument("--out", help="output stem (default results/layer_sweep_<backbone>)")
    ap.add_argument("--save-best", help="save the best layer's detector here (by dev F1 under flat)")
    ap.add_argument("--token-shapes", action="store_true", help="probes that also read each token's case")
    args = ap.parse_args()
    out = Path(args.out or f"results/layer_sweep_{args.backbone}")

    root = data_root()
    layers = parse_layers(args.layers)
    train_docs, held_docs = split_holdout(read_bio(root / PILE_NER_BIO), 0.1, args.seed)
    train_docs = train_docs[: args.train_docs]
    dev_docs = {name: load_benchmark(root, name, "dev", limit=args.dev_limit) for name in BENCHMARKS}
    backbone = Backbone.load(args.backbone, max(layers))
    cache = Path(args.cache_dir) / args.backbone
    started = time.perf_counter()
    train = encode_cached(backbone, train_docs, layers, cache, f"pile-train{len(train_docs)}")
    held = encode_cached(backbone, held_docs, layers, cache, "pile-held")
    dev = {
        n: encode_cached(backbone, d, layers, cache, f"dev{args.dev_limit}-{n}") for n, d in dev_docs.items()
    }
    encode_s = time.perf_counter() - started

    rows, probes = [], {}
    train_config = TrainConfig(epochs=args.epochs, seed=args.seed)
    probe_config = ProbeConfig(backbone.hidden_size, token_shapes=args.token_shapes)
    for layer in layers:
        started = time.perf_counter()
        probe, history = train_probe(
            train[layer], held[layer], probe_config, train_config, log=lambda s: None
        )
        probes[layer] = (probe, history)
        row = {
            "layer": layer,
            "relative_depth": layer / backbone.num_layers,
            "mflop_per_token": mflop_per_token(backbone, layer),
            "train_wall_s": time.perf_counter() - started,
            "combine": [round(float(w), 3) for w in probe.combine.weight.flatten()],
        }
        for decoding in DECODINGS:
            pile = evaluate(probe, held[layer], 0.5, decoding)
            d = pooled(probe, {n: c[layer] for n, c in dev.items()}, decoding)
            row[decoding] = {
                "dev": [d.precision, d.recall, d.f1],
                "pile": [pile.precision, pile.recall, pile.f1],
            }
        rows.append(row)
        print(json.dumps(row), flush=True)

    best = max(rows, key=lambda r: (r["flat"]["dev"][2], -r["layer"]))["layer"]
    command = (
        f"python scripts/layer_sweep.py --backbone {args.backbone} --layers {args.layers} "
        f"--epochs {args.epochs} --dev-limit {args.dev_limit}"
        + (f" --train-docs {args.train_docs}" if args.train_docs else "")
        + (" --token-shapes" if args.token_shapes else "")
        + (f" --save-best {args.save_best}" if args.save_best else "")
        + (f" --out {args.out}" if args.out else "")
    )
    meta = {
        "command": command,
        "backbone": args.backbone,
        "num_layers": backbone.num_layers,
        "bidirectional": backbone.bidirectional,
        "train_docs": len(train_docs),
        "held_out_docs": len(held_docs),
        "dev_sentences": sum(len(v) for v in dev_docs.values()),
        "encode_wall_s": encode_s,
        "cpu_flags": cpu_flags(),
        "train_config": asdict(train_config),
        "probe_config": asdict(probe_config),
        "best_layer": best,
        "best_rule": "highest pooled dev F1 under flat decoding",
        "rows": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.name
    (out.parent / f"{stem}.json").write_text(json.dumps(meta, indent=2) + "\n")
    (out.parent / f"{stem}.md").write_text(render(meta, f"{stem}.png"))
    plot(out.parent / f"{stem}.png", meta)
    if args.save_best:
        save_best(args, meta, backbone, probes[best], held[best], train_config)


def save_best(args, meta: dict, backbone: Backbone, trained, held, train_config: TrainConfig) -> None:
    """Save the best layer's probe as a detector whose model card records data, seed and metrics."""
    probe, history = trained
    layer = meta["best_layer"]
    row = next(r for r in meta["rows"] if r["layer"] == layer)
    info = {
        "training_data": f"{PILE_NER_BIO} ({meta['train_docs']} training texts of the seeded split)",
        "validation": (
            f"fixed 10% of the texts (seed {args.seed}) ({meta['held_out_docs']} texts); layer {layer} "
            f"chosen among {[r['layer'] for r in meta['rows']]} by {meta['best_rule']} "
            f"(pooled dev P/R/F1 {row['flat']['dev'][0]:.4f} / {row['flat']['dev'][1]:.4f} / "
            f"{row['flat']['dev'][2]:.4f})"
        ),
        "seed": args.seed,
        "threshold": 0.5,
        "command": meta["command"],
        "train_config": asdict(train_config),
        "history": history,
        "metrics": evaluate(probe, held, 0.5).to_dict(),
        "metrics_flat": evaluate(probe, held, 0.5, "flat").to_dict(),
        "bidirectional": backbone.bidirectional,
    }
    config = DetectorConfig(args.backbone, layer, probe.config, threshold=0.5, info=info)
    MentionDetector(config, backbone, probe).save_pretrained(args.save_best)


def render(meta: dict, png_name: str) -> str:
    lines = [
        f"# Layer sweep: {meta['backbone']} (development data only)",
        "",
        f"Generated by `{meta['command']}`. {meta['num_layers']} layers"
        f"{', bidirectional' if meta['bidirectional'] else ''}. One probe per layer with the default "
        f"recipe ({meta['train_config']['epochs']} epochs), trained on {meta['train_docs']} Pile-NER "
        f"texts; scored on the {meta['held_out_docs']} held-out texts (fixed 10% split) and on "
        f"{meta['dev_sentences']} dev sentences of the 13 benchmarks, pooled. Candidates above 0.5; "
        "`flat` is greedy non-overlapping decoding. Cost: MFLOP per token of the first L blocks.",
        f"CPU flags: {meta['cpu_flags']}.",
        "",
        "| layer | MFLOP/token | dev P / R / F1 (threshold) | dev P / R / F1 (flat) | "
        "Pile-NER P / R / F1 (flat) | combine weights |",
        "|---:|---:|---|---|---|---|",
    ]
    f3 = lambda v: " / ".join(f"{100 * x:.1f}" for x in v)  # noqa: E731
    for r in meta["rows"]:
        lines.append(
            f"| {r['layer']} | {r['mflop_per_token']:.1f} | {f3(r['threshold']['dev'])} | "
            f"{f3(r['flat']['dev'])} | {f3(r['flat']['pile'])} | {r['combine']} |"
        )
    lines += ["", f"Best layer: **{meta['best_layer']}** ({meta['best_rule']}).", "", f"![]({png_name})", ""]
    return "\n".join(lines)


def plot(path: Path, meta: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [r["layer"] for r in meta["rows"]]
    for decoding, style in (("threshold", "--"), ("flat", "-")):
        ax.plot(
            xs, [r[decoding]["dev"][1] for r in meta["rows"]], style, marker="o", label=f"recall ({decoding})"
        )
        ax.plot(
            xs,
            [r[decoding]["dev"][0] for r in meta["rows"]],
            style,
            marker="x",
            label=f"precision ({decoding})",
        )
    ax.set_xlabel("layer")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{meta['backbone']}: pooled dev, by layer")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
