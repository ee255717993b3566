"""In-process words/s of the default engine: per batch size, and against document length.

One process loads the detector (``load_detector``, what ``tommer detect`` uses) on the engine ``auto``
picks, then times ``detector(texts, batch_size=bs)`` with ``time.perf_counter`` (no start-up, no file
I/O: the detector alone). Each measurement follows a warm-up call; the best of ``repeats`` is reported.

- batch sizes: on a stride sample of the corpus sentences (``--sweep-words`` of them);
- document length: documents of 250 … 8000 words built from the same sentences, at the best batch
  size; the time per word must stay flat (linear fit R², per-word time of the longest ÷ the shortest).

    python -m speedbench.in_process spec.json result.json      # run by scripts/bench.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .common import linear_fit, log, module_env, n_words, repeat, run_process


def sweep(detector, texts: list[str], batch_sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    words = sum(n_words(t) for t in texts)
    rows = []
    for bs in batch_sizes:
        detector(texts[: max(2 * bs, 8)], batch_size=bs)  # warm-up
        out: dict = {}

        def run(bs: int = bs, out: dict = out) -> None:
            out["last"] = detector(texts, batch_size=bs)

        t = repeat(run, repeats)
        rows.append(
            {
                "batch_size": bs,
                "seconds": t,
                "words_per_s": words / t["best"],
                "mentions": sum(len(m) for m in out["last"]),
            }
        )
    return rows


def scaling(detector, documents: list[str], batch_size: int, repeats: int) -> dict[str, Any]:
    detector(documents[0], batch_size=batch_size)  # warm-up
    rows = []
    for doc in documents:
        out: dict = {}

        def run(doc: str = doc, out: dict = out) -> None:
            out["last"] = detector(doc, batch_size=batch_size)

        t = repeat(run, repeats)
        words = n_words(doc)
        rows.append(
            {
                "words": words,
                "seconds": t,
                "ms_per_1k_words": 1e6 * t["best"] / words,
                "words_per_s": words / t["best"],
                "mentions": len(out["last"]),
            }
        )
    fit = linear_fit([r["words"] for r in rows], [r["seconds"]["best"] for r in rows])
    per_word = [r["seconds"]["best"] / r["words"] for r in rows]
    return {
        "batch_size": batch_size,
        "rows": rows,
        "fit": fit,
        "per_word_ratio": per_word[-1] / per_word[0] if len(rows) > 1 else None,
    }


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    from tommer.core.engines import thread_count
    from tommer.typed.loading import load_detector

    detector = load_detector(spec["model"], engine=spec["engine"])
    ran_as = getattr(getattr(detector, "engine", None), "name", spec["engine"])
    texts, documents = spec["sweep_texts"], spec["documents"]
    rows = sweep(detector, texts, spec["batch_sizes"], spec["repeats"])
    best = max(rows, key=lambda r: r["words_per_s"])["batch_size"]
    result = {
        "engine": spec["engine"],
        "ran_as": ran_as,
        "threads": thread_count(),
        "sweep": {"texts": len(texts), "words": sum(n_words(t) for t in texts), "rows": rows},
        "best_batch_size": best,
        "scaling": scaling(detector, documents, best, spec["repeats"]),
    }
    if "torch" in sys.modules:
        import torch

        result["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads()}
    return result


def run_in_process(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run the worker in its own process (peak RSS from ``os.wait4``); its result with the process record."""
    spec_path, result_path = workdir / "in_process.spec.json", workdir / "in_process.result.json"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "speedbench.in_process", str(spec_path), str(result_path)]
    log(f"in process: engine {spec['engine']}, batch sizes {spec['batch_sizes']}, documents ...")
    rec = run_process(cmd, workdir, "in_process", module_env())
    if rec["exit_code"] == 0:
        rec["result"] = r = json.loads(result_path.read_text())
        sweep = ", ".join(f"bs {x['batch_size']}: {x['words_per_s']:.0f}" for x in r["sweep"]["rows"])
        log(f"in process: words/s {sweep}; documents R² {r['scaling']['fit']['r2']:.3f}")
    return rec


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    Path(argv[1]).write_text(json.dumps(worker(spec)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
