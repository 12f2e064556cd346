"""The GitOps audit trail: one JSON line per apply, hold-back, rollback and drift, hash-chained.

Each entry carries `seq` (1, 2, …), `prev` (the hash of the entry before it) and `hash` = sha256 of `prev` and
the entry's canonical JSON without `hash`. An edited entry no longer matches its hash; a re-hashed one breaks
the next entry's `prev`; a removed one leaves a gap in `seq`. Removing the last entries leaves no gap, so the
head file `<trail>.head` records the last seq and hash written. Detection, not prevention: whoever can write
the files can rewrite the whole chain, so the chain shows accidents and clumsy edits, not a determined forger.

Values are never written, only `digest`s of them, keyed so that a short or guessable secret can't be found by
hashing candidates. A damaged line (a torn write, an edit that broke the JSON) is reported, never raised: the
trail is evidence, and one bad line must not hide the others.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from claude_docker import fsio, locking
from claude_docker.paths import ensure_private_dir

GENESIS = "0" * 64  # the `prev` of entry 1
CHAIN = ("seq", "time", "prev", "hash")  # the fields append adds
# Reading back from the end of the trail for its last entry: a block at a time, up to the longest entry.
TAIL_BLOCK = 1 << 16
MAX_ENTRY = 1 << 24


def canonical(value: object) -> bytes:
    """The one byte form of a JSON value that hashes compare: sorted keys, no spaces, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _hash(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(str(entry.get("prev", "")).encode() + canonical(body)).hexdigest()


def digest(value: object, key: bytes) -> str:
    """What the trail records for a value: its keyed hash, never the value. Equal values give equal digests
    under one key, so a change shows without showing what it was."""
    import hmac

    return "hmac-sha256:" + hmac.new(key, canonical(value), hashlib.sha256).hexdigest()[:32]


def head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


def _lock(path: Path):
    return locking.locked(path.with_suffix(".lock"))


def _parse(number: int, line: bytes) -> dict:
    """An entry, or {"line": number, "damaged": why} in its place."""
    try:
        entry = json.loads(line)
    except ValueError:
        return {"line": number, "damaged": "not JSON"}
    if not isinstance(entry, dict):
        return {"line": number, "damaged": "not a JSON object"}
    seq, prev, hash_ = entry.get("seq"), entry.get("prev"), entry.get("hash")
    if type(seq) is not int or seq < 1 or not isinstance(prev, str) or not isinstance(hash_, str):
        return {"line": number, "damaged": "not an audit entry (no seq, prev or hash)"}
    return entry


def read(path: Path) -> list[dict]:
    """Every entry in file order; a damaged line is {"line": N, "damaged": why} in its place. No trail: []."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [_parse(n, line) for n, line in enumerate(data.splitlines(), 1) if line.strip()]


def _read_head(path: Path) -> dict | None:
    """{"seq", "hash"} as the last append left them; None when there is none; {"damaged": why} when unreadable."""
    try:
        head = json.loads(head_path(path).read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        return {"damaged": "not JSON"}
    if not isinstance(head, dict) or type(head.get("seq")) is not int or not isinstance(head.get("hash"), str):
        return {"damaged": "no seq or hash"}
    return head


def _last(path: Path) -> tuple[dict | None, bool]:
    """The last intact entry of the trail, read back from its end, and whether the file ends in a newline
    (a torn last line doesn't: the next entry must start on a line of its own)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None, True
    try:
        end = os.fstat(fd).st_size
        tail = b""
        pos = end
        while pos > 0 and len(tail) <= MAX_ENTRY:
            step = min(TAIL_BLOCK, pos)
            pos -= step
            tail = os.pread(fd, step, pos) + tail
            lines = tail.split(b"\n")
            # The first piece may be cut: it is whole only once the read reached the file's start.
            for line in reversed(lines if pos == 0 else lines[1:]):
                entry = _parse(0, line) if line.strip() else None
                if entry is not None and "damaged" not in entry:
                    return entry, tail.endswith(b"\n")
        return None, end == 0 or tail.endswith(b"\n")
    finally:
        os.close(fd)


def append(path: Path, entry: dict) -> dict:
    """Add `entry` to the trail, chained to the last one; the entry as written. A broken chain is appended
    to all the same: the break stays where it is, detectable, and this entry is recorded."""
    for field in CHAIN:
        if field in entry:
            raise ValueError(f"an audit entry sets its own {field!r}")
    ensure_private_dir(path.parent)
    with _lock(path):
        last, whole = _last(path)
        head = _read_head(path)
        seq, prev = (last["seq"], last["hash"]) if last else (0, GENESIS)
        if head is not None and "damaged" not in head and head["seq"] > seq:
            # The last entries were removed: carry on after them, so the gap shows as a removal in the middle
            # instead of being papered over by a new entry of the same number.
            seq, prev = head["seq"], head["hash"]
        written = {"seq": seq + 1, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "prev": prev,
                   **entry}
        written["hash"] = _hash(written)
        fsio.append_durable(path, (b"" if whole else b"\n") + canonical(written) + b"\n")
        # A crash here leaves the head one entry behind the trail, which verify allows.
        fsio.write_atomic(head_path(path), canonical({"seq": written["seq"], "hash": written["hash"]}), 0o600)
    return written


def _span(first: int, last: int) -> str:
    return f"entry {first}" if first == last else f"entries {first}-{last}"


def _gaps(present: list[int], head_seq: int) -> list[str]:
    """The seqs no entry holds, between the ones present (sorted) and up to the head, as runs."""
    problems = []
    previous = 0
    for seq in present:
        if seq > previous + 1:
            problems.append(f"{_span(previous + 1, seq - 1)}: removed (seq jumps {previous} -> {seq})")
        previous = seq
    if head_seq > previous:
        count = head_seq - previous
        what = "the last entry was" if count == 1 else f"the last {count} entries were"
        problems.append(f"{what} removed (the head says {head_seq})")
    return problems


def verify(path: Path) -> tuple[int, list[str]]:
    """How many entries were checked, and every problem found, each as one line naming the entry."""
    if not path.parent.is_dir():
        return 0, []  # no trail was ever written there
    with _lock(path):
        entries = read(path)
        head = _read_head(path)
    problems = [f"line {e['line']}: damaged ({e['damaged']})" for e in entries if "damaged" in e]
    chain = [e for e in entries if "damaged" not in e]
    by_seq: dict[int, dict] = {}
    highest = 0
    for entry in chain:
        seq = entry["seq"]
        if entry["hash"] != _hash(entry):
            problems.append(f"entry {seq}: edited (its hash doesn't match)")
        if seq in by_seq:
            problems.append(f"entry {seq}: duplicated (it is there twice)")
        elif seq < highest:
            problems.append(f"entry {seq}: reordered (it comes after entry {highest})")
        by_seq.setdefault(seq, entry)
        highest = max(highest, seq)
    for seq, entry in by_seq.items():
        before = by_seq.get(seq - 1, {"hash": GENESIS} if seq == 1 else None)
        if before is not None and entry["prev"] != before["hash"]:
            problems.append(f"entry {seq}: doesn't follow entry {seq - 1} (its prev doesn't match that hash)")
    head_seq = 0
    if head is not None and "damaged" in head:
        problems.append(f"the head file {head_path(path).name} is damaged ({head['damaged']})")
    elif head is not None:
        head_seq = head["seq"]
        at_head = by_seq.get(head_seq)
        if at_head is not None and at_head["hash"] != head["hash"]:
            problems.append(f"entry {head_seq}: replaced (the head has another hash)")
    if highest > head_seq + 1:  # one ahead is an append interrupted before it wrote the head
        problems.append(f"entries after {head_seq} were not added by an append (the head says {head_seq})"
                        if head is not None else f"the head file {head_path(path).name} is missing")
    problems.extend(_gaps(sorted(by_seq), head_seq))
    return len(chain), problems
