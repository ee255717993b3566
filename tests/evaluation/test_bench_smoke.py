"""scripts/bench.py and its parts (scripts/speedbench/): pure helpers and report rendering on synthetic
results (nothing is timed; one test starts small processes to check the memory measurement)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("tommer_bench_script", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # puts scripts/ on sys.path: speedbench is importable from here on
    return module


def t(best: float) -> dict:
    return {"best": best, "median": best, "runs": [best]}


MACHINE = {
    "cpu": "cpu",
    "cpu_flags": ["avx2", "fma"],
    "native_bf16": False,
    "auto_engine": "onnx",
    "cores": 2,
    "cores_usable": 2,
    "engine_threads": 2,
    "omp_num_threads": None,
    "platform": "p",
    "python": "3",
    "loadavg_start": [0.1, 0, 0],
    "loadavg_end": [2.0, 0, 0],
}
TEXTS = {
    "data_root": "d",
    "sentences": 2,
    "words": 1000,
    "sources": [{"benchmark": "x", "sentences": 2, "words": 1000}],
    "warmup_sentences": 2,
    "sweep_sentences": 1,
    "sweep_words": 500,
    "document_words": [250, 500, 1000],
}


def whole(wps: float, rss: float, words: int = 1000) -> dict:
    return {
        "warmup": {"wall_s": 1.0},
        "runs": [],
        "seconds": t(words / wps),
        "words_per_s": wps,
        "peak_rss_mb": rss,
        "found": 7,
        "stats": None,
    }


def synthetic_parts() -> dict:
    spacy = whole(400.0, 350.0)
    spacy["stats"] = {
        "model": "sm 3.8",
        "spacy": "3.8",
        "pipes": ["ner"],
        "import_s": 1.0,
        "load_s": 0.5,
        "pipe_s": 1.0,
    }
    split = {"import_s": 0.2, "runtime_s": 0.1, "load_s": 0.5, "first_call_s": 0.05, "rest_s": 0.1}
    return {
        "texts": TEXTS,
        "whole_process": {
            "tommer:torch-fp32": whole(500.0, 600.0),
            "tommer:onnx": whole(1000.0, 380.0),
            "tommer:onnx-int8": {"warmup": {"error": "boom"}, "runs": []},
            "spacy:full": spacy,
            "spacy:ner": dict(spacy, words_per_s=800.0, seconds=t(1.25)),
        },
        "in_process": {
            "wall_s": 5.0,
            "peak_rss_mb": 390.0,
            "exit_code": 0,
            "result": {
                "engine": "onnx",
                "ran_as": "onnx",
                "threads": 2,
                "sweep": {
                    "texts": 10,
                    "words": 500,
                    "rows": [
                        {"batch_size": 1, "seconds": t(1.0), "words_per_s": 500.0, "mentions": 3},
                        {"batch_size": 8, "seconds": t(0.5), "words_per_s": 1000.0, "mentions": 3},
                    ],
                },
                "best_batch_size": 8,
                "scaling": {
                    "batch_size": 8,
                    "rows": [
                        {
                            "words": w,
                            "seconds": t(w / 1000),
                            "ms_per_1k_words": 1000.0,
                            "words_per_s": 1000.0,
                            "mentions": 1,
                        }
                        for w in (250, 500, 1000)
                    ],
                    "fit": {"slope": 0.001, "intercept": 0.0, "r2": 1.0},
                    "per_word_ratio": 1.0,
                },
            },
        },
        "warm_start": {
            "onnx": {
                "cli_runs": [],
                "probe_runs": [],
                "seconds": t(1.2),
                "peak_rss_mb": 300.0,
                "split_median": split,
                "imported_torch": False,
                "ran_as": "onnx",
            },
            "torch-fp32": {
                "cli_runs": [],
                "probe_runs": [],
                "seconds": t(4.0),
                "peak_rss_mb": 600.0,
                "split_median": split,
                "imported_torch": True,
                "ran_as": "torch-fp32",
            },
        },
        "cold_start": {
            "onnx": {
                "wall_s": 60.0,
                "peak_rss_mb": 1400.0,
                "exit_code": 0,
                "split": split,
                "built_mb": {"backbones": 270.0, "engines": 200.0},
            },
        },
    }


def write_agreement(path: Path) -> Path:
    rows = [
        {"engine": "torch-fp32", "ran_as": "torch-fp32", "dice": 1.0, "delta_recall": 0.0, "eligible": True},
        {"engine": "onnx", "ran_as": "onnx", "dice": 0.999, "delta_recall": 0.1, "eligible": True},
        {"engine": "onnx-int8", "ran_as": "onnx-int8", "dice": 0.86, "delta_recall": -1.6, "eligible": False},
    ]
    path.write_text(json.dumps({"cpu": "x", "native_bf16": True, "limit": 200, "engines": rows}))
    return path


def test_make_document_has_exact_word_counts(bench):
    from speedbench.corpus import make_document

    pool = ["Angela Merkel met Emmanuel Macron in Paris.", "A  b\tc\nd.", "One"]
    for words in (1, 5, 17, 250):
        doc = make_document(pool, words)
        assert len(doc.split()) == words
        assert doc.startswith("Angela")


def test_interleave_and_subsample(bench):
    from speedbench.corpus import interleave, subsample

    texts = ["a1", "a2", "a3", "b1", "b2"]
    sources = [{"benchmark": "a", "sentences": 3}, {"benchmark": "b", "sentences": 2}]
    assert interleave(texts, sources) == ["a1", "b1", "a2", "b2", "a3"]
    assert subsample(["w w"] * 10, 5) == ["w w"] * 3  # every 4th of 20 words
    assert subsample(["w"] * 3, 100) == ["w"] * 3


def test_linear_fit_is_exact_on_a_line(bench):
    from speedbench.common import linear_fit

    fit = linear_fit([1, 2, 3, 4], [3, 5, 7, 9])
    assert fit["slope"] == pytest.approx(2.0)
    assert fit["intercept"] == pytest.approx(1.0)
    assert fit["r2"] == pytest.approx(1.0)


def test_quick_defaults_and_overrides(bench):
    args = bench.parse_args(["--quick", "--repeats", "2"])
    assert args.words == bench.QUICK["words"] and args.repeats == 2
    full = bench.parse_args([])
    assert full.words == 100_000 and full.batch_sizes == "1,8,32,64"
    assert Path(full.out) == Path(bench.__file__).resolve().parent.parent / "results" / "bench"
    assert full.benchmarks.count(",") == 7  # 8 benchmarks


def test_commands_are_the_cli_and_spacy_processes(bench, tmp_path):
    from speedbench.startup import cli_cmd
    from speedbench.whole_process import spacy_cmd, systems, tommer_cmd

    cmd = tommer_cmd("onnx", tmp_path / "c.jsonl", tmp_path / "o.jsonl", None)
    assert cmd[1:5] == ["-m", "tommer.cli", "detect", "-i"] and cmd[-2:] == ["--engine", "onnx"]
    assert "--ner-only" in spacy_cmd("ner", tmp_path / "c", tmp_path / "o", tmp_path / "s", None)
    assert cli_cmd("torch", None)[-2:] == ["--engine", "torch"]
    assert systems(["torch"], True) == ["tommer:torch", "spacy:full", "spacy:ner"]
    assert systems(["onnx"], False, ["minilm-l6"]) == ["tommer:onnx", "model:minilm-l6"]


def test_agreement_alias_for_torch(bench, tmp_path):
    from speedbench.report import agreement_of, read_agreement

    agr = read_agreement(write_agreement(tmp_path / "engines.json"))
    assert agreement_of(agr, "torch", native_bf16=False)["dice"] == 1.0  # torch runs fp32 here
    assert agreement_of(agr, "torch", native_bf16=True) is None  # no torch-bf16 row
    assert agreement_of(agr, "onnx-int8", False)["eligible"] is False
    assert read_agreement(tmp_path / "missing.json") is None


def test_summary_targets_and_reports(bench, tmp_path):
    args = bench.parse_args(["--quick", "--agreement", str(write_agreement(tmp_path / "engines.json"))])
    res = bench.assemble(args, "python scripts/bench.py --quick", dict(MACHINE), synthetic_parts())
    s = res["summary"]
    assert s["auto_engine"] == "onnx"
    assert s["default_over_spacy_full"] == pytest.approx(2.5)
    assert s["engines"]["torch-fp32"]["over_spacy_ner"] == pytest.approx(500 / 800)
    assert s["default_warm_start_s"] == pytest.approx(1.2)
    assert s["in_process_words_per_s_bs1"] == 500.0 and s["best_batch_size"] == 8
    status = {row["target"].split(",")[0].split(":")[0]: row["status"] for row in res["targets"]}
    assert status == {
        "whole-process words/s": "PASS",
        "warm start": "PASS",
        "peak RSS": "PASS",
        "agreement of `onnx` with torch-fp32": "PASS",
        "linear in length": "PASS",
    }
    assert any("FAILED: tommer:onnx-int8" in n for n in res["notes"])
    assert not any("busy" in n for n in res["notes"])  # the end-of-run load is the benchmark's own
    md = bench.render_md(res)
    assert "| tommer `onnx` **(auto)** | onnx |" in md and "| 8 (best) |" in md
    assert "failed: boom" in md and "backbones 270, engines 200" in md
    from speedbench.report import plot

    plot(res, tmp_path / "bench.png")
    assert (tmp_path / "bench.png").stat().st_size > 0


def test_models_table_joins_speed_with_cost_and_dev_quality(bench, tmp_path):
    """The first model is the benched one (its `tommer:<auto>` row); the others run as `model:<name>`;
    a model that failed is shown as failed; MFLOP and dev quality come from the files named."""
    parts = synthetic_parts()
    parts["whole_process"]["model:fast"] = whole(4000.0, 300.0)
    parts["whole_process"]["model:broken"] = {"warmup": {"error": "no wheel"}, "runs": []}
    dev = {"decoding": "flat", "margin": 4.0, "precision": 0.34, "recall": 0.646, "f1": 0.4456}
    facts = {"backbone": "b", "layer": 6, "margin": 4.0, "mflop_per_token": 42.5, "dev": dev}
    parts["models"] = {
        "default": dict(facts, dev_source="results/operating_point.json"),
        "fast": dict(facts, layer=3, mflop_per_token=10.6, dev=None, dev_source=None),
        "broken": dict(facts),
    }
    args = bench.parse_args(["--quick", "--agreement", str(write_agreement(tmp_path / "engines.json"))])
    res = bench.assemble(args, "cmd", dict(MACHINE), parts)
    rows = {r["model"]: r for r in res["summary"]["models"]}
    assert rows["default"]["words_per_s"] == 1000.0  # tommer:onnx, the auto engine
    assert rows["fast"]["over_spacy_full"] == pytest.approx(10.0)
    assert rows["broken"]["error"] == "no wheel"
    md = bench.render_md(res)
    assert "| `default` | `b`, 6 | 42.5 | 34.0 / 64.6 / 44.6 (flat, 4) | 1000 | 2.50 |" in md
    assert "| `fast` | `b`, 3 | 10.6 | n/a | 4000 | 10.00 |" in md
    assert "| broken | failed: no wheel |" in md
    assert "model:fast" not in md.split("## Shipped models")[0]  # not among the engines


def test_missing_parts_render_as_na(bench, tmp_path):
    machine = dict(MACHINE, loadavg_start=[3.0, 0, 0])
    args = bench.parse_args(["--quick", "--agreement", str(tmp_path / "none.json")])
    res = bench.assemble(args, "cmd", machine, {"texts": TEXTS})
    assert {row["status"] for row in res["targets"]} == {"n/a"}
    assert any("busy" in n for n in res["notes"]) and any("engines.json" in n for n in res["notes"])
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


def test_render_rebuilds_the_report_from_its_json(bench, tmp_path):
    shipped = Path(bench.__file__).resolve().parent.parent / "results" / "bench.json"
    (tmp_path / "bench.json").write_text(shipped.read_text())
    assert bench.main(["--render", "--out", str(tmp_path / "bench")]) == 0
    report = (tmp_path / "bench.md").read_text()
    assert "## Targets" in report and "read from `results/engines.json`" in report
    assert bench.main(["--render", "--out", str(tmp_path / "missing")]) == 2


def test_a_measured_process_reports_its_own_peak_memory_not_the_bench_s(bench, tmp_path):
    """Linux carries the parent's peak RSS into a forked child's ``ru_maxrss``: the bench, holding
    models, would floor every process it measures at its own size. ``run_process`` measures through
    a small launcher, so a process that holds little reports little however much the bench holds."""
    from speedbench.common import run_process

    held = bytearray(300 * 10**6)
    held[::4096] = b"\1" * len(held[::4096])  # touched: resident in this process
    small = run_process([sys.executable, "-c", "pass"], tmp_path, "small")
    large = run_process(
        [sys.executable, "-c", "b = bytearray(200 * 10**6); b[::4096] = b'1' * len(b[::4096])"],
        tmp_path,
        "large",
    )
    assert small["exit_code"] == large["exit_code"] == 0
    assert small["peak_rss_mb"] < 100 < 200 < large["peak_rss_mb"] < 300
    failed = run_process([sys.executable, "-c", "raise SystemExit(3)"], tmp_path, "failed")
    assert failed["exit_code"] == 3 and "failed exited with 3" in failed["error"]
    del held
