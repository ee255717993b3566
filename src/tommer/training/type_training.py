"""Training span-type heads on cached layer-L hidden states (see :mod:`tommer.typed.type_head`).

Training spans of a window are the probe's candidates (probability >= the head's
``candidate_threshold``) plus the gold mentions. Supervised: cross-entropy over the labels
plus "none" (candidates that are not gold mentions). Zero-shot: per window, binary
cross-entropy over (span, label) pairs for the passage's own types plus randomly drawn
other types, positives and negatives averaged separately; candidates that are not gold
mentions are negatives for every label. The best epoch on held-out texts is kept.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..core.detector import window_spans
from ..core.probe import ToMMeRProbe
from ..data.mention import AnnotatedText, join_consecutive, join_groups, trim_span, with_prefix
from ..data.metrics import TypedScores
from ..data.readers import read_annotated
from ..errors import TommerError
from ..typed.detector import MentionDetector
from ..typed.reading import Entry, Placement, Reading, TypedMention, sentence_entries, typed_mentions
from ..typed.type_head import (
    HeadArchitecture,
    OperatingPoint,
    ReadingProtocol,
    TypeHead,
    TypeHeadConfig,
    join_layers,
    label_states,
    save_head,
)
from .training import EncodedCorpus, encode_corpus, pad_states, split_holdout

WindowSpans = list[tuple[int, int]]  # window rows (BOS = row 0), inclusive


@dataclass
class TypeTrainConfig:
    epochs: int = 6
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_windows: int = 16
    negative_labels: int = 8  # zero-shot: random other types per window
    balanced: bool = True  # zero-shot: average positive and negative pairs separately
    seed: int = 0


def joined_states(corpora: Sequence[EncodedCorpus]) -> EncodedCorpus:
    """The same windows with several layers' states joined (:func:`join_layers`), stored in the
    first corpus's dtype; a single corpus is returned as it is."""
    if len(corpora) == 1:
        return corpora[0]
    first = corpora[0]
    hidden = [join_layers([c.hidden[k] for c in corpora]).to(h.dtype) for k, h in enumerate(first.hidden)]
    return replace(first, hidden=hidden)


def gold_rows(corpus: EncodedCorpus) -> list[list[tuple[int, int, str]]]:
    """Typed gold spans per window as (start row, end row, label), for ends the window owns."""
    per_doc = []
    for doc, enc in zip(corpus.docs, corpus.encodings):
        spans = []
        for (s, e), label in zip(doc.spans, doc.labels or []):
            inside = np.nonzero((enc.ends > s) & (enc.starts < e))[0]
            if len(inside):
                spans.append((int(inside[0]), int(inside[-1]), label))
        per_doc.append(spans)
    out = []
    for w in corpus.windows:
        off = w.start - 1
        out.append(
            [
                (s - off, e - off, lab)
                for s, e, lab in per_doc[w.doc]
                if s >= w.start and w.own_from <= e < w.own_to
            ]
        )
    return out


@torch.no_grad()
def probe_candidates(
    probe: ToMMeRProbe, corpus: EncodedCorpus, threshold: float, batch_size: int = 16
) -> list[list[tuple[int, int, float]]]:
    """The probe's candidate spans per window, in document token indices (as at inference)."""
    probe.eval()
    out: list[list] = [[] for _ in corpus.windows]
    order = sorted(range(len(corpus.windows)), key=lambda k: corpus.windows[k].length)
    for b in tqdm(range(0, len(order), batch_size), desc="candidates", leave=False):
        idx = order[b : b + batch_size]
        hidden, attn, shapes = pad_states(corpus, idx)
        probs = probe.probabilities(hidden, attn, shapes)
        for row, k in enumerate(idx):
            w = corpus.windows[k]
            out[k] = window_spans(w, corpus.encodings[w.doc], probs[row], threshold)
    return out


def candidate_recall(corpus: EncodedCorpus, cands: Sequence[list]) -> float:
    """Share of gold spans (owned by a window) among the candidates."""
    gold = gold_rows(corpus)
    hit = total = 0
    for w, g, c in zip(corpus.windows, gold, cands):
        off = w.start - 1
        rows = {(s - off, e - off) for s, e, _ in c}
        hit += sum((s, e) in rows for s, e, _ in g)
        total += len(g)
    return hit / total if total else 0.0


def training_items(corpus: EncodedCorpus, cands: Sequence[list], floor: float = 0.0) -> list[tuple]:
    """Per window: (index, spans in rows, gold label or None, probe probability per span).

    Gold spans the probe missed get probability ``floor``; windows without spans are skipped.
    """
    items = []
    for k, (w, gold) in enumerate(zip(corpus.windows, gold_rows(corpus))):
        off = w.start - 1
        labels = {(s, e): lab for s, e, lab in gold}
        probs = {(s - off, e - off): p for s, e, p in cands[k]}
        spans = sorted(set(probs) | set(labels))
        if spans:
            items.append((k, spans, [labels.get(sp) for sp in spans], [probs.get(sp, floor) for sp in spans]))
    return items


def _loss(head: TypeHead, corpus, item, label_index, label_vecs, config, rng, vocab) -> torch.Tensor:
    k, spans, gold, probs = item
    vectors = head.encode_spans(corpus.hidden[k], torch.tensor(spans, dtype=torch.long), probs)
    if not head.zero_shot:
        none = len(head.config.architecture.labels)
        target = torch.tensor([none if g is None else label_index[g] for g in gold])
        return torch.nn.functional.cross_entropy(head.logits(vectors), target)
    own = sorted({g for g in gold if g is not None})
    others = [
        lab for lab in rng.sample(vocab, min(len(vocab), config.negative_labels + len(own))) if lab not in own
    ]
    names = own + others[: config.negative_labels]
    logits = head.logits(vectors, head.encode_labels(label_vecs[[label_index[n] for n in names]]))
    target = torch.tensor([[float(g == n) for n in names] for g in gold])
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if not config.balanced:
        return loss.mean()
    pos = target.bool()
    total = loss[~pos].mean()
    return 0.5 * (total + loss[pos].mean()) if pos.any() else total


def train_type_head(
    head: TypeHead,
    train: EncodedCorpus,
    train_cands: Sequence[list],
    validate,
    config: TypeTrainConfig,
    vocab: Sequence[str],
    label_vecs: torch.Tensor | None = None,
    log=print,
) -> tuple[TypeHead, list[dict]]:
    """Train ``head``; ``validate(head) -> (f1, extra dict)`` picks the best epoch.

    ``vocab`` is the label set (supervised) or every training type (zero-shot), in the row
    order of ``label_vecs`` (the types' prompt states, zero-shot only).
    """
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    label_index = {lab: k for k, lab in enumerate(vocab)}
    items = training_items(train, train_cands, head.config.operating.candidate_threshold)
    opt = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(len(items) / config.batch_windows)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.lr, total_steps=max(steps, 1), pct_start=0.1
    )
    history, best_state, best_f1 = [], None, -math.inf
    for epoch in range(1, config.epochs + 1):
        head.train()
        rng.shuffle(items)
        started, total = time.process_time(), 0.0
        for b in tqdm(range(0, len(items), config.batch_windows), desc=f"epoch {epoch}", leave=False):
            batch = items[b : b + config.batch_windows]
            loss = sum(
                _loss(head, train, it, label_index, label_vecs, config, rng, list(vocab)) for it in batch
            )
            loss = loss / len(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        head.eval()
        f1, extra = validate(head)
        row = {"epoch": epoch, "loss": total / max(1, math.ceil(len(items) / config.batch_windows))}
        row.update(val_f1=f1, **extra, cpu_s=time.process_time() - started)
        history.append(row)
        log(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}))
        if f1 > best_f1:
            best_f1, best_state = f1, copy.deepcopy(head.state_dict())
            operating = head.config.operating
            operating.label_threshold = extra.get("label_threshold", operating.label_threshold)
    if best_state is not None:
        head.load_state_dict(best_state)
    return head.eval(), history


def corpus_readings(corpus: EncodedCorpus, cands: Sequence[list]) -> Iterator[Reading]:
    """The cached windows of ``corpus`` as a type head reads them, with the probe's ``cands``."""
    for k, w in enumerate(corpus.windows):
        yield Reading(w.doc, w.start, corpus.encodings[w.doc], corpus.hidden[k], cands[k])


def predict_corpus(
    head: TypeHead,
    corpus: EncodedCorpus,
    cands: Sequence[list],
    label_sets: Sequence[tuple[Sequence[str], torch.Tensor | None]],
    label_threshold: float,
) -> list[list[TypedMention]]:
    """Typed mentions per document of cached states, each document read alone (the typed path of
    :mod:`tommer.typed.reading`). ``label_sets`` gives the (label names, label vectors) of all
    documents (one entry) or of each document."""
    n = len(corpus.docs)
    sets = list(label_sets) if len(label_sets) > 1 else [label_sets[0]] * n
    vectors = None if sets[0][1] is None else [v for _, v in sets]
    placement = [[(d, 0)] for d in range(n)]
    lengths = [len(d.text) for d in corpus.docs]
    entries = sentence_entries(head, corpus_readings(corpus, cands), placement, lengths, 0, vectors)
    return typed_mentions(head, entries, [list(names) for names, _ in sets], 0.0, label_threshold)


def typed_gold(corpus: EncodedCorpus, rename=None) -> list[set[tuple[int, int, str]]]:
    """Gold (trimmed char start, end, label) per document; ``rename`` maps label names."""
    return docs_gold(corpus.docs, rename)


def docs_gold(docs: Sequence[AnnotatedText], rename=None) -> list[set[tuple[int, int, str]]]:
    """Gold (trimmed char start, end, label) per text; ``rename`` maps label names."""
    rename = rename or {}
    return [
        {(*trim_span(d.text, s, e), rename.get(lab, lab)) for (s, e), lab in zip(d.spans, d.labels or [])}
        for d in docs
    ]


def score_predictions(predicted, gold, threshold: float = 0.0) -> TypedScores:
    """Strict typed scores of typed mentions (start, end, ..., label, label score) per text whose
    label score reaches ``threshold``."""
    scores = TypedScores()
    for pred, ref in zip(predicted, gold):
        scores.add({(m[0], m[1], m[-2]) for m in pred if m[-1] >= threshold}, ref)
    return scores


def best_label_threshold(head: TypeHead, pred, gold) -> tuple[float, float, dict]:
    """(typed F1, label threshold, extra) of a supervised head's predictions made at label
    threshold 0: the threshold with the best F1 (0 for a head with ``beat_none``)."""
    thresholds = (0.0,) if head.config.operating.beat_none else THRESHOLDS
    sweep = {t: score_predictions(pred, gold, t) for t in thresholds}
    best = max(thresholds, key=lambda t: sweep[t].f1)
    micro = sweep[best].micro
    return sweep[best].f1, best, {"val_precision": micro.precision, "val_recall": micro.recall}


def supervised_validator(states: EncodedCorpus, cands: Sequence[list], labels: Sequence[str], gold):
    """``validate(head) -> (strict typed F1, extra)`` for a supervised head on held-out texts.

    A head with ``beat_none`` keeps a label that outscores "none"; without it, the label
    threshold that gives the best F1 is chosen too (returned as ``label_threshold``).
    """

    def validate(head: TypeHead):
        pred = predict_corpus(head, states, cands, [(list(labels), None)], 0.0)
        f1, best, extra = best_label_threshold(head, pred, gold)
        return f1, extra if head.config.operating.beat_none else {"label_threshold": best, **extra}

    return validate


CANDIDATE_THRESHOLDS = (0.02, 0.002, 1e-3, 1e-4, 1e-5, 1e-6)
CANDIDATE_TOLERANCE = 0.0005  # F1 a higher (cheaper) candidate threshold may lose to the best


def choose_candidate_threshold(
    head: TypeHead,
    states: EncodedCorpus,
    cands: Sequence[list],
    entries: Sequence[list[Entry]],
    gold,
    grid: Sequence[float] = CANDIDATE_THRESHOLDS,
    tolerance: float = CANDIDATE_TOLERANCE,
) -> tuple[dict, list[dict]]:
    """A supervised head's operating point on held-out texts: for each candidate threshold of
    ``grid`` (probe probability a span needs to be labelled), the best label threshold and its
    strict typed F1. The chosen row is the highest candidate threshold within ``tolerance`` of
    the best F1 (fewer spans to label). Returns (chosen row, all rows, highest threshold first).

    ``cands`` are the probe's candidates at the grid's lowest threshold and ``entries`` their
    :func:`sentence_entries`: a higher threshold keeps those whose probe probability reaches it
    (the same set the probe gives at that threshold). ``gold``: per sentence.
    """
    if not grid or min(grid) <= 0 or max(grid) >= 1:
        raise TommerError(f"candidate thresholds must be in (0, 1), got {list(grid)}")
    rows = []
    for c in sorted(set(grid), reverse=True):
        labels = [list(head.config.architecture.labels)] * len(entries)
        pred = typed_mentions(head, entries, labels, c, 0.0)
        f1, label_threshold, extra = best_label_threshold(head, pred, gold)
        kept = [[sp for sp in window if sp[2] >= c] for window in cands]
        rows.append(
            {
                "candidate_threshold": c,
                "label_threshold": label_threshold,
                "typed_f1": f1,
                "precision": extra["val_precision"],
                "recall": extra["val_recall"],
                "candidate_recall": candidate_recall(states, kept),
                "candidates_per_sentence": sum(e[2] >= c for spans in entries for e in spans) / len(entries),
            }
        )
    best = max(r["typed_f1"] for r in rows)
    chosen = next(r for r in rows if r["typed_f1"] >= best - tolerance)
    return chosen, rows


def set_operating_point(
    head: TypeHead,
    probe: ToMMeRProbe,
    held_out: GroupedCorpus,
    grid: Sequence[float],
    trained_at: float,
    log=print,
) -> tuple[float, dict, dict]:
    """Choose a supervised head's candidate and label thresholds on held-out texts
    (:func:`choose_candidate_threshold`; ``trained_at``, the candidate threshold of its training,
    joins ``grid``) and set them. Returns (typed F1, precision / recall, info for its record)."""
    operating, grid = head.config.operating, sorted({*grid, trained_at})
    if min(grid) <= 0 or max(grid) >= 1:
        raise TommerError(f"candidate thresholds must be in (0, 1), got {grid}")
    cands = probe_candidates(probe, held_out.plain, min(grid))
    entries = held_out.entries(head, cands)
    chosen, rows = choose_candidate_threshold(head, held_out.states, cands, entries, held_out.gold, grid)
    for row in rows:
        shown = {k: v if k == "candidate_threshold" else round(v, 5) for k, v in row.items()}
        log("candidates: " + json.dumps(shown))
    operating.candidate_threshold = chosen["candidate_threshold"]
    operating.label_threshold = chosen["label_threshold"]
    extra = {"val_precision": chosen["precision"], "val_recall": chosen["recall"]}
    return chosen["typed_f1"], extra, {"training_candidate_threshold": trained_at, "candidate_sweep": rows}


def held_out_label_sets(docs, train_labels: Sequence[str], negatives: int, seed: int) -> list[list[str]]:
    """Per held-out text, the label names a zero-shot head is given: its own types plus
    ``negatives`` other training types (seeded)."""
    rng = random.Random(seed)
    out = []
    for d in docs:
        own = sorted(set(d.labels or []))
        pool = [lab for lab in train_labels if lab not in own]
        out.append(own + rng.sample(pool, min(len(pool), negatives)))
    return out


def zero_shot_validator(
    states: EncodedCorpus,
    cands: Sequence[list],
    vocab: Sequence[str],
    label_vecs: torch.Tensor,
    names_per_doc: Sequence[list[str]],
    gold,
):
    """``validate(head) -> (strict typed F1 at the best label threshold, extra)`` for a zero-shot head."""
    index = {lab: k for k, lab in enumerate(vocab)}

    def validate(head: TypeHead):
        with torch.no_grad():
            all_vecs = head.encode_labels(label_vecs)
        sets = [(names, all_vecs[[index[n] for n in names]]) for names in names_per_doc]
        pred = predict_corpus(head, states, cands, sets, THRESHOLDS[0])
        sweep = {t: score_predictions(pred, gold, t) for t in THRESHOLDS}
        best = max(THRESHOLDS, key=lambda t: sweep[t].f1)
        micro = sweep[best].micro
        extra = {"label_threshold": best, "val_precision": micro.precision, "val_recall": micro.recall}
        return sweep[best].f1, extra

    return validate


THRESHOLDS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)


def encode_for_head(
    detector, docs, read: Sequence[int], echo: bool, cache_dir: str | None, name: str
) -> tuple[EncodedCorpus, EncodedCorpus]:
    """The probe's states of ``docs`` (plain input, the probe's layer) and the head's: the same
    windows at the ``read`` layers, joined, from echo input's second copy if ``echo``."""
    enc = dict(max_tokens=detector.config.max_tokens, context=detector.config.context, batch_size=16)
    plain = encode_corpus(detector.backbone, docs, cache_dir=cache_dir, desc=f"encode {name}", **enc)
    if not echo and list(read) == [detector.config.layer]:
        return plain, plain
    desc = f"head states {name}"
    parts = [
        encode_corpus(detector.backbone, docs, cache_dir=cache_dir, desc=desc, echo=echo, layer=m, **enc)
        for m in read
    ]
    return plain, joined_states(parts)


@dataclass
class GroupedCorpus:
    """Sentences read in groups (:func:`~tommer.data.mention.join_groups`): the group texts' states for
    the probe (``plain``) and for the head (``states``), where each sentence sits in its groups
    (``placement``), the characters fed before each group (``prefix``) and the sentences' gold."""

    sentences: list[AnnotatedText]
    placement: list[Placement]
    prefix: int
    plain: EncodedCorpus
    states: EncodedCorpus
    gold: list[set[tuple[int, int, str]]]

    def entries(self, head: TypeHead, cands: Sequence[list], label_vectors=None) -> list[list[Entry]]:
        """:func:`~tommer.typed.reading.sentence_entries` of the probe's candidates ``cands`` (per
        window of ``plain``); ``label_vectors``: a zero-shot head's, for every sentence."""
        lengths = [len(d.text) for d in self.sentences]
        vectors = None if label_vectors is None else [label_vectors] * len(self.placement)
        readings = corpus_readings(self.states, cands)
        return sentence_entries(head, readings, self.placement, lengths, self.prefix, vectors)


def encode_grouped(
    detector,
    sentences: Sequence[AnnotatedText],
    read: Sequence[int],
    echo: bool,
    join: int = 1,
    stride: int = 0,
    prefix: str = "",
    cache_dir: str | None = None,
    name: str = "texts",
    rename=None,
) -> GroupedCorpus:
    """``sentences`` in groups of ``join`` starting every ``stride`` (0: ``join``), ``prefix`` fed
    before each, encoded for the probe and for a head reading ``read`` (:func:`encode_for_head`)."""
    plains, states, placement = [], [], []
    for phase in join_groups(sentences, join, stride or join):  # one cache entry per phase
        docs = with_prefix([text for text, _ in phase], prefix)
        plain, state = encode_for_head(detector, docs, read, echo, cache_dir, name)
        plains.append(plain)
        states.append(state)
        placement += [placed for _, placed in phase]
    gold = docs_gold(sentences, rename)
    return GroupedCorpus(
        list(sentences), placement, len(prefix), concat_corpora(plains), concat_corpora(states), gold
    )


def concat_corpora(parts: Sequence[EncodedCorpus]) -> EncodedCorpus:
    """One corpus holding the documents (and windows) of ``parts`` in order."""
    if len(parts) == 1:
        return parts[0]
    docs, encodings, windows, hidden, gold = [], [], [], [], []
    for part in parts:
        windows += [replace(w, doc=w.doc + len(docs)) for w in part.windows]
        docs += part.docs
        encodings += part.encodings
        hidden += part.hidden
        gold += part.gold
    return EncodedCorpus(docs, encodings, windows, hidden, gold)


def held_out_words(source: str, n_val: int, limited: bool, join_sentences: int) -> str:
    """The model card's description of the held-out texts."""
    return (
        source
        + (f" (the first {n_val} texts)" if limited else f" ({n_val} texts)")
        + (f"; texts read in groups of {join_sentences} consecutive ones" if join_sentences > 1 else "")
    )


@dataclass
class TypeHeadTraining:
    """A type head's training, prepared once by :func:`prepare_type_training`: the detector, the
    encoded training and held-out texts with the probe's candidates, the head's configuration and
    its held-out check. :meth:`train` trains a head on it; :meth:`save` sets the head's operating
    point on the held-out texts and writes it with its record."""

    detector: MentionDetector
    config: TypeTrainConfig
    head_config: TypeHeadConfig
    train_states: EncodedCorpus
    train_cands: list[list]
    held_out: GroupedCorpus
    validate: Callable
    vocab: list[str]  # the label set (supervised) or every type seen (zero-shot), rows of label_vecs
    label_vecs: torch.Tensor | None
    record: dict  # the record's first fields: training data, validation, base model
    candidate_recall: dict
    encode_seconds: tuple[float, float]  # CPU, wall
    started: tuple[float, float]  # process_time, perf_counter when the encoding was done

    @property
    def zero_shot(self) -> bool:
        return self.head_config.architecture.kind == "zero-shot"

    def train(self, seed: int | None = None, log=print) -> tuple[TypeHead, list[dict]]:
        """A new head trained with ``seed`` (default: the config's); its best held-out epoch is kept.
        Returns it and its per-epoch history."""
        head = TypeHead(self.head_config.copy())
        config = self.config if seed is None else replace(self.config, seed=seed)
        return train_type_head(
            head, self.train_states, self.train_cands, self.validate, config, self.vocab, self.label_vecs, log
        )

    def save(
        self,
        head: TypeHead,
        histories: Sequence[tuple[int, list[dict]]],
        out: str,
        head_only: bool = False,
        command: str = "",
        log=print,
    ) -> Path:
        """Set ``head``'s thresholds on the held-out texts (a supervised head's candidate threshold
        too, :func:`set_operating_point`), record how it was trained (``histories``: (seed, history)
        of each head trained for it) and save it with the detector, or alone with ``head_only``."""
        if self.zero_shot:
            final_f1, final = self.validate(head)
            operating = head.config.operating
            operating.label_threshold = final.get("label_threshold", operating.label_threshold)
            operating = {}
        else:
            trained_at = self.head_config.operating.candidate_threshold
            final_f1, final, operating = set_operating_point(
                head, self.detector.probe, self.held_out, CANDIDATE_THRESHOLDS, trained_at, log
            )
        cpu, wall = self.started
        head.config.info = {
            **self.record,
            "seed": self.config.seed,
            "command": command,
            "train_config": self.config.__dict__,
            "candidate_recall": self.candidate_recall,
            "held_out_typed_f1": final_f1,
            **{f"held_out_{k}": v for k, v in final.items() if k != "label_threshold"},
            **operating,
            "encode_cpu_seconds": round(self.encode_seconds[0], 1),
            "encode_wall_seconds": round(self.encode_seconds[1], 1),
            "train_cpu_seconds": round(time.process_time() - cpu, 1),
            "train_wall_seconds": round(time.perf_counter() - wall, 1),
            "parameters": head.num_parameters(),
            **(
                {"history": histories[0][1]}
                if len(histories) == 1
                else {"members": [{"seed": seed, "history": h} for seed, h in histories]}
            ),
        }
        log("held-out: " + json.dumps({"typed_f1": final_f1, **final}))
        directory = Path(out)
        if head_only:
            save_head(head, directory)
        else:
            self.detector.type_head = head
            self.detector.save_pretrained(directory)
        write_card_section(directory / "README.md", head)
        kind = head.config.architecture.kind
        log(f"saved the {kind} type head ({head.num_parameters():,} parameters) to {directory}")
        return directory


def prepare_type_training(
    model: str,
    data: Sequence[str],
    val_data: Sequence[str] | None = None,
    zero_shot: bool = False,
    cache_dir: str | None = None,
    max_docs: int | None = None,
    val_limit: int | None = None,
    val_fraction: float = 0.1,
    candidate_threshold: float = 0.02,
    dim: int = 128,
    probe_feature: bool = False,
    config: TypeTrainConfig | None = None,
    echo: bool = False,
    layer: int | None = None,
    join_sentences: int = 1,
    text_prefix: str = "",
    bilstm_dim: int = 0,
    extra_layers: Sequence[int] = (),
    log=print,
) -> TypeHeadTraining:
    """Load ``model``, read and encode the training and held-out texts, find the probe's candidates
    (probability >= ``candidate_threshold``) and set up the head to train (see ``tommer train-types``)."""
    config = config or TypeTrainConfig()
    detector = MentionDetector.from_pretrained(model)
    probe_layer = detector.config.layer
    layer = None if layer == probe_layer else layer  # None: the probe's layer
    extra_layers = list(extra_layers)
    if extra_layers and zero_shot:
        raise TommerError("--extra-layers needs a supervised head (label prompts read one layer)")
    read = [layer or probe_layer, *extra_layers]  # as TypeHeadConfig.read_layers
    if min(read) < probe_layer:
        raise TommerError(
            f"the head's layers ({', '.join(map(str, read))}) must not be below the probe's ({probe_layer})"
        )
    detector.load_layers(max(read))
    docs = [d for path in data for d in read_annotated(path, typed=True)]
    if not docs:
        raise TommerError(f"no annotated texts in {', '.join(data)}")
    if val_data:
        train_docs, val_docs = docs, [d for path in val_data for d in read_annotated(path, typed=True)]
    else:
        train_docs, val_docs = split_holdout(docs, val_fraction, config.seed)
    train_docs, val_docs = train_docs[:max_docs], val_docs[:val_limit]
    if not val_docs:
        raise TommerError("no held-out texts: give --val-data or a --val-fraction above 0")
    n_train, n_val = len(train_docs), len(val_docs)
    train_docs = with_prefix(join_consecutive(train_docs, join_sentences), text_prefix)
    val_sentences, val_docs = val_docs, with_prefix(join_consecutive(val_docs, join_sentences), text_prefix)
    log(
        f"{n_train} training texts, {n_val} held-out texts"
        + (f" (in groups of {join_sentences})" if join_sentences > 1 else "")
    )
    cpu, wall = time.process_time(), time.perf_counter()
    train, train_states = encode_for_head(detector, train_docs, read, echo, cache_dir, "train")
    held_out = encode_grouped(
        detector, val_sentences, read, echo, join_sentences, 0, text_prefix, cache_dir, "held-out"
    )
    val, val_states = held_out.plain, held_out.states
    encode_seconds = (time.process_time() - cpu, time.perf_counter() - wall)
    started = (time.process_time(), time.perf_counter())
    train_cands = probe_candidates(detector.probe, train, candidate_threshold)
    val_cands = probe_candidates(detector.probe, val, candidate_threshold)
    recall = {"train": candidate_recall(train, train_cands), "held_out": candidate_recall(val, val_cands)}
    log(f"candidate recall at probe probability >= {candidate_threshold}: {json.dumps(recall)}")
    train_labels = sorted({lab for d in train_docs for lab in d.labels or []})
    hidden_size = detector.probe.config.hidden_size
    gold = typed_gold(val)
    shape = dict(dim=dim, probe_feature=probe_feature, bilstm_dim=bilstm_dim)
    reading = dict(layer=layer, echo=echo, join_sentences=join_sentences, text_prefix=text_prefix)
    if zero_shot:
        vocab = sorted(set(train_labels) | {lab for d in val_docs for lab in d.labels or []})
        head_config = TypeHeadConfig(
            HeadArchitecture("zero-shot", hidden_size, **shape),
            ReadingProtocol(**reading),
            OperatingPoint(candidate_threshold),
        )
        vecs = label_states(detector.backbone, vocab, head_config.reading.prompt, layer=layer)
        val_names = held_out_label_sets(val_docs, train_labels, config.negative_labels, config.seed)
        validate = zero_shot_validator(val_states, val_cands, vocab, vecs, val_names, gold)
    else:
        vocab, vecs = train_labels, None
        head_config = TypeHeadConfig(
            HeadArchitecture("supervised", hidden_size, labels=train_labels, **shape),
            ReadingProtocol(extra_layers=extra_layers, **reading),
            # no "beat none" rule: the label threshold is chosen on held-out texts instead
            OperatingPoint(candidate_threshold, label_threshold=0.0, beat_none=False),
        )
        validate = supervised_validator(val_states, val_cands, train_labels, gold)
    record = {
        "training_data": ", ".join(map(str, data)) + f" ({n_train} texts, {len(train_labels)} types)",
        "validation": held_out_words(
            ", ".join(map(str, val_data)) if val_data else f"fixed {val_fraction:.0%} of the texts",
            n_val,
            bool(val_limit),
            join_sentences,
        ),
        "base_model": str(model),
    }
    return TypeHeadTraining(
        detector,
        config,
        head_config,
        train_states,
        train_cands,
        held_out,
        validate,
        vocab,
        vecs,
        record,
        recall,
        encode_seconds,
        started,
    )


def run_train_types(
    model: str,
    data: Sequence[str],
    out: str,
    head_only: bool = False,
    command: str = "",
    log=print,
    **options,
) -> Path:
    """Train a type head on top of ``model``'s probe and save it (see ``tommer train-types``;
    ``options``: those of :func:`prepare_type_training`).

    A supervised head is trained on candidates at ``candidate_threshold``; its operating
    candidate threshold is then chosen on the held-out texts from :data:`CANDIDATE_THRESHOLDS`
    (:func:`set_operating_point`)."""
    training = prepare_type_training(model, data, log=log, **options)
    head, history = training.train(log=log)
    return training.save(head, [(training.config.seed, history)], out, head_only, command, log)


def _member_words(member: dict, reading: ReadingProtocol) -> str:
    """``"3"``; ``"seed 3 (layers 12 + 8 + 18)"`` where an ensemble's members read different layers."""
    if not reading.member_extra_layers:
        return str(member["seed"])
    layers = [reading.layer or "of the probe", *member.get("extra_layers", [])]
    return f"seed {member['seed']} (layer{'s' if len(layers) > 1 else ''} {' + '.join(map(str, layers))})"


def _candidate_words(info: dict, operating: OperatingPoint) -> str:
    """The card's line on candidate spans: the operating threshold, and how it was chosen."""
    threshold = operating.candidate_threshold
    rows = info.get("candidate_sweep")
    if not rows:
        recall = json.dumps({k: round(v, 4) for k, v in info.get("candidate_recall", {}).items()})
        return f"- Candidates: probe probability >= {threshold} (gold recall {recall})"
    chosen = next(r for r in rows if r["candidate_threshold"] == threshold)
    return (
        f"- Candidates: probe probability >= {threshold}, chosen on the held-out texts "
        f"from {', '.join(str(r['candidate_threshold']) for r in rows)} (held-out gold recall "
        f"{chosen['candidate_recall']:.4f}; F1 by threshold "
        + ", ".join(f"{r['typed_f1']:.4f}" for r in rows)
        + f"); training candidates: >= {info.get('training_candidate_threshold')}"
    )


def write_card_section(card: Path, head: TypeHead) -> None:
    """Add (or replace) the model card's "Type head" section, written from the head's info."""
    info = head.config.info
    shape, reading, operating = head.config.architecture, head.config.reading, head.config.operating
    labels = shape.labels
    lines = [
        "## Type head",
        "",
        f"A {shape.kind} span-type head ({info.get('parameters', head.num_parameters()):,} parameters, "
        f"`types.json` + `types.safetensors`).",
        "",
        f"- Command: `{info.get('command', '')}`",
        f"- Training data: {info.get('training_data', '')}",
        f"- Validation: {info.get('validation', '')}",
        _candidate_words(info, operating),
        f"- Reads: layer {reading.layer or 'of the probe'}"
        + "".join(f" + {m}" for m in reading.extra_layers)
        + (", echo input" if reading.echo else ", plain input")
        + (f", a trainable BiLSTM of width {shape.bilstm_dim} over it" if shape.bilstm_dim else "")
        + (
            f", groups of {reading.join_sentences} consecutive sentences"
            if reading.join_sentences > 1
            else ""
        )
        + (
            f" (scored in groups shifted by every multiple of {reading.group_stride} too)"
            if reading.group_stride
            else ""
        )
        + (f", text prefix {reading.text_prefix!r}" if reading.text_prefix else ""),
        f"- Label threshold: {operating.label_threshold}"
        + (" (arg-max against none)" if not head.zero_shot and operating.beat_none else "")
        + (f"; prompt `{reading.prompt}`" if head.zero_shot else ""),
        f"- Labels: {', '.join(labels)}" if labels else "- Labels: given at inference (zero-shot)",
        f"- Held-out strict typed F1: {info.get('held_out_typed_f1', 0.0):.4f}",
        *(
            [
                f"- Ensemble of {shape.members} heads ("
                + ("seeds " if not reading.member_extra_layers else "")
                + ", ".join(_member_words(m, reading) for m in info["members"])
                + "), class probabilities averaged; each head's best held-out F1: "
                + ", ".join(f"{max(r['val_f1'] for r in m['history']):.4f}" for m in info["members"])
            ]
            if shape.members > 1 and "members" in info
            else []
        ),
        f"- CPU seconds: encode {info.get('encode_cpu_seconds')}, train {info.get('train_cpu_seconds')}"
        + (" (the members' training, summed)" if "combined_from" in info else ""),
        *(
            f"- Members from `{source}`, trained by: `{command}`"
            for source, command in dict.fromkeys(
                (m["source"], m.get("source_command", "")) for m in info.get("members", []) if "source" in m
            )
        ),
        "",
    ]
    text = card.read_text() if card.exists() else ""
    if "\n## Type head\n" in text:
        text = text[: text.index("\n## Type head\n")]
    card.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines))
