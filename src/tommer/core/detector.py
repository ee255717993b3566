"""MentionDetector: text → tokens → layer-L hidden states → span scores → mentions.

The pipeline is three small steps, each replaceable:
``preprocess`` (tokenize, cut windows), ``forward`` (backbone + probe on a batch of windows)
and ``postprocess`` (gather candidate spans per text, decode, map to character offsets).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..data.mention import Mention
from ..errors import ConfigError, ModelNotFoundError
from ..typed.type_head import (
    TypeHead,
    check_labels,
    decode_typed,
    join_layers,
    label_candidates,
    label_states,
    load_head,
    save_head,
)
from .backbone import DEFAULT_BACKBONE, Backbone
from .decoding import DEFAULT_DECODING, Span, candidates, get_decoder
from .echo import collate_echo, split_echo
from .layout import CARD_NAME, CONFIG_NAME, DEFAULT_MODEL, PRETRAINED_DIR, WEIGHTS_NAME
from .outputs import format_mentions
from .probe import ProbeConfig, ToMMeRProbe
from .windows import Encoding, Window, encode, make_windows


@dataclass
class DetectorConfig:
    """Everything needed to rebuild a detector: backbone, layer, probe and windowing."""

    backbone: str
    layer: int
    probe: ProbeConfig
    max_tokens: int = 512
    context: int = 64
    threshold: float = 0.5  # the model's default operating threshold
    margin: float = 0.0  # greedy decoders: a longer overlapping span wins within this many logits
    echo: bool = False  # the probe reads echo input's second copy (tommer.core.echo): 2x the tokens
    info: dict = field(default_factory=dict)  # training data, seed, metrics (model card)

    def to_dict(self) -> dict:
        return {
            "backbone": self.backbone,
            "layer": self.layer,
            "probe": self.probe.to_dict(),
            "max_tokens": self.max_tokens,
            "context": self.context,
            "threshold": self.threshold,
            "margin": self.margin,
            **({"echo": True} if self.echo else {}),
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: dict) -> DetectorConfig:
        return cls(
            backbone=data["backbone"],
            layer=int(data["layer"]),
            probe=ProbeConfig.from_dict(data["probe"]),
            max_tokens=int(data.get("max_tokens", 512)),
            context=int(data.get("context", 64)),
            threshold=float(data.get("threshold", 0.5)),
            margin=float(data.get("margin", 0.0)),
            echo=bool(data.get("echo", False)),
            info=data.get("info", {}),
        )


def batches(windows: Sequence[Window], batch_size: int) -> Iterable[list[Window]]:
    """Length-bucketed batches: windows sorted by length so padding stays minimal."""
    ordered = sorted(windows, key=lambda w: w.length)
    for k in range(0, len(ordered), batch_size):
        yield ordered[k : k + batch_size]


def collate(
    windows: Sequence[Window], encodings: Sequence[Encoding], bos_id: int, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded input ids (BOS first) and attention mask for a batch of windows."""
    seq = max(w.length for w in windows)
    ids = torch.full((len(windows), seq), pad_id, dtype=torch.long)
    mask = torch.zeros((len(windows), seq), dtype=torch.long)
    for row, w in enumerate(windows):
        ids[row, 0] = bos_id
        ids[row, 1 : w.length] = torch.from_numpy(encodings[w.doc].ids[w.start : w.stop])
        mask[row, : w.length] = 1
    return ids, mask


def window_spans(window: Window, encoding: Encoding, probs: np.ndarray, threshold: float) -> list[Span]:
    """Candidate spans of one window in document token indices.

    Only span ends the window owns are kept, and only spans that start and end on word
    boundaries (never inside a word).
    """
    offset = window.start - 1  # row/column 0 is the BOS token
    out = []
    for s, e, p in candidates(probs[: window.length, : window.length], threshold):
        s, e = s + offset, e + offset
        if window.own_from <= e < window.own_to and encoding.word_start[s] and encoding.word_end[e]:
            out.append((s, e, p))
    return out


def spans_to_mentions(text: str, encoding: Encoding, spans: Iterable[Span]) -> list[Mention]:
    """Token spans → character-offset mentions; ``text[start:end] == mention.text``."""
    out = []
    for s, e, p in spans:
        start, end = int(encoding.starts[s]), int(encoding.ends[e])
        if end > start:
            out.append(Mention(start, end, text[start:end], round(float(p), 6)))
    return out


class MentionDetector:
    """A frozen backbone truncated at layer L plus a trained ToMMeR probe."""

    def __init__(
        self,
        config: DetectorConfig,
        backbone: Backbone,
        probe: ToMMeRProbe,
        type_head: TypeHead | None = None,
    ) -> None:
        self.config = config
        self.backbone = backbone
        self.probe = probe.eval()
        self.type_head = type_head  # optional span-type head (types.json / types.safetensors)
        self._label_states: dict[tuple[str, int | None, str], torch.Tensor] = {}
        self._lm_labeler = None

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, backbone: Backbone | None = None):
        """Load a detector saved with :meth:`save_pretrained` (or a packaged model name)."""
        directory = resolve_model_dir(path)
        try:
            config = DetectorConfig.from_dict(json.loads((directory / CONFIG_NAME).read_text()))
        except (KeyError, ValueError) as err:
            raise ModelNotFoundError(f"{directory / CONFIG_NAME} is not a tommer config: {err}") from None
        probe = ToMMeRProbe(config.probe)
        probe.load_state_dict(load_file(str(directory / WEIGHTS_NAME)))
        if backbone is None:  # a type head's deeper layers are loaded on its first call
            backbone = Backbone.load(config.backbone, config.layer)
        return cls(config, backbone, probe, type_head=load_head(directory))

    def load_layers(self, depth: int) -> None:
        """Make the backbone hold its first ``depth`` layers (reloaded once if it holds fewer);
        untyped detection keeps running only the probe's layers."""
        if self.backbone.depth < depth:
            self.backbone = Backbone.load(
                self.config.backbone, self.config.layer, dtype=self.backbone.dtype, depth=depth
            )

    def load_head_layers(self) -> None:
        """Load the layers the type head reads, if deeper than the probe's."""
        self.load_layers(max(self.type_head.config.read_layers(self.config.layer)))

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Write ``config.json``, ``model.safetensors`` and a ``README.md`` model card."""
        from .modelcard import render_card

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        state = {k: v.detach().contiguous() for k, v in self.probe.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_NAME))
        (directory / CARD_NAME).write_text(render_card(self.config, self.probe.num_parameters()))
        if self.type_head is not None:
            save_head(self.type_head, directory)
        return directory

    # -- pipeline -----------------------------------------------------------------------
    def preprocess(self, texts: Sequence[str]) -> tuple[list[Encoding], list[Window]]:
        """Tokenize texts and cut them into overlapping windows."""
        encodings = [encode(self.backbone.tokenizer, t) for t in texts]
        windows: list[Window] = []
        for doc, enc in enumerate(encodings):
            if len(enc):
                windows += make_windows(doc, len(enc), self.config.max_tokens, self.config.context)
        return encodings, windows

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        """Span probabilities (B, T_end, T_start) for a padded batch (plain input, not echo)."""
        hidden = self.backbone.hidden_states(ids, mask)
        return self.probe_probs(hidden, mask)

    @torch.inference_mode()
    def window_states(
        self,
        batch: Sequence[Window],
        encodings: Sequence[Encoding],
        head_echo: bool = False,
        head_layers: Sequence[int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(probe states, type-head states, mask) of a batch of windows, in one backbone pass.

        Echo input is fed when the probe (``config.echo``) or the head (``head_echo``) reads it;
        the head reads ``head_layers`` (default: the probe's layer), several joined by
        :func:`~tommer.typed.type_head.join_layers`.
        """
        bos, pad = self.backbone.bos_id, self.backbone.pad_id
        layer = self.config.layer
        head_layers = list(head_layers or [layer])
        echo = self.config.echo or head_echo
        ids, mask = (collate_echo if echo else collate)(batch, encodings, bos, pad)
        if head_layers == [layer]:
            probe_states = self.backbone.hidden_states(ids, mask, layer)
            parts = [probe_states]
        else:
            probe_states, *parts = self.backbone.hidden_states_at(ids, mask, [layer, *head_layers])
        if echo:
            same = parts[0] is probe_states  # the head reads the probe's layer: split it once
            plain, echoed, mask = split_echo(probe_states, batch)
            probe_states = echoed if self.config.echo else plain
            pick = 1 if head_echo else 0
            parts = [(plain, echoed)[pick]] if same else [split_echo(x, batch)[pick] for x in parts]
        return probe_states, join_layers(parts), mask

    @torch.inference_mode()
    def probe_probs(self, hidden: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        return self.probe.probabilities(hidden, mask)

    def postprocess(
        self,
        texts: Sequence[str],
        encodings: Sequence[Encoding],
        spans_per_doc: Sequence[list[Span]],
        decoding: str,
    ) -> list[list[Mention]]:
        decoder = get_decoder(decoding)
        return [
            spans_to_mentions(text, enc, decoder(spans, self.config.margin))
            for text, enc, spans in zip(texts, encodings, spans_per_doc)
        ]

    def predict_spans(
        self, texts: Sequence[str], threshold: float | None = None, batch_size: int = 8
    ) -> tuple[list[Encoding], list[list[Span]]]:
        """Candidate token spans (start, end, probability) above ``threshold`` per text."""
        threshold = self.config.threshold if threshold is None else threshold
        encodings, windows = self.preprocess(texts)
        spans: list[list[Span]] = [[] for _ in texts]
        for batch in batches(windows, batch_size):
            hidden, _, mask = self.window_states(batch, encodings)
            probs = self.probe_probs(hidden, mask)
            for row, w in enumerate(batch):
                spans[w.doc] += window_spans(w, encodings[w.doc], probs[row], threshold)
        return encodings, spans

    def __call__(
        self,
        texts: str | Sequence[str],
        threshold: float | None = None,
        decoding: str = DEFAULT_DECODING,
        batch_size: int = 8,
        output: str = "mentions",
        labels: Sequence[str] | None = None,
        label_threshold: float | None = None,
        lm_labels: bool = False,
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
        """
        typed = labels is not None or (self.type_head is not None and not self.type_head.zero_shot)
        candidate_threshold = threshold
        threshold = self.config.threshold if threshold is None else threshold
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        for k, t in enumerate(batch):
            if not isinstance(t, str):
                raise ConfigError(f"text #{k} is a {type(t).__name__}, not a str")
        check_options(threshold, decoding, batch_size)
        format_mentions([], output)  # reject an unknown output format before any work
        if typed:
            result = self.predict_typed(
                batch, labels, candidate_threshold, label_threshold, batch_size, lm_labels=lm_labels
            )
        else:
            encodings, spans = self.predict_spans(batch, threshold, batch_size)
            result = self.postprocess(batch, encodings, spans, decoding)
        if output != "mentions":
            result = [format_mentions(r, output) for r in result]
        return result[0] if single else result

    @torch.inference_mode()
    def label_vectors(self, labels: Sequence[str]) -> torch.Tensor:
        """The zero-shot head's vectors for label names (prompt states cached per name, prompt and
        layer, so a swapped head never reads another head's states)."""
        config = self.type_head.config
        keys = [(config.prompt, config.layer, lab) for lab in labels]
        missing = [key for key in keys if key not in self._label_states]
        if missing:
            self.load_head_layers()
            names = [lab for _, _, lab in missing]
            self._label_states.update(
                zip(missing, label_states(self.backbone, names, config.prompt, layer=config.layer))
            )
        return self.type_head.encode_labels(torch.stack([self._label_states[key] for key in keys]))

    @torch.inference_mode()
    def predict_typed(
        self,
        texts: Sequence[str],
        labels: Sequence[str] | None = None,
        threshold: float | None = None,
        label_threshold: float | None = None,
        batch_size: int = 8,
        lm_labels: bool = False,
    ) -> list[list[Mention]]:
        """Typed mentions per text: probe candidates (probability >= ``threshold``, default the
        head's ``candidate_threshold``) labelled by the type head, then the non-overlapping set
        chosen greedily by label score. A zero-shot head scores ``labels``; a supervised head
        uses its own label set. ``lm_labels`` (zero-shot only): each chosen mention is then
        relabelled by the whole backbone (:class:`~tommer.typed.lm_labels.LMLabeler`)."""
        head = self.type_head
        if head is None:
            raise ConfigError("this model has no type head (train one with `tommer train-types`)")
        if head.zero_shot and labels is None:
            raise ConfigError("this model's type head is zero-shot: give the label names, labels=[...]")
        if not head.zero_shot and labels is not None:
            raise ConfigError(
                f"this model's type head is supervised (labels {', '.join(head.config.labels)}); "
                "labels=[...] needs a zero-shot head"
            )
        if lm_labels and not head.zero_shot:
            raise ConfigError(
                "lm_labels relabels a zero-shot head's mentions: this model's head is supervised"
            )
        names = check_labels(labels) if head.zero_shot else head.config.labels
        threshold = head.config.candidate_threshold if threshold is None else threshold
        label_threshold = head.config.label_threshold if label_threshold is None else label_threshold
        if not 0.0 <= label_threshold <= 1.0:
            raise ConfigError(f"label_threshold must be in [0, 1], not {label_threshold}")
        self.load_head_layers()
        vectors = self.label_vectors(names) if head.zero_shot else None
        prefix = head.config.text_prefix  # whitespace: no token of it can start or end a span
        texts = [prefix + t for t in texts]
        encodings, windows = self.preprocess(texts)
        found: list[list] = [[] for _ in texts]
        for batch in batches(windows, batch_size):
            hidden, head_states, mask = self.window_states(
                batch, encodings, head.config.echo, head.config.read_layers(self.config.layer)
            )
            probs = self.probe_probs(hidden, mask)
            for row, w in enumerate(batch):
                cands = window_spans(w, encodings[w.doc], probs[row], threshold)
                found[w.doc] += label_candidates(
                    head, head_states[row, : w.length], cands, w.start - 1, names, vectors, label_threshold
                )
        out = []
        for text, enc, spans in zip(texts, encodings, found):
            chosen = decode_typed(spans)
            mentions = spans_to_mentions(text, enc, [(s, e, p) for s, e, p, _, _ in chosen])
            n = len(prefix)
            out.append(
                [
                    replace(m, start=m.start - n, end=m.end - n, label=sp[3], label_score=round(sp[4], 6))
                    for m, sp in zip(mentions, chosen)
                ]
            )
        if lm_labels:
            labeler = self.lm_labeler()
            for text, mentions in zip(texts, out):
                found = labeler.label(text[len(prefix) :], [(m.start, m.end) for m in mentions], names)
                mentions[:] = [
                    replace(m, label=lab, label_score=round(share, 6))
                    for m, (lab, share) in zip(mentions, found)
                ]
        return out

    def lm_labeler(self):
        """The whole backbone as a :class:`~tommer.typed.lm_labels.LMLabeler` (loaded on first use)."""
        if self._lm_labeler is None:
            from ..typed.lm_labels import LMLabeler

            self._lm_labeler = LMLabeler(self.config.backbone)
        return self._lm_labeler


def check_options(threshold: float, decoding: str, batch_size: int = 1) -> None:
    """Reject a threshold outside [0, 1), an unknown decoder or a batch size below 1."""
    if not 0.0 <= threshold < 1.0:
        raise ConfigError(f"threshold must be in [0, 1), not {threshold}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, not {batch_size}")
    get_decoder(decoding)


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A detector directory, or the name of a model shipped inside the package."""
    directory = Path(path).expanduser()
    if not directory.exists() and (PRETRAINED_DIR / str(path)).is_dir():
        directory = PRETRAINED_DIR / str(path)
    if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
        shipped = sorted(p.name for p in PRETRAINED_DIR.glob("*") if p.is_dir())
        raise ModelNotFoundError(
            f"no tommer model at '{path}' (expected {CONFIG_NAME} and {WEIGHTS_NAME} there; "
            f"shipped models: {', '.join(shipped) or 'none'})"
        )
    return directory


def load(name_or_path: str | os.PathLike = DEFAULT_MODEL) -> MentionDetector:
    """Load a detector: the shipped default, a shipped model's name, or a saved directory."""
    return MentionDetector.from_pretrained(name_or_path)


__all__ = ["DEFAULT_BACKBONE", "DetectorConfig", "MentionDetector", "load"]
