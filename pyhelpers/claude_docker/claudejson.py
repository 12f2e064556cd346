"""JSON as Claude Code reads and writes it: what its JSON.parse accepts, written back so that it reads the same.

Two decoders, one result. The stdlib's, reading the text as Node does (bytes that are not UTF-8 become
U+FFFD before JSON.parse sees them; a lone UTF-16 surrogate escape, which JSON.stringify writes when it cut a
string inside an emoji, is kept), refusing what JSON.parse refuses (NaN, Infinity), and taking integers as
orjson does. And orjson, ~2x faster but strict (it refuses those bytes and surrogates: those few documents
take the stdlib's path). orjson's import costs ~12 ms in a process that has not loaded it yet (it pulls in
uuid, datetime, platform...), as much as the stdlib's slower parse of ~1.5 MiB: a session's sync, which
parses three small versions of `.claude.json`, stays with the stdlib (`orjson_pays`).
"""

from __future__ import annotations

import sys

# From this size a document is parsed with orjson even if that means importing it.
ORJSON_FROM = 512 << 10


def orjson_pays(size: int) -> bool:
    """Is orjson the cheaper decoder for a document of `size` bytes, counting its import?"""
    return size >= ORJSON_FROM or "orjson" in sys.modules


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _integer(text: str) -> int | float:
    """An integer as orjson reads it (and as JavaScript does, approximately): exact within 64 bits, beyond
    that a float, so that one document reads the same whichever decoder took it."""
    value = int(text)
    return value if -(1 << 63) <= value < (1 << 64) else float(text)


def stdlib_loads(text: str) -> object:
    """The stdlib's decoder, reading numbers as orjson does (NaN and Infinity refused, integers as above).
    RecursionError if nested deeper than the stdlib goes (orjson goes to 1024)."""
    import json

    return json.loads(text, parse_constant=_refuse_constant, parse_int=_integer)


def lenient_loads(raw: bytes) -> object:
    """What Claude Code reads in `raw`, with the stdlib alone (no orjson import: the check at every start).
    "replace" is Node's and Bun's decoding too: one U+FFFD per maximal invalid subsequence."""
    return stdlib_loads(raw.decode("utf-8", "replace"))


def is_utf8(raw: bytes) -> bool:
    """Can these bytes go to the host as they are? Other readers (a strict parser, a backup's check) must
    read what Claude Code reads."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def loads(raw: bytes) -> object:
    """The document in `raw`. ValueError if Claude Code could not read it either."""
    if not orjson_pays(len(raw)):
        try:
            return lenient_loads(raw)
        except (ValueError, RecursionError):
            pass  # refused: orjson says why (or, nested deeper than the stdlib goes, reads it)
    import orjson

    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        strict = exc
    try:
        return lenient_loads(raw)
    except (ValueError, RecursionError):
        raise strict from None


def dumps(value: object) -> bytes:
    """`value` as indented JSON text. A lone surrogate (which UTF-8 can't hold) is written as its escape,
    as JSON.stringify writes it: surrogates occur only inside JSON strings, where the escape is the same."""
    import orjson

    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2)
    except orjson.JSONEncodeError:
        import json

        return json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8", "backslashreplace")
