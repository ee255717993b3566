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


def test_to_dict_gives_the_fields_and_types_only_when_typed():
    from dataclasses import asdict

    from tommer.data.mention import Mention

    untyped = Mention(0, 6, "Angela", 0.97)
    assert untyped.to_dict() == {"start": 0, "end": 6, "text": "Angela", "score": 0.97}
    typed = Mention(0, 6, "Angela", 0.97, "person", 0.8)
    assert typed.to_dict() == asdict(typed)
    assert list(typed.to_dict()) == ["start", "end", "text", "score", "label", "label_score"]
