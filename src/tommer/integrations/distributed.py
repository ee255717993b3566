"""Corpora on a Ray cluster (the ``ray`` extra): read → ``map_batches`` (detector actors) → write.

- :func:`detect_dataset` adds a ``mentions`` column to a Ray Dataset (lazily, in an actor pool).
- :func:`detect_files` reads JSONL / JSONL.gz / text / Parquet files (local paths, or any filesystem
  Ray reads), runs the detector in an actor pool and writes a folder of JSONL or Parquet parts whose
  records are those of ``tommer detect -i -o``: every input field kept, plus ``mentions``.

The same answer as one machine: a file is read in chunks of ``chunk_size`` records aligned on the
record index, as the local CLI reads it, and each chunk goes through the detector in one call, so
records and mentions are identical to a local run's. Parts are named by write task
(``part-000000.jsonl``, …) and follow the input order.

Faults: Ray restarts a killed actor and retries its batch, and a retried write task rewrites the
same part, so no record is lost or duplicated. A bad record (not a JSON object, no string
``text``, undecodable bytes) fails the run with its file and line; with ``errors=`` it goes to
that folder instead, one JSONL line per bad record (``path``, ``line`` or Parquet ``row``,
``error``, ``raw``).
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from ..core.layout import DEFAULT_MODEL
from ..data import jsonl, parquet
from ..data.readers import decode_line
from ..errors import ConfigError, DataFormatError, TommerError
from ..typed.loading import load_detector
from .corpus import Detection, is_jsonl, line_record

try:  # the ray extra
    import pyarrow as pa
    import pyarrow.fs
    import ray
    import ray.data
    from ray.data.datasource import BlockBasedFileDatasink, FileBasedDatasource, FilenameProvider
except ImportError as err:  # pragma: no cover - without the extra
    raise ConfigError(f"distributed runs need Ray Data: pip install 'tommer[ray]' ({err})") from None

FORMATS = ("jsonl", "parquet")
BLOCK = 1 << 20


# -- reading: chunks of records, each row with its file and line --------------------------
class _CorpusSource(FileBasedDatasource):
    """Files as blocks of ``chunk_size`` records aligned on the record index. Lines come as
    ``_path``, ``_row`` (line number), ``_line`` and ``_error`` (undecodable bytes); Parquet rows
    keep their columns, plus ``_path`` and ``_row`` (row number)."""

    def __init__(self, paths: list[str], chunk_size: int) -> None:
        super().__init__(paths)
        self.chunk_size = chunk_size

    def _open_input_source(self, filesystem, path: str, **open_args):
        if parquet.is_parquet(path):  # Parquet needs random access, not a stream
            return filesystem.open_input_file(path)
        return super()._open_input_source(filesystem, path, **open_args)

    def _read_stream(self, f, path: str):
        if parquet.is_parquet(path):
            for first, table in parquet.iter_row_chunks(f, self.chunk_size, path):
                rows = pa.array(range(first, first + table.num_rows), pa.int64())
                yield table.append_column("_path", pa.array([path] * table.num_rows)).append_column(
                    "_row", rows
                )
            return
        as_jsonl, chunk = is_jsonl(path), _LineChunk(path)
        for number, line, error in _lines(f, path):
            if as_jsonl and error is None and not line.strip():
                continue  # a blank JSONL line is not a record (as in a local run)
            chunk.add(number, line, error)
            if len(chunk.rows) == self.chunk_size:
                yield chunk.table()
                chunk = _LineChunk(path)
        if chunk.rows:
            yield chunk.table()


def _lines(f, path: str):
    """(line number, text or None, decoding error or None) of a byte stream, as ``iter_lines``."""
    carry, number = b"", 0
    while True:
        try:
            block = f.read(BLOCK)
        except (OSError, pa.ArrowInvalid) as err:
            raise DataFormatError(path, number + 1, f"corrupt or truncated data ({err})") from None
        if not block:
            break
        carry += block
        *whole, carry = carry.split(b"\n")
        for raw in whole:
            number += 1
            yield (number, *_decode(path, number, raw))
    if carry:
        yield (number + 1, *_decode(path, number + 1, carry))


def _decode(path: str, number: int, raw: bytes) -> tuple[str | None, str | None]:
    try:
        return decode_line(path, number, raw), None
    except DataFormatError as err:
        return None, err.detail


class _LineChunk:
    def __init__(self, path: str) -> None:
        self.path, self.rows = path, []

    def add(self, number: int, line: str | None, error: str | None) -> None:
        self.rows.append((number, line, error))

    def table(self):
        numbers, lines, errors = zip(*self.rows)
        return pa.table(
            {
                "_path": pa.array([self.path] * len(numbers)),
                "_row": pa.array(numbers, pa.int64()),
                "_line": pa.array(lines, pa.string()),
                "_error": pa.array(errors, pa.string()),
            }
        )


# -- the detector actor --------------------------------------------------------------------
@dataclass(frozen=True)
class _Bad:
    """A bad record: its file and line (text inputs) or row (Parquet), why, and the raw line."""

    path: str | None
    line: int | None
    row: int | None
    error: str
    raw: str | None

    def exception(self) -> DataFormatError:
        where = f"row {self.row}: " if self.row is not None else ""
        return DataFormatError(self.path or "dataset", self.line, where + self.error)

    def record(self) -> dict:
        where = {"line": self.line} if self.row is None else {"row": self.row}
        return {"path": self.path, **where, "error": self.error, "raw": self.raw}


class _Annotator:
    """One detector per actor, loaded once; each call annotates one block of records."""

    def __init__(
        self,
        model: str,
        engine: str | None,
        detection: Detection,
        threads: int,
        as_lines: bool,
        errors: str | None,
    ) -> None:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # read by the ONNX and torch engines
        self.detector = load_detector(model, engine=engine)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        self.detection, self.as_lines, self.errors = detection, as_lines, errors
        self.mentions = detection.mentions_type(self.detector)

    def __call__(self, block):
        records, bad, base = self._records(block)
        if bad:
            if self.errors is None:
                raise bad[0].exception()
            self._write_errors(bad)
        found = self.detection.detect(self.detector, [rec["text"] for rec in records]) if records else []
        rendered = [self.detection.render(rec, mentions) for rec, mentions in zip(records, found)]
        if self.as_lines:
            return pa.table({"_line": pa.array([jsonl.dumps(rec) for rec in rendered], pa.string())})
        schema = parquet.output_schema(rendered, self.mentions, base)
        return parquet.records_table(rendered, schema, "output")

    def _records(self, block) -> tuple[list[dict], list[_Bad], Any]:
        """The block's good records, its bad ones, and the Arrow schema its output keeps (None: inferred)."""
        names = block.column_names
        if "_line" in names:  # lines of JSONL / text files
            good, bad = [], []
            columns = (block.column(c).to_pylist() for c in ("_path", "_row", "_line", "_error"))
            for path, row, line, error in zip(*columns):
                try:
                    if error is not None:
                        raise DataFormatError(path, row, error)
                    good.append(line_record(path, row, line, is_jsonl(path)))
                except DataFormatError as err:
                    bad.append(_Bad(path, row, None, err.detail, line))
            return good, bad, None
        where = ["_path", "_row"] if "_row" in names else []
        records = block.drop_columns(where)
        rows = records.to_pylist()
        paths = block.column("_path").to_pylist() if where else [None] * len(rows)
        numbers = block.column("_row").to_pylist() if where else [None] * len(rows)
        good, bad = [], []
        for k, (rec, path, row) in enumerate(zip(rows, paths, numbers)):
            if isinstance(rec.get("text"), str):
                good.append(rec)
            else:
                key = f"id={rec['id']!r}: " if "id" in rec else f"record {k + 1} of a block: "
                problem = "no 'text' column" if "text" not in rec else "'text' is not a string"
                problem = "'text' is null" if "text" in rec and rec["text"] is None else problem
                bad.append(_Bad(path, None, row, (key if path is None else "") + problem, None))
        return good, bad, records.schema

    def _write_errors(self, bad: list[_Bad]) -> None:
        """The block's bad records, in a file named by the block (a retried block rewrites it)."""
        first = bad[0]
        name = hashlib.sha1(f"{first.path}:{first.line}:{first.row}".encode()).hexdigest()[:16]
        filesystem, folder = pyarrow.fs.FileSystem.from_uri(self.errors)
        lines = [jsonl.dumps(b.record()) + "\n" for b in bad]
        with filesystem.open_output_stream(f"{folder}/{name}.jsonl") as out:
            out.write("".join(lines).encode("utf-8"))


def detect_dataset(
    dataset,
    detection: Detection | None = None,
    *,
    model: str = DEFAULT_MODEL,
    engine: str | None = None,
    workers: int = 1,
    cpus_per_worker: float = 1.0,
    batch_size: int | None = 64,
    errors: str | None = None,
    as_lines: bool = False,
):
    """``dataset`` (a Ray Dataset with a string ``text`` column) with ``mentions`` added, lazily.

    The detector runs in ``workers`` actors of ``cpus_per_worker`` CPUs each (as many threads);
    each call detects ``batch_size`` rows (None: one whole block). ``as_lines``: one ``_line``
    column of JSONL records instead of the columns.
    """
    if workers < 1 or cpus_per_worker <= 0:
        raise ConfigError(f"workers must be >= 1 and CPUs per worker > 0 (got {workers}, {cpus_per_worker})")
    detection = detection or Detection()
    return dataset.map_batches(
        _Annotator,
        fn_constructor_kwargs=dict(
            model=str(model),
            engine=engine,
            detection=detection,
            threads=max(1, int(cpus_per_worker)),
            as_lines=as_lines,
            errors=errors,
        ),
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
    )


# -- writing: numbered parts ----------------------------------------------------------------
class _Parts(FilenameProvider):
    def __init__(self, extension: str) -> None:
        super().__init__(file_format=extension)
        self.extension = extension

    def get_filename_for_task(self, write_uuid: str, task_index: int) -> str:
        return f"part-{task_index:06}.{self.extension}"


class _PartsSink(BlockBasedFileDatasink):
    """A folder of ``part-NNNNNN`` files; counts the rows written."""

    def __init__(self, path: str, extension: str, min_rows: int) -> None:
        super().__init__(path, filename_provider=_Parts(extension), min_rows_per_file=min_rows)
        self.extension, self.rows = extension, 0

    def write_block_to_file(self, block, file) -> None:
        table = block.to_arrow()
        if self.extension == "jsonl":
            file.write("".join(line + "\n" for line in table.column("_line").to_pylist()).encode("utf-8"))
        else:
            pa.parquet.write_table(table, file)

    def on_write_complete(self, write_result) -> None:
        self.rows = write_result.num_rows
        super().on_write_complete(write_result)


# -- the run -----------------------------------------------------------------------------
@dataclass
class DistributedRun:
    """What :func:`detect_files` did."""

    output: str
    records: int
    bad_records: int
    seconds: float
    workers: int

    @property
    def docs_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        bad = f"; {self.bad_records} bad records in the errors folder" if self.bad_records else ""
        return (
            f"{self.records} records written to {self.output} in {self.seconds:.1f} s "
            f"({self.docs_per_second:.1f} docs/s, {self.workers} workers){bad}"
        )


def expand_inputs(inputs: str | os.PathLike | list) -> list[str]:
    """Input paths: local globs expanded (sorted), folders and remote URIs passed to Ray as given."""
    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    paths: list[str] = []
    for item in map(str, items):
        if "://" in item:
            paths.append(item)
            continue
        found = sorted(glob.glob(item)) if glob.has_magic(item) else [item]
        if not found or not all(os.path.exists(p) for p in found):
            raise DataFormatError(item, None, "no such file or folder")
        paths.extend(os.path.abspath(p) for p in found)
    if not paths:
        raise ConfigError("no input files")
    return paths


def _folder(uri: str, overwrite: bool, what: str) -> str:
    """A ready, empty output folder (a non-empty one is refused unless ``overwrite``)."""
    uri = uri if "://" in uri else os.path.abspath(uri)
    filesystem, path = pyarrow.fs.FileSystem.from_uri(uri)
    info = filesystem.get_file_info(path)
    if info.type == pyarrow.fs.FileType.File:
        raise ConfigError(f"{what} {uri} is a file: --ray writes a folder of parts")
    if info.type == pyarrow.fs.FileType.Directory:
        listed = filesystem.get_file_info(pyarrow.fs.FileSelector(path))
        if listed and not overwrite:
            raise ConfigError(f"{what} folder {uri} is not empty: use --overwrite to replace its files")
        if listed:
            filesystem.delete_dir_contents(path)
    filesystem.create_dir(path, recursive=True)
    return uri


def _count_lines(uri: str) -> int:
    filesystem, path = pyarrow.fs.FileSystem.from_uri(uri)
    total = 0
    for info in filesystem.get_file_info(pyarrow.fs.FileSelector(path)):
        with filesystem.open_input_stream(info.path) as handle:
            total += handle.read().count(b"\n")
    return total


def init_ray(address: str | None = None, **options) -> None:
    """Join the cluster at ``address`` (e.g. ``auto``), or start a local one; nothing if already joined."""
    if not ray.is_initialized():
        options.setdefault("include_dashboard", False)
        options.setdefault("logging_level", "warning")
        ray.init(address=address, **options)


def tommer_error(err: BaseException) -> TommerError | None:
    """The TommerError that a Ray task error wraps, if any."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, TommerError):
            return err
        err = getattr(err, "cause", None) or err.__cause__ or err.__context__
    return None


def detect_files(
    inputs: str | os.PathLike | list,
    output: str | os.PathLike,
    detection: Detection | None = None,
    *,
    model: str = DEFAULT_MODEL,
    engine: str | None = None,
    output_format: str | None = None,
    errors: str | os.PathLike | None = None,
    workers: int = 1,
    cpus_per_worker: float = 1.0,
    chunk_size: int = 64,
    min_rows_per_file: int = 10_000,
    address: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> DistributedRun:
    """Annotate files on Ray into the folder ``output`` (see the module docstring).

    ``output_format``: ``jsonl`` or ``parquet`` (default: Parquet when every input is Parquet).
    ``errors``: a folder for bad records (default: the first bad record fails the run).
    ``address``: the cluster to join (default: the one already joined, else a new local one).
    """
    paths = expand_inputs(inputs)
    fmt = output_format or ("parquet" if all(parquet.is_parquet(p) for p in paths) else "jsonl")
    if fmt not in FORMATS:
        raise ConfigError(f"output format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if chunk_size < 1:
        raise ConfigError(f"chunk size must be >= 1, not {chunk_size}")
    out = _folder(str(output), overwrite, "output")
    errors_uri = None if errors is None else _folder(str(errors), overwrite, "errors")
    init_ray(address)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # parts in input order
    context.raise_original_map_exception = True  # a bad record's DataFormatError, not a wrapper
    context.enable_progress_bars = progress
    logging.getLogger("ray.data").setLevel(logging.INFO if progress else logging.WARNING)
    # reading and writing take no CPU slot: the actors may hold every CPU (2 workers on 2 cores)
    dataset = ray.data.read_datasource(_CorpusSource(paths, chunk_size), num_cpus=0)
    annotated = detect_dataset(
        dataset,
        detection,
        model=model,
        engine=engine,
        workers=workers,
        cpus_per_worker=cpus_per_worker,
        batch_size=None,  # one chunk per call, as a local run
        errors=errors_uri,
        as_lines=fmt == "jsonl",
    )
    sink = _PartsSink(out, fmt, min_rows_per_file)
    start = time.perf_counter()
    try:
        annotated.write_datasink(sink, ray_remote_args={"num_cpus": 0})
    except Exception as err:
        cause = tommer_error(err)
        if cause is None:
            raise
        raise cause from None
    bad = _count_lines(errors_uri) if errors_uri else 0
    return DistributedRun(out, sink.rows, bad, time.perf_counter() - start, workers)


__all__ = ["DistributedRun", "detect_dataset", "detect_files", "expand_inputs", "init_ray"]
