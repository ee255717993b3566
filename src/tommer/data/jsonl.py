"""JSON text that can always be written as UTF-8.

JSON may carry lone surrogates (``"\\udcff"``); Python reads them into a ``str`` that has no UTF-8
form. :func:`dumps` keeps other characters as they are and escapes only such records, so the
output is valid UTF-8 and reads back to exactly the input.
"""

from __future__ import annotations

import json
import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(value) -> str:
    """``json.dumps`` without ASCII escapes, unless the value holds a lone surrogate."""
    text = json.dumps(value, ensure_ascii=False)
    return json.dumps(value) if _SURROGATE.search(text) else text


__all__ = ["dumps"]
