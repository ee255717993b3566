"""tommer: entity mention detection by probing an early layer of a frozen language model.

>>> import tommer
>>> detector = tommer.load()
>>> detector("Angela Merkel met Emmanuel Macron in Paris.")
"""

from .detector import DEFAULT_MODEL, DetectorConfig, MentionDetector, load
from .errors import TommerError
from .mention import AnnotatedText, Mention
from .outputs import as_pipeline_output

__version__ = "0.1.0"

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
