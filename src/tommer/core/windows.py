"""Text → tokens with character offsets → overlapping windows the backbone can read.

Long texts are never truncated: they are cut into windows of at most ``max_tokens`` tokens
(a BOS token first). Consecutive windows overlap by ``context`` tokens so that every span end
is *owned* by exactly one window in which it has at least ``context`` tokens of left context
and a following token (needed by the ``e_{i+1}`` feature).
"""

from __future__ import annotations

import re
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
    ``shapes[k]`` is the surface shape of the token's characters (:data:`SHAPES`), which an
    uncased tokenizer's ids no longer carry.
    """

    ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    word_start: np.ndarray
    word_end: np.ndarray
    shapes: np.ndarray

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


# What the tokenizer reads instead of characters that are not text: a lone surrogate (JSON allows
# "\udcff"; no UTF-8 exists for it) reads as U+FFFD, and control characters other than tab / line
# breaks, the BOM and bidirectional controls read as a space. One character for one, so offsets
# into the given text stay exact; a mention's text is always the given text's slice.
_READ_AS = {
    **{c: "\ufffd" for c in range(0xD800, 0xE000)},
    **{c: " " for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)]},
    **{c: " " for c in [0xFEFF, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]},
}
_NOT_TEXT = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\u202a-\u202e\u2066-\u2069]")


def readable(text: str) -> str:
    """``text`` as the tokenizer reads it (see ``_READ_AS``): the same length, character for character."""
    return text.translate(_READ_AS) if _NOT_TEXT.search(text) else text


SHAPES = ("none", "other", "digit", "lower", "title", "upper", "mixed")
"""Token shapes by index; 0 ("none") is the BOS token and padding."""


def token_shape(piece: str) -> int:
    """The :data:`SHAPES` index of a token's characters: cased letters by case (a capital followed
    by lower case is ``title``, a lone capital too), else digits, else ``other`` (punctuation, and
    letters without case such as CJK)."""
    if piece.islower():
        return 3
    if piece.isupper():
        return 4 if sum(c.isalpha() for c in piece) == 1 and piece[:1].isalpha() else 5
    if piece[:1].isupper() and piece[1:].islower():
        return 4
    if any(c.lower() != c.upper() for c in piece):  # upper and lower case letters
        return 6
    return 2 if any(c.isdigit() for c in piece) else 1


def encode(tokenizer, text: str) -> Encoding:
    """Tokenize without special tokens; offsets exclude the whitespace a token carries. Characters
    that are not text are read as a space or U+FFFD (:func:`readable`); offsets index ``text``.

    ``tokenizer`` is a Hugging Face tokenizer (``transformers``) or a ``tokenizers.Tokenizer`` (the
    same ``tokenizer.json``, what the ONNX engine loads without transformers): same ids and offsets.
    """
    text = readable(text)
    if hasattr(tokenizer, "encode_batch"):  # tokenizers.Tokenizer
        enc = tokenizer.encode(text, add_special_tokens=False)
        raw_ids, offsets = enc.ids, enc.offsets
    else:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        raw_ids, offsets = enc["input_ids"], enc["offset_mapping"]
    ids = np.asarray(raw_ids, dtype=np.int64)
    starts = np.empty(len(ids), dtype=np.int64)
    ends = np.empty(len(ids), dtype=np.int64)
    shapes = np.empty(len(ids), dtype=np.int64)
    for k, (s, e) in enumerate(offsets):
        starts[k], ends[k] = s, e = trim_span(text, s, e)
        shapes[k] = token_shape(text[s:e])
    return Encoding(ids, starts, ends, *word_boundaries(text, starts, ends), shapes)


def word_boundaries(text: str, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which tokens start / end at a word boundary (not between two alphanumeric characters)."""

    def inside_word(pos: int) -> bool:
        return 0 < pos < len(text) and text[pos - 1].isalnum() and text[pos].isalnum()

    non_empty = ends > starts
    # byte-level tokens can split one character: such tokens share its offsets, and a span may
    # neither start after the first of them nor end before the last
    prev_end = np.concatenate([[-1], np.maximum.accumulate(ends)[:-1]]) if len(ends) else ends
    next_start = np.concatenate([starts[1:], [np.iinfo(np.int64).max]]) if len(starts) else starts
    word_start = np.array([not inside_word(int(p)) for p in starts], dtype=bool) & non_empty
    word_end = np.array([not inside_word(int(p)) for p in ends], dtype=bool) & non_empty
    return word_start & (starts >= prev_end), word_end & (ends <= next_start)


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


def collate_shapes(windows: Sequence[Window], encodings: Sequence[Encoding]) -> np.ndarray:
    """The token shapes (:data:`SHAPES`, int64) of a batch of windows, aligned with
    :func:`collate_arrays` (0 at BOS and padding)."""
    seq = max(w.length for w in windows)
    shapes = np.zeros((len(windows), seq), dtype=np.int64)
    for row, w in enumerate(windows):
        shapes[row, 1 : w.length] = encodings[w.doc].shapes[w.start : w.stop]
    return shapes


def token_spans_for(encoding: Encoding, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Map character spans to inclusive token spans (first/last token overlapping the span)."""
    out = []
    for s, e in spans:
        inside = np.nonzero((encoding.ends > s) & (encoding.starts < e))[0]
        if len(inside):
            out.append((int(inside[0]), int(inside[-1])))
    return out
