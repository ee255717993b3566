"""Span-type heads: give detected mentions a label.

A head reads the same layer-L hidden states as the probe. A candidate span (a span the probe
scores at least ``candidate_threshold``) is represented by the RMS-normalised states of its
first and last tokens, their mean, the token before and the token after it, and a width
embedding, plus the state three tokens after it (right context: the backbone is causal).
A head trained with ``echo`` reads these from the second copy of echo input instead
(:mod:`tommer.core.echo`), where every token has seen the whole window; a head with a ``layer``
reads that (deeper) layer's states, from the same backbone pass; a supervised head with
``extra_layers`` reads those layers too, RMS-normalised and concatenated. A head with ``bilstm_dim``
also runs a small trainable BiLSTM over the window's states and adds its first / last / mean
outputs over the span (trainable context in both directions). A supervised head with
``members`` > 1 is an ensemble of that many heads (trained with different seeds, and possibly
reading different ``extra_layers``: ``member_extra_layers``) whose class probabilities are averaged.
Two kinds:

- ``supervised``: a classifier over a fixed label set plus "none" (softmax);
- ``zero-shot``: a bi-encoder. Label names are fed to the same truncated backbone inside a
  prompt (``Entity type: '<label>'``); ``sigmoid(scale · cos(span, label) + bias)`` scores each
  (span, label) pair, and a span whose best score is below ``label_threshold`` gets no label.

Typed decoding keeps the best-scoring non-overlapping labelled spans (greedy by label score).
The head is saved next to the probe as ``types.json`` + ``types.safetensors``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from ..core.engines.torch_engine import read_weights
from ..core.windows import encode
from ..errors import ConfigError, ModelNotFoundError

HEAD_CONFIG = "types.json"
HEAD_WEIGHTS = "types.safetensors"
KINDS = ("supervised", "zero-shot")
DEFAULT_PROMPT = "Entity type: '{label}'"

TypedSpan = tuple[int, int, float, str, float]  # (start, end, span probability, label, label score)


@dataclass
class HeadArchitecture:
    """The head's shape: its kind, a supervised head's label set, its widths, what it adds to the
    span features, and how many heads an ensemble holds (see :class:`TypeHead`)."""

    kind: str
    hidden_size: int  # the backbone's state width (per layer read)
    labels: list[str] = field(default_factory=list)  # supervised only
    dim: int = 256
    width_dim: int = 32
    max_width: int = 32
    probe_feature: bool = False  # also read the probe's span probability (as a scaled log-odds)
    bilstm_dim: int = 0  # width of a trainable BiLSTM over the window's states (0: none)
    members: int = 1  # supervised: an ensemble of this many heads, class probabilities averaged

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"type head kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.kind == "supervised" and not self.labels:
            raise ConfigError("a supervised type head needs its label set")
        if self.members < 1 or (self.members > 1 and self.kind != "supervised"):
            raise ConfigError(f"members must be 1, or more for a supervised head; got {self.members}")
        if self.bilstm_dim < 0 or self.bilstm_dim % 2:
            raise ConfigError(f"bilstm_dim must be an even number >= 0, got {self.bilstm_dim}")


@dataclass
class ReadingProtocol:
    """How the head reads text: which layers of which input (plain or echo), texts as groups of
    sentences (and shifted groups when scoring a corpus), the whitespace fed before each text, and the
    prompt a zero-shot head reads label names in."""

    layer: int | None = None  # backbone layer the head reads (None: the probe's layer)
    extra_layers: list[int] = field(default_factory=list)  # supervised: more layers, concatenated
    member_extra_layers: list[list[int]] = field(default_factory=list)  # per ensemble member, if they differ
    echo: bool = False  # read the second copy of echo input (see tommer.core.echo): right context
    join_sentences: int = 1  # texts = groups of this many consecutive sentences (typed eval too)
    group_stride: int = 0  # scoring: groups also shifted by multiples of this many sentences (0: none)
    text_prefix: str = ""  # whitespace fed before every text: its first words are not at the start
    prompt: str = DEFAULT_PROMPT  # zero-shot: the text a label name is read in

    def __post_init__(self) -> None:
        if self.text_prefix.strip():
            raise ConfigError(f"the text prefix must be whitespace only, got {self.text_prefix!r}")
        if self.group_stride < 0 or (self.group_stride and self.join_sentences % self.group_stride):
            raise ConfigError(f"group_stride must be 0 or divide join_sentences, got {self.group_stride}")
        if "{label}" not in self.prompt:
            raise ConfigError(f"the label prompt must contain '{{label}}', got {self.prompt!r}")

    def read_layers(self, probe_layer: int) -> list[int]:
        """The backbone layers whose states the head reads, in concatenation order."""
        return [self.layer or probe_layer, *self.extra_layers]


@dataclass
class OperatingPoint:
    """Which spans the head labels and which labels it keeps (chosen on held-out texts)."""

    candidate_threshold: float = 0.1  # probe probability for a candidate span
    label_threshold: float = 0.5  # minimum label score (zero-shot sigmoid / supervised softmax)
    beat_none: bool = True  # supervised: the best label must also outscore "none"


PARTS = {"architecture": HeadArchitecture, "reading": ReadingProtocol, "operating": OperatingPoint}
# the flat field order of types.json (a file holds every part's fields side by side, then "info")
FLAT_FIELDS = (
    "kind", "hidden_size", "labels", "dim", "width_dim", "max_width", "candidate_threshold",
    "label_threshold", "prompt", "probe_feature", "echo", "layer", "beat_none", "join_sentences",
    "group_stride", "text_prefix", "bilstm_dim", "extra_layers", "members", "member_extra_layers",
)  # fmt: skip
PART_OF = {f.name: part for part, cls in PARTS.items() for f in fields(cls)}


@dataclass
class TypeHeadConfig:
    """A type head's configuration: its shape (``architecture``), how it reads text (``reading``),
    its operating point (``operating``) and its provenance (``info``: training data, command,
    held-out scores; the model card is written from it).

    ``types.json`` holds the parts' fields flat (:meth:`to_dict`, :meth:`from_dict`); the flat names
    also read and write the parts here (``config.label_threshold`` is ``config.operating.label_threshold``).
    """

    architecture: HeadArchitecture
    reading: ReadingProtocol = field(default_factory=ReadingProtocol)
    operating: OperatingPoint = field(default_factory=OperatingPoint)
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape, reading = self.architecture, self.reading
        if reading.extra_layers and shape.kind != "supervised":
            raise ConfigError("extra_layers needs a supervised head (label prompts read one layer)")
        if reading.member_extra_layers:
            per_member = reading.member_extra_layers
            if len(per_member) != shape.members:
                raise ConfigError(f"member_extra_layers lists {len(per_member)} members, not {shape.members}")
            used = {m for layers in per_member for m in layers}
            if used != set(reading.extra_layers):
                raise ConfigError("an ensemble's extra_layers must be the union of its members' extra_layers")

    @classmethod
    def of(cls, kind: str, hidden_size: int, info: dict | None = None, **flat) -> TypeHeadConfig:
        """A configuration from flat fields (those of ``types.json``), each given to its part."""
        unknown = sorted(set(flat) - set(PART_OF))
        if unknown:
            raise TypeError(f"unknown type head config field(s): {', '.join(unknown)}")
        parts: dict[str, dict] = {part: {} for part in PARTS}
        for name, value in flat.items():
            parts[PART_OF[name]][name] = value
        return cls(
            HeadArchitecture(kind, hidden_size, **parts["architecture"]),
            ReadingProtocol(**parts["reading"]),
            OperatingPoint(**parts["operating"]),
            {} if info is None else info,
        )

    def copy(self, **flat) -> TypeHeadConfig:
        """A new configuration (each part copied) with the flat fields given (and ``info``) changed."""
        changes: dict[str, dict] = {part: {} for part in PARTS}
        info = flat.pop("info", self.info)
        for name, value in flat.items():
            if name not in PART_OF:
                raise TypeError(f"unknown type head config field: {name}")
            changes[PART_OF[name]][name] = value
        return TypeHeadConfig(
            replace(self.architecture, **changes["architecture"]),
            replace(self.reading, **changes["reading"]),
            replace(self.operating, **changes["operating"]),
            info,
        )

    @property
    def input_size(self) -> int:
        """Width of the states the head reads (one layer, or several concatenated)."""
        return self.architecture.hidden_size * (1 + len(self.reading.extra_layers))

    def read_layers(self, probe_layer: int) -> list[int]:
        """The backbone layers whose states the head reads, in concatenation order."""
        return self.reading.read_layers(probe_layer)

    def to_dict(self) -> dict:
        """The flat ``types.json`` fields (every part's, in the file's order), then ``info``."""
        flat = {name: value for part in PARTS for name, value in asdict(getattr(self, part)).items()}
        return {**{name: flat[name] for name in FLAT_FIELDS}, "info": deepcopy(self.info)}

    @classmethod
    def from_dict(cls, data: dict) -> TypeHeadConfig:
        """A configuration from ``types.json`` (unknown fields are ignored)."""
        if data.get("label_encoder", "mlp") != "mlp":  # the linear / identity variants were removed
            raise ConfigError(f"label_encoder {data['label_encoder']!r} is no longer supported (only mlp)")
        known = {k: v for k, v in data.items() if k in PART_OF or k == "info"}
        return cls.of(**known)


def _flat_field(part: str, name: str) -> property:
    def get(config: TypeHeadConfig):
        return getattr(getattr(config, part), name)

    def put(config: TypeHeadConfig, value) -> None:
        setattr(getattr(config, part), name, value)

    return property(get, put, doc=f"``{part}.{name}`` under its flat (``types.json``) name")


for _name, _part in PART_OF.items():  # config.label_threshold, config.text_prefix, ... as before the split
    setattr(TypeHeadConfig, _name, _flat_field(_part, _name))


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    x = x.float()
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


def join_layers(states: Sequence[torch.Tensor]) -> torch.Tensor:
    """Several layers' states ``(..., d)`` as one ``(..., n·d)`` input, each RMS-normalised
    (so that no layer's scale dominates); a single layer is returned as it is."""
    if len(states) == 1:
        return states[0]
    return torch.cat([rms_norm(x) for x in states], dim=-1)


def first_last_mean(x: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """``(n, 3d)``: rows ``x`` at each span's start and end, and their mean over the span."""
    s, e = spans[:, 0], spans[:, 1]
    cums = torch.cat([torch.zeros(1, x.shape[1]), x.cumsum(0)])
    mean = (cums[e + 1] - cums[s]) / (e - s + 1).clamp(min=1)[:, None]
    return torch.cat([x[s], x[e], mean], dim=-1)


def span_features(x: torch.Tensor, spans: torch.Tensor, max_width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of spans ``(n, 2)`` (inclusive start, end rows) of one window's RMS-normalised
    states ``x`` ``(T, d)`` (:func:`rms_norm`).

    Returns the concatenated [first, last, mean, before, after, after + 2] states ``(n, 6d)``
    and the clamped widths ``(n,)``. Row 0 is the BOS token; rows past the window's end are zero.
    """
    seq, dim = x.shape
    s, e = spans[:, 0], spans[:, 1]
    width = (e - s + 1).clamp(min=1)
    padded = torch.cat([x, torch.zeros(1, dim)])
    before = x[(s - 1).clamp(min=0)]
    after = padded[(e + 1).clamp(max=seq)]
    right = padded[(e + 3).clamp(max=seq)]
    feats = torch.cat([first_last_mean(x, spans), before, after, right], dim=-1)
    return feats, (width - 1).clamp(max=max_width - 1)


class TypeHead(nn.Module):
    """Span encoder plus a classifier (supervised) or a label encoder (zero-shot)."""

    def __init__(self, config: TypeHeadConfig) -> None:
        super().__init__()
        self.config = config
        shape, reading = config.architecture, config.reading
        if shape.members > 1:
            layers = reading.member_extra_layers or [reading.extra_layers] * shape.members
            self.members = nn.ModuleList(
                TypeHead(config.copy(members=1, extra_layers=list(m), member_extra_layers=[], info={}))
                for m in layers
            )
            return
        d, k, c = config.input_size, shape.dim, shape.bilstm_dim
        prompt_size = 2 * shape.hidden_size  # see label_states
        self.width = nn.Embedding(shape.max_width, shape.width_dim)
        if c:
            self.project = nn.Linear(d, c)
            self.bilstm = nn.LSTM(c, c // 2, batch_first=True, bidirectional=True)
        self.span_encoder = nn.Sequential(
            nn.Linear(6 * d + 3 * c + shape.width_dim + int(shape.probe_feature), k),
            nn.GELU(),
            nn.Dropout(0.1),
            nn.Linear(k, k),
        )
        if shape.kind == "supervised":
            self.classifier = nn.Linear(k, len(shape.labels) + 1)  # last column: "none"
        else:
            self.label_encoder = nn.Sequential(nn.Linear(prompt_size, k), nn.GELU(), nn.Linear(k, k))
            self.scale = nn.Parameter(torch.tensor(10.0))
            self.bias = nn.Parameter(torch.tensor(-5.0))

    @property
    def zero_shot(self) -> bool:
        return self.config.architecture.kind == "zero-shot"

    def encode_spans(
        self, hidden: torch.Tensor, spans: torch.Tensor, probs: Sequence[float] | None = None
    ) -> torch.Tensor:
        """Span vectors; ``probs`` (the probe's span probabilities) is needed with ``probe_feature``."""
        shape = self.config.architecture
        if shape.members > 1:
            raise ConfigError("an ensemble head has no span vectors of its own: use its members")
        x = rms_norm(hidden)
        feats, width = span_features(x, spans, shape.max_width)
        parts = [feats, self.width(width)]
        if shape.bilstm_dim:
            context = self.bilstm(self.project(x)[None])[0][0]
            parts.append(first_last_mean(context, spans))
        if shape.probe_feature:
            if probs is None:
                raise ConfigError("this type head reads the probe's span probabilities: pass probs")
            p = torch.tensor(probs, dtype=torch.float32).clamp(1e-4, 1 - 1e-4)
            parts.append(0.1 * torch.logit(p)[:, None])
        return self.span_encoder(torch.cat(parts, dim=-1))

    def encode_labels(self, label_states: torch.Tensor) -> torch.Tensor:
        """Label vectors from prompt states ``(L, 2d)`` (see :func:`label_states`)."""
        return nn.functional.normalize(self.label_encoder(label_states), dim=-1)

    def logits(self, span_vectors: torch.Tensor, label_vectors: torch.Tensor | None = None) -> torch.Tensor:
        """Supervised: ``(n, K+1)`` class logits. Zero-shot: ``(n, L)`` pair logits."""
        if not self.zero_shot:
            return self.classifier(span_vectors)
        if label_vectors is None:
            raise ConfigError("a zero-shot type head needs label vectors")
        u = nn.functional.normalize(span_vectors, dim=-1)
        return self.scale * (u @ label_vectors.T) + self.bias

    def class_probs(
        self,
        hidden: torch.Tensor,
        spans: torch.Tensor,
        label_vectors: torch.Tensor | None = None,
        probs: Sequence[float] | None = None,
    ) -> torch.Tensor:
        """Supervised: ``(n, K+1)`` softmax over the labels and "none" (an ensemble's averaged over
        its members). Zero-shot: ``(n, L)`` sigmoid per (span, label) pair."""
        if self.config.architecture.members > 1:
            return torch.stack(
                [m.class_probs(self._member_states(m, hidden), spans, None, probs) for m in self.members]
            ).mean(0)
        logits = self.logits(self.encode_spans(hidden, spans, probs), label_vectors)
        return torch.sigmoid(logits) if self.zero_shot else torch.softmax(logits, dim=-1)

    def _member_states(self, member: TypeHead, hidden: torch.Tensor) -> torch.Tensor:
        """The columns of the ensemble's joined states ``(..., n·d)`` that ``member`` reads."""
        if member.config.reading.extra_layers == self.config.reading.extra_layers:
            return hidden
        d, order = self.config.architecture.hidden_size, self.config.read_layers(0)
        blocks = [order.index(m) for m in member.config.read_layers(0)]
        return torch.cat([hidden[..., b * d : (b + 1) * d] for b in blocks], dim=-1)

    def pick_labels(
        self, scores: torch.Tensor, labels: Sequence[str], label_threshold: float
    ) -> list[tuple[str, float] | None]:
        """Best (label, score) per row of :meth:`class_probs`, or None ("none" / below threshold)."""
        if not self.zero_shot:
            none, scores = scores[:, -1], scores[:, :-1]
        best, idx = scores.max(dim=-1)
        out: list[tuple[str, float] | None] = []
        for k in range(len(scores)):
            keep = best[k] >= label_threshold and (
                self.zero_shot or not self.config.operating.beat_none or best[k] > none[k]
            )
            out.append((labels[int(idx[k])], float(best[k])) if keep else None)
        return out

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def decode_typed(spans: Sequence[TypedSpan]) -> list[TypedSpan]:
    """Non-overlapping labelled spans, greedily by label score (then span probability)."""
    taken: list[tuple[int, int]] = []
    out = []
    for span in sorted(spans, key=lambda sp: (-sp[4], -sp[2], sp[0], sp[1])):
        s, e = span[0], span[1]
        if all(e < ts or s > te for ts, te in taken):
            taken.append((s, e))
            out.append(span)
    return sorted(out, key=lambda sp: (sp[0], sp[1]))


def check_labels(labels) -> list[str]:
    """A non-empty list of distinct, non-empty label names, or a ConfigError."""
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise ConfigError(f"labels must be a list of strings, not {type(labels).__name__}")
    if not labels:
        raise ConfigError("labels must not be empty")
    out = []
    for k, label in enumerate(labels):
        if not isinstance(label, str):
            raise ConfigError(f"label #{k} is a {type(label).__name__}, not a str")
        if not label.strip():
            raise ConfigError(f"label #{k} is empty")
        if label.strip() in out:
            raise ConfigError(f"label {label.strip()!r} is given twice")
        out.append(label.strip())
    return out


@torch.no_grad()
def label_states(
    backbone,
    labels: Sequence[str],
    prompt: str = DEFAULT_PROMPT,
    batch_size: int = 64,
    layer: int | None = None,
) -> torch.Tensor:
    """``(L, 2d)``: per label, the mean state of the label's tokens in the prompt and the last state
    (at ``layer``, default the backbone's)."""
    rows = []
    for b in range(0, len(labels), batch_size):
        chunk = labels[b : b + batch_size]
        texts = [prompt.format(label=label) for label in chunk]
        encs = [encode(backbone.tokenizer, t) for t in texts]
        seq = max(len(e) for e in encs) + 1
        ids = torch.full((len(chunk), seq), backbone.pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), seq), dtype=torch.long)
        for row, enc in enumerate(encs):
            ids[row, 0] = backbone.bos_id
            ids[row, 1 : len(enc) + 1] = torch.from_numpy(enc.ids)
            mask[row, : len(enc) + 1] = 1
        x = rms_norm(backbone.hidden_states(ids, mask, layer))
        lo = prompt.index("{label}")  # the label's first character in every prompt
        for row, (label, enc) in enumerate(zip(chunk, encs)):
            hi = lo + len(label)
            inside = [k + 1 for k in range(len(enc)) if enc.ends[k] > lo and enc.starts[k] < hi]
            inside = inside or [len(enc)]
            rows.append(torch.cat([x[row, inside].mean(0), x[row, len(enc)]]))
    return torch.stack(rows)


def save_head(head: TypeHead, directory: str | Path) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / HEAD_CONFIG).write_text(json.dumps(head.config.to_dict(), indent=2) + "\n")
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in head.state_dict().items()}
    save_file(state, str(directory / HEAD_WEIGHTS))


def load_head(directory: str | Path) -> TypeHead | None:
    """The head saved in a detector directory, or None when it has none."""
    directory = Path(directory)
    if not (directory / HEAD_CONFIG).is_file():
        return None
    if not (directory / HEAD_WEIGHTS).is_file():
        raise ModelNotFoundError(f"{directory / HEAD_CONFIG} has no {HEAD_WEIGHTS} next to it")
    try:
        config = TypeHeadConfig.from_dict(json.loads((directory / HEAD_CONFIG).read_text()))
    except (TypeError, ValueError) as err:
        raise ModelNotFoundError(f"{directory / HEAD_CONFIG} is not a type head config: {err}") from None
    head = TypeHead(config)
    state = read_weights(directory / HEAD_WEIGHTS, head.state_dict())  # names and shapes checked
    head.load_state_dict({k: v.float() for k, v in state.items()})
    return head.eval()
