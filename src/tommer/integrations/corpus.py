"""Streaming a corpus through a detector: constant memory, progress, ``--resume``, gzip.

The input (``.jsonl`` / ``.ndjson`` objects with a ``text`` field, ``.parquet`` rows with a
string ``text`` column, or any other file as one document per line; ``.gz`` compressed by
extension) is read twice: once up front to check every line and count the records (for the
ETA), then in fixed chunks of ``chunk_size`` records that go through the detector together.
Each output record is the input record plus ``"mentions"``, in input order. A JSONL chunk is
one write of whole lines, flushed and fsynced (a gzip output gets one gzip member per chunk).
A ``.parquet`` output keeps the input's columns and types and adds ``mentions``
(:mod:`tommer.data.parquet`); it is written to ``<output>.partial`` in row groups and renamed
when the run is complete, so a stopped run never leaves a torn Parquet file.

Resume: the existing output is repaired first (a torn last line or a truncated gzip member
left by ``kill -9`` is cut away), its records are checked against the input, and the run goes
on from the first missing record. Chunk boundaries depend only on the record index, so a
resumed run puts the same texts in the same batches as an uninterrupted one and writes the
same bytes.
"""

from __future__ import annotations

import gzip
import itertools
import os
import signal
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..core.decoding import DEFAULT_DECODING
from ..core.detector import BATCH_SIZE
from ..core.outputs import format_mentions
from ..data import jsonl, parquet
from ..data.mention import Mention
from ..data.readers import is_gzip, iter_lines, parse_json_object
from ..errors import ConfigError, DataFormatError, OutputError, Stopped

JSONL_SUFFIXES = (".jsonl", ".ndjson")
BLOCK = 1 << 20


# -- what a run detects ------------------------------------------------------------------
@dataclass(frozen=True)
class Detection:
    """A run's detection options and the style of each record's ``mentions``: one object for a
    local run (:func:`stream_corpus`) and a Ray one (:mod:`tommer.integrations.distributed`)."""

    threshold: float | None = None
    decoding: str = DEFAULT_DECODING
    batch_size: int = BATCH_SIZE
    labels: tuple[str, ...] | None = None  # zero-shot types
    label_threshold: float | None = None
    lm_labels: bool = False
    style: str = "json"  # json: Mention.to_dict(); pipeline: Hugging Face token-classification dicts

    def detect(self, detector: Any, texts: list[str]) -> list[list[Mention]]:
        """The mentions of each text."""
        options: dict[str, Any] = dict(threshold=self.threshold, decoding=self.decoding)
        options["batch_size"] = self.batch_size
        if self.labels is not None:
            options.update(labels=list(self.labels), label_threshold=self.label_threshold)
            options["lm_labels"] = self.lm_labels
        return detector(texts, **options)

    def render(self, record: dict, mentions: list[Mention]) -> dict:
        """The output record: the input record (every field, same order) plus ``"mentions"``."""
        record["mentions"] = format_mentions(mentions, "pipeline" if self.style == "pipeline" else "dicts")
        return record

    def typed(self, detector: Any) -> bool:
        """Whether mentions carry labels (zero-shot labels given, or a supervised head)."""
        head = getattr(detector, "type_head", None)
        return self.labels is not None or (head is not None and not head.zero_shot)

    def mentions_type(self, detector: Any):
        """The Arrow type of the ``mentions`` column (Parquet output)."""
        return parquet.mentions_type(self.style, self.typed(detector))


# -- reading -----------------------------------------------------------------------------
def is_jsonl(path: str | Path) -> bool:
    """JSONL input by extension (``.gz`` ignored); anything else is one document per line."""
    name = str(path)[:-3] if is_gzip(path) else str(path)
    return name.endswith(JSONL_SUFFIXES)


def line_record(path: str | Path, number: int, line: str, as_jsonl: bool) -> dict | None:
    """The record of one input line (None for a blank JSONL line): a JSONL object with a string
    ``text``, or ``{"text": line}``; a DataFormatError names the file and line."""
    if not as_jsonl:
        return {"text": line}
    if not line.strip():
        return None
    rec = parse_json_object(path, number, line)
    if not isinstance(rec.get("text"), str):
        raise DataFormatError(path, number, "missing string field 'text'")
    return rec


def iter_records(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line or row number, record) of a JSONL, Parquet or text input."""
    if parquet.is_parquet(path):
        for first, table in parquet.iter_row_chunks(path, 1024, path):
            yield from parquet.table_records(table, first, path)
        return
    as_jsonl = is_jsonl(path)
    for number, line in iter_lines(path):
        rec = line_record(path, number, line, as_jsonl)
        if rec is not None:
            yield number, rec


# -- repairing an interrupted output -------------------------------------------------------
def repair_output(path: str | Path) -> tuple[int, int]:
    """Cut a torn tail off an interrupted output; returns (complete records, bytes removed).

    Plain output is truncated after its last newline. Gzip output is cut after the last gzip
    member that ends on a whole line; the whole lines that follow (in a truncated or
    mid-line member) are written back as one new member.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return 0, 0
    return _repair_gzip(path) if is_gzip(path) else _repair_plain(path)


def _repair_plain(path: Path) -> tuple[int, int]:
    lines, end, offset = 0, 0, 0
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            lines += block.count(b"\n")
            last = block.rfind(b"\n")
            if last >= 0:
                end = offset + last + 1
            offset += len(block)
    if end < offset:
        os.truncate(path, end)
    return lines, offset - end


def _inflate(handle) -> Iterator[tuple[bytes, int | None]]:
    """Decompressed pieces of a gzip stream, each with the compressed offset where its member
    ends (None inside a member); stops at the end of the file or at data that is not gzip."""
    offset, data = 0, handle.read(BLOCK)
    member = zlib.decompressobj(wbits=31)
    while data:
        try:
            out = member.decompress(data)
        except zlib.error:
            return  # garbage (e.g. zeros after a crash): everything from here is dropped
        if not member.eof:
            yield out, None
            offset += len(data)
            data = handle.read(BLOCK)
            continue
        offset += len(data) - len(member.unused_data)
        yield out, offset
        data = member.unused_data or handle.read(BLOCK)
        member = zlib.decompressobj(wbits=31)


def _count_lines(handle) -> int:
    handle.seek(0)
    return sum(block.count(b"\n") for block in iter(lambda: handle.read(BLOCK), b""))


def _repair_gzip(path: Path) -> tuple[int, int]:
    """Keep the gzip members up to the last one that ends on a whole line; rewrite the rest."""
    size = path.stat().st_size
    clean, clean_lines = 0, 0  # compressed offset and line count at the last clean member end
    with path.open("rb") as handle, tempfile.SpooledTemporaryFile(max_size=16 * BLOCK) as tail:
        if handle.read(2) != b"\x1f\x8b":
            raise DataFormatError(path, None, "not a gzip file: cannot resume it")
        handle.seek(0)
        ends_line = True
        for out, end in _inflate(handle):
            tail.write(out)
            ends_line = out.endswith(b"\n") if out else ends_line
            if end is not None and ends_line:
                clean, clean_lines = end, clean_lines + _count_lines(tail)
                tail.seek(0)
                tail.truncate()
        if clean == size:
            return clean_lines, 0
        # the whole lines after the clean point go back as one new member; the rest is dropped
        os.truncate(path, clean)
        tail.seek(0)
        extra, carry = 0, b""
        with path.open("ab") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as member:
            for block in iter(lambda: tail.read(BLOCK), b""):
                carry += block
                cut = carry.rfind(b"\n") + 1
                member.write(carry[:cut])
                extra += carry[:cut].count(b"\n")
                carry = carry[cut:]
        with path.open("ab") as raw:
            os.fsync(raw.fileno())
    return clean_lines + extra, size - clean


# -- writing -----------------------------------------------------------------------------
class _Sink:
    """Append whole chunks of output records as JSONL: one write per chunk, then flush and fsync."""

    def __init__(self, path: str | Path | None, append: bool) -> None:
        self.path = path
        self.gzip = path is not None and is_gzip(path)
        self.handle = None if path is None else open(path, "ab" if append else "wb", buffering=0)  # noqa: SIM115

    def write(self, records: list[dict]) -> None:
        if not records:
            return
        text = "".join(jsonl.dumps(rec) + "\n" for rec in records)
        if self.handle is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        data = text.encode("utf-8")
        if self.gzip:
            data = gzip.compress(data, mtime=0)  # one complete member per chunk
        view = memoryview(data)
        try:
            while view:
                view = view[self.handle.write(view) :]
            os.fsync(self.handle.fileno())
        except OSError as err:  # full disk, file size limit: the chunk may be torn
            raise OutputError(
                f"cannot write {self.path}: {err.strerror or err}; it holds whole records up to the "
                "last chunk written (a torn end is repaired by --resume, which continues the run)"
            ) from None

    def close(self, complete: bool = True) -> None:
        if self.handle is not None:
            self.handle.close()


class _ParquetSink:
    """Write output records to ``<path>.partial`` in row groups; rename it to ``path`` when complete."""

    ROW_GROUP = 8192

    def __init__(self, path: Path, mentions, base=None) -> None:
        self.pa = parquet.pyarrow()
        self.path, self.mentions, self.base = path, mentions, base
        self.partial = path.with_name(path.name + ".partial")
        self.writer, self.schema, self.pending = None, None, []

    def write(self, records: list[dict]) -> None:
        if self.schema is None:
            self.schema = parquet.output_schema(records, self.mentions, self.base)
        self.pending.append(parquet.records_table(records, self.schema, str(self.path)))
        if self.writer is None:
            self._open()  # at the first chunk: the run shows its output file from then on
        if sum(t.num_rows for t in self.pending) >= self.ROW_GROUP:
            self._flush()

    def _failed(self, err: OSError) -> OutputError:
        return OutputError(
            f"cannot write {self.path}: {err}; a Parquet output is written whole: run again with --overwrite"
        )

    def _open(self) -> None:
        try:
            self.writer = self.pa.parquet.ParquetWriter(self.partial, self.schema)
        except OSError as err:
            raise self._failed(err) from None

    def _flush(self) -> None:
        if self.writer is None:
            self._open()
        try:
            if self.pending:
                self.writer.write_table(self.pa.concat_tables(self.pending), row_group_size=1 << 20)
        except OSError as err:
            raise self._failed(err) from None
        self.pending = []

    def close(self, complete: bool = True) -> None:
        if complete:
            if self.schema is None:
                self.schema = parquet.output_schema([], self.mentions, self.base)
            self._flush()
            self.writer.close()
            os.replace(self.partial, self.path)
            return
        if self.writer is not None:
            self.writer.close()
        self.partial.unlink(missing_ok=True)


# -- the run -----------------------------------------------------------------------------
@dataclass
class CorpusRun:
    """What a run did: records in the input, kept from a previous run, written now."""

    total: int
    resumed: int
    written: int
    seconds: float

    @property
    def docs_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


@dataclass
class CorpusPlan:
    """A checked run: its files, the input's record count and the records already done."""

    input_path: Path
    output_path: Path | None
    total: int
    done: int = 0
    resume: bool = False
    cut_bytes: int = 0  # torn tail removed from a resumed output


def plan_corpus(
    input_path: str | Path,
    output_path: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
) -> CorpusPlan:
    """Check the files before any work: every input line, the output path, a resumed output.

    Without ``resume`` an existing non-empty output is refused unless ``overwrite``. With it,
    the output's torn tail is cut away and its records must match the input's first ones.
    """
    input_path = Path(input_path)
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other: give one")
    if output_path is None:
        if resume:
            raise ConfigError("--resume needs an output file (-o)")
        return CorpusPlan(input_path, None, _scan_input(input_path, None, 0))
    out = Path(output_path)
    if out.is_dir():
        raise ConfigError(f"output {out} is a folder")
    if not out.parent.is_dir():
        raise ConfigError(f"output folder {out.parent} does not exist")
    if out.exists() and input_path.exists() and out.samefile(input_path):
        raise ConfigError(f"output {out} is the input file")
    if resume and parquet.is_parquet(out):
        raise ConfigError(
            f"--resume continues a JSONL output; a Parquet output ({out}) is written whole: "
            "run again with --overwrite"
        )
    if not resume and out.exists() and out.stat().st_size > 0 and not overwrite:
        raise ConfigError(
            f"output {out} exists ({out.stat().st_size:,} bytes): use --resume to continue it "
            "or --overwrite to replace it"
        )
    if not input_path.is_file():
        raise DataFormatError(input_path, None, "no such file")
    done, cut = repair_output(out) if resume else (0, 0)
    return CorpusPlan(input_path, out, _scan_input(input_path, out, done), done, resume, cut)


def _scan_input(input_path: Path, output_path: Path | None, done: int) -> int:
    """Check every input line and count the records; the first ``done`` must match the output."""
    if parquet.is_parquet(input_path) and not done:
        return _scan_parquet(input_path)
    records = iter_records(input_path)
    if done:
        outputs = iter_lines(output_path)
        for (number, rec), (out_number, line) in zip(records, outputs):
            out = parse_json_object(output_path, out_number, line)
            if "text" in out and out["text"] != rec["text"]:
                raise DataFormatError(
                    output_path,
                    out_number,
                    f"text differs from input record {input_path}:{number}: resume with the same "
                    "input, or use --overwrite to start again",
                )
            if out_number == done:
                break
        else:
            raise DataFormatError(
                output_path, None, f"holds {done} records but the input {input_path} has fewer"
            )
        outputs.close()
    return sum(1 for _ in records) + done


def _scan_parquet(path: Path) -> int:
    """Check a Parquet input's ``text`` column (a string, never null) and count its rows."""
    file = parquet.open_file(path, path)
    row = 1
    for batch in file.iter_batches(batch_size=65536, columns=["text"]):
        column = batch.column(0)
        if column.null_count:
            first = row + column.is_null().to_pylist().index(True)
            raise DataFormatError(path, None, f"row {first}: 'text' is null")
        row += batch.num_rows
    return row - 1


class _SignalStop:
    """SIGTERM and a first SIGINT ask the run to stop after the chunk being written (a second
    SIGINT interrupts at once). Handlers are installed from the main thread only."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.saved: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            self.saved = {s: signal.signal(s, self._handle) for s in self.SIGNALS}

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum: int, frame) -> None:
        if signum == signal.SIGINT and self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def restore(self) -> None:
        for s, handler in self.saved.items():
            signal.signal(s, handler)


def stream_corpus(
    detector: Any,
    plan: CorpusPlan,
    detection: Detection | None = None,
    *,
    chunk_size: int = 64,
    progress: bool = True,
    on_record: Callable[[dict], None] | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> CorpusRun:
    """Detect mentions in the records still to do; append them to the output (or stdout).

    ``detection`` holds the detection options and the mentions' style (default: the detector's
    defaults, Mention dicts). ``on_record`` sees each output record before it is written.
    """
    if chunk_size < 1:
        raise ConfigError(f"chunk size must be >= 1, not {chunk_size}")
    detection = detection or Detection()
    done, total = plan.done, plan.total
    if plan.resume:
        cut = f" (its torn end, {plan.cut_bytes} bytes, was repaired)" if plan.cut_bytes else ""
        log(f"resume: {done} of {total} records already in {plan.output_path}{cut}")
    out = plan.output_path
    if out is not None and parquet.is_parquet(out):
        source = plan.input_path
        base = parquet.open_file(source, source).schema_arrow if parquet.is_parquet(source) else None
        sink: _Sink | _ParquetSink = _ParquetSink(out, detection.mentions_type(detector), base)
    else:
        sink = _Sink(out, append=plan.resume)
    written, start, complete = 0, time.perf_counter(), False
    bar = tqdm(
        total=total,
        initial=done,
        desc="detect",
        unit="doc",
        file=sys.stderr,
        disable=not progress,
        mininterval=0.5 if sys.stderr.isatty() else 10.0,
        smoothing=0.1,
    )
    stop = _SignalStop()
    try:
        indexed = enumerate(iter_records(plan.input_path))
        for _, group in itertools.groupby(indexed, key=lambda item: item[0] // chunk_size):
            chunk = list(group)
            if chunk[-1][0] < done:
                continue  # already in the output
            results = detection.detect(detector, [rec["text"] for _, (_, rec) in chunk])
            records = []
            for (index, (_, rec)), mentions in zip(chunk, results):
                if index < done:
                    continue  # run only so that the chunk's batches match an uninterrupted run
                records.append(detection.render(rec, mentions))
                if on_record is not None:
                    on_record(rec)
            sink.write(records)
            written += len(records)
            bar.update(len(records))
            if stop.signum is not None:
                if isinstance(sink, _ParquetSink):
                    raise Stopped(
                        stop.signum,
                        f"stopped by {stop.name}: the Parquet output {out} is "
                        "written whole, so nothing was kept; run again with --overwrite",
                    )
                where = f" in {out}; continue with --resume" if out else ""
                raise Stopped(stop.signum, f"stopped by {stop.name}: {done + written} records{where}")
        complete = True
    except KeyboardInterrupt:
        if out is not None and not isinstance(sink, _ParquetSink):
            log(f"interrupted: {done + written} records in {out}; continue with --resume")
        raise
    finally:
        bar.close()
        try:
            sink.close(complete)  # a signal now is still only noted: a Parquet file is renamed whole
        finally:
            stop.restore()
    run = CorpusRun(total, done, written, time.perf_counter() - start)
    log(
        f"{written} records written ({done} kept from before, {total} in the input) in "
        f"{run.seconds:.1f} s, {run.docs_per_second:.1f} docs/s"
    )
    return run
