"""The openvino engine in fp32 against the onnx engine, whole process: a stand-in, on a CPU with
native bf16, for the choice ``auto`` makes on CPUs without it (there it picks ``onnx``).

Each run is a new process of ``tommer detect -i corpus.jsonl -o out.jsonl`` on the bench's corpus
(test sentences of 8 benchmarks, one record each), timed with its peak RSS by
``speedbench.common.run_process``; rounds interleave the systems, best of ``--repeats`` after a
warm-up. ``openvino-fp32`` is the openvino engine with ``tommer.core.engines.openvino_engine``'s
``native_bf16`` answering False (so it compiles for f32, as on a CPU without native bf16); its
mentions are compared with ``onnx``'s (DICE of the (record, start, end) sets). Both run on this CPU's
widest vector units, so the ratio is a stand-in only: it needs a run on an AVX2-only CPU before
``auto`` changes. Writes results/tried/openvino_fp32.md and .json.

    python experiments/openvino_fp32.py [--repeats 3] [--words 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from speedbench.common import cpu_flags, run_process  # noqa: E402
from speedbench.corpus import (  # noqa: E402
    DEFAULT_BENCHMARKS,
    interleave,
    load_sentences,
    mention_spans,
    write_jsonl,
)

from tommer.evaluation.compare import dice  # noqa: E402

RUN = (
    "import sys, tommer.core.engines.openvino_engine as ov; "
    "ov.native_bf16 = (lambda: False) if sys.argv[1] == 'fp32' else ov.native_bf16; "
    "from tommer.cli.main import main; sys.exit(main(sys.argv[2:]))"
)
SYSTEMS = {
    "onnx": ("onnx", "native"),
    "openvino-fp32": ("openvino", "fp32"),
    "openvino": ("openvino", "native"),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", default=os.environ.get("TOMMER_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--out", default=str(ROOT / "results" / "tried" / "openvino_fp32"))
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="openvino-fp32-"))
    texts, sources = load_sentences(Path(args.data), DEFAULT_BENCHMARKS, args.words)
    corpus = write_jsonl(work / "corpus.jsonl", interleave(texts, sources))
    words = sum(len(t.split()) for t in texts)

    def detect(system: str, tag: str) -> tuple[dict, Path]:
        engine, precision = SYSTEMS[system]
        out = work / f"{system}-{tag}.jsonl"
        cmd = [sys.executable, "-c", RUN, precision, "detect", "-i", str(corpus), "-o", str(out)]
        rec = run_process(cmd + ["--overwrite", "-q", "--engine", engine], work, f"{system}-{tag}")
        if rec["exit_code"] != 0:
            raise SystemExit(rec["error"])
        return rec, out

    runs: dict[str, list[dict]] = {s: [] for s in SYSTEMS}
    found: dict[str, list] = {}
    for system in SYSTEMS:
        detect(system, "warm-up")
    for k in range(args.repeats):
        for system in SYSTEMS:
            rec, out = detect(system, str(k))
            runs[system].append(rec)
            found.setdefault(system, mention_spans(out))
            print(system, f"{rec['wall_s']:.2f} s", f"{rec['peak_rss_mb']:.0f} MB", flush=True)

    ref = found["onnx"]
    rows = []
    for system, recs in runs.items():
        best = min(r["wall_s"] for r in recs)
        a = found[system]
        rows.append(
            {
                "system": system,
                "seconds": best,
                "words_per_s": words / best,
                "peak_rss_mb": max(r["peak_rss_mb"] for r in recs),
                "mentions": sum(map(len, a)),
                "dice_to_onnx": dice(a, ref),
                "runs": recs,
            }
        )
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx", "amx")))
    report = {
        "argv": sys.argv[1:] if argv is None else argv,
        "words": words,
        "records": len(texts),
        "cpu_flags": flags,
        "cores": os.cpu_count(),
        "rows": rows,
    }
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    onnx = rows[0]["words_per_s"]
    lines = [
        "# The openvino engine in fp32 against onnx, whole process",
        "",
        f"Command: `{' '.join(['python experiments/openvino_fp32.py', *report['argv']])}`",
        "",
        "`tommer detect -i corpus.jsonl -o out.jsonl`, a new process per run, on "
        f"{len(texts)} test sentences ({words} words); best of {args.repeats} interleaved rounds "
        "after a warm-up; peak RSS: the most of those runs (MB = 10⁶ bytes). `openvino-fp32`: the "
        "openvino engine compiled for f32, as on a CPU without native bf16. CPU flags: "
        f"`{' '.join(flags)}`, {os.cpu_count()} cores: a stand-in only for a CPU with AVX2 and no "
        "native bf16.",
        "",
        "| system | seconds | words/s | × onnx | peak RSS (MB) | mentions | DICE to onnx |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['system']} | {r['seconds']:.2f} | {r['words_per_s']:.0f} | {r['words_per_s'] / onnx:.2f} | "
        f"{r['peak_rss_mb']:.0f} | {r['mentions']} | {r['dice_to_onnx']:.4f} |"
        for r in rows
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
