"""The GitOps source: a branch of a Git repository, fetched into a bare mirror we own, and read from there.

The repository is hostile input. Nothing from it runs: it is never checked out (so no filters, no
attributes, no hooks of its own), git runs with hooks and fsmonitor off and a fixed environment, its config
never reaches us (the mirror is ours; a local source is read by `git upload-pack`, which ignores what could
run from a repository's config), and incoming objects are fsck'ed. Names are read NUL-separated and kept as
bytes decoded with surrogateescape (layout refuses the odd ones, naming them printably). Every output is
bounded: a tree listing, a blob (`read`'s limit), a commit object, git's stderr. Every git run has a
deadline and is killed with its process group (ssh, a remote helper) when it passes.

The URL never appears on a command line (other users can read those): it is handed to git as the config
of a remote through the environment. Messages show it through redact.url.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import NamedTuple

from claude_docker import exitcodes
from claude_docker.errors import ToolError

REF = "refs/gitops/source"  # the one ref the mirror keeps: the branch's tip, whatever the branch is called
REMOTE = "claude-docker-gitops"  # the remote's name, defined only in the environment of our git runs
MAX_LISTING = 32 << 20  # bytes of `ls-tree` output: far more than a config repository's tree
MAX_COMMIT = 1 << 20  # a commit object (headers, signature, message)
MAX_OUTPUT = 1 << 20  # anything else git prints to us
MAX_STDERR = 64 << 10
_GENERIC = ("Could not read from remote repository", "Please make sure you have the correct access rights",
            "and the repository exists")
_OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1 or SHA-256, full length only
# What git's own config keeps from the user's environment: their config files (credential helpers, URL
# rewrites), ssh's agent and command, proxies and CA bundles, the GnuPG home that verifies signatures.
_KEEP = ("PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM",
         "GIT_SSH", "GIT_SSH_COMMAND", "SSH_AUTH_SOCK", "GNUPGHOME", "SSL_CERT_FILE", "SSL_CERT_DIR",
         "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "http_proxy", "https_proxy", "all_proxy", "no_proxy",
         "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
_FIXED = {"LC_ALL": "C", "LANG": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "PAGER": "cat",
          "GIT_NO_REPLACE_OBJECTS": "1", "GCM_INTERACTIVE": "never"}
# On top of the user's config: no hooks or fsmonitor (theirs included), never the ext:: transport (it runs
# a command the URL names), objects checked as they arrive, and an automatic gc in the foreground (inside
# the run's deadline, no process left behind).
_CONFIG = ("core.hooksPath=/dev/null", "core.fsmonitor=false", "protocol.ext.allow=never", "transfer.fsckObjects=true",
           "gc.autoDetach=false", "maintenance.autoDetach=false")


class SourceError(ToolError):
    def __init__(self, message: str):
        super().__init__(message, exitcodes.GITOPS_SOURCE)


class Entry(NamedTuple):
    path: str  # as git stores it, decoded with surrogateescape: any byte but NUL and "/" may be in a name
    mode: str  # as git prints it: 100644, 100755, 120000 (a link), 160000 (a submodule; size 0)
    oid: str
    size: int


class Commit(NamedTuple):
    rev: str
    author: str  # "Name <email>", made printable
    date: str  # the author date, ISO 8601 with its offset
    subject: str  # the message's first paragraph on one line, made printable


class Signature(NamedTuple):
    ok: bool
    signer: str | None  # the allowed signers file's principal, or the GPG key's primary fingerprint
    reason: str


def _environment(remote_url: str | None) -> dict[str, str]:
    env = {name: os.environ[name] for name in _KEEP if name in os.environ}
    env.update(_FIXED)
    if remote_url is not None:
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0=f"remote.{REMOTE}.url", GIT_CONFIG_VALUE_0=remote_url)
    return env


class _Git:
    """One git run in its own process group, killed with that group (ssh, a remote helper) once `timeout`
    passes or when the block using it leaves early. Threads feed stdin and drain stderr, so no pipe fills
    up and blocks git while we read its stdout."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float, stdin: bytes | None):
        import subprocess

        self.expired = threading.Event()
        self.code: int | None = None
        self._done = False
        self._err = bytearray()
        try:
            self.proc = subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE,
                                         stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE)
        except OSError as exc:
            from claude_docker.errors import describe

            raise SourceError(f"can't run git: {describe(exc, argv[0])}") from None
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()
        self._threads = [threading.Thread(target=self._drain, daemon=True)]
        if stdin is not None:
            self._threads.append(threading.Thread(target=self._feed, args=(stdin,), daemon=True))
        for thread in self._threads:
            thread.start()

    def _expire(self) -> None:
        self.expired.set()
        self.kill()

    def kill(self) -> None:
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass  # gone already

    def _feed(self, data: bytes) -> None:
        try:
            with self.proc.stdin:  # type: ignore[union-attr]
                self.proc.stdin.write(data)  # type: ignore[union-attr]
        except OSError:
            pass  # git stopped reading (it failed, or was killed): its status says why

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        while block := self.proc.stderr.read(65536):
            if len(self._err) < MAX_STDERR:
                self._err += block[:MAX_STDERR - len(self._err)]

    def read(self, n: int) -> bytes:
        assert self.proc.stdout is not None
        return self.proc.stdout.read(n)

    def readline(self, limit: int) -> bytes:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline(limit)

    def finish(self) -> int | None:
        """git's exit status, None if it was killed at its deadline."""
        if not self._done:
            self._done = True
            status = self.proc.wait()
            self._timer.cancel()
            for thread in self._threads:
                thread.join()
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    pipe.close()
            self.code = None if self.expired.is_set() else status
        return self.code

    def stderr(self) -> str:
        return bytes(self._err).decode("utf-8", "replace")

    def error(self) -> str:
        """What went wrong, in one line: git's first fatal or error line, else its last line (ssh's own),
        leaving out the generic advice git adds to a failed fetch; redacted and printable."""
        from claude_docker import redact

        lines = [line.strip() for line in self.stderr().splitlines()
                 if line.strip() and not any(generic in line for generic in _GENERIC)]
        worst = [line for line in lines if line.startswith(("fatal:", "error:"))]
        line = worst[0] if worst else lines[-1] if lines else "no message"
        line = line.removeprefix("fatal: ").removeprefix("error: ")
        return redact.printable(redact.text(line))[:500]

    def __enter__(self) -> _Git:
        return self

    def __exit__(self, kind, _value, _tb) -> None:
        if kind is not None:
            self.kill()
        self.finish()


def _run(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 30.0, stdin: bytes | None = None,
         limit: int = MAX_OUTPUT, too_large: str = "") -> tuple[int | None, bytes, _Git]:
    """git's status (None: killed at its deadline), its stdout (SourceError(too_large) past `limit` bytes),
    and the run itself for its stderr."""
    with _Git(argv, cwd=cwd, env=env, timeout=timeout, stdin=stdin) as git:
        out = bytearray()
        while block := git.read(1 << 20):
            out += block
            if len(out) > limit:
                raise SourceError(too_large or f"git {argv[1]} printed more than {limit} bytes")
    return git.finish(), bytes(out), git


def is_local(url: str) -> bool:
    """Does git read `url` from this machine: a path or file://, not scp-like `host:path` (git's own rule: a
    colon before any slash means ssh)."""
    if "://" in url:
        return url.startswith("file://")
    colon = url.find(":")
    return colon < 0 or 0 <= url.find("/") < colon


def _local_path(url: str) -> Path:
    from urllib.parse import unquote, urlsplit

    return Path(unquote(urlsplit(url).path)) if url.startswith("file://") else Path(url).absolute()


class Mirror:
    """`branch` of `url` mirrored at `root`, a bare repository of ours holding one ref (REF)."""

    def __init__(self, url: str, branch: str, root: Path):
        self.url = url
        self.branch = branch
        self.root = Path(root)
        # A relative path is the caller's; git runs in the mirror.
        self._remote = str(_local_path(url)) if is_local(url) and not url.startswith("file://") else url

    def _shown(self) -> str:
        from claude_docker import redact

        return redact.printable(redact.url(self.url))

    def _argv(self, *args: str, config: tuple[str, ...] = ()) -> list[str]:
        argv = ["git", f"--git-dir={self.root}"]
        for item in _CONFIG + config:
            argv += ["-c", item]
        return argv + list(args)

    def _run(self, *args: str, remote: bool = False, timeout: float = 30.0, config: tuple[str, ...] = (),
             limit: int = MAX_OUTPUT, too_large: str = "") -> tuple[int | None, bytes, _Git]:
        return _run(self._argv(*args, config=config), cwd=self.root, env=_environment(self._remote if remote else None),
                    timeout=timeout, limit=limit, too_large=too_large)

    def _check_branch(self) -> None:
        code, _out, _git = _run(["git", "check-ref-format", f"refs/heads/{self.branch}"], cwd=Path("/"),
                                env=_environment(None))
        if self.branch.startswith("-") or code != 0:
            from claude_docker import redact

            raise SourceError(f"the GitOps branch {redact.printable(self.branch)!r} is not a valid branch name")

    def _ensure(self) -> None:
        """The mirror, made whole or not at all: initialised beside `root`, then renamed into place."""
        if (self.root / "HEAD").is_file() and (self.root / "objects").is_dir():
            return
        if self.root.exists() or self.root.is_symlink():
            raise SourceError(f"{self.root} is in the way of the GitOps mirror (not a bare git repository): "
                              "move it away")
        import shutil

        from claude_docker.paths import ensure_private_dir

        ensure_private_dir(self.root.parent)
        tmp = self.root.with_name(f".{self.root.name}.new-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        code, _out, git = _run(["git", "init", "--quiet", "--bare", "--template=", str(tmp)], cwd=Path("/"),
                               env=_environment(None))
        if code != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SourceError(f"can't create the GitOps mirror {self.root}: {git.error()}")
        try:
            os.rename(tmp, self.root)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another fetch made it meanwhile: use that one
            if not (self.root / "HEAD").is_file():
                raise SourceError(f"can't create the GitOps mirror {self.root}") from None

    def fetch(self, timeout: float = 60.0) -> str:
        """Fetch the branch (a force-push replaces what we had) and return its commit id."""
        self._check_branch()
        if is_local(self.url) and not _local_path(self.url).exists():
            raise SourceError(f"the GitOps source {self._shown()} does not exist")
        self._ensure()
        code, _out, git = self._run("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules",
                                    "--end-of-options", REMOTE, f"+refs/heads/{self.branch}:{REF}",
                                    remote=True, timeout=timeout)
        if code is None:
            raise SourceError(f"fetching {self._shown()} took longer than {timeout:g} s")
        if code != 0:
            message = git.error()
            if "couldn't find remote ref" in message:
                raise SourceError(f"the GitOps source {self._shown()} has no branch {self.branch}")
            raise SourceError(f"can't fetch the GitOps source {self._shown()}: {message}")
        rev = self.revision()
        if rev is None:
            raise SourceError(f"branch {self.branch} of {self._shown()} is not a commit")
        return rev

    def revision(self) -> str | None:
        """The commit the mirror holds (None before the first fetch); no network."""
        if not (self.root / "HEAD").is_file():
            return None
        code, out, _git = self._run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{REF}^{{commit}}")
        return out.decode("ascii", "replace").strip() if code == 0 else None

    def _oid(self, rev: str) -> str:
        if not isinstance(rev, str) or not _OID.fullmatch(rev):
            from claude_docker import redact

            raise SourceError(f"not a full object id: {redact.printable(str(rev))[:100]!r}")
        return rev

    def entries(self, rev: str) -> list[Entry]:
        """Every file of the commit's tree (recursively, so never a tree), in git's order."""
        rev = self._oid(rev)
        code, out, git = self._run("ls-tree", "-r", "-l", "-z", "--full-tree", "--end-of-options", rev,
                                   limit=MAX_LISTING, too_large=f"the tree of {rev} is too large to list "
                                                                f"(more than {MAX_LISTING >> 20} MiB of names)")
        if code != 0:
            raise SourceError(f"can't list the tree of {rev}: {git.error()}")
        entries = []
        for record in out.split(b"\0")[:-1]:
            meta, _tab, path = record.partition(b"\t")
            mode, _kind, oid, size = meta.decode("ascii").split()
            entries.append(Entry(path.decode("utf-8", "surrogateescape"), mode, oid, 0 if size == "-" else int(size)))
        return entries

    def staged(self) -> list[Entry]:
        """The index's files (stage 0), as `entries` lists a tree: for `gitops check` in a developer's own
        repository (root: its git dir), which a pre-commit hook must judge as it will be committed."""
        code, out, git = self._run("ls-files", "--stage", "-z", limit=MAX_LISTING,
                                   too_large="the index is too large to list")
        if code != 0:
            raise SourceError(f"can't list the index: {git.error()}")
        entries = []
        for record in out.split(b"\0")[:-1]:
            meta, _tab, path = record.partition(b"\t")
            mode, oid, _stage = meta.decode("ascii").split()
            entries.append(Entry(path.decode("utf-8", "surrogateescape"), mode, oid, 0))
        return entries

    def read(self, rev: str | None, oids: list[str], limit: int) -> dict[str, bytes]:
        """The blobs `oids` (all of the commit `rev`, or of the index: None), by one `cat-file --batch`; a blob
        over `limit` bytes, a missing one or one that isn't a blob is a SourceError naming it."""
        if rev is not None:
            self._oid(rev)
        wanted = list(dict.fromkeys(self._oid(oid) for oid in oids))
        blobs: dict[str, bytes] = {}
        if not wanted:
            return blobs
        stdin = "".join(f"{oid}\n" for oid in wanted).encode()
        with _Git(self._argv("cat-file", "--batch"), cwd=self.root, env=_environment(None), timeout=60.0,
                  stdin=stdin) as git:
            for oid in wanted:
                header = git.readline(200).decode("ascii", "replace").split()
                if not header:
                    git.finish()
                    raise SourceError(f"git stopped while reading {oid}: {git.error()}")
                if header[1:2] == ["missing"] or len(header) != 3:
                    raise SourceError(f"object {oid} is missing from the GitOps mirror")
                if header[1] != "blob":
                    raise SourceError(f"object {oid} is a {header[1]}, not a file")
                size = int(header[2])
                if size > limit:
                    raise SourceError(f"file {oid} is {size} bytes, more than the {limit} allowed")
                data = git.read(size + 1)
                if len(data) != size + 1:
                    raise SourceError(f"git stopped while reading {oid}: {git.error()}")
                blobs[oid] = data[:-1]
        return blobs

    def _commit_object(self, rev: str) -> tuple[dict[bytes, bytes], bytes]:
        """The commit's headers (the first of each; continuation lines joined by newlines) and message."""
        rev = self._oid(rev)
        code, out, git = self._run("cat-file", "commit", rev, limit=MAX_COMMIT,
                                   too_large=f"commit {rev} is larger than {MAX_COMMIT >> 20} MiB")
        if code != 0:
            raise SourceError(f"can't read commit {rev}: {git.error()}")
        head, _blank, message = out.partition(b"\n\n")
        headers: dict[bytes, bytes] = {}
        name = b""
        for line in head.split(b"\n"):
            if line.startswith(b" ") and name:
                headers[name] += b"\n" + line[1:]
                continue
            name, _sp, value = line.partition(b" ")
            if name in headers:
                name = b""  # a repeated header: the first counts, as for git
                continue
            headers[name] = value
        return headers, message

    def commit(self, rev: str) -> Commit:
        from datetime import datetime, timedelta, timezone

        from claude_docker import redact

        headers, message = self._commit_object(rev)
        ident, _lt, stamp = headers.get(b"author", b"").rpartition(b">")
        author = (ident + b">").decode("utf-8", "replace") if ident else ""
        date = ""
        try:
            seconds, offset = stamp.split()
            sign = -1 if offset.startswith(b"-") else 1
            zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
            date = datetime.fromtimestamp(int(seconds), zone).isoformat()
        except (ValueError, OverflowError, OSError):
            pass  # a malformed date (fsck lets some through): left empty
        paragraph = message.decode("utf-8", "replace").strip().split("\n\n", 1)[0]
        subject = " ".join(line.strip() for line in paragraph.splitlines())
        return Commit(rev, redact.printable(author)[:500], date, redact.printable(subject)[:1000])

    def is_ancestor(self, old: str, new: str) -> bool:
        """Does `new` descend from `old` (or equal it)? False when either is unknown (a force-push's old tip
        after a gc, a value from elsewhere)."""
        if not all(isinstance(rev, str) and _OID.fullmatch(rev) for rev in (old, new)):
            return False
        code, _out, _git = self._run("merge-base", "--is-ancestor", "--end-of-options", old, new)
        return code == 0

    def verify(self, rev: str, allowed_signers: Path | None, gpg_fingerprints: tuple[str, ...] = ()) -> Signature:
        """Is `rev` signed by an allowed signer: an SSH key of the allowed signers file, or a GPG key whose
        primary fingerprint is one of `gpg_fingerprints`. The user's own allowed signers file doesn't count."""
        headers, _message = self._commit_object(rev)
        signature = headers.get(b"gpgsig") or headers.get(b"gpgsig-sha256")
        if not signature:
            return Signature(False, None, "unsigned")
        if signature.startswith(b"-----BEGIN SSH SIGNATURE-----"):
            if allowed_signers is None:
                return Signature(False, None, "SSH-signed, but no allowed signers file is set")
            return self._verify_ssh(rev, allowed_signers)
        if signature.startswith(b"-----BEGIN PGP SIGNATURE-----"):
            return self._verify_gpg(rev, {f.replace(" ", "").upper() for f in gpg_fingerprints})
        return Signature(False, None, "signed in a format not supported (only SSH and GPG are)")

    def _verify_ssh(self, rev: str, allowed_signers: Path) -> Signature:
        from claude_docker import redact

        if not allowed_signers.is_file():
            return Signature(False, None, f"the allowed signers file {allowed_signers} does not exist")
        code, out, git = self._run("verify-commit", "--raw", "--end-of-options", rev,
                                   config=(f"gpg.ssh.allowedSignersFile={allowed_signers}",))
        text = out.decode("utf-8", "replace") + "\n" + git.stderr()
        good = re.search(r'^Good "git" signature for (.+?) with \S+ key (\S+)', text, re.MULTILINE)
        if code == 0 and good:
            signer = redact.printable(good.group(1))
            return Signature(True, signer, f"SSH-signed by {signer} (key {good.group(2)})")
        if "No principal matched" in text or re.search(r'^Good "git" signature with', text, re.MULTILINE):
            return Signature(False, None, "SSH-signed by a key not in the allowed signers file")
        if "Signature verification failed" in text or "incorrect signature" in text:
            return Signature(False, None, "bad SSH signature (the commit was changed after signing)")
        return Signature(False, None, f"SSH signature not verified: {git.error()}")

    def _verify_gpg(self, rev: str, allowed: set[str]) -> Signature:
        code, out, git = self._run("verify-commit", "--raw", "--end-of-options", rev)
        status: dict[str, list[str]] = {}
        for line in (out.decode("utf-8", "replace") + git.stderr()).splitlines():
            if line.startswith("[GNUPG:] "):
                word, _sp, rest = line[9:].partition(" ")
                status.setdefault(word, rest.split())
        if "BADSIG" in status:
            return Signature(False, None, "bad GPG signature (the commit was changed after signing)")
        if "VALIDSIG" not in status:
            missing = status.get("NO_PUBKEY") or status.get("ERRSIG") or ["?"]
            return Signature(False, None, f"GPG-signed by key {missing[0]}, not in the keyring")
        valid = status["VALIDSIG"]
        primary = (valid[9] if len(valid) > 9 else valid[0]).upper()
        if code != 0 or "GOODSIG" not in status:
            problem = next((w for w in ("EXPKEYSIG", "REVKEYSIG", "EXPSIG") if w in status), "not good")
            return Signature(False, primary, f"GPG signature by {primary} not accepted ({problem})")
        if primary not in allowed:
            return Signature(False, primary, f"GPG-signed by {primary}, not an allowed fingerprint")
        return Signature(True, primary, f"GPG-signed by {primary}")

    def marker(self) -> object:
        """A cheap, network-free token of a local source's refs that changes when its branch moves (None for a
        remote URL): the stat signatures of the branch's loose ref, packed-refs and a reftable's list."""
        if not is_local(self.url):
            return None
        from claude_docker import fsio

        common = _common_dir(_local_path(self.url))
        if common is None:
            return ("no repository",)
        marks: list[tuple[int, ...] | None] = []
        for name in (f"refs/heads/{self.branch}", "packed-refs", "reftable/tables.list"):
            try:
                marks.append(tuple(fsio.signature(os.stat(common / name))))
            except (OSError, ValueError):
                marks.append(None)
        return tuple(marks)


def _common_dir(path: Path) -> Path | None:
    """The directory holding the refs of the repository at `path` (bare, a work tree with `.git`, or a
    linked work tree whose `.git` file and `commondir` point elsewhere), read without running git."""
    from claude_docker import fsio

    def pointer(file: Path, prefix: bytes) -> Path | None:
        try:
            raw = fsio.read_capped(file, 4096).strip()
        except OSError:
            return None
        if not raw.startswith(prefix):
            return None
        target = Path(os.fsdecode(raw[len(prefix):].strip()))
        return target if target.is_absolute() else file.parent / target

    gitdir = path if (path / "HEAD").is_file() else path / ".git"
    if gitdir.is_file():
        gitdir = pointer(gitdir, b"gitdir:") or gitdir
    if not (gitdir / "HEAD").is_file():
        return None
    return pointer(gitdir / "commondir", b"") if (gitdir / "commondir").is_file() else gitdir
