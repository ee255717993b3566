"""Fuzz the detector: generated texts through the public call, checking its invariants.

Texts are drawn (seeded) from arbitrary code points (lone surrogates, controls, unassigned ones),
pieces of real and hard text (combining marks, RTL, ZWJ emoji, CJK, BOM / NUL / bidi controls),
``--long-words`` words of 10,000 characters without spaces, and ``--long`` documents of 1,000,000
characters. For every text: ``text[m.start:m.end] == m.text``, offsets inside the text and sorted
(by start, a longer span first), flat mentions non-overlapping, and no exception other than
``TommerError``. On a sample: determinism, and the same mentions alone and in a batch, on the
default engine (``tommer.load()``) and on each of ``--agreement-engines``. Writes ``<out>.md`` and
``<out>.json``.

    python scripts/fuzz.py                    # 100,000 texts -> results/fuzz.md
    python scripts/fuzz.py --texts 2000 --long 0 --long-words 5 --out build/fuzz
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_common import cpu_flags  # noqa: E402

import tommer  # noqa: E402
from tommer.errors import TommerError  # noqa: E402

PIECES = [
    "Angela Merkel met Emmanuel Macron in Paris. ",
    "The U.S. Food and Drug Administration approved it on 3 May 2021. ",
    "e\u0301cole ",
    "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 ",
    "\U0001f469\u200d\U0001f4bb ",
    "\u6771\u4eac\u3067\u4f1a\u3063\u305f\u3002",
    "\ud83d\ude00 ",
    "\ufeff\x00\x07\u202e",
    "\n\n",
    "\t",
]


RESULTS = Path(__file__).resolve().parent.parent / "results"  # written here from any cwd


def random_char(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return chr(rng.randrange(0x20, 0x7F))
    if r < 0.8:
        return chr(rng.randrange(0xA0, 0x3000))
    return chr(rng.randrange(0, 0x110000))  # anything: surrogates, controls, unassigned


def random_text(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return "".join(random_char(rng) for _ in range(rng.randrange(0, 80)))
    parts = []
    for _ in range(rng.randrange(1, 10)):
        if rng.random() < 0.6:
            parts.append(rng.choice(PIECES))
        else:
            parts.append("".join(random_char(rng) for _ in range(rng.randrange(1, 10))))
    return "".join(parts)


def long_word(rng: random.Random) -> str:
    """A 10,000-character word without spaces: one repeated character, or random letters."""
    if rng.random() < 0.5:
        return rng.choice("ab\u6771") * 10_000
    return "".join(chr(rng.randrange(0x61, 0x7B)) for _ in range(10_000))


def violations(text: str, mentions) -> list[str]:
    out = []
    if not all(0 <= m.start < m.end <= len(text) for m in mentions):
        out.append("offsets outside the text")
    if not all(text[m.start : m.end] == m.text for m in mentions):
        out.append("text[start:end] != mention.text")
    order = [(m.start, -m.end) for m in mentions]
    if order != sorted(order):
        out.append("not sorted")
    if any(a.end > b.start for a, b in zip(mentions, mentions[1:])):
        out.append("flat mentions overlap")
    return out


def agreement(detector, texts: list[str]) -> dict:
    """Alone against in a batch of 8: texts whose spans differ, and the largest score change."""
    batched = detector(texts, batch_size=8)
    differ, delta = 0, 0.0
    for t, b in zip(texts, batched):
        a = detector(t)
        if [(m.start, m.end) for m in a] != [(m.start, m.end) for m in b]:
            differ += 1
        else:
            delta = max([delta] + [abs(x.score - y.score) for x, y in zip(a, b)])
    return {"texts": len(texts), "spans_differ": differ, "max_score_change": delta}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--texts", type=int, default=100_000)
    ap.add_argument("--long", type=int, default=2, help="1,000,000-character documents")
    ap.add_argument("--long-words", type=int, default=100, help="10,000-character words without spaces")
    ap.add_argument(
        "--agreement-engines", default="onnx,torch-bf16", help="engines also checked alone vs in a batch"
    )
    ap.add_argument("--sample", type=int, default=400, help="texts for the determinism / batch checks")
    ap.add_argument("--batch-size", type=int, default=64, help="texts per detector call")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "fuzz"))
    args = ap.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    rng = random.Random(args.seed)
    detector = tommer.load()
    texts = [random_text(rng) for _ in range(args.texts)]
    for k in range(min(args.long_words, len(texts))):  # spread through the texts
        texts[k * len(texts) // max(args.long_words, 1)] = long_word(rng)
    long_docs = [" ".join(rng.choice(PIECES) for _ in range(40_000))[:1_000_000] for _ in range(args.long)]
    figures = ("texts", "characters", "mentions", "violations", "tommer_errors", "other_errors")
    counts = dict.fromkeys(figures, 0)
    examples: list[dict] = []
    started = time.perf_counter()

    def run(batch: list[str]) -> None:
        try:
            found = detector(batch, batch_size=16)
        except TommerError as err:
            counts["tommer_errors"] += len(batch)
            examples.append({"error": f"TommerError: {err}", "texts": [t[:80] for t in batch[:2]]})
            return
        except Exception as err:  # noqa: BLE001  (what this script counts)
            counts["other_errors"] += len(batch)
            examples.append({"error": f"{type(err).__name__}: {err}", "texts": [t[:80] for t in batch[:2]]})
            return
        for t, mentions in zip(batch, found):
            counts["texts"] += 1
            counts["characters"] += len(t)
            counts["mentions"] += len(mentions)
            bad = violations(t, mentions)
            if bad:
                counts["violations"] += 1
                if len(examples) < 20:
                    examples.append({"violations": bad, "text": t[:200]})

    for k in range(0, len(texts), args.batch_size):
        run(texts[k : k + args.batch_size])
    for doc in long_docs:
        run([doc])
    seconds = time.perf_counter() - started
    sample = texts[: args.sample]
    deterministic = sum(detector(t) == detector(t) for t in sample[:100])
    engine = detector.engine.name
    agreements = {engine: agreement(detector, sample)}
    for name in filter(None, args.agreement_engines.split(",")):
        if name != engine:
            agreements[name] = agreement(tommer.load(engine=name), sample)
    report = {
        "command": " ".join(["python scripts/fuzz.py", *map(shlex.quote, given)]),
        "seed": args.seed,
        "cpu_flags": cpu_flags(),
        "engine": engine,
        "long_documents": len(long_docs),
        "long_words": min(args.long_words, len(texts)),
        **counts,
        "seconds": round(seconds, 1),
        "deterministic": f"{deterministic}/{min(100, len(sample))}",
        "alone_vs_batch": agreements,
        "examples": examples,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=True) + "\n")
    out.with_suffix(".md").write_text(render(report))
    print(json.dumps({k: v for k, v in report.items() if k != "examples"}))
    return 0


def render(r: dict) -> str:
    lines = [
        "# Fuzzed inputs",
        "",
        f"Regenerate with `{r['command']}` (seed {r['seed']}; CPU flags: {r['cpu_flags']}; "
        f"engine: the default, `{r['engine']}`).",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| texts (incl. {r['long_words']} words of 10,000 characters and {r['long_documents']} documents "
        f"of 1,000,000 characters) | {r['texts']:,} |",
        f"| characters | {r['characters']:,} |",
        f"| mentions | {r['mentions']:,} |",
        f"| texts with an invariant violated | {r['violations']} |",
        f"| texts in a call that raised TommerError | {r['tommer_errors']} |",
        f"| texts in a call that raised another exception | {r['other_errors']} |",
        f"| deterministic (the same call twice) | {r['deterministic']} |",
    ]
    for engine, a in r["alone_vs_batch"].items():
        lines += [
            f"| alone vs in a batch, `{engine}`: texts whose spans differ | "
            f"{a['spans_differ']}/{a['texts']} |",
            f"| alone vs in a batch, `{engine}`: largest score change | {a['max_score_change']:.6f} |",
        ]
    lines += [
        f"| seconds (main pass) | {r['seconds']} |",
        "",
        "Invariants: `text[m.start:m.end] == m.text`, offsets inside the text, sorted by start (a longer "
        "span first), flat mentions non-overlapping; the only exception allowed is `TommerError`.",
    ]
    if r["examples"]:
        shown = [f"- `{json.dumps(e, ensure_ascii=True)[:300]}`" for e in r["examples"]]
        lines += ["", "## Examples", "", *shown]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
