"""Parquet records (pyarrow, the ``parquet`` extra): read in chunks of rows, written with a mentions column.

A corpus record is a row; its ``mentions`` column is a list of structs whose fields are those of
the JSONL output (``Mention.to_dict()``: start, end, text, score, and label / label_score when
typed; or the Hugging Face pipeline dict). Arrow strings are UTF-8, so a lone surrogate (which JSON
allows) is written as U+FFFD, one character for one: offsets stay exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataFormatError

PARQUET_SUFFIXES = (".parquet", ".pq")
_SURROGATE = re.compile("[\ud800-\udfff]")


def is_parquet(path: str | Path) -> bool:
    """Parquet by extension."""
    return str(path).endswith(PARQUET_SUFFIXES)


def pyarrow():
    """The pyarrow module, or a ConfigError saying how to install it."""
    try:
        import pyarrow as pa
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ConfigError("Parquet needs pyarrow: pip install 'tommer[parquet]'") from None
    return pa


def mentions_type(style: str = "json", typed: bool = False):
    """The Arrow type of a record's ``mentions``: ``json`` (Mention dicts) or ``pipeline`` dicts."""
    pa = pyarrow()
    if style == "pipeline":
        fields = [("entity_group", pa.string()), ("score", pa.float64()), ("word", pa.string())]
        fields += [("start", pa.int64()), ("end", pa.int64())]
    else:
        fields = [("start", pa.int64()), ("end", pa.int64()), ("text", pa.string()), ("score", pa.float64())]
        if typed:
            fields += [("label", pa.string()), ("label_score", pa.float64())]
    return pa.list_(pa.struct(fields))


def utf8_safe(value: Any) -> Any:
    """The value with every lone surrogate in its strings replaced by U+FFFD (same length)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {k: utf8_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [utf8_safe(v) for v in value]
    return value


def output_schema(records: list[dict], mentions, base=None):
    """The output schema: ``base`` (the input's Arrow schema) or one inferred from ``records``,
    then ``mentions`` as the last column."""
    pa = pyarrow()
    if base is None:
        fields = [{k: v for k, v in r.items() if k != "mentions"} for r in records]
        base = pa.Table.from_pylist([utf8_safe(r) for r in fields]).schema
    names = [f for f in base if f.name != "mentions"]
    return pa.schema([*names, pa.field("mentions", mentions)])


def records_table(records: list[dict], schema, where: str = "output"):
    """Output records as an Arrow table of ``schema``; a record that does not fit is a clear error
    (a field the schema lacks would otherwise be dropped silently)."""
    pa = pyarrow()
    names = set(schema.names)
    for k, rec in enumerate(records):
        extra = set(rec) - names
        if extra:
            raise DataFormatError(
                where,
                None,
                f"record {k + 1} of a chunk has fields {sorted(extra)} that the first chunk "
                "lacked; Parquet needs one schema: write JSONL instead, or give every record the same fields",
            )
    try:
        return pa.Table.from_pylist([utf8_safe(r) for r in records], schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as err:
        raise DataFormatError(where, None, f"records do not fit the Parquet schema ({err})") from None


def check_text_column(schema, where: str | Path) -> None:
    """A Parquet input needs a string column ``text``."""
    pa = pyarrow()
    if "text" not in schema.names:
        raise DataFormatError(where, None, f"no 'text' column (columns: {', '.join(schema.names)})")
    kind = schema.field("text").type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise DataFormatError(where, None, f"column 'text' is {kind}, not a string")


def open_file(source, where: str | Path):
    """A ``pyarrow.parquet.ParquetFile`` with a string ``text`` column, or a DataFormatError naming
    ``where``. ``source`` is a path or an open random-access file."""
    pa = pyarrow()
    try:
        file = pa.parquet.ParquetFile(source)
    except (OSError, pa.ArrowInvalid) as err:
        raise DataFormatError(where, None, f"not a readable Parquet file ({err})") from None
    check_text_column(file.schema_arrow, where)
    return file


def iter_row_chunks(source, size: int, where: str | Path) -> Iterator[tuple[int, Any]]:
    """(first row number, Arrow table of ``size`` rows) of a Parquet file, streamed by row group;
    row numbers start at 1. ``source`` is a path or an open random-access file."""
    pa = pyarrow()
    parquet = open_file(source, where)
    pending, first = [], 1
    held = 0
    try:
        for batch in parquet.iter_batches(batch_size=size):
            pending.append(batch)
            held += batch.num_rows
            while held >= size:
                table = pa.Table.from_batches(pending, schema=parquet.schema_arrow)
                yield first, table.slice(0, size)
                rest = table.slice(size)
                pending, held, first = rest.to_batches(), rest.num_rows, first + size
    except (OSError, pa.ArrowInvalid) as err:
        raise DataFormatError(where, None, f"cannot read row {first + held} on ({err})") from None
    if held:
        yield first, pa.Table.from_batches(pending, schema=parquet.schema_arrow)


def table_records(table, first: int, where: str | Path) -> list[tuple[int, dict]]:
    """(row number, record) pairs of a chunk; a null ``text`` is an error naming its row."""
    out = []
    for k, rec in enumerate(table.to_pylist()):
        if not isinstance(rec.get("text"), str):
            raise DataFormatError(where, None, f"row {first + k}: 'text' is null")
        out.append((first + k, rec))
    return out


__all__ = [
    "PARQUET_SUFFIXES",
    "check_text_column",
    "is_parquet",
    "iter_row_chunks",
    "mentions_type",
    "open_file",
    "output_schema",
    "pyarrow",
    "records_table",
    "table_records",
    "utf8_safe",
]
