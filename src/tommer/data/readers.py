"""Readers for annotated data and for texts to annotate.

Formats (chosen by :func:`read_annotated` from the file's extension and content):

- benchmark JSON (``*.json``): a list of ``{"sentence", "entities": [{"name", "pos": [s, e]}]}``
  (the InstructUIE format of ``shared/data/benchmarks``);
- word-level BIO / CoNLL (``*.txt``, ``*.bio``, ``*.conll``, ``*.tsv``): ``word<TAB>tag`` lines,
  a blank line between passages; the text is rebuilt by joining words with single spaces;
- JSONL (``*.jsonl``): one ``{"text", "spans": [[s, e], ...]}`` per line (``entities`` with
  ``start``/``end`` or ``pos`` also accepted).

Every problem raises :class:`~tommer.errors.DataFormatError` naming the file and line.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from ..errors import DataFormatError
from .mention import AnnotatedText

BIO_SUFFIXES = {".txt", ".bio", ".conll", ".tsv", ".iob"}


def is_gzip(path: str | Path) -> bool:
    return str(path).endswith(".gz")


def decode_line(path: str | Path, number: int, raw: bytes) -> str:
    """One line's bytes as text without its line break; undecodable bytes are a DataFormatError."""
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as err:
        raise DataFormatError(
            path, number, f"invalid UTF-8 byte(s) at column {err.start + 1}: {err.reason}"
        ) from None


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, text) pairs of a UTF-8 file, gunzipped if it ends in ``.gz``;
    undecodable bytes and corrupt gzip data are reported, not dropped."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, None, "no such file")
    number = 0
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                yield number, decode_line(path, number, raw)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataFormatError(path, number + 1, f"corrupt or truncated gzip data ({err})") from None


def _checked_span(path, where, text: str, start, end) -> tuple[int, int]:
    if not (isinstance(start, int) and isinstance(end, int)):
        raise DataFormatError(path, where, f"span offsets must be integers, got {start!r}, {end!r}")
    if not 0 <= start < end <= len(text):
        raise DataFormatError(path, where, f"span [{start}, {end}) is outside the text (length {len(text)})")
    return start, end


def read_benchmark_json(path: str | Path, typed: bool = False) -> list[AnnotatedText]:
    """Benchmark JSON; errors name the record (its 1-based index) as the 'line'.

    ``typed``: also read each entity's ``type`` into ``labels`` (the first type of a span
    annotated twice is kept, so ``spans`` are the same as in the untyped reading).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, None, "no such file")
    try:
        records = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise DataFormatError(path, None, f"invalid UTF-8 at byte {err.start}") from None
    except json.JSONDecodeError as err:
        raise DataFormatError(path, err.lineno, f"invalid JSON: {err.msg}") from None
    if not isinstance(records, list):
        raise DataFormatError(path, None, "expected a JSON list of records")
    out = []
    for k, rec in enumerate(records, start=1):
        if not isinstance(rec, dict) or not isinstance(rec.get("sentence"), str):
            raise DataFormatError(path, f"record {k}", "missing string field 'sentence'")
        text = rec["sentence"]
        spans = []
        types: dict[tuple[int, int], str] = {}
        for ent in rec.get("entities") or []:
            pos = ent.get("pos") if isinstance(ent, dict) else None
            if not (isinstance(pos, list) and len(pos) == 2):
                raise DataFormatError(path, f"record {k}", f"entity without 'pos' [start, end]: {ent!r}")
            spans.append(_checked_span(path, f"record {k}", text, *pos))
            if typed:
                if not (isinstance(ent.get("type"), str) and ent["type"].strip()):
                    raise DataFormatError(path, f"record {k}", f"entity without a string 'type': {ent!r}")
                types.setdefault(spans[-1], ent["type"])
        spans = sorted(set(spans))
        labels = [types[sp] for sp in spans] if typed else None
        out.append(AnnotatedText(text, spans, source=f"{path}#{k}", labels=labels))
    return out


def read_bio(path: str | Path, typed: bool = False) -> list[AnnotatedText]:
    """Word-level BIO/CoNLL: ``word<TAB>tag`` (or ``word tag``) lines, blank-line separated.

    Untyped (default): I- continues any open mention. ``typed``: an I-/E- tag of another type
    than the open mention starts a new one, and ``labels`` holds each mention's type.
    """
    out: list[AnnotatedText] = []
    words: list[str] = []
    tags: list[str] = []
    first_line = 1

    def flush() -> None:
        if words:
            out.append(_bio_to_text(words, tags, f"{path}:{first_line}", typed))
        words.clear()
        tags.clear()

    for number, line in iter_lines(path):
        if not line.strip():
            flush()
            first_line = number + 1
            continue
        if line.startswith("-DOCSTART-"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 2:
            raise DataFormatError(path, number, f"expected 'word<TAB>tag', got {line!r}")
        word, tag = parts[0], parts[-1].strip()
        if not (tag == "O" or tag[:2] in ("B-", "I-", "E-", "S-")):
            raise DataFormatError(path, number, f"invalid BIO tag {tag!r}")
        if not words:
            first_line = number
        words.append(word)
        tags.append(tag)
    flush()
    return out


def _bio_to_text(words: list[str], tags: list[str], source: str, typed: bool = False) -> AnnotatedText:
    """Join words with single spaces; BIO tags → character spans of the joined text."""
    if typed:
        return _typed_bio_to_text(words, tags, source)
    starts, pos = [], 0
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    text = " ".join(words)
    spans: list[tuple[int, int]] = []
    open_start: int | None = None
    for k, tag in enumerate(tags):
        kind = tag[0]
        # mentions are untyped: I-/E- continue the open mention whatever its type
        if open_start is not None and kind not in ("I", "E"):
            spans.append((open_start, starts[k - 1] + len(words[k - 1])))
            open_start = None
        if kind in ("B", "S") or (kind in ("I", "E") and open_start is None):
            open_start = starts[k]
    if open_start is not None:
        spans.append((open_start, starts[-1] + len(words[-1])))
    return AnnotatedText(text, spans, source=source)


def _typed_bio_to_text(words: list[str], tags: list[str], source: str) -> AnnotatedText:
    """Typed BIO: a mention ends at O, B-, S- or an I-/E- of another type."""
    starts, pos = [], 0
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    spans: list[tuple[int, int]] = []
    labels: list[str] = []
    open_start: int | None = None
    open_type = ""
    for k, tag in enumerate(tags + ["O"]):
        kind, kind_type = tag[0], tag[2:]
        continues = kind in ("I", "E") and kind_type == open_type
        if open_start is not None and not continues:
            spans.append((open_start, starts[k - 1] + len(words[k - 1])))
            labels.append(open_type)
            open_start = None
        if kind != "O" and open_start is None:
            open_start, open_type = starts[k], kind_type
    return AnnotatedText(" ".join(words), spans, source=source, labels=labels)


def read_jsonl(path: str | Path) -> list[AnnotatedText]:
    """JSONL with a ``text`` field and ``spans`` (or ``entities``) per line."""
    out = []
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        rec = parse_json_object(path, number, line)
        text = rec.get("text")
        if not isinstance(text, str):
            raise DataFormatError(path, number, "missing string field 'text'")
        spans = []
        for item in rec.get("spans", rec.get("entities", [])) or []:
            if isinstance(item, dict):
                if "pos" in item:
                    start, end = item["pos"][0], item["pos"][1]
                else:
                    start, end = item.get("start"), item.get("end")
            elif isinstance(item, list | tuple) and len(item) >= 2:
                start, end = item[0], item[1]
            else:
                raise DataFormatError(path, number, f"cannot read span {item!r}")
            spans.append(_checked_span(path, number, text, start, end))
        out.append(AnnotatedText(text, sorted(set(spans)), source=f"{path}:{number}"))
    return out


def parse_json_object(path, number: int, line: str) -> dict:
    """One JSONL line as a dict, or a DataFormatError naming the file and line."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as err:
        raise DataFormatError(path, number, f"invalid JSON: {err.msg} (column {err.colno})") from None
    if not isinstance(rec, dict):
        raise DataFormatError(path, number, "expected a JSON object")
    return rec


def read_annotated(path: str | Path, typed: bool = False) -> list[AnnotatedText]:
    """Read annotated texts from a benchmark JSON, BIO/CoNLL or JSONL file (or a folder of them).

    ``typed``: also read entity types into ``labels`` (benchmark JSON and BIO only).
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in BIO_SUFFIXES | {".json", ".jsonl"})
        files = [p for p in files if p.name != "labels.json" and not p.name.endswith("_label.txt")]
        if not files:
            raise DataFormatError(path, None, "folder holds no .json, .jsonl or BIO files")
        return [doc for f in files for doc in read_annotated(f, typed)]
    if not path.exists():
        raise DataFormatError(path, None, "no such file or folder")
    if path.suffix == ".json":
        return read_benchmark_json(path, typed)
    if path.suffix == ".jsonl":
        if typed:
            raise DataFormatError(path, None, "typed reading supports benchmark .json and BIO files only")
        return read_jsonl(path)
    if path.suffix in BIO_SUFFIXES:
        return read_bio(path, typed)
    raise DataFormatError(path, None, f"unknown data format '{path.suffix}' (use .json, .jsonl or BIO .txt)")


def data_root() -> Path:
    """Where the shared data lives: ``$TOMMER_DATA``, else ``../shared/data`` from the working dir."""
    env = os.environ.get("TOMMER_DATA")
    return Path(env).expanduser() if env else Path.cwd().parent / "shared" / "data"


PILE_NER_BIO = "pile-ner/391xALL_BIO_dev.txt"
