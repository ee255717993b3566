"""The typed report (``tommer eval --typed``): strict typed scores of type heads on the benchmarks.

A mention counts only if its span and its type are both exact (:class:`~tommer.data.metrics.TypedScores`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..data.metrics import TypedScores, pct
from ..data.readers import data_root as default_root
from ..data.readers import read_annotated
from ..errors import ConfigError, DataFormatError
from ..training.type_training import docs_gold, score_predictions
from ..typed.detector import MentionDetector

CROSSNER = ("CrossNER_AI", "CrossNER_literature", "CrossNER_music", "CrossNER_politics", "CrossNER_science")
# natural names given to the zero-shot head, the same for every benchmark, fixed before any scoring
LABEL_NAMES = {"else": "miscellaneous", "program language": "programming language"}
# gold types spelled differently from the benchmark's labels.json (CrossNER_music dev/test write
# "organisation" and "misc" where its labels.json and train split say "organization" and "else")
GOLD_ALIASES = {"organisation": "organization", "misc": "else"}
GLINER_L_ZERO_SHOT = {  # GLiNER-L, zero-shot CrossNER F1 (as quoted in issue #5)
    "CrossNER_AI": 57.2,
    "CrossNER_literature": 64.4,
    "CrossNER_music": 69.6,
    "CrossNER_politics": 72.6,
    "CrossNER_science": 62.6,
}
ZERO_SHOT = "zero-shot"
LM_SETTING = "zero-shot, LM labels"  # the zero-shot head's mentions relabelled by the whole backbone
AVERAGES = ((ZERO_SHOT, "crossner_average_f1"), (LM_SETTING, "crossner_average_f1_lm_labels"))
PAPER_TYPED = "80–87 (range in the paper's abstract, supervised span-classification heads on a 1B backbone)"


def gold_renaming(docs, label_file_names: list[str], where: str) -> dict[str, str]:
    """Gold type → the name given to a zero-shot head: ``GOLD_ALIASES`` then ``LABEL_NAMES``.

    A gold type that is neither in labels.json nor an alias of one is an error (it could never
    be predicted, and silently scoring it would hide a data problem).
    """
    rename = {}
    for label in sorted({lab for d in docs for lab in d.labels or []}):
        name = label if label in label_file_names else GOLD_ALIASES.get(label)
        if name not in label_file_names:
            raise DataFormatError(
                where, None, f"gold type {label!r} is not in labels.json {label_file_names}"
            )
        rename[label] = LABEL_NAMES.get(name, name)
    return rename


def score_benchmark(
    detector,
    docs,
    labels: list[str] | None,
    rename: dict[str, str] | None = None,
    lm_labels: bool = False,
    batch_size: int = 8,
) -> tuple[TypedScores, TypedScores | None]:
    """Strict typed scores of ``detector``'s head on typed sentences ``docs``, through the public
    call ``detector(sentences, labels=labels, context="document")``: the sentences read in the
    head's groups, as it was trained.

    ``labels``: the names given to a zero-shot head, with ``rename`` mapping gold types to
    them; None for a supervised head. With ``lm_labels``, also the scores of the same mentions
    relabelled by the whole backbone (:meth:`~tommer.typed.detector.MentionDetector.relabel`, the
    step ``lm_labels=True`` adds to the call).
    """
    texts = [d.text for d in docs]
    found = detector(texts, labels=labels, context="document", batch_size=batch_size)
    gold = docs_gold(docs, rename if labels is not None else None)
    relabelled = None
    if lm_labels:
        relabelled = score_predictions(_tuples(detector.relabel(texts, found, labels)), gold)
    return score_predictions(_tuples(found), gold), relabelled


def _tuples(found) -> list[list[tuple]]:
    return [[(m.start, m.end, m.label, m.label_score) for m in mentions] for mentions in found]


def run_typed_eval(
    model: str,
    supervised: list[tuple[str, str]],
    zero_shot: list[str],
    data_root=None,
    split: str = "test",
    limit: int | None = None,
    batch_size: int = 8,
    out_dir=None,
    command: str = "",
    lm_labels: bool = False,
    log=print,
) -> dict:
    """Supervised rows (benchmark, model directory) and zero-shot rows (benchmarks, ``model``);
    with ``lm_labels``, each zero-shot row is followed by one for the same mentions relabelled by
    the whole backbone (:class:`~tommer.typed.lm_labels.LMLabeler`, setting ``LM_SETTING``).
    Every row is what the public call named in its ``call`` field gives."""
    root = Path(data_root) if data_root else default_root()
    rows = []

    def docs_of(name: str):
        path = root / "benchmarks" / name / f"{split}.json"
        return read_annotated(path, typed=True)[:limit], path

    for name, model_dir in supervised:
        detector = MentionDetector.from_pretrained(model_dir)
        if detector.type_head is None or detector.type_head.zero_shot:
            raise ConfigError(f"{model_dir} has no supervised type head")
        docs, path = docs_of(name)
        join = detector.type_head.config.reading.join_sentences
        log(f"supervised {name}: {len(docs)} sentences" + (f", in groups of {join}" if join > 1 else ""))
        scores, _ = score_benchmark(detector, docs, None, batch_size=batch_size)
        rows.append(_row(name, "supervised", str(model_dir), docs, scores, head=head_inputs(detector)))
    if zero_shot:
        detector = MentionDetector.from_pretrained(model)
        if detector.type_head is None or not detector.type_head.zero_shot:
            raise ConfigError(f"{model} has no zero-shot type head")
        for name in zero_shot:
            docs, path = docs_of(name)
            raw = json.loads((root / "benchmarks" / name / "labels.json").read_text())
            labels = [LABEL_NAMES.get(lab, lab) for lab in raw]
            rename = gold_renaming(docs, raw, str(path))
            log(f"zero-shot {name}: {len(docs)} sentences, labels {labels}")
            scores, relabelled = score_benchmark(detector, docs, labels, rename, lm_labels, batch_size)
            head = head_inputs(detector)
            rows.append(_row(name, "zero-shot", str(model), docs, scores, labels, head))
            if relabelled is not None:
                rows.append(_row(name, LM_SETTING, str(model), docs, relabelled, labels, head))
    report = {
        "command": command,
        "split": split,
        "limit": limit,
        "label_names": LABEL_NAMES,
        "gold_aliases": GOLD_ALIASES,
        "rows": rows,
    }
    for setting, key in AVERAGES:
        zs = [r for r in rows if r["setting"] == setting and r["benchmark"] in CROSSNER]
        if len(zs) == len(CROSSNER):
            report[key] = sum(r["micro"]["f1"] for r in zs) / len(zs)
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "typed.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "typed.md").write_text(render_markdown(report))
    return report


def head_inputs(detector) -> dict:
    """What a detector's type head reads: its layer, echo input, sentences per text, its BiLSTM."""
    config = detector.type_head.config
    reading = config.reading
    return {
        "layer": reading.layer or detector.config.layer,
        "echo": reading.echo,
        "join_sentences": reading.join_sentences,
        "group_stride": reading.group_stride,
        "candidate_threshold": config.operating.candidate_threshold,
        "bilstm_dim": config.architecture.bilstm_dim,
        "extra_layers": reading.extra_layers,
        "members": config.architecture.members,
        "member_extra_layers": reading.member_extra_layers,
    }


CALLS = {
    "supervised": 'tommer.load(MODEL)(sentences, context="document")',
    ZERO_SHOT: 'tommer.load(MODEL)(sentences, labels=LABELS, context="document")',
    LM_SETTING: 'tommer.load(MODEL)(sentences, labels=LABELS, context="document", lm_labels=True)',
}


def _row(name, setting, model, docs, scores: TypedScores, labels=None, head=None) -> dict:
    return {
        "benchmark": name,
        "setting": setting,
        "model": model,
        "call": CALLS[setting],
        "sentences": len(docs),
        "head": head or {},
        "labels": labels,
        **scores.to_dict(),
    }


def ensemble_words(h: dict) -> str:
    """``"; an ensemble of 10 heads (...)"`` for an ensemble's :func:`head_inputs`, else ``""``."""
    if h.get("members", 1) <= 1:
        return ""
    if not h.get("member_extra_layers"):
        return f"; an ensemble of {h['members']} heads (seeds differ)"
    counts = Counter(" + ".join(map(str, [h["layer"], *m])) for m in h["member_extra_layers"])
    reads = ", ".join(f"{n} read layer{'s' if '+' in r else ''} {r}" for r, n in counts.items())
    return f"; an ensemble of {h['members']} heads ({reads}; seeds differ)"


def head_lines(rows: list[dict]) -> list[str]:
    """One bullet per head (a model has one): the layers it reads, echo input, its BiLSTM, sentence groups."""
    heads: dict[tuple[str, str], tuple[dict, list[str]]] = {}
    for r in rows:
        if r.get("head") and r["setting"] != LM_SETTING:  # LM rows relabel the zero-shot head's mentions
            heads.setdefault((r["setting"], r["model"]), (r["head"], []))[1].append(r["benchmark"])
    lines = []
    for (setting, model), (h, names) in heads.items():
        lines.append(
            f"- {setting} head (`{model}`; {', '.join(names)}): reads layer {h['layer']}"
            + "".join(f" + {m}" for m in h.get("extra_layers", []))
            + (" (concatenated, each RMS-normalised)" if h.get("extra_layers") else "")
            + (", echo input" if h.get("echo") else ", plain input")
            + (f", a trainable BiLSTM of width {h['bilstm_dim']} over it" if h.get("bilstm_dim") else "")
            + ensemble_words(h)
            + (
                f"; sentences are read in groups of {h['join_sentences']} consecutive ones joined "
                "by a newline (document context: the file keeps document order), as in the head's "
                "training; every sentence is still scored"
                if h.get("join_sentences", 1) > 1
                else ""
            )
            + (
                f"; and again in groups shifted by each multiple of {h['group_stride']} sentences, so every "
                f"sentence is read in {h['join_sentences'] // h['group_stride']} groups and the class "
                "probabilities of each of its spans are averaged over them"
                if h.get("group_stride")
                else ""
            )
            + (
                f"; candidates: probe probability >= {h['candidate_threshold']}"
                if "candidate_threshold" in h
                else ""
            )
            + "."
        )
    return lines


def row_names(rows: list[dict]) -> list[str]:
    """Each row's benchmark, with its model when a benchmark has several rows of one setting."""
    seen: Counter = Counter((r["benchmark"], r["setting"]) for r in rows)
    return [
        f"{r['benchmark']} (`{r['model']}`)" if seen[r["benchmark"], r["setting"]] > 1 else r["benchmark"]
        for r in rows
    ]


def render_markdown(report: dict) -> str:
    """The typed report as Markdown: micro rows with published numbers, then per-type tables."""
    lines = [
        "# tommer typed NER (strict: span and type exact)",
        "",
        "Regenerate with:",
        "",
        "```",
        report["command"],
        "```",
        "",
        f"- Split: **{report['split']}**, all sentences"
        + (f" (first {report['limit']})" if report["limit"] else "")
        + "; strict matching of whitespace-trimmed character spans and types; micro-averaged.",
        "- Supervised rows: a head trained on the benchmark's train split (`tommer train-types`).",
        "- Zero-shot rows: the shipped default's zero-shot head (trained on the Pile-NER part only, never "
        "on CrossNER), given the benchmark's `labels.json` names with this fixed renaming: "
        + ", ".join(f"`{k}` → `{v}`" for k, v in report["label_names"].items())
        + "; gold types spelled differently from `labels.json` are read as: "
        + ", ".join(f"`{k}` → `{v}`" for k, v in report.get("gold_aliases", {}).items())
        + " (CrossNER_music's dev/test files).",
        "- Every row is what the public call gives: `sentences` are the benchmark file's sentences in "
        "file order (one list: the file keeps document order), `MODEL` the row's model, `LABELS` its "
        "label names. Calls: "
        + "; ".join(f"{setting}: `{call}`" for setting, call in CALLS.items())
        + ".",
        *head_lines(report["rows"]),
        *(
            [
                f"- {LM_SETTING} rows: the zero-shot head's typed mentions, each relabelled by the whole "
                "backbone (every layer and its LM head; `tommer.typed.lm_labels`): the label whose name is "
                "likeliest after `<sentence>\\nIn the text above, <mention> is a`, against the same after "
                "`In the text above, N/A is a`. Same spans as the zero-shot row."
            ]
            if any(r["setting"] == LM_SETTING for r in report["rows"])
            else []
        ),
        f"- Paper: {PAPER_TYPED}. GLiNER-L: zero-shot CrossNER F1 as quoted in issue #5.",
        "",
        "| benchmark | setting | sentences | P | R | F1 | GLiNER-L F1 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    names = row_names(report["rows"])
    for name, r in zip(names, report["rows"]):
        m = r["micro"]
        gl = GLINER_L_ZERO_SHOT.get(r["benchmark"]) if r["setting"] != "supervised" else None
        lines.append(
            f"| {name} | {r['setting']} | {r['sentences']} | {pct(m['precision'])} | "
            f"{pct(m['recall'])} | **{pct(m['f1'])}** | {gl if gl is not None else ''} |"
        )
    gl_avg = sum(GLINER_L_ZERO_SHOT.values()) / len(GLINER_L_ZERO_SHOT)
    for setting, key in AVERAGES:
        if key in report:
            lines.append(
                f"| **CrossNER average** | {setting} | | | | **{pct(report[key])}** | {gl_avg:.1f} |"
            )
    lines += ["", "## Targets (issue #5)", ""]
    if report["split"] != "test" or report["limit"]:
        lines.append(
            f"- The targets are test-split scores; this report scores {report['split']}"
            + (f" (first {report['limit']} sentences)" if report["limit"] else "")
            + ", so it is not compared with them."
        )
    else:
        for r in report["rows"]:
            if r["benchmark"] == "CoNLL 2003" and r["setting"] == "supervised":
                f1 = 100 * r["micro"]["f1"]
                verdict = "met" if f1 >= 90 else f"missed by {90 - f1:.1f} points"
                lines.append(f"- Supervised CoNLL 2003 test F1 >= 90: {f1:.1f}, {verdict}.")
        for setting, key in AVERAGES:
            if key in report:
                f1 = 100 * report[key]
                verdict = "met" if f1 >= 65 else f"missed by {65 - f1:.1f} points"
                lines.append(
                    f"- Zero-shot CrossNER five-domain average F1 >= 65 ({setting}): {f1:.1f}, {verdict}."
                )
    for name, r in zip(names, report["rows"]):
        lines += ["", f"## {name} ({r['setting']}) per type", ""]
        lines += ["| type | P | R | F1 | TP | predicted | gold |", "|---|---:|---:|---:|---:|---:|---:|"]
        for label, s in r["per_type"].items():
            lines.append(
                f"| {label} | {pct(s['precision'])} | {pct(s['recall'])} | {pct(s['f1'])} | "
                f"{s['tp']} | {s['predicted']} | {s['gold']} |"
            )
    return "\n".join(lines) + "\n"
