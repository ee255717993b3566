"""Echo input (tommer.core.echo): the first copy is the plain pass, the second copy sees the window."""

from __future__ import annotations

import json

import torch

from tommer.cli import main
from tommer.core.detector import batches, collate
from tommer.core.echo import collate_echo, split_echo
from tommer.typed.detector import MentionDetector
from tommer.typed.type_head import load_head

TEXTS = ["Angela Merkel met Emmanuel Macron in Paris.", "Short one.", "The Louvre is in Paris, France."]


def test_first_copy_is_the_plain_pass(detector):
    bb = detector.backbone
    encodings, windows = detector.preprocess(TEXTS)
    batch = next(batches(windows, 8))
    ids, mask = collate(batch, encodings, bb.bos_id, bb.pad_id)
    plain = bb.hidden_states(ids, mask)
    eids, emask = collate_echo(batch, encodings, bb.bos_id, bb.pad_id)
    assert eids.shape[1] == 2 * ids.shape[1] - 1
    first, echo, echo_mask = split_echo(bb.hidden_states(eids, emask), batch)
    assert torch.equal(echo_mask, mask)
    for row, w in enumerate(batch):
        n = w.length
        if bb.dtype == torch.float32:
            assert torch.allclose(first[row, :n], plain[row, :n], atol=1e-3, rtol=1e-3)
        else:  # bf16 (CPUs with native bf16): other matmul shapes round differently, layer after layer
            error = (first[row, :n] - plain[row, :n]).abs().mean() / plain[row, :n].abs().mean()
            assert error < 0.02
        assert torch.equal(echo[row, 0], first[row, 0])  # BOS row is shared
        # the second copy has read the whole window: its states differ from the plain ones
        assert not torch.allclose(echo[row, 1:n], plain[row, 1:n], atol=1e-2)
        assert echo[row, n:].abs().sum() == 0


def test_echo_head_trains_and_labels(tmp_path):
    texts = [
        ("Angela Merkel visited Paris.", [("Angela Merkel", "person"), ("Paris", "location")]),
        ("John Smith lives in London.", [("John Smith", "person"), ("London", "location")]),
    ]
    records = [
        {
            "sentence": t,
            "entities": [{"name": n, "type": y, "pos": [t.index(n), t.index(n) + len(n)]} for n, y in ents],
        }
        for t, ents in texts
    ]
    data = tmp_path / "tiny.json"
    data.write_text(json.dumps(records))
    out = tmp_path / "model"
    argv = ["train-types", "--data", str(data), "--val-data", str(data), "--epochs", "1", "--echo"]
    assert main([*argv, "--out", str(out), "-q"]) == 0
    assert load_head(out).config.echo is True
    model = MentionDetector.from_pretrained(out)
    text = "Maria went to Berlin yesterday."
    for m in model(text, threshold=0.02):
        assert text[m.start : m.end] == m.text and m.label in {"person", "location"}


def test_echo_probe_trains_and_detects(tmp_path, capsys):
    bio = tmp_path / "tiny.txt"
    docs = [
        [("Angela", "B-person"), ("Merkel", "I-person"), ("met", "O"), ("Macron", "B-person"), (".", "O")],
        [("Paris", "B-city"), ("is", "O"), ("in", "O"), ("France", "B-country"), (".", "O")],
    ] * 4
    bio.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in d) for d in docs) + "\n")
    out = tmp_path / "echo-model"
    base = ["train", "--data", str(bio), "--layer", "2", "--rank", "8", "--epochs", "1"]
    assert main([*base, "--echo", "--val-fraction", "0.25", "--out", str(out), "-q"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["echo"] is True and "| input | echo" in (out / "README.md").read_text()
    model = MentionDetector.from_pretrained(out)
    assert model.config.echo
    text = "Angela Merkel met Macron in Paris."
    for m in model(text, threshold=0.0):
        assert text[m.start : m.end] == m.text
    # the probe reads echo states: its span scores differ from those on plain states
    encodings, windows = model.preprocess([text])
    echo_states, _, mask = model.window_states(windows, encodings)
    ids, plain_mask = collate(windows, encodings, model.backbone.bos_id, model.backbone.pad_id)
    assert torch.equal(mask, plain_mask)
    assert not torch.allclose(echo_states, model.backbone.hidden_states(ids, plain_mask), atol=1e-2)
    # a plain teacher cannot label an echo student's states
    capsys.readouterr()
    student = ["train", "--data", str(bio), "--layer", "6", "--epochs", "1", "--echo"]
    student += ["--teacher", "smollm2-135m"]
    assert main([*student, "--out", str(tmp_path / "s"), "-q"]) != 0
    assert "reads plain input; the student reads echo input" in capsys.readouterr().err
