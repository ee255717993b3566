"""Output formats for mentions: tommer's own dicts, or Hugging Face ``token-classification`` dicts.

The ``pipeline`` format is what ``transformers.pipeline("token-classification",
aggregation_strategy="simple")`` returns, so code written for it can take tommer's output:
``{"entity_group", "score", "word", "start", "end"}`` per mention. ``entity_group`` is always
present: the mention's type when a type head labelled it, else a default label ("MENTION").
"""

from __future__ import annotations

from collections.abc import Sequence

from ..data.mention import Mention
from ..errors import ConfigError

DEFAULT_LABEL = "MENTION"
OUTPUT_FORMATS = ("mentions", "dicts", "pipeline")


def pipeline_dict(mention: Mention, default_label: str = DEFAULT_LABEL) -> dict:
    """One mention as a Hugging Face ``token-classification`` (aggregated) dict."""
    return {
        "entity_group": mention.label if mention.label is not None else default_label,
        "score": float(mention.score),
        "word": mention.text,
        "start": mention.start,
        "end": mention.end,
    }


def _is_mention_list(item: object) -> bool:
    return (
        isinstance(item, Sequence)
        and not isinstance(item, str | bytes)
        and all(isinstance(m, Mention) for m in item)
    )


def as_pipeline_output(
    mentions: Sequence[Mention] | Sequence[Sequence[Mention]], default_label: str = DEFAULT_LABEL
) -> list[dict] | list[list[dict]]:
    """Mentions of one text → a list of pipeline dicts; mentions of several texts → a list of lists.

    >>> as_pipeline_output([Mention(0, 5, "Paris", 0.9)])
    [{'entity_group': 'MENTION', 'score': 0.9, 'word': 'Paris', 'start': 0, 'end': 5}]
    """
    if not isinstance(default_label, str) or not default_label:
        raise ConfigError(f"default_label must be a non-empty string, not {default_label!r}")
    out: list = []
    for k, item in enumerate(mentions):
        if isinstance(item, Mention):
            out.append(pipeline_dict(item, default_label))
        elif _is_mention_list(item):
            out.append([pipeline_dict(m, default_label) for m in item])
        else:
            raise ConfigError(f"item #{k} is a {type(item).__name__}, not a Mention or a list of Mentions")
    if any(isinstance(x, dict) for x in out) and any(isinstance(x, list) for x in out):
        raise ConfigError("give the mentions of one text, or one list of mentions per text, not a mix")
    return out


def format_mentions(
    mentions: Sequence[Mention], output: str = "mentions", default_label: str = DEFAULT_LABEL
) -> list:
    """The mentions of one text in an output format.

    ``mentions``: the :class:`Mention` objects; ``dicts``: ``Mention.to_dict()`` (the CLI's JSON);
    ``pipeline``: Hugging Face ``token-classification`` dicts.
    """
    if output == "mentions":
        return list(mentions)
    if output == "dicts":
        return [m.to_dict() for m in mentions]
    if output == "pipeline":
        return [pipeline_dict(m, default_label) for m in mentions]
    raise ConfigError(f"unknown output format '{output}' (choose from {', '.join(OUTPUT_FORMATS)})")


__all__ = ["DEFAULT_LABEL", "OUTPUT_FORMATS", "as_pipeline_output", "format_mentions", "pipeline_dict"]
