"""Quick layer / rank sweep for the default detector on the held-out Pile-NER part.

Writes results/default_sweep.json and results/default_sweep.md. Never touches benchmarks.

    python scripts/sweep_default.py --train-docs 800 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tommer.core.backbone import DEFAULT_BACKBONE, Backbone
from tommer.core.probe import ProbeConfig
from tommer.data.readers import PILE_NER_BIO, data_root, read_bio
from tommer.training.training import TrainConfig, encode_corpus_layers, split_holdout, train_probe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=str(data_root() / PILE_NER_BIO))
    ap.add_argument("--backbone", default=DEFAULT_BACKBONE)
    ap.add_argument("--layers", default="1,2,3,4,5,6,8,10,12,14,16")
    ap.add_argument("--ranks", default="32,64,128")
    ap.add_argument("--train-docs", type=int, default=800)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/default_sweep")
    args = ap.parse_args()

    docs = read_bio(args.data)
    train_docs, val_docs = split_holdout(docs, 0.1, args.seed)
    train_docs = train_docs[: args.train_docs]
    layers = [int(x) for x in args.layers.split(",")]
    backbone = Backbone.load(args.backbone, max(layers))
    t0 = time.process_time()
    train = encode_corpus_layers(backbone, train_docs, layers, desc="train")
    val = encode_corpus_layers(backbone, val_docs, layers, desc="val")
    encode_s = time.process_time() - t0
    rows = []
    cfg = TrainConfig(epochs=args.epochs, seed=args.seed)

    def run(layer: int, rank: int, cosine: bool = False) -> dict:
        t = time.process_time()
        probe_cfg = ProbeConfig(backbone.hidden_size, rank=rank, cosine=cosine)
        _, hist = train_probe(train[layer], val[layer], probe_cfg, cfg, log=lambda s: None)
        best = max(hist, key=lambda r: r["val_f1"])
        row = {
            "layer": layer,
            "rank": rank,
            "cosine": cosine,
            "val_precision": best["val_precision"],
            "val_recall": best["val_recall"],
            "val_f1": best["val_f1"],
            "cpu_s": time.process_time() - t,
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
        return row

    for layer in layers:
        run(layer, 64)
    best_layer = max((r for r in rows), key=lambda r: r["val_f1"])["layer"]
    for rank in [int(x) for x in args.ranks.split(",")]:
        if rank != 64:
            run(best_layer, rank)
    run(best_layer, 64, cosine=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": "python scripts/sweep_default.py "
        + f"--train-docs {args.train_docs} --epochs {args.epochs} --layers {args.layers}",
        "backbone": args.backbone,
        "train_docs": len(train_docs),
        "val_docs": len(val_docs),
        "encode_cpu_s": encode_s,
        "rows": rows,
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    lines = [
        "# Default-model sweep (held-out Pile-NER part)",
        "",
        f"Backbone `{args.backbone}`; probes trained on {len(train_docs)} Pile-NER passages for "
        f"{args.epochs} epochs, scored on the fixed 10% held-out passages ({len(val_docs)}); "
        "exact character-span match at threshold 0.5. Regenerate with:",
        "",
        f"    {meta['command']}",
        "",
        "| layer | rank | cosine | precision | recall | F1 | probe CPU s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {r['rank']} | {r['cosine']} | {r['val_precision']:.4f} | "
            f"{r['val_recall']:.4f} | {r['val_f1']:.4f} | {r['cpu_s']:.0f} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
