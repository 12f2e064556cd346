"""What every record of this process carries: its trace, span, session, project and image slot.

The session runner binds these once; a standalone process (a `log_event` from the shell) joins the trace
in TRACEPARENT if there is a valid one, else starts its own.
"""

from __future__ import annotations

import os
import time

_bound: dict = {}
_fragment: list = [None]  # the bound context as encoded JSON members, rebuilt after each bind
CONTEXT_KEYS = ("trace_id", "span_id", "session", "project", "slot", "deployment")


def bind(**values) -> None:
    # Paths may hold bytes that are not UTF-8 (lone surrogates here): records must stay valid JSON.
    _bound.update({k: clean_text(str(v))[0] for k, v in values.items() if v is not None})
    _fragment[0] = None


def current() -> dict:
    if "trace_id" not in _bound:
        from claude_docker.obs.tracing import new_span_id, new_trace_id, parse_traceparent

        parent = parse_traceparent(os.environ.get("TRACEPARENT"))
        _bound["trace_id"], _bound["span_id"] = parent[:2] if parent else (new_trace_id(), new_span_id())
        _fragment[0] = None
    return _bound


def fragment() -> str:
    """`,"trace_id":"…","span_id":"…",…`: the context members every record of this process carries,
    encoded once rather than for each of thousands of records."""
    if _fragment[0] is None:
        from claude_docker.obs.jsonline import dumps

        ctx = current()
        _fragment[0] = "".join(f',"{k}":{dumps(ctx[k])}' for k in CONTEXT_KEYS if ctx.get(k))
    return _fragment[0]



_second: list = [-1, ""]


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds: sorts as text in time order."""
    now = time.time()
    second = int(now)
    if second != _second[0]:
        _second[0], _second[1] = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{_second[1]}.{int(now * 1000) % 1000:03d}Z"


def utc_seconds(iso: str) -> float | None:
    """Unix time of an ISO 8601 UTC timestamp (ours, with milliseconds, or Docker's, with nanoseconds);
    None if it isn't one."""
    import calendar

    whole, _, fraction = iso.rstrip("Z").partition(".")
    try:
        return calendar.timegm(time.strptime(whole[:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + (fraction or "0"))
    except (ValueError, TypeError):
        return None


def clean_text(value: str) -> tuple[str, str | None]:
    """`value` as valid Unicode, and its exact bytes in base64 when it was not valid UTF-8.

    Shell arguments reach Python with undecodable bytes as lone surrogates, which no JSON encoder can
    write as UTF-8: they become U+FFFD in the text, and the original bytes are kept alongside."""
    try:
        value.encode("utf-8")
        return value, None
    except UnicodeEncodeError:
        import base64

        raw = value.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8", "replace"), base64.b64encode(raw).decode()
