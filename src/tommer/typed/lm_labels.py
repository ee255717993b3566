"""Label names chosen by the backbone's own words: zero-shot typing with the whole causal LM.

The zero-shot type head compares span vectors with label vectors, and it only knows label names
like those of its training data (the Pile-NER part, 368 types in all; CrossNER's ``writer``,
``politician`` or ``band`` are not among them). :class:`LMLabeler` instead asks the whole backbone
(every layer and its LM head) how likely each label name is after

    <text>
    In the text above, <mention> is a

scoring a label by its tokens' summed log-probability minus the same after the neutral
``In the text above, N/A is a`` (so that frequent words lose their head start); the best label
wins, and ``label_score`` is its softmax share over the given labels. It relabels mentions found
by the detector and its type head: it never adds or drops a span. Cost: one pass of the text and
prompt through every layer per text, then of the mention's part of the prompt per mention, plus
one short batch over the label names.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch

from ..core.backbone import hf_dir, load_causal_lm
from ..errors import ConfigError

PROMPT = "{text}\nIn the text above, {mention} is a"


class LMLabeler:
    """Types mentions among label names by a causal LM's likelihood of each name."""

    def __init__(self, source: str) -> None:
        """``source``: a backbone preset name or a Hugging Face directory of a causal LM."""
        self.tokenizer, model = load_causal_lm(hf_dir(source))
        self.model = model.eval()
        self.source = source
        self._neutral: dict[tuple[str, ...], torch.Tensor] = {}
        self._label_ids: dict[tuple[str, ...], list[list[int]]] = {}

    def prompt_ids(self, text: str, mention: str) -> tuple[list[int], list[int]]:
        """The prompt's token ids in two parts: the text's (shared by its mentions) and the mention's."""
        return self.text_ids(text), self.mention_ids(mention)

    def text_ids(self, text: str) -> list[int]:
        """Token ids of the prompt up to the mention (the part a text's mentions share)."""
        head = PROMPT.split("{mention}")[0]
        shared = head.format(text=text) if text else head.format(text="").lstrip("\n")
        return self.tokenizer(shared.rstrip(" "), add_special_tokens=False).input_ids

    def mention_ids(self, mention: str) -> list[int]:
        """Token ids of the prompt from the mention on."""
        tail = PROMPT.split("{mention}")[1]
        return self.tokenizer(" " + mention + tail, add_special_tokens=False).input_ids

    def label_ids(self, labels: Sequence[str]) -> list[list[int]]:
        """Token ids of each label name after a space (tokenized once per label list)."""
        key = tuple(labels)
        if key not in self._label_ids:
            self._label_ids[key] = [
                self.tokenizer(" " + lab, add_special_tokens=False).input_ids for lab in labels
            ]
        return self._label_ids[key]

    @torch.inference_mode()
    def run(self, ids: list[int], cache=None):
        """One forward pass of the token ids ``ids`` (continuing ``cache`` when given), keeping the cache."""
        return self.model(input_ids=torch.tensor([ids]), cache=cache, use_cache=True)

    @torch.inference_mode()
    def label_log_probs(self, ids: list[int], labels: Sequence[str], cache=None) -> torch.Tensor:
        """``(L,)``: the summed log-probability of each label's tokens (after a space) after the
        token ids ``ids`` (continuing ``cache``, which is consumed, when given)."""
        out = self.run(ids, cache)
        first = out.logits[0, -1].float().log_softmax(-1)
        tails = self.label_ids(labels)
        scores = torch.tensor([float(first[t[0]]) for t in tails])
        width = max(map(len, tails))
        if width == 1:
            return scores
        # the labels' later tokens: one batch reading the prompt's cache, repeated per label
        cache = out.cache
        past = cache.get_seq_length()
        cache.batch_repeat_interleave(len(labels))
        batch = torch.zeros((len(labels), width - 1), dtype=torch.long)
        mask = torch.ones((len(labels), past + width - 1), dtype=torch.long)
        for k, tail in enumerate(tails):
            batch[k, : len(tail) - 1] = torch.tensor(tail[:-1])
            mask[k, past + len(tail) - 1 :] = 0
        logits = self.model(input_ids=batch, attention_mask=mask, cache=cache).logits
        logp = logits.float().log_softmax(-1)
        for k, tail in enumerate(tails):
            scores[k] += sum(float(logp[k, j, tail[j + 1]]) for j in range(len(tail) - 1))
        return scores

    def neutral(self, labels: Sequence[str]) -> torch.Tensor:
        """The labels' log-probabilities after the neutral prompt (mention ``N/A``, no text), cached."""
        key = tuple(labels)
        if key not in self._neutral:
            shared, rest = self.prompt_ids("", "N/A")
            self._neutral[key] = self.label_log_probs(shared + rest, labels)
        return self._neutral[key]

    @torch.inference_mode()
    def label(
        self, text: str, spans: Sequence[tuple[int, int]], labels: Sequence[str]
    ) -> list[tuple[str, float]]:
        """(label, softmax share of its calibrated score) for each character span ``(start, end)`` of
        ``text``. The text's part of the prompt is read once for all its mentions."""
        if not labels:
            raise ConfigError("the LM labeler needs label names")
        for start, end in spans:
            if not 0 <= start < end <= len(text):
                raise ConfigError(f"span ({start}, {end}) is not inside a text of {len(text)} characters")
        if not spans:
            return []
        neutral = self.neutral(labels)
        prefix = self.run(self.text_ids(text)).cache
        out = []
        for start, end in spans:
            rest = self.mention_ids(text[start:end])
            scores = self.label_log_probs(rest, labels, copy.deepcopy(prefix)) - neutral
            share = torch.softmax(scores, dim=0)
            best = int(share.argmax())
            out.append((labels[best], float(share[best])))
        return out
