"""reconcile_config: Git -> Claude's config, the seed's seven steps (docs/GITOPS.md).

1. fetch     the branch into our bare mirror (source.py); a revision that doesn't descend from the last applied
             one (a force-push) is applied all the same, and said and audited
2. detect    nothing new (same revision and settings) and no drift to heal: done, from the record alone
3. decrypt   + validate: the revision read from git objects, never checked out (layout.py, sops.py); anything
             wrong refuses the whole revision, nothing applied
4. decide    per item, the 3-way comparison (compare.py): apply what the repository changed; keep (and report)
             what the user changed here; hold host commands unless the commit is signed by an allowed signer
5. back up   a config-scope backup through the recovery capability, then the apply under the config lock:
             a journal first (journal.py), each file through the one safe-write path
6. verify    every written file read back and parsed; a smoke run of the session image with the new settings
7. roll back on any failure: the journal's bytes put back, the failure audited, exit GITOPS_ROLLED_BACK

One attempt per (revision, settings): a failed one is retried after `retry`, doubling up to `max_backoff`,
or at once with --force. Every outcome is an audit entry, an event and metrics."""

from __future__ import annotations

import copy
import time
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.gitops import compare, items, journal, record, settings
from claude_docker.gitops.hostfiles import CLAUDE_JSON, HostFiles
from claude_docker.jsonmerge import MISSING
from claude_docker.paths import ClaudeHome

LOCK_WAIT = 60.0
# Keyed targets last: the files a setting may name (an agent, a command) are in place when it lands.
_ORDER = {"file": 0, "settings.json": 1, CLAUDE_JSON: 2}


def audit_file() -> Path:
    return settings.gitops_dir() / "audit.jsonl"


class Reconcile:
    """One run: what it found and did, as the report `reconcile_config` prints (`result()`)."""

    def __init__(self, claude: ClaudeHome | None = None, *, fetch: bool = True, force: bool = False):
        from claude_docker.obs.oplog import OperationLog

        self.values = settings.load()
        self.fp = settings.fingerprint(self.values)
        self.claude = claude or ClaudeHome.from_env()
        self.fetch, self.force = fetch, force
        self.log = OperationLog("gitops.reconcile", **{"claude_docker.source": _shown_source(self.values)})
        self.digest = record.Digester()
        self.report: dict = {"result": None, "revision": None, "applied": [], "held": [], "drift": [], "pruned": [],
                             "notes": [], "trace_id": self.log.trace_id}
        self.context: dict = {}
        self.written: set[str] = set()  # the idents this run applies (display names may collide)
        self.held_ids: set[str] = set()

    # -- the run ------------------------------------------------------------------------------------------
    def run(self) -> dict:
        from claude_docker import locking

        try:
            try:
                with locking.state_lock("gitops-reconcile", LOCK_WAIT, exitcodes.GITOPS_BUSY):
                    self._recover()
                    self._run()
            except OSError as exc:  # a file system's refusal, named: one line, recorded and audited like any
                raise ToolError(_described(exc)) from None
        except ToolError as exc:
            self._failed(exc)
            raise
        self._told()
        return self.report

    def _run(self) -> None:
        rec = record.load()
        src = settings.mirror(self.values)
        with self.log.step("fetch") as step:
            rev = src.fetch() if self.fetch else src.revision()
            if rev is None:
                raise ToolError("the source was never fetched", exitcodes.GITOPS_SOURCE,
                                "run `claude-docker gitops reconcile` (it fetches)")
            step["revision"] = rev
        self.report["revision"] = rev
        if not self.force and rev == rec["revision"] and self.fp == rec["settings"] and self._nothing_new(rec):
            return
        attempt = rec["attempt"]
        if (not self.force and attempt and not attempt["ok"] and attempt["revision"] == rev
                and attempt["settings"] == self.fp and time.time() < attempt["next"]):
            self.report["result"] = "waiting"
            self.report["notes"].append(f"the last attempt at this revision failed ({attempt['error']}); next try "
                                        f"at {_clock(attempt['next'])}, or now with --force")
            return
        self._apply(src, rev, rec)

    def _nothing_new(self, rec: dict) -> bool:
        """Same revision and settings: compare the host with the record alone (no git, no decryption). True
        when that is all there is to do: in sync, or drift kept (self-heal off)."""
        with self.log.step("detect") as step:
            found = items.recorded(rec, HostFiles(self.claude), self.digest)
            # (an item this revision holds stays held: healing it would only hold it again, every cycle)
            held = set(rec.get("held_ids") or [])
            heal = [i for i in found if i.state == compare.LOCAL and i.ident not in held] \
                if self.values["self_heal"] else []
            step["drift"] = sum(i.state in (compare.LOCAL, compare.BOTH) for i in found)
        if heal:
            return False
        pending = rec.get("rollout") or {}
        if pending and not pending.get("done"):
            self._rollout(rec, pending["wanted"])
        self._drift(rec, found)
        self.report["held"] = rec.get("held") or []
        self.report["revision_time"] = rec.get("revision_time")
        self.report["result"] = _result(False, self.report)
        return True

    # -- reading the revision -------------------------------------------------------------------------------
    def _desired(self, src, rev: str):
        with self.log.step("validate") as step:
            desired = items.read_revision(src, rev)
            step["files"] = len(desired.files)
            step["keys"] = sum(len(v) for v in desired.keyed.values())
        return desired

    # -- deciding and applying ------------------------------------------------------------------------------
    def _apply(self, src, rev: str, rec: dict) -> None:
        from claude_docker import locking
        from claude_docker.gitops import hostexec

        desired = self._desired(src, rev)
        commit = src.commit(rev)
        self.report["revision_time"] = _epoch(commit.date)
        rewritten = bool(rec["revision"]) and rec["revision"] != rev and not src.is_ancestor(rec["revision"], rev)
        signature = src.verify(rev, _path_or_none(self.values["allowed_signers"]),
                               tuple(self.values["gpg_fingerprints"]))
        if rewritten:
            self.report["notes"].append(f"the branch was rewritten (force-push): {rec['revision'][:12]} is not an "
                                        f"ancestor of {rev[:12]}; applying {rev[:12]}" + (
                                            "" if self.force else ", its host commands held (an old signed commit "
                                            "pushed back is a replay): `gitops reconcile --force` accepts them"))
            if not self.force:  # (a signature proves who wrote it, not that it is still wanted)
                signature = signature._replace(ok=False, reason="the branch was rewritten")
        trusted = signature.ok or self.values["trust_unsigned"]
        wanted = items.repo_values(desired)
        repo = {i: items.digest(self.digest, v) for i, v in wanted.items()}
        self.context = {"revision": rev, "author": commit.author, "subject": commit.subject,
                        "signer": signature.signer if signature.ok else None, "rewritten": rewritten}
        # Held from decision to verdict (the smoke run included): a session syncing meanwhile would change the
        # files an undo must put back whole.
        with locking.config_lock(self.claude.config_dir, LOCK_WAIT, exitcodes.FAILURE):
            host = HostFiles(self.claude)
            found = compare.compare(repo, {i: v["applied"] for i, v in rec["items"].items()},
                                    items.host_digests(host, set(repo) | set(rec["items"]), self.digest))
            writes, applied = self._decide(found, wanted, trusted, signature, hostexec, host)
            files = self._render(host, writes)
            if files:
                warning = self._backup()
                if warning:
                    self.report["notes"].append(warning)
                try:
                    self._write(host, rev, files)
                    self._smoke(files)
                except BaseException as exc:  # SIGKILL aside (the journal's case), nothing stays half-applied
                    if journal.pending() is None:
                        raise
                    self._undo(exc.message if isinstance(exc, ToolError) else _described(exc))
                journal.end()
        # A new plan needs trust; one taken from a trusted commit before goes on (started once, or still waiting).
        known = (rec.get("rollout") or {}).get("digest")
        rollout_held = desired.rollout is not None and not trusted and \
            self.digest.of_value(desired.rollout) != known
        if rollout_held:
            self._hold("rollout.json", "rollout.json", hostexec.reason("rollout", (), None) or "", signature)
        self._commit(rec, rev, repo, applied, found, files)
        if not rollout_held:
            self._rollout(rec, desired.rollout)

    def _decide(self, found, wanted, trusted: bool, signature, hostexec, host: HostFiles):
        """(writes: ident -> value or MISSING, the record's `applied` digest per ident after this run)."""
        writes: dict[str, object] = {}
        applied: dict[str, str | None] = {}
        prune_ok = bool(wanted)  # never prune to empty: a revision that manages nothing prunes nothing
        if self.values["prune"] and not prune_ok and any(i.prunable for i in found):
            self.report["notes"].append("this revision manages nothing: not pruning to empty")
        for item in found:
            shown = record.describe(item.ident)
            target, path = record.parse_id(item.ident)
            before = host.value(target, path) if target != record.FILE else MISSING
            if item.state == compare.SYNC:
                applied[item.ident] = item.repo
                continue
            if item.state == compare.DROPPED:
                if not (item.prunable and self.values["prune"] and prune_ok):
                    continue  # no longer managed: forgotten (the user's from now on)
                why = hostexec.reason(target, path, MISSING, before)
                if why and not trusted:
                    applied[item.ident] = item.applied  # still ours: pruned by the first trusted revision
                    self._hold(item.ident, shown, why, signature)
                    continue
                writes[item.ident] = MISSING
                self.report["pruned"].append(shown)
                continue
            overwrite = item.state == compare.REPO or self.force or (
                item.state == compare.LOCAL and self.values["self_heal"])
            if not overwrite:
                applied[item.ident] = item.applied
                continue  # drift, kept: reported by _drift
            why = hostexec.reason(target, path, wanted[item.ident], before)
            if why and not trusted:
                applied[item.ident] = item.applied
                self._hold(item.ident, shown, why, signature)
                continue
            writes[item.ident] = wanted[item.ident]
            applied[item.ident] = item.repo
            self.report["applied"].append(shown)
            self.written.add(item.ident)
        return writes, applied

    def _hold(self, ident: str, shown: str, why: str, signature) -> None:
        self.report["held"].append({"item": shown, "reason": why, "signature": signature.reason})
        self.held_ids.add(ident)

    def _render(self, host: HostFiles, writes: dict[str, object]) -> dict[str, bytes | None]:
        """The new content of every file the writes touch (rel -> bytes, None: removed)."""
        from claude_docker import claudejson
        from claude_docker.gitops.hostfiles import BROKEN

        files: dict[str, bytes | None] = {}
        docs: dict[str, dict] = {}
        for ident, value in sorted(writes.items(), key=lambda kv: _ORDER[record.parse_id(kv[0])[0]]):
            target, path = record.parse_id(ident)
            if target == record.FILE:
                files[path[0]] = None if value is MISSING else value  # type: ignore[assignment]
                continue
            if target not in docs:
                found = host.doc(target)
                if found is BROKEN:
                    raise ToolError(f"{host.where(target)} is not valid JSON: not applying into it", exitcodes.FAILURE,
                                    "repair it (`claude-dr` restores the last good copy), then reconcile again")
                docs[target] = copy.deepcopy(found) if isinstance(found, dict) else {}
            _set(docs[target], path, value)
        for target, doc in docs.items():
            files[target] = claudejson.dumps(doc)  # (as sync writes it: Claude Code's own indent)
        return files

    def _backup(self) -> str | None:
        from claude_docker.backup.triggers import before_sync

        with self.log.step("backup"):
            return before_sync(self.claude, reason="pre-gitops", what="the GitOps apply")

    def _write(self, host: HostFiles, rev: str, files: dict[str, bytes | None]) -> None:
        with self.log.step("apply") as step:
            journal.begin(rev, [{"rel": rel, "old": host.read(rel), "new": self.digest.of_bytes(data)}
                                for rel, data in files.items()])
            for rel, data in files.items():
                host.write(rel, data)
            step["files"] = len(files)
            problem = _unparsed(HostFiles(self.claude), files)
            if problem:
                raise ToolError(f"the check after the apply failed: {problem}", exitcodes.GITOPS_ROLLED_BACK)

    def _smoke(self, files: dict[str, bytes | None]) -> None:
        from claude_docker.gitops import verify

        if not self.values["smoke"]:
            return
        with self.log.step("verify") as step:
            verdict, detail = verify.smoke(self.claude, files)
            step["smoke"] = verdict
        if verdict == "skipped":
            self.report["notes"].append(f"smoke run skipped: {detail}")
        elif verdict == "failed":
            raise ToolError(f"the smoke run with the new config failed: {detail}", exitcodes.GITOPS_ROLLED_BACK)

    def _undo(self, why: str) -> None:
        """Put the config back as the journal had it (the caller holds the config lock), then fail the run."""
        pending = journal.pending()
        left: list[str] = []
        if pending:
            _restored, left = journal.undo(pending, HostFiles(self.claude), self.digest.of_bytes)
            journal.end()
        if left:
            why += f"; not restored, changed since by another writer: {', '.join(left)}"
        self.report["result"] = "rolled-back"
        self.report["applied"], self.report["pruned"] = [], []
        raise ToolError(f"rolled back: {why}", exitcodes.GITOPS_ROLLED_BACK)

    def _recover(self) -> None:
        """An apply killed midway (its journal is still there) is undone before anything else."""
        pending = journal.pending()
        if pending is None:
            return
        from claude_docker import locking
        from claude_docker.gitops import audit

        with locking.config_lock(self.claude.config_dir, LOCK_WAIT, exitcodes.FAILURE):
            restored, left = journal.undo(pending, HostFiles(self.claude), self.digest.of_bytes)
            journal.end()
        line = (f"an apply of {pending['revision'][:12]} was interrupted: undone ({len(restored)} file(s) put back"
                + (f"; left as changed since: {', '.join(left)}" if left else "") + ")")
        self.report["notes"].append(line)
        audit.append(audit_file(), {"kind": "rollback", "revision": pending["revision"], "result": "interrupted",
                                    "files": restored, "left": left, "trace_id": self.log.trace_id})

    # -- recording ------------------------------------------------------------------------------------------
    def _commit(self, rec: dict, rev: str, repo: dict, applied: dict, found, files: dict) -> None:
        from claude_docker.gitops import audit

        rec["items"] = {i: {"repo": repo.get(i), "applied": applied.get(i)} for i in set(repo) | set(applied)
                        if repo.get(i) or applied.get(i)}
        rec.update(revision=rev, revision_time=self.report["revision_time"], settings=self.fp,
                   attempt={"revision": rev, "settings": self.fp, "ok": True, "at": time.time(), "failures": 0,
                            "next": 0})
        rec["held"] = self.report["held"]
        rec["held_ids"] = sorted(self.held_ids)
        self._drift(rec, [i for i in found if i.ident not in self.written], save=False)
        record.save(rec)
        self.report["result"] = _result(bool(files), self.report)
        entry = {"kind": "apply" if files else "check", **self.context, "result": self.report["result"],
                 "items": [{"item": record.describe(i), "digest": repo.get(i)} for i in sorted(repo)
                           if i in self.written],
                 "pruned": self.report["pruned"], "trace_id": self.log.trace_id}
        audit.append(audit_file(), entry)
        for h in self.report["held"]:
            audit.append(audit_file(), {"kind": "hold", **self.context, "item": h["item"], "reason": h["reason"],
                                        "signature": h["signature"], "trace_id": self.log.trace_id})

    def _rollout(self, rec: dict, wanted: dict | None) -> None:
        """The repository's rollout plan, started once (rolloutplan.py)."""
        from claude_docker.gitops import audit, rolloutplan

        line, entry = rolloutplan.follow(wanted, rec, self.digest)
        if line:
            self.report["notes"].append(line)
        if entry:
            audit.append(audit_file(), {**entry, "revision": rec["revision"], "trace_id": self.log.trace_id})
        if line or entry:
            record.save(rec)

    def _drift(self, rec: dict, items, save: bool = True) -> None:
        """The items out of sync, into the report; a drift entry in the audit when that set changed."""
        from claude_docker.gitops import audit

        drift = [{"item": record.describe(i.ident), "direction": i.state} for i in items
                 if i.state in (compare.LOCAL, compare.BOTH)]
        self.report["drift"] = drift
        signature = sorted((d["item"], d["direction"]) for d in drift)
        if signature != [tuple(x) for x in rec.get("drift") or []]:
            rec["drift"] = signature
            if drift:
                audit.append(audit_file(), {"kind": "drift", "revision": rec["revision"], "items": drift,
                                            "trace_id": self.log.trace_id})
            if save:
                record.save(rec)

    def _failed(self, exc: ToolError) -> None:
        """A failed run: the attempt recorded (for the backoff), audited, told."""
        from claude_docker.gitops import audit

        rev = self.report["revision"]
        try:
            rec = record.load()
        except ToolError:
            rec = None
        if rec is not None and rev and exc.code != exitcodes.GITOPS_BUSY:
            prev = rec["attempt"] or {}
            same = prev.get("revision") == rev and prev.get("settings") == self.fp and not prev.get("ok")
            failures = (prev.get("failures", 0) + 1) if same else 1
            wait = min(self.values["retry"] * 2 ** (failures - 1), self.values["max_backoff"])
            rec["attempt"] = {"revision": rev, "settings": self.fp, "ok": False, "at": time.time(),
                              "failures": failures, "next": time.time() + wait, "error": exc.message[:300]}
            record.save(rec)
        if exc.code != exitcodes.GITOPS_BUSY:
            audit.append(audit_file(), {"kind": "rollback" if exc.code == exitcodes.GITOPS_ROLLED_BACK else "failure",
                                        "revision": rev, **self.context, "result": "failed",
                                        "reason": exc.message[:300], "trace_id": self.log.trace_id})
        self.report["result"] = self.report["result"] or "failed"
        self.report["error"] = exc.message
        self._told(exc)

    def _told(self, exc: ToolError | None = None) -> None:
        from claude_docker.gitops import telemetry

        telemetry.cycle(self.report, exc, self.log)


def _result(applied: bool, report: dict) -> str:
    """The one word for a run that didn't fail: what it did, else what still differs."""
    if applied:
        return "applied"
    return "drift" if report["drift"] else ("held" if report["held"] else "in-sync")


def _set(doc: dict, path: tuple, value: object) -> None:
    node = doc
    for key in path[:-1]:
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            if value is MISSING:
                return
            nxt = node[key] = {}
        node = nxt
    if value is MISSING:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = copy.deepcopy(value)


def _unparsed(host: HostFiles, files: dict[str, bytes | None]) -> str | None:
    """The first written file that doesn't read back as written (keyed ones must parse as objects)."""
    from claude_docker.gitops.hostfiles import BROKEN

    for rel, data in files.items():
        if host.read(rel) != data:
            return f"{host.where(rel)} does not hold what was written"
        if rel in _ORDER and host.doc(rel) is BROKEN:
            return f"{host.where(rel)} does not parse"
    return None


def _described(exc: BaseException) -> str:
    from claude_docker.errors import describe

    if isinstance(exc, OSError):
        return describe(exc)
    return "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"


def _path_or_none(raw: str | None) -> Path | None:
    return Path(raw) if raw else None


def _shown_source(values: dict) -> str:
    from claude_docker import redact

    return redact.url(values["source"])


def _epoch(iso: str) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def _clock(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))
