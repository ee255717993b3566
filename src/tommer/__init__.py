"""tommer: entity mention detection by probing an early layer of a frozen language model.

>>> import tommer
>>> detector = tommer.load()
>>> detector("Angela Merkel met Emmanuel Macron in Paris.")
"""

from .core.layout import DEFAULT_MODEL
from .core.outputs import as_pipeline_output
from .data.mention import AnnotatedText, Mention
from .errors import TommerError

__version__ = "0.1.0"

_DETECTOR_NAMES = ("DetectorConfig", "MentionDetector", "load")


def __getattr__(name: str):
    """The detector (and so torch) is imported on first use, not with the package: spaCy imports
    ``tommer.integrations.spacy_component`` (and so this package) for every ``spacy.blank()``."""
    if name in _DETECTOR_NAMES:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'tommer' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODEL",
    "AnnotatedText",
    "DetectorConfig",
    "Mention",
    "MentionDetector",
    "TommerError",
    "__version__",
    "as_pipeline_output",
    "load",
]
