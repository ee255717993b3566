"""Fewer FLOPs per token: prune the MLP neurons of the default backbone's first six layers (issue #20).

Three quarters of a SmolLM2-135M block's FLOPs are its MLP (576 -> 1536 -> 576, gated). Every
layer keeps the ``--keep`` neurons (of 1536) with the largest calibration score
``E[h_k^2] * ||W_down[:, k]||^2`` (``h``: the MLP's inner activation, the input of ``down_proj``),
layer after layer (a layer's statistics are taken with the earlier layers already pruned), on the
first ``--calib`` texts of the Pile-NER training split that ``tommer train`` uses (BOS first, at most
256 tokens each). Variant ``slice`` only drops the neurons; ``refit`` also refits ``W_down`` by least
squares so that the kept neurons reproduce the full MLP's output on the calibration tokens
(``W' = W C[:, S] (C[S, S] + eps I)^-1``, ``C = E[h h^T]``). Each variant is written as a six-layer
Hugging Face directory (``build/prune/<variant>``), which ``tommer train --backbone`` and a model's
``"backbone"`` field accept.

Measured per variant (``results/tried/mlp_prune.{md,json}``):
- MFLOP per token of the six blocks (2 x the MACs of the seven projections);
- the shipped default probe on the pruned backbone, unretrained, against the default, both on
  ``torch-fp32``: DICE of the mention sets and pooled dev P / R (200 dev sentences per benchmark, as
  ``scripts/engine_agreement.py``);
- the ``openvino`` engine's tokens/s on random ids at fixed pass shapes (rounds taking the models in
  turn, best of rounds), against the unpruned default in the same run;
- with ``--retrain V``: the default's two-phase recipe (``make default-model``'s arguments) on
  backbone ``V``, and its operating point chosen on dev (``scripts/choose_operating_point.py``,
  300 sentences per benchmark), against the shipped default's (``results/operating_point.json``).

    python experiments/mlp_prune.py --keep 1152,768,512 --calib 300      # results/tried/mlp_prune
    python experiments/mlp_prune.py --keep 1152,768,512 --calib 300 --reuse --skip-agreement \
        --retrain k1152-slice,k768-slice,k512-slice,k512-refit --out results/tried/mlp_prune_retrain
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "experiments"))

from engine_agreement import dice, keys, pooled_scores  # noqa: E402
from packing_bound import pass_seconds, random_passes  # noqa: E402
from sweep_common import cpu_flags  # noqa: E402

import tommer  # noqa: E402
from tommer.core.backbone import _quiet_transformers, hf_dir  # noqa: E402
from tommer.core.layout import (  # noqa: E402
    CONFIG_NAME,
    DEFAULT_MODEL,
    WEIGHTS_NAME,
    probe_weights,
    resolve_model_dir,
)
from tommer.data.readers import PILE_NER_BIO, data_root, read_bio  # noqa: E402
from tommer.evaluation.evaluation import BENCHMARKS, load_benchmark  # noqa: E402
from tommer.training.training import split_holdout  # noqa: E402

LAYERS = 6
MAX_TOKENS = 256
SHAPES = ((8, 40), (16, 32), (32, 40), (8, 128))
TEACHER = ["--layer", "6", "--rank", "64", "--epochs", "8", "--seed", "0"]  # the Makefile's TEACHER_ARGS


class _Stop(Exception):
    pass


def calibration_batches(tokenizer, texts: list[str], batch: int = 16):
    """(input_ids, attention_mask) batches: BOS then each text's tokens, at most MAX_TOKENS, right-padded."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    rows = [[bos, *tokenizer(t, add_special_tokens=False).input_ids][:MAX_TOKENS] for t in texts]
    rows.sort(key=len)
    for k in range(0, len(rows), batch):
        chunk = rows[k : k + batch]
        width = max(map(len, chunk))
        ids = torch.full((len(chunk), width), bos, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, row in enumerate(chunk):
            ids[r, : len(row)], mask[r, : len(row)] = torch.tensor(row), 1
        yield ids, mask


@torch.no_grad()
def inner_gram(model, layer: int, batches) -> torch.Tensor:
    """C = sum over calibration tokens of h h^T for the MLP of ``layer`` (float64, 1536 x 1536)."""
    store: dict[str, torch.Tensor] = {}

    def hook(_module, args):
        h = args[0][store["mask"]].double()
        store["gram"] = store.get("gram", 0) + h.T @ h
        raise _Stop

    handle = model.model.layers[layer].mlp.down_proj.register_forward_pre_hook(hook)
    try:
        for ids, mask in batches:
            store["mask"] = mask.bool()
            with contextlib.suppress(_Stop):
                model(input_ids=ids, attention_mask=mask, use_cache=False)
    finally:
        handle.remove()
    return store["gram"]


@torch.no_grad()
def prune_mlp(mlp, gram: torch.Tensor, keep: int, refit: bool) -> None:
    """Keep ``keep`` neurons of a gated MLP in place; with ``refit``, least-squares ``W_down``."""
    down = mlp.down_proj.weight.double()  # (hidden, inner)
    score = gram.diagonal() * down.pow(2).sum(0)
    kept = torch.sort(torch.topk(score, keep).indices).values
    if refit:
        sub = gram[kept][:, kept]
        eps = 1e-6 * sub.diagonal().mean()
        new_down = torch.linalg.solve(
            sub + eps * torch.eye(keep, dtype=sub.dtype), (down @ gram[:, kept]).T
        ).T
    else:
        new_down = down[:, kept]

    def linear(weight: torch.Tensor) -> torch.nn.Linear:
        out = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        out.weight = torch.nn.Parameter(weight.float().contiguous(), requires_grad=False)
        return out

    mlp.gate_proj = linear(mlp.gate_proj.weight[kept])
    mlp.up_proj = linear(mlp.up_proj.weight[kept])
    mlp.down_proj = linear(new_down)


def build_variant(name: str, keep: int, refit: bool, texts: list[str], out: Path) -> dict:
    """Write the six-layer pruned backbone ``out`` (Hugging Face directory); its facts."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source = hf_dir("smollm2-135m")
    config = AutoConfig.from_pretrained(source)
    config.num_hidden_layers = LAYERS
    with _quiet_transformers():
        model = AutoModelForCausalLM.from_pretrained(source, config=config, dtype=torch.float32).eval()
    model.requires_grad_(False)
    tokenizer = AutoTokenizer.from_pretrained(source)
    started = time.perf_counter()
    batches = list(calibration_batches(tokenizer, texts))  # tokenized once, run once per layer
    tokens = int(sum(m.sum() for _, m in batches))
    for layer in range(LAYERS):
        gram = inner_gram(model, layer, batches)
        prune_mlp(model.model.layers[layer].mlp, gram, keep, refit)
    model.config.intermediate_size = keep
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    facts = {
        "variant": name,
        "keep": keep,
        "refit": refit,
        "calib_texts": len(texts),
        "calib_tokens": tokens,
        "build_seconds": round(time.perf_counter() - started, 1),
        "path": str(out),
    }
    (out / "prune.json").write_text(json.dumps(facts))
    return facts


def mflop_per_token(hidden: int, kv: int, inner: int, layers: int = LAYERS) -> float:
    """2 x the MACs per token of one block's seven projections, times ``layers``, in MFLOP."""
    return 2 * layers * hidden * (2 * hidden + 2 * kv + 3 * inner) / 1e6


def probe_copy(backbone: Path, out: Path) -> Path:
    """The shipped default probe with ``backbone`` as its backbone (no retraining)."""
    src = resolve_model_dir(DEFAULT_MODEL)
    out.mkdir(parents=True, exist_ok=True)
    config = json.loads((src / CONFIG_NAME).read_text())
    config["backbone"] = str(backbone)
    (out / CONFIG_NAME).write_text(json.dumps(config, indent=2))
    shutil.copy(probe_weights(src), out / WEIGHTS_NAME)
    return out


def mentions_of(model: str | Path, corpora: dict) -> dict:
    detector = tommer.load(model, engine="torch-fp32")
    return {name: detector([d.text for d in docs], batch_size=16) for name, docs in corpora.items()}


def speeds(models: dict[str, str | Path], rounds: int) -> dict[str, float]:
    """openvino tokens/s per model at SHAPES, random ids, models in turn, best of ``rounds``."""
    engines = {name: tommer.load(m, engine="openvino").engine for name, m in models.items()}
    rng = np.random.default_rng(0)
    passes = random_passes([s for s in SHAPES for _ in range(3)], next(iter(engines.values())).bos_id, rng)
    total = sum(p.size for p in passes)
    best = dict.fromkeys(engines, float("inf"))
    for engine in engines.values():
        pass_seconds(engine, passes)  # compile each shape once
    for _ in range(rounds):
        for name, engine in engines.items():
            best[name] = min(best[name], pass_seconds(engine, passes))
    return {name: round(total / s, 1) for name, s in best.items()}


def retrain(variant: str, backbone: Path, out: Path, reuse: bool = False) -> dict:
    """The default's two-phase recipe on ``backbone``, then its dev operating point (``reuse``: an
    operating point already chosen under ``out`` is read back)."""
    data = ["--data", str(data_root() / PILE_NER_BIO), "--val-fraction", "0.1", "--backbone", str(backbone)]
    cache = ["--cache-dir", str(ROOT / "build" / "states")]
    teacher, student, op = out / f"{variant}-teacher", out / f"{variant}-student", out / f"{variant}-op"
    train = [sys.executable, "-m", "tommer.cli", "train", "-q", *data, *TEACHER, *cache]
    commands = (
        [*train, "--out", str(teacher)],
        [*train, "--teacher", str(teacher), "--teacher-threshold", "0.9", "--out", str(student)],
        [
            sys.executable,
            str(ROOT / "scripts" / "choose_operating_point.py"),
            "--model",
            str(student),
            "--limit",
            "300",
            "--out",
            str(op),
        ],
    )
    for cmd in commands if not (reuse and op.with_suffix(".json").is_file()) else ():
        print("+ " + " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True, cwd=ROOT)
    return {"variant": variant, "model": str(student), **operating_point(op.with_suffix(".json"))}


def operating_point(path: Path) -> dict:
    """The chosen point and the best-F1 row of a ``scripts/choose_operating_point.py`` report."""
    report = json.loads(path.read_text())
    return {"chosen": report["chosen"], "best": max(report["rows"], key=lambda r: r["f1"])}


def render(report: dict) -> str:
    lines = [
        "# MLP pruning of the default backbone's six layers (issue #20)",
        "",
        f"Written by `{report['command']}` on {report['cpu']} (flags: `{report['flags']}`).",
        "",
        "Each layer keeps `keep` of 1536 MLP neurons (score E[h²]·‖W_down[:,k]‖², layer after layer, on "
        f"{report['calib_texts']} Pile-NER training texts); `refit` also refits W_down by least squares. "
        "Agreement: the shipped default probe, not retrained, on the pruned backbone against the default, "
        f"both `torch-fp32`, {report['limit']} dev sentences per benchmark. Speed: `openvino` engine, random "
        f"ids, shapes {', '.join(f'{r}×{t}' for r, t in SHAPES)} (3 passes each), best of {report['rounds']} "
        "rounds taking the models in turn.",
        "",
        "| variant | keep | refit | MFLOP/token | DICE vs default | dev P / R (pooled) | openvino tokens/s "
        "| × default |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = report["speed"].get("default")
    for row in report["rows"]:
        speed = report["speed"].get(row["variant"])
        pr = f"{100 * row['precision']:.1f} / {100 * row['recall']:.1f}" if "dice" in row else ""
        lines.append(
            f"| {row['variant']} | {row['keep']} | {row['refit']} | {row['mflop']:.1f} | "
            f"{row.get('dice', ''):{'.4f' if 'dice' in row else ''}} | {pr} | {speed or ''} | "
            f"{f'{speed / base:.2f}' if speed and base else ''} |"
        )
    if report.get("retrained"):
        lines += [
            "",
            "## Retrained probes against the shipped models (dev, 300 sentences per benchmark)",
            "",
            "`tommer train` with the default's two phases (`make default-model`'s arguments) on each pruned "
            "backbone, then `scripts/choose_operating_point.py`. The shipped rows are read from their "
            "operating-point files (the same script and dev sentences).",
            "",
            "| model | MFLOP/token | chosen: decoding, threshold, margin | P / R / F1 "
            "| best F1 (its point) |",
            "|---|---|---|---|---|",
        ]
        mflop = {r["variant"]: r["mflop"] for r in report["rows"]}
        for row in report["shipped"] + report["retrained"]:
            c, b = row["chosen"], row["best"]
            lines.append(
                f"| {row['variant']} | {row.get('mflop') or mflop.get(row['variant'], 0):.1f} | "
                f"{c['decoding']}, {c['threshold']}, {c['margin']} | "
                f"{100 * c['precision']:.1f} / {100 * c['recall']:.1f} / {100 * c['f1']:.1f} | "
                f"{100 * b['f1']:.1f} ({b['decoding']}, {b['threshold']}, {b['margin']}) |"
            )
    return "\n".join(lines) + "\n"


SHIPPED = {  # shipped model -> (operating-point file, MFLOP/token of its blocks: results/bench_amd-epyc.md)
    "smollm2-135m (default, 6 layers)": ("operating_point.json", mflop_per_token(576, 192, 1536)),
    "smollm2-135m-l4 (4 layers)": (
        "operating_point_smollm2-135m-l4.json",
        mflop_per_token(576, 192, 1536, 4),
    ),
}


def shipped_points() -> list[dict]:
    return [
        {"variant": name, "mflop": mflop, **operating_point(ROOT / "results" / file)}
        for name, (file, mflop) in SHIPPED.items()
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", default="1152,768")
    ap.add_argument("--variants", default="slice,refit")
    ap.add_argument("--calib", type=int, default=300, help="Pile-NER training texts for the statistics")
    ap.add_argument("--limit", type=int, default=200, help="dev sentences per benchmark (agreement)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--retrain", default="", help="comma-separated variants to retrain (e.g. k768-refit)")
    ap.add_argument("--skip-agreement", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="keep the pruned backbones already in build/prune")
    ap.add_argument("--out", default=str(ROOT / "results" / "tried" / "mlp_prune"))
    args = ap.parse_args(argv)
    build = ROOT / "build" / "prune"
    docs, _ = split_holdout(read_bio(data_root() / PILE_NER_BIO), 0.1, 0)
    texts = [d.text for d in docs[: args.calib]]
    rows = [{"variant": "default", "keep": 1536, "refit": False, "mflop": mflop_per_token(576, 192, 1536)}]
    for keep in map(int, args.keep.split(",")):
        for kind in args.variants.split(","):
            name = f"k{keep}-{kind}"
            saved = build / name / "prune.json"
            facts = json.loads(saved.read_text()) if args.reuse and saved.is_file() else {}
            if facts.get("calib_texts") != len(texts):
                facts = build_variant(name, keep, kind == "refit", texts, build / name)
            rows.append({**facts, "mflop": mflop_per_token(576, 192, keep)})
            print(json.dumps(facts), file=sys.stderr)
    models = {"default": DEFAULT_MODEL}
    models |= {r["variant"]: probe_copy(Path(r["path"]), build / f"{r['variant']}-probe") for r in rows[1:]}
    if not args.skip_agreement:
        corpora = {n: load_benchmark(data_root(), n, "dev", limit=args.limit) for n in BENCHMARKS}
        reference = mentions_of(DEFAULT_MODEL, corpora)
        for row in rows:
            found = reference if row["variant"] == "default" else mentions_of(models[row["variant"]], corpora)
            row["dice"] = dice(keys(corpora, reference), keys(corpora, found))
            row |= {k: v for k, v in pooled_scores(corpora, found).items() if k in ("precision", "recall")}
            print(json.dumps(row), file=sys.stderr)
    speed = speeds(models, args.rounds)
    report = {
        "command": "python experiments/mlp_prune.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "cpu": __import__("platform").processor() or "x86_64",
        "flags": cpu_flags(),
        "calib_texts": len(texts),
        "limit": args.limit,
        "rounds": args.rounds,
        "rows": rows,
        "speed": speed,
        "retrained": [
            retrain(v, build / v, build, args.reuse) for v in filter(None, args.retrain.split(","))
        ],
        "shipped": shipped_points(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, default=str))
    out.with_suffix(".md").write_text(render(report))
    print(render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
