"""Distillation across backbones: the default model's confident spans as extra labels for another
backbone's probe (issue #20: a cheaper backbone at the default's quality would meet the speed target).

``tommer train --teacher`` distils within one backbone (the teacher probe reads the same hidden
states). Here the teacher is a whole detector (``--teacher``, default: the shipped default), run
through the public API on the Pile-NER training split that ``tommer train`` uses (the seeded 90%);
its mentions (``--decoding``, default ``flat``: the teacher's own operating point, one mention per
place; ``threshold`` at 0.9 marks five times as many spans as the gold) join each text's gold spans as
character offsets, so any student backbone can read them (spans that do not fall on the student's
token boundaries are dropped by ``tommer train`` as gold spans would be). Writes, under ``--out``:
``train.jsonl`` (gold only), ``train_teacher.jsonl`` (gold + teacher spans) and ``heldout.jsonl``
(the 10% ``tommer train`` holds out, gold only). Then the student is trained on each with one recipe
(``STUDENT``: the shipped ``minilm-l6``'s, layer 3, token shapes, 4 epochs) by ``tommer train``, its
operating point is chosen on dev by ``scripts/choose_operating_point.py`` (300 sentences per
benchmark), and the two are written side by side to ``--report`` (.md, .json)::

    python experiments/cross_distill.py        # build/xd, results/tried/cross_distill.{md,json}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from tommer.api import load
from tommer.data.readers import PILE_NER_BIO, data_root, read_bio
from tommer.training.training import split_holdout


def write_jsonl(path: Path, docs, extra: list[set[tuple[int, int]]] | None = None) -> int:
    """Write ``docs`` (with ``extra`` spans joined to each one's gold) as tommer JSONL; spans written."""
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for k, doc in enumerate(docs):
            spans = sorted(set(doc.spans) | (extra[k] if extra else set()))
            count += len(spans)
            f.write(
                json.dumps({"text": doc.text, "spans": [list(s) for s in spans]}, ensure_ascii=False) + "\n"
            )
    return count


ROOT = Path(__file__).resolve().parent.parent
STUDENT = ["--backbone", "minilm-l6", "--layer", "3", "--token-shapes", "--epochs", "4", "--seed", "0"]


def run(command: list[str]) -> None:
    print("+ " + " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True, cwd=ROOT)


def train_and_choose(out: Path, labels: str) -> dict:
    """Train the student on ``labels`` (a JSONL under ``out``) and choose its operating point on dev."""
    model, op = out / f"student-{labels}", out / f"op-{labels}"
    data = ["--data", str(out / f"{labels}.jsonl"), "--val-data", str(out / "heldout.jsonl")]
    cache = ["--cache-dir", str(ROOT / "build" / "states")]
    run([sys.executable, "-m", "tommer.cli", "train", "-q", *data, *STUDENT, *cache, "--out", str(model)])
    choose = ROOT / "scripts" / "choose_operating_point.py"
    run([sys.executable, str(choose), "--model", str(model), "--limit", "300", "--out", str(op)])
    report = json.loads(op.with_suffix(".json").read_text())
    best = max(report["rows"], key=lambda r: r["f1"])
    return {"labels": labels, "model": str(model), "chosen": report["chosen"], "best": best}


LABELS = {"train": "gold", "train_teacher": "gold + teacher"}


def render(report: dict) -> str:
    f = report["facts"]
    lines = [
        "# Distillation across backbones: the default's mentions as labels for minilm-l6 (issue #20)",
        "",
        f"Written by `{report['command']}`. Teacher `{f['teacher']}` (decoding `{f['decoding']}`, threshold "
        f"{f['threshold'] or 'its own'}) on the {f['train_texts']} Pile-NER training texts of "
        "`tommer train`'s "
        f"split: {f['teacher_spans']} teacher mentions against {f['gold_spans']} gold spans "
        f"({f['gold_and_teacher_spans']} in their union). Student: `tommer train {' '.join(STUDENT)}`, "
        f"held out on the {f['heldout_texts']} texts `tommer train` holds out (gold only). Pooled dev "
        "scores of 300 sentences per benchmark (`scripts/choose_operating_point.py`): the chosen point "
        "(threshold 0.5, smallest margin within 0.5 F1 points of the best) and the best of its grid.",
        "",
        "| labels | chosen: threshold, margin | P | R | F1 | best of grid: threshold, margin | P | R | F1 |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in report["students"]:
        c, b = r["chosen"], r["best"]
        lines.append(
            f"| {LABELS[r['labels']]} | {c['threshold']}, {c['margin']} | {100 * c['precision']:.1f} | "
            f"{100 * c['recall']:.1f} | {100 * c['f1']:.1f} | {b['threshold']}, {b['margin']} | "
            f"{100 * b['precision']:.1f} | {100 * b['recall']:.1f} | {100 * b['f1']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", default=None, help="a model name or folder (default: the shipped default)")
    ap.add_argument("--threshold", type=float, help="teacher probability (default: the teacher's own)")
    ap.add_argument("--decoding", default="flat", help="the teacher's decoding (default: flat)")
    ap.add_argument("--data-root")
    ap.add_argument("--seed", type=int, default=0, help="the held-out split's seed (tommer train's --seed)")
    ap.add_argument("--out", default=str(ROOT / "build" / "xd"), help="data and students (not shipped)")
    ap.add_argument("--report", default=str(ROOT / "results" / "tried" / "cross_distill"))
    ap.add_argument("--render", metavar="JSON", help="only rewrite the .md of a report from its .json")
    args = ap.parse_args(argv)
    if args.render:
        source = Path(args.render)
        source.with_suffix(".md").write_text(render(json.loads(source.read_text())))
        return 0
    root = Path(args.data_root) if args.data_root else data_root()
    train, held = split_holdout(read_bio(root / PILE_NER_BIO), 0.1, args.seed)
    detector = load(args.teacher) if args.teacher else load()
    found = detector([d.text for d in train], threshold=args.threshold, decoding=args.decoding)
    teacher = [{(m.start, m.end) for m in mentions} for mentions in found]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gold = write_jsonl(out / "train.jsonl", train)
    joined = write_jsonl(out / "train_teacher.jsonl", train, teacher)
    write_jsonl(out / "heldout.jsonl", held)
    facts = {
        "teacher": args.teacher or "default",
        "threshold": args.threshold,
        "decoding": args.decoding,
        "train_texts": len(train),
        "heldout_texts": len(held),
        "gold_spans": gold,
        "gold_and_teacher_spans": joined,
        "teacher_spans": sum(map(len, teacher)),
    }
    print(json.dumps(facts), file=sys.stderr)
    del detector
    report = {
        "command": " ".join(["python experiments/cross_distill.py", *(argv or sys.argv[1:])]),
        "facts": facts,
        "students": [train_and_choose(out, "train"), train_and_choose(out, "train_teacher")],
    }
    target = Path(args.report)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    target.with_suffix(".md").write_text(render(report))
    print(render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
