"""The ToMMeR probe: layer-L hidden states → span logits.

For hidden states X (seq × d), each token is first RMS-normalised (layer activations are
large and the BOS position is an outlier); with ``token_shapes``, a learnt vector per token
shape (its case, :data:`~tommer.core.windows.SHAPES`) is added, for backbones whose tokenizer
drops case. Then::

    Q = X W_Q, K = X W_K                       (rank r)
    S[i, j] = scale · <Q_i, K_j>               (or cosine)  for start j ≤ end i
    e_i = w · X_i + b                          (end-of-mention probe)
    logit(i, j) = c · [S, minpool→(S), maxpool→(S), e_i, e_{i+1}] + bias

masked causally (j ≤ i), within a sliding window (i - j < max_span_tokens), with the BOS
position and padding masked. ``minpool→``/``maxpool→`` pool strictly to the right of j in
row i (over starts j' > j, masked entries counting as 0).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .config import ProbeConfig  # noqa: F401  (re-exported)
from .windows import SHAPES

NEG_LOGIT = -1e4


def span_mask(attention_mask: torch.Tensor, max_span_tokens: int) -> torch.Tensor:
    """Valid (end i, start j) pairs: causal, in the window, no BOS, no padding. (B, T, T)."""
    seq = attention_mask.shape[-1]
    idx = torch.arange(seq, device=attention_mask.device)
    width = idx[:, None] - idx[None, :]
    band = (width >= 0) & (width < max_span_tokens)
    band[0, :] = False
    band[:, 0] = False
    real = attention_mask.bool()
    return band[None] & real[:, :, None] & real[:, None, :]


def _pool_right_strict(scores: torch.Tensor, largest: bool) -> torch.Tensor:
    """Max (or min) over entries strictly to the right in each row, 0 included."""
    flipped = scores.flip(-1)
    running = flipped.cummax(-1).values if largest else flipped.cummin(-1).values
    running = running.flip(-1)
    shifted = torch.nn.functional.pad(running[..., 1:], (0, 1), value=0.0)
    return shifted.clamp(min=0.0) if largest else shifted.clamp(max=0.0)


class ToMMeRProbe(nn.Module):
    """Low-rank token matching + end-of-mention probe, combined linearly into span logits."""

    def __init__(self, config: ProbeConfig) -> None:
        super().__init__()
        self.config = config
        d, r = config.hidden_size, config.rank
        self.w_q = nn.Linear(d, r, bias=False)
        self.w_k = nn.Linear(d, r, bias=False)
        self.end_probe = nn.Linear(d, 1)
        self.combine = nn.Linear(5, 1)
        self.shape_embedding = nn.Embedding(len(SHAPES), d) if config.token_shapes else None
        with torch.no_grad():
            self.combine.weight.fill_(1.0)
            self.combine.bias.zero_()
            if self.shape_embedding is not None:
                self.shape_embedding.weight.zero_()
        self.scale = 1.0 if config.cosine else r**-0.5

    def token_states(self, hidden: torch.Tensor, shapes: torch.Tensor | None = None) -> torch.Tensor:
        """The states the probe reads: RMS-normalised, plus the token-shape vectors if it has them."""
        x = hidden.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
        if self.shape_embedding is not None:
            if shapes is None:
                raise ConfigError("this probe reads token shapes: pass the batch's shapes (collate_shapes)")
            x = x + self.shape_embedding(shapes)
        return x

    def features(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, shapes: torch.Tensor | None = None
    ):
        """The five span features (B, T, T, 5) and the valid-span mask (B, T, T). ``shapes``: the
        token shapes (B, T), needed only by a probe with ``token_shapes``."""
        x = self.token_states(hidden, shapes)
        q, k = self.w_q(x), self.w_k(x)
        if self.config.cosine:
            q = nn.functional.normalize(q, dim=-1)
            k = nn.functional.normalize(k, dim=-1)
        mask = span_mask(attention_mask, self.config.max_span_tokens)
        s = (q @ k.transpose(-1, -2)) * self.scale
        s = s.masked_fill(~mask, 0.0)
        e = self.end_probe(x).squeeze(-1) * attention_mask.to(x.dtype)
        e_next = nn.functional.pad(e[:, 1:], (0, 1), value=0.0)
        seq = s.shape[-1]
        feats = torch.stack(
            [
                s,
                _pool_right_strict(s, largest=False),
                _pool_right_strict(s, largest=True),
                e[:, :, None].expand(-1, -1, seq),
                e_next[:, :, None].expand(-1, -1, seq),
            ],
            dim=-1,
        )
        return feats, mask

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor, shapes: torch.Tensor | None = None):
        """Span logits (B, T_end, T_start), ``NEG_LOGIT`` where masked, and the mask."""
        feats, mask = self.features(hidden, attention_mask, shapes)
        logits = self.combine(feats).squeeze(-1)
        return logits.masked_fill(~mask, NEG_LOGIT), mask

    @torch.no_grad()
    def probabilities(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, shapes: torch.Tensor | None = None
    ):
        """Span probabilities (B, T_end, T_start) as a float64 array: logits up to ~36 survive
        the round trip, so decoders can rank on exact logits."""
        logits, _ = self(hidden, attention_mask, shapes)
        return torch.sigmoid(logits.double()).numpy()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
