"""Text → tokens with character offsets → overlapping windows the backbone can read.

Long texts are never truncated: they are cut into windows of at most ``max_tokens`` tokens
(a BOS token first). Consecutive windows overlap by ``context`` tokens so that every span end
is *owned* by exactly one window in which it has at least ``context`` tokens of left context
and a following token (needed by the ``e_{i+1}`` feature).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..data.mention import trim_span
from ..errors import ConfigError


@dataclass
class Encoding:
    """A text's tokens with whitespace-trimmed character offsets (end-exclusive).

    ``word_start[k]`` / ``word_end[k]`` say whether token k may begin / end a mention: a
    mention never starts or ends inside a word (between two alphanumeric characters).
    """

    ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    word_start: np.ndarray
    word_end: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Window:
    """A slice ``[start, stop)`` of a text's tokens, owning span ends ``[own_from, own_to)``."""

    doc: int
    start: int
    stop: int
    own_from: int
    own_to: int

    @property
    def length(self) -> int:
        """Sequence length fed to the backbone (BOS included)."""
        return self.stop - self.start + 1


def encode(tokenizer, text: str) -> Encoding:
    """Tokenize without special tokens; offsets exclude the whitespace a token carries.

    ``tokenizer`` is a Hugging Face tokenizer (``transformers``) or a ``tokenizers.Tokenizer`` (the
    same ``tokenizer.json``, what the ONNX engine loads without transformers): same ids and offsets.
    """
    if hasattr(tokenizer, "encode_batch"):  # tokenizers.Tokenizer
        enc = tokenizer.encode(text, add_special_tokens=False)
        raw_ids, offsets = enc.ids, enc.offsets
    else:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        raw_ids, offsets = enc["input_ids"], enc["offset_mapping"]
    ids = np.asarray(raw_ids, dtype=np.int64)
    starts = np.empty(len(ids), dtype=np.int64)
    ends = np.empty(len(ids), dtype=np.int64)
    for k, (s, e) in enumerate(offsets):
        starts[k], ends[k] = trim_span(text, s, e)
    return Encoding(ids, starts, ends, *word_boundaries(text, starts, ends))


def word_boundaries(text: str, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which tokens start / end at a word boundary (not between two alphanumeric characters)."""

    def inside_word(pos: int) -> bool:
        return 0 < pos < len(text) and text[pos - 1].isalnum() and text[pos].isalnum()

    non_empty = ends > starts
    word_start = np.array([not inside_word(int(p)) for p in starts], dtype=bool) & non_empty
    word_end = np.array([not inside_word(int(p)) for p in ends], dtype=bool) & non_empty
    return word_start, word_end


def make_windows(doc: int, n_tokens: int, max_tokens: int, context: int) -> list[Window]:
    """Cut ``n_tokens`` tokens into overlapping windows (see module docstring)."""
    content = max_tokens - 1  # one position is the BOS token
    stride = content - 1 - context
    if stride < 1:
        raise ConfigError(f"max_tokens ({max_tokens}) must exceed context ({context}) + 2 for windowing")
    windows: list[Window] = []
    start = 0
    while True:
        stop = min(start + content, n_tokens)
        own_from = 0 if start == 0 else start + context
        own_to = n_tokens if stop == n_tokens else stop - 1
        windows.append(Window(doc, start, stop, own_from, own_to))
        if stop == n_tokens:
            return windows
        start = own_to - context


def collate_arrays(
    windows: Sequence[Window], encodings: Sequence[Encoding], bos_id: int, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded input ids (BOS first) and attention mask (both int64) for a batch of windows."""
    seq = max(w.length for w in windows)
    ids = np.full((len(windows), seq), pad_id, dtype=np.int64)
    mask = np.zeros((len(windows), seq), dtype=np.int64)
    for row, w in enumerate(windows):
        ids[row, 0] = bos_id
        ids[row, 1 : w.length] = encodings[w.doc].ids[w.start : w.stop]
        mask[row, : w.length] = 1
    return ids, mask


def token_spans_for(encoding: Encoding, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Map character spans to inclusive token spans (first/last token overlapping the span)."""
    out = []
    for s, e in spans:
        inside = np.nonzero((encoding.ends > s) & (encoding.starts < e))[0]
        if len(inside):
            out.append((int(inside[0]), int(inside[-1])))
    return out
