"""Streaming a corpus: kill -9, SIGTERM or a file size limit, then --resume; torn-line repair,
gzip, overwrite refusal."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tommer.cli import main
from tommer.errors import ConfigError, DataFormatError
from tommer.integrations.corpus import plan_corpus, repair_output, stream_corpus

NAMES = ["Angela Merkel", "Barack Obama", "Google", "Paris", "the United Nations", "Tokyo", "Marie Curie"]
VERBS = ["met", "visited", "praised", "left", "talked about", "moved to"]
CHUNK = 8


def corpus(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    texts = [f"{rng.choice(NAMES)} {rng.choice(VERBS)} {rng.choice(NAMES)} on day {k}." for k in range(n)]
    return [{"id": k, "text": text, "x": [k]} for k, text in enumerate(texts)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def run(detector, src, dst, resume=False, overwrite=False):
    plan = plan_corpus(src, dst, resume=resume, overwrite=overwrite)
    stream_corpus(detector, plan, chunk_size=CHUNK, progress=False)
    return plan


@pytest.fixture(scope="module")
def reference(tmp_path_factory, detector) -> tuple[Path, bytes]:
    """A 40-record input and the output of one uninterrupted run."""
    folder = tmp_path_factory.mktemp("corpus")
    src = write_jsonl(folder / "in.jsonl", corpus(40))
    run(detector, src, folder / "ref.jsonl")
    return src, (folder / "ref.jsonl").read_bytes()


def test_output_keeps_order_fields_and_offsets(reference):
    src, ref = reference
    rows = [json.loads(line) for line in ref.decode().splitlines()]
    assert [r["id"] for r in rows] == list(range(40)) and rows[5]["x"] == [5]
    assert any(r["mentions"] for r in rows)
    for r in rows:
        assert all(r["text"][m["start"] : m["end"]] == m["text"] for m in r["mentions"])


def test_kill_9_then_resume_equals_uninterrupted_run(tmp_path):
    """Real subprocesses: a run killed with SIGKILL midway, resumed, gives the same bytes."""
    src = write_jsonl(tmp_path / "in.jsonl", corpus(120, seed=1))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def detect(out: Path, *extra: str) -> subprocess.Popen:
        argv = ["detect", "-q", "-i", str(src), "-o", str(out), "--chunk-size", str(CHUNK), *extra]
        return subprocess.Popen([sys.executable, "-m", "tommer.cli", *argv], env=env, stderr=subprocess.PIPE)

    ref, out = tmp_path / "ref.jsonl", tmp_path / "out.jsonl"
    assert detect(ref).wait() == 0
    victim = detect(out)
    deadline = time.monotonic() + 300  # a guard against a hung test, not a timing
    while not (out.exists() and out.read_bytes().count(b"\n") >= 1) and time.monotonic() < deadline:
        assert victim.poll() is None, victim.stderr.read().decode()
        time.sleep(0.02)
    assert victim.poll() is None, "the run finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    killed_lines = out.read_bytes().count(b"\n")
    assert 1 <= killed_lines < 120
    resumed = detect(out, "--resume")
    assert resumed.wait() == 0, resumed.stderr.read().decode()
    assert out.read_bytes() == ref.read_bytes()


def _detect(src: Path, out: Path, *extra: str, limit_bytes: int | None = None) -> subprocess.Popen:
    """``tommer detect`` on a corpus in a real subprocess (optionally under RLIMIT_FSIZE)."""
    import resource

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    argv = ["detect", "-q", "-i", str(src), "-o", str(out), "--chunk-size", str(CHUNK), *extra]

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.Popen(
        [sys.executable, "-m", "tommer.cli", *argv],
        env=env,
        stderr=subprocess.PIPE,
        preexec_fn=limit if limit_bytes else None,
    )


def test_file_size_limit_leaves_whole_records_and_resume_completes(tmp_path, reference):
    """RLIMIT_FSIZE hit mid-run: a clear error (no traceback), then --resume gives the full output."""
    src, _ = reference
    out = tmp_path / "out.jsonl"
    assert _detect(src, tmp_path / "ref.jsonl").wait() == 0  # the reference, from the same kind of process
    ref = (tmp_path / "ref.jsonl").read_bytes()
    capped = _detect(src, out, limit_bytes=len(ref) // 3)
    err = capped.stderr.read().decode()
    assert capped.wait() == 2 and "cannot write" in err and "--resume" in err and "Traceback" not in err
    assert 0 < out.stat().st_size <= len(ref) // 3
    resumed = _detect(src, out, "--resume")
    assert resumed.wait() == 0, resumed.stderr.read().decode()
    assert out.read_bytes() == ref


def test_sigterm_finishes_the_chunk_and_resume_completes(tmp_path):
    """SIGTERM mid-run: the chunk being written is finished, exit 143, then --resume completes it."""
    src = write_jsonl(tmp_path / "in.jsonl", corpus(160, seed=2))
    ref, out = tmp_path / "ref.jsonl", tmp_path / "out.jsonl"
    assert _detect(src, ref).wait() == 0
    victim = _detect(src, out)
    deadline = time.monotonic() + 300  # a guard against a hung test, not a timing
    while not (out.exists() and out.stat().st_size) and time.monotonic() < deadline:
        assert victim.poll() is None, victim.stderr.read().decode()
        time.sleep(0.02)
    victim.send_signal(signal.SIGTERM)
    err = victim.stderr.read().decode()
    code = victim.wait()
    lines = out.read_bytes().count(b"\n")
    if code == 0:  # the last chunk was being written: nothing left to stop
        assert lines == 160
    else:
        assert code == 128 + signal.SIGTERM and "stopped by SIGTERM" in err and "Traceback" not in err
        assert lines % CHUNK == 0 and out.read_bytes().endswith(b"\n")  # whole chunks only
    resumed = _detect(src, out, "--resume")
    assert resumed.wait() == 0, resumed.stderr.read().decode()
    assert out.read_bytes() == ref.read_bytes()


def test_resume_cuts_a_torn_line_and_restarts_mid_chunk(tmp_path, detector, reference):
    src, ref = reference
    lines = ref.splitlines(keepends=True)
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"".join(lines[:13]) + lines[13][:25])  # 13 whole lines, then a torn one
    plan = run(detector, src, out, resume=True)
    assert (plan.done, plan.total, plan.cut_bytes) == (13, 40, 25)
    assert out.read_bytes() == ref


def test_resume_of_a_finished_or_empty_output(tmp_path, detector, reference):
    src, ref = reference
    done = tmp_path / "done.jsonl"
    done.write_bytes(ref)
    assert run(detector, src, done, resume=True).done == 40 and done.read_bytes() == ref
    fresh = tmp_path / "fresh.jsonl"  # --resume with no output yet starts from the beginning
    assert run(detector, src, fresh, resume=True).done == 0 and fresh.read_bytes() == ref


def test_gzip_input_and_output_round_trip(tmp_path, detector, reference):
    src, ref = reference
    gz_in = tmp_path / "in.jsonl.gz"
    gz_in.write_bytes(gzip.compress(src.read_bytes()))
    gz_out = tmp_path / "out.jsonl.gz"
    run(detector, gz_in, gz_out)
    assert gzip.decompress(gz_out.read_bytes()) == ref
    assert gz_out.read_bytes().count(b"\x1f\x8b\x08") >= 40 // CHUNK  # one member per chunk


def test_gzip_resume_after_a_truncated_member(tmp_path, detector, reference):
    src, ref = reference
    lines = ref.splitlines(keepends=True)
    gz_out = tmp_path / "out.jsonl.gz"
    first = gzip.compress(b"".join(lines[:8]), mtime=0)  # a complete member (one chunk)
    second = gzip.compress(b"".join(lines[8:16]), mtime=0)
    gz_out.write_bytes(first + second[: len(second) - 30])  # killed while writing the second
    plan = run(detector, src, gz_out, resume=True)
    assert 8 <= plan.done < 16 and plan.cut_bytes == len(second) - 30
    assert gzip.decompress(gz_out.read_bytes()) == ref


def test_gzip_repair_drops_garbage_and_refuses_a_non_gzip_file(tmp_path, reference):
    _, ref = reference
    lines = ref.splitlines(keepends=True)
    gz = tmp_path / "out.jsonl.gz"
    gz.write_bytes(gzip.compress(b"".join(lines[:3])) + b"\0" * 100)  # zeros after a crash
    assert repair_output(gz) == (3, 100)
    assert gzip.decompress(gz.read_bytes()) == b"".join(lines[:3])
    not_gz = tmp_path / "plain.jsonl.gz"
    not_gz.write_bytes(ref)
    with pytest.raises(DataFormatError, match="not a gzip file"):
        repair_output(not_gz)
    assert not_gz.read_bytes() == ref  # left untouched


def test_txt_gz_input_is_one_document_per_line(tmp_path, detector):
    src = tmp_path / "docs.txt.gz"
    src.write_bytes(gzip.compress(b"Paris is in France.\n\nGoogle hired Marie Curie.\n"))
    out = tmp_path / "out.jsonl"
    run(detector, src, out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["Paris is in France.", "", "Google hired Marie Curie."]


def test_refuses_to_overwrite_without_a_flag(tmp_path, capsys, reference):
    src, ref = reference
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"text": "keep me"}\n')
    code = main(["detect", "-q", "-i", str(src), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "exists" in err and "--resume" in err and "--overwrite" in err
    assert "Traceback" not in err and out.read_bytes() == b'{"text": "keep me"}\n'
    assert main(["detect", "-q", "-i", str(src), "-o", str(out), "--resume", "--overwrite"]) == 2
    assert "contradict" in capsys.readouterr().err
    assert main(["detect", "-q", "-i", str(src), "--resume"]) == 2
    assert "--resume needs an output file" in capsys.readouterr().err


def test_overwrite_replaces(tmp_path, detector, reference):
    src, ref = reference
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"old\n" * 100)
    run(detector, src, out, overwrite=True)
    assert out.read_bytes() == ref


def test_resume_rejects_an_output_of_another_input(tmp_path, reference):
    src, ref = reference
    out = tmp_path / "out.jsonl"
    rows = [json.loads(line) for line in ref.decode().splitlines()[:5]]
    rows[3]["text"] = "something else"
    write_jsonl(out, rows)
    with pytest.raises(DataFormatError, match=r"out\.jsonl:4: text differs from input record .*in\.jsonl:4"):
        plan_corpus(src, out, resume=True)
    longer = tmp_path / "longer.jsonl"
    write_jsonl(longer, [json.loads(line) for line in ref.decode().splitlines()] * 2)
    with pytest.raises(DataFormatError, match="holds 80 records but the input"):
        plan_corpus(src, longer, resume=True)


def test_bad_line_stops_the_run_before_any_output(tmp_path, capsys):
    rows = "".join(json.dumps(r) + "\n" for r in corpus(30))
    src = tmp_path / "in.jsonl"
    src.write_text(rows + '{"text": broken\n')
    out = tmp_path / "out.jsonl"
    code = main(["detect", "-q", "-i", str(src), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "in.jsonl:31: invalid JSON" in err and "Traceback" not in err
    assert not out.exists()
    truncated = tmp_path / "in.jsonl.gz"
    truncated.write_bytes(gzip.compress(rows.encode())[:-20])
    with pytest.raises(DataFormatError, match=r"in\.jsonl\.gz:\d+: corrupt or truncated gzip"):
        plan_corpus(truncated, tmp_path / "o.jsonl")


def test_chunk_size_must_be_positive(tmp_path, detector, reference):
    src, _ = reference
    with pytest.raises(ConfigError, match="chunk size"):
        stream_corpus(detector, plan_corpus(src, tmp_path / "o.jsonl"), chunk_size=0)


# -- Parquet (pyarrow, no Ray) ----------------------------------------------------------
def _parquet(path: Path, rows: list[dict], row_group_size: int = 7) -> Path:
    pa = pytest.importorskip("pyarrow", reason="the parquet extra is not installed")
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": pa.array([r["id"] for r in rows], pa.int32()),
            "text": pa.array([r["text"] for r in rows], pa.string()),
        }
    )
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def test_parquet_input_gives_the_jsonl_input_s_records(tmp_path, detector, reference):
    """Rows streamed in row groups (7 rows, not a multiple of the chunk) give the same records."""
    src, ref = reference
    rows = [json.loads(line) for line in src.read_text().splitlines()]
    _parquet(tmp_path / "in.parquet", rows)
    run(detector, tmp_path / "in.parquet", tmp_path / "out.jsonl")
    got = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    want = [{k: r[k] for k in ("id", "text", "mentions")} for r in map(json.loads, ref.splitlines())]
    assert got == want


def test_parquet_output_keeps_column_types_and_adds_mentions(tmp_path, detector, reference):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src, ref = reference
    rows = [json.loads(line) for line in src.read_text().splitlines()]
    _parquet(tmp_path / "in.parquet", rows)
    run(detector, tmp_path / "in.parquet", tmp_path / "out.parquet")
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.schema.field("id").type == pa.int32() and table.column_names == ["id", "text", "mentions"]
    assert not (tmp_path / "out.parquet.partial").exists()
    want = [json.loads(line)["mentions"] for line in ref.splitlines()]
    assert table.column("mentions").to_pylist() == want
    run(detector, src, tmp_path / "from_jsonl.parquet")  # JSONL in, Parquet out: the fields kept
    from_jsonl = pq.read_table(tmp_path / "from_jsonl.parquet").to_pylist()
    assert from_jsonl == [json.loads(line) for line in ref.splitlines()]


def test_parquet_bad_input_names_the_file_and_row(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1, 2, 3], "text": ["a", None, "c"]}), tmp_path / "nulls.parquet")
    pq.write_table(pa.table({"id": [1], "body": ["a"]}), tmp_path / "notext.parquet")
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "ints.parquet")
    (tmp_path / "torn.parquet").write_bytes(b"PAR1 not really")
    for name, message in [
        ("nulls", "row 2: 'text' is null"),
        ("notext", "no 'text' column"),
        ("ints", "column 'text' is int64, not a string"),
        ("torn", "not a readable Parquet file"),
    ]:
        argv = ["detect", "-q", "-i", str(tmp_path / f"{name}.parquet"), "-o", str(tmp_path / "o.jsonl")]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"{name}.parquet" in err and message in err and "Traceback" not in err, err
    assert not (tmp_path / "o.jsonl").exists() or (tmp_path / "o.jsonl").stat().st_size == 0


def test_parquet_output_cannot_be_resumed(tmp_path, reference):
    with pytest.raises(ConfigError, match="written whole"):
        plan_corpus(reference[0], tmp_path / "out.parquet", resume=True)


def test_sigterm_during_a_parquet_output_leaves_no_file(tmp_path):
    """SIGTERM once the Parquet run has written its first chunk (``<out>.partial`` exists): exit 143,
    a message, no traceback, and neither the output nor the partial file is left."""
    pytest.importorskip("pyarrow", reason="the parquet extra is not installed")
    src = write_jsonl(tmp_path / "in.jsonl", corpus(160, seed=3))
    out = tmp_path / "out.parquet"
    partial = tmp_path / "out.parquet.partial"
    victim = _detect(src, out)
    deadline = time.monotonic() + 300  # a guard against a hung test, not a timing
    while not partial.exists() and time.monotonic() < deadline:
        assert victim.poll() is None, victim.stderr.read().decode()
        time.sleep(0.02)
    victim.send_signal(signal.SIGTERM)
    err = victim.stderr.read().decode()
    code = victim.wait()
    assert "Traceback" not in err
    if code == 0:  # the last chunk was being written: the run completed
        assert out.is_file() and not partial.exists()
    else:
        assert code == 128 + signal.SIGTERM and "stopped by SIGTERM" in err
        assert not out.exists() and not partial.exists()
