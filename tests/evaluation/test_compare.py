"""tommer compare: DICE between predicted mention sets, and the report on a small subset."""

from __future__ import annotations

import json

import pytest

from tommer.core.layout import PRETRAINED_DIR
from tommer.errors import ConfigError
from tommer.evaluation.compare import dice, dice_matrix, mean_off_diagonal, run_compare


def test_dice_pools_over_sentences():
    a = [[(0, 5), (6, 10)], [(0, 3)], []]
    b = [[(0, 5)], [(0, 3), (4, 8)], []]
    # intersections 1 + 1, sizes 2+1 + 1+2
    assert dice(a, b) == pytest.approx(4 / 6)
    assert dice(a, a) == 1.0
    assert dice([[]], [[]]) == 1.0
    assert dice([[(0, 2)]], [[(3, 4)]]) == 0.0


def test_dice_trims_whitespace_and_checks_lengths():
    texts = ["Paris is big"]
    assert dice([[(0, 6)]], [[(0, 5)]], texts) == 1.0  # "Paris " == "Paris" once trimmed
    with pytest.raises(ConfigError):
        dice([[]], [[], []])


def test_dice_matrix_is_symmetric_with_unit_diagonal():
    preds = {"x": [[(0, 1)]], "y": [[(0, 1), (2, 3)]], "z": [[(2, 3)]]}
    m = dice_matrix(preds)
    assert [m[i][i] for i in range(3)] == [1.0, 1.0, 1.0]
    assert m[0][1] == m[1][0] == pytest.approx(2 / 3)
    assert m[0][2] == 0.0
    assert mean_off_diagonal(m) == pytest.approx((2 / 3 + 0 + 2 / 3) / 3)
    assert mean_off_diagonal([[1.0]]) is None


def test_compare_report_on_a_small_subset(shared_data, tmp_path):
    """The same model under two names agrees perfectly; the report files are written."""
    models = ["smollm2-135m", str(PRETRAINED_DIR / "smollm2-135m")]
    result = run_compare(
        models,
        limit=3,
        benchmarks=["CoNLL 2003"],
        root=shared_data,
        out_dir=tmp_path,
        sweeps_dir=tmp_path,
        log=None,
    )
    assert result["sentences"] == 3
    assert result["dice"]["mean_pairwise"] == 1.0
    assert result["by_decoding"]["flat"]["mean_pairwise"] == 1.0
    a, b = (result["zero_shot"][m]["pooled"] for m in models)
    assert (a["tp"], a["predicted"], a["gold"]) == (b["tp"], b["predicted"], b["gold"]) and a["gold"] > 0
    assert json.loads((tmp_path / "compare.json").read_text())["dice"]["matrix"] == [[1.0, 1.0], [1.0, 1.0]]
    assert (tmp_path / "dice.png").stat().st_size > 0
    assert "Mean pairwise DICE: **1.000**" in (tmp_path / "compare.md").read_text()
