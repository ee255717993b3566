"""Parquet records without a model: chunks across row groups, schemas, lone surrogates."""

from __future__ import annotations

import pytest

pa = pytest.importorskip("pyarrow", reason="the parquet extra is not installed")
import pyarrow.parquet as pq  # noqa: E402

from tommer.data import parquet  # noqa: E402
from tommer.errors import DataFormatError  # noqa: E402


def test_chunks_have_the_asked_size_whatever_the_row_groups(tmp_path):
    table = pa.table({"id": list(range(23)), "text": [f"t{k}" for k in range(23)]})
    pq.write_table(table, tmp_path / "x.parquet", row_group_size=5)
    chunks = list(parquet.iter_row_chunks(tmp_path / "x.parquet", 8, "x.parquet"))
    assert [(first, t.num_rows) for first, t in chunks] == [(1, 8), (9, 8), (17, 7)]
    rows = [r for first, t in chunks for _, r in parquet.table_records(t, first, "x.parquet")]
    assert [r["id"] for r in rows] == list(range(23))


def test_null_text_names_its_row(tmp_path):
    pq.write_table(pa.table({"text": ["a", "b", None]}), tmp_path / "x.parquet")
    ((first, table),) = parquet.iter_row_chunks(tmp_path / "x.parquet", 10, "x.parquet")
    with pytest.raises(DataFormatError, match="row 3: 'text' is null"):
        parquet.table_records(table, first, "x.parquet")


def test_output_keeps_the_base_types_and_refuses_new_fields():
    base = pa.schema([("id", pa.int16()), ("text", pa.string())])
    schema = parquet.output_schema([], parquet.mentions_type(), base)
    assert schema.names == ["id", "text", "mentions"] and schema.field("id").type == pa.int16()
    mention = {"start": 0, "end": 5, "text": "Paris", "score": 0.9}
    table = parquet.records_table([{"id": 1, "text": "Paris", "mentions": [mention]}], schema)
    assert table.to_pylist()[0]["mentions"] == [mention]
    with pytest.raises(DataFormatError, match=r"fields \['extra'\]"):
        parquet.records_table([{"id": 1, "text": "x", "mentions": [], "extra": 1}], schema)


def test_typed_and_pipeline_mentions_types():
    assert [f.name for f in parquet.mentions_type("json", typed=True).value_type] == [
        "start",
        "end",
        "text",
        "score",
        "label",
        "label_score",
    ]
    assert [f.name for f in parquet.mentions_type("pipeline").value_type] == [
        "entity_group",
        "score",
        "word",
        "start",
        "end",
    ]


def test_lone_surrogates_become_replacement_characters_of_the_same_length():
    value = {"text": "Paris \udcff is", "mentions": [{"text": "\ud800"}]}
    safe = parquet.utf8_safe(value)
    assert safe == {"text": "Paris \ufffd is", "mentions": [{"text": "\ufffd"}]}
    assert len(safe["text"]) == len(value["text"])
