"""Speed and memory benchmark of tommer (issue #20): one run, the same texts for every system.

    python scripts/bench.py                                  # full run, writes results/bench.{md,json,png}
    python scripts/bench.py --quick --out /tmp/benchq/bench  # smoke run (numbers meaningless)

Texts: the test sentences of 8 benchmarks of the shared data (``$TOMMER_DATA``, else ``../shared/data``),
one record per sentence, about ``--words`` words (100k; quick: a few hundred sentences). Measured:

1. whole-process words/s of ``tommer detect -i corpus.jsonl -o out.jsonl --engine E`` for every engine,
   and of spaCy (sm full pipeline, NER only) reading the same corpus; ratios tommer ÷ spaCy; each
   engine's agreement with torch-fp32 read from ``results/engines.json`` (``scripts/engine_agreement.py``);
   which engine ``auto`` picks on this CPU (:mod:`speedbench.whole_process`);
2. in-process words/s of the default engine at each batch size (:mod:`speedbench.in_process`);
3. time against document length, 250 … 8000 words: linear fit R², per-word time longest ÷ shortest;
4. warm start (new process → first mentions) per engine, split into import / runtime / load / first
   call; cold start in a fresh ``TOMMER_CACHE`` (GGUF conversion, ONNX export); peak RSS of every
   process (:mod:`speedbench.startup`);
5. the CPU's flags and whether it computes bf16 natively;
6. the issue's targets, PASS / MISS (:mod:`speedbench.report`).

Every timing is the best of ``--repeats`` runs after a warm-up run (medians and all runs in the JSON).
The parts live in ``scripts/speedbench/`` (one concern per module); this file only orchestrates.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # speedbench/, also when loaded by path (tests)

from speedbench.common import REPO, SPACY_MODELS, load_spacy, log, machine_info, n_words, repeat
from speedbench.corpus import (
    DEFAULT_BENCHMARKS,
    interleave,
    load_sentences,
    make_document,
    subsample,
    write_jsonl,
)
from speedbench.in_process import run_in_process
from speedbench.models import model_facts
from speedbench.report import (
    plot,
    print_targets,
    read_agreement,
    render_md,
    shown_path,
    summarize,
    target_rows,
)
from speedbench.startup import cold_start, warm_start
from speedbench.whole_process import run_whole_process, systems

__all__ = [
    "SPACY_MODELS",
    "load_spacy",
    "machine_info",
    "n_words",
    "repeat",
    "main",
]  # bench_typed.py uses these

PARTS = ("whole", "spacy", "models", "inproc", "warm", "cold")
FULL = {
    "words": 100_000,
    "sweep_words": 12_000,
    "batch_sizes": "1,8,32,64",
    "doc_words": "250,500,1000,2000,4000,8000",
    "repeats": 2,
    "warm_repeats": 3,
    "cold_engines": "torch,onnx,openvino",
    "models": "gemma3-270m,smollm2-135m-l12,smollm2-135m-l4,minilm-l6",
}
QUICK = {
    "words": 3_000,
    "sweep_words": 1_500,
    "batch_sizes": "1,8",
    "doc_words": "250,500,1000",
    "repeats": 1,
    "warm_repeats": 1,
    "cold_engines": "torch",
    "models": "",
}
WARMUP_SENTENCES = 40


def default_engines() -> list[str]:
    """Every engine; torch-bf16 only where the CPU computes bf16 natively (elsewhere it is far slower)."""
    from tommer.core.engines import ENGINES, native_bf16

    return [e for e in ENGINES if e != "torch-bf16" or native_bf16()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--out", default=str(REPO / "results" / "bench"), help="output prefix: <out>.json, .md, .png"
    )
    ap.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: rebuild <out>.md and .png (summary, targets, notes) from <out>.json",
    )
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (numbers not meaningful)")
    ap.add_argument("--benchmarks", default=",".join(DEFAULT_BENCHMARKS), help="comma-separated test sets")
    ap.add_argument("--words", type=int, help=f"corpus size in words (default {FULL['words']})")
    ap.add_argument("--engines", help="comma-separated (default: all; torch-bf16 only on native-bf16 CPUs)")
    ap.add_argument("--repeats", type=int, help=f"timed runs per measurement (default {FULL['repeats']})")
    ap.add_argument(
        "--warm-repeats", type=int, help=f"warm-start processes per engine ({FULL['warm_repeats']})"
    )
    ap.add_argument("--batch-sizes", help=f"in-process batch sizes (default {FULL['batch_sizes']})")
    ap.add_argument("--sweep-words", type=int, help=f"words of the batch-size sweep ({FULL['sweep_words']})")
    ap.add_argument("--doc-words", help=f"document lengths in words ({FULL['doc_words']})")
    ap.add_argument("--cold-engines", help=f"engines to cold-start ({FULL['cold_engines']}; '' for none)")
    ap.add_argument("--skip", default="", help=f"comma-separated parts to skip: {','.join(PARTS)}")
    ap.add_argument("--model", help="tommer model name or directory (default: the CLI's default)")
    ap.add_argument(
        "--models",
        help=f"other shipped models, whole process with engine auto, for the cost / quality table "
        f"(default {FULL['models']}; '' for none)",
    )
    ap.add_argument("--spacy-model", help=f"default: the first installed of {', '.join(SPACY_MODELS)}")
    ap.add_argument(
        "--agreement", default=str(REPO / "results" / "engines.json"), help="engine agreement JSON to read"
    )
    ap.add_argument("--data-root", help="shared data folder (default: $TOMMER_DATA, else ../shared/data)")
    args = ap.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def ints(text: str) -> list[int]:
    return sorted({int(x) for x in text.split(",") if x.strip()})


def names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def build_texts(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Write the corpus and the warm-up corpus (JSONL); the sweep sample and the documents (in memory)."""
    from tommer.data.readers import data_root

    root = Path(args.data_root) if args.data_root else data_root()
    texts, sources = load_sentences(root, names(args.benchmarks), args.words)
    mixed = interleave(texts, sources)
    sweep = subsample(mixed, args.sweep_words)
    documents = [make_document(mixed, w) for w in ints(args.doc_words)]
    return {
        "corpus": write_jsonl(workdir / "corpus.jsonl", texts),
        "warmup": write_jsonl(workdir / "warmup.jsonl", mixed[:WARMUP_SENTENCES]),
        "sweep_texts": sweep,
        "documents": documents,
        "info": {
            "data_root": str(root),
            "sentences": len(texts),
            "words": sum(n_words(t) for t in texts),
            "sources": sources,
            "warmup_sentences": min(WARMUP_SENTENCES, len(mixed)),
            "sweep_sentences": len(sweep),
            "sweep_words": sum(n_words(t) for t in sweep),
            "document_words": [n_words(d) for d in documents],
        },
    }


def run_all(args: argparse.Namespace, workdir: Path, machine: dict) -> dict[str, Any]:
    skip = set(names(args.skip))
    unknown = skip - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown --skip part(s): {', '.join(sorted(unknown))}")
    engines = names(args.engines) if args.engines else default_engines()
    texts = build_texts(args, workdir)
    info = texts["info"]
    log(f"corpus: {info['sentences']} sentences, {info['words']} words; engines: {', '.join(engines)}")
    models = names(args.models) if "models" not in skip else []
    res: dict[str, Any] = {"texts": info, "models": facts([args.model or default_model(), *models])}
    keys = systems(engines if "whole" not in skip else [], "spacy" not in skip, models)
    if keys:
        res["whole_process"] = run_whole_process(
            keys, texts["corpus"], texts["warmup"], info["words"], workdir, args
        )
    if "inproc" not in skip:
        spec = {
            "model": args.model or default_model(),
            "engine": machine["auto_engine"],
            "sweep_texts": texts["sweep_texts"],
            "documents": texts["documents"],
            "batch_sizes": ints(args.batch_sizes),
            "repeats": args.repeats,
        }
        res["in_process"] = run_in_process(spec, workdir)
    if "warm" not in skip:
        res["warm_start"] = warm_start(engines, args.warm_repeats, workdir, args.model)
    if "cold" not in skip and names(args.cold_engines):
        res["cold_start"] = cold_start(names(args.cold_engines), workdir, args.model)
    return res


def facts(models: Sequence[str]) -> dict[str, Any]:
    """Config, cost per token and dev operating point of each model (read from files, not measured)."""
    from tommer.errors import TommerError

    out: dict[str, Any] = {}
    for name in models:
        try:
            out[name] = model_facts(name, default_model())
        except (TommerError, OSError, KeyError, ValueError) as exc:
            out[name] = {"error": str(exc)}
    return out


def default_model() -> str:
    from tommer.core.layout import DEFAULT_MODEL

    return DEFAULT_MODEL


def notes(res: dict[str, Any]) -> list[str]:
    m, out = res["machine"], []
    agr = res.get("agreement")
    if agr is None:
        out.append("No results/engines.json: the agreement target is n/a (run scripts/engine_agreement.py).")
    elif agr.get("native_bf16") is not None and agr["native_bf16"] != m["native_bf16"]:
        out.append(
            f"{agr['path']} was measured on a CPU with native bf16 = {agr['native_bf16']}, this "
            f"one has {m['native_bf16']}: the `torch` engine's dtype (hence its agreement) may differ here."
        )
    if m["native_bf16"] and m["auto_engine"] == "torch":
        out.append(
            "Native bf16 on this CPU: `torch` runs bf16, the same engine as `torch-bf16` (measured apart)."
        )
    if not m["native_bf16"]:
        out.append(
            "No native bf16 on this CPU: `torch` runs fp32 (the same as `torch-fp32`); torch-bf16 is not run."
        )
    cores = m.get("cores_usable") or m.get("cores") or 1
    if m["loadavg_start"][0] > 0.5 * cores:
        out.append(
            f"The machine was busy before the run (1-min load average {m['loadavg_start'][0]:.2f} on {cores} "
            "cores): timings are pessimistic and noisy."
        )
    failed = [k for k, v in (res.get("whole_process") or {}).items() if "words_per_s" not in v]
    failed += [f"warm {k}" for k, v in (res.get("warm_start") or {}).items() if "seconds" not in v]
    failed += [f"cold {k}" for k, v in (res.get("cold_start") or {}).items() if "error" in v]
    if res.get("in_process") and "result" not in res["in_process"]:
        failed.append("in process")
    if failed:
        out.append(f"FAILED: {', '.join(failed)} (see the JSON for the errors).")
    return out


def assemble(args: argparse.Namespace, command: str, machine: dict, parts: dict[str, Any]) -> dict[str, Any]:
    """The JSON document: config, machine, the agreement read, the measured parts, summary, targets, notes."""
    res = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "config": vars(args),
        "machine": machine,
        "agreement": read_agreement(Path(args.agreement)),
        **parts,
    }
    res["summary"] = summarize(res)
    res["targets"] = target_rows(res["summary"])
    res["notes"] = notes(res)
    return res


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    given = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python scripts/bench.py", *map(shlex.quote, given)])
    machine = machine_info()
    out = Path(args.out)
    if args.render:
        return render(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="tommer-bench-"))
    started = time.perf_counter()
    try:
        res = run_all(args, workdir, machine)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    machine["loadavg_end"] = list(os.getloadavg())
    res = assemble(args, command, machine, res)
    res["bench_wall_s"] = time.perf_counter() - started
    return write(out, res)


def write(out: Path, res: dict[str, Any]) -> int:
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    out.with_suffix(".md").write_text(render_md(res))
    plot(res, out.with_suffix(".png"))
    print_targets(res)
    print(f"wrote {out.with_suffix('.json')}, {out.with_suffix('.md')}, {out.with_suffix('.png')}")
    return 1 if any(n.startswith("FAILED") for n in res["notes"]) else 0


def render(out: Path) -> int:
    """The report again from the measurements in ``<out>.json`` (after a change to the report code)."""
    source = out.with_suffix(".json")
    if not source.is_file():
        print(f"bench: --render needs {source}, written by a measuring run", file=sys.stderr)
        return 2
    res = json.loads(source.read_text())
    if res.get("agreement"):
        res["agreement"]["path"] = shown_path(res["agreement"]["path"])
    res["summary"] = summarize(res)
    res["targets"] = target_rows(res["summary"])
    res["notes"] = notes(res)
    return write(out, res)


if __name__ == "__main__":
    sys.exit(main())
