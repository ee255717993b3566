"""The probe: masks, pooled features against a naive loop, padding invariance, size."""

from __future__ import annotations

import torch

from tommer.core.probe import NEG_LOGIT, ProbeConfig, ToMMeRProbe, span_mask


def make_probe(cosine=False, window=4):
    torch.manual_seed(0)
    probe = ToMMeRProbe(ProbeConfig(hidden_size=16, rank=8, cosine=cosine, max_span_tokens=window))
    with torch.no_grad():
        probe.combine.weight.copy_(torch.tensor([[0.5, -1.0, 2.0, 0.3, 0.7]]))
    return probe


def test_mask_is_causal_windowed_and_skips_bos_and_padding():
    attn = torch.tensor([[1, 1, 1, 1, 1, 0]])
    mask = span_mask(attn, max_span_tokens=3)[0]
    for i in range(6):
        for j in range(6):
            expected = 0 < j <= i < 5 and i - j < 3
            assert bool(mask[i, j]) == expected, (i, j)


def test_features_match_naive_definition():
    probe = make_probe()
    x = torch.randn(1, 7, 16) * 50
    attn = torch.ones(1, 7, dtype=torch.long)
    feats, mask = probe.features(x, attn)
    s = feats[0, :, :, 0]
    e = feats[0, :, 0, 3]
    for i in range(7):
        for j in range(7):
            right = [s[i, k].item() for k in range(j + 1, 7)] + [0.0]
            assert torch.isclose(feats[0, i, j, 1], torch.tensor(min(right)), atol=1e-5)
            assert torch.isclose(feats[0, i, j, 2], torch.tensor(max(right)), atol=1e-5)
            nxt = e[i + 1] if i + 1 < 7 else 0.0
            assert torch.isclose(feats[0, i, j, 4], torch.as_tensor(nxt), atol=1e-5)
            if not mask[0, i, j]:
                assert s[i, j] == 0


def test_logits_masked_and_padding_invariant():
    probe = make_probe(cosine=True)
    x = torch.randn(1, 6, 16)
    alone, mask = probe(x, torch.ones(1, 6, dtype=torch.long))
    assert (alone[~mask] == NEG_LOGIT).all()
    padded_x = torch.cat([x, torch.randn(1, 3, 16) * 100], dim=1)
    attn = torch.tensor([[1] * 6 + [0] * 3])
    padded, _ = probe(padded_x, attn)
    assert torch.allclose(padded[0, :6, :6], alone[0], atol=1e-5)


def test_scale_invariant_input_normalisation():
    probe = make_probe()
    x = torch.randn(1, 5, 16)
    attn = torch.ones(1, 5, dtype=torch.long)
    a, _ = probe(x, attn)
    b, _ = probe(x * 1000, attn)
    assert torch.allclose(a, b, atol=1e-3)


def test_default_size_is_below_300k_parameters():
    for d in (576, 640, 896):
        assert ToMMeRProbe(ProbeConfig(hidden_size=d, rank=64)).num_parameters() < 300_000


def test_token_shapes_enter_the_states_and_are_required():
    import pytest

    from tommer.errors import ConfigError

    torch.manual_seed(0)
    probe = ToMMeRProbe(ProbeConfig(hidden_size=16, rank=8, token_shapes=True))
    x = torch.randn(1, 6, 16)
    attn = torch.ones(1, 6, dtype=torch.long)
    lower = torch.tensor([[0, 3, 3, 3, 3, 3]])
    title = torch.tensor([[0, 4, 4, 3, 3, 3]])
    with pytest.raises(ConfigError, match="token shapes"):
        probe(x, attn)
    before, _ = probe(x, attn, lower)
    assert torch.equal(before, probe(x, attn, title)[0])  # zero-initialised: no effect untrained
    with torch.no_grad():
        probe.shape_embedding.weight.normal_()
    after, mask = probe(x, attn, title)
    assert not torch.allclose(after[mask], probe(x, attn, lower)[0][mask])
    assert ProbeConfig.from_dict(probe.config.to_dict()).token_shapes


def test_probe_config_without_token_shapes_saves_as_before():
    assert "token_shapes" not in ProbeConfig(hidden_size=16).to_dict()
