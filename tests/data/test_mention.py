"""The data model: joining consecutive texts."""

from __future__ import annotations

import pytest


def test_join_consecutive_shifts_spans_and_keeps_labels():
    from tommer.data.mention import AnnotatedText, join_consecutive

    docs = [
        AnnotatedText("Angela Merkel spoke.", [(0, 13)], "a", ["person"]),
        AnnotatedText("", [], "a", []),
        AnnotatedText("Paris and Rome.", [(0, 5), (10, 14)], "a", ["location", "location"]),
    ]
    joined = join_consecutive(docs, 2)
    assert [d.text for d in joined] == ["Angela Merkel spoke.\n", "Paris and Rome."]
    whole = join_consecutive(docs, 3)[0]
    assert [whole.text[s:e] for s, e in whole.spans] == ["Angela Merkel", "Paris", "Rome"]
    assert whole.labels == ["person", "location", "location"]
    assert join_consecutive(docs, 1) == docs
    with pytest.raises(ValueError, match=">= 1"):
        join_consecutive(docs, 0)
