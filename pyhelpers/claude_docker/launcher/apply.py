"""Applying one changed staged file to the host: its verdict from the policy, then a merge by its kind.

* `*.json`: validated, then a 3-way merge against the copy the session started from (jsonmerge); the keyed
  files (`.claude.json`, settings, credentials) first lose the changes the policy doesn't let through;
* `*.jsonl` (prompt history): the lines the session appended are appended to the host's file;
* anything else: taken if the host's copy did not change meanwhile, else the later writer wins.

What the session wrote that is invalid is never applied: it is reported, and kept aside when there is
something to keep. What the policy holds goes to the session's held record (boundary/held.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from claude_docker import claudejson
from claude_docker.boundary import policy
from claude_docker.fsio import append_durable, is_transient, write_atomic
from claude_docker.jsonmerge import MISSING, merge3, same
from claude_docker.launcher.stagedtree import Invalid, StagedTree
from claude_docker.launcher.staging import host_claude
from claude_docker.paths import ensure_private_dir, state_dir

TYPE_CHECKING = False  # not typing's: its import costs milliseconds of claude's start (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.launcher.report import SyncReport
    from claude_docker.sessiondir import SessionDir


def _read_host(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


# A session's JSON that lost more than half of at least this many top-level keys looks truncated (Claude
# Code has shipped bugs that reset .claude.json to a minimal state): it is kept aside, not applied.
TRUNCATION_MIN_KEYS = 4


class Applier:
    """Applies one session's changes to the host, file by file, under the config lock, as the policy allows."""

    def __init__(self, session: SessionDir, report: SyncReport, tree: StagedTree, manifest: dict, held):
        self.session = session
        self.report = report
        self.tree = tree
        self.sid = session.session_id
        self.manifest = manifest
        self.held = held
        self.claude = host_claude(manifest)
        self._parsed: dict[bytes, object] = {}
        self.ctx = policy.Context(projects=tuple(p for p in (manifest.get("project"), manifest.get("cwd")) if p),
                                  account_switched=self._account_switched(), relaxed=policy.relaxed())

    def _account_switched(self) -> bool:
        rec = next((r for r in self.manifest["tracked"] if r["host"] == str(self.claude.claude_json)), None)
        try:
            if rec is None or self.tree.signature(rec["key"]) == rec["staged_stat"]:
                return False  # the session left .claude.json alone: no login of its own (and nothing parsed)
            ours = self.loads(self.tree.read(rec["key"]) or b"{}")
            base = self.loads(self.base(rec) or b"{}")
            theirs = self.loads(_read_host(self.claude.claude_json) or b"{}")
        except (ValueError, Invalid):
            return False
        return policy.account_switched(base, ours, theirs)

    def loads(self, raw: bytes) -> object:
        """claudejson.loads, once per content: `.claude.json`'s versions are read for the account check and
        again for its merge (nothing changes a parsed document in place)."""
        try:
            return self._parsed[raw]
        except KeyError:
            doc = self._parsed[raw] = claudejson.loads(raw)
            return doc

    def keep_aside(self, area: str, name: str, data: bytes) -> Path:
        folder = ensure_private_dir(state_dir() / area / self.sid)
        target = folder / name
        write_atomic(target, data, mode=0o600)
        return target

    def write(self, host: Path, data: bytes) -> None:
        host.parent.mkdir(parents=True, exist_ok=True)
        # An existing file keeps its mode; a new one is private (config holds secrets).
        write_atomic(host, data, mode=None if host.exists() else 0o600)
        self.report.files += 1
        self.report.bytes += len(data)

    def quarantine(self, name: str, why: str, data: bytes | None = None) -> None:
        """Not applied, and said so; the session's bytes, when there are any, are kept where the line says."""
        if data is not None:
            why += f"; the session's copy is kept in {self.keep_aside('quarantine', name, data)}"
        self.report.quarantined.append(f"{name}: {why}")

    def deleted(self, name: str, host: Path) -> None:
        if host.exists():
            self.report.notes.append(f"{name} was deleted in the session; the host's copy is kept")

    def base(self, rec: dict) -> bytes | None:
        path = self.session.base / rec["key"]
        return path.read_bytes() if rec["base_size"] is not None and path.exists() else None

    def root_and_rel(self, host: Path) -> tuple[Path, str]:
        """Where a held item goes: below Claude's config dir, or HOME's `.claude.json`."""
        if host == self.claude.claude_json:
            return host.parent, host.name
        return self.claude.config_dir, str(host.relative_to(self.claude.config_dir))

    def hold_file(self, host: Path, data: bytes | None, verdict: policy.Verdict) -> None:
        root, rel = self.root_and_rel(host)
        self.held.add_file(root, rel, rel, data, verdict)
        self.report.note_held(rel, verdict)

    # --- one function per kind -------------------------------------------------------------------

    def sync_json(self, rec: dict, host: Path, name: str) -> None:
        ours_raw = self.tree.read(rec["key"])
        if ours_raw is None:
            return self.deleted(name, host)
        try:
            self._merge_json(rec, host, name, ours_raw)
        except RecursionError:  # JSON nested deeper than any config: one file, not the session
            self.quarantine(name, "JSON nested too deeply to merge", ours_raw)

    def _merge_json(self, rec: dict, host: Path, name: str, ours_raw: bytes) -> None:
        base = MISSING
        base_raw = self.base(rec)
        if base_raw is not None:
            try:
                base = self.loads(base_raw)
            except ValueError:
                pass  # the host's file was already invalid when the session started: merge as if new
        try:
            ours = self.loads(ours_raw)
        except ValueError as exc:
            return self.quarantine(name, f"invalid JSON ({exc})", ours_raw)
        classify = policy.KEY_POLICIES.get(name) if "/" not in self.root_and_rel(host)[1] else None
        if (isinstance(base, dict) or classify) and not isinstance(ours, dict):
            return self.quarantine(name, f"a JSON {type(ours).__name__} where an object belongs", ours_raw)
        if isinstance(base, dict) and isinstance(ours, dict) and len(base) >= TRUNCATION_MIN_KEYS:
            lost = [k for k in base if k not in ours]
            if 2 * len(lost) > len(base):
                return self.quarantine(name, f"it lost {len(lost)} of its {len(base)} top-level keys "
                                             "(looks truncated)", ours_raw)
        host_raw = _read_host(host)
        theirs = MISSING
        if host_raw is not None:
            try:
                theirs = self.loads(host_raw)
            except ValueError:
                theirs = None
            if not isinstance(theirs, dict):
                # Broken on the host meanwhile: never overwritten by a session, whose copy may be the stub a
                # fresh Claude Code writes. claude-dr brings back the last good one; the session's is kept.
                return self.quarantine(name, f"your {host} is broken, so it was not replaced; run `claude-dr`, "
                                             "then review the session's copy", ours_raw)
        allowed = ours
        if classify is not None:
            allowed, held = policy.filter_changes(classify, base, ours, theirs, self.ctx)
            root, rel = self.root_and_rel(host)
            for change in held:
                label = f"{rel}: {'.'.join(change.path)}"
                self.held.add_key(root, rel, label, change.path, change.value, change.verdict, own_link="/" not in rel)
                self.report.note_held(label, change.verdict)
        merged, conflicts = merge3(base, allowed, theirs)
        if merged is MISSING:
            return  # deleted on the host meanwhile, unchanged in the session
        if conflicts:
            self.report.conflicts += [f"{name}: {c.describe()}" for c in conflicts]
            if host_raw is not None:
                self.keep_aside("conflicts", name + ".host", host_raw)
            self.keep_aside("conflicts", name + ".session", ours_raw)
        if host_raw is not None and same(merged, theirs):
            return
        if not same(theirs, base):
            self.report.merges += 1
        # Unchanged-by-merge output keeps the session's bytes exactly; a real merge is re-serialised, and so are
        # bytes that are not UTF-8 (read as Claude Code reads them: U+FFFD), which a strict reader would refuse.
        data = ours_raw if same(merged, ours) and claudejson.is_utf8(ours_raw) else claudejson.dumps(merged)
        self.write(host, data)

    def sync_log(self, rec: dict, host: Path, name: str) -> None:
        base_size = rec["base_size"] or 0
        tail = self.tree.read(rec["key"], offset=base_size)  # only what the session appended: logs grow large
        if not tail:
            return  # history is append-only: a session never shortens the host's
        tail = tail[: tail.rfind(b"\n") + 1]  # whole lines only
        good, bad = [], []
        for line in tail.splitlines(keepends=True):
            try:
                claudejson.loads(line)
                good.append(line)
            except ValueError:
                if line.strip():
                    bad.append(line)
        if bad:
            self.quarantine(name, f"{len(bad)} invalid line(s)", b"".join(bad))
        data = b"".join(good)
        if not data:
            return
        host_raw = _read_host(host) or b""
        if host_raw.endswith(data):
            return  # appended already, by a sync of this session killed before it could mark it done
        if host_raw and not host_raw.endswith(b"\n"):
            data = b"\n" + data
        host.parent.mkdir(parents=True, exist_ok=True)
        append_durable(host, data)
        self.report.files += 1
        self.report.bytes += len(data)

    def sync_file(self, rec: dict, host: Path, name: str) -> None:
        ours = self.tree.read(rec["key"])
        if ours is None:
            return self.deleted(name, host)
        base = self.base(rec)
        theirs = _read_host(host)
        if ours in (theirs, base):
            return
        if theirs != base:
            self.report.conflicts.append(f"{name}: kept the session's version (the later writer wins)")
            if theirs is not None:
                self.keep_aside("conflicts", name + ".host", theirs)
            self.report.merges += 1
        self.write(host, ours)

    def sync_dir(self, rec: dict, host: Path, name: str) -> None:
        """A directory the session created that was not mounted: what the policy lets through is copied in
        where the host lacks it; the rest is held or refused file by file."""
        prefix = rec["key"] + "/"
        for key in self.tree.files_under(rec["key"]):
            rel = key[len(prefix):]
            dst = host / rel
            if is_transient(os.path.basename(rel)):
                continue
            verdict = policy.config_entry(f"{name}/{rel}")
            if verdict.action == policy.DROP:
                continue
            try:
                data = self.tree.read(key)
            except Invalid as exc:
                self.quarantine(f"{name}/{rel}", str(exc))
                continue
            if data is None:
                continue
            if verdict.action != policy.FLOW:
                self.hold_file(dst, data, verdict)
            elif not dst.exists():
                self.write(dst, data)

    def apply(self, rec: dict) -> None:
        """One changed staged entry, through the policy: by kind when it flows, else held or refused."""
        host = Path(rec["host"])
        name = host.name
        if rec["kind"] != "dir" and not (rec["kind"] == "json" and name in policy.KEYED_FILES):
            verdict = policy.config_entry(self.root_and_rel(host)[1])
            if verdict.action == policy.DROP:
                return
            if verdict.action != policy.FLOW:
                return self.hold_file(host, self.tree.read(rec["key"]), verdict)
        getattr(self, "sync_" + rec["kind"])(rec, host, name)
