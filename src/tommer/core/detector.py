"""ProbeDetector: text → tokens → layer-L hidden states → span scores → mentions.

The pipeline is three small steps, each replaceable:
``preprocess`` (tokenize, cut windows), ``forward`` (backbone + probe on a batch of windows)
and ``postprocess`` (gather candidate spans per text, decode, map to character offsets).
Mentions come back untyped; :class:`tommer.typed.detector.MentionDetector` (what ``tommer.load``
returns) adds the optional type head on top of this class.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..data.mention import Mention
from ..errors import ConfigError, ModelNotFoundError
from .backbone import Backbone
from .config import DetectorConfig
from .decoding import DEFAULT_DECODING, Span, candidates, check_options, get_decoder
from .echo import collate_echo, split_echo
from .layout import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, resolve_model_dir
from .modelcard import render_card
from .outputs import format_mentions
from .probe import ToMMeRProbe
from .windows import Encoding, Window, encode, make_windows


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


class ProbeDetector:
    """A frozen backbone truncated at layer L plus a trained ToMMeR probe (untyped mentions)."""

    def __init__(self, config: DetectorConfig, backbone: Backbone, probe: ToMMeRProbe) -> None:
        self.config = config
        self.backbone = backbone
        self.probe = probe.eval()

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
        return cls(config, backbone, probe)

    def load_layers(self, depth: int) -> None:
        """Make the backbone hold its first ``depth`` layers (reloaded once if it holds fewer);
        untyped detection keeps running only the probe's layers."""
        if self.backbone.depth < depth:
            self.backbone = Backbone.load(
                self.config.backbone, self.config.layer, dtype=self.backbone.dtype, depth=depth
            )

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Write ``config.json``, ``model.safetensors`` and a ``README.md`` model card."""
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        state = {k: v.detach().contiguous() for k, v in self.probe.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_NAME))
        (directory / CARD_NAME).write_text(render_card(self.config, self.probe.num_parameters()))
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
    ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """(probe states, the states of each of ``head_layers``, mask) of a batch of windows, in one
        backbone pass.

        ``head_layers`` (default: the probe's layer) are the layers a head on top of the probe reads
        (a type head, :mod:`tommer.typed`); with ``head_echo`` echo input is fed: the probe reads its
        first copy (the plain pass), the head its second.
        """
        bos, pad = self.backbone.bos_id, self.backbone.pad_id
        layer = self.config.layer
        head_layers = list(head_layers or [layer])
        ids, mask = (collate_echo if head_echo else collate)(batch, encodings, bos, pad)
        if head_layers == [layer]:
            probe_states = self.backbone.hidden_states(ids, mask, layer)
            parts = [probe_states]
        else:
            probe_states, *parts = self.backbone.hidden_states_at(ids, mask, [layer, *head_layers])
        if head_echo:
            same = parts[0] is probe_states  # the head reads the probe's layer: split it once
            probe_states, echoed, mask = split_echo(probe_states, batch)
            parts = [echoed] if same else [split_echo(x, batch)[1] for x in parts]
        return probe_states, parts, mask

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
    ) -> list[Mention] | list[list[Mention]] | list[dict] | list[list[dict]]:
        """Mentions of one text (a list), or of each text in a list (a list of lists).

        ``threshold`` defaults to the model's own (``config.threshold``, chosen on dev data
        for the shipped model; 0.5 for a newly trained one). ``output``: ``mentions``
        (:class:`Mention` objects), ``dicts`` (``Mention.to_dict()``) or ``pipeline`` (Hugging
        Face ``token-classification`` dicts, see :mod:`tommer.core.outputs`).
        """
        batch, single = self.check_call(texts, threshold, decoding, batch_size, output)
        encodings, spans = self.predict_spans(batch, threshold, batch_size)
        return self.format_output(self.postprocess(batch, encodings, spans, decoding), output, single)

    def check_call(
        self,
        texts: str | Sequence[str],
        threshold: float | None,
        decoding: str,
        batch_size: int,
        output: str,
    ) -> tuple[list[str], bool]:
        """A call's texts as a list and whether one text (a str) was given, once every text and
        option is checked (before any work)."""
        threshold = self.config.threshold if threshold is None else threshold
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        for k, t in enumerate(batch):
            if not isinstance(t, str):
                raise ConfigError(f"text #{k} is a {type(t).__name__}, not a str")
        check_options(threshold, decoding, batch_size)
        format_mentions([], output)  # reject an unknown output format before any work
        return batch, single

    @staticmethod
    def format_output(result: list[list[Mention]], output: str, single: bool) -> list | list[list]:
        """Each text's mentions in the ``output`` format; one text's list when ``single``."""
        if output != "mentions":
            result = [format_mentions(r, output) for r in result]
        return result[0] if single else result


__all__ = ["ProbeDetector", "batches", "collate", "spans_to_mentions", "window_spans"]
