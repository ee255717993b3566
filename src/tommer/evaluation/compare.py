"""Do different backbones (and layers) agree on mention boundaries? Pooled DICE, zero-shot table, plots.

The agreement of two predictors is the pooled DICE of their predicted mention sets,
``2 Σ|A_i ∩ B_i| / Σ(|A_i| + |B_i|)`` over sentences i, on exact (whitespace-trimmed) character
spans. :func:`run_compare` scores the best probe of each backbone on the benchmark test
sentences (the zero-shot table), computes their pairwise DICE, reads the layer sweeps
(``results/layer_sweep_<backbone>.json``: recall by relative depth and the DICE between the
layers of one backbone, computed there on dev sentences) and writes ``compare.{md,json}``,
``dice.png``, ``dice_layers.png`` and ``recall_vs_depth.png``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from itertools import combinations
from pathlib import Path

from ..core.layout import BACKBONE_MODELS
from ..data.metrics import pct
from ..errors import ConfigError, TommerError
from ..typed.detector import MentionDetector
from .evaluation import BENCHMARKS, evaluate_benchmarks, load_benchmark, tommer_predictors, trimmed_spans

Spans = Iterable[tuple[int, int]]

DEFAULT_MODELS = BACKBONE_MODELS
COMMAND = "tommer compare --limit 50"


def _trimmed(text: str | None, spans: Spans) -> set[tuple[int, int]]:
    return {(int(s), int(e)) for s, e in spans} if text is None else trimmed_spans(text, spans)


def dice(a: Sequence[Spans], b: Sequence[Spans], texts: Sequence[str] | None = None) -> float:
    """Pooled DICE of two predictors' span sets over the same sentences (1.0 when both are empty).

    ``a[i]`` and ``b[i]`` are the (start, end) spans predicted for sentence i; with ``texts``
    spans are first stripped of surrounding whitespace.
    """
    if len(a) != len(b) or (texts is not None and len(texts) != len(a)):
        raise ConfigError(f"dice needs predictions for the same sentences ({len(a)} vs {len(b)})")
    inter = total = 0
    for k, (sa, sb) in enumerate(zip(a, b)):
        text = None if texts is None else texts[k]
        set_a, set_b = _trimmed(text, sa), _trimmed(text, sb)
        inter += len(set_a & set_b)
        total += len(set_a) + len(set_b)
    return 1.0 if total == 0 else 2 * inter / total


def dice_matrix(
    predictions: dict[str, Sequence[Spans]], texts: Sequence[str] | None = None
) -> list[list[float]]:
    """Pairwise pooled DICE between named predictions (same order as the dict)."""
    names = list(predictions)
    out = [[1.0] * len(names) for _ in names]
    for i, j in combinations(range(len(names)), 2):
        out[i][j] = out[j][i] = dice(predictions[names[i]], predictions[names[j]], texts)
    return out


def mean_off_diagonal(matrix: Sequence[Sequence[float]]) -> float | None:
    """Mean of the pairwise (i < j) entries; None for fewer than two predictors."""
    pairs = [matrix[i][j] for i, j in combinations(range(len(matrix)), 2)]
    return sum(pairs) / len(pairs) if pairs else None


def _recording(predictor: Callable, store: list) -> Callable:
    def predict(texts):
        out = predictor(texts)
        store.extend(out)
        return out

    return predict


def read_sweeps(results_dir: str | Path, models: Sequence[str]) -> dict[str, dict]:
    """The layer-sweep JSON of each model's backbone that exists (``layer_sweep_<backbone>.json``)."""
    out = {}
    for name in models:
        path = Path(results_dir) / f"layer_sweep_{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text())
    return out


def run_compare(
    models: Sequence[str] = DEFAULT_MODELS,
    limit: int | None = 50,
    benchmarks: Sequence[str] | None = None,
    threshold: float | None = None,
    decodings: Sequence[str] = ("threshold", "flat"),
    root: str | Path | None = None,
    out_dir: str | Path = "results/compare",
    sweeps_dir: str | Path = "results",
    command: str = COMMAND,
    log: Callable[[str], None] | None = print,
) -> dict:
    """Score and compare the detectors ``models`` (shipped names or directories); write the report.

    The first of ``decodings`` is the main one (zero-shot table, ``dice.png``); DICE is also
    reported for the others (one forward pass serves every decoder).
    """
    if len(models) < 2:
        raise ConfigError("compare needs at least two models")
    if not decodings:
        raise ConfigError("compare needs at least one decoding")
    names = list(BENCHMARKS if benchmarks is None else benchmarks)
    texts = [d.text for n in names for d in load_benchmark(root, n, "test", limit=limit)]
    reports, info = {}, {}
    predictions: dict[str, dict[str, list]] = {d: {} for d in decodings}
    for model in models:
        detector = MentionDetector.from_pretrained(model)
        predictors = tommer_predictors(detector, threshold, decodings)
        recorded = {}
        for decoding, label in zip(decodings, predictors):
            predictions[decoding][model] = []
            recorded[decoding] = _recording(predictors[label], predictions[decoding][model])
        reports[model] = evaluate_benchmarks(recorded, root, names, "test", limit)
        for decoding in decodings:
            got = len(predictions[decoding][model])
            if got != len(texts):
                raise TommerError(f"{model}: {got} predictions for {len(texts)} sentences")
        info[model] = {
            "backbone": detector.config.backbone,
            "layer": detector.config.layer,
            "num_layers": detector.backbone.num_layers,
            "bidirectional": detector.backbone.bidirectional,
            "threshold": detector.config.threshold if threshold is None else threshold,
            "training_data": detector.config.info.get("training_data"),
            "epochs": detector.config.info.get("train_config", {}).get("epochs"),
        }
        if log:
            pooled = reports[model]["pooled"][decodings[0]]
            log(f"{model}: pooled P {pooled['precision']:.3f} R {pooled['recall']:.3f}")
        del detector, predictors, recorded
    first = reports[models[0]]
    by_decoding = {}
    for decoding in decodings:
        matrix = dice_matrix(predictions[decoding], texts)
        by_decoding[decoding] = {
            "models": list(models),
            "matrix": matrix,
            "mean_pairwise": mean_off_diagonal(matrix),
            "zero_shot": {
                m: {
                    "pooled": reports[m]["pooled"][decoding],
                    "mean": reports[m]["mean"][decoding],
                    "per_benchmark": {r["name"]: r["scores"][decoding] for r in reports[m]["benchmarks"]},
                }
                for m in models
            },
        }
    result = {
        "command": command,
        "protocol": first["protocol"],
        "decoding": decodings[0],
        "sentences": len(texts),
        "benchmarks": [
            {"name": r["name"], "sentences": r["sentences"], "gold": r["gold"]} for r in first["benchmarks"]
        ],
        "models": info,
        "zero_shot": by_decoding[decodings[0]]["zero_shot"],
        "dice": {k: v for k, v in by_decoding[decodings[0]].items() if k != "zero_shot"},
        "by_decoding": by_decoding,
        "layer_dice": {},
    }
    sweeps = read_sweeps(sweeps_dir, list(dict.fromkeys(info[m]["backbone"] for m in models)))
    for backbone, sweep in sweeps.items():
        if "layer_dice" in sweep:
            result["layer_dice"][backbone] = sweep["layer_dice"]
    write_compare(result, sweeps, out_dir)
    return result


# -- report ------------------------------------------------------------------------------
def render_markdown(result: dict, sweeps: dict[str, dict]) -> str:
    models = result["dice"]["models"]
    lines = [
        "# Backbone comparison: zero-shot scores and agreement (DICE)",
        "",
        f"Written by `{result['command']}`. Protocol: {result['protocol']['deviation']}; first "
        f"{result['protocol']['limit']} such sentences of each benchmark ({result['sentences']} sentences); "
        f"untyped exact span match; decoding `{result['decoding']}`.",
        "",
        "## Zero-shot (test) per backbone",
        "",
        "| model | backbone | layer / layers | attention | threshold | pooled P | pooled R | pooled F1 "
        "| mean P | mean R | mentions / sentence | gold / sentence |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in models:
        info, z = result["models"][m], result["zero_shot"][m]
        lines.append(
            f"| {m} | `{info['backbone']}` | {info['layer']} / {info['num_layers']} | "
            f"{'bidirectional' if info['bidirectional'] else 'causal'} | {info['threshold']} | "
            f"{pct(z['pooled']['precision'])} | {pct(z['pooled']['recall'])} | {pct(z['pooled']['f1'])} | "
            f"{pct(z['mean']['precision'])} | {pct(z['mean']['recall'])} | "
            f"{z['pooled']['mentions_per_sentence']:.2f} | {z['pooled']['gold_per_sentence']:.2f} |"
        )
    lines += ["", "Probe training (from each model's config):", ""]
    for m in models:
        info = result["models"][m]
        data, epochs = info.get("training_data") or "not recorded", info.get("epochs") or "?"
        lines.append(f"- {m}: {data}, {epochs} epochs")
    lines += ["", "Recall per benchmark (%):", "", "| benchmark | " + " | ".join(models) + " |"]
    lines.append("| --- |" + " --- |" * len(models))
    for b in result["benchmarks"]:
        cells = " | ".join(pct(result["zero_shot"][m]["per_benchmark"][b["name"]]["recall"]) for m in models)
        lines.append(f"| {b['name']} | {cells} |")
    d = result["dice"]
    lines += [
        "",
        "## Agreement between backbones",
        "",
        "Pooled DICE of the predicted mention sets, `2 Σ|A∩B| / Σ(|A|+|B|)` over the same sentences.",
        "",
        "| | " + " | ".join(models) + " |",
        "| --- |" + " --- |" * len(models),
    ]
    for m, row in zip(models, d["matrix"]):
        lines.append(f"| {m} | " + " | ".join(f"{x:.3f}" for x in row) + " |")
    mean = d["mean_pairwise"]
    lines += ["", f"Mean pairwise DICE: **{mean:.3f}** (target ≥ 0.75).", "", "![DICE](dice.png)", ""]
    lines += _reading(result)
    others = {k: v for k, v in result.get("by_decoding", {}).items() if k != result["decoding"]}
    if others:
        lines += [
            "The same predictions decoded otherwise (same forward pass): mean pairwise DICE, and pooled "
            "precision / recall (%) per model:",
            "",
            "| decoding | mean pairwise DICE | " + " | ".join(models) + " |",
            "| --- | --- |" + " --- |" * len(models),
        ]
        for decoding, bd in result["by_decoding"].items():
            pooled = [bd["zero_shot"][m]["pooled"] for m in models]
            cells = " | ".join(f"{pct(p['precision'])} / {pct(p['recall'])}" for p in pooled)
            lines.append(f"| `{decoding}` | {bd['mean_pairwise']:.3f} | {cells} |")
        lines.append("")
    if result["layer_dice"]:
        lines += [
            "## Agreement between layers of one backbone",
            "",
            "From the layer sweeps (one probe per layer, same recipe), on their pooled **dev** sentences; "
            "mean DICE between adjacent swept layers and over all pairs:",
            "",
            "| backbone | layers | adjacent | all pairs |",
            "| --- | --- | --- | --- |",
        ]
        for backbone, ld in result["layer_dice"].items():
            m = ld["matrix"]
            adjacent = [m[k][k + 1] for k in range(len(m) - 1)]
            lines.append(
                f"| {backbone} | {', '.join(map(str, ld['layers']))} | "
                f"{sum(adjacent) / max(len(adjacent), 1):.3f} | {mean_off_diagonal(m):.3f} |"
            )
        lines += ["", "![DICE between layers](dice_layers.png)", ""]
    if sweeps:
        lines += [
            "## Recall against relative depth",
            "",
            "Pooled dev recall (threshold decoding, o) and F1 (flat decoding, x) of the per-layer probes "
            "against layer / number of layers; each sweep's command is in its report:",
            "",
        ]
        for backbone, sweep in sweeps.items():
            lines.append(f"- [{backbone}](../layer_sweep_{backbone}.md): `{sweep['command']}`")
        lines += ["", "![recall vs depth](recall_vs_depth.png)", ""]
    return "\n".join(lines)


def _reading(result: dict) -> list[str]:
    """A generated note on what bounds the agreement (numbers from the result itself)."""
    models, z = result["dice"]["models"], result["zero_shot"]
    per_sentence = [z[m]["pooled"]["mentions_per_sentence"] for m in models]
    gold = z[models[0]]["pooled"]["gold_per_sentence"]
    precision = [z[m]["pooled"]["precision"] for m in models]
    mean = result["dice"]["mean_pairwise"]
    out = [
        f"The mean is {'at or above' if mean >= 0.75 else 'below'} the 0.75 target. "
        f"Under `{result['decoding']}` decoding each probe predicts "
        f"{min(per_sentence):.1f}–{max(per_sentence):.1f} mentions per sentence "
        f"against {gold:.1f} gold ones (pooled precision {pct(min(precision))}–{pct(max(precision))}%): "
        "most predicted spans are not gold mentions (overlapping variants and fragments), and DICE "
        "counts the agreement on all of them.",
        "",
    ]
    return out


def write_compare(result: dict, sweeps: dict[str, dict], out_dir: str | Path) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "compare.md").write_text(render_markdown(result, sweeps))
    d = result["dice"]
    plot_heatmap(out / "dice.png", d["models"], d["matrix"], "DICE between backbones")
    if result["layer_dice"]:
        plot_layer_heatmaps(out / "dice_layers.png", result["layer_dice"])
    if sweeps:
        plot_recall_vs_depth(out / "recall_vs_depth.png", sweeps)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _heatmap(ax, labels: Sequence[str], matrix: Sequence[Sequence[float]], title: str) -> None:
    im = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    if len(labels) <= 12:
        for i, row in enumerate(matrix):
            for j, x in enumerate(row):
                ax.text(j, i, f"{x:.2f}", ha="center", va="center", fontsize=7, color="w" if x < 0.6 else "k")
    ax.set_title(title, fontsize=9)
    return im


def plot_heatmap(path: Path, labels: Sequence[str], matrix: Sequence[Sequence[float]], title: str) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    im = _heatmap(ax, labels, matrix, title)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_layer_heatmaps(path: Path, layer_dice: dict[str, dict]) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, len(layer_dice), figsize=(4.2 * len(layer_dice), 4), squeeze=False)
    for ax, (backbone, ld) in zip(axes[0], layer_dice.items()):
        im = _heatmap(ax, [str(x) for x in ld["layers"]], ld["matrix"], f"{backbone}: DICE between layers")
    fig.colorbar(im, ax=list(axes[0]))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_recall_vs_depth(path: Path, sweeps: dict[str, dict]) -> None:
    """Pooled dev recall (threshold decoding, solid) and F1 (flat decoding, dashed) by depth."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for backbone, sweep in sweeps.items():
        xs = [r["relative_depth"] for r in sweep["rows"]]
        line = ax.plot(xs, [r["threshold"]["dev"][1] for r in sweep["rows"]], marker="o", label=backbone)
        color = line[0].get_color()
        ax.plot(xs, [r["flat"]["dev"][2] for r in sweep["rows"]], ls="--", marker="x", color=color)
    ax.set_xlabel("relative depth (layer / number of layers)")
    ax.set_ylabel("pooled dev recall (threshold, o) / F1 (flat, x)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Mention detection by relative depth")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
