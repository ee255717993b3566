"""Building ensembles of type heads (experiments/ensembles.py); tests/typed loads and runs them."""

from __future__ import annotations

import pytest
import torch
from ensembles import ensemble
from type_heads import small_head

from tommer.errors import ConfigError
from tommer.typed.type_head import TypeHead, TypeHeadConfig, join_layers


def test_ensemble_averages_the_heads_given():
    members = [small_head("supervised", hidden=8, bilstm_dim=6) for _ in range(3)]
    for k, member in enumerate(members[1:], start=1):  # small_head seeds 0: make the members differ
        torch.manual_seed(k)
        member.load_state_dict(TypeHead(member.config).state_dict())
    head = ensemble(members)
    assert head.config.members == 3 and head.config.member_extra_layers == []
    hidden, spans = torch.randn(10, 8), torch.tensor([[1, 2], [4, 4], [5, 8]])
    with torch.no_grad():
        each = [m.class_probs(hidden, spans) for m in members]
        assert torch.allclose(head.class_probs(hidden, spans), torch.stack(each).mean(0))
    assert ensemble(members[:1]) is members[0]
    other = small_head("supervised", hidden=8, bilstm_dim=6)  # operating thresholds may differ
    other.config.candidate_threshold, other.config.label_threshold = 1e-5, 0.3
    assert ensemble([members[0], other]).config.members == 2
    with pytest.raises(ConfigError, match="same configuration"):
        ensemble([members[0], small_head("supervised", hidden=8)])


def test_ensemble_of_heads_reading_different_layers_reads_their_union():
    torch.manual_seed(0)
    config = TypeHeadConfig.of("supervised", 8, labels=["person"], dim=16, layer=4, bilstm_dim=6)
    members = [TypeHead(config.copy(extra_layers=x)).eval() for x in ([6], [5, 6], [])]
    head = ensemble(members)
    assert head.config.extra_layers == [5, 6] and head.config.read_layers(2) == [4, 5, 6]
    assert head.config.member_extra_layers == [[6], [5, 6], []]
    states = {m: torch.randn(10, 8) for m in (4, 5, 6)}
    spans = torch.tensor([[1, 2], [4, 4], [5, 8]])
    with torch.no_grad():
        own = [join_layers([states[k] for k in m.config.read_layers(2)]) for m in members]
        each = [m.class_probs(x, spans) for m, x in zip(members, own)]
        mean = head.class_probs(join_layers([states[k] for k in (4, 5, 6)]), spans)
    assert torch.allclose(mean, torch.stack(each).mean(0), atol=1e-5)
    assert ensemble([head, members[0]]).config.members == 4  # an ensemble given is read as its members
