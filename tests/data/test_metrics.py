"""Mention scores: strict typed scores."""

from __future__ import annotations

import pytest

from tommer.data.metrics import TypedScores


def test_typed_scores_strict():
    scores = TypedScores()
    scores.add([(0, 5, "person"), (6, 9, "location"), (10, 12, "person")], [(0, 5, "person"), (6, 9, "org")])
    assert (scores.micro.tp, scores.micro.predicted, scores.micro.gold) == (1, 3, 2)
    assert scores.per_type["person"].precision == 0.5 and scores.per_type["person"].recall == 1.0
    assert scores.per_type["org"].recall == 0.0 and scores.per_type["location"].precision == 0.0
    assert scores.f1 == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
