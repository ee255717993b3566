"""Which CrossNER label names the zero-shot head's training data ever shows it.

The zero-shot head is trained on the Pile-NER part in ``<data>/pile-ner`` (its types are the
labels it sees). For each CrossNER domain this counts the test split's gold mentions by type
(read as the zero-shot rows read them: ``tommer.evaluation.typed_eval`` renames), the share whose type name
is a Pile-NER training type, and, per CrossNER type, its Pile-NER mention count (0: never seen).
Data only, no model. Writes ``<out>.md`` and ``<out>.json``.

    python scripts/label_coverage.py --out results/typed/label_coverage
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import Counter
from pathlib import Path

from tommer.data.readers import PILE_NER_BIO, data_root, read_annotated
from tommer.evaluation.typed_eval import gold_renaming

DOMAINS = ("AI", "literature", "music", "politics", "science")


RESULTS = Path(__file__).resolve().parent.parent / "results"  # written here from any cwd


def coverage(root: Path) -> dict:
    pile = Counter(lab for d in read_annotated(root / PILE_NER_BIO, typed=True) for lab in d.labels)
    rows = []
    for domain in DOMAINS:
        folder = root / "benchmarks" / f"CrossNER_{domain}"
        names = json.loads((folder / "labels.json").read_text())
        docs = read_annotated(folder / "test.json", typed=True)
        rename = gold_renaming(docs, names, str(folder / "test.json"))
        gold = Counter(rename[lab] for d in docs for lab in d.labels)
        total = sum(gold.values())
        seen = sum(n for lab, n in gold.items() if pile[lab])
        types = [{"type": lab, "gold": n, "pile_ner": pile[lab]} for lab, n in gold.most_common()]
        rows.append({"domain": domain, "gold": total, "seen_share": seen / total, "types": types})
    total = sum(r["gold"] for r in rows)
    seen = sum(r["seen_share"] * r["gold"] for r in rows)
    return {
        "pile_ner_types": len(pile),
        "pile_ner_mentions": sum(pile.values()),
        "domains": rows,
        "seen_share": seen / total,
        "gold": total,
    }


def render(report: dict, command: str) -> str:
    lines = [
        "# CrossNER label names in the zero-shot head's training data",
        "",
        f"Regenerate with:\n\n```\n{command}\n```",
        "",
        f"- Training data: the Pile-NER part, {report['pile_ner_mentions']} mentions of "
        f"{report['pile_ner_types']} types (the zero-shot head trains on its fixed 90% split).",
        "- CrossNER: test split, gold types read as the zero-shot rows read them "
        "(renamings in `tommer.evaluation.typed_eval`).",
        f"- Gold mentions whose type name is a Pile-NER type: **{report['seen_share']:.1%}** "
        f"of {report['gold']}.",
        "",
        "| domain | gold mentions | type name seen in training |",
        "|---|---:|---:|",
    ]
    lines += [f"| {r['domain']} | {r['gold']} | {r['seen_share']:.1%} |" for r in report["domains"]]
    for r in report["domains"]:
        lines += [
            "",
            f"## CrossNER_{r['domain']}",
            "",
            "| type | gold mentions | Pile-NER mentions |",
            "|---|---:|---:|",
        ]
        lines += [f"| {t['type']} | {t['gold']} | {t['pile_ner']} |" for t in r["types"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="data root (default: $TOMMER_DATA or ../shared/data)")
    parser.add_argument("--out", default=str(RESULTS / "typed/label_coverage"), help="path, no extension")
    args = parser.parse_args(argv)
    root = Path(args.data) if args.data else data_root()
    if not (root / "pile-ner").is_dir():
        sys.exit(f"no Pile-NER data under {root}: give --data or set TOMMER_DATA")
    report = coverage(root)
    command = "python scripts/label_coverage.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    out.with_suffix(".md").write_text(render(report, command.strip()))
    print(f"wrote {out}.md: {report['seen_share']:.1%} of CrossNER test gold mentions have a seen type name")
    return 0


if __name__ == "__main__":
    sys.exit(main())
