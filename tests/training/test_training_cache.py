"""tommer.training.training.encode_corpus with a cache folder: the states of the real default backbone
are written once, read back equal, and keyed by the token ids (another text gets another file)."""

from __future__ import annotations

import torch

from tommer.data.mention import AnnotatedText
from tommer.training.training import encode_corpus, token_digest, window_corpus

TEXTS = ["Angela Merkel met Emmanuel Macron in Paris.", "The Eiffel Tower is in Paris, France."]


def test_cached_states_are_read_back_equal_and_keyed_by_tokens(backbone, tmp_path):
    docs = [AnnotatedText(t) for t in TEXTS]
    fresh = encode_corpus(backbone, docs, cache_dir=tmp_path)
    (written,) = tmp_path.glob("hidden-*.pt")
    again = encode_corpus(backbone, docs, cache_dir=tmp_path)
    assert [w.length for w in again.windows] == [w.length for w in fresh.windows]
    assert all(torch.equal(a, b) for a, b in zip(again.hidden, fresh.hidden))
    assert again.gold == fresh.gold and token_digest(again) == token_digest(fresh)
    assert all(len(h) == w.length for h, w in zip(again.hidden, again.windows))

    other = [AnnotatedText(TEXTS[0].replace("Paris", "Lyon")), docs[1]]
    assert token_digest(window_corpus(backbone, other, 512, 64)) != token_digest(fresh)
    encode_corpus(backbone, other, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("hidden-*.pt"))) == 2 and written.exists()
