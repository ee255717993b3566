"""Peak memory and speed against the shape of a forward pass: what ``PASS_TOKENS``, and the openvino
engine's ``TOKEN_STEP`` and ``SHAPE_CACHE``, are.

For each setting and engine, a new process runs ``tommer detect -i corpus.jsonl -o out.jsonl`` (the
bench's ~100k-word corpus: test sentences of 8 benchmarks, one record each) with
``tommer.core.detector.PASS_TOKENS`` (and, for openvino, ``tommer.core.engines.openvino_engine``'s
``TOKEN_STEP`` and ``SHAPE_CACHE``) set to it; wall time and peak RSS come from ``os.wait4``, best of
``--repeats`` runs after one warm-up. It also measures how far each setting's mentions agree with the
engine's first setting (DICE of the mention sets; bf16 rounds by batch shape, so padding can move a
score across the threshold). Writes results/pass_tokens.md and .json.

    python scripts/pass_tokens.py [--bounds 100000,2048,1024,512] [--engines onnx,openvino]
        [--token-steps 16] [--shape-caches 32]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path

from speedbench.common import cpu_flags, run_process
from speedbench.corpus import DEFAULT_BENCHMARKS, interleave, load_sentences, mention_spans, write_jsonl

from tommer.cli.detect import CHUNK_SIZE
from tommer.core.detector import PASS_TOKENS
from tommer.core.engines.openvino_engine import SHAPE_CACHE, TOKEN_STEP
from tommer.evaluation.compare import dice

ROOT = Path(__file__).resolve().parents[1]
RUN = (
    "import sys, tommer.core.detector as d, tommer.core.engines.openvino_engine as ov; "
    "d.PASS_TOKENS, ov.TOKEN_STEP, ov.SHAPE_CACHE = map(int, sys.argv[1:4]); "
    "from tommer.cli.main import main; sys.exit(main(sys.argv[4:]))"
)


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def chunk_windows(texts: list[str]) -> list[list]:
    """The windows of each detector call of ``tommer detect -i`` (one per chunk of records); they do
    not depend on the settings swept here."""
    import tommer

    model = tommer.load(engine="onnx")
    return [model.preprocess(texts[k : k + CHUNK_SIZE])[1] for k in range(0, len(texts), CHUNK_SIZE)]


def padded_share(chunks: list[list], setting: tuple[int, int, int]) -> float:
    """The share of padding in the tokens that the openvino engine's passes run on, for ``setting``
    (the detector's own batching: ``forward_batches`` with the engine's shape buckets)."""
    import tommer.core.detector as detector
    import tommer.core.engines.openvino_engine as ov

    saved = detector.PASS_TOKENS, ov.TOKEN_STEP
    detector.PASS_TOKENS, ov.TOKEN_STEP = setting[:2]
    try:
        real = padded = 0
        for windows in chunks:
            for batch in detector.forward_batches(windows, detector.BATCH_SIZE, ov.bucket):
                rows, tokens = ov.bucket(len(batch), max(w.length for w in batch))
                real, padded = real + sum(w.length for w in batch), padded + rows * tokens
        return 1 - real / padded
    finally:
        detector.PASS_TOKENS, ov.TOKEN_STEP = saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bounds", default="100000,2048,1024,512", help="PASS_TOKENS values")
    ap.add_argument("--engines", default="onnx,openvino")
    ap.add_argument("--token-steps", default=str(TOKEN_STEP), help="openvino's TOKEN_STEP values")
    ap.add_argument("--shape-caches", default=str(SHAPE_CACHE), help="openvino's SHAPE_CACHE values")
    ap.add_argument("--words", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--data", default=os.environ.get("TOMMER_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--out", default=str(ROOT / "results" / "pass_tokens"))
    args = ap.parse_args(argv)
    engines = args.engines.split(",")

    work = Path(tempfile.mkdtemp(prefix="pass-tokens-"))
    texts, sources = load_sentences(Path(args.data), DEFAULT_BENCHMARKS, args.words)
    corpus = work / "corpus.jsonl"
    records = interleave(texts, sources)
    write_jsonl(corpus, records)
    words = sum(len(t.split()) for t in texts)
    chunks = chunk_windows(records) if "openvino" in engines else []

    def detect(setting: tuple[int, int, int], engine: str, tag: str) -> tuple[dict, Path]:
        name = f"{engine}-{'-'.join(map(str, setting))}-{tag}"
        out = work / f"{name}.jsonl"
        cmd = [sys.executable, "-c", RUN, *map(str, setting), "detect", "-i", str(corpus), "-o", str(out)]
        rec = run_process(cmd + ["--overwrite", "-q", "--engine", engine], work, name)
        if rec["exit_code"] != 0:
            raise SystemExit(rec["error"])
        return rec, out

    rows = []
    for engine in engines:
        openvino = engine == "openvino"  # the other engines have no shape buckets
        steps, caches = (
            (ints(args.token_steps), ints(args.shape_caches)) if openvino else ([TOKEN_STEP], [SHAPE_CACHE])
        )
        settings = list(itertools.product(ints(args.bounds), steps, caches))
        detect(settings[0], engine, "warm-up")
        reference = None
        for setting in settings:
            runs = [detect(setting, engine, str(k)) for k in range(args.repeats)]
            mentions = mention_spans(runs[0][1])
            reference = mentions if reference is None else reference
            best = min(r["wall_s"] for r, _ in runs)
            rows.append(
                {
                    "engine": engine,
                    "pass_tokens": setting[0],
                    "token_step": setting[1] if openvino else None,
                    "shape_cache": setting[2] if openvino else None,
                    "seconds": best,
                    "words_per_s": words / best,
                    "peak_rss_mb": max(r["peak_rss_mb"] for r, _ in runs),
                    "runs": [r for r, _ in runs],
                    "padding": padded_share(chunks, setting) if openvino else None,
                    "mentions": sum(map(len, mentions)),
                    "dice_to_first": dice(mentions, reference),
                }
            )
            print(engine, setting, f"{best:.2f} s", f"{rows[-1]['peak_rss_mb']:.0f} MB", flush=True)

    flags = sorted(set(cpu_flags()) & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
    report = {
        "words": words,
        "records": len(texts),
        "cpu_flags": flags,
        "argv": sys.argv[1:] if argv is None else argv,
        "shipped": {"pass_tokens": PASS_TOKENS, "token_step": TOKEN_STEP, "shape_cache": SHAPE_CACHE},
        "rows": rows,
    }
    out = Path(args.out)
    out.with_name(out.name + ".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_name(out.name + ".md").write_text(render(report, args.repeats))
    return 0


def render(report: dict, repeats: int) -> str:
    shipped = report["shipped"]
    command = " ".join(["python scripts/pass_tokens.py", *report["argv"]])
    lines = [
        "# Peak memory and speed against the shape of a forward pass",
        "",
        f"Command: `{command}`",
        "",
        "`tommer detect -i corpus.jsonl -o out.jsonl --engine E`, a new process per run, on "
        f"{report['records']} test sentences ({report['words']} words), `tommer.core.detector.PASS_TOKENS` "
        "(and openvino's `TOKEN_STEP`, `SHAPE_CACHE`) set per row; "
        f"best of {repeats} runs after a warm-up; peak RSS: the most of those runs (`os.wait4`, "
        f"MB = 10⁶ bytes); padding: the share of padding tokens in openvino's passes (its shape buckets, "
        f"the detector's batching over chunks of {CHUNK_SIZE} records); DICE: of the row's mention set with "
        "the engine's first row. "
        f"CPU flags: `{' '.join(report['cpu_flags'])}`, {os.cpu_count()} cores. Shipped: "
        f"`PASS_TOKENS = {shipped['pass_tokens']}`, `TOKEN_STEP = {shipped['token_step']}`, "
        f"`SHAPE_CACHE = {shipped['shape_cache']}`.",
        "",
        "| engine | PASS_TOKENS | TOKEN_STEP | SHAPE_CACHE | padding | seconds | words/s | peak RSS (MB) "
        "| mentions | DICE to the first row |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['engine']} | {r['pass_tokens']} | {r['token_step'] or '–'} | {r['shape_cache'] or '–'} "
        f"| {'–' if r['padding'] is None else format(r['padding'], '.1%')} "
        f"| {r['seconds']:.2f} | {r['words_per_s']:.0f} | {r['peak_rss_mb']:.0f} | {r['mentions']} | "
        f"{r['dice_to_first']:.4f} |"
        for r in report["rows"]
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
