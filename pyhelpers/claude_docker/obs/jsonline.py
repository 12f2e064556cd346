"""One JSON line per record, for the logs every operation appends to.

The standard `json` module costs ~9 ms to import (its decoder pulls in `re`), which is a third of what a
`log_event` call may take as a whole process. This encoder uses the same C string escaper `json.dumps`
uses (`_json.encode_basestring`, ensure_ascii=False), so strings come out exactly as json.dumps writes
them: control characters escaped, one line always.
"""

from __future__ import annotations

import math
from _json import encode_basestring


def dumps(value) -> str:
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no JSON form")
        return float.__repr__(value)
    if isinstance(value, dict):
        return "{" + ",".join(encode_basestring(str(k)) + ":" + dumps(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"{type(value).__name__} has no JSON form")


def line(value) -> bytes:
    return (dumps(value) + "\n").encode("utf-8")
