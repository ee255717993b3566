"""results/reliability.md in one command (issue #23 item 5): fuzzed inputs, load held, faults injected.

Runs, one after another (each writes its own report, which this script then reads):

1. ``scripts/fuzz.py`` → results/fuzz.{md,json}: generated texts through the public call;
2. ``scripts/load_test.py`` → results/server_load.{md,json}: ``tommer serve`` at concurrency 1, 10
   and 100, and short requests while a ~1 MB request runs;
3. ``scripts/faults.py`` → results/faults.json: kill -9, SIGTERM, a file size limit, a Parquet
   output stopped, a corrupted ONNX export, tampered model files and a killed Ray actor.

then writes results/reliability.md from the three. ``--steps`` runs some of them only (the report is
written from whatever reports exist, each named with its command and date).

    python scripts/reliability.py                         # everything (about an hour on 2 cores)
    python scripts/reliability.py --steps faults          # rerun one step, rewrite the summary
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
STEPS = {
    "fuzz": [sys.executable, "scripts/fuzz.py"],
    "load": [sys.executable, "scripts/load_test.py"],
    "faults": [sys.executable, "scripts/faults.py"],
}


def run_step(name: str) -> None:
    print(f"== {name}: {' '.join(STEPS[name][1:])}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    subprocess.run(STEPS[name], cwd=ROOT, check=True)
    print(f"== {name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def _date(path: str) -> str:
    done = subprocess.run(
        ["git", "log", "-1", "--format=%cs", "--", path], cwd=ROOT, capture_output=True, text=True
    )
    stamp = time.strftime("%Y-%m-%d", time.gmtime((ROOT / path).stat().st_mtime))
    return f"written {stamp}" + (f", last committed {done.stdout.strip()}" if done.stdout.strip() else "")


def markdown() -> str:
    fuzz, load, faults = _load("fuzz.json"), _load("server_load.json"), _load("faults.json")
    lines = [
        "# Reliability: fuzzed inputs, load held, faults injected",
        "",
        "Written by `python scripts/reliability.py` from the three reports below.",
        "",
    ]
    lines += ["## Fuzzed inputs", ""]
    if fuzz:
        lines += [
            f"`{fuzz['command']}` ([fuzz.md](fuzz.md), {_date('results/fuzz.json')}; "
            f"engine `{fuzz['engine']}`).",
            "",
            "| texts | characters | mentions | invariant violations | TommerError | other exceptions |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {fuzz['texts']:,} | {fuzz['characters']:,} | {fuzz['mentions']:,} | {fuzz['violations']} | "
            f"{fuzz['tommer_errors']} | {fuzz['other_errors']} |",
            "",
        ]
    else:
        lines += ["Not run.", ""]
    lines += ["## Load held (`tommer serve`, loopback)", ""]
    if load:
        env = load.get("environment", {})
        engine = load.get("server", {}).get("health", {}).get("engine")
        engine = f"engine `{engine}`" if engine else "the default engine"
        lines += [
            f"`{load['command']}` ([server_load.md](server_load.md), {load.get('date', '?')}; "
            f"{env.get('cpu_model', '?')}, CPUs {env.get('cpu_affinity', '?')}, {engine}).",
            "",
            "| concurrency | requests | errors | requests/s | p50 ms | p99 ms |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for p in load["phases"]:
            lines.append(
                f"| {p['concurrency']} | {p['sent']} | {p['errors']} | {p['requests_per_s']} | "
                f"{p['p50_ms']} | {p['p99_ms']} |"
            )
        big = load["big"]
        small = big["small"]
        lines += [
            "",
            f"While one {big['big_body_bytes']:,}-byte request ran ({big['big_latency_s']} s, answer "
            f"{big['big_status']}): {small['sent']} short requests at concurrency {small['concurrency']}, "
            f"{small['errors']} errors, p50 {small['p50_ms']} ms, p99 {small['p99_ms']} ms.",
            "",
            "| target | met |",
            "|---|---|",
            *[f"| {k} | {'yes' if v else '**no**'} |" for k, v in load["targets"].items()],
            "",
        ]
    else:
        lines += ["Not run.", ""]
    lines += ["## Faults injected", ""]
    if faults:
        lines += [
            f"`{faults['command']}` ({_date('results/faults.json')}), on {faults['records']} records with an "
            "`id`; lost and duplicated records are counted against an uninterrupted run.",
            "",
            "| fault | records lost | duplicated | output identical to an uninterrupted run | exit codes | "
            "traceback | notes |",
            "|---|---:|---:|---|---|---|---|",
        ]
        for f in faults["faults"]:
            if "skipped" in f:
                lines.append(f"| {f['fault']} | | | | | | skipped: {f['skipped']} |")
                continue
            notes = ", ".join(
                f"{k.replace('_', ' ')}: {v}"
                for k, v in f.items()
                if k not in ("fault", "lost", "duplicated", "identical", "exit_codes", "traceback")
            )
            cell = {None: "n/a", True: "yes", False: "**no**"}
            lines.append(
                f"| {f['fault']} | {'n/a' if f['lost'] is None else f['lost']} | "
                f"{'n/a' if f['duplicated'] is None else f['duplicated']} | {cell[f['identical']]} | "
                f"{', '.join(map(str, f['exit_codes']))} | {'**yes**' if f['traceback'] else 'no'} | "
                f"{notes} |"
            )
        lines.append("")
    else:
        lines += ["Not run.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", default="fuzz,load,faults", help="comma list of fuzz, load, faults")
    args = ap.parse_args(argv)
    for name in filter(None, args.steps.split(",")):
        if name not in STEPS:
            raise SystemExit(f"unknown step {name!r}: choose from {', '.join(STEPS)}")
        run_step(name)
    (RESULTS / "reliability.md").write_text(markdown())
    print((RESULTS / "reliability.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
