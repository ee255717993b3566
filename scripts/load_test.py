"""Load test of ``tommer serve`` (issue #23 item 3, "a server that holds load"), loopback only.

Starts ``tommer serve`` in a subprocess on a free 127.0.0.1 port (it inherits this process's
environment and CPU affinity: run it as you would run the server), then from this process (aiohttp,
asyncio: about 0.1 ms of client CPU per request, where httpx took a third of a core at concurrency
100 and varied the server's share of these two CPUs from run to run):

1. a warm-up, then ``--requests`` short requests at each concurrency of ``--concurrency`` (default
   1, 10 and 100): requests/s, p50, p99 and errors (any answer but 200, or a transport error);
2. one ~``--big-bytes`` request (default ~1 MB, the body limit) in flight while ``--big-small``
   short requests run at concurrency ``--big-concurrency``: the short requests' p50 / p99 then,
   whether the big one was still running when they ended, and the big one's own answer and time.

Short texts are benchmark test sentences (``tommer.data.readers``, ``$TOMMER_DATA`` or
../shared/data) when found, else a fixed list. Every phase is bounded by ``--phase-seconds`` (no new
requests after it) and the big request by ``--big-timeout``.

Writes ``<out>.json`` and ``<out>.md`` (default results/server_load) with the CPU settings (affinity,
``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``, CPU model), the server's options and the issue's targets:
0 errors at concurrency 100, throughput at concurrency 100 >= 3 x 27 requests/s, p99 of short
requests <= 2 s while the big request runs.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=src taskset -c 1 python scripts/load_test.py
    PYTHONPATH=src python scripts/load_test.py --requests 20 --big-bytes 50000 --out /tmp/load  # smoke run

Latencies are measured by the client (request sent to answer read), with ``time.perf_counter``; the
client shares the machine (and the affinity) with the server, so its own work counts against it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("CoNLL 2003", "Ontonotes", "WikiNeural", "CrossNER_politics", "CrossNER_music")
FALLBACK = [
    "Angela Merkel met Emmanuel Macron in Paris.",
    "Barack Obama was born in Honolulu, Hawaii.",
    "The Eiffel Tower is in France.",
    "Apple opened a new store in Tokyo last year.",
    "Marie Curie worked at the University of Paris.",
    "Lionel Messi signed for Inter Miami.",
    "The Amazon river flows through Brazil.",
    "Tim Cook spoke at Stanford University.",
    "The United Nations met in Geneva on Monday.",
    "Toyota recalled cars sold in Canada and Mexico.",
]
BASELINE_RPS = 27.0  # the figure for the server before micro-batching
TARGETS = {"errors_at_100": 0, "rps_at_100": 3 * BASELINE_RPS, "big_small_p99_s": 2.0}


# -- texts -------------------------------------------------------------------------------------
def short_texts(limit: int, max_chars: int, seed: int) -> tuple[list[str], str]:
    """(texts, where they come from): benchmark test sentences if the shared data is there."""
    try:
        from tommer.data.readers import data_root, read_benchmark_json
    except ImportError:
        return list(FALLBACK), "fixed list (tommer not importable)"
    root = data_root()
    texts, used = [], []
    for name in BENCHMARKS:
        path = root / "benchmarks" / name / "test.json"
        if path.is_file():
            found = [r.text for r in read_benchmark_json(path) if 20 <= len(r.text) <= max_chars]
            texts += found
            used.append(f"{name} ({len(found)})")
    if not texts:
        return list(FALLBACK), f"fixed list (no benchmark files under {root})"
    random.Random(seed).shuffle(texts)
    return texts[:limit], f"benchmark test sentences of <= {max_chars} characters from {root}: " + ", ".join(
        used
    )


def big_text(texts: list[str], n_bytes: int) -> str:
    """Sentences joined up to ``n_bytes`` UTF-8 bytes (JSON-safe ASCII-ish text, no truncation mid-word)."""
    parts, size, k = [], 0, 0
    while True:
        t = texts[k % len(texts)] + " "
        b = len(t.encode("utf-8")) + 8  # room for JSON escapes
        if size + b > n_bytes:
            break
        parts.append(t)
        size += b
        k += 1
    return "".join(parts).strip()


# -- statistics --------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (``p`` in [0, 100]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(latencies: list[float], errors: list[str], wall: float, concurrency: int, sent: int) -> dict:
    ok = len(latencies)
    ms = [1000 * x for x in latencies]
    return {
        "concurrency": concurrency,
        "sent": sent,
        "ok": ok,
        "errors": len(errors),
        "error_samples": errors[:5],
        "wall_s": round(wall, 3),
        "requests_per_s": round(ok / wall, 2) if wall > 0 else None,
        "p50_ms": _round(percentile(ms, 50)),
        "p99_ms": _round(percentile(ms, 99)),
        "max_ms": _round(max(ms) if ms else None),
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_cpu(phase: dict, client_s: float, server_s: float) -> dict:
    """``phase`` with the client's and the server's CPU use over its wall time (100% = one core)."""
    wall = phase["wall_s"] or 1e-9
    return {
        **phase,
        "client_cpu_pct": round(100 * client_s / wall),
        "server_cpu_pct": round(100 * server_s / wall),
    }


# -- the server --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, port: int, log_path: Path) -> tuple[subprocess.Popen, list[str]]:
    cmd = [sys.executable, "-m", "tommer.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--log-level", "warning"]
    if args.model:
        cmd += ["--model", args.model]
    cmd += shlex.split(args.server_args)
    log = open(log_path, "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd())
    proc.log_file = log  # type: ignore[attr-defined]
    return proc, cmd


def wait_healthy(url: str, proc: subprocess.Popen, log_path: Path, seconds: float) -> dict:
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            raise SystemExit(
                f"the server exited ({proc.returncode}):\n{log_path.read_text(errors='replace')}"
            )
        try:
            return httpx.get(url + "/health", timeout=5).json()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not answer within {seconds:g} s") from None
            time.sleep(0.25)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.log_file.close()  # type: ignore[attr-defined]


# -- load --------------------------------------------------------------------------------------
async def run_phase(
    url: str, texts: list[str], n: int, concurrency: int, seconds: float, offset: int = 0
) -> dict:
    """``n`` short requests, ``concurrency`` at a time (no new request after ``seconds``)."""
    import aiohttp

    latencies: list[float] = []
    errors: list[str] = []
    todo = iter(range(n))
    sent = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as client:
        start = time.perf_counter()
        stop = start + seconds

        async def worker() -> None:
            nonlocal sent
            for k in todo:
                if time.perf_counter() > stop:
                    return
                sent += 1
                body = {"text": texts[(offset + k) % len(texts)]}
                t0 = time.perf_counter()
                try:
                    async with client.post(url + "/api/detect", json=body) as r:
                        status, payload = r.status, await r.read()
                except (aiohttp.ClientError, TimeoutError) as err:
                    errors.append(f"{type(err).__name__}: {err}")
                    continue
                if status == 200:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors.append(f"{status}: {payload[:200].decode(errors='replace')}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return summary(latencies, errors, wall, concurrency, sent)


async def run_big(url: str, texts: list[str], args) -> dict:
    """One big request in flight while short requests run; the short ones' latencies then."""
    import aiohttp

    text = big_text(texts, args.big_bytes)
    body = json.dumps({"text": text}).encode()
    out: dict = {"big_body_bytes": len(body), "big_chars": len(text)}
    timeout = aiohttp.ClientTimeout(total=args.big_timeout)
    # a connection per request: none sits idle past the server's keep-alive while the big one runs
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as client:

        async def health() -> dict:
            async with client.get(url + "/health") as r:
                return (await r.json())["stats"]

        async def post_big() -> tuple[int, bytes]:
            headers = {"content-type": "application/json"}
            async with client.post(url + "/api/detect", data=body, headers=headers) as r:
                return r.status, await r.read()

        before = await health()
        t0 = time.perf_counter()
        big = asyncio.ensure_future(post_big())
        # wait until the server runs it (its first window is done), at most --phase-seconds
        deadline = time.monotonic() + args.phase_seconds
        while not big.done() and time.monotonic() < deadline:
            now = await health()
            if now["long_steps"] > before["long_steps"] or now["detector_calls"] > before["detector_calls"]:
                break
            await asyncio.sleep(0.05)
        out["big_started_after_s"] = round(time.perf_counter() - t0, 2)
        small = await run_phase(url, texts, args.big_small, args.big_concurrency, args.phase_seconds, 7919)
        out["big_in_flight_throughout"] = not big.done()
        out["small"] = small
        try:
            status, payload = await asyncio.wait_for(big, args.big_timeout)
            out["big_status"] = status
            out["big_latency_s"] = round(time.perf_counter() - t0, 2)
            if status == 200:
                out["big_mentions"] = len(json.loads(payload)["mentions"])
            else:
                out["big_error"] = payload[:300].decode(errors="replace")
        except (TimeoutError, aiohttp.ClientError) as err:
            big.cancel()
            out["big_status"] = None
            out["big_error"] = f"{type(err).__name__}: {err} (after {args.big_timeout:g} s)"
        after = await health()
    out["big_long_steps"] = after["long_steps"] - before["long_steps"]
    return out


# -- report ------------------------------------------------------------------------------------
def environment() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "", None
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS"),
        "load_average_at_start": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
        "git_dirty": dirty,
    }


def targets(report: dict) -> dict:
    by_c = {p["concurrency"]: p for p in report["phases"]}
    at100 = by_c.get(100)
    small = report.get("big", {}).get("small", {})
    p99 = small.get("p99_ms")
    big = report.get("big", {})
    return {
        "0 errors at concurrency 100": None if at100 is None else at100["errors"] == 0,
        f"requests/s at concurrency 100 >= {TARGETS['rps_at_100']:g}": None
        if at100 is None
        else (at100["requests_per_s"] or 0) >= TARGETS["rps_at_100"],
        f"short p99 <= {TARGETS['big_small_p99_s']:g} s while the big request runs": None
        if p99 is None
        else p99 <= 1000 * TARGETS["big_small_p99_s"]
        and small.get("errors") == 0
        and bool(big.get("big_in_flight_throughout")),
    }


def markdown(report: dict) -> str:
    env, health = report["environment"], report["server"]["health"]
    lines = [
        "# tommer serve under load",
        "",
        f"Written by `scripts/load_test.py` on {report['date']} (git {env['git_commit']}"
        f"{', uncommitted changes' if env['git_dirty'] else ''}). Command: `{report['command']}`.",
        "",
        f"- Server: `{shlex.join(report['server']['command'])}`; model {health.get('model')}; "
        f"engine `{health.get('engine')}`; limits "
        + ", ".join(f"{k} {v}" for k, v in health.get("limits", {}).items()),
        f"- CPU: {env['cpu_model']} ({env['cpu_count']} CPUs), affinity {env['cpu_affinity']}, "
        f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}, MKL_NUM_THREADS={env['MKL_NUM_THREADS']}, "
        f"load average at start {env['load_average_at_start']}; the client runs on the same CPUs.",
        f"- Short texts: {report['texts']['source']}; {report['texts']['count']} texts, "
        f"mean {report['texts']['mean_chars']} characters.",
        "",
        "## Short requests",
        "",
        "CPU columns: CPU time over the phase's wall time (100% = one core), of the load client (this "
        "process) and of the server process.",
        "",
        "| concurrency | sent | ok | errors | requests/s | p50 ms | p99 ms | max ms | client CPU "
        "| server CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in report["phases"]:
        lines.append(
            f"| {p['concurrency']} | {p['sent']} | {p['ok']} | {p['errors']} | {p['requests_per_s']} | "
            f"{p['p50_ms']} | {p['p99_ms']} | {p['max_ms']} | {p.get('client_cpu_pct', '-')}% "
            f"| {p.get('server_cpu_pct', '-')}% |"
        )
    big = report.get("big")
    if big:
        s = big["small"]
        lines += [
            "",
            "## One big request in flight",
            "",
            f"A {big['big_body_bytes']:,}-byte body ({big['big_chars']:,} characters) sent first; "
            f"short requests started once the server was running it ({big['big_started_after_s']} s later).",
            "",
            "| short requests | concurrency | ok | errors | requests/s | p50 ms | p99 ms | max ms "
            "| big still running at the end |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|:--|",
            f"| {s['sent']} | {s['concurrency']} | {s['ok']} | {s['errors']} | {s['requests_per_s']} "
            f"| {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} "
            f"| {'yes' if big['big_in_flight_throughout'] else 'no'} |",
            "",
            f"The big request: status {big.get('big_status')}, {big.get('big_latency_s')} s, "
            f"{big.get('big_mentions', '-')} mentions, {big['big_long_steps']} window steps"
            + (f"; error: {big['big_error']}" if big.get("big_error") else "")
            + ".",
        ]
    lines += ["", "## Targets (issue #23)", "", "| target | met |", "|:--|:--|"]
    for name, met in report["targets"].items():
        lines.append(f"| {name} | {'n/a' if met is None else 'yes' if met else 'NO'} |")
    errors = [e for p in report["phases"] for e in p["error_samples"]]
    if big:
        errors += big["small"]["error_samples"]
    if errors:
        lines += ["", "Error samples:", "", *[f"- `{e}`" for e in errors[:10]]]
    final = report["server"].get("final_stats")
    if final:
        lines += [
            "",
            "Server counters at the end (`/health` stats): "
            + ", ".join(f"{k} {v}" for k, v in final.items()),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model for tommer serve (default: the shipped one)")
    ap.add_argument(
        "--requests", type=int, default=1000, help="short requests per concurrency (default: 1000)"
    )
    ap.add_argument("--concurrency", default="1,10,100", help="comma-separated (default: 1,10,100)")
    ap.add_argument("--warmup", type=int, default=20, help="requests before measuring (default: 20)")
    ap.add_argument("--phase-seconds", type=float, default=120.0, help="no new request after (default: 120)")
    ap.add_argument(
        "--big-bytes", type=int, default=990_000, help="big request size, 0: skip (default: 990000)"
    )
    ap.add_argument(
        "--big-small", type=int, default=300, help="short requests during the big one (default: 300)"
    )
    ap.add_argument("--big-concurrency", type=int, default=10, help="their concurrency (default: 10)")
    ap.add_argument(
        "--big-timeout", type=float, default=900.0, help="seconds to wait for the big one (default: 900)"
    )
    ap.add_argument("--max-chars", type=int, default=300, help="short texts' length bound (default: 300)")
    ap.add_argument(
        "--server-args", default="", help="more `tommer serve` options, e.g. '--max-batch-texts 16'"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "results" / "server_load"), help="writes OUT.json and OUT.md")
    args = ap.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    if not levels or min(levels) < 1 or args.requests < 1:
        ap.error("--concurrency needs positive integers and --requests must be >= 1")

    texts, source = short_texts(5000, args.max_chars, args.seed)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.mkdtemp(prefix="tommer-load-")) / "server.log"
    report: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "arguments": vars(args),
        "environment": environment(),
        "texts": {
            "source": source,
            "count": len(texts),
            "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
        },
        "targets_wanted": TARGETS,
    }
    proc, cmd = start_server(args, port, log_path)
    try:
        health = wait_healthy(url, proc, log_path, 300)
        report["server"] = {"command": cmd, "health": {k: v for k, v in health.items() if k != "stats"}}
        asyncio.run(run_phase(url, texts, args.warmup, 1, args.phase_seconds, 104729))
        report["phases"] = []
        for c in levels:
            client0, server0 = time.process_time(), process_cpu_s(proc.pid)
            phase = asyncio.run(run_phase(url, texts, args.requests, c, args.phase_seconds))
            phase = with_cpu(phase, time.process_time() - client0, process_cpu_s(proc.pid) - server0)
            print(json.dumps(phase), flush=True)
            report["phases"].append(phase)
        if args.big_bytes > 0:
            report["big"] = asyncio.run(run_big(url, texts, args))
            print(json.dumps(report["big"]), flush=True)
        import httpx

        report["server"]["final_stats"] = httpx.get(url + "/health", timeout=30).json()["stats"]
    finally:
        stop_server(proc)
    report["targets"] = targets(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    for name, met in report["targets"].items():
        print(f"{'n/a ' if met is None else 'PASS' if met else 'MISS'} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
