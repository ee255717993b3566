"""``tommer judge``: precision of predicted mentions according to an LLM judge."""

from __future__ import annotations

import argparse

from ..core.decoding import DECODERS, DEFAULT_DECODING
from ..core.layout import DEFAULT_MODEL
from .common import command_line, logger


def run(args: argparse.Namespace) -> int:
    """Run ``tommer judge``."""
    from ..evaluation.judge import run_judge

    report = run_judge(
        backend=args.backend,
        judge_model=args.judge_model,
        base_url=args.base_url,
        api_key=args.api_key,
        model=args.model,
        benchmark=args.benchmark,
        split=args.split,
        data_root=args.data_root,
        sample=args.sample,
        controls=args.controls,
        sentences=args.sentences,
        seed=args.seed,
        threshold=args.threshold,
        decoding=args.decoding,
        batch_size=args.batch_size,
        cache=args.cache,
        max_new_tokens=args.max_new_tokens,
        timeout=args.timeout,
        out_dir=args.out,
        command=command_line(args),
        log=logger(args),
        progress=not args.quiet,
    )
    p, gp, rel = report["precision"], report["gold_precision"], report["reliability"]
    print(
        f"judge precision {p['yes']}/{p['judged']} ({p['unparseable']} unparseable); "
        f"gold precision {gp['matches']}/{gp['sampled']}; yes on gold {rel['gold']['yes']}/"
        f"{rel['gold']['judged']}, on wrong spans {rel['wrong (both)']['yes']}/"
        f"{rel['wrong (both)']['judged']}"
    )
    return 0


def add_parser(sub) -> None:
    """Add the command's subparser to ``sub`` (``argparse`` subparsers)."""
    jd = sub.add_parser("judge", help="precision of predicted mentions according to an LLM judge")
    jd.add_argument("--backend", choices=["local", "http"], default="local")
    jd.add_argument("--judge-model", help="local: preset, HF dir or .gguf (smollm2-135m); http: model name")
    jd.add_argument("--base-url", help="http: OpenAI-compatible base URL, e.g. http://localhost:8000/v1")
    jd.add_argument("--api-key", help="http: API key (default $TOMMER_JUDGE_API_KEY or $OPENAI_API_KEY)")
    jd.add_argument("--timeout", type=float, default=60.0, help="http: seconds per request")
    jd.add_argument("--model", default=DEFAULT_MODEL, help="the detector whose predictions are judged")
    jd.add_argument("--benchmark", default="CoNLL 2003")
    jd.add_argument("--split", default="dev")
    jd.add_argument("--data-root", help="folder holding benchmarks/ (default $TOMMER_DATA)")
    jd.add_argument("--sample", type=int, default=100, help="predicted mentions to judge")
    jd.add_argument("--controls", type=int, default=25, help="gold and wrong control spans (each)")
    jd.add_argument("--sentences", type=int, default=200, help="sentences drawn to predict on")
    jd.add_argument("--seed", type=int, default=0)
    jd.add_argument("--threshold", type=float, help="minimum span probability (default: the model's)")
    jd.add_argument("--decoding", choices=sorted(DECODERS), default=DEFAULT_DECODING)
    jd.add_argument("--batch-size", type=int, default=8)
    jd.add_argument("--cache", help="judgment cache .jsonl (default ~/.cache/tommer/judge/; 'none': off)")
    jd.add_argument("--max-new-tokens", type=int, default=60)
    jd.add_argument("--out", help="write judge.json and judge.md here")
    jd.add_argument("-q", "--quiet", action="store_true")
    jd.set_defaults(func=run)
