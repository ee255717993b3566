"""Echo input (tommer.core.echo): the first copy is the plain pass, the second copy sees the window."""

from __future__ import annotations

import json

import pytest
import torch

from tommer.cli import main
from tommer.core.detector import batches, collate
from tommer.core.echo import collate_echo, split_echo
from tommer.errors import ConfigError
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


def test_echo_probe_config_is_refused_and_the_probe_reads_the_first_copy(detector, tmp_path):
    """Echo input is for type heads only: a saved probe that read it (the removed `tommer train
    --echo`) is refused on load, and with an echo head the probe reads the first copy (the plain pass)."""
    out = detector.save_pretrained(tmp_path / "echo-probe")
    config = json.loads((out / "config.json").read_text())
    assert "echo" not in config
    (out / "config.json").write_text(json.dumps({**config, "echo": True}))
    with pytest.raises(ConfigError, match="reads echo input"):
        MentionDetector.from_pretrained(out)
    bb = detector.backbone
    encodings, windows = detector.preprocess(TEXTS)
    batch = next(batches(windows, 8))
    probe_states, (head_states,), mask = detector.window_states(batch, encodings, head_echo=True)
    eids, emask = collate_echo(batch, encodings, bb.bos_id, bb.pad_id)
    first, echo, echo_mask = split_echo(bb.hidden_states(eids, emask, detector.config.layer), batch)
    assert torch.equal(mask, echo_mask) and torch.equal(probe_states, first)
    assert torch.equal(head_states, echo)
