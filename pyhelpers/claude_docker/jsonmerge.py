"""Three-way merge of JSON documents: what a session changed, applied over what the host has now.

Objects merge key by key, recursively; anything else (strings, numbers, lists) is one value.
For each key: a side that left the base value alone takes the other side's value. When both sides
changed it differently, that is a true conflict, settled by the documented rule:

1. Credential-like objects (both carry a numeric `expiresAt`): the later expiry wins, so an older
   OAuth token never replaces a newer one (refresh tokens are single-use).
2. An edit beats a deletion: a value is never lost to a removal made concurrently.
3. Otherwise the session being synced (the later writer) wins.

Every conflict is reported with its key path, never with its values (they may be secrets).
"""

from __future__ import annotations

from collections import namedtuple

MISSING = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


class Conflict(namedtuple("Conflict", "path winner reason")):
    """A key both sides changed: its path, whose value was kept ("session" or "host"), and why."""

    __slots__ = ()

    def describe(self) -> str:
        return f"{'.'.join(self.path) or '<root>'}: kept the {self.winner}'s value ({self.reason})"


def same(a: object, b: object) -> bool:
    """Strict JSON equality: `1`, `1.0` and `true` are different values (Python's == says otherwise)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, (dict, list)) and a == b and repr(a) == repr(b):
        # Both at C speed, for the large equal parts of two versions of a document. Equal under == with equal
        # reprs is strictly equal: 1, 1.0 and True have different reprs, and JSON keys are strings.
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def _expiry(value: object) -> float | None:
    if isinstance(value, dict):
        exp = value.get("expiresAt")
        if isinstance(exp, (int, float)) and not isinstance(exp, bool):
            return float(exp)
    return None


def _resolve(ours: object, theirs: object) -> tuple[str, str]:
    ours_exp, theirs_exp = _expiry(ours), _expiry(theirs)
    if ours_exp is not None and theirs_exp is not None:
        return ("session", "later token expiry") if ours_exp >= theirs_exp else ("host", "later token expiry")
    if ours is MISSING:
        return "host", "an edit beats a deletion"
    if theirs is MISSING:
        return "session", "an edit beats a deletion"
    return "session", "the later writer wins"


def merge3(base: object, ours: object, theirs: object, path: tuple[str, ...] = ()) -> tuple[object, list[Conflict]]:
    """Merge `ours` (the session's result) and `theirs` (the host's current value) against `base`.

    Any argument may be MISSING (the key is absent). Returns the merged value (MISSING: delete it)
    and the conflicts met on the way.
    """
    if theirs is base:  # the host's is the very document the session started from (parsed once)
        return ours, []
    if same(ours, theirs):
        return ours, []
    if same(ours, base):
        return theirs, []
    if same(theirs, base):
        return ours, []
    if isinstance(ours, dict) and isinstance(theirs, dict) and (base is MISSING or isinstance(base, dict)) \
            and (_expiry(ours) is None or _expiry(theirs) is None):
        return _merge_objects(base if base is not MISSING else {}, ours, theirs, path)
    winner, reason = _resolve(ours, theirs)
    return (ours if winner == "session" else theirs), [Conflict(path, winner, reason)]


def _merge_objects(base: dict, ours: dict, theirs: dict, path: tuple[str, ...]) -> tuple[dict, list[Conflict]]:
    merged: dict = {}
    conflicts: list[Conflict] = []
    # The host's key order first, then keys only the session added, in the session's order.
    keys = list(theirs) + [k for k in ours if k not in theirs] + [k for k in base if k not in theirs and k not in ours]
    for key in keys:
        value, found = merge3(base.get(key, MISSING), ours.get(key, MISSING), theirs.get(key, MISSING), path + (key,))
        conflicts.extend(found)
        if value is not MISSING:
            merged[key] = value
    return merged, conflicts
