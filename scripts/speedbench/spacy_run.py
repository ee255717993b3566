"""The spaCy process of the whole-process comparison: read a JSONL corpus, ``nlp.pipe`` it, write entities.

    python -m speedbench.spacy_run corpus.jsonl out.jsonl --stats stats.json [--ner-only] [--model NAME]

Everything after interpreter start counts (import, ``spacy.load``, the pipe, writing), as for
``tommer detect``; the stats file splits it (``time.perf_counter``). ``--ner-only`` loads the NER
component alone (the others are excluded, not just disabled). One process, spaCy's defaults.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

T0 = time.perf_counter()

from speedbench.common import SPACY_MODELS, load_spacy  # noqa: E402

OTHER_PIPES = ["tok2vec", "tagger", "morphologizer", "parser", "senter", "attribute_ruler", "lemmatizer"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("out")
    ap.add_argument("--stats", required=True)
    ap.add_argument("--ner-only", action="store_true")
    ap.add_argument("--model", help=f"default: the first installed of {', '.join(SPACY_MODELS)}")
    args = ap.parse_args()
    import spacy

    t_import = time.perf_counter()
    kwargs = {"exclude": OTHER_PIPES} if args.ner_only else {}
    name, nlp = load_spacy([args.model] if args.model else SPACY_MODELS, **kwargs)
    t_load = time.perf_counter()
    with open(args.corpus, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    entities = 0
    with open(args.out, "w", encoding="utf-8") as out:
        for rec, doc in zip(records, nlp.pipe(r["text"] for r in records)):
            rec["entities"] = [[e.start_char, e.end_char, e.label_] for e in doc.ents]
            entities += len(doc.ents)
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    t_end = time.perf_counter()
    stats = {
        "model": f"{name} {nlp.meta.get('version')}",
        "spacy": spacy.__version__,
        "pipes": list(nlp.pipe_names),
        "import_s": t_import - T0,
        "load_s": t_load - t_import,
        "pipe_s": t_end - t_load,
        "entities": entities,
    }
    Path(args.stats).write_text(json.dumps(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
