"""Join supervised type heads already trained on the same probe into one ensemble head (this was
``tommer combine-types``). An ensemble given counts as its members; they must agree on everything but
``--extra-layers``, so members may read different layers: the ensemble reads the union in one backbone
pass and hands each member its own layers. The candidate and label thresholds are chosen again on
``--val-data`` (from ``tommer.training.type_training.CANDIDATE_THRESHOLDS`` plus the members' training
value). ``--group-stride S`` (S divides the heads' ``--join-sentences`` N) makes the head read each
sentence N/S times: in the groups of N and in the groups shifted by S, 2S, ... sentences; the class
probabilities of a span read several times are averaged (``tommer eval --typed`` reads it that way).

The shipped CoNLL 2003 ensemble (its card lists the member runs, ``train_types_lab.py``):

    python experiments/combine_types.py build/l12-8-18-s0 build/l12-8-18-s1 build/l12-8-18-s3 \\
        --val-data "../shared/data/benchmarks/CoNLL 2003/dev.json" --group-stride 4 \\
        --cache-dir build/cache --out build/conll2003-l12-8-18-bilstm-x5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from ensembles import ensemble
from lab_cli import command_line, run_command

from tommer.cli.common import logger
from tommer.data.readers import read_annotated
from tommer.errors import TommerError
from tommer.training.type_training import (
    CANDIDATE_THRESHOLDS,
    candidate_recall,
    encode_grouped,
    held_out_words,
    probe_candidates,
    set_operating_point,
    write_card_section,
)
from tommer.typed.detector import MentionDetector
from tommer.typed.type_head import TypeHead


def member_records(directory: str, head: TypeHead) -> list[dict]:
    """Seed, layers and held-out history of each member of a saved head, for the ensemble's info."""
    info, reading = head.config.info, head.config.reading
    members = info.get("members") or [{"seed": info.get("seed"), "history": info.get("history", [])}]
    layers = reading.member_extra_layers or [reading.extra_layers] * head.config.architecture.members
    source = {"source": str(directory), "source_command": info.get("command", "")}
    return [{**m, "extra_layers": list(x), **source} for m, x in zip(members, layers)]


def combine_types(
    models: Sequence[str],
    val_data: Sequence[str],
    out: str,
    cache_dir: str | None = None,
    val_limit: int | None = None,
    group_stride: int = 0,
    command: str = "",
    log=print,
) -> Path:
    """Save one detector whose type head averages the supervised heads of ``models`` (trained on the
    same probe; they may read different extra layers), its candidate and label thresholds chosen on
    ``val_data``."""
    if len(models) < 2:
        raise TommerError("combine-types needs at least two detector directories")
    base = MentionDetector.from_pretrained(models[0])
    # one backbone for all: a model on another backbone is refused below, before any use
    dets = [base, *(MentionDetector.from_pretrained(m, backbone=base.backbone) for m in models[1:])]
    for directory, det in zip(models, dets):
        if det.type_head is None or det.type_head.zero_shot:
            raise TommerError(f"{directory} has no supervised type head")
        weights = zip(det.probe.state_dict().values(), base.probe.state_dict().values())
        same_weights = all(torch.equal(a, b) for a, b in weights)
        if not same_weights or det.config.to_dict() != base.config.to_dict():
            raise TommerError(f"{directory} has another probe or backbone than {models[0]}")
    head = ensemble([det.type_head for det in dets])
    cfg, reading = head.config, head.config.reading
    read = reading.read_layers(base.config.layer)
    base.load_layers(max(read))
    docs = [d for path in val_data for d in read_annotated(path, typed=True)][:val_limit]
    if not docs:
        raise TommerError(f"no annotated texts in {', '.join(val_data)}")
    n_val = len(docs)
    if group_stride < 0 or (group_stride and reading.join_sentences % group_stride):
        raise TommerError(
            f"--group-stride must divide the head's group size ({reading.join_sentences}), not {group_stride}"
        )
    reading.group_stride = group_stride
    cpu, wall = time.process_time(), time.perf_counter()
    grouping = reading.join_sentences, group_stride, reading.text_prefix
    held_out = encode_grouped(base, docs, read, reading.echo, *grouping, cache_dir, "held-out")
    first = base.type_head.config
    trained_at = first.info.get("training_candidate_threshold", first.operating.candidate_threshold)
    f1, extra, operating = set_operating_point(
        head, base.probe, held_out, CANDIDATE_THRESHOLDS, trained_at, log
    )
    val = held_out.plain
    cands = probe_candidates(base.probe, val, cfg.operating.candidate_threshold)
    cfg.info = {
        "training_data": first.info.get("training_data", ""),
        "validation": held_out_words(", ".join(val_data), n_val, bool(val_limit), reading.join_sentences),
        "base_model": first.info.get("base_model", str(models[0])),
        "combined_from": [str(m) for m in models],
        "command": command,
        "candidate_recall": {"held_out": candidate_recall(val, cands)},
        "held_out_typed_f1": f1,
        **{f"held_out_{k}": v for k, v in extra.items()},
        **operating,
        "encode_cpu_seconds": round(time.process_time() - cpu, 1),
        "encode_wall_seconds": round(time.perf_counter() - wall, 1),
        "train_cpu_seconds": round(sum(d.type_head.config.info.get("train_cpu_seconds", 0) for d in dets)),
        "parameters": head.num_parameters(),
        "members": [r for m, det in zip(models, dets) for r in member_records(m, det.type_head)],
    }
    log("held-out: " + json.dumps({"typed_f1": f1, **extra}))
    base.type_head = head
    base.save_pretrained(out)
    write_card_section(Path(out) / "README.md", head)
    members = cfg.architecture.members
    log(f"saved an ensemble of {members} type heads ({head.num_parameters():,} parameters) to {out}")
    return Path(out)


def run(args: argparse.Namespace) -> int:
    combine_types(
        models=args.models,
        val_data=args.val_data,
        out=args.out,
        cache_dir=args.cache_dir,
        val_limit=args.val_limit,
        group_stride=args.group_stride,
        command=command_line("combine_types.py", args.argv),
        log=logger(args),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    ct = argparse.ArgumentParser(prog="experiments/combine_types.py", description=__doc__.split("\n")[0])
    ct.add_argument("models", nargs="+", metavar="MODEL_DIR", help="detectors with supervised heads")
    ct.add_argument("--val-data", nargs="+", required=True, help="held-out files (thresholds)")
    ct.add_argument("--val-limit", type=int, help="use only the first N held-out texts")
    ct.add_argument(
        "--group-stride",
        type=int,
        default=0,
        metavar="N",
        help="heads reading sentence groups: start a group every N sentences (below the group size, each "
        "sentence is read in several groups and their class probabilities averaged; default: no overlap)",
    )
    ct.add_argument("--cache-dir", help="keep layer-L hidden states here between runs")
    ct.add_argument("--out", required=True, help="detector to write (first model's probe)")
    ct.add_argument("-q", "--quiet", action="store_true")
    ct.set_defaults(func=run)
    return ct


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
