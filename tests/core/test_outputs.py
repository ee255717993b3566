"""Hugging Face ``token-classification``-style output: the function, ``detector(output=...)``, the CLI."""

from __future__ import annotations

import json

import pytest

import tommer
from tommer.cli import main
from tommer.core.outputs import as_pipeline_output, format_mentions, pipeline_dict
from tommer.data.mention import Mention
from tommer.errors import ConfigError

SENTENCE = "Angela Merkel met Emmanuel Macron in Paris."
KEYS = {"entity_group", "score", "word", "start", "end"}


def test_pipeline_dict_untyped_and_typed():
    untyped = Mention(0, 6, "Angela", 0.75)
    assert pipeline_dict(untyped) == {
        "entity_group": "MENTION",
        "score": 0.75,
        "word": "Angela",
        "start": 0,
        "end": 6,
    }
    assert pipeline_dict(untyped, default_label="ENT")["entity_group"] == "ENT"
    typed = Mention(0, 6, "Angela", 0.75, label="person", label_score=0.9)
    assert pipeline_dict(typed, default_label="ENT")["entity_group"] == "person"


def test_as_pipeline_output_one_text_and_batches():
    a, b = Mention(0, 5, "Paris", 0.9), Mention(10, 16, "Berlin", 0.8, label="LOC", label_score=0.7)
    assert as_pipeline_output([a, b]) == [pipeline_dict(a), pipeline_dict(b)]
    assert as_pipeline_output([[a], [], [b]]) == [[pipeline_dict(a)], [], [pipeline_dict(b)]]
    assert as_pipeline_output([]) == []
    assert tommer.as_pipeline_output is as_pipeline_output


@pytest.mark.parametrize("bad", [["Paris"], [{"start": 0}], [[Mention(0, 5, "Paris", 0.9), "x"]], [3]])
def test_as_pipeline_output_rejects_non_mentions(bad):
    with pytest.raises(ConfigError, match="item #0"):
        as_pipeline_output(bad)


def test_as_pipeline_output_rejects_a_mix_and_empty_label():
    m = Mention(0, 5, "Paris", 0.9)
    with pytest.raises(ConfigError, match="not a mix"):
        as_pipeline_output([m, [m]])
    with pytest.raises(ConfigError, match="default_label"):
        as_pipeline_output([m], default_label="")


def test_format_mentions_rejects_unknown_format():
    with pytest.raises(ConfigError, match="unknown output format 'hf'"):
        format_mentions([], "hf")


def test_detector_pipeline_output_matches_mentions(detector):
    mentions = detector(SENTENCE)
    rows = detector(SENTENCE, output="pipeline")
    assert rows == as_pipeline_output(mentions)
    assert len(rows) == len(mentions) > 0
    for row in rows:
        assert set(row) == KEYS
        assert SENTENCE[row["start"] : row["end"]] == row["word"]
        assert row["entity_group"] == "MENTION"
        assert isinstance(row["score"], float)
    assert {"word": "Angela Merkel", "start": 0, "end": 13}.items() <= next(
        r for r in rows if r["word"] == "Angela Merkel"
    ).items()


def test_detector_output_formats_on_batches(detector):
    texts = [SENTENCE, "", "Barack Obama visited Berlin."]
    mentions = detector(texts)
    assert detector(texts, output="pipeline") == as_pipeline_output(mentions)
    assert detector(texts, output="dicts") == [[m.to_dict() for m in ms] for ms in mentions]
    assert detector(texts, output="mentions") == mentions


def test_detector_rejects_unknown_output(detector):
    with pytest.raises(ConfigError, match="unknown output format"):
        detector(SENTENCE, output="hf")


def test_cli_format_pipeline_prints_one_json_list_per_text(detector, capsys):
    texts = [SENTENCE, "Barack Obama visited Berlin."]
    assert main(["detect", "--format", "pipeline", *texts]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for text, line in zip(texts, lines):
        assert json.loads(line) == detector(text, output="pipeline")


def test_cli_format_json_equals_json_flag(capsys):
    assert main(["detect", "--format", "json", SENTENCE]) == 0
    as_format = capsys.readouterr().out
    assert main(["detect", "--json", SENTENCE]) == 0
    assert capsys.readouterr().out == as_format
    assert "Angela Merkel" in as_format and "entity_group" not in as_format


def test_cli_format_pipeline_on_jsonl_records(detector, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"id": 7, "text": SENTENCE}) + "\n", encoding="utf-8")
    assert main(["detect", "-q", "--format", "pipeline", "-i", str(src), "-o", str(out)]) == 0
    (rec,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rec["id"] == 7
    assert rec["mentions"] == detector(SENTENCE, output="pipeline")


def test_cli_json_and_other_format_conflict(capsys):
    assert main(["detect", "--json", "--format", "pipeline", SENTENCE]) == 2
    assert "--json means --format json" in capsys.readouterr().err
