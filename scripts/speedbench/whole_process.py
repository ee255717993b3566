"""Whole-process words/s: ``tommer detect -i corpus.jsonl`` per engine, and spaCy, each a new process.

Every run is a fresh ``python`` process timed from the parent (start-up, imports, model load, reading,
detecting, writing: what a user waits for), its peak RSS from ``os.wait4``. One warm-up run of each
command on a small corpus comes first (it builds a missing ONNX export or int8 copy, and fills the OS
file cache); then ``repeats`` rounds, each running every command once (interleaved, so a noisy moment
hits all systems alike). The best run is reported (the median and all runs are kept).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import log, run_process, timings
from .corpus import count_mentions


def tommer_cmd(engine: str, corpus: Path, out: Path, model: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "tommer.cli", "detect", "-i", str(corpus), "-o", str(out)]
    cmd += ["--overwrite", "-q", "--engine", engine]
    return cmd + (["--model", model] if model else [])


def spacy_cmd(variant: str, corpus: Path, out: Path, stats: Path, model: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "speedbench.spacy_run", str(corpus), str(out), "--stats", str(stats)]
    cmd += ["--ner-only"] if variant == "ner" else []
    return cmd + (["--model", model] if model else [])


def systems(engines: Sequence[str], spacy: bool, models: Sequence[str] = ()) -> list[str]:
    """The systems compared, by key: ``tommer:<engine>`` (the benched model), ``model:<name>`` (another
    shipped model, engine ``auto``) and ``spacy:full`` / ``spacy:ner``."""
    keys = [f"tommer:{e}" for e in engines] + [f"model:{m}" for m in models]
    return keys + (["spacy:full", "spacy:ner"] if spacy else [])


def run_once(system: str, corpus: Path, workdir: Path, tag: str, args: Any) -> dict[str, Any]:
    """One process of one system on ``corpus``: wall, peak RSS, and what it found."""
    kind, _, which = system.partition(":")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", system) + f"-{tag}"  # a model may be a directory
    out, stats = workdir / f"{name}.jsonl", workdir / f"{name}.stats.json"
    if kind == "tommer":
        cmd = tommer_cmd(which, corpus, out, args.model)
    elif kind == "model":
        cmd = tommer_cmd("auto", corpus, out, which)
    else:
        cmd = spacy_cmd(which, corpus, out, stats, args.spacy_model)
    rec = run_process(cmd, workdir, name)
    if rec["exit_code"] == 0:
        rec["found"] = count_mentions(out, "entities" if kind == "spacy" else "mentions")
        if stats.is_file():
            rec["stats"] = json.loads(stats.read_text())
    out.unlink(missing_ok=True)
    return rec


def run_whole_process(
    keys: Sequence[str], corpus: Path, warmup: Path, words: int, workdir: Path, args: Any
) -> dict[str, Any]:
    """Warm-up runs, then ``args.repeats`` interleaved rounds; per system its timings and words/s."""
    results: dict[str, Any] = {}
    for key in keys:
        log(f"whole process, warm-up: {key}")
        results[key] = {"warmup": run_once(key, warmup, workdir, "warmup", args), "runs": []}
    for r in range(args.repeats):
        for key in keys:
            if "error" in results[key]["warmup"]:
                continue
            rec = run_once(key, corpus, workdir, f"run{r}", args)
            results[key]["runs"].append(rec)
            if "error" not in rec:
                wps, rss = words / rec["wall_s"], rec["peak_rss_mb"]
                log(f"whole process #{r + 1}: {key} {wps:.0f} words/s, {rss:.0f} MB")
    for res in results.values():
        ok = [x for x in res["runs"] if "error" not in x]
        if ok:
            res["seconds"] = timings([x["wall_s"] for x in ok])
            res["words_per_s"] = words / res["seconds"]["best"]
            res["peak_rss_mb"] = max(x["peak_rss_mb"] for x in ok)
            res["found"] = ok[-1].get("found")
            res["stats"] = ok[-1].get("stats")
    return results
