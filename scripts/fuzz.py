"""Fuzz the detector: generated texts through the public call, checking its invariants.

Texts are drawn (seeded) from arbitrary code points (lone surrogates, controls, unassigned ones),
pieces of real and hard text (combining marks, RTL, ZWJ emoji, CJK, BOM / NUL / bidi controls),
words of 10,000 characters without spaces, and ``--long`` documents of 1,000,000 characters.
For every text: ``text[m.start:m.end] == m.text``, offsets inside the text and sorted (by start,
a longer span first), flat mentions non-overlapping, and no exception other than ``TommerError``.
On a sample: determinism, and the same mentions alone and in a batch, on the backbone as loaded
(bf16 where the CPU has it) and on fp32. Writes ``<out>.md`` and ``<out>.json``.

    python scripts/fuzz.py                    # 100,000 texts -> results/fuzz.md
    python scripts/fuzz.py --texts 2000 --long 0 --out build/fuzz
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_common import cpu_flags  # noqa: E402

import tommer  # noqa: E402
from tommer.core.backbone import Backbone  # noqa: E402
from tommer.errors import TommerError  # noqa: E402
from tommer.typed.detector import MentionDetector  # noqa: E402

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


def random_char(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return chr(rng.randrange(0x20, 0x7F))
    if r < 0.8:
        return chr(rng.randrange(0xA0, 0x3000))
    return chr(rng.randrange(0, 0x110000))  # anything: surrogates, controls, unassigned


def random_text(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.4:
        return "".join(random_char(rng) for _ in range(rng.randrange(0, 80)))
    if kind < 0.995:
        parts = []
        for _ in range(rng.randrange(1, 10)):
            if rng.random() < 0.6:
                parts.append(rng.choice(PIECES))
            else:
                parts.append("".join(random_char(rng) for _ in range(rng.randrange(1, 10))))
        return "".join(parts)
    return rng.choice("ab\u6771") * 10_000  # a 10,000-character word without spaces


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
    ap.add_argument("--sample", type=int, default=400, help="texts for the determinism / batch checks")
    ap.add_argument("--batch-size", type=int, default=64, help="texts per detector call")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/fuzz")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    detector = tommer.load()
    texts = [random_text(rng) for _ in range(args.texts)]
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
    fp32 = MentionDetector(
        detector.config,
        Backbone.load(detector.config.backbone, detector.config.layer, dtype=torch.float32),
        detector.probe,
    )
    report = {
        "command": "python scripts/fuzz.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "seed": args.seed,
        "cpu_flags": cpu_flags(),
        "backbone_dtype": str(detector.backbone.dtype).replace("torch.", ""),
        "long_documents": len(long_docs),
        **counts,
        "seconds": round(seconds, 1),
        "deterministic": f"{deterministic}/{min(100, len(sample))}",
        "alone_vs_batch": {"as_loaded": agreement(detector, sample), "fp32": agreement(fp32, sample)},
        "examples": examples,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=True) + "\n")
    out.with_suffix(".md").write_text(render(report))
    print(json.dumps({k: v for k, v in report.items() if k != "examples"}))
    return 0


def render(r: dict) -> str:
    loaded, fp32 = r["alone_vs_batch"]["as_loaded"], r["alone_vs_batch"]["fp32"]
    lines = [
        "# Fuzzed inputs",
        "",
        f"Regenerate with `{r['command']}` (seed {r['seed']}; CPU flags: {r['cpu_flags']}; "
        f"backbone as loaded: {r['backbone_dtype']}).",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| texts (incl. {r['long_documents']} of 1,000,000 characters) | {r['texts']:,} |",
        f"| characters | {r['characters']:,} |",
        f"| mentions | {r['mentions']:,} |",
        f"| texts with an invariant violated | {r['violations']} |",
        f"| texts in a call that raised TommerError | {r['tommer_errors']} |",
        f"| texts in a call that raised another exception | {r['other_errors']} |",
        f"| deterministic (the same call twice) | {r['deterministic']} |",
        f"| alone vs in a batch, {r['backbone_dtype']}: texts whose spans differ | "
        f"{loaded['spans_differ']}/{loaded['texts']} |",
        f"| alone vs in a batch, {r['backbone_dtype']}: largest score change | "
        f"{loaded['max_score_change']:.4f} |",
        f"| alone vs in a batch, float32: texts whose spans differ | "
        f"{fp32['spans_differ']}/{fp32['texts']} |",
        f"| alone vs in a batch, float32: largest score change | {fp32['max_score_change']:.6f} |",
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
