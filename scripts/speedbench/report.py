"""From the measurements to the report: summary numbers, the issue's targets (PASS / MISS), markdown, plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TARGETS = {
    "spacy_ratio": 2.0,  # whole-process words/s of the default engine ÷ spaCy sm full pipeline
    "warm_start_s": 1.5,  # new process → first mentions, default engine, caches warm
    "peak_rss_mb": 400.0,  # tommer detect on the corpus, default engine
    "min_dice": 0.99,  # engine agreement with torch-fp32 (results/engines.json)
    "max_recall_delta": 0.5,  # points
}
REPO = Path(__file__).resolve().parents[2]
LINEAR_MAX_RATIO = 1.25  # per-word time, longest ÷ shortest document (this script's criterion)
LINEAR_MIN_R2 = 0.98


# -- engine agreement (measured by scripts/engine_agreement.py, read here) --------------------------
def read_agreement(path: Path) -> dict[str, Any] | None:
    """``results/engines.json`` as {engine: row}, with its CPU; None if the file is missing."""
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    rows = {r["engine"]: r for r in report.get("engines", [])}
    for r in report.get("engines", []):
        rows.setdefault(r.get("ran_as", r["engine"]), r)
    return {
        "path": shown_path(path),
        "cpu": report.get("cpu"),
        "native_bf16": report.get("native_bf16"),
        "limit": report.get("limit"),
        "command": report.get("command"),
        "rows": rows,
    }


def shown_path(path: str | Path) -> str:
    """``path`` relative to the repository where it lies inside it (the reports name files that way)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def agreement_of(agreement: dict | None, engine: str, native_bf16: bool) -> dict[str, Any] | None:
    """The agreement row of ``engine`` (``torch``: the dtype it runs on this CPU)."""
    if not agreement:
        return None
    rows = agreement["rows"]
    alias = {"torch": "torch-bf16" if native_bf16 else "torch-fp32"}.get(engine, engine)
    row = rows.get(engine) or rows.get(alias)
    if not row:
        return None
    keys = ("dice", "delta_recall", "delta_precision", "eligible", "words_per_second")
    return {k: row.get(k) for k in keys}


# -- summary and targets --------------------------------------------------------------------------
def summarize(res: dict[str, Any]) -> dict[str, Any]:
    """Headline numbers: per-engine ratios to spaCy, batch sizes, scaling, start-up, the default engine's."""
    m, whole = res["machine"], res.get("whole_process", {})
    auto = m["auto_engine"]
    s: dict[str, Any] = {"auto_engine": auto}
    full, ner = (whole.get(k, {}).get("words_per_s") for k in ("spacy:full", "spacy:ner"))
    s["spacy_full_words_per_s"], s["spacy_ner_words_per_s"] = full, ner
    engines = {}
    for key, r in whole.items():
        if not key.startswith("tommer:") or "words_per_s" not in r:
            continue
        engine = key.split(":", 1)[1]
        engines[engine] = {
            "words_per_s": r["words_per_s"],
            "over_spacy_full": r["words_per_s"] / full if full else None,
            "over_spacy_ner": r["words_per_s"] / ner if ner else None,
            "peak_rss_mb": r["peak_rss_mb"],
            "agreement": agreement_of(res.get("agreement"), engine, m["native_bf16"]),
        }
    s["engines"] = engines
    default = engines.get(auto, {})
    s["default_over_spacy_full"] = default.get("over_spacy_full")
    s["default_peak_rss_mb"] = default.get("peak_rss_mb")
    s["default_agreement"] = agreement_of(res.get("agreement"), auto, m["native_bf16"])
    s["agreement_path"] = (res.get("agreement") or {}).get("path", "results/engines.json")
    inproc = (res.get("in_process") or {}).get("result")
    if inproc:
        by_bs = {r["batch_size"]: r for r in inproc["sweep"]["rows"]}
        s["best_batch_size"] = inproc["best_batch_size"]
        s["in_process_words_per_s_best"] = by_bs[inproc["best_batch_size"]]["words_per_s"]
        s["in_process_words_per_s_bs1"] = by_bs[1]["words_per_s"] if 1 in by_bs else None
        sc = inproc["scaling"]
        s["scaling_r2"], s["scaling_per_word_ratio"] = sc["fit"]["r2"], sc["per_word_ratio"]
    warm = res.get("warm_start", {})
    s["warm_start_s"] = {e: w["seconds"]["best"] for e, w in warm.items() if "seconds" in w}
    s["default_warm_start_s"] = s["warm_start_s"].get(auto)
    s["cold_start_s"] = {e: c["wall_s"] for e, c in res.get("cold_start", {}).items() if "error" not in c}
    s["models"] = model_rows(res, full, ner)
    return s


def model_rows(res: dict[str, Any], full: float | None, ner: float | None) -> list[dict[str, Any]]:
    """One row per model of ``res["models"]`` (the first is the benched model, run as ``tommer:<auto>``;
    the others as ``model:<name>``): its facts next to its whole-process speed."""
    whole, auto = res.get("whole_process", {}), res["machine"]["auto_engine"]
    rows = []
    for i, (name, facts) in enumerate((res.get("models") or {}).items()):
        run = whole.get(f"tommer:{auto}" if i == 0 else f"model:{name}", {})
        wps = run.get("words_per_s")
        error = facts.get("error") or (run.get("warmup") or {}).get("error")
        rows.append(
            {
                "model": name,
                **facts,
                "words_per_s": wps,
                "over_spacy_full": ratio(wps, full) if wps else None,
                "over_spacy_ner": ratio(wps, ner) if wps else None,
                "peak_rss_mb": run.get("peak_rss_mb"),
                "found": run.get("found"),
                "error": error,
            }
        )
    return rows


def target_rows(s: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets next to the measured values (PASS / MISS / n/a)."""

    def row(name: str, goal: str, value: float | None, ok: bool | None, fmt: str) -> dict[str, Any]:
        shown = "n/a" if value is None else format(value, fmt)
        status = "n/a" if ok is None else ("PASS" if ok else "MISS")
        return {"target": name, "goal": goal, "measured": value, "shown": shown, "status": status}

    auto, t = s["auto_engine"], TARGETS
    ratio, warm, rss = (
        s.get("default_over_spacy_full"),
        s.get("default_warm_start_s"),
        s.get("default_peak_rss_mb"),
    )
    agr = s.get("default_agreement") or {}
    dice, dr = agr.get("dice"), agr.get("delta_recall")
    agree_ok = None if dice is None else (dice >= t["min_dice"] and abs(dr) <= t["max_recall_delta"])
    r2, pw = s.get("scaling_r2"), s.get("scaling_per_word_ratio")
    linear_ok = None if pw is None else (pw <= LINEAR_MAX_RATIO and r2 >= LINEAR_MIN_R2)
    return [
        row(
            f"whole-process words/s, `{auto}` (auto) ÷ spaCy sm full pipeline",
            f"≥ {t['spacy_ratio']:.1f}×",
            ratio,
            None if ratio is None else ratio >= t["spacy_ratio"],
            ".2f",
        ),
        row(
            f"warm start, new process → first mentions, `{auto}` (s)",
            f"≤ {t['warm_start_s']:.1f} s",
            warm,
            None if warm is None else warm <= t["warm_start_s"],
            ".2f",
        ),
        row(
            f"peak RSS, `tommer detect -i corpus`, `{auto}` (MB)",
            f"≤ {t['peak_rss_mb']:.0f} MB",
            rss,
            None if rss is None else rss <= t["peak_rss_mb"],
            ".0f",
        ),
        row(
            f"agreement of `{auto}` with torch-fp32: DICE ({s['agreement_path']})",
            f"DICE ≥ {t['min_dice']}, |Δrecall| ≤ {t['max_recall_delta']} pt"
            + ("" if dr is None else f" (Δrecall {dr:+.2f} pt)"),
            dice,
            agree_ok,
            ".4f",
        ),
        row(
            "linear in length: per-word time longest ÷ shortest document (this script's criterion)",
            f"≤ {LINEAR_MAX_RATIO} and R² ≥ {LINEAR_MIN_R2}" + ("" if r2 is None else f" (R² {r2:.4f})"),
            pw,
            linear_ok,
            ".2f",
        ),
    ]


# -- markdown ---------------------------------------------------------------------------------------
def fmt_t(t: dict) -> str:
    return f"{t['best']:.2f} ({t['median']:.2f})"


def fmt_x(x: float | None, fmt: str = ".2f", suffix: str = "") -> str:
    return "n/a" if x is None else format(x, fmt) + suffix


def render_md(res: dict[str, Any]) -> str:
    m, cfg = res["machine"], res["config"]
    lines = [
        "# tommer speed benchmark (issue #20)",
        "",
        f"Command: `{res['command']}`",
        "",
        f"Date: {res['date']}",
        "",
    ]
    if cfg.get("quick"):
        lines += ["**Quick smoke run: tiny sizes, the numbers are not meaningful.**", ""]
    lines += [
        f"Every timing is the **best of {cfg['repeats']} runs after a warm-up run** (the median is in "
        "parentheses; all runs are in the JSON). Words are `len(text.split())`; MB = 10⁶ bytes; peak RSS "
        "is the process's `ru_maxrss` (`os.wait4`).",
        "",
    ]
    lines += machine_md(m, res)
    lines += ["## Targets", "", "| target | goal | measured | status |", "|---|---|---|---|"]
    lines += [f"| {t['target']} | {t['goal']} | {t['shown']} | **{t['status']}** |" for t in res["targets"]]
    lines += [""]
    lines += texts_md(res["texts"])
    lines += whole_md(res)
    lines += models_md(res)
    lines += in_process_md(res)
    lines += startup_md(res)
    notes = res.get("notes", [])
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def ratio(a: float, b: float | None) -> float | None:
    return a / b if b else None


def fmt_load(load: Sequence[float] | None) -> str:
    return "n/a" if not load else " ".join(f"{x:.2f}" for x in load)


def machine_md(m: dict, res: dict) -> list[str]:
    torch_info = ((res.get("in_process") or {}).get("result") or {}).get("torch") or {}
    return [
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu']} |",
        f"| CPU flags | `{' '.join(m['cpu_flags']) or 'unknown'}` |",
        f"| native bf16 (AVX512-BF16 / AMX) | {m['native_bf16']} |",
        f"| engine `auto` picks | `{m['auto_engine']}` |",
        f"| cores (usable) | {m['cores']} ({m.get('cores_usable')}) |",
        f"| engine threads (OMP_NUM_THREADS={m.get('omp_num_threads')}) | {m.get('engine_threads')} |",
        f"| torch | {torch_info.get('version', 'n/a')} ({torch_info.get('threads', 'n/a')} threads) |",
        f"| memory | {m.get('memory_gb')} GB |",
        f"| load average at start / end | {fmt_load(m.get('loadavg_start'))} / "
        f"{fmt_load(m.get('loadavg_end'))} |",
        f"| platform | {m['platform']}, Python {m['python']} |",
        "",
    ]


def texts_md(t: dict) -> list[str]:
    per = ", ".join(f"{x['benchmark']} {x['sentences']}" for x in t["sources"])
    return [
        "## Texts",
        "",
        f"Corpus: {t['sentences']} test sentences, one record each ({t['words']} words): {per}. "
        "Every system reads this corpus.",
        f"Warm-up corpus: the first {t['warmup_sentences']} of them. Batch-size sweep: every k-th sentence, "
        f"{t['sweep_sentences']} sentences ({t['sweep_words']} words). Documents: "
        f"{', '.join(str(w) for w in t['document_words'])} words (the sentences concatenated).",
        "",
    ]


def whole_md(res: dict) -> list[str]:
    whole, s = res.get("whole_process", {}), res["summary"]
    if not whole:
        return []
    auto = s["auto_engine"]
    ran_as = {e: w.get("ran_as") for e, w in res.get("warm_start", {}).items()}
    lines = [
        "## Whole process: `tommer detect -i corpus.jsonl -o out.jsonl` vs spaCy",
        "",
        "A new process per run, timed from outside: start-up, imports, model load, reading, detection, "
        "writing. tommer: `python -m tommer.cli detect -i corpus.jsonl -o out.jsonl --engine E` (default "
        "decoding and batch size); spaCy: `nlp.pipe` in a process that reads the same corpus and writes "
        "its entities (load time included).",
        "",
        "| system | runs as | seconds | words/s | × spaCy full | × spaCy NER | peak RSS (MB) | found "
        "| DICE vs fp32 | Δrecall (pt) | eligible |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in whole.items():
        if key.startswith("model:"):  # in the models table
            continue
        if "words_per_s" not in r:
            lines.append(f"| {key} | failed: {(r['warmup'].get('error') or '')[:80]} | | | | | | | | | |")
            continue
        kind, _, which = key.partition(":")
        if kind == "tommer":
            e = s["engines"][which]
            agr = e["agreement"] or {}
            label = f"tommer `{which}`" + (" **(auto)**" if which == auto else "")
            eligible = {True: "yes", False: "no"}.get(agr.get("eligible"), "n/a")
            lines.append(
                f"| {label} | {ran_as.get(which) or which} | {fmt_t(r['seconds'])} | "
                f"{r['words_per_s']:.0f} | {fmt_x(e['over_spacy_full'])} | {fmt_x(e['over_spacy_ner'])} | "
                f"{r['peak_rss_mb']:.0f} | {r['found']} | {fmt_x(agr.get('dice'), '.4f')} | "
                f"{fmt_x(agr.get('delta_recall'), '+.2f')} | {eligible} |"
            )
        else:
            st = r.get("stats") or {}
            lines.append(
                f"| spaCy {which} ({', '.join(st.get('pipes', []))}) | {st.get('model', '')} | "
                f"{fmt_t(r['seconds'])} | {r['words_per_s']:.0f} | "
                f"{fmt_x(ratio(r['words_per_s'], s['spacy_full_words_per_s']))} | "
                f"{fmt_x(ratio(r['words_per_s'], s['spacy_ner_words_per_s']))} | "
                f"{r['peak_rss_mb']:.0f} | {r['found']} | | | |"
            )
    lines.append("")
    spl = [(k, (whole[k].get("stats") or {})) for k in ("spacy:full", "spacy:ner") if k in whole]
    if spl:
        lines += [
            "spaCy inside its process (last run): "
            + "; ".join(
                f"{k.split(':')[1]}: import {st['import_s']:.2f} s, load {st['load_s']:.2f} s, "
                f"pipe + write {st['pipe_s']:.2f} s"
                for k, st in spl
                if st
            )
            + f" (spaCy {spl[0][1].get('spacy', '?')}, one process).",
            "",
        ]
    agr = res.get("agreement")
    if agr:
        lines += [
            f"Agreement columns: read from `{agr['path']}` (scripts/engine_agreement.py, "
            f"{agr.get('limit')} dev sentences per benchmark, CPU {agr.get('cpu')}, native bf16 "
            f"{agr.get('native_bf16')}), not "
            "measured here. Eligible: DICE ≥ 0.99 and |Δrecall| ≤ 0.5 points.",
            "",
        ]
    else:
        lines += ["Agreement columns: n/a (no results/engines.json: run scripts/engine_agreement.py).", ""]
    return lines


def models_md(res: dict) -> list[str]:
    rows = res["summary"].get("models") or []
    if len(rows) < 2:
        return []
    auto = res["summary"]["auto_engine"]
    lines = [
        f"## Shipped models: cost and quality (whole process, engine `{auto}`)",
        "",
        "The same corpus and command as above, one process per run, with `--model M` (the first row is "
        "the benched model's `" + auto + "` row above). Not measured here: MFLOP per token of the "
        "first L blocks (`results/layer_sweep_<backbone>*.json`, scripts/layer_sweep.py) and pooled "
        "dev P / R / F1 at the model's operating point (first 300 dev sentences of each of the 13 "
        "benchmarks, scripts/choose_operating_point.py; the file is named per row).",
        "",
        "| model | backbone, layer | MFLOP/token | dev P / R / F1 (decoding, margin) | words/s "
        "| × spaCy full | × spaCy NER | peak RSS (MB) | found | dev source |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("error") and not r.get("words_per_s"):
            lines.append(f"| {r['model']} | failed: {str(r['error'])[:80]} | | | | | | | | |")
            continue
        dev = r.get("dev")
        quality = (
            "n/a"
            if not dev
            else f"{100 * dev['precision']:.1f} / {100 * dev['recall']:.1f} / {100 * dev['f1']:.1f} "
            f"({dev['decoding']}, {dev.get('margin', 0):g})"
        )
        lines.append(
            f"| `{r['model']}` | `{r['backbone']}`, {r['layer']} | {fmt_x(r.get('mflop_per_token'), '.1f')} "
            f"| {quality} | {fmt_x(r.get('words_per_s'), '.0f')} | {fmt_x(r.get('over_spacy_full'))} | "
            f"{fmt_x(r.get('over_spacy_ner'))} | {fmt_x(r.get('peak_rss_mb'), '.0f')} | "
            f"{r.get('found') if r.get('found') is not None else 'n/a'} | {r.get('dev_source') or 'n/a'} |"
        )
    return lines + [""]


def in_process_md(res: dict) -> list[str]:
    rec = res.get("in_process") or {}
    r = rec.get("result")
    if not r:
        return ["## In process", "", f"failed: {rec.get('error', 'skipped')[:200]}", ""] if rec else []
    lines = [
        f"## In process: batch size (`{r['engine']}`, runs as {r['ran_as']}, {r['threads']} threads)",
        "",
        "`detector(texts, batch_size=bs)` in one process (no start-up, no file I/O) on "
        f"{r['sweep']['texts']} sentences ({r['sweep']['words']} words); peak RSS of the process "
        f"{rec['peak_rss_mb']:.0f} MB.",
        "",
        "| batch size | seconds | words/s | mentions |",
        "|---|---|---|---|",
    ]
    for row in r["sweep"]["rows"]:
        star = " (best)" if row["batch_size"] == r["best_batch_size"] else ""
        lines.append(
            f"| {row['batch_size']}{star} | {fmt_t(row['seconds'])} | {row['words_per_s']:.0f} | "
            f"{row['mentions']} |"
        )
    sc = r["scaling"]
    lines += [
        "",
        f"## Time against document length (`{r['engine']}`, in process, batch size {sc['batch_size']})",
        "",
        "| words | seconds | ms per 1k words | words/s | mentions |",
        "|---|---|---|---|---|",
    ]
    for row in sc["rows"]:
        lines.append(
            f"| {row['words']} | {fmt_t(row['seconds'])} | {row['ms_per_1k_words']:.1f} | "
            f"{row['words_per_s']:.0f} | {row['mentions']} |"
        )
    f = sc["fit"]
    lines += [
        "",
        f"Linear fit: seconds = {f['intercept']:.3f} + {1000 * f['slope']:.4f} × (words / 1000), R² = "
        f"{f['r2']:.4f}; per-word time of the longest ÷ the shortest document = "
        f"{fmt_x(sc['per_word_ratio'])}.",
        "",
    ]
    return lines


def startup_md(res: dict) -> list[str]:
    warm, cold = res.get("warm_start", {}), res.get("cold_start", {})
    if not warm and not cold:
        return []
    auto = res["summary"]["auto_engine"]
    lines = ["## Start-up", ""]
    if warm:
        lines += [
            'Warm: `python -m tommer.cli detect "<sentence>" --engine E`, caches filled. Its wall time is '
            "the new process → first mentions; the split comes from the same steps run with a clock between "
            "them (`speedbench/start_probe.py`: import = the CLI's modules; runtime = torch + transformers "
            "or onnxruntime (openvino) + tokenizers, which the CLI imports while loading; "
            "load = `load_detector`; first call; rest = interpreter start-up and exit), medians.",
            "",
            "| engine | new process → first mentions (s) | peak RSS (MB) | import | runtime | load "
            "| first call | rest | imports torch |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for e, w in warm.items():
            if "seconds" not in w:
                lines.append(f"| {e} | failed | | | | | | | |")
                continue
            sp = w.get("split_median") or {}
            cells = " | ".join(
                fmt_x(sp.get(k)) for k in ("import_s", "runtime_s", "load_s", "first_call_s", "rest_s")
            )
            label = f"`{e}`" + (" **(auto)**" if e == auto else "")
            lines.append(
                f"| {label} | {fmt_t(w['seconds'])} | {w['peak_rss_mb']:.0f} | {cells} | "
                f"{w.get('imported_torch')} |"
            )
        lines.append("")
    if cold:
        lines += [
            "Cold: the same probe with `TOMMER_CACHE` an empty folder: load converts the GGUF backbone and, "
            "for ONNX engines, exports the graph (and quantises it for onnx-int8, converts it for openvino). "
            "One run each.",
            "",
            "| engine | new process → first mentions (s) | import | runtime | load | first call "
            "| peak RSS (MB) | built (MB) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for e, c in cold.items():
            if "split" not in c:
                lines.append(f"| {e} | failed: {(c.get('error') or '')[:80]} | | | | | | |")
                continue
            sp = c["split"]
            built = ", ".join(f"{k} {v:.0f}" for k, v in c.get("built_mb", {}).items())
            lines.append(
                f"| `{e}` | {c['wall_s']:.2f} | "
                + " | ".join(f"{sp[k]:.2f}" for k in ("import_s", "runtime_s", "load_s", "first_call_s"))
                + f" | {c['peak_rss_mb']:.0f} | {built} |"
            )
        lines.append("")
    return lines


# -- plot ---------------------------------------------------------------------------------------------
def plot(res: dict[str, Any], path: Path) -> None:
    """Whole-process words/s per system; time against document length; warm start split per engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = res["summary"]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 4.8))
    auto = f"tommer:{s['auto_engine']}"
    bars = [
        (
            k.replace("tommer:", "tommer ").replace("model:", "tommer ").replace("spacy:", "spaCy sm ")
            + (" (auto)" if k == auto else ""),
            r["words_per_s"],
        )
        for k, r in res.get("whole_process", {}).items()
        if "words_per_s" in r
    ]
    if bars:
        colors = ["tab:orange" if "spaCy" in b[0] else "tab:blue" for b in bars]
        ax1.barh([b[0] for b in bars], [b[1] for b in bars], color=colors)
        for y, (_, v) in enumerate(bars):
            ax1.text(v, y, f" {v:.0f}", va="center")
        ax1.invert_yaxis()
        if s.get("spacy_full_words_per_s"):
            goal = TARGETS["spacy_ratio"] * s["spacy_full_words_per_s"]
            ax1.axvline(
                goal, color="tab:red", linestyle="--", label=f"target: {TARGETS['spacy_ratio']:g}× spaCy full"
            )
            ax1.legend(loc="lower right")
        ax1.margins(x=0.18)
    ax1.set_xlabel("words / s (whole process, corpus)")
    ax1.set_title(f"Whole process (auto = {s['auto_engine']})")
    inproc = (res.get("in_process") or {}).get("result")
    if inproc:
        rows, fit = inproc["scaling"]["rows"], inproc["scaling"]["fit"]
        xs = [r["words"] for r in rows]
        ax2.plot(xs, [r["seconds"]["best"] for r in rows], "o-", label=f"tommer {inproc['engine']}")
        ax2.plot(
            xs,
            [fit["intercept"] + fit["slope"] * x for x in xs],
            "--",
            color="gray",
            label=f"linear fit (R² = {fit['r2']:.3f})",
        )
        ax2.legend()
    ax2.set_xlabel("document length (words)")
    ax2.set_ylabel("seconds")
    ax2.set_title("Time against document length (in process)")
    warm = {e: w["split_median"] for e, w in res.get("warm_start", {}).items() if w.get("split_median")}
    if warm:
        names = [e + (" (auto)" if e == s["auto_engine"] else "") for e in warm]
        left = [0.0] * len(warm)
        for key, color in (
            ("rest_s", "tab:gray"),
            ("import_s", "tab:blue"),
            ("runtime_s", "tab:cyan"),
            ("load_s", "tab:green"),
            ("first_call_s", "tab:purple"),
        ):
            vals = [warm[e][key] for e in warm]
            ax3.barh(names, vals, left=left, color=color, label=key.removesuffix("_s").replace("_", " "))
            left = [a + b for a, b in zip(left, vals)]
        ax3.axvline(TARGETS["warm_start_s"], color="tab:red", linestyle="--", label="target")
        ax3.invert_yaxis()
        ax3.legend(loc="lower right", fontsize=8)
    ax3.set_xlabel("seconds (medians)")
    ax3.set_title("Warm start: new process → first mentions")
    m = res["machine"]
    fig.suptitle(
        f"tommer benchmark — {m['cpu']}, {m.get('engine_threads')} threads, native bf16 {m['native_bf16']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_targets(res: dict[str, Any]) -> None:
    width = max(len(t["target"]) for t in res["targets"])
    print("\nIssue #20 targets:")
    for t in res["targets"]:
        print(f"  {t['target']:<{width}}  goal {t['goal']:<36} measured {t['shown']:>8}  {t['status']}")
    for note in res.get("notes", []):
        print(f"  note: {note}")
