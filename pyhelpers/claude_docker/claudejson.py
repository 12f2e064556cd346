"""JSON as Claude Code reads and writes it: what its JSON.parse accepts, written back so that it reads the same.

orjson (fast, strict) first. It refuses two things Claude Code's runtime accepts: a lone UTF-16 surrogate
escape (`"\\ud83d"`, which JSON.stringify writes when a string was cut inside an emoji), and bytes that are
not UTF-8 (read as U+FFFD before JSON.parse sees them). Those few files take the stdlib's slower path, which
accepts both and refuses what JSON.parse refuses (NaN, Infinity).
"""

from __future__ import annotations


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def loads(raw: bytes) -> object:
    """The document in `raw`. ValueError if Claude Code could not read it either."""
    import orjson

    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        strict = exc
    import json

    try:
        # "replace" is Node's and Bun's decoding too: one U+FFFD per maximal invalid subsequence.
        return json.loads(raw.decode("utf-8", "replace"), parse_constant=_refuse_constant)
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
