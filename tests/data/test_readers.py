"""Data readers: formats, and errors that name the file and line."""

from __future__ import annotations

import json

import pytest

from tommer.data.readers import read_annotated, read_benchmark_json, read_bio, read_jsonl
from tommer.errors import DataFormatError

SENTENCE = "Angela Merkel met Emmanuel Macron in Paris."


def test_bio_rebuilds_text_with_consistent_offsets(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(
        "Angela\tB-person\nMerkel\tI-person\nvisited\tO\nParis\tB-city\n.\tO\n\nHi\tO\nBob\tI-person\n"
    )
    docs = read_bio(path)
    assert [d.text for d in docs] == ["Angela Merkel visited Paris .", "Hi Bob"]
    assert docs[0].mention_texts() == ["Angela Merkel", "Paris"]
    assert docs[1].mention_texts() == ["Bob"]  # I- without B- opens a mention


def test_bio_mentions_are_untyped(tmp_path):
    path = tmp_path / "a.bio"
    path.write_text("a\tB-x\nb\tI-y\nc\tB-x\nd\tI-x\ne\tO\nf\tS-x\n")
    assert read_bio(path)[0].mention_texts() == ["a b", "c d", "f"]


def test_bio_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("Angela\tB-person\nMerkel\n")
    with pytest.raises(DataFormatError, match=r"bad.txt:2: expected 'word<TAB>tag'"):
        read_bio(path)
    path.write_text("Angela\tX-person\n")
    with pytest.raises(DataFormatError, match=r"bad.txt:1: invalid BIO tag"):
        read_bio(path)


def test_undecodable_bytes_are_reported(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"ok\tO\n" + "caf\xe9\tO\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"latin1.txt:2: invalid UTF-8"):
        read_bio(path)


def test_jsonl_spans_and_errors(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [
        {"text": "Paris is big", "spans": [[0, 5]]},
        {"text": "In Rome", "entities": [{"start": 3, "end": 7}]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert [d.mention_texts() for d in read_jsonl(path)] == [["Paris"], ["Rome"]]
    path.write_text(json.dumps(rows[0]) + "\n{not json}\n")
    with pytest.raises(DataFormatError, match=r"d.jsonl:2: invalid JSON"):
        read_jsonl(path)
    path.write_text(json.dumps({"text": "abc", "spans": [[1, 9]]}) + "\n")
    with pytest.raises(DataFormatError, match=r"d.jsonl:1: span \[1, 9\) is outside"):
        read_jsonl(path)


def test_benchmark_json_and_missing_paths(tmp_path):
    path = tmp_path / "test.json"
    path.write_text(json.dumps([{"sentence": "EU rejects it", "entities": [{"name": "EU", "pos": [0, 2]}]}]))
    assert read_annotated(path)[0].mention_texts() == ["EU"]
    path.write_text(json.dumps([{"sentence": "EU", "entities": [{"name": "EU"}]}]))
    with pytest.raises(DataFormatError, match="record 1"):
        read_annotated(path)
    with pytest.raises(DataFormatError, match="missing.json: no such file"):
        read_annotated(tmp_path / "missing.json")


def test_pile_ner_part_reads(shared_data):
    docs = read_bio(shared_data / "pile-ner" / "391xALL_BIO_dev.txt")
    assert len(docs) == 2217
    assert sum(len(d.spans) for d in docs) == 30822
    for d in docs[:50]:
        for s, e in d.spans:
            assert d.text[s:e].strip() == d.text[s:e]


def test_read_bio_typed(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("New\tB-city\nYork\tI-city\nTimes\tI-organization\nsays\tO\nhi\tI-greeting\n\nA\tO\n")
    untyped = read_bio(path)
    assert untyped[0].spans == [(0, 14), (20, 22)] and untyped[0].labels is None
    typed = read_bio(path, typed=True)
    doc = typed[0]
    assert [doc.text[s:e] for s, e in doc.spans] == ["New York", "Times", "hi"]
    assert doc.labels == ["city", "organization", "greeting"]
    assert typed[1].spans == [] and typed[1].labels == []


def test_read_benchmark_json_typed(tmp_path):
    path = tmp_path / "b.json"
    ents = [
        {"name": "Paris", "type": "location", "pos": [37, 42]},
        {"name": "Angela", "type": "person", "pos": [0, 6]},
    ]
    path.write_text(json.dumps([{"sentence": SENTENCE, "entities": ents}]))
    doc = read_annotated(path, typed=True)[0]
    assert doc.spans == [(0, 6), (37, 42)] and doc.labels == ["person", "location"]
    assert read_annotated(path)[0].spans == doc.spans
    path.write_text(json.dumps([{"sentence": SENTENCE, "entities": [{"pos": [0, 6]}]}]))
    assert read_benchmark_json(path)[0].labels is None
    with pytest.raises(DataFormatError, match=r"b\.json:record 1: entity without a string 'type'"):
        read_benchmark_json(path, typed=True)
