"""Echo input: each window is fed twice, ``[BOS] t1 … tn t1 … tn``.

A causal backbone's state at a token sees only what precedes it. In the second copy every
token has already read the whole window, so its states carry right context too (at twice
the tokens). The first copy's states are exactly the plain ones, so the probe reads them
unchanged; a type head with ``echo`` reads the second copy, aligned row by row with the first
(row 0 stays the BOS state).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import ConfigError
from .windows import Encoding, Window


def check_echo(backbone) -> None:
    """Echo input only makes sense for a causal backbone."""
    if backbone.bidirectional:
        raise ConfigError(f"echo input needs a causal backbone; {backbone.source} is bidirectional")


def collate_echo(
    windows: Sequence[Window], encodings: Sequence[Encoding], bos_id: int, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``[BOS] window window`` ids and attention mask (length ``2·length − 1``)."""
    seq = max(2 * w.length - 1 for w in windows)
    ids = torch.full((len(windows), seq), pad_id, dtype=torch.long)
    mask = torch.zeros((len(windows), seq), dtype=torch.long)
    for row, w in enumerate(windows):
        tokens = torch.from_numpy(encodings[w.doc].ids[w.start : w.stop])
        n = len(tokens)
        ids[row, 0] = bos_id
        ids[row, 1 : n + 1] = tokens
        ids[row, n + 1 : 2 * n + 1] = tokens
        mask[row, : 2 * n + 1] = 1
    return ids, mask


def split_echo(
    hidden: torch.Tensor, windows: Sequence[Window]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """States of an echo batch → (plain states, echo states, plain attention mask).

    Both state tensors are ``(batch, max length, d)`` with rows aligned to the window
    (row 0 = BOS, row k = token k); rows past a window's length are zero.
    """
    seq = max(w.length for w in windows)
    plain = hidden.new_zeros(len(windows), seq, hidden.shape[-1])
    echo = hidden.new_zeros(len(windows), seq, hidden.shape[-1])
    mask = torch.zeros((len(windows), seq), dtype=torch.long)
    for row, w in enumerate(windows):
        n = w.length - 1
        plain[row, : n + 1] = hidden[row, : n + 1]
        echo[row, 0] = hidden[row, 0]
        echo[row, 1 : n + 1] = hidden[row, n + 1 : 2 * n + 1]
        mask[row, : n + 1] = 1
    return plain, echo, mask
