"""Managed items as digests, on either side: the repository's (from a revision's Desired) and the host's (from
Claude's files now). What compare.py compares; shared by reconcile and detect_drift."""

from __future__ import annotations

from claude_docker.gitops import compare, record
from claude_docker.gitops.hostfiles import BLOCKED, BROKEN, HostFiles
from claude_docker.jsonmerge import MISSING


def repo_values(desired) -> dict[str, object]:
    """ident -> the repository's value: bytes for a file, the JSON value for an owned key."""
    values: dict[str, object] = {record.item_id(record.FILE, (rel,)): data for rel, data in desired.files.items()}
    for target, owned in desired.keyed.items():
        for path, value in owned.items():
            values[record.item_id(target, path)] = value
    return values


def digest(digester: record.Digester, value: object) -> str | None:
    return digester.of_bytes(value) if isinstance(value, bytes) else digester.of_value(value)


def host_digest(host: HostFiles, ident: str, digester: record.Digester) -> str | None:
    """The host's value of one item as a digest; None when absent; BROKEN / BLOCKED when it can't be compared
    (never equal to a repository digest, so it always reads as changed here)."""
    target, path = record.parse_id(ident)
    if target == record.FILE:
        return digester.of_bytes(host.read(path[0]))
    value = host.value(target, path)
    if value is BROKEN or value is BLOCKED:
        return value
    return None if value is MISSING else digester.of_value(value)


def host_digests(host: HostFiles, idents, digester: record.Digester) -> dict[str, str | None]:
    return {i: host_digest(host, i, digester) for i in idents}


def recorded(rec: dict, host: HostFiles, digester: record.Digester) -> list[compare.Item]:
    """The comparison at the recorded revision, from the record alone: no git, no decryption."""
    return compare.compare({i: v["repo"] for i, v in rec["items"].items() if v["repo"]},
                           {i: v["applied"] for i, v in rec["items"].items()},
                           host_digests(host, list(rec["items"]), digester))


def read_revision(src, rev: str):
    """A revision's desired config (layout.Desired), read from the mirror's objects, the SOPS file decrypted."""
    from claude_docker.gitops import layout, sops

    return layout.read(src.entries(rev), lambda oids: src.read(rev, oids, layout.MAX_FILE), sops.decrypt)
