"""Start-up: a new process to its first mentions, warm (caches filled) and cold (a fresh ``TOMMER_CACHE``).

- warm, per engine: ``python -m tommer.cli detect "<sentence>" --engine E`` (wall and peak RSS of the
  process, the number the target is about), and :mod:`.start_probe`, the same steps with a clock
  between them (import / runtime / load / first call); ``repeats`` of each after the whole-process warm-up
  runs filled the caches; best reported, median kept.
- cold, per engine of ``cold_engines``: :mod:`.start_probe` with ``TOMMER_CACHE`` pointing to an empty
  folder, so that its load converts the GGUF backbone (every engine) and, for ONNX engines, exports
  the graph (and quantises it for ``onnx-int8``). Once per engine; the folder is removed afterwards.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import SENTENCE, log, module_env, run_process, timings

SPLIT = ("import_s", "runtime_s", "load_s", "first_call_s")


def cli_cmd(engine: str, model: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "tommer.cli", "detect", SENTENCE, "--engine", engine]
    return cmd + (["--model", model] if model else [])


def probe_cmd(engine: str, stats: Path, model: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "speedbench.start_probe", "--engine", engine, "--stats", str(stats)]
    return cmd + (["--model", model] if model else [])


def probe_once(engine: str, workdir: Path, name: str, model: str | None, env: dict | None = None) -> dict:
    stats = workdir / f"{name}.stats.json"
    rec = run_process(probe_cmd(engine, stats, model), workdir, name, env)
    if rec["exit_code"] == 0:
        rec["split"] = json.loads(stats.read_text())
        rec["split"]["rest_s"] = rec["wall_s"] - sum(rec["split"][k] for k in SPLIT)  # interpreter, exit
    return rec


def warm_start(engines: Sequence[str], repeats: int, workdir: Path, model: str | None) -> dict[str, Any]:
    """Per engine: the CLI process (wall, peak RSS, mentions printed) and the split of the probe.

    The repeats are rounds over the engines (interleaved, as the whole-process runs)."""
    runs: dict[str, dict[str, list]] = {e: {"cli": [], "probe": []} for e in engines}
    for r in range(repeats):
        for engine in engines:
            name = f"warm-{engine}-{r}"
            rec = run_process(cli_cmd(engine, model), workdir, name)
            if rec["exit_code"] == 0:
                rec["printed"] = (workdir / f"{name}.out").read_text().strip().splitlines()
            runs[engine]["cli"].append(rec)
            runs[engine]["probe"].append(probe_once(engine, workdir, f"probe-{engine}-{r}", model))
    out: dict[str, Any] = {}
    for engine in engines:
        cli, probe = runs[engine]["cli"], runs[engine]["probe"]
        res: dict[str, Any] = {"cli_runs": cli, "probe_runs": probe}
        ok = [x for x in cli if "error" not in x]
        if ok:
            res["seconds"] = timings([x["wall_s"] for x in ok])
            res["peak_rss_mb"] = max(x["peak_rss_mb"] for x in ok)
        split = [x["split"] for x in probe if "split" in x]
        if split:
            res["split_median"] = {k: timings([s[k] for s in split])["median"] for k in (*SPLIT, "rest_s")}
            res["imported_torch"] = split[-1]["imported_torch"]
            res["ran_as"] = split[-1]["ran_as"]
        if "seconds" in res:
            log(f"warm start {engine}: {res['seconds']['best']:.2f} s, {res['peak_rss_mb']:.0f} MB")
        out[engine] = res
    return out


def cold_start(engines: Sequence[str], workdir: Path, model: str | None) -> dict[str, Any]:
    """Per engine, one probe process in a fresh ``TOMMER_CACHE``: wall, split, peak RSS, what it built."""
    out: dict[str, Any] = {}
    for engine in engines:
        cache = workdir / f"cold-cache-{engine}"
        cache.mkdir()
        try:
            log(f"cold start {engine} (fresh TOMMER_CACHE) ...")
            rec = probe_once(
                engine, workdir, f"cold-{engine}", model, module_env({"TOMMER_CACHE": str(cache)})
            )
            rec["built_mb"] = {
                d.name: sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) / 1e6
                for d in sorted(cache.iterdir())
                if d.is_dir()
            }
            if "error" not in rec:
                log(f"cold start {engine}: {rec['wall_s']:.1f} s, {rec['peak_rss_mb']:.0f} MB")
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        out[engine] = rec
    return out
