"""Config sync: the host's Claude Code state into a session, and the session's changes back out.

The session sees Claude Code's state at the host's own paths, assembled from two parts:

* Directories of the config dir (`projects/`, `plugins/`, `skills/`, …; gigabytes of transcripts) are
  bind-mounted straight from the host, so nothing is copied and transcripts land on the host as they are
  written, exactly as natively. `projects/` is created first if missing so no transcript is ever staged.
* Top-level files (`.claude.json`, `settings.json`, `.credentials.json`, `history.jsonl`, `CLAUDE.md`, …)
  are copied into the session's staging HOME, because Claude Code rewrites them whole and concurrent
  sessions sharing one copy lose updates or corrupt it. After the session each changed file is merged
  back under the config lock:
    - `*.json`: validated, then a 3-way merge against the copy the session started from (jsonmerge);
    - `*.jsonl` (prompt history): the lines the session appended are appended to the host's file;
    - anything else: taken if the host's copy did not change meanwhile, else the later writer wins.
  What the session wrote that is invalid is never applied: it is kept aside and reported.
* Per-process state (`sessions/`, `shell-snapshots/`, `ide/`, `session-env/`, …) stays inside the container.

What may flow back at all is decided by one policy (boundary/policy.py, docs/SECURITY.md): data directories
are shared read-write, directories the host runs code from are read-only, and every staged file and JSON key
the session changed is applied, held for review (`claude-docker held`), refused or dropped by that policy.
"""

from __future__ import annotations

import os
import stat
from collections import namedtuple
from pathlib import Path

from claude_docker import beneath, exitcodes
from claude_docker.boundary import policy, transcripts
from claude_docker.errors import ToolError
from claude_docker.fsio import append_durable, write_atomic
from claude_docker.jsonmerge import MISSING, merge3, same
from claude_docker.paths import ClaudeHome, ensure_private_dir, state_dir
from claude_docker.sessiondir import SessionDir

ALWAYS_SHARED = ("projects",)
MAX_STAGED_FILE = 64 * 1024 * 1024


def is_transient(name: str) -> bool:
    # Lock files and half-written temp files of any writer, ours included.
    return name.endswith(".lock") or ".tmp" in name or ".cd-tmp-" in name


def kind_of(name: str) -> str:
    if name.endswith(".json"):
        return "json"
    if name.endswith(".jsonl"):
        return "log"
    return "file"


def _signature(path: Path) -> list[int] | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


class Staging(namedtuple("Staging", "claude home session")):
    """Where one session's view of Claude Code's state is staged (`session`), and where the session sees it:
    the host's own paths (`claude`, and `home`, the host's HOME, which is also the container's)."""

    __slots__ = ()

    @property
    def config_key(self) -> str:
        return "config" if self.claude.custom else "home/.claude"

    @property
    def claude_json_key(self) -> str:
        return "config/.claude.json" if self.claude.custom else "home/.claude.json"

    def staging_mounts(self) -> list[tuple[Path, Path]]:
        """(staged source, container target) of the staged trees, outermost first."""
        mounts = [(self.session.home, self.home)]
        if self.claude.custom:
            mounts.append((self.session.config, self.claude.config_dir))
        return mounts


# tracked: the staged files' records; shared_dirs: (host source, container target, read-only); mounted:
# their names; warnings: shared dirs the session will not be able to write to; since_ns: when it began
# (what changed in the shared dirs after that is the session's to review, by ctime, which it can't set back).
# transcripts: the one projects/ folder the session may write (its cwd's), or None if all of projects/ is writable.
SyncIn = namedtuple("SyncIn", "tracked shared_dirs mounted warnings since_ns transcripts")


def transcript_dir_name(cwd: Path) -> str:
    """Claude Code's folder under projects/ for a working directory: non-alphanumerics become '-'."""
    return "".join(c if c.isalnum() else "-" for c in str(cwd))


MAX_TRANSCRIPT_DIR_NAME = 200  # longer names are truncated and hashed by Claude Code: we can't predict them


def own_transcripts(claude: ClaudeHome, cwd: Path) -> str | None:
    """The projects/ folder a session in `cwd` writes its transcripts to, made now if missing. Only it is
    writable in the session: the transcripts of every other project are read-only there, so a session can't
    plant lines that another project's native `--resume` would obey (and only it needs checking at the end)."""
    name = transcript_dir_name(cwd)
    if len(name) > MAX_TRANSCRIPT_DIR_NAME:
        return None
    path = claude.config_dir / "projects" / name
    path.mkdir(mode=0o700, exist_ok=True)
    if path.is_symlink() or not path.is_dir():
        raise ToolError(f"{path} is not a directory (a link left by an earlier session?); remove it",
                        exitcodes.TOOL_FAILED)
    return name


def check_writable(staging: Staging, shared: list[tuple[Path, Path]], cwd: Path) -> list[str]:
    """Claude Code exits 0 and silently saves nothing where it can't write: refuse to start a session
    whose transcripts or config could not be saved (e.g. left root-owned by a `sudo claude`), and
    return a warning for every other shared dir it could not write to."""
    claude = staging.claude
    must = [claude.config_dir, claude.config_dir / "projects", staging.home if not claude.custom else None]
    name = transcript_dir_name(cwd)
    if len(name) <= MAX_TRANSCRIPT_DIR_NAME:
        must.append(claude.config_dir / "projects" / name)
    blocked = [p for p in must if p is not None and p.exists() and not os.access(p, os.W_OK)]
    if blocked:
        user = os.environ.get("USER") or str(os.getuid())
        raise ToolError(f"Claude Code could not save its state: {blocked[0]} is not writable by you "
                        f"(left by `sudo claude`?); fix: sudo chown -R {user} {claude.config_dir}",
                        exitcodes.TOOL_FAILED)
    return [f"{src} is not writable by you: Claude Code can't save to {dst.name}/"
            for src, dst, read_only in shared if not read_only and not os.access(src, os.W_OK)]


def sync_in(staging: Staging, cwd: Path) -> SyncIn:
    import time

    since_ns = time.time_ns() - transcripts.CTIME_SLACK_NS
    session, claude = staging.session, staging.claude
    staged_config = session.path / staging.config_key
    for d in (session.home, staged_config, session.base):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        ensure_private_dir(claude.config_dir)
        for name in ALWAYS_SHARED:
            (claude.config_dir / name).mkdir(mode=0o700, exist_ok=True)
        own = own_transcripts(claude, cwd)
        entries = sorted(os.scandir(claude.config_dir), key=lambda e: e.name)
    except OSError as exc:
        raise ToolError(f"cannot prepare Claude's config dir {claude.config_dir}: {exc.strerror}",
                        exitcodes.TOOL_FAILED) from None

    tracked: list[dict] = []
    shared: list[tuple[Path, Path]] = []
    mounted: list[str] = []
    relaxed = policy.relaxed()
    for entry in entries:
        name = entry.name
        mode = policy.dir_mode(name, relaxed) if entry.is_dir() else None
        if mode == policy.LOCAL or is_transient(name):
            continue
        if mode is not None:
            source, target = Path(os.path.realpath(entry.path)), claude.config_dir / name
            if name == "projects" and own is not None:
                shared += [(source, target, True), (source / own, target / own, False)]
            else:
                shared.append((source, target, mode == policy.READ_ONLY))
            mounted.append(name)
        elif entry.is_file():
            tracked.append(_stage(session, Path(entry.path), f"{staging.config_key}/{name}"))
    if not any(t["key"] == staging.claude_json_key for t in tracked):
        tracked.append(_stage(session, claude.claude_json, staging.claude_json_key))
    return SyncIn(tracked, shared, mounted, check_writable(staging, shared, cwd), since_ns, own)


def sync_state(staging: Staging, synced: SyncIn) -> dict:
    """What the session manifest must hold for sync_out to finish this session, now or after a crash."""
    return {"host_config": str(staging.claude.config_dir), "config_key": staging.config_key,
            "claude_json": str(staging.claude.claude_json), "mounted": synced.mounted, "tracked": synced.tracked,
            "sync_since_ns": synced.since_ns, "transcripts": synced.transcripts}


def host_claude(manifest: dict) -> ClaudeHome:
    """The host's Claude state a session syncs with, from its manifest."""
    config_dir = Path(manifest["host_config"])
    custom = manifest["config_key"] == "config"
    default = config_dir / ".claude.json" if custom else config_dir.parent / ".claude.json"
    return ClaudeHome(config_dir, Path(manifest.get("claude_json") or default), custom)


def _stage(session: SessionDir, host: Path, key: str) -> dict:
    kind = kind_of(host.name)
    staged = session.path / key
    record = {"key": key, "host": str(host), "kind": kind, "base_size": None, "staged_stat": None}
    try:
        data = host.read_bytes()
        mode = host.stat().st_mode & 0o777
    except FileNotFoundError:
        return record
    except OSError as exc:
        raise ToolError(f"cannot read {host}: {exc.strerror}", exitcodes.TOOL_FAILED) from None
    staged.write_bytes(data)
    os.chmod(staged, mode | stat.S_IRUSR | stat.S_IWUSR)
    if kind != "log":
        base = session.base / key
        base.parent.mkdir(parents=True, exist_ok=True)
        base.write_bytes(data)
    record["base_size"] = len(data)
    record["staged_stat"] = _signature(staged)
    return record


class SyncReport:
    def __init__(self) -> None:
        self.files = 0  # host files written, appended to or removed
        self.bytes = 0
        self.merges = 0  # files merged with changes the host got meanwhile
        self.conflicts: list[str] = []
        self.quarantined: list[str] = []  # invalid or unsafe: never applied (data corruption detected)
        self.held: list[str] = []  # changes the policy held back for review: what and why
        self.refused: list[str] = []  # changes the policy refused
        self.held_in: Path | None = None  # the session's held record, if it has one
        self.notes: list[str] = []  # valid but not applied: deletions
        self.warnings: list[str] = []

    def note_held(self, label: str, verdict: policy.Verdict) -> None:
        line = f"{label}: {verdict.reason}" if verdict.reason else label
        (self.refused if verdict.action == policy.REFUSE else self.held).append(line)

    def messages(self) -> list[str]:
        from claude_docker.redact import printable

        lines = [f"conflict in {c}" for c in self.conflicts]
        lines += [f"not applied (kept aside): {q}" for q in self.quarantined]
        lines += [f"not applied: {n}" for n in self.notes]
        if self.held or self.refused:
            what = [f"{len(items)} {word}" for items, word in ((self.held, "held for your review"),
                                                                (self.refused, "refused")) if items]
            lines.append(f"{' and '.join(what)}: changes the session made that would run on or steer your host; "
                         f"see `claude-docker held show {self.held_in.name if self.held_in else ''}`".rstrip())
        return [printable(line) for line in lines + [f"warning: {w}" for w in self.warnings]]


class _Invalid(Exception):
    pass


class StagedTree:
    """The session's staged files, seen from its session dir, which no container can reach.

    Every path below it is opened beneath the session dir without following a link at any component
    (beneath.py), and only regular files are read (never a FIFO or a device, which could block or lie): a
    link the container planted at any depth, even in place of the staged config dir itself, can't make this
    process read or list a host file."""

    def __init__(self, session: SessionDir):
        self.root = beneath.open_dir(session.path)

    def __enter__(self) -> "StagedTree":
        return self

    def __exit__(self, *_exc) -> None:
        os.close(self.root)

    def _open(self, key: str, flags: int) -> int | None:
        """A descriptor of a staged path, None if it is gone."""
        try:
            return beneath.open_beneath(self.root, key, flags)
        except FileNotFoundError:
            return None
        except beneath.Escape as exc:
            raise _Invalid(f"{exc.filename} was replaced by a link or a file") from None

    def signature(self, key: str) -> list[int] | None:
        parent, _, name = key.rpartition("/")
        d = self._open(parent, os.O_RDONLY | os.O_DIRECTORY)
        if d is None:
            return None
        try:
            st = os.stat(name, dir_fd=d, follow_symlinks=False)
        except FileNotFoundError:
            return None
        finally:
            os.close(d)
        return [st.st_size, st.st_mtime_ns, st.st_ino]

    def read(self, key: str, offset: int = 0) -> bytes | None:
        """A staged regular file's bytes from `offset`, or None if it is gone."""
        try:
            fd = beneath.open_regular(self.root, key)
        except FileNotFoundError:
            return None
        except beneath.NotRegular:
            raise _Invalid("not a regular file") from None
        except beneath.Escape as exc:
            raise _Invalid("a link" if exc.filename == key else f"{exc.filename} was replaced by a link") from None
        except OSError as exc:
            raise _Invalid(f"unreadable ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as f:
            if os.fstat(f.fileno()).st_size - offset > MAX_STAGED_FILE:
                raise _Invalid(f"larger than {MAX_STAGED_FILE >> 20} MiB")
            f.seek(offset)
            return f.read()

    def entries(self, key: str) -> list[tuple[str, bool]]:
        """(name, is a real directory) of what a staged dir holds."""
        d = self._open(key, os.O_RDONLY | os.O_DIRECTORY)
        if d is None:
            return []
        try:
            with os.scandir(d) as it:
                return sorted((e.name, e.is_dir(follow_symlinks=False)) for e in it)
        finally:
            os.close(d)

    def files_under(self, key: str) -> list[str]:
        """Keys of the regular files and links below a staged dir; links are not followed."""
        d = self._open(key, os.O_RDONLY | os.O_DIRECTORY)
        if d is None:
            return []
        try:
            return [f"{key}/{rel}" for rel, _st, kind in beneath.walk(d) if kind != "dir"]
        finally:
            os.close(d)


def _read_host(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


# A session's JSON that lost more than half of at least this many top-level keys looks truncated (Claude
# Code has shipped bugs that reset .claude.json to a minimal state): it is kept aside, not applied.
TRUNCATION_MIN_KEYS = 4


class _Syncer:
    """Applies one session's changes to the host, file by file, under the config lock, as the policy allows."""

    def __init__(self, session: SessionDir, report: SyncReport, tree: StagedTree, manifest: dict, held):
        self.session = session
        self.report = report
        self.tree = tree
        self.sid = session.session_id
        self.manifest = manifest
        self.held = held
        self.claude = host_claude(manifest)
        self.ctx = policy.Context(projects=tuple(p for p in (manifest.get("project"), manifest.get("cwd")) if p),
                                  account_switched=self._account_switched(), relaxed=policy.relaxed())

    def _account_switched(self) -> bool:
        import orjson

        rec = next((r for r in self.manifest["tracked"] if r["host"] == str(self.claude.claude_json)), None)
        try:
            if rec is None or self.tree.signature(rec["key"]) == rec["staged_stat"]:
                return False  # the session left .claude.json alone: no login of its own (and nothing parsed)
            ours = orjson.loads(self.tree.read(rec["key"]) or b"{}")
            base = orjson.loads(self.base(rec) or b"{}")
            theirs = orjson.loads(_read_host(self.claude.claude_json) or b"{}")
        except (orjson.JSONDecodeError, _Invalid):
            return False
        return policy.account_switched(base, ours, theirs)

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
        where = f" in {self.keep_aside('quarantine', name, data)}" if data is not None else ""
        self.report.quarantined.append(f"{name}: {why}{where}")

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
        import orjson  # here, not at the top: sessions that change no JSON never pay its import

        ours_raw = self.tree.read(rec["key"])
        if ours_raw is None:
            return self.deleted(name, host)
        base = MISSING
        base_raw = self.base(rec)
        if base_raw is not None:
            try:
                base = orjson.loads(base_raw)
            except orjson.JSONDecodeError:
                pass  # the host's file was already invalid when the session started: merge as if new
        try:
            ours = orjson.loads(ours_raw)
        except orjson.JSONDecodeError as exc:
            return self.quarantine(name, f"invalid JSON ({exc})", ours_raw)
        classify = policy.KEY_POLICIES.get(name) if "/" not in self.root_and_rel(host)[1] else None
        if (isinstance(base, dict) or classify) and not isinstance(ours, dict):
            return self.quarantine(name, f"a JSON {type(ours).__name__} where an object belongs", ours_raw)
        if isinstance(base, dict) and len(base) >= TRUNCATION_MIN_KEYS:
            lost = [k for k in base if k not in ours]
            if 2 * len(lost) > len(base):
                return self.quarantine(name, f"it lost {len(lost)} of its {len(base)} top-level keys "
                                             "(looks truncated)", ours_raw)
        host_raw = _read_host(host)
        theirs = MISSING
        if host_raw is not None:
            try:
                theirs = orjson.loads(host_raw)
            except orjson.JSONDecodeError:
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
        # Unchanged-by-merge output keeps the session's bytes exactly; a real merge is re-serialised.
        data = ours_raw if same(merged, ours) else orjson.dumps(merged, option=orjson.OPT_INDENT_2)
        self.write(host, data)

    def sync_log(self, rec: dict, host: Path, name: str) -> None:
        import orjson

        base_size = rec["base_size"] or 0
        tail = self.tree.read(rec["key"], offset=base_size)  # only what the session appended: logs grow large
        if not tail:
            return  # history is append-only: a session never shortens the host's
        tail = tail[: tail.rfind(b"\n") + 1]  # whole lines only
        good, bad = [], []
        for line in tail.splitlines(keepends=True):
            try:
                orjson.loads(line)
                good.append(line)
            except orjson.JSONDecodeError:
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
        if ours == theirs or ours == base:
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
            except _Invalid as exc:
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


def pending_changes(tree: StagedTree, manifest: dict) -> list[dict]:
    """Tracked files not yet applied whose staged copy changed, plus top-level entries the session created."""
    changed = [r for r in manifest["tracked"]
               if not r.get("applied") and tree.signature(r["key"]) != r["staged_stat"]]
    known = {r["key"] for r in manifest["tracked"]}
    config_key = manifest["config_key"]
    host_config = Path(manifest["host_config"])
    for name, is_dir in tree.entries(config_key):
        key = f"{config_key}/{name}"
        if key in known or name in manifest["mounted"] or is_transient(name):
            continue
        if is_dir and policy.dir_mode(name) == policy.LOCAL:
            continue
        changed.append({"key": key, "host": str(host_config / name), "kind": "dir" if is_dir else kind_of(name),
                        "base_size": None, "staged_stat": None})
    return changed


def review_shared(session: SessionDir, manifest: dict, report: SyncReport, held) -> None:
    """What the session wrote straight to the host, through its bind mounts: transcripts, git, and the
    project's self-running places. Done once per session (marked in the manifest), also after a crash, by
    cleanup. Each stage on its own: one that fails is said, never stops the others, and is tried again."""
    if manifest.get("reviewed"):
        return
    from claude_docker.boundary import git, project

    since = int(manifest.get("sync_since_ns", 0))
    # Only the session's own folder was writable; a manifest of an older version had all of projects/.
    folder = "projects/" + manifest["transcripts"] if manifest.get("transcripts") else "projects"
    guard = manifest.get("project_guard")
    stages = [("transcripts", lambda: transcripts.hold_state_lines(Path(manifest["host_config"]), folder, since,
                                                                   held))]
    if manifest.get("git_guard"):
        stages.append(("git", lambda: (git.review(manifest["git_guard"], Path(manifest["project"]), held), [])))
    if guard:
        ctx = policy.Context(projects=(guard["root"],), relaxed=policy.relaxed())
        stages.append(("the project", lambda: (project.review(guard, session.path / "project-base", held, ctx), [])))
    done = True
    for name, stage in stages:
        try:
            items, busy = stage()
        except OSError as exc:
            report.warnings.append(f"the review of {name} failed ({exc.strerror or exc}); `claude-docker cleanup` "
                                   "tries it again")
            done = False
            continue
        report.warnings += [f"{rel} changed while it was checked; `claude-docker cleanup` checks it again"
                            for rel in busy]
        done = done and not busy
        for item in items:
            report.note_held(item["label"], policy.Verdict(item["verdict"], item["reason"]))
    held.save()
    manifest["reviewed"] = done
    session.write_manifest(manifest)


def sync_out(session: SessionDir, manifest: dict) -> SyncReport:
    """Apply the session's changes to the host. Raises ToolError(SYNC_FAILED) if the host can't be written.

    Each file applied is marked so in the manifest at once, so a retry after a crash or a failure (by
    `cleanup`) applies only what is left and never re-applies an older value over a newer one."""
    from claude_docker.boundary.held import HeldRecord
    from claude_docker.locking import config_lock

    report = SyncReport()
    held = HeldRecord(session.session_id, manifest.get("project", ""))
    try:
        with StagedTree(session) as tree:
            try:
                changes = pending_changes(tree, manifest)
            except _Invalid as exc:
                report.quarantined.append(f"{exc}: nothing from this session was applied")
                changes = []
            if changes:
                from claude_docker.backup.triggers import before_sync

                syncer = _Syncer(session, report, tree, manifest, held)
                with config_lock(Path(manifest["host_config"]), code=exitcodes.SYNC_FAILED):
                    warning = before_sync(host_claude(manifest))
                    if warning:
                        report.warnings.append(warning)
                    for rec in changes:
                        try:
                            syncer.apply(rec)
                        except _Invalid as exc:
                            syncer.quarantine(Path(rec["host"]).name, str(exc))
                        except RecursionError:  # JSON nested deeper than any config: one file, not the session
                            syncer.quarantine(Path(rec["host"]).name, "JSON nested too deeply to merge")
                        rec["applied"] = True
                        if rec not in manifest["tracked"]:
                            manifest["tracked"].append(rec)
                        held.save()  # what this file held is on record before it counts as applied
                        session.write_manifest(manifest)
        review_shared(session, manifest, report, held)
    except OSError as exc:
        from claude_docker.errors import describe

        raise ToolError(f"cannot sync the config back: {describe(exc)}", exitcodes.SYNC_FAILED) from None
    report.held_in = held.dir if held.items else None
    return report
