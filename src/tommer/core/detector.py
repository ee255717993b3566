"""ProbeDetector: text → tokens → layer-L hidden states → span scores → mentions.

The pipeline is three small steps, each replaceable:
``preprocess`` (tokenize, cut windows), ``forward`` (the engine: backbone + probe on a batch of
windows) and ``postprocess`` (gather candidate spans per text, decode, map to character offsets).
Mentions come back untyped; :class:`tommer.typed.detector.MentionDetector` (what ``tommer.load``
returns for a model with a type head, or on the torch engine) adds the optional type head on top.

The forward step is an :class:`~tommer.core.engines.Engine` (``torch``, ``onnx``, ``onnx-int8``,
``openvino``; picked per CPU unless ``engine=`` or ``$TOMMER_ENGINE`` names one). This module imports
no torch: with the ONNX or OpenVINO engine, untyped detection runs on onnxruntime or openvino,
tokenizers and numpy. The torch modules
(:attr:`ProbeDetector.backbone`, :attr:`ProbeDetector.probe`) are loaded on first use, by what needs
them (type heads, training, the heatmaps, :meth:`ProbeDetector.window_states`): those methods import
torch inside their bodies, the optional heavy path of an ONNX-engine detector.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from ..data.mention import Mention
from ..errors import ConfigError, ModelNotFoundError, TommerError
from .config import DetectorConfig
from .decoding import DEFAULT_DECODING, Span, candidates, check_options, get_decoder
from .engines import AUTO, ENV, ONNX_ENGINES, OPENVINO_ENGINES, Engine, resolve_engine
from .layout import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, probe_weights, resolve_model_dir
from .modelcard import render_card
from .outputs import format_mentions
from .windows import Encoding, Window, collate_arrays, collate_shapes, make_windows

log = logging.getLogger(__name__)


def batches(windows: Sequence[Window], batch_size: int) -> Iterable[list[Window]]:
    """Length-bucketed batches: windows sorted by length so padding stays minimal."""
    ordered = sorted(windows, key=lambda w: w.length)
    for k in range(0, len(ordered), batch_size):
        yield ordered[k : k + batch_size]


BATCH_SIZE = 32
"""The most windows of one forward pass, by default (``batch_size``): with windows sorted by length
over a whole call, passes of up to 32 short sentences read more tokens per call and pad little
(``scripts/bench.py``'s batch sweep, results/bench.md)."""


CALL_TOKENS = 20
"""The fixed cost of one engine call, in padded tokens (``scripts/call_cost.py``, results/call_cost.md:
the default model on the ONNX engine, the intercept of call time against padded tokens, over the
per-token slope)."""


PASS_TOKENS = 512
"""The most tokens (rows × (window + BOS)) one forward pass may hold: the runtimes keep the memory of
their largest pass (ONNX Runtime's arena; OpenVINO's buffers per shape), so batches of 32 short
sentences would otherwise set the peak. On the bench's corpus, 512 keeps ``tommer detect -i`` under
400 MB on both export engines and finds the same mentions; it costs ``onnx`` no speed and
``openvino`` about 7% (``scripts/pass_tokens.py``, results/pass_tokens.md). It also bounds the
(window × end × start) cells of a pass to 512², which an earlier bound on cells alone was for: a
512-token window runs alone, and the in-process part of ``scripts/bench.py`` (documents up to 8000
words) peaked at 2034 MB of RSS before any bound and 366 MB with the cells bound."""


def forward_batches(
    windows: Sequence[Window],
    batch_size: int,
    padded_shape: Callable[[int, int], tuple[int, int]] | None = None,
) -> list[list[Window]]:
    """The forward passes of a detector call: windows sorted by length, cut into runs of at most
    ``batch_size`` (and at most :data:`PASS_TOKENS` tokens) that cost the least, each pass
    ``CALL_TOKENS`` plus its padded tokens: rows × tokens of ``padded_shape(size, longest window)``
    (the engine's :meth:`~tommer.core.engines.Engine.padded_shape`; default: no padding beyond the
    longest window). Mixed lengths get smaller passes than ``batch_size`` where that pads less; equal
    lengths get as few passes as :func:`batches` where the cells allow."""
    ordered = sorted(windows, key=lambda w: w.length)
    n = len(ordered)
    cost = [0] * (n + 1)  # cost[i]: the cheapest cut of the first i windows
    cut = [0] * (n + 1)
    for i in range(1, n + 1):
        longest = ordered[i - 1].length
        most = max(1, min(batch_size, PASS_TOKENS // (longest + 1)))
        options = []
        for k in range(max(0, i - most), i):
            rows, tokens = padded_shape(i - k, longest) if padded_shape else (i - k, longest)
            options.append((cost[k] + CALL_TOKENS + rows * tokens, k))
        cost[i], cut[i] = min(options)
    out: list[list[Window]] = []
    while n:
        out.append(ordered[cut[n] : n])
        n = cut[n]
    return out[::-1]


def collate(windows: Sequence[Window], encodings: Sequence[Encoding], bos_id: int, pad_id: int):
    """Right-padded input ids (BOS first) and attention mask for a batch of windows, as torch tensors
    (:func:`~tommer.core.windows.collate_arrays` gives numpy arrays)."""
    import torch  # the torch paths only (training, type heads)

    ids, mask = collate_arrays(windows, encodings, bos_id, pad_id)
    return torch.from_numpy(ids), torch.from_numpy(mask)


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
    """A frozen backbone truncated at layer L plus a trained ToMMeR probe (untyped mentions).

    ``engine`` runs untyped detection (default: a torch engine on ``backbone`` and ``probe``). A
    detector may be built with an engine only (:meth:`from_pretrained` with an ONNX engine): its
    ``backbone`` (from ``config``) and ``probe`` (from ``weights``, its ``model.safetensors``) are then
    loaded in torch on first use.
    """

    def __init__(
        self,
        config: DetectorConfig,
        backbone=None,
        probe=None,
        engine: Engine | None = None,
        weights: str | os.PathLike | None = None,
    ) -> None:
        self.config = config
        self._backbone = backbone
        self._probe = probe.eval() if probe is not None else None
        self._engine = engine
        self._weights = Path(weights) if weights is not None else None

    # -- the torch modules (loaded on first use by an ONNX-engine detector) --------------
    @property
    def backbone(self):
        """The torch :class:`~tommer.core.backbone.Backbone` (loaded on first use if the detector was
        built with another engine: type heads, training and the heatmaps read its states)."""
        if self._backbone is None:
            from .engines.torch_engine import load_backbone

            self._backbone = load_backbone(self.config)
        return self._backbone

    @backbone.setter
    def backbone(self, backbone) -> None:
        self._backbone = backbone
        if getattr(self._engine, "backbone", None) is not None:  # a torch engine follows the new one
            self._engine = None

    @property
    def probe(self):
        """The torch :class:`~tommer.core.probe.ToMMeRProbe` (loaded on first use, as :attr:`backbone`)."""
        if self._probe is None:
            from .engines.torch_engine import load_probe

            if self._weights is None:
                raise ConfigError("this detector has no probe weights to load")
            self._probe = load_probe(self._weights, self.config)
        return self._probe

    @probe.setter
    def probe(self, probe) -> None:
        self._probe = probe.eval()
        if getattr(self._engine, "probe", None) is not None:
            self._engine = None

    @property
    def engine(self) -> Engine:
        """What runs untyped detection (:mod:`tommer.core.engines`); ``engine.name`` says which."""
        if self._engine is None:
            from .engines.torch_engine import TorchEngine

            self._engine = TorchEngine(self.backbone, self.probe, self.config.layer)
        return self._engine

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, backbone=None, engine: str | None = None):
        """Load a detector saved with :meth:`save_pretrained` (or a packaged model name).

        ``engine``: ``torch``, ``torch-fp32``, ``torch-bf16``, ``onnx``, ``onnx-int8``, ``openvino`` or
        ``auto`` (default: ``$TOMMER_ENGINE``, else ``auto``: see :func:`tommer.core.engines.auto_engine`). An
        ONNX engine's export is built once into the user cache (a minute for the default model). When
        ``auto`` picks an engine that fails, the detector falls back with a warning: ``openvino`` to
        ``onnx``, ``onnx`` to torch.
        """
        directory = resolve_model_dir(path)
        try:
            config = DetectorConfig.from_dict(json.loads((directory / CONFIG_NAME).read_text()))
        except (KeyError, ValueError) as err:
            raise ModelNotFoundError(f"{directory / CONFIG_NAME} is not a tommer config: {err}") from None
        name = resolve_engine(engine)
        weights = probe_weights(directory)
        explicit = engine is not None or os.environ.get(ENV, AUTO).strip().lower() != AUTO
        # auto: a failed engine falls back to the next (openvino, then onnx, then torch)
        tried = [name, "onnx"] if name in OPENVINO_ENGINES and not explicit else [name]
        if name in ONNX_ENGINES and backbone is None:  # a given backbone is run by torch
            from .engines.build import load_onnx_engine

            for candidate, fallback in zip(tried, [*tried[1:], "torch"]):
                try:
                    runner = load_onnx_engine(directory, config, candidate)
                except Exception as err:
                    if explicit:
                        if isinstance(err, TommerError):
                            raise
                        raise TommerError(f"the {name} engine failed for {directory}: {err}") from err
                    log.warning(
                        "the %s engine failed for %s (%s): using %s", candidate, directory, err, fallback
                    )
                else:  # subclasses keep their own __init__: the engine is attached after it
                    detector = cls(config, backbone, None)
                    detector._engine, detector._weights = runner, weights
                    return detector
        from .engines.torch_engine import load_backbone, load_probe  # the torch engine

        if backbone is None:  # a type head's deeper layers are loaded on its first call
            backbone = load_backbone(config, "torch" if name in ONNX_ENGINES else name)
        detector = cls(config, backbone, load_probe(weights, config))
        detector._weights = weights
        return detector

    def load_layers(self, depth: int) -> None:
        """Make the backbone hold its first ``depth`` layers (reloaded once if it holds fewer);
        untyped detection keeps running only the probe's layers."""
        if self.backbone.depth < depth:
            from .backbone import Backbone

            self.backbone = Backbone.load(
                self.config.backbone, self.config.layer, dtype=self.backbone.dtype, depth=depth
            )

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Write ``config.json``, ``model.safetensors`` and a ``README.md`` model card."""
        from safetensors.torch import save_file

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
        encodings = [self.engine.encode(t) for t in texts]
        windows: list[Window] = []
        for doc, enc in enumerate(encodings):
            if len(enc):
                windows += make_windows(doc, len(enc), self.config.max_tokens, self.config.context)
        return encodings, windows

    def forward(self, ids, mask, shapes=None) -> np.ndarray:
        """Span probabilities (B, T_end, T_start) for a padded batch (arrays or CPU tensors);
        ``shapes``: its token shapes (:meth:`batch_shapes`), for a probe that reads them."""
        shapes = None if shapes is None else np.asarray(shapes)
        return self.engine.span_probabilities(np.asarray(ids), np.asarray(mask), shapes)

    def window_states(
        self,
        batch: Sequence[Window],
        encodings: Sequence[Encoding],
        head_echo: bool = False,
        head_layers: Sequence[int] | None = None,
    ):
        """(probe states, the states of each of ``head_layers``, mask) of a batch of windows, in one
        torch backbone pass.

        ``head_layers`` (default: the probe's layer) are the layers a head on top of the probe reads
        (a type head, :mod:`tommer.typed`); with ``head_echo`` echo input is fed: the probe reads its
        first copy (the plain pass), the head its second.
        """
        import torch  # hidden states are the torch path (type heads, heatmaps, training)

        from .echo import collate_echo, split_echo

        bos, pad = self.backbone.bos_id, self.backbone.pad_id
        layer = self.config.layer
        head_layers = list(head_layers or [layer])
        ids, mask = (collate_echo if head_echo else collate)(batch, encodings, bos, pad)
        with torch.inference_mode():
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

    def batch_shapes(self, batch: Sequence[Window], encodings: Sequence[Encoding]) -> np.ndarray | None:
        """The token shapes of a batch of windows if the probe reads them (``token_shapes``), else None."""
        return collate_shapes(batch, encodings) if self.config.probe.token_shapes else None

    def probe_probs(self, hidden, mask, shapes: np.ndarray | None = None) -> np.ndarray:
        """The probe's span probabilities on torch hidden states (see :meth:`window_states`);
        ``shapes``: :meth:`batch_shapes` of the same windows."""
        import torch

        with torch.inference_mode():
            shapes_t = None if shapes is None else torch.from_numpy(shapes)
            return self.probe.probabilities(hidden, mask, shapes_t)

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
        self, texts: Sequence[str], threshold: float | None = None, batch_size: int = BATCH_SIZE
    ) -> tuple[list[Encoding], list[list[Span]]]:
        """Candidate token spans (start, end, probability) above ``threshold`` per text."""
        threshold = self.config.threshold if threshold is None else threshold
        encodings, windows = self.preprocess(texts)
        spans: list[list[Span]] = [[] for _ in texts]
        for batch in forward_batches(windows, batch_size, self.engine.padded_shape):
            for w, found in zip(batch, self.window_candidates(batch, encodings, threshold)):
                spans[w.doc] += found
        return encodings, spans

    def window_candidates(
        self, batch: Sequence[Window], encodings: Sequence[Encoding], threshold: float
    ) -> list[list[Span]]:
        """Candidate spans of each window of a batch (one engine call), in document token indices."""
        engine = self.engine
        ids, mask = collate_arrays(batch, encodings, engine.bos_id, engine.pad_id)
        probs = engine.span_probabilities(ids, mask, self.batch_shapes(batch, encodings))
        return [window_spans(w, encodings[w.doc], probs[row], threshold) for row, w in enumerate(batch)]

    def __call__(
        self,
        texts: str | Sequence[str],
        threshold: float | None = None,
        decoding: str = DEFAULT_DECODING,
        batch_size: int = BATCH_SIZE,
        output: str = "mentions",
        **typed_options,
    ) -> list[Mention] | list[list[Mention]] | list[dict] | list[list[dict]]:
        """Mentions of one text (a list), or of each text in a list (a list of lists).

        ``threshold`` defaults to the model's own (``config.threshold``, chosen on dev data
        for the shipped model; 0.5 for a newly trained one). ``output``: ``mentions``
        (:class:`Mention` objects), ``dicts`` (``Mention.to_dict()``) or ``pipeline`` (Hugging
        Face ``token-classification`` dicts, see :mod:`tommer.core.outputs`). Typed options
        (``labels``, ``context``, ...) need a type head: here they are an error.
        """
        if typed_options:
            raise ConfigError(
                f"{', '.join(sorted(typed_options))} applies to typed calls only, and this model has no "
                "type head (train one with `tommer train-types`, or load a typed model)"
            )
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


__all__ = [
    "BATCH_SIZE",
    "CALL_TOKENS",
    "PASS_TOKENS",
    "ProbeDetector",
    "batches",
    "collate",
    "forward_batches",
    "spans_to_mentions",
    "window_spans",
]
