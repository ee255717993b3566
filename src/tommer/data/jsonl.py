"""JSON text that can always be written as UTF-8.

JSON may carry lone surrogates (``"\\udcff"``); Python reads them into a ``str`` that has no UTF-8
form. :func:`dumps` keeps other characters as they are and escapes only such records, so the
output is valid UTF-8 and reads back to exactly the input.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def _plain(value):
    """JSON for the non-JSON values a Parquet row may hold: dates as ISO 8601, bytes as base64."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal | datetime.timedelta):
        return str(value)
    raise TypeError(f"{type(value).__name__} values cannot be written as JSON")


def dumps(value) -> str:
    """``json.dumps`` without ASCII escapes, unless the value holds a lone surrogate."""
    text = json.dumps(value, ensure_ascii=False, default=_plain)
    return json.dumps(value, default=_plain) if _SURROGATE.search(text) else text


__all__ = ["dumps"]
