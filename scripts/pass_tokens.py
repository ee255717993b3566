"""Peak memory and speed against the token bound of a forward pass: what ``PASS_TOKENS`` is.

For each bound and engine, a new process runs ``tommer detect -i corpus.jsonl -o out.jsonl`` (the
bench's ~100k-word corpus: test sentences of 8 benchmarks, one record each) with
``tommer.core.detector.PASS_TOKENS`` set to the bound; wall time and peak RSS come from ``os.wait4``,
best of ``--repeats`` runs after one warm-up. It also checks that every bound finds the same mentions
as the loosest one. Writes results/pass_tokens.md and .json.

    python scripts/pass_tokens.py [--bounds 100000,2048,1024,512] [--engines onnx,openvino]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from speedbench.common import cpu_flags, run_process
from speedbench.corpus import DEFAULT_BENCHMARKS, interleave, load_sentences, write_jsonl

from tommer.core.detector import PASS_TOKENS

ROOT = Path(__file__).resolve().parents[1]
RUN = (
    "import sys, tommer.core.detector as d; d.PASS_TOKENS = int(sys.argv[1]); "
    "from tommer.cli.main import main; sys.exit(main(sys.argv[2:]))"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bounds", default="100000,2048,1024,512")
    ap.add_argument("--engines", default="onnx,openvino")
    ap.add_argument("--words", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--data", default=os.environ.get("TOMMER_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--out", default=str(ROOT / "results" / "pass_tokens"))
    args = ap.parse_args(argv)
    bounds = [int(b) for b in args.bounds.split(",")]
    engines = args.engines.split(",")

    work = Path(tempfile.mkdtemp(prefix="pass-tokens-"))
    texts, sources = load_sentences(Path(args.data), DEFAULT_BENCHMARKS, args.words)
    corpus = work / "corpus.jsonl"
    write_jsonl(corpus, interleave(texts, sources))
    words = sum(len(t.split()) for t in texts)

    def detect(bound: int, engine: str, tag: str) -> tuple[dict, Path]:
        out = work / f"{engine}-{bound}-{tag}.jsonl"
        cmd = [sys.executable, "-c", RUN, str(bound), "detect", "-i", str(corpus), "-o", str(out)]
        rec = run_process(cmd + ["--overwrite", "-q", "--engine", engine], work, f"{engine}-{bound}-{tag}")
        if rec["exit_code"] != 0:
            raise SystemExit(rec["error"])
        return rec, out

    rows = []
    for engine in engines:
        detect(bounds[0], engine, "warm-up")
        reference = None
        for bound in bounds:
            runs = [detect(bound, engine, str(k)) for k in range(args.repeats)]
            mentions = [json.loads(line)["mentions"] for line in runs[0][1].read_text().splitlines()]
            reference = mentions if reference is None else reference
            best = min(r["wall_s"] for r, _ in runs)
            rows.append({
                "engine": engine,
                "pass_tokens": bound,
                "seconds": best,
                "words_per_s": words / best,
                "peak_rss_mb": max(r["peak_rss_mb"] for r, _ in runs),
                "runs": [r for r, _ in runs],
                "same_mentions": mentions == reference,
            })
            print(rows[-1]["engine"], bound, f"{best:.2f} s", f"{rows[-1]['peak_rss_mb']:.0f} MB", flush=True)

    flags = sorted(set(cpu_flags()) & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
    report = {"words": words, "records": len(texts), "cpu_flags": flags, "shipped": PASS_TOKENS, "rows": rows}
    out = Path(args.out)
    out.with_name(out.name + ".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Peak memory and speed against the token bound of a forward pass",
        "",
        "Command: `python scripts/pass_tokens.py`",
        "",
        "`tommer detect -i corpus.jsonl -o out.jsonl --engine E`, a new process per run, on "
        f"{len(texts)} test sentences ({words} words), `tommer.core.detector.PASS_TOKENS` set per row; "
        f"best of {args.repeats} runs after a warm-up; peak RSS: the most of those runs (`os.wait4`, "
        f"MB = 10⁶ bytes). CPU flags: `{' '.join(flags)}`, {os.cpu_count()} cores. "
        f"Shipped: `PASS_TOKENS = {PASS_TOKENS}`.",
        "",
        "| engine | PASS_TOKENS | seconds | words/s | peak RSS (MB) | same mentions as the first row |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['engine']} | {r['pass_tokens']} | {r['seconds']:.2f} | {r['words_per_s']:.0f} | "
        f"{r['peak_rss_mb']:.0f} | {'yes' if r['same_mentions'] else 'no'} |"
        for r in rows
    ]
    out.with_name(out.name + ".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
