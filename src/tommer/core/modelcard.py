"""The README.md model card written next to a saved detector."""

from __future__ import annotations

import json

from .config import DetectorConfig


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def render_card(config: DetectorConfig, num_parameters: int) -> str:
    """Markdown describing the detector: backbone, layer, probe, training data, seed, metrics."""
    info = config.info
    probe = config.probe
    lines = [
        "# tommer mention detector",
        "",
        "A ToMMeR probe (token matching + end-of-mention probe) over a frozen language model,",
        "read at an early layer. It scores every span and returns entity mentions.",
        "",
        "| field | value |",
        "| --- | --- |",
        f"| backbone | `{config.backbone}` |",
        f"| layer | {config.layer} |",
        f"| rank | {probe.rank} |",
        f"| similarity | {'cosine' if probe.cosine else 'scaled dot product'} |",
        f"| max span length (tokens) | {probe.max_span_tokens} |",
        f"| token shapes (case) | {'read' if probe.token_shapes else 'not read'} |",
        f"| window / context (tokens) | {config.max_tokens} / {config.context} |",
        f"| probe parameters | {num_parameters:,} |",
        f"| default threshold | {config.threshold} |",
        f"| greedy margin (logits) | {config.margin} |",
    ]
    if "combine_weights" in info:
        weights = ", ".join(f"{w:.3f}" for w in info["combine_weights"])
        lines.append(f"| combine weights [S, min-pool, max-pool, e_i, e_i+1] | {weights} |")
    keys = ("training_data", "validation", "seed", "teacher", "teacher_threshold", "teacher_spans_added")
    keys += ("train_cpu_seconds", "encode_cpu_seconds")
    for key in keys + ("train_wall_seconds", "encode_wall_seconds"):
        if key in info:
            lines.append(f"| {key.replace('_', ' ')} | {_fmt(info[key])} |")
    if "command" in info:
        lines += ["", "## Reproduce", "", "```bash", info["command"], "```"]
    metrics = info.get("metrics")
    if metrics:
        lines += [
            "",
            "## Held-out metrics",
            "",
            "Exact match of character spans against the held-out annotation "
            f"(candidates above {info.get('threshold', 0.5)}).",
            "",
            "| decoding | precision | recall | F1 | predicted | gold |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, m in (("threshold", metrics), ("flat (margin 0)", info.get("metrics_flat"))):
            if m:
                lines.append(
                    f"| `{name}` | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} "
                    f"| {m['predicted']} | {m['gold']} |"
                )
    point = info.get("operating_point")
    if point:
        chosen = point["chosen"]
        lines += [
            "",
            "## Operating point",
            "",
            f"Chosen on {point['split']} data (first {point['limit']} sentences of each benchmark's dev "
            f"split): {point['rule']}. Threshold {chosen['threshold']}, margin {chosen['margin']}: pooled "
            f"dev precision {chosen['precision']:.4f}, recall {chosen['recall']:.4f}, F1 {chosen['f1']:.4f}. "
            "Regenerate with:",
            "",
            "```bash",
            point["command"],
            "```",
        ]
    selection = info.get("threshold_selection")
    if selection:
        chosen = selection["chosen"]
        lines += [
            "",
            "## Default threshold",
            "",
            f"Chosen on {selection['split']} data (first {selection['limit']} sentences of each benchmark's "
            f"dev split): {selection['rule']}. At {chosen['threshold']}: pooled dev precision "
            f"{chosen['precision']:.4f}, recall {chosen['recall']:.4f}. Regenerate with:",
            "",
            "```bash",
            selection["command"],
            "```",
        ]
    if "train_config" in info:
        lines += [
            "",
            "## Training settings",
            "",
            "```json",
            json.dumps(info["train_config"], indent=2),
            "```",
        ]
    if "history" in info:
        lines += [
            "",
            "## Epochs",
            "",
            "| epoch | loss | lr | val P | val R | val F1 |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in info["history"]:
            lines.append(
                f"| {row['epoch']} | {row['loss']:.4f} | {row['lr']:.2e} | "
                f"{row.get('val_precision', float('nan')):.4f} | {row.get('val_recall', float('nan')):.4f} | "
                f"{row.get('val_f1', float('nan')):.4f} |"
            )
    return "\n".join(lines) + "\n"
