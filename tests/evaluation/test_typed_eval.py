"""The typed report (``tommer eval --typed``): rows, averages, gold type names."""

from __future__ import annotations

import pytest

from tommer.errors import DataFormatError


def test_typed_report_names_duplicate_rows_and_compares_only_test_with_targets():
    from tommer.evaluation.typed_eval import render_markdown

    def row(model, f1):
        micro = {"precision": f1, "recall": f1, "f1": f1}
        return {
            "benchmark": "CoNLL 2003",
            "setting": "supervised",
            "model": model,
            "sentences": 3,
            "micro": micro,
            "per_type": {},
            "head": {},
        }

    report = {
        "command": "tommer eval --typed",
        "split": "dev",
        "limit": None,
        "label_names": {},
        "gold_aliases": {},
        "rows": [row("old", 0.91), row("new", 0.93)],
    }
    text = render_markdown(report)
    assert "| CoNLL 2003 (`old`) |" in text and "| CoNLL 2003 (`new`) |" in text
    assert "not compared" in text and "met" not in text
    report.update(split="test", rows=[row("new", 0.93)])
    text = render_markdown(report)
    assert "| CoNLL 2003 |" in text and "Supervised CoNLL 2003 test F1 >= 90: 93.0, met." in text

    # zero-shot rows and their LM-relabelled twins: one name per benchmark, an average per setting
    from tommer.evaluation.typed_eval import CROSSNER, LM_SETTING

    rows = []
    for name in CROSSNER:
        rows += [
            dict(row("m", 0.2), benchmark=name, setting="zero-shot"),
            dict(row("m", 0.4), benchmark=name),
        ]
        rows[-1]["setting"] = LM_SETTING
    report.update(rows=rows, crossner_average_f1=0.2, crossner_average_f1_lm_labels=0.4)
    text = render_markdown(report)
    assert f"| CrossNER_AI | {LM_SETTING} | 3 | 40.0 | 40.0 | **40.0** | 57.2 |" in text
    assert f"| **CrossNER average** | {LM_SETTING} | | | | **40.0** | 65.3 |" in text
    assert "average F1 >= 65 (zero-shot): 20.0, missed by 45.0 points." in text
    assert f"average F1 >= 65 ({LM_SETTING}): 40.0, missed by 25.0 points." in text
    assert f"- {LM_SETTING} rows:" in text and "(`m`)" not in text


def test_gold_renaming_aliases_and_unknown_types():
    from tommer.data.mention import AnnotatedText
    from tommer.evaluation.typed_eval import gold_renaming

    docs = [AnnotatedText("Sony and EMI", [(0, 4), (9, 12)], labels=["organisation", "misc"])]
    rename = gold_renaming(docs, ["organization", "else"], "music/test.json")
    assert rename == {"organisation": "organization", "misc": "miscellaneous"}
    bad = [AnnotatedText("Sony", [(0, 4)], labels=["company"])]
    with pytest.raises(DataFormatError, match="music/test.json: gold type 'company'"):
        gold_renaming(bad, ["organization", "else"], "music/test.json")
