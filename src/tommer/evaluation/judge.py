"""LLM-as-judge precision: ask a chat model whether each predicted span is an entity mention.

The paper's protocol, for precision where gold annotations are silent: the judge sees about
30 characters of context on each side of a predicted mention, the span marked ``[[…]]``, writes
a one-sentence justification and answers yes or no (greedy / temperature 0); precision is
yes / judged. Replies without a yes/no are counted as *unparseable*, never dropped silently.

Judgments are cached on disk (JSONL, keyed by backend + model + prompt), so re-runs are free.
A reliability check asks the same judge about gold mentions (it should say yes) and about
clearly wrong spans — single function words and spans crossing a gold boundary (it should say
no). Backends live in :mod:`tommer.evaluation.judge_backends`.

>>> from tommer.evaluation.judge import run_judge
>>> report = run_judge(backend="local", benchmark="CoNLL 2003", split="dev", out_dir="results/judge")
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..core.backbone import cache_root
from ..core.decoding import check_options
from ..core.layout import DEFAULT_MODEL, probe_weights, resolve_model_dir
from ..data.mention import AnnotatedText, trim_span
from ..data.metrics import pct
from ..errors import ConfigError, DataFormatError
from ..typed.detector import MentionDetector
from .evaluation import load_benchmark, tommer_predictor
from .judge_backends import ChatBackend, Messages, make_backend

CONTEXT_CHARS = 30

SYSTEM_PROMPT = (
    "You check entity annotations. In a text excerpt, one span is marked with [[ ]]. Decide whether "
    "the marked span is exactly one complete entity mention: the name of a person, organisation, place, "
    "product, event, work or other specific thing (or a specific term such as a disease or a protein), "
    "with nothing missing and nothing extra. Reply with a one-sentence justification, then yes or no."
)
QUESTION = (
    'Excerpt: "{context}"\nMarked span: "{span}"\n'
    "Is the marked span one complete entity mention? Reply as:\n"
    "Justification: <one sentence>\nAnswer: <yes or no>"
)
FEW_SHOT: tuple[tuple[str, str, str], ...] = (
    (
        "...the company said. [[Microsoft]] shares rose 3 percent on Monday in...",
        "Microsoft",
        "Justification: Microsoft is the name of a company.\nAnswer: yes",
    ),
    (
        "...the company said. Microsoft shares [[rose]] 3 percent on Monday in...",
        "rose",
        "Justification: rose is a verb here, not the name of anything.\nAnswer: no",
    ),
    (
        "...on holiday, they visited the [[Eiffel]] Tower in Paris last summer...",
        "Eiffel",
        "Justification: Eiffel is only part of the name Eiffel Tower.\nAnswer: no",
    ),
    (
        "...talks in Berlin, where [[Angela Merkel]] met the French president on...",
        "Angela Merkel",
        "Justification: Angela Merkel is the full name of a person.\nAnswer: yes",
    ),
)
"""Worked examples given to the judge as earlier chat turns (invented sentences, not benchmark data)."""

_FUNCTION_WORDS = "the of and in to a an on for with at by from that is was are were it its as or but this be"
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split(" "))
KINDS = ("prediction", "gold", "function-word", "crossing")


# -- prompting and parsing ----------------------------------------------------------------
def mark_span(text: str, start: int, end: int, width: int = CONTEXT_CHARS) -> str:
    """About ``width`` characters each side of ``text[start:end]``, the span marked ``[[…]]``.

    A cut falling inside a word moves to the word's edge (so the context may be a little
    shorter); ``...`` marks a cut.
    """
    if not 0 <= start < end <= len(text):
        raise ConfigError(f"span [{start}, {end}) is outside the text (length {len(text)})")
    left, right = max(0, start - width), min(len(text), end + width)
    if left > 0 and not text[left - 1].isspace():
        gap = re.search(r"\s", text[left:start])
        if gap:
            left += gap.end()
    if right < len(text) and not text[right].isspace():
        gaps = list(re.finditer(r"\s", text[end:right]))
        if gaps:
            right = end + gaps[-1].start()
    before, after = text[left:start].lstrip(), text[end:right].rstrip()
    return (
        ("..." if left > 0 else "")
        + f"{before}[[{text[start:end]}]]{after}"
        + ("..." if right < len(text) else "")
    )


def build_messages(context: str, span: str) -> Messages:
    """System prompt, the worked examples as earlier turns, then the question about ``context``."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for shot_context, shot_span, answer in FEW_SHOT:
        messages.append({"role": "user", "content": QUESTION.format(context=shot_context, span=shot_span)})
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": QUESTION.format(context=context, span=span)})
    return messages


_ANSWER = re.compile(r"answer\W{0,4}(yes|no)\b", re.IGNORECASE)
_JUSTIFICATION = re.compile(
    r"justification\s*:\s*(.*?)(?=[\s*_#]*\banswer\b\W{0,4}(?:yes|no)\b|\Z)", re.IGNORECASE | re.DOTALL
)


def parse_verdict(reply: str) -> tuple[str | None, str]:
    """(``"yes"`` / ``"no"`` / ``None``, justification) from a judge's reply.

    The last ``Answer: yes|no`` wins; without one, a reply that starts or ends with a bare yes
    or no counts; anything else is unparseable (``None``).
    """
    answers = _ANSWER.findall(reply)
    verdict = answers[-1].lower() if answers else None
    if verdict is None:
        words = re.findall(r"[a-z]+", reply.lower())
        if words and words[-1] in ("yes", "no"):
            verdict = words[-1]
        elif words and words[0] in ("yes", "no"):
            verdict = words[0]
    found = _JUSTIFICATION.search(reply)
    justification = found.group(1) if found else _ANSWER.sub("", reply)
    return verdict, " ".join(justification.split())


# -- cache --------------------------------------------------------------------------------
def prompt_key(backend_key: str, messages: Messages) -> str:
    """SHA-256 of backend + model + the exact messages."""
    data = json.dumps({"backend": backend_key, "messages": messages}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


class JudgeCache:
    """Replies on disk, one JSON object a line: ``{"key", "backend", "reply", "seconds"}``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.entries: dict[str, dict] = {}
        if self.path.is_file():
            with self.path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        entry = json.loads(line)
                        self.entries[entry["key"]] = entry
                    except (ValueError, KeyError, TypeError):
                        raise DataFormatError(
                            self.path, number, "not a judge cache record (delete the file to start afresh)"
                        ) from None

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, backend_key: str, reply: str, seconds: float) -> None:
        entry = {"key": key, "backend": backend_key, "reply": reply, "seconds": round(seconds, 3)}
        self.entries[key] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")


def default_cache_path() -> Path:
    """``<tommer cache>/judge/judgments.jsonl`` (``$TOMMER_CACHE``, else ``~/.cache/tommer``)."""
    return cache_root() / "judge" / "judgments.jsonl"


# -- judging ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """A span to judge: a prediction, or a reliability control (gold / function-word / crossing)."""

    kind: str
    text: str
    start: int
    end: int
    gold: bool  # equals a gold span (whitespace-trimmed)

    @property
    def span(self) -> str:
        return self.text[self.start : self.end]


@dataclass
class Judgment:
    item: Item
    context: str
    verdict: str | None
    justification: str
    reply: str
    cached: bool
    seconds: float  # time of the model call (when first made, for cached replies)

    def to_dict(self) -> dict:
        out = asdict(self)
        item = out.pop("item")
        del item["text"]
        return {**item, "span": self.item.span, **out}


class Judge:
    """A backend plus an optional cache; counts the model calls it really makes."""

    def __init__(self, backend: ChatBackend, cache: JudgeCache | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.model_calls = 0
        self.cache_hits = 0

    def judge_one(self, item: Item) -> Judgment:
        context = mark_span(item.text, item.start, item.end)
        messages = build_messages(context, item.span)
        key = prompt_key(self.backend.key, messages)
        entry = self.cache.get(key) if self.cache is not None else None
        if entry is not None:
            self.cache_hits += 1
            reply, seconds, cached = entry["reply"], float(entry.get("seconds", 0.0)), True
        else:
            t0 = time.perf_counter()
            reply = self.backend.complete(messages)
            seconds, cached = time.perf_counter() - t0, False
            self.model_calls += 1
            if self.cache is not None:
                self.cache.put(key, self.backend.key, reply, seconds)
        verdict, justification = parse_verdict(reply)
        return Judgment(item, context, verdict, justification, reply, cached, seconds)

    def __call__(self, items: Sequence[Item], progress: bool = False) -> list[Judgment]:
        return [self.judge_one(it) for it in tqdm(items, desc="judge", unit="span", disable=not progress)]


# -- sampling -----------------------------------------------------------------------------
def _gold_set(doc: AnnotatedText) -> set[tuple[int, int]]:
    return {trim_span(doc.text, s, e) for s, e in doc.spans}


def sample_predictions(
    predicted: Sequence[Sequence[tuple[int, int]]], docs: Sequence[AnnotatedText], n: int, rng: random.Random
) -> tuple[list[Item], int]:
    """``n`` predicted spans drawn uniformly (without replacement) from all predictions on ``docs``.

    Returns the sample and the number of distinct (whitespace-trimmed) predicted spans.
    """
    pool = []
    for doc, spans in zip(docs, predicted, strict=True):
        gold = _gold_set(doc)
        for s, e in sorted({trim_span(doc.text, s, e) for s, e in spans}):
            if e > s:
                pool.append(Item("prediction", doc.text, s, e, (s, e) in gold))
    return rng.sample(pool, min(n, len(pool))), len(pool)


def control_items(docs: Sequence[AnnotatedText], n: int, rng: random.Random) -> list[Item]:
    """Reliability controls: ``n`` gold mentions and ``n`` clearly wrong spans.

    Wrong spans are half single function words outside every gold mention ("the", "of", ...)
    and half spans crossing a gold boundary (a gold mention's last word plus the next word, when
    that word starts with a letter or digit).
    """
    gold_pool, word_pool, cross_pool = [], [], []
    for doc in docs:
        text, gold = doc.text, _gold_set(doc)
        gold_pool += [Item("gold", text, s, e, True) for s, e in sorted(gold) if e > s]
        words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        for s, e in words:
            inside = any(s < ge and gs < e for gs, ge in gold)
            if text[s:e].lower() in FUNCTION_WORDS and not inside:
                word_pool.append(Item("function-word", text, s, e, False))
        for gs, ge in sorted(gold):
            last = [w for w in words if w[0] < ge <= w[1]]
            after = [w for w in words if w[0] >= ge][:1]
            if last and after and last[0][0] >= gs and re.match(r"\w", text[after[0][0]]):
                span = (last[0][0], after[0][1])
                if span not in gold:
                    cross_pool.append(Item("crossing", text, *span, False))
    n_cross = n // 2
    wrong = rng.sample(word_pool, min(n - n_cross, len(word_pool)))
    wrong += rng.sample(cross_pool, min(n_cross, len(cross_pool)))
    return rng.sample(gold_pool, min(n, len(gold_pool))) + wrong


# -- statistics and report ----------------------------------------------------------------
def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """Wilson score interval of a binomial proportion k / n (95% by default); None when n = 0."""
    if n == 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def tally(judgments: Sequence[Judgment]) -> dict:
    """Counts of yes / no / unparseable, and yes / judged with its 95% interval (judged = yes + no)."""
    yes = sum(j.verdict == "yes" for j in judgments)
    no = sum(j.verdict == "no" for j in judgments)
    judged = yes + no
    return {
        "sampled": len(judgments),
        "judged": judged,
        "yes": yes,
        "no": no,
        "unparseable": len(judgments) - judged,
        "yes_rate": yes / judged if judged else None,
        "ci95": wilson_interval(yes, judged),
    }


def agreement(judgments: Sequence[Judgment]) -> dict:
    """Judge verdict × gold match on parsed judgments: the 2×2 counts, raw agreement, Cohen's kappa."""
    parsed = [j for j in judgments if j.verdict is not None]
    cells = {
        f"judge_{v}_gold_{g}": sum(j.verdict == v and j.item.gold == (g == "yes") for j in parsed)
        for v in ("yes", "no")
        for g in ("yes", "no")
    }
    n = len(parsed)
    if n == 0:
        return {**cells, "n": 0, "agreement": None, "kappa": None}
    agree = (cells["judge_yes_gold_yes"] + cells["judge_no_gold_no"]) / n
    p_yes = (cells["judge_yes_gold_yes"] + cells["judge_yes_gold_no"]) / n
    g_yes = (cells["judge_yes_gold_yes"] + cells["judge_no_gold_yes"]) / n
    chance = p_yes * g_yes + (1 - p_yes) * (1 - g_yes)
    kappa = (agree - chance) / (1 - chance) if chance < 1 else None
    return {**cells, "n": n, "agreement": agree, "kappa": kappa}


def build_report(judgments: Sequence[Judgment], meta: dict, examples: int = 12) -> dict:
    """The report dict: precision on predictions, gold precision, agreement, reliability, examples."""
    by_kind = {kind: [j for j in judgments if j.item.kind == kind] for kind in KINDS}
    preds = by_kind["prediction"]
    gold_hits = sum(j.item.gold for j in preds)
    precision = tally(preds)
    precision["precision"] = precision.pop("yes_rate")
    wrong = by_kind["function-word"] + by_kind["crossing"]
    shown = preds[:examples] + [j for kind in KINDS[1:] for j in by_kind[kind][:2]]
    return {
        **meta,
        "prompt": {
            "system": SYSTEM_PROMPT,
            "question": QUESTION,
            "few_shot": len(FEW_SHOT),
            "context_chars": CONTEXT_CHARS,
        },
        "precision": precision,
        "gold_precision": {
            "matches": gold_hits,
            "sampled": len(preds),
            "precision": gold_hits / len(preds) if preds else None,
            "ci95": wilson_interval(gold_hits, len(preds)),
        },
        "agreement_with_gold": agreement(preds),
        "reliability": {
            "gold": tally(by_kind["gold"]),
            "function-word": tally(by_kind["function-word"]),
            "crossing": tally(by_kind["crossing"]),
            "wrong (both)": tally(wrong),
        },
        "timing": {
            "judgments": len(judgments),
            "model_calls_this_run": sum(not j.cached for j in judgments),
            "cached_this_run": sum(j.cached for j in judgments),
            "model_seconds_total": round(sum(j.seconds for j in judgments), 1),
            "seconds_per_judgment": round(sum(j.seconds for j in judgments) / len(judgments), 2)
            if judgments
            else None,
            **meta.get("timing", {}),
        },
        "examples": [j.to_dict() for j in shown],
        "judgments": [j.to_dict() for j in judgments],
    }


def _ci(ci: Sequence[float] | None) -> str:
    return "–" if ci is None else f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}"


def render_markdown(report: dict) -> str:
    """The markdown report (every number comes from ``report``)."""
    p, gp, ag = report["precision"], report["gold_precision"], report["agreement_with_gold"]
    t = report["timing"]
    kappa = "–" if ag["kappa"] is None else f"{ag['kappa']:.2f}"
    lines = [
        f"# LLM-as-judge precision: {report['benchmark']} ({report['split']})",
        "",
        "Written by:",
        "",
        "```",
        report.get("command") or "(run from Python)",
        "```",
        "",
        f"Detector `{report['detector']}` (weights sha256 `{report.get('detector_sha256', '–')}`…, "
        f"threshold {report['threshold']}, decoding "
        f"`{report['decoding']}`) on {report['sentences']} sentences drawn with seed {report['seed']} from "
        f"the {report['split']} split (sentences with at least one entity); {p['sampled']} of its "
        f"{report['predictions_total']} predicted mentions sampled uniformly. Judge: `{report['judge']}`, "
        "greedy / temperature 0; it sees about "
        f"{CONTEXT_CHARS} characters each side with the span marked `[[…]]`, writes a one-sentence "
        "justification, then answers yes or no.",
        "",
        "## Precision",
        "",
        "| measure | value (%) | 95% CI (Wilson) | counts |",
        "|---|---|---|---|",
        f"| judge precision = yes / judged | {pct(p['precision'])} | {_ci(p['ci95'])} | "
        f"{p['yes']} yes / {p['judged']} judged ({p['no']} no, {p['unparseable']} unparseable) |",
        f"| gold precision (same sample, exact span match) | {pct(gp['precision'])} | {_ci(gp['ci95'])} | "
        f"{gp['matches']} / {gp['sampled']} |",
        "",
        "Gold precision counts only the benchmark's annotated types, so it is a lower bound on how many "
        "predictions are real mentions; the judge's precision is only as good as the judge (see below).",
        "",
        f"Judge × gold on the sampled predictions ({ag['n']} parsed): judge yes & gold "
        f"{ag['judge_yes_gold_yes']}, judge yes & not gold {ag['judge_yes_gold_no']}, judge no & gold "
        f"{ag['judge_no_gold_yes']}, judge no & not gold {ag['judge_no_gold_no']}; agreement "
        f"{pct(ag['agreement'])}%, Cohen's kappa {kappa}.",
        "",
        "## Reliability of the judge",
        "",
        "The same judge on spans whose answer is known: gold mentions (should be yes) and clearly wrong "
        "spans (should be no): single function words outside every gold mention, and spans crossing a "
        "gold boundary (a gold mention's last word plus the next word).",
        "",
        "| spans | n | yes | no | unparseable | yes-rate (%) | 95% CI |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in report["reliability"].items():
        lines.append(
            f"| {name} | {r['sampled']} | {r['yes']} | {r['no']} | {r['unparseable']} | "
            f"{pct(r['yes_rate'])} | {_ci(r['ci95'])} |"
        )
    lines += [
        "",
        _verdict_line(report),
        "",
        "## Cost",
        "",
        f"{t['judgments']} judgments, {t['model_calls_this_run']} model calls in this run "
        f"({t['cached_this_run']} answered from the cache). Model time {t['model_seconds_total']} s in all, "
        f"{t['seconds_per_judgment']} s per judgment (measured when each call was made); "
        f"this run took {t.get('run_wall_seconds', '–')} s wall, {t.get('run_cpu_seconds', '–')} s CPU "
        f"(torch threads: {t.get('torch_threads', '–')}). Times are wall-clock and depend on the "
        "machine's load.",
        "",
        "## Examples",
        "",
        "| kind | gold | context | verdict | justification |",
        "|---|---|---|---|---|",
    ]
    for ex in report["examples"]:
        context = ex["context"].replace("|", "\\|")
        just = ex["justification"].replace("|", "\\|")
        lines.append(
            f"| {ex['kind']} | {'yes' if ex['gold'] else 'no'} | {context} | "
            f"{ex['verdict'] or 'unparseable'} | {just} |"
        )
    lines += ["", "Every judgment (context, reply, verdict) is in `judge.json`.", ""]
    return "\n".join(lines)


def _verdict_line(report: dict) -> str:
    """One sentence on whether the reliability check passed, from the numbers."""
    rel = report["reliability"]
    gold, wrong = rel["gold"]["yes_rate"], rel["wrong (both)"]["yes_rate"]
    if gold is None or wrong is None:
        return "Not enough control spans to judge the judge."
    gap = gold - wrong
    grades = ((0.5, "separates them well"), (0.2, "separates them weakly"), (0.05, "barely separates them"))
    quality = next((words for bound, words in grades if gap >= bound), "does not separate them")
    return (
        f"The judge says yes to {pct(gold)}% of gold mentions and {pct(wrong)}% of wrong spans: it "
        f"{quality} "
        f"(gap {100 * gap:.1f} points), so its precision above should be read with that in mind."
    )


def write_report(report: dict, out_dir: str | Path) -> tuple[Path, Path]:
    """``judge.json`` and ``judge.md`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "judge.json", out / "judge.md"
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return json_path, md_path


def run_judge(
    backend: str = "local",
    judge_model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    model: str | None = None,
    benchmark: str = "CoNLL 2003",
    split: str = "dev",
    data_root: str | Path | None = None,
    sample: int = 100,
    controls: int = 25,
    sentences: int = 200,
    seed: int = 0,
    threshold: float | None = None,
    decoding: str = "threshold",
    batch_size: int = 8,
    cache: str | Path | None = None,
    max_new_tokens: int = 60,
    timeout: float = 60.0,
    examples: int = 12,
    out_dir: str | Path | None = None,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
) -> dict:
    """Sample predicted mentions of a benchmark split, judge them and the controls, report.

    ``cache``: the JSONL cache file (default :func:`default_cache_path`; ``"none"`` disables it).
    The control spans depend only on the data and the seed, not on the detector.
    """
    if sample < 1 or controls < 0 or sentences < 1:
        raise ConfigError(
            f"need sample >= 1, controls >= 0, sentences >= 1 (got {sample}, {controls}, {sentences})"
        )
    log = log or (lambda message: None)
    t0, c0 = time.perf_counter(), time.process_time()
    judge_backend = make_backend(backend, judge_model, base_url, api_key, timeout, max_new_tokens)
    cache = default_cache_path() if cache is None else cache
    store = None if str(cache).lower() == "none" else JudgeCache(cache)
    rng = random.Random(seed)
    docs = load_benchmark(data_root, benchmark, split)
    docs = rng.sample(docs, min(sentences, len(docs)))
    detector = MentionDetector.from_pretrained(model or DEFAULT_MODEL)
    threshold = detector.config.threshold if threshold is None else threshold
    check_options(threshold, decoding, batch_size)
    log(f"detecting mentions in {len(docs)} {benchmark} {split} sentences")
    predicted = tommer_predictor(detector, threshold, decoding, batch_size)([d.text for d in docs])
    detect_s = time.perf_counter() - t0
    items, total = sample_predictions(predicted, docs, sample, rng)
    items += control_items(docs, controls, random.Random(f"controls-{seed}"))  # the same for every detector
    log(f"judging {len(items)} spans with {judge_backend.key}" + (f" (cache {store.path})" if store else ""))
    judge = Judge(judge_backend, store)
    judgments = judge(items, progress=progress)
    meta = {
        "command": command,
        "benchmark": benchmark,
        "split": split,
        "detector": str(model or DEFAULT_MODEL),
        "detector_sha256": hashlib.sha256(
            probe_weights(resolve_model_dir(model or DEFAULT_MODEL)).read_bytes()
        ).hexdigest()[:16],
        "threshold": threshold,
        "decoding": decoding,
        "judge": judge_backend.key,
        "seed": seed,
        "sentences": len(docs),
        "predictions_total": total,
        "timing": {
            "detect_wall_seconds": round(detect_s, 1),
            "run_wall_seconds": round(time.perf_counter() - t0, 1),
            "run_cpu_seconds": round(time.process_time() - c0, 1),
            "torch_threads": torch.get_num_threads(),
        },
    }
    report = build_report(judgments, meta, examples)
    if out_dir is not None:
        for path in write_report(report, out_dir):
            log(f"wrote {path}")
    return report
