"""experiments/train_types_lab.py (``--members``) and experiments/combine_types.py, end to end on tiny
data: the ensembles they save load and run in the package (tommer.load, eval --typed)."""

from __future__ import annotations

import shutil

import combine_types
import pytest
import train_types_lab
from safetensors.torch import load_file, save_file
from type_heads import TINY, write_benchmark_json

import tommer
from tommer.cli import main
from tommer.data.readers import data_root
from tommer.evaluation.typed_eval import render_markdown, run_typed_eval

TEXT = "Angela Merkel visited Paris and London."


def test_members_then_combine_types(tmp_path, capsys):
    data = write_benchmark_json(tmp_path / "tiny.json", TINY)
    base = ["--data", str(data), "--val-data", str(data), "--epochs", "1", "-q"]
    deep = ["--layer", "8", "--extra-layers", "9", "--echo", "--join-sentences", "2", "--bilstm-dim", "16"]
    deep_out, alone_out, zs_out = tmp_path / "deep", tmp_path / "alone", tmp_path / "zero-shot"

    # --members 2: two seeds, one head averaging them
    assert train_types_lab.main([*base, "--zero-shot", "--members", "2", "--out", str(zs_out)]) == 2
    assert "--members must be 1, or more for a supervised head" in capsys.readouterr().err
    assert train_types_lab.main([*base, *deep, "--members", "2", "--out", str(deep_out)]) == 0
    detector = tommer.load(deep_out)
    config = detector.type_head.config
    assert config.members == 2 and len(detector.type_head.members) == 2 and config.extra_layers == [9]
    assert [m["seed"] for m in config.info["members"]] == [0, 1]
    card = (deep_out / "README.md").read_text()
    assert "Ensemble of 2 heads (seeds 0, 1)" in card and "python experiments/train_types_lab.py" in card
    for m in detector(TEXT, threshold=0.0):  # a supervised head: typed on every call
        assert TEXT[m.start : m.end] == m.text and m.label in {"location", "person"}

    # combine the 2-member head (layers 8 + 9) and a head reading layer 8 alone, on the same probe
    assert main(["train-types", *base, *deep[:2], *deep[4:], "--seed", "7", "--out", str(alone_out)]) == 0
    combine = [str(deep_out), str(alone_out), "--val-data", str(data)]
    mixed_out = tmp_path / "mixed"
    assert combine_types.main([*combine, "--out", str(mixed_out), "-q"]) == 0
    mixed = tommer.load(mixed_out)
    config = mixed.type_head.config
    sweep = config.info["candidate_sweep"]  # the default grid (the members' 0.02 is in it)
    assert [r["candidate_threshold"] for r in sweep] == [0.02, 0.002, 1e-3, 1e-4, 1e-5, 1e-6]
    assert config.members == 3 and config.member_extra_layers == [[9], [9], []] and config.extra_layers == [9]
    card = (mixed_out / "README.md").read_text()
    assert "Ensemble of 3 heads (seed 0 (layers 8 + 9), seed 1 (layers 8 + 9), seed 7 (layer 8))" in card
    assert f"python experiments/combine_types.py {deep_out}" in card
    assert f"Members from `{alone_out}`, trained by: `tommer train-types" in card
    for m in mixed(TEXT, threshold=0.0):
        assert TEXT[m.start : m.end] == m.text and m.label in {"location", "person"}

    # read in pairs of sentences and in pairs shifted by one (the heads were trained on pairs)
    overlap_out = tmp_path / "overlap"
    assert combine_types.main([*combine, "--group-stride", "1", "--out", str(overlap_out), "-q"]) == 0
    overlap = tommer.load(overlap_out).type_head.config
    assert overlap.group_stride == 1 and overlap.join_sentences == 2
    assert "shifted by every multiple of 1" in (overlap_out / "README.md").read_text()
    assert combine_types.main([*combine, "--group-stride", "3", "--out", str(tmp_path / "x")]) == 2
    assert "must divide the head's group size (2)" in capsys.readouterr().err

    # refused: a zero-shot head, a single model, a head trained on another probe
    assert main(["train-types", *base, "--zero-shot", "--out", str(zs_out)]) == 0
    assert combine_types.main([str(deep_out), str(zs_out), "--val-data", str(data), "--out", "x"]) == 2
    assert "has no supervised type head" in capsys.readouterr().err
    assert combine_types.main([str(deep_out), "--val-data", str(data), "--out", "x"]) == 2
    assert "at least two" in capsys.readouterr().err
    other = tmp_path / "other-probe"
    shutil.copytree(alone_out, other)
    weights = load_file(other / "model.safetensors")
    first = next(iter(weights))
    weights[first] = weights[first] + 0.01
    save_file(weights, other / "model.safetensors")
    assert combine_types.main([str(deep_out), str(other), "--val-data", str(data), "--out", "x"]) == 2
    assert f"{other} has another probe or backbone than {deep_out}" in capsys.readouterr().err

    # typed eval reads the saved ensemble as it was combined: pairs of sentences, shifted by one
    if not (data_root() / "benchmarks" / "CoNLL 2003" / "test.json").exists():
        pytest.skip(f"shared data not found at {data_root()}: set TOMMER_DATA to the data folder")
    report = run_typed_eval(str(overlap_out), [("CoNLL 2003", str(overlap_out))], [], limit=5, log=print)
    row = report["rows"][0]
    assert row["sentences"] == 5 and row["micro"]["gold"] > 0
    head = row["head"]
    assert (head["members"], head["member_extra_layers"], head["group_stride"]) == (3, [[9], [9], []], 1)
    text = render_markdown(report)
    assert "an ensemble of 3 heads (2 read layers 8 + 9, 1 read layer 8; seeds differ)" in text
    assert "shifted by each multiple of 1 sentences" in text
