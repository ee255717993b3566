"""scripts/bench.py's pure helpers and report rendering on synthetic results (nothing is timed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("tommer_bench_script", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def t(best: float) -> dict:
    return {"best": best, "median": best, "runs": [best]}


def synthetic_workers() -> dict:
    env = {"torch_threads": 2, "cpu_capability": "AVX2", "mkldnn_bf16": False, "torch": "x"}
    model = {"model": "m", "fallback": False, "trained": True, "dtype": "float32", "layer": 6}
    return {
        "warm_runs": [
            {
                "wall_s": 3.0,
                "peak_rss_mb": 400.0,
                "process_to_first_mentions_s": 3.0,
                "result": {"import_s": 1.0, "load_s": s, "first_call_s": 0.1, "second_load_s": 0.5},
            }
            for s in (1.0, 1.5, 3.0)
        ],
        "rss": {
            "wall_s": 5.0,
            "peak_rss_mb": 450.0,
            "result": {
                "batch_size": 8,
                "peak_rss_after_import_mb": 250.0,
                "peak_rss_after_load_mb": 440.0,
                "peak_rss_after_detect_mb": 450.0,
                "env": env,
                "model": model,
            },
        },
        "tommer": {
            "wall_s": 9.0,
            "peak_rss_mb": 460.0,
            "result": {
                "best_batch_size": 8,
                "env": env,
                "rows": [
                    {"batch_size": 1, "seconds": t(2.0), "words_per_s": 500.0, "tokens_per_s": 600.0},
                    {"batch_size": 8, "seconds": t(1.0), "words_per_s": 1000.0, "tokens_per_s": 1200.0},
                ],
            },
        },
        "profile": {
            "wall_s": 9.0,
            "peak_rss_mb": 460.0,
            "result": {
                "rows": [
                    {
                        "corpus": c,
                        "batch_size": 8,
                        "groups_s": {"tokenize": 0.1, "backbone": 1.0, "probe": p, "decode+offsets": 0.05},
                        "probe_decode_over_backbone": p + 0.05,
                        "candidate_spans": 10,
                        "matches_detector": True,
                    }
                    for c, p in (("sentences", 0.05), ("document (2000 words)", 0.2))
                ]
            },
        },
        "backbone": {
            "wall_s": 1.0,
            "peak_rss_mb": 1.0,
            "result": {
                "layers": 6,
                "rows": [{"batch_size": 8, "seconds": t(0.5), "words_per_s": 2000.0, "tokens_per_s": 1.0}],
            },
        },
        "full": {
            "wall_s": 1.0,
            "peak_rss_mb": 1.0,
            "result": {
                "layers": 30,
                "rows": [{"batch_size": 8, "seconds": t(2.5), "words_per_s": 400.0, "tokens_per_s": 1.0}],
            },
        },
        "scaling": {
            "wall_s": 1.0,
            "peak_rss_mb": 1.0,
            "result": {
                "batch_size": 8,
                "rows": [
                    {"words": w, "tokens": w, "seconds": t(w / 1000), "words_per_s": 1000.0}
                    for w in (2000, 5000, 10000)
                ],
            },
        },
        "spacy": {
            "wall_s": 1.0,
            "peak_rss_mb": 1.0,
            "result": {
                "model": "en_core_web_sm 3.8.0",
                "rows": [
                    {
                        "variant": "full",
                        "pipes": ["ner"],
                        "seconds": t(1),
                        "words_per_s": 400.0,
                        "spacy_tokens_per_s": 1.0,
                    },
                    {
                        "variant": "ner",
                        "pipes": ["ner"],
                        "seconds": t(1),
                        "words_per_s": 800.0,
                        "spacy_tokens_per_s": 1.0,
                    },
                ],
                "doc_rows": [{"words": w, "seconds": t(w / 400), "words_per_s": 400.0} for w in (2000, 5000)],
            },
        },
    }


def test_make_document_has_exact_word_counts(bench):
    pool = ["Angela Merkel met Emmanuel Macron in Paris.", "A  b\tc\nd.", "One"]
    for words in (1, 5, 17, 250):
        doc = bench.make_document(pool, words)
        assert len(doc.split()) == words
        assert doc.startswith("Angela")


def test_linear_fit_is_exact_on_a_line(bench):
    fit = bench.linear_fit([1, 2, 3, 4], [3, 5, 7, 9])
    assert fit["slope"] == pytest.approx(2.0)
    assert fit["intercept"] == pytest.approx(1.0)
    assert fit["r2"] == pytest.approx(1.0)


def test_quick_defaults_and_overrides(bench):
    args = bench.parse_args(["--quick", "--repeats", "2"])
    assert args.sentences == bench.QUICK["sentences"]
    assert args.repeats == 2 and args.doc_repeats == 2
    full = bench.parse_args([])
    assert full.batch_sizes == "1,4,8,16,32" and full.repeats == 3


def test_summary_targets_and_reports(bench, tmp_path):
    workers = synthetic_workers()
    texts = {
        "sentences": ["a b"],
        "sentence_sources": [{"benchmark": "x", "sentences": 1}],
        "documents": ["a"],
    }
    args = bench.parse_args(["--quick", "--out", str(tmp_path / "bench")])
    machine = {
        "cpu": "cpu",
        "cores": 2,
        "cores_usable": 2,
        "platform": "p",
        "python": "3",
        "loadavg_start": [0.1, 0, 0],
        "loadavg_end": [2.0, 0, 0],
    }
    res = bench.assemble(args, "python scripts/bench.py --quick", machine, texts, workers)
    s = res["summary"]
    assert s["tommer_over_spacy"] == pytest.approx(2.5)
    assert s["probe_decode_over_backbone"] == pytest.approx(0.25)  # the worse of the two texts
    assert s["truncation_speedup"] == {"8": pytest.approx(5.0)}
    assert s["warm_start_s"] == pytest.approx(1.5)
    assert s["scaling_fit"]["r2"] == pytest.approx(1.0)
    status = {row["target"].split(" (")[0]: row["status"] for row in res["targets"]}
    assert status == {
        "tommer ÷ spaCy words/s": "PASS",
        "probe+decode ÷ backbone time": "MISS",
        "peak RSS, load + detect sentences": "PASS",
        "warm start: first tommer.load() in a new process, cache warm": "PASS",
        "linear in length: per-word time longest ÷ shortest": "PASS",
    }
    assert any("no native bf16" in n for n in res["notes"])
    assert not any("busy" in n for n in res["notes"])  # the end-of-run load is the benchmark's own
    md = bench.render_md(res)
    assert "| tommer end to end | 8 (best) |" in md and "**MISS**" in md
    bench.plot(res, tmp_path / "bench.png")
    assert (tmp_path / "bench.png").stat().st_size > 0


def test_missing_parts_render_as_na(bench):
    machine = {"cpu": "cpu", "cores": 2, "platform": "p", "python": "3", "loadavg_start": [3.0, 0, 0]}
    texts = {"sentences": ["a"], "sentence_sources": [], "documents": ["a"]}
    res = bench.assemble(bench.parse_args(["--quick"]), "cmd", machine, texts, {})
    assert {row["status"] for row in res["targets"]} == {"n/a"}
    assert any("busy" in n for n in res["notes"])
    assert "## Targets" in bench.render_md(res)


def test_bench_typed_report_ratios():
    """scripts/bench_typed.py: times relative to untyped detection and spaCy's multiple, from its rows."""
    path = BENCH.parent / "bench_typed.py"
    spec = importlib.util.spec_from_file_location("tommer_bench_typed_script", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    rows = [
        {"system": "untyped (default model)", "seconds": t(1.0), "words_per_s": 600.0, "mentions": 9},
        {"system": "supervised `m` (5 members)", "seconds": t(6.0), "words_per_s": 100.0, "mentions": 4},
        {"system": "spaCy x (full pipeline)", "seconds": t(0.3), "words_per_s": 2000.0, "mentions": 5},
    ]
    res = {
        "command": "python scripts/bench_typed.py",
        "sentences": 10,
        "words": 600,
        "batch_size": 8,
        "repeats": 2,
        "machine": {"cpu": "cpu", "cores_usable": 2},
        "torch_threads": 2,
        "backbone_dtype": "float32",
        "rows": rows,
    }
    md = module.render(res)
    assert "| supervised `m` (5 members) | 100 | 6.00 | 6.00 | 20.00 | 4 |" in md
    assert "| spaCy x (full pipeline) | 2000 | 0.30 | 0.30 | 1.00 | 5 |" in md
    assert module.parse_args([]).sentences == 300
