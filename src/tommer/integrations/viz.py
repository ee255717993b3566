"""See what a detector finds: highlighted mentions, span probabilities and token matching.

:func:`visualize` runs a detector on one text and returns a :class:`Visualization` holding
the predicted mentions (and gold mentions, if given), the text's tokens with character
offsets, the span-probability matrix (end × start) and the probe's token-matching scores
``S`` (feature 0 of :meth:`ToMMeRProbe.features`) over the first ``heatmap_tokens`` tokens.

It renders as standalone HTML (no scripts, no network: styles inline, heatmaps as inline
SVG, hover titles for scores), in Jupyter (``_repr_html_``) and as a displaCy ``manual=True``
dict. All text is HTML-escaped.
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core.decoding import DEFAULT_DECODING, check_options
from ..core.detector import ProbeDetector, window_spans
from ..core.windows import Encoding, Window, collate_arrays, token_spans_for
from ..data.mention import Mention
from ..errors import ConfigError

HEATMAP_TOKENS = 128

Gold = Sequence[int] | Mention | dict


@dataclass(frozen=True)
class Token:
    """One backbone token: ``text[start:end]`` (whitespace-trimmed, may be empty)."""

    start: int
    end: int
    text: str


@dataclass
class Visualization:
    """A detector's view of one text, ready to render.

    ``span_probs[i, j]`` is the probability that tokens ``j..i`` form a mention and
    ``matching[i, j]`` the probe's token-matching score between end token i and start token
    j; both are NaN outside the probe's mask (j > i, or spans longer than the probe reads).
    They cover ``tokens`` only: the first ``heatmap_tokens`` of the text's ``n_tokens``.
    """

    text: str
    mentions: list[Mention]
    tokens: list[Token]
    span_probs: np.ndarray
    matching: np.ndarray
    n_tokens: int
    threshold: float = 0.5
    decoding: str = DEFAULT_DECODING
    gold: list[tuple[int, int]] | None = None
    title: str = ""
    mention_tokens: list[tuple[int, int]] = field(default_factory=list)
    gold_tokens: list[tuple[int, int]] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        """Whether the heatmaps show only the first part of the text's tokens."""
        return len(self.tokens) < self.n_tokens

    # -- data ---------------------------------------------------------------------------
    def to_dict(self, matrices: bool = True) -> dict:
        """Plain JSON-serialisable data (NaN → ``None``, scores rounded to 4 decimals)."""
        out: dict = {
            "text": self.text,
            "title": self.title,
            "threshold": self.threshold,
            "decoding": self.decoding,
            "mentions": [m.to_dict() for m in self.mentions],
            "gold": None if self.gold is None else [list(g) for g in self.gold],
            "tokens": [{"start": t.start, "end": t.end, "text": t.text} for t in self.tokens],
            "n_tokens": self.n_tokens,
            "truncated": self.truncated,
        }
        if matrices:
            out["span_probs"] = _matrix_to_lists(self.span_probs)
            out["matching"] = _matrix_to_lists(self.matching)
        return out

    def to_displacy(self, style: str = "ent") -> dict:
        """A dict for ``spacy.displacy.render(data, style=style, manual=True)``.

        ``style="ent"``: ``{"text", "ents": [{"start", "end", "label"}], "title"}`` with the
        predicted mentions (label ``MENTION``); displaCy's entity view cannot show overlaps,
        so overlapping mentions are resolved greedily by score. ``style="span"``: predicted
        (``MENTION``) and gold (``GOLD``) mentions over word tokens, overlaps allowed.
        """
        if style == "ent":
            chosen: list[Mention] = []
            for m in sorted(self.mentions, key=lambda m: (-m.score, m.start, m.end)):
                if all(m.end <= c.start or c.end <= m.start for c in chosen):
                    chosen.append(m)
            ents = [{"start": m.start, "end": m.end, "label": "MENTION"} for m in chosen]
            return {"text": self.text, "ents": sorted(ents, key=lambda e: e["start"]), "title": self.title}
        if style == "span":
            words = [(w.start(), w.end()) for w in re.finditer(r"\w+|[^\w\s]", self.text)]
            spans = []
            for label, pairs in (
                ("MENTION", [(m.start, m.end) for m in self.mentions]),
                ("GOLD", list(self.gold or [])),
            ):
                for s, e in pairs:
                    inside = [k for k, (ws, we) in enumerate(words) if we > s and ws < e]
                    if inside:
                        spans.append({"start_token": inside[0], "end_token": inside[-1] + 1, "label": label})
            return {
                "text": self.text,
                "spans": spans,
                "tokens": [self.text[s:e] for s, e in words],
                "title": self.title,
            }
        raise ConfigError(f"displaCy style must be 'ent' or 'span', not '{style}'")

    # -- HTML ---------------------------------------------------------------------------
    def to_fragment(self, style: bool = True, heatmaps: bool = True) -> str:
        """An HTML fragment (a ``<div>``), with its stylesheet unless ``style=False``."""
        parts = [f"<style>{CSS}</style>"] if style else []
        parts.append('<div class="tm-viz">')
        if self.title:
            parts.append(f'<h2 class="tm-title">{_esc(self.title)}</h2>')
        parts.append(LEGEND if self.gold is not None else LEGEND_PRED)
        parts.append(f'<div class="tm-text">{highlight(self.text, self.mentions, self.gold)}</div>')
        parts.append(self._mention_table())
        if heatmaps and self.tokens:
            parts.append(self._heatmaps())
        parts.append("</div>")
        return "".join(parts)

    def to_html(self, heatmaps: bool = True) -> str:
        """A standalone HTML page (no scripts, no external resources)."""
        return page([self], title=self.title or "tommer", heatmaps=heatmaps)

    def save(self, path: str | os.PathLike, heatmaps: bool = True) -> Path:
        """Write :meth:`to_html` to ``path`` (UTF-8)."""
        return write_html(path, [self], title=self.title or "tommer", heatmaps=heatmaps)

    def _repr_html_(self) -> str:
        return self.to_fragment()

    def _mention_table(self) -> str:
        gold = set(self.gold or [])
        rows = []
        pred_spans = set()
        for k, m in enumerate(self.mentions):
            pred_spans.add((m.start, m.end))
            status = ""
            if self.gold is not None:
                status = "correct" if (m.start, m.end) in gold else "not in gold"
            rows.append(
                f'<tr class="tm-row-pred" data-k="{k}"><td>{m.start}</td><td>{m.end}</td>'
                f'<td class="tm-cell-text">{_esc(m.text)}</td><td>{m.score:.3f}</td>'
                f'<td><span class="tm-bar" style="width:{m.score * 60:.0f}px"></span></td>'
                f"<td>{status}</td></tr>"
            )
        for s, e in sorted(gold - pred_spans):
            rows.append(
                f'<tr class="tm-row-missed"><td>{s}</td><td>{e}</td>'
                f'<td class="tm-cell-text">{_esc(self.text[s:e])}</td><td>–</td><td></td><td>missed</td></tr>'
            )
        count = f"{len(self.mentions)} mention{'s' if len(self.mentions) != 1 else ''}"
        if self.gold is not None:
            hits = len(pred_spans & gold)
            count += f" · {hits} of {len(gold)} gold found"
        head = "<tr><th>start</th><th>end</th><th>text</th><th>score</th><th></th><th></th></tr>"
        options = f"threshold {self.threshold:g}, decoding {_esc(self.decoding)}"
        return (
            f'<p class="tm-summary">{count} ({options})</p>'
            f'<table class="tm-mentions">{head}{"".join(rows)}</table>'
        )

    def _heatmaps(self) -> str:
        labels = [t.text for t in self.tokens]
        n = len(self.tokens)
        marks = [(s, e, "pred") for s, e in self.mention_tokens if e < n]
        marks += [(s, e, "gold") for s, e in self.gold_tokens if e < n]
        finite = np.abs(self.matching[np.isfinite(self.matching)])
        scale = float(np.percentile(finite, 98)) if finite.size else 1.0
        scale = scale if scale > 0 else 1.0
        probs = heatmap_svg(
            self.span_probs, labels, _prob_color, "{:.3f}", "span probability", marks, "tm-heat-probs", 0.005
        )
        match = heatmap_svg(
            self.matching,
            labels,
            lambda v: _diverging_color(v / scale),
            "{:+.2f}",
            "token-matching score S",
            marks,
            "tm-heat-matching",
        )
        note = (
            f"Heatmaps show the first {n} of {self.n_tokens} tokens."
            if self.truncated
            else f"Heatmaps show all {n} tokens."
        )
        keys = "predicted <b>■</b>"
        if self.gold is not None:
            keys += ', gold <b class="tm-gold-key">■</b> (dashed)'
        return (
            '<div class="tm-heatmaps">'
            "<figure><figcaption>Span probability (row: end token, column: start token; "
            f"outlined: {keys}; hover a cell for its value)</figcaption>"
            f"{probs}</figure>"
            "<figure><figcaption>Probe token-matching score S (end × start; "
            f"blue negative, red positive, colour scale ±{scale:.2f})</figcaption>{match}</figure>"
            f'</div><p class="tm-note">{note} Raw probabilities, before word-boundary filtering '
            "and decoding.</p>"
        )


# -- computing ------------------------------------------------------------------------------
def _normalise_gold(text: str, gold: Iterable[Gold] | None) -> list[tuple[int, int]] | None:
    if gold is None:
        return None
    out = set()
    for g in gold:
        if isinstance(g, Mention):
            s, e = g.start, g.end
        elif isinstance(g, dict):
            s, e = g.get("start"), g.get("end")
        else:
            try:
                s, e = g
            except (TypeError, ValueError):
                raise ConfigError(f"gold mention {g!r} is not a (start, end) pair") from None
        if not (isinstance(s, int) and isinstance(e, int)) or isinstance(s, bool) or isinstance(e, bool):
            raise ConfigError(f"gold mention {g!r}: start and end must be integers")
        if not 0 <= s < e <= len(text):
            raise ConfigError(f"gold mention ({s}, {e}) is outside the text (length {len(text)})")
        out.add((s, e))
    return sorted(out)


@torch.inference_mode()
def _window_matrices(detector: ProbeDetector, window: Window, encoding: Encoding):
    """Span probabilities (from the detector's engine, as its calls compute them) and token-matching
    scores (the torch probe's, for the heatmap) (T × T, BOS at 0), and the span mask."""
    engine = detector.engine
    shapes = detector.batch_shapes([window], [encoding])
    ids, ids_mask = collate_arrays([window], [encoding], engine.bos_id, engine.pad_id)
    probs = engine.span_probabilities(ids, ids_mask, shapes)[0]
    hidden, _, mask = detector.window_states([window], [encoding])
    feats, valid = detector.probe.features(hidden, mask, None if shapes is None else torch.from_numpy(shapes))
    return probs, feats[0, :, :, 0].numpy(), valid[0].numpy()


def visualize(
    detector: ProbeDetector,
    text: str,
    gold: Iterable[Gold] | None = None,
    threshold: float | None = None,
    decoding: str = DEFAULT_DECODING,
    heatmap_tokens: int = HEATMAP_TOKENS,
    title: str = "",
) -> Visualization:
    """Run ``detector`` on one text and collect what :class:`Visualization` shows.

    ``gold``: optional gold mentions as ``(start, end)`` pairs, :class:`Mention` objects or
    ``{"start", "end"}`` dicts. Mentions equal ``detector(text, threshold, decoding)``; the
    heatmaps cover the first ``heatmap_tokens`` tokens (0: no heatmaps).
    """
    if not isinstance(text, str):
        raise ConfigError(f"text is a {type(text).__name__}, not a str")
    threshold = detector.config.threshold if threshold is None else threshold
    check_options(threshold, decoding)
    if heatmap_tokens < 0:
        raise ConfigError(f"heatmap_tokens must be >= 0, not {heatmap_tokens}")
    gold_spans = _normalise_gold(text, gold)
    encodings, windows = detector.preprocess([text])
    enc = encodings[0]
    n = min(len(enc), heatmap_tokens)
    empty = np.full((n, n), np.nan)
    probs = matching = valid = None
    if len(windows) == 1:  # one pass gives both the mentions and the heatmaps
        probs, matching, valid = _window_matrices(detector, windows[0], enc)
        spans = window_spans(windows[0], enc, probs, threshold)
        mentions = detector.postprocess([text], [enc], [spans], decoding)[0]
    else:
        mentions = detector(text, threshold=threshold, decoding=decoding)
        if n:  # causal backbone: the first n (+1 for e_{i+1}) tokens alone give the same rows
            probs, matching, valid = _window_matrices(
                detector, Window(0, 0, min(len(enc), n + 1), 0, len(enc)), enc
            )
    if n and probs is not None:
        keep = valid[1 : n + 1, 1 : n + 1]
        span_probs = np.where(keep, probs[1 : n + 1, 1 : n + 1], np.nan)
        match = np.where(keep, matching[1 : n + 1, 1 : n + 1], np.nan)
    else:
        span_probs, match = empty, empty.copy()
    tokens = [Token(int(s), int(e), text[s:e]) for s, e in zip(enc.starts[:n], enc.ends[:n])]
    return Visualization(
        text=text,
        mentions=list(mentions),
        tokens=tokens,
        span_probs=span_probs,
        matching=match,
        n_tokens=len(enc),
        threshold=threshold,
        decoding=decoding,
        gold=gold_spans,
        title=title,
        mention_tokens=token_spans_for(enc, [(m.start, m.end) for m in mentions]),
        gold_tokens=token_spans_for(enc, gold_spans or []),
    )


def visualize_many(
    detector: ProbeDetector,
    texts: Sequence[str],
    golds: Sequence[Iterable[Gold] | None] | None = None,
    titles: Sequence[str] | None = None,
    **options,
) -> list[Visualization]:
    """:func:`visualize` for each text (``options``: threshold, decoding, heatmap_tokens)."""
    golds = golds if golds is not None else [None] * len(texts)
    titles = titles if titles is not None else [""] * len(texts)
    return [visualize(detector, t, g, title=h, **options) for t, g, h in zip(texts, golds, titles)]


# -- rendering ------------------------------------------------------------------------------
def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def highlight(text: str, mentions: Sequence[Mention], gold: Sequence[tuple[int, int]] | None = None) -> str:
    """Escaped ``text`` with ``<mark class="tm-pred">`` / ``<mark class="tm-gold">`` elements.

    Nested spans become nested marks; a span that crosses another is split into pieces that
    share its ``data-k`` (pred) or ``data-g`` (gold) index. Hover titles give the scores.
    """
    items = []  # (start, end, kind order, open tag)
    for k, m in enumerate(mentions):
        if m.end > m.start:
            tip = f"{m.text} — score {m.score:.3f} (characters {m.start}–{m.end})"
            tag = (
                f'<mark class="tm-pred" data-k="{k}" data-start="{m.start}" data-end="{m.end}" '
                f'data-score="{m.score:.4f}" data-text="{_esc(m.text)}" '
                f'style="--tm-a:{0.2 + 0.6 * m.score:.2f}" title="{_esc(tip)}">'
            )
            items.append((m.start, m.end, 1, tag))
    for k, (s, e) in enumerate(gold or []):
        tip = f"gold: {text[s:e]} (characters {s}–{e})"
        tag = (
            f'<mark class="tm-gold" data-g="{k}" data-start="{s}" data-end="{e}" '
            f'data-text="{_esc(text[s:e])}" title="{_esc(tip)}">'
        )
        items.append((s, e, 0, tag))
    starts: dict[int, list] = {}
    for it in items:
        starts.setdefault(it[0], []).append(it)
    points = sorted({0, len(text)} | {it[0] for it in items} | {it[1] for it in items})
    out: list[str] = []
    stack: list[tuple] = []
    for p, nxt in zip(points, points[1:] + [None]):
        ending = [d for d, it in enumerate(stack) if it[1] == p]
        if ending:  # close down to the outermost ending mark; reopen the others (split)
            depth = ending[0]
            reopen = sorted((it for it in stack[depth:] if it[1] != p), key=lambda it: (-it[1], it[2]))
            out.append("</mark>" * (len(stack) - depth))
            del stack[depth:]
            for it in reopen:
                out.append(it[3])
                stack.append(it)
        for it in sorted(starts.get(p, []), key=lambda it: (-it[1], it[2])):
            out.append(it[3])
            stack.append(it)
        if nxt is not None:
            out.append(_esc(text[p:nxt]))
    out.append("</mark>" * len(stack))
    return "".join(out)


def _mix(stops: Sequence[tuple[float, tuple[int, int, int]]], x: float) -> str:
    x = min(max(x, stops[0][0]), stops[-1][0])
    for (x0, c0), (x1, c1) in zip(stops, stops[1:]):
        if x <= x1:
            t = 0.0 if x1 == x0 else (x - x0) / (x1 - x0)
            r, g, b = (round(a + (b - a) * t) for a, b in zip(c0, c1))
            return f"#{r:02x}{g:02x}{b:02x}"
    return "#000000"


def _prob_color(p: float) -> str:
    return _mix([(0.0, (255, 255, 255)), (0.5, (253, 174, 97)), (1.0, (189, 0, 38))], p)


def _diverging_color(v: float) -> str:
    return _mix([(-1.0, (33, 102, 172)), (0.0, (255, 255, 255)), (1.0, (178, 24, 43))], v)


def _label(token: str, width: int = 12) -> str:
    token = token if token.strip() else "·"
    return token if len(token) <= width else token[: width - 1] + "…"


def heatmap_svg(
    values: np.ndarray,
    labels: Sequence[str],
    color,
    fmt: str,
    name: str,
    marks: Sequence[tuple[int, int, str]] = (),
    css_class: str = "",
    skip_below: float = 0.0,
) -> str:
    """An inline SVG heatmap of an (end × start) matrix; NaN cells (masked) stay grey.

    Cells with ``|value| < skip_below`` are not drawn one by one (they show the white of
    their row, which is colour 0). ``marks``: ``(start, end, kind)`` token spans to outline
    (kind ``pred`` or ``gold``). Hover a cell for its tokens and value.
    """
    n = len(labels)
    short = [_label(t) for t in labels]
    cell = int(min(22, max(7, 640 // max(n, 1))))
    font = max(6, min(11, cell - 2))
    margin = int(10 + 0.62 * font * max((len(s) for s in short), default=1))
    left, top = margin, int(margin * 0.9) + 4
    width, height = left + n * cell + 8, top + n * cell + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="tm-heatmap tm-c{cell} {css_class}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_esc(name)}" font-size="{font}" font-family="ui-monospace,Menlo,Consolas,monospace">'
        f"<style>svg.tm-c{cell} rect.c{{width:{cell}px;height:{cell}px}}</style>",
        f'<rect x="{left}" y="{top}" width="{n * cell}" height="{n * cell}" fill="#eeeeee"/>',
    ]
    for i, lab in enumerate(short):
        y = top + i * cell + cell / 2
        parts.append(
            f'<text x="{left - 3}" y="{y:.1f}" text-anchor="end" dominant-baseline="central">'
            f"{_esc(lab)}</text>"
        )
        x = left + i * cell + cell / 2
        parts.append(f'<text transform="translate({x:.1f},{top - 3}) rotate(-60)">{_esc(lab)}</text>')
    finite = np.isfinite(values)
    for i in range(n):  # white runs under each row's valid cells
        cols = np.flatnonzero(finite[i])
        for run in np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1) if cols.size else []:
            parts.append(
                f'<rect x="{left + run[0] * cell}" y="{top + i * cell}" width="{len(run) * cell}" '
                f'height="{cell}" fill="#ffffff"/>'
            )
    for i, j in zip(*np.nonzero(finite)):
        v = float(values[i, j])
        if abs(v) < skip_below:
            continue
        tip = f"{short[j]} … {short[i]} (tokens {j}–{i}): {fmt.format(v)}"
        parts.append(
            f'<rect class="c" x="{left + j * cell}" y="{top + i * cell}" fill="{color(v)}">'
            f"<title>{_esc(tip)}</title></rect>"
        )
    for s, e, kind in marks:
        dash = ' stroke-dasharray="3 2"' if kind == "gold" else ""
        stroke = "#1b7f3b" if kind == "gold" else "#111111"
        parts.append(
            f'<rect class="tm-mark-{kind}" x="{left + s * cell + 0.75}" y="{top + e * cell + 0.75}" '
            f'width="{cell - 1.5}" height="{cell - 1.5}" fill="none" stroke="{stroke}" '
            f'stroke-width="1.5"{dash}/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def page(visualizations: Sequence[Visualization], title: str = "tommer", heatmaps: bool = True) -> str:
    """A standalone HTML page with every visualisation (one stylesheet, no scripts)."""
    body = "".join(v.to_fragment(style=False, heatmaps=heatmaps) for v in visualizations)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}{PAGE_CSS}</style></head>"
        f"<body><h1>{_esc(title)}</h1>{body}</body></html>\n"
    )


def write_html(
    path: str | os.PathLike,
    visualizations: Sequence[Visualization],
    title: str = "tommer",
    heatmaps: bool = True,
) -> Path:
    """Write :func:`page` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(page(visualizations, title, heatmaps), encoding="utf-8")
    return path


def _matrix_to_lists(values: np.ndarray) -> list[list[float | None]]:
    return [[None if math.isnan(v) else round(float(v), 4) for v in row] for row in values.tolist()]


CSS = """
.tm-viz{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;margin:0 0 1.5em}
.tm-viz .tm-title{font-size:1.1em;margin:.4em 0}
.tm-viz .tm-text{white-space:pre-wrap;line-height:2.1;font-size:1.05em;padding:.6em .8em;
  border:1px solid #ddd;border-radius:6px;background:#fff}
.tm-viz mark{color:inherit;background:none}
.tm-viz mark.tm-pred{background:rgba(255,140,0,var(--tm-a,.5));border:1px solid #d97800;
  border-radius:4px;padding:.1em .15em;cursor:help}
.tm-viz mark.tm-pred mark.tm-pred{padding:0 .1em}
.tm-viz mark.tm-gold{border-bottom:3px solid #1b7f3b;padding-bottom:.05em;cursor:help}
.tm-viz .tm-legend{font-size:.85em;color:#555;margin:.3em 0}
.tm-viz .tm-legend mark{margin:0 .3em}
.tm-viz .tm-summary{font-size:.9em;color:#444;margin:.6em 0 .2em}
.tm-viz table.tm-mentions{border-collapse:collapse;font-size:.85em}
.tm-viz table.tm-mentions td,.tm-viz table.tm-mentions th{padding:.15em .6em;text-align:left;
  border-bottom:1px solid #eee}
.tm-viz .tm-cell-text{font-weight:600}
.tm-viz .tm-row-missed{color:#1b7f3b}
.tm-viz .tm-bar{display:inline-block;height:.7em;background:#f08c00;border-radius:2px}
.tm-viz .tm-heatmaps{display:flex;flex-wrap:wrap;gap:1.5em;margin-top:.8em}
.tm-viz figure{margin:0;overflow:auto;max-width:100%}
.tm-viz figcaption{font-size:.8em;color:#555;margin-bottom:.3em;max-width:44em}
.tm-viz .tm-gold-key{color:#1b7f3b}
.tm-viz .tm-note{font-size:.8em;color:#666}
.tm-viz svg.tm-heatmap rect:hover{stroke:#000;stroke-width:1}
"""

PAGE_CSS = """
body{max-width:1200px;margin:1.5em auto;padding:0 1em;font-family:system-ui,sans-serif}
h1{font-size:1.3em}
.tm-viz{border-top:1px solid #ddd;padding-top:.8em}
"""

LEGEND_PRED = (
    '<div class="tm-legend">Legend: <mark class="tm-pred" style="--tm-a:.6">predicted mention</mark>'
    " (stronger colour = higher score; hover for the score)</div>"
)
LEGEND = (
    '<div class="tm-legend">Legend: <mark class="tm-pred" style="--tm-a:.6">predicted mention</mark>'
    '<mark class="tm-gold">gold mention</mark> (hover for scores)</div>'
)

__all__ = ["HEATMAP_TOKENS", "Token", "Visualization", "highlight", "page", "visualize", "visualize_many"]
