"""Where greedy ``flat`` decoding loses gold spans that were candidates (dev data only).

For the first 150 dev sentences (with an entity) of each benchmark, the shipped model's candidates
above 0.5 are decoded with ``flat`` at ``MARGIN`` (argument 1, default 0); every gold span that was
a candidate but not kept is classified by the chosen span overlapping it: a super-span around it, a
sub-span inside it, or a crossing span (``(gold)`` when that span is itself gold). Prints counts and
examples (gold text and logit, winner text and logit) per benchmark, then the totals.

    python experiments/flat_losses.py 0 [BENCHMARK ...]
"""

from __future__ import annotations

import collections
import sys

import tommer
from tommer.core.decoding import decode_flat, logit
from tommer.core.detector import spans_to_mentions
from tommer.evaluation.evaluation import BENCHMARKS, load_benchmark


def main() -> None:
    margin = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    detector = tommer.load()
    total: collections.Counter = collections.Counter()
    for bench in sys.argv[2:] or list(BENCHMARKS):
        docs = load_benchmark(None, bench, "dev", limit=150)
        encodings, spans = detector.predict_spans([d.text for d in docs], threshold=0.5)
        counts: collections.Counter = collections.Counter()
        examples: dict[str, list] = collections.defaultdict(list)
        for doc, enc, found in zip(docs, encodings, spans):
            scores = {}
            for span in found:
                (m,) = spans_to_mentions(doc.text, enc, [span]) or [None]
                if m is not None:
                    scores[(m.start, m.end)] = logit(span[2])
            kept = {(m.start, m.end) for m in spans_to_mentions(doc.text, enc, decode_flat(found, margin))}
            gold = set(doc.spans)
            for g in gold:
                if g in kept:
                    counts["kept"] += 1
                    continue
                if g not in scores:
                    counts["not candidate"] += 1
                    continue
                for f in [f for f in kept if f[0] < g[1] and g[0] < f[1]]:
                    if f[0] <= g[0] and g[1] <= f[1]:
                        kind = "super"
                    elif g[0] <= f[0] and f[1] <= g[1]:
                        kind = "sub"
                    else:
                        kind = "cross"
                    kind += "(gold)" if f in gold else ""
                    counts[kind] += 1
                    if len(examples[kind]) < 3:
                        text = doc.text
                        examples[kind].append(
                            (text[g[0] : g[1]], round(scores[g], 2), text[f[0] : f[1]], round(scores[f], 2))
                        )
        total.update(counts)
        print(bench, dict(counts))
        for kind, rows in examples.items():
            for row in rows:
                print("   ", kind, row)
    print("TOTAL", dict(total))


if __name__ == "__main__":
    main()
