"""Corpora on a real local Ray cluster (started here, 2 CPUs): the same records as a local run with
1 and 2 workers, JSONL and Parquet, a killed actor, and bad records failed or routed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'tommer[ray]')")
pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from tommer.cli import main  # noqa: E402
from tommer.errors import ConfigError, DataFormatError  # noqa: E402
from tommer.integrations.corpus import Detection  # noqa: E402
from tommer.integrations.distributed import detect_dataset, detect_files  # noqa: E402

N = 5000  # the corpus size
NAMES = ["Angela Merkel", "Barack Obama", "Google", "Paris", "the United Nations", "Tokyo", "Marie Curie"]
VERBS = ["met", "visited", "praised", "left", "talked about", "moved to"]


def corpus(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    texts = [f"{rng.choice(NAMES)} {rng.choice(VERBS)} {rng.choice(NAMES)} on day {k}." for k in range(n)]
    return [{"id": k, "text": text, "x": [k]} for k, text in enumerate(texts)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", object_store_memory=300 << 20)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> tuple[Path, bytes]:
    """A 5,000-record JSONL corpus and a local CLI run's output of it."""
    folder = tmp_path_factory.mktemp("ray")
    src = write_jsonl(folder / "in.jsonl", corpus(N, seed=3))
    assert main(["detect", "-q", "-i", str(src), "-o", str(folder / "local.jsonl")]) == 0
    return src, (folder / "local.jsonl").read_bytes()


def parts(folder: Path, suffix: str = ".jsonl") -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(suffix))


@pytest.mark.parametrize("workers", [1, 2])
def test_same_records_as_local_cli(cluster, big, tmp_path, workers):
    src, local = big
    run = detect_files(src, tmp_path / "out", workers=workers, progress=False)
    assert run.records == N and run.bad_records == 0
    assert b"".join(p.read_bytes() for p in parts(tmp_path / "out")) == local


def test_parquet_in_and_out_same_as_local(cluster, tmp_path):
    """Parquet → Parquet on Ray equals the local ``tommer detect -i x.parquet -o y.parquet`` (no Ray),
    input columns and their types kept."""
    rows = corpus(300, seed=4)
    table = pa.table({"id": pa.array([r["id"] for r in rows], pa.int32()), "text": [r["text"] for r in rows]})
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=70)
    assert main(["detect", "-q", "-i", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "y.parquet")]) == 0
    local = pq.read_table(tmp_path / "y.parquet")
    run = detect_files(tmp_path / "in.parquet", tmp_path / "out", workers=2, progress=False)
    assert run.records == 300
    got = pa.concat_tables(pq.read_table(p) for p in parts(tmp_path / "out", ".parquet"))
    assert got.schema.field("id").type == pa.int32() == local.schema.field("id").type
    assert got.to_pylist() == local.to_pylist()
    assert any(r["mentions"] for r in got.to_pylist())


def test_options_reach_the_workers(cluster, tmp_path):
    """Threshold, decoding and the pipeline style are the local run's."""
    src = write_jsonl(tmp_path / "in.jsonl", corpus(100, seed=5))
    args = ["--threshold", "0.8", "--decoding", "nested", "--format", "pipeline"]
    assert main(["detect", "-q", "-i", str(src), "-o", str(tmp_path / "local.jsonl"), *args]) == 0
    detection = Detection(threshold=0.8, decoding="nested", style="pipeline")
    detect_files(src, tmp_path / "out", detection, progress=False)
    got = b"".join(p.read_bytes() for p in parts(tmp_path / "out"))
    assert got == (tmp_path / "local.jsonl").read_bytes()
    assert "entity_group" in got.decode()


def test_labels_reach_the_workers(cluster, tmp_path):
    """Zero-shot labels on a typed model: the local run's typed mentions. The type head runs on
    torch; on fp32 its scores agree to the last printed digits (bf16 ones move by ~0.02 from one
    process to another), so scores are compared to 1e-4 (the untyped default: byte for byte)."""
    src = write_jsonl(tmp_path / "in.jsonl", corpus(24, seed=7))
    labels = "person,location,organization"
    args = ["--model", "smollm2-135m-types", "--engine", "torch-fp32", "--labels", labels]
    assert main(["detect", "-q", "-i", str(src), "-o", str(tmp_path / "local.jsonl"), *args]) == 0
    detection = Detection(labels=tuple(labels.split(",")))
    model = "smollm2-135m-types"
    detect_files(src, tmp_path / "out", detection, model=model, engine="torch-fp32", progress=False)
    got = [json.loads(line) for p in parts(tmp_path / "out") for line in p.read_text().splitlines()]
    want = [json.loads(line) for line in (tmp_path / "local.jsonl").read_text().splitlines()]

    def key(rows):
        return [[(m["start"], m["end"], m["label"]) for m in r["mentions"]] for r in rows]

    assert key(got) == key(want) and any(m["label"] == "person" for r in got for m in r["mentions"])
    for g, w in zip(got, want):
        for a, b in zip(g["mentions"], w["mentions"]):
            assert abs(a["score"] - b["score"]) < 1e-4 and abs(a["label_score"] - b["label_score"]) < 1e-4


def test_bad_parquet_input_names_file_and_row(cluster, tmp_path):
    pq.write_table(pa.table({"id": [1, 2, 3], "text": ["Paris", None, "Tokyo"]}), tmp_path / "nulls.parquet")
    with pytest.raises(DataFormatError, match=r"nulls\.parquet: row 2: 'text' is null"):
        detect_files(tmp_path / "nulls.parquet", tmp_path / "out", progress=False)
    pq.write_table(pa.table({"id": [1], "body": ["Paris"]}), tmp_path / "notext.parquet")
    with pytest.raises(DataFormatError, match=r"notext\.parquet: no 'text' column"):
        detect_files(tmp_path / "notext.parquet", tmp_path / "out2", progress=False)


def test_bad_record_fails_with_its_location(cluster, tmp_path):
    rows = corpus(50)
    rows[30] = {"id": 30, "body": "no text field"}
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    with pytest.raises(DataFormatError, match=r"in\.jsonl:31: missing string field 'text'"):
        detect_files(src, tmp_path / "out", progress=False)


def test_bad_records_routed_to_errors_folder(cluster, tmp_path):
    rows = corpus(80)
    rows[3] = {"id": 3, "text": 7}
    src = tmp_path / "in.jsonl"
    lines = [json.dumps(r) for r in rows]
    lines[50] = "{not json"
    src.write_bytes(("\n".join(lines) + "\n").encode() + b'{"text": "bad \xff byte"}\n')
    run = detect_files(src, tmp_path / "out", errors=tmp_path / "errors", progress=False)
    assert run.records == 78 and run.bad_records == 3
    errors = [json.loads(line) for p in parts(tmp_path / "errors") for line in p.read_text().splitlines()]
    assert sorted(e["line"] for e in errors) == [4, 51, 81]
    assert all(e["path"].endswith("in.jsonl") and e["error"] for e in errors)
    ids = [json.loads(line)["id"] for p in parts(tmp_path / "out") for line in p.read_text().splitlines()]
    assert ids == [k for k in range(80) if k not in (3, 50)]


def test_output_folder_not_replaced_without_overwrite(cluster, big, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.jsonl").write_text("{}\n")
    with pytest.raises(ConfigError, match="not empty"):
        detect_files(big[0], tmp_path / "out", progress=False)


def test_detect_dataset_adds_mentions(cluster):
    text = "Angela Merkel met Emmanuel Macron in Paris."
    ds = ray.data.from_items([{"id": k, "text": text} for k in range(4)])
    rows = detect_dataset(ds).take_all()
    assert [r["id"] for r in sorted(rows, key=lambda r: r["id"])] == [0, 1, 2, 3]
    texts = {r["text"][m["start"] : m["end"]] for r in rows for m in r["mentions"]}
    assert texts == {"Angela Merkel", "Emmanuel Macron", "Paris"}


def _actor_pids() -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"MapBatches(_Annotator)" in cmdline:
                pids.add(int(entry))
    return pids


def test_killed_worker_loses_and_duplicates_nothing(cluster, big, tmp_path):
    """An actor process killed with SIGKILL mid-run: Ray restarts it and retries its batch."""
    src, local = big
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 120  # a guard against a hung test, not a timing
        while time.monotonic() < deadline:
            pids = _actor_pids()
            if pids:
                time.sleep(3.0)  # let it load the model and start on batches
                victim = min(_actor_pids() or pids)
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    run = detect_files(src, tmp_path / "out", workers=2, progress=False)
    killer.join()
    assert killed, "no actor was found to kill"
    ids = [json.loads(line)["id"] for p in parts(tmp_path / "out") for line in p.read_text().splitlines()]
    assert run.records == N and sorted(ids) == list(range(N))
    assert b"".join(p.read_bytes() for p in parts(tmp_path / "out")) == local


def test_cli_ray_run(cluster, tmp_path):
    """``tommer detect --engine ray`` (the same as ``--ray``) in a real subprocess joining this test's
    cluster (``--address auto``)."""
    src = write_jsonl(tmp_path / "in.jsonl", corpus(40, seed=6))
    argv = ["detect", "--engine", "ray", "--address", "auto", "-i", str(src), "-o", str(tmp_path / "out")]
    done = subprocess.run([sys.executable, "-m", "tommer.cli", *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "40 records written" in done.stderr
    assert len([line for p in parts(tmp_path / "out") for line in p.read_text().splitlines()]) == 40
    bad = subprocess.run(
        [sys.executable, "-m", "tommer.cli", *argv, "--resume"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "--resume" in bad.stderr and "Traceback" not in bad.stderr
