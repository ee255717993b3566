"""MentionDetector: the core :class:`~tommer.core.detector.ProbeDetector` plus an optional span-type
head (``types.json`` / ``types.safetensors`` next to the probe).

This is the detector ``tommer.load`` returns. Without a head, or with a zero-shot head and no
``labels``, a call is the core detector's (untyped mentions). With ``labels`` (zero-shot head) or a
supervised head, the probe's candidates are labelled by the head (:meth:`MentionDetector.predict_typed`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import torch

from ..core.backbone import Backbone
from ..core.config import DetectorConfig
from ..core.decoding import DEFAULT_DECODING
from ..core.detector import BATCH_SIZE, ProbeDetector, batches, window_spans
from ..core.layout import resolve_model_dir
from ..core.probe import ToMMeRProbe
from ..data.mention import Mention
from ..errors import ConfigError
from .lm_labels import LMLabeler
from .reading import Reading, group_texts, sentence_entries, typed_mentions
from .type_head import TypeHead, check_labels, join_layers, label_states, load_head, save_head

CONTEXTS = ("text", "document")


class MentionDetector(ProbeDetector):
    """A frozen backbone truncated at layer L, a trained ToMMeR probe and an optional type head."""

    def __init__(
        self,
        config: DetectorConfig,
        backbone: Backbone,
        probe: ToMMeRProbe,
        type_head: TypeHead | None = None,
    ) -> None:
        super().__init__(config, backbone, probe)
        self.type_head = type_head  # optional span-type head (types.json / types.safetensors)
        self._label_states: dict[tuple[str, int | None, str], torch.Tensor] = {}
        self._lm_labeler: LMLabeler | None = None

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, backbone: Backbone | None = None, engine: str | None = None
    ):
        """Load a detector saved with :meth:`save_pretrained` (or a packaged model name), with its
        type head when the directory has one (``engine``: see ``ProbeDetector.from_pretrained``)."""
        detector = super().from_pretrained(path, backbone, engine)
        detector.type_head = load_head(resolve_model_dir(path))
        return detector

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Write ``config.json``, ``model.safetensors``, a ``README.md`` model card and the type head."""
        directory = super().save_pretrained(path)
        if self.type_head is not None:
            save_head(self.type_head, directory)
        return directory

    def load_head_layers(self) -> None:
        """Load the layers the type head reads, if deeper than the probe's."""
        self.load_layers(max(self.type_head.config.read_layers(self.config.layer)))

    # -- calls --------------------------------------------------------------------------
    def __call__(
        self,
        texts: str | Sequence[str],
        threshold: float | None = None,
        decoding: str = DEFAULT_DECODING,
        batch_size: int = BATCH_SIZE,
        output: str = "mentions",
        labels: Sequence[str] | None = None,
        label_threshold: float | None = None,
        lm_labels: bool = False,
        context: str = "text",
    ) -> list[Mention] | list[list[Mention]] | list[dict] | list[list[dict]]:
        """Mentions of one text (a list), or of each text in a list (a list of lists).

        ``threshold`` defaults to the model's own (``config.threshold``, chosen on dev data
        for the shipped model; 0.5 for a newly trained one). ``output``: ``mentions``
        (:class:`Mention` objects), ``dicts`` (``Mention.to_dict()``) or ``pipeline`` (Hugging
        Face ``token-classification`` dicts, see :mod:`tommer.core.outputs`).

        Typed mentions (``label``, ``label_score``; non-overlapping, see :meth:`predict_typed`)
        come back when ``labels`` is given (zero-shot head) or the model has a supervised head.
        ``lm_labels``: the zero-shot head's mentions are relabelled by the whole backbone
        (:mod:`tommer.typed.lm_labels`): better types for label names unlike its training types, slower.
        ``context="document"``: the texts are consecutive sentences of one document, read in the
        head's sentence groups (typed calls only; see :meth:`predict_typed`).
        """
        typed = labels is not None or (self.type_head is not None and not self.type_head.zero_shot)
        if not typed:
            if context != "text":
                raise ConfigError(f"context={context!r} applies to typed calls (a type head) only")
            return super().__call__(texts, threshold, decoding, batch_size, output)
        batch, single = self.check_call(texts, threshold, decoding, batch_size, output)
        result = self.predict_typed(batch, labels, threshold, label_threshold, batch_size, lm_labels, context)
        return self.format_output(result, output, single)

    @torch.inference_mode()
    def label_vectors(self, labels: Sequence[str]) -> torch.Tensor:
        """The zero-shot head's vectors for label names (prompt states cached per name, prompt and
        layer, so a swapped head never reads another head's states)."""
        reading = self.type_head.config.reading
        keys = [(reading.prompt, reading.layer, lab) for lab in labels]
        missing = [key for key in keys if key not in self._label_states]
        if missing:
            self.load_head_layers()
            names = [lab for _, _, lab in missing]
            self._label_states.update(
                zip(missing, label_states(self.backbone, names, reading.prompt, layer=reading.layer))
            )
        return self.type_head.encode_labels(torch.stack([self._label_states[key] for key in keys]))

    @torch.inference_mode()
    def predict_typed(
        self,
        texts: Sequence[str],
        labels: Sequence[str] | None = None,
        threshold: float | None = None,
        label_threshold: float | None = None,
        batch_size: int = BATCH_SIZE,
        lm_labels: bool = False,
        context: str = "text",
    ) -> list[list[Mention]]:
        """Typed mentions per text: probe candidates (probability >= ``threshold``, default the
        head's ``candidate_threshold``) labelled by the type head, then the non-overlapping set
        chosen greedily by label score. A zero-shot head scores ``labels``; a supervised head
        uses its own label set.

        ``context``: ``text`` reads each text alone; ``document`` reads the texts as consecutive
        sentences of one document, in the head's sentence groups (``join_sentences``, shifted by
        ``group_stride``, a span's readings averaged), as the head was trained. Mentions stay per
        text, with offsets in that text. ``lm_labels`` (zero-shot only): each chosen mention is
        then relabelled by the whole backbone (:meth:`relabel`)."""
        head = self.type_head
        if head is None:
            raise ConfigError("this model has no type head (train one with `tommer train-types`)")
        shape, reading, operating = head.config.architecture, head.config.reading, head.config.operating
        if head.zero_shot and labels is None:
            raise ConfigError("this model's type head is zero-shot: give the label names, labels=[...]")
        if not head.zero_shot and labels is not None:
            raise ConfigError(
                f"this model's type head is supervised (labels {', '.join(shape.labels)}); "
                "labels=[...] needs a zero-shot head"
            )
        if lm_labels and not head.zero_shot:
            raise ConfigError(
                "lm_labels relabels a zero-shot head's mentions: this model's head is supervised"
            )
        if context not in CONTEXTS:
            raise ConfigError(f"context must be one of {', '.join(CONTEXTS)}, not {context!r}")
        names = check_labels(labels) if head.zero_shot else list(shape.labels)
        threshold = operating.candidate_threshold if threshold is None else threshold
        label_threshold = operating.label_threshold if label_threshold is None else label_threshold
        if not 0.0 <= label_threshold <= 1.0:
            raise ConfigError(f"label_threshold must be in [0, 1], not {label_threshold}")
        self.load_head_layers()
        join, stride = (reading.join_sentences, reading.group_stride) if context == "document" else (1, 0)
        groups, placement = group_texts(texts, join, stride, reading.text_prefix)
        vectors = [self.label_vectors(names)] * len(groups) if head.zero_shot else None
        readings = self.readings(groups, threshold, batch_size)
        entries = sentence_entries(
            head, readings, placement, [len(t) for t in texts], len(reading.text_prefix), vectors
        )
        found = typed_mentions(head, entries, [names] * len(texts), threshold, label_threshold)
        out = [
            [Mention(a, b, text[a:b], round(p, 6), label, round(score, 6)) for a, b, p, label, score in spans]
            for text, spans in zip(texts, found)
        ]
        return self.relabel(texts, out, names) if lm_labels else out

    def readings(self, texts: Sequence[str], threshold: float, batch_size: int) -> Iterator[Reading]:
        """Each window of ``texts`` as the type head reads it (one live backbone pass per batch):
        its states and the probe's candidates at ``threshold``."""
        reading = self.type_head.config.reading
        encodings, windows = self.preprocess(texts)
        for batch in batches(windows, batch_size):
            hidden, parts, mask = self.window_states(
                batch, encodings, reading.echo, reading.read_layers(self.config.layer)
            )
            head_states = join_layers(parts)
            probs = self.probe_probs(hidden, mask, self.batch_shapes(batch, encodings))
            for row, w in enumerate(batch):
                enc = encodings[w.doc]
                cands = window_spans(w, enc, probs[row], threshold)
                yield Reading(w.doc, w.start, enc, head_states[row, : w.length], cands)

    def relabel(
        self, texts: Sequence[str], mentions: Sequence[list[Mention]], labels: Sequence[str]
    ) -> list[list[Mention]]:
        """The same mentions, each relabelled by the whole backbone (``lm_labels``,
        :class:`~tommer.typed.lm_labels.LMLabeler`): spans and probe scores stay."""
        labeler = self.lm_labeler()
        out = []
        for text, found in zip(texts, mentions):
            hits = labeler.label(text, [(m.start, m.end) for m in found], list(labels))
            out.append(
                [replace(m, label=lab, label_score=round(share, 6)) for m, (lab, share) in zip(found, hits)]
            )
        return out

    def lm_labeler(self) -> LMLabeler:
        """The whole backbone as a :class:`~tommer.typed.lm_labels.LMLabeler` (loaded on first use)."""
        if self._lm_labeler is None:
            self._lm_labeler = LMLabeler(self.config.backbone)
        return self._lm_labeler


__all__ = ["MentionDetector"]
