"""Speed of typed calls (issue #5): what labels cost on top of mention detection.

One run, the same texts for every system (the first N CoNLL 2003 test sentences, one text per
sentence, as a user would call ``detector(texts)``):

- untyped detection with the default model (the probe's layer only), with its default engine;
- zero-shot labels with the shipped zero-shot model (``--zero-shot``, ``labels=[...]``: its head reads a
  deeper layer), and the same with ``lm_labels=True`` (the whole backbone relabels each mention,
  ``tommer.typed.lm_labels``);
- each supervised model given with ``--heads`` (e.g. one CoNLL 2003 head and the 5-head ensemble);
- spaCy ``en_core_web_sm`` (full pipeline and NER only), the peer.

Reports words/s (best of ``--repeats`` after a warm-up call), each system's time as a multiple of
untyped detection, and spaCy's words/s divided by each system's. Writes ``<out>.json`` and ``<out>.md``.

    python scripts/bench_typed.py            # writes results/bench_typed.*
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speedbench.common import SPACY_MODELS, load_spacy, machine_info, n_words, repeat  # noqa: E402

HEADS = "smollm2-135m-conll03"  # the shipped CoNLL 2003 head
ZERO_SHOT = "smollm2-135m-types"  # the shipped zero-shot type head (on its own probe)
ZERO_SHOT_LABELS = ["person", "location", "organization", "miscellaneous"]


RESULTS = Path(__file__).resolve().parent.parent / "results"  # written here from any cwd


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(RESULTS / "bench_typed"), help="output prefix: <out>.json, <out>.md")
    ap.add_argument("--sentences", type=int, default=300, help="first N CoNLL 2003 test sentences")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--heads", default=HEADS, help="comma-separated model directories with supervised heads")
    ap.add_argument("--zero-shot", default=ZERO_SHOT, help="the model with a zero-shot type head")
    ap.add_argument("--data-root", help="folder holding benchmarks/ (default $TOMMER_DATA)")
    return ap.parse_args(argv)


def time_system(name: str, call, texts: list[str], words: int, repeats: int) -> dict:
    call(texts[:16])  # warm-up: loads the layers a typed call needs
    out: dict = {}

    def run() -> None:
        out["last"] = call(texts)

    t = repeat(run, repeats)
    mentions = sum(len(m) for m in out["last"])  # one list of mentions per text
    print(f"  {name}: {words / t['best']:.0f} words/s", file=sys.stderr, flush=True)
    return {"system": name, "seconds": t, "words_per_s": words / t["best"], "mentions": mentions}


def spacy_rows(texts: list[str], words: int, repeats: int) -> list[dict]:
    try:
        model, nlp = load_spacy(SPACY_MODELS)
    except RuntimeError as err:
        raise SystemExit(str(err)) from None
    rows = []
    for variant, enabled in {"full pipeline": list(nlp.pipe_names), "NER only": ["ner"]}.items():
        with nlp.select_pipes(enable=enabled):
            row = time_system(
                f"spaCy {model} ({variant})",
                lambda ts: [list(d.ents) for d in nlp.pipe(ts)],
                texts,
                words,
                repeats,
            )
        rows.append(row)
    return rows


def render(res: dict) -> str:
    base = res["rows"][0]["words_per_s"]
    spacy_full = next(r["words_per_s"] for r in res["rows"] if "full pipeline" in r["system"])
    lines = [
        "# Speed of typed calls (issue #5)",
        "",
        f"Command: `{res['command']}`",
        "",
        f"- Texts: the first {res['sentences']} CoNLL 2003 test sentences ({res['words']} words), one text"
        f" per sentence; batch size {res['batch_size']}; best of {res['repeats']} runs after a warm-up call.",
        f"- Machine: {res['machine']['cpu']}, {res['machine']['cores_usable']} usable cores, torch threads "
        f"{res['torch_threads']}; the typed calls run the backbone in torch, dtype {res['backbone_dtype']}.",
        "- Supervised heads type every call; their models read the layers, input (echo) and members named"
        " in their cards. The zero-shot call gives the labels " + ", ".join(ZERO_SHOT_LABELS) + ".",
        '- "× untyped": the system\'s time divided by untyped detection\'s. "spaCy full ÷": spaCy\'s full'
        " pipeline words/s divided by the system's (how many times faster spaCy is).",
        "",
        "| system | words/s | seconds | × untyped | spaCy full ÷ | mentions |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['system']} | {r['words_per_s']:.0f} | {r['seconds']['best']:.2f} | "
            f"{base / r['words_per_s']:.2f} | {spacy_full / r['words_per_s']:.2f} | {r['mentions']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    import tommer
    from tommer.errors import TommerError
    from tommer.evaluation.evaluation import load_benchmark

    try:  # every sentence, as in the file (also those without entities)
        docs = load_benchmark(args.data_root, "CoNLL 2003", "test", False, limit=args.sentences)
    except TommerError as err:
        raise SystemExit(str(err)) from None
    texts = [d.text for d in docs]
    words = sum(n_words(t) for t in texts)
    bs, reps = args.batch_size, args.repeats
    default = tommer.load()
    zero_shot = tommer.load(args.zero_shot)
    rows = [
        time_system(
            f"untyped (default model, engine {default.engine.name})",
            lambda ts: default(ts, batch_size=bs),
            texts,
            words,
            reps,
        ),
        time_system(
            f"zero-shot labels (`{args.zero_shot}`)",
            lambda ts: zero_shot(ts, labels=ZERO_SHOT_LABELS, batch_size=bs),
            texts,
            words,
            reps,
        ),
        time_system(
            f"zero-shot labels, LM labels (`{args.zero_shot}`)",
            lambda ts: zero_shot(ts, labels=ZERO_SHOT_LABELS, lm_labels=True, batch_size=bs),
            texts,
            words,
            reps,
        ),
    ]
    for model_dir in [h.strip() for h in args.heads.split(",") if h.strip()]:
        det = tommer.load(model_dir)
        members = det.type_head.config.members
        name = f"supervised `{model_dir}`" + (f" ({members} members)" if members > 1 else "")
        rows.append(time_system(name, lambda ts, det=det: det(ts, batch_size=bs), texts, words, reps))
        del det
    rows += spacy_rows(texts, words, reps)
    res = {
        "command": " ".join(["python scripts/bench_typed.py", *map(shlex.quote, argv or sys.argv[1:])]),
        "sentences": len(texts),
        "words": words,
        "batch_size": bs,
        "repeats": reps,
        "machine": machine_info(),
        "torch_threads": torch.get_num_threads(),
        "backbone_dtype": str(default.backbone.dtype).replace("torch.", ""),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(res))
    print(f"wrote {out}.md", file=sys.stderr)


if __name__ == "__main__":
    main()
