"""Training a ToMMeR probe on annotated texts.

The backbone runs once over the corpus; layer-L hidden states are kept (bf16, in memory, and
optionally on disk) so later epochs and other probe settings never re-run it. The probe is
trained with class-balanced BCE over the span matrix, AdamW and LR-on-plateau, validated every
epoch on held-out texts with the same post-processing as inference; the best epoch is kept.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..core.backbone import Backbone
from ..core.config import DetectorConfig
from ..core.decoding import get_decoder
from ..core.detector import batches, collate, spans_to_mentions, window_spans
from ..core.echo import check_echo, collate_echo, split_echo
from ..core.probe import ProbeConfig, ToMMeRProbe
from ..core.windows import Encoding, Window, collate_shapes, encode, make_windows, token_spans_for
from ..data.mention import AnnotatedText, trim_span
from ..data.metrics import SpanScores
from ..typed.detector import MentionDetector


@dataclass
class TrainConfig:
    """Optimisation settings (the probe's shape lives in :class:`ProbeConfig`)."""

    epochs: int = 8
    lr: float = 2e-3
    weight_decay: float = 0.01
    batch_size: int = 8
    seed: int = 0
    threshold: float = 0.5
    patience: int = 1  # epochs without held-out F1 gain before the LR is halved
    # the reference recipe's pieces (see results/recipe_ablation.md for what each one does)
    init: str = "default"  # "normal": W_Q, W_K ~ N(0, 1) (else PyTorch's Linear init)
    grad_clip: float = 0.0  # max gradient norm (0: no clipping)
    patience_steps: int = 0  # > 0: halve the LR when the training loss plateaus this many steps
    overlap_weight: float = 0.0  # extra BCE weight on the negatives that overlap a gold span
    val_decoding: str = "threshold"  # the decoding of the held-out F1 that picks the best epoch


@dataclass
class EncodedCorpus:
    """Annotated texts with their tokens, windows and cached layer-L hidden states."""

    docs: list[AnnotatedText]
    encodings: list[Encoding]
    windows: list[Window]
    hidden: list[torch.Tensor] = field(repr=False)
    gold: list[list[tuple[int, int]]] = field(repr=False)  # per window, (row=end, col=start)

    @property
    def num_tokens(self) -> int:
        return sum(len(e) for e in self.encodings)


def split_holdout(
    docs: Sequence[AnnotatedText], fraction: float, seed: int
) -> tuple[list[AnnotatedText], list[AnnotatedText]]:
    """A fixed, seeded split: (train, held-out) with ``fraction`` of the texts held out."""
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_val = int(round(len(docs) * fraction))
    held = set(order[:n_val])
    return [d for k, d in enumerate(docs) if k not in held], [docs[k] for k in sorted(held)]


def token_digest(corpus: EncodedCorpus) -> str:
    """A digest of a corpus's windows and their token ids: what cached hidden states depend on.

    Keying a cache on the tokens, not the texts, means that a change of tokenization (or of the
    characters the tokenizer reads) never reuses states computed for other tokens.
    """
    digest = hashlib.sha1()
    for w in corpus.windows:
        digest.update(f"{w.doc}:{w.start}:{w.stop}|".encode())
        digest.update(corpus.encodings[w.doc].ids[w.start : w.stop].tobytes())
    return digest.hexdigest()[:16]


def _corpus_key(backbone: Backbone, corpus: EncodedCorpus, echo: bool, layer: int) -> str:
    digest = hashlib.sha1(f"{backbone.source}|{layer}|{token_digest(corpus)}|".encode())
    if echo:
        digest.update(b"echo|")
    return digest.hexdigest()[:16]


def encode_corpus(
    backbone: Backbone,
    docs: Sequence[AnnotatedText],
    max_tokens: int = 512,
    context: int = 64,
    batch_size: int = 8,
    cache_dir: str | Path | None = None,
    desc: str = "encoding",
    echo: bool = False,
    layer: int | None = None,
) -> EncodedCorpus:
    """Tokenize, window and run the backbone once over ``docs`` (cached on disk if asked).

    ``echo``: keep the second copy's states of echo input (see :mod:`tommer.core.echo`) instead.
    ``layer``: the layer whose states are kept (default: the backbone's ``layer``).
    """
    layer = layer or backbone.layer
    base = window_corpus(backbone, docs, max_tokens, context)
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"hidden-{_corpus_key(backbone, base, echo, layer)}.pt"
        if cache_file.exists():
            base.hidden = torch.load(cache_file)
            return base
    corpus = encode_corpus_layers(
        backbone, docs, [layer], max_tokens, context, batch_size, desc, echo, windowed=base
    )[layer]
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        torch.save(corpus.hidden, tmp)
        tmp.replace(cache_file)
    return corpus


def window_corpus(
    backbone: Backbone, docs: Sequence[AnnotatedText], max_tokens: int, context: int
) -> EncodedCorpus:
    """Tokens, windows and gold window coordinates (``(end, start)`` rows), without hidden states yet."""
    docs = list(docs)
    encodings = [encode(backbone.tokenizer, d.text) for d in docs]
    windows = [
        w
        for k, enc in enumerate(encodings)
        if len(enc)
        for w in make_windows(k, len(enc), max_tokens, context)
    ]
    doc_tokens = [token_spans_for(enc, d.spans) for d, enc in zip(docs, encodings)]
    gold = [
        [(e - w.start + 1, s - w.start + 1) for s, e in doc_tokens[w.doc] if s >= w.start and e < w.stop]
        for w in windows
    ]
    return EncodedCorpus(docs, encodings, windows, [], gold)


def encode_corpus_layers(
    backbone: Backbone,
    docs: Sequence[AnnotatedText],
    layers: Sequence[int],
    max_tokens: int = 512,
    context: int = 64,
    batch_size: int = 8,
    desc: str = "encoding",
    echo: bool = False,
    windowed: EncodedCorpus | None = None,
) -> dict[int, EncodedCorpus]:
    """One backbone pass over ``docs`` keeping the hidden states of several layers.

    ``echo``: feed echo input and keep the second copy's (aligned) states. ``windowed``: the result of
    :func:`window_corpus` for these docs and settings, if already computed (not tokenized again).
    """
    if echo:
        check_echo(backbone)
    base = windowed if windowed is not None else window_corpus(backbone, docs, max_tokens, context)
    hidden = {layer: [torch.empty(0)] * len(base.windows) for layer in layers}
    index = {id(w): k for k, w in enumerate(base.windows)}
    make_batch = collate_echo if echo else collate
    with tqdm(total=sum(w.length for w in base.windows), desc=desc, unit="tok", leave=False) as bar:
        for batch in batches(base.windows, batch_size):
            ids, mask = make_batch(batch, base.encodings, backbone.bos_id, backbone.pad_id)
            if len(layers) == 1:
                states = [backbone.hidden_states(ids, mask, layers[0])]
            else:
                states = backbone.hidden_states_at(ids, mask, list(layers))
            if echo:
                states = [split_echo(layer_states, batch)[1] for layer_states in states]
            for layer, layer_states in zip(layers, states):
                for row, w in enumerate(batch):
                    hidden[layer][index[id(w)]] = layer_states[row, : w.length].to(torch.bfloat16).clone()
            bar.update(sum(w.length for w in batch))
    return {layer: _with_hidden(base, hidden[layer]) for layer in layers}


def _with_hidden(base: EncodedCorpus, hidden: list[torch.Tensor]) -> EncodedCorpus:
    return EncodedCorpus(base.docs, base.encodings, base.windows, hidden, base.gold)


def pad_states(corpus: EncodedCorpus, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded hidden states, attention mask and token shapes for window indices."""
    seq = max(corpus.windows[k].length for k in idx)
    hidden = torch.zeros(len(idx), seq, corpus.hidden[idx[0]].shape[-1])
    attn = torch.zeros(len(idx), seq, dtype=torch.long)
    for row, k in enumerate(idx):
        n = corpus.windows[k].length
        hidden[row, :n] = corpus.hidden[k].float()
        attn[row, :n] = 1
    shapes = torch.from_numpy(collate_shapes([corpus.windows[k] for k in idx], corpus.encodings))
    return hidden, attn, shapes


def pad_batch(corpus: EncodedCorpus, idx: Sequence[int]):
    """``(hidden, attention mask, token shapes, gold, trainable)`` of the windows ``idx``: padded hidden
    states, their mask and token shapes, the gold span matrix (end × start) and the loss mask (the spans
    a window can predict, and the gold ones)."""
    hidden, attn, shapes = pad_states(corpus, idx)
    seq = hidden.shape[1]
    labels = torch.zeros(len(idx), seq, seq, dtype=torch.bool)
    trainable = torch.zeros(len(idx), seq, seq, dtype=torch.bool)
    for row, k in enumerate(idx):
        w = corpus.windows[k]
        enc = corpus.encodings[w.doc]
        # spans that can be predicted: owned end, word-boundary start and end (see window_spans)
        lo, hi = w.own_from - w.start + 1, w.own_to - w.start + 1
        ends = torch.from_numpy(enc.word_end[w.start : w.stop])
        starts = torch.from_numpy(enc.word_start[w.start : w.stop])
        trainable[row, 1 : w.length, 1 : w.length] = ends[:, None] & starts[None, :]
        trainable[row, :lo] = False
        trainable[row, hi:] = False
        for end, start in corpus.gold[k]:
            labels[row, end, start] = True
    return hidden, attn, shapes, labels, trainable | labels


def overlapping(labels: torch.Tensor) -> torch.Tensor:
    """(B, T_end, T_start) mask of the spans that overlap a gold span (gold spans included).

    Span (e', s') overlaps gold (e, s) iff s <= e' and s' <= e: an OR over golds ending at or
    after s' and starting at or before e', i.e. a suffix-OR over ends then a prefix-OR over starts.
    """
    g = labels.to(torch.uint8)
    reach = g.flip(1).cummax(1).values.flip(1).cummax(2).values  # [b, y, x]: a gold with e >= y, s <= x
    return reach.transpose(1, 2).bool()


def balanced_bce(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean BCE over positive spans plus mean BCE over negative spans, halved."""
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none")
    pos, neg = mask & labels, mask & ~labels
    total = loss[neg].mean() if neg.any() else logits.sum() * 0
    if pos.any():
        total = 0.5 * (total + loss[pos].mean())
    return total


@torch.no_grad()
def predicted_spans(
    probe: ToMMeRProbe,
    corpus: EncodedCorpus,
    threshold: float = 0.5,
    decoding: str = "threshold",
    batch_size: int = 16,
    margin: float = 0.0,
) -> list[list[tuple[int, int]]]:
    """Character spans the probe predicts per text, post-processed exactly as at inference."""
    probe.eval()
    spans: list[list] = [[] for _ in corpus.docs]
    order = sorted(range(len(corpus.windows)), key=lambda k: corpus.windows[k].length)
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        hidden, attn, shapes = pad_states(corpus, idx)
        probs = probe.probabilities(hidden, attn, shapes)
        for row, k in enumerate(idx):
            w = corpus.windows[k]
            spans[w.doc] += window_spans(w, corpus.encodings[w.doc], probs[row], threshold)
    decoder = get_decoder(decoding)
    return [
        [(m.start, m.end) for m in spans_to_mentions(doc.text, enc, decoder(doc_spans, margin))]
        for doc, enc, doc_spans in zip(corpus.docs, corpus.encodings, spans)
    ]


def evaluate(
    probe: ToMMeRProbe,
    corpus: EncodedCorpus,
    threshold: float = 0.5,
    decoding: str = "threshold",
    batch_size: int = 16,
    margin: float = 0.0,
) -> SpanScores:
    """Character-level exact-match scores, post-processed exactly as at inference."""
    scores = SpanScores()
    predicted_all = predicted_spans(probe, corpus, threshold, decoding, batch_size, margin)
    for doc, predicted in zip(corpus.docs, predicted_all):
        scores.add(predicted, {trim_span(doc.text, s, e) for s, e in doc.spans})
    return scores


def _crosses(span: tuple[int, int], others: Sequence[tuple[int, int]]) -> bool:
    """Whether an (end, start) span overlaps one of ``others`` without nesting in or around it."""
    e, s = span
    for oe, os_ in others:
        if s <= oe and os_ <= e and not ((s <= os_ and oe <= e) or (os_ <= s and e <= oe)):
            return True
    return False


@torch.no_grad()
def add_teacher_spans(
    corpus: EncodedCorpus,
    teacher: ToMMeRProbe,
    threshold: float = 0.9,
    batch_size: int = 16,
    drop_crossing: bool = False,
    cap: float | None = None,
) -> tuple[EncodedCorpus, int]:
    """Self-distillation labels: gold spans plus every span the teacher scores >= ``threshold``.

    Only spans the loss can see are added (owned ends, word-boundary starts and ends), so a
    pseudo-label never contradicts the inference-time rules. ``drop_crossing``: a teacher span
    that crosses a gold span (overlaps it without nesting) is not added. ``cap``: at most
    ``cap × (gold spans)`` are added, the teacher's most confident first. Returns the
    relabelled corpus and how many spans were added.
    """
    teacher.eval()
    found: list[tuple[float, int, tuple[int, int]]] = []
    order = sorted(range(len(corpus.windows)), key=lambda k: corpus.windows[k].length)
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        hidden, attn, shapes, labels, trainable = pad_batch(corpus, idx)
        logits, mask = teacher(hidden, attn, shapes)
        confident = (torch.sigmoid(logits) >= threshold) & mask & trainable & ~labels
        for row, k in enumerate(idx):
            for e, s in confident[row].nonzero().tolist():
                if drop_crossing and _crosses((e, s), corpus.gold[k]):
                    continue
                found.append((float(logits[row, e, s]), k, (int(e), int(s))))
    if cap is not None:
        limit = int(cap * sum(len(g) for g in corpus.gold))
        found = sorted(found, key=lambda t: -t[0])[:limit]
    gold = [list(g) for g in corpus.gold]
    for _, k, span in found:
        gold[k].append(span)
    return EncodedCorpus(corpus.docs, corpus.encodings, corpus.windows, corpus.hidden, gold), len(found)


def train_probe(
    train: EncodedCorpus,
    val: EncodedCorpus | None,
    probe_config: ProbeConfig,
    config: TrainConfig,
    log=print,
    extra_loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[ToMMeRProbe, list[dict]]:
    """Train a probe; return the best one (by held-out F1, else last) and the epoch history.

    ``extra_loss(logits, labels, mask)``, if given, is added to each batch's loss (a research hook:
    scripts/recipe_ablation.py tries losses with it)."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    probe = ToMMeRProbe(probe_config)
    if config.init == "normal":
        with torch.no_grad():
            probe.w_q.weight.normal_()
            probe.w_k.weight.normal_()
    elif config.init != "default":
        raise ValueError(f"unknown init '{config.init}' (default, normal)")
    opt = torch.optim.AdamW(probe.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    by_steps = config.patience_steps > 0
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt,
        mode="min" if by_steps else "max",
        factor=0.5,
        patience=config.patience_steps if by_steps else config.patience,
    )
    history: list[dict] = []
    best_state, best_f1 = None, -math.inf
    # batches of similar-length windows, shuffled each epoch
    order = sorted(range(len(train.windows)), key=lambda k: train.windows[k].length)
    groups = [order[k : k + config.batch_size] for k in range(0, len(order), config.batch_size)]
    for epoch in range(1, config.epochs + 1):
        probe.train()
        rng.shuffle(groups)
        started, total = time.process_time(), 0.0
        bar = tqdm(groups, desc=f"epoch {epoch}/{config.epochs}", leave=False)
        for idx in bar:
            hidden, attn, shapes, labels, trainable = pad_batch(train, idx)
            logits, mask = probe(hidden, attn, shapes)
            loss = balanced_bce(logits, labels, mask & trainable)
            if config.overlap_weight > 0:  # hard negatives: spans that cut into or around a mention
                hard = overlapping(labels) & ~labels & mask & trainable
                if hard.any():
                    bce = torch.nn.functional.binary_cross_entropy_with_logits(
                        logits[hard], torch.zeros_like(logits[hard])
                    )
                    loss = loss + config.overlap_weight * bce
            if extra_loss is not None:
                loss = loss + extra_loss(logits, labels, mask & trainable)
            opt.zero_grad()
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(probe.parameters(), config.grad_clip)
            opt.step()
            total += float(loss.detach())
            if by_steps:
                sched.step(float(loss.detach()))
            bar.set_postfix(loss=f"{loss.item():.4f}")
        row = {
            "epoch": epoch,
            "loss": total / max(len(groups), 1),
            "lr": opt.param_groups[0]["lr"],
            "cpu_s": time.process_time() - started,
        }
        if val is not None:
            scores = evaluate(probe, val, config.threshold, config.val_decoding)
            row.update(val_precision=scores.precision, val_recall=scores.recall, val_f1=scores.f1)
            if not by_steps:
                sched.step(scores.f1)
            if scores.f1 > best_f1:
                best_f1, best_state = scores.f1, copy.deepcopy(probe.state_dict())
        history.append(row)
        log(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}))
    if best_state is not None:
        probe.load_state_dict(best_state)
    return probe.eval(), history


def build_detector(
    backbone: Backbone,
    probe: ToMMeRProbe,
    max_tokens: int,
    context: int,
    info: dict,
) -> MentionDetector:
    config = DetectorConfig(
        backbone=backbone.source,
        layer=backbone.layer,
        probe=probe.config,
        max_tokens=max_tokens,
        context=context,
        info=info,
    )
    return MentionDetector(config, backbone, probe)
