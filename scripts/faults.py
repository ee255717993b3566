"""Inject faults into real ``tommer`` processes and count what they lose (issue #23 item 4).

Each fault runs the CLI in a subprocess on a JSONL corpus of ``--records`` records with an ``id``,
against an uninterrupted run's output, and counts records lost (an input id missing from the final
output), duplicated (an id twice) and whether the output is byte-identical to the reference; every
stderr is searched for a Python traceback.

- ``kill -9`` mid-run, then ``--resume``;
- SIGTERM mid-run (exit 143), then ``--resume``;
- a file size limit (RLIMIT_FSIZE at a third of the output) hit mid-run, then ``--resume``;
- SIGTERM during a Parquet output: no torn Parquet file is left (the run is written whole);
- a corrupted export in a fresh ``$TOMMER_CACHE`` (zeroed weights in the middle of the largest file
  the default engine reads): the next run must rebuild it and give the reference records;
- a tampered model directory (a torn or missing ``model.safetensors``): exit 2, the file named;
- (with the ``ray`` extra) a Ray actor killed with SIGKILL mid-run: the parts hold every record once.

    python scripts/faults.py                    # results/faults.json (read by scripts/reliability.py)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tommer.core.engines import resolve_engine
from tommer.core.engines.build import ENGINE_FILES, EXPORT_FILES

ROOT = Path(__file__).resolve().parent.parent
TOMMER = [sys.executable, "-m", "tommer.cli", "detect", "-q"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CHUNK = "16"
NAMES = ["Angela Merkel", "Barack Obama", "Google", "Paris", "the United Nations", "Tokyo", "Marie Curie"]
VERBS = ["met", "visited", "praised", "left", "talked about", "moved to"]


RESULTS = Path(__file__).resolve().parent.parent / "results"  # written here from any cwd


def write_corpus(path: Path, n: int) -> None:
    rng = random.Random(0)
    with path.open("w") as f:
        for k in range(n):
            text = f"{rng.choice(NAMES)} {rng.choice(VERBS)} {rng.choice(NAMES)} on day {k}."
            f.write(json.dumps({"id": k, "text": text}) + "\n")


def detect(src: Path, out: Path, *extra: str, env: dict | None = None, limit: int | None = None):
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    argv = [*TOMMER, "-i", str(src), "-o", str(out), "--chunk-size", CHUNK, *extra]
    return subprocess.Popen(
        argv, env=env or ENV, stderr=subprocess.PIPE, text=True, preexec_fn=cap if limit else None
    )


def finish(proc) -> tuple[int, str]:
    _, err = proc.communicate()
    return proc.returncode, err


def wait_until(proc, ready, missing: str) -> None:
    """Poll until ``ready()`` (the run is mid-way), or stop: the run ended first, or 300 s passed."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            raise SystemExit(f"the run ended before the fault: {proc.stderr.read()[-2000:]}")
        time.sleep(0.02)
    raise SystemExit(missing)


def wait_for_lines(proc, out: Path, lines: int = 2) -> None:
    wait_until(
        proc,
        lambda: out.exists() and out.read_bytes().count(b"\n") >= lines,
        "the run wrote nothing in 300 s",
    )


def wait_for_partial(proc, partial: Path) -> None:
    """Until the Parquet run has written its first chunk (the writer opens ``<output>.partial`` at the
    first write, inside the chunk loop, so its signal handlers are installed by then: a fixed sleep
    could signal a process that is still loading)."""
    wait_until(proc, partial.exists, f"{partial} was not written in 300 s")


def count(out_bytes: bytes, n: int) -> dict:
    ids = [json.loads(line)["id"] for line in out_bytes.decode().splitlines()]
    seen = set(ids)
    return {"lost": len(set(range(n)) - seen), "duplicated": len(ids) - len(seen)}


def fault(name: str, reference: bytes, out: Path, n: int, errs: list[str], codes: list[int]) -> dict:
    data = out.read_bytes() if out.exists() else b""
    return {
        "fault": name,
        **count(data, n),
        "identical": data == reference,
        "exit_codes": codes,
        "traceback": any("Traceback" in e for e in errs),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=600)
    ap.add_argument("--out", default=str(RESULTS / "faults.json"))
    args = ap.parse_args(argv)
    n = args.records
    work = Path(tempfile.mkdtemp(prefix="tommer-faults-"))
    src = work / "in.jsonl"
    write_corpus(src, n)
    code, err = finish(detect(src, work / "ref.jsonl"))
    assert code == 0, err
    reference = (work / "ref.jsonl").read_bytes()
    results = []

    def interrupted(name: str, how) -> None:
        print(name, file=sys.stderr, flush=True)
        out = work / f"{name.split()[0]}.jsonl"
        proc = how(out)
        code1, err1 = finish(proc)
        code2, err2 = finish(detect(src, out, "--resume"))
        results.append(fault(name, reference, out, n, [err1, err2], [code1, code2]))

    def kill(sig):
        def how(out):
            proc = detect(src, out)
            wait_for_lines(proc, out)
            proc.send_signal(sig)
            return proc

        return how

    interrupted("kill -9 mid-run, then --resume", kill(signal.SIGKILL))
    interrupted("SIGTERM mid-run, then --resume", kill(signal.SIGTERM))
    interrupted(
        "RLIMIT_FSIZE at 1/3 of the output, then --resume",
        lambda out: detect(src, out, limit=len(reference) // 3),
    )

    print("SIGTERM during a Parquet output", file=sys.stderr, flush=True)
    pq_out = work / "out.parquet"
    proc = detect(src, pq_out)
    wait_for_partial(proc, pq_out.with_name(pq_out.name + ".partial"))  # mid-run, handler installed
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)
    results.append(
        {
            "fault": "SIGTERM during a Parquet output",
            "lost": None,
            "duplicated": None,
            "identical": None,
            "exit_codes": [code],
            "traceback": "Traceback" in err,
            "torn_files_left": [p.name for p in work.iterdir() if p.name.startswith("out.parquet")],
        }
    )

    print("corrupted export", file=sys.stderr, flush=True)
    cache = work / "cache"
    env = {**ENV, "TOMMER_CACHE": str(cache)}
    code1, err1 = finish(detect(src, work / "onnx1.jsonl", env=env))  # builds the export
    engine = resolve_engine()  # the default engine's largest file (openvino reads no ONNX file)
    names = ENGINE_FILES.get(engine, EXPORT_FILES)
    (directory,) = cache.glob("engines/*/")
    model = max((directory / name for name in names), key=lambda p: p.stat().st_size)
    data = bytearray(model.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    model.write_bytes(bytes(data))
    code2, err2 = finish(detect(src, work / "onnx2.jsonl", env=env))
    entry = fault(
        "corrupted export (zeroed weights in its engine's largest file)",
        reference,
        work / "onnx2.jsonl",
        n,
        [err1, err2],
        [code1, code2],
    )
    entry |= {"engine": engine, "file": model.name, "rebuilt": model.read_bytes() != bytes(data)}
    results.append(entry)

    for how in ("torn", "missing"):
        print(f"{how} model.safetensors", file=sys.stderr, flush=True)
        model_dir = work / f"model-{how}"
        from tommer.core.layout import resolve_model_dir

        shutil.copytree(resolve_model_dir("smollm2-135m"), model_dir)
        weights = model_dir / "model.safetensors"
        if how == "torn":
            weights.write_bytes(weights.read_bytes()[:1000])
        else:
            weights.unlink()
        code, err = finish(detect(src, work / f"{how}.jsonl", "--model", str(model_dir)))
        results.append(
            {
                "fault": f"{how} model.safetensors",
                "lost": None,
                "duplicated": None,
                "identical": None,
                "exit_codes": [code],
                "traceback": "Traceback" in err,
                "error_names_the_file": "model.safetensors" in err,
                "output_written": (work / f"{how}.jsonl").exists(),
            }
        )

    results.append(ray_actor_killed(src, work, reference, n))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"command": "python scripts/faults.py", "records": n, "faults": results}, indent=2) + "\n"
    )
    shutil.rmtree(work)
    print(json.dumps(results, indent=2))
    return 0


def ray_actor_killed(src: Path, work: Path, reference: bytes, n: int) -> dict:
    print("Ray actor killed", file=sys.stderr, flush=True)
    try:
        import ray  # noqa: F401
    except ImportError:
        return {"fault": "Ray actor killed mid-run", "skipped": "the ray extra is not installed"}
    out = work / "ray-out"
    argv = [*TOMMER, "--ray", "--workers", "2", "-i", str(src), "-o", str(out), "--chunk-size", CHUNK]
    env = {k: v for k, v in ENV.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        actors = [int(p) for p in os.listdir("/proc") if p.isdigit() and _is_actor(p)]
        if actors:
            time.sleep(3.0)
            alive = [a for a in actors if Path(f"/proc/{a}").exists()]
            if alive:
                os.kill(min(alive), signal.SIGKILL)
                killed = min(alive)
        time.sleep(0.05)
    code, err = finish(proc)
    data = b"".join(p.read_bytes() for p in sorted(out.glob("*.jsonl"))) if out.exists() else b""
    return {
        "fault": "Ray actor killed with SIGKILL mid-run (2 workers)",
        **count(data, n),
        "identical": data == reference,
        "exit_codes": [code],
        "traceback": "Traceback" in err,
        "killed": killed is not None,
    }


def _is_actor(pid: str) -> bool:
    try:
        return b"MapBatches(_Annotator)" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
