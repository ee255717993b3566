"""A spaCy pipeline component: ``nlp.add_pipe("tommer")`` writes mentions to ``doc.spans``.

Registered through the ``spacy_factories`` entry point, so no ``import tommer`` is needed::

    nlp = spacy.blank("en")
    nlp.add_pipe("tommer", config={"threshold": 0.5, "decoding": "nested"})
    doc = nlp("Angela Merkel met Emmanuel Macron in Paris.")
    doc.spans["mentions"]                   # SpanGroup of the mentions, label "MENTION" (or the type)
    doc.spans["mentions"].attrs["scores"]   # one probability per span, in the same order

Alignment: tommer's mentions follow the language model's tokens, spaCy's spans follow spaCy's
tokens. Each mention becomes ``doc.char_span(start, end, alignment_mode=...)``; the default
``expand`` widens a mention that starts or ends inside a spaCy token to whole tokens, and the
exact character offsets stay in ``attrs["char_offsets"]``. A mention that cannot be aligned (possible
with ``contract`` or ``strict``) is never dropped silently: it goes to ``attrs["unaligned"]`` (as
``Mention.to_dict()``) and a :class:`UnalignedMentionWarning` is issued.
"""

# no `from __future__ import annotations`: spaCy validates the factory's config from the
# evaluated type hints of ``make_tommer``. The detector (and so torch) is imported only when a
# component is built (:func:`pretrained_detector`): spaCy imports this module for every
# ``spacy.blank()`` through the entry point.

import json
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from spacy.language import Language
from spacy.tokens import Doc, SpanGroup
from spacy.util import minibatch

from ..core.decoding import DEFAULT_DECODING, check_options
from ..core.layout import CONFIG_NAME, DEFAULT_MODEL, probe_weights, resolve_model_dir
from ..core.outputs import DEFAULT_LABEL
from ..data.mention import Mention
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..core.backbone import Backbone
    from ..typed.detector import MentionDetector

ALIGNMENT_MODES = ("expand", "contract", "strict")
MODEL_DIR = "model"  # where to_disk keeps a copy of the probe (config, weights, card; no backbone)
CONFIG_FILE = "cfg.json"

_DETECTORS: "dict[tuple[str, int], MentionDetector]" = {}


class UnalignedMentionWarning(UserWarning):
    """A mention has no spaCy span under the chosen alignment mode (kept in ``attrs["unaligned"]``)."""


def pretrained_detector(directory: Path, backbone: "Backbone | None" = None) -> "MentionDetector":
    """``MentionDetector.from_pretrained``, imported on first use: the detector imports torch, and
    spaCy imports this module for every ``spacy.blank()``."""
    from ..typed.detector import MentionDetector

    return MentionDetector.from_pretrained(directory, backbone)


def load_detector(model: str) -> "MentionDetector":
    """Load a detector once per process (keyed by its directory and weights' mtime) and share it."""
    directory = resolve_model_dir(model).resolve()
    key = (str(directory), probe_weights(directory).stat().st_mtime_ns)
    if key not in _DETECTORS:
        _DETECTORS[key] = pretrained_detector(directory)
    return _DETECTORS[key]


class TommerComponent:
    """Detects mentions with a :class:`MentionDetector` and stores them as a ``SpanGroup``."""

    def __init__(
        self,
        nlp: Language | None,
        name: str = "tommer",
        *,
        model: str = DEFAULT_MODEL,
        threshold: float | None = None,
        decoding: str = DEFAULT_DECODING,
        batch_size: int = 32,  # core.detector.BATCH_SIZE (not imported: spaCy's entry point stays light)
        spans_key: str = "mentions",
        label: str = DEFAULT_LABEL,
        alignment_mode: str = "expand",
        labels: Sequence[str] | None = None,
        detector: "MentionDetector | None" = None,
    ) -> None:
        for option, value in (("spans_key", spans_key), ("label", label), ("model", model)):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"tommer component: {option} must be a non-empty string, not {value!r}")
        if alignment_mode not in ALIGNMENT_MODES:
            raise ConfigError(
                f"tommer component: alignment_mode must be one of {', '.join(ALIGNMENT_MODES)}, "
                f"not {alignment_mode!r}"
            )
        check_options(0.5 if threshold is None else threshold, decoding, batch_size)
        if labels is not None and (isinstance(labels, str) or not all(isinstance(x, str) for x in labels)):
            raise ConfigError(f"tommer component: labels must be a list of strings, not {labels!r}")
        self.name = name
        self.model = model
        self.threshold = threshold
        self.decoding = decoding
        self.batch_size = batch_size
        self.spans_key = spans_key
        self.label = label
        self.alignment_mode = alignment_mode
        self.type_labels = None if labels is None else list(labels)
        self.detector = detector if detector is not None else load_detector(model)

    @property
    def cfg(self) -> dict:
        """The component's settings (what ``to_disk`` / ``to_bytes`` store)."""
        return {
            "model": self.model,
            "threshold": self.threshold,
            "decoding": self.decoding,
            "batch_size": self.batch_size,
            "spans_key": self.spans_key,
            "label": self.label,
            "alignment_mode": self.alignment_mode,
            "labels": self.type_labels,
        }

    @property
    def labels(self) -> tuple[str, ...]:
        """The span labels this component can assign (spaCy's convention for ``pipe.labels``)."""
        head = getattr(self.detector, "type_head", None)
        names = self.type_labels
        if names is None and head is not None and not head.zero_shot:
            names = list(head.config.labels)
        return tuple(dict.fromkeys([*(names or []), self.label]))

    # -- processing ---------------------------------------------------------------------
    def __call__(self, doc: Doc) -> Doc:
        self._annotate([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Process docs in groups of ``batch_size`` (from ``nlp.pipe``): one detector call per group.

        The detector then cuts every text of the group into windows and runs them through the
        language model ``self.batch_size`` windows at a time, length-bucketed.
        """
        for docs in minibatch(stream, size=max(1, batch_size)):
            self._annotate(docs)
            yield from docs

    def _annotate(self, docs: Sequence[Doc]) -> None:
        options = {"threshold": self.threshold, "decoding": self.decoding, "batch_size": self.batch_size}
        if self.type_labels is not None:  # label names for a model with a zero-shot type head
            options["labels"] = self.type_labels
        results = self.detector([doc.text for doc in docs], **options)
        for doc, mentions in zip(docs, results):
            self.set_mentions(doc, mentions)

    def set_mentions(self, doc: Doc, mentions: Sequence[Mention]) -> SpanGroup:
        """Write ``mentions`` to ``doc.spans[self.spans_key]`` (replacing what was there)."""
        spans, scores, offsets, label_scores, unaligned = [], [], [], [], []
        for m in mentions:
            label = m.label if m.label is not None else self.label
            span = doc.char_span(m.start, m.end, label=label, alignment_mode=self.alignment_mode)
            if span is None:
                unaligned.append(m.to_dict())
                continue
            spans.append(span)
            scores.append(m.score)
            offsets.append([m.start, m.end])
            label_scores.append(m.label_score)
        attrs = {"scores": scores, "char_offsets": offsets, "unaligned": unaligned}
        if any(s is not None for s in label_scores):
            attrs["label_scores"] = label_scores
        group = SpanGroup(doc, name=self.spans_key, attrs=attrs, spans=spans)
        doc.spans[self.spans_key] = group
        if unaligned:
            warnings.warn(
                f"tommer: {len(unaligned)} mention(s) do not align to spaCy tokens with "
                f"alignment_mode='{self.alignment_mode}' (e.g. {unaligned[0]['text']!r}); "
                f"they are kept in doc.spans[{self.spans_key!r}].attrs['unaligned']",
                UnalignedMentionWarning,
                stacklevel=2,
            )
        return group

    # -- serialization ------------------------------------------------------------------
    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Write the settings (``cfg.json``) and a copy of the probe (``model/``)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG_FILE).write_text(json.dumps(self.cfg, indent=2) + "\n")
        self.detector.save_pretrained(path / MODEL_DIR)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "TommerComponent":
        """Use the probe saved by :meth:`to_disk` (on the engine a load by name picks; an ONNX export of
        the same probe is shared, as its cache key is the probe's weights)."""
        directory = Path(path) / MODEL_DIR
        if (directory / CONFIG_NAME).is_file():
            try:
                saved = json.loads((directory / CONFIG_NAME).read_text())
                saved["backbone"], saved["layer"]
            except (KeyError, TypeError, ValueError) as err:
                raise ConfigError(f"{directory / CONFIG_NAME} is not a tommer config: {err}") from None
            self.detector = load_detector(str(directory))  # same engine as a load by name
        return self

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        """The settings only; the model is reloaded by name or path."""
        return json.dumps(self.cfg).encode("utf-8")

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> "TommerComponent":
        try:
            json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise ConfigError(f"tommer component: bytes are not its saved settings: {err}") from None
        return self


@Language.factory(
    "tommer",
    default_config={
        "model": DEFAULT_MODEL,
        "threshold": None,
        "decoding": DEFAULT_DECODING,
        "batch_size": 8,
        "spans_key": "mentions",
        "label": DEFAULT_LABEL,
        "alignment_mode": "expand",
        "labels": None,
    },
    assigns=["doc.spans"],
)
def make_tommer(
    nlp: Language,
    name: str,
    model: str,
    threshold: float | None,
    decoding: str,
    batch_size: int,
    spans_key: str,
    label: str,
    alignment_mode: str,
    labels: list[str] | None,
) -> TommerComponent:
    """The ``tommer`` factory: ``model`` is a shipped model's name or a saved directory;
    ``threshold`` (null: the model's own), ``decoding`` and ``batch_size`` (windows per language
    model call) are the detector's options; ``labels``: type names for a model with a zero-shot
    type head. Mentions go to ``doc.spans[spans_key]``, labelled with their type when the model
    has a type head, else ``label``."""
    return TommerComponent(
        nlp,
        name,
        model=model,
        threshold=threshold,
        decoding=decoding,
        batch_size=batch_size,
        spans_key=spans_key,
        label=label,
        alignment_mode=alignment_mode,
        labels=labels,
    )


__all__ = ["TommerComponent", "UnalignedMentionWarning", "load_detector", "make_tommer"]
