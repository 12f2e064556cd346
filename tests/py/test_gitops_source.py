"""gitops/source.py against real git: a bare remote and a clone with real commits, force-pushes, odd names,
links and submodules, a hostile source whose hooks, filters and config must not run, signatures made by
`ssh-keygen` and by `gpg` (a throwaway GNUPGHOME), and the local marker the loop polls."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from claude_docker import exitcodes
from claude_docker.gitops import source
from claude_docker.gitops.source import Mirror, SourceError
from gitrepo import Repo, git, signing_keys, ssh_signed


@pytest.fixture
def env(git_env) -> Path:
    return git_env


@pytest.fixture
def repo(env, tmp_path) -> Repo:
    return Repo(tmp_path)


def mirror(repo: Repo, tmp_path: Path, branch: str = "main") -> Mirror:
    return Mirror(str(repo.remote), branch, tmp_path / "state" / "gitops" / "source.git")


def refused(call, *words: str) -> str:
    with pytest.raises(SourceError) as caught:
        call()
    message = caught.value.message
    assert caught.value.code == exitcodes.GITOPS_SOURCE
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


# Fetching


def test_fetch_returns_the_branch_tip_and_reads_its_tree(repo, tmp_path):
    rev = repo.commit({"claude/CLAUDE.md": "hello\n", "rollout.json": "{}"}, "first\n\nbody")
    m = mirror(repo, tmp_path)
    assert m.revision() is None
    assert m.fetch() == rev
    assert m.revision() == rev
    entries = m.entries(rev)
    assert [(e.path, e.mode, e.size) for e in entries] == [("claude/CLAUDE.md", "100644", 6),
                                                           ("rollout.json", "100644", 2)]
    blobs = m.read(rev, [e.oid for e in entries], limit=100)
    assert blobs == {entries[0].oid: b"hello\n", entries[1].oid: b"{}"}
    info = m.commit(rev)
    assert info.rev == rev and info.author == "Test Author <author@example.com>" and info.subject == "first"
    assert info.date[:4].isdigit() and info.date[10] == "T"
    assert (m.root / "HEAD").is_file() and not list(m.root.parent.glob(".*new-*"))


def test_fetch_follows_pushes_and_force_pushes(repo, tmp_path):
    m = mirror(repo, tmp_path)
    first = repo.commit({"a": "1"})
    assert m.fetch() == first
    second = repo.commit({"a": "2"})
    assert m.fetch() == second
    assert m.is_ancestor(first, second) and m.is_ancestor(second, second)
    git("reset", "--quiet", "--hard", first, cwd=repo.work)
    rewritten = repo.commit({"a": "3"}, "rewritten", push="force")
    assert m.fetch() == rewritten
    assert not m.is_ancestor(second, rewritten)
    assert m.is_ancestor(first, rewritten)
    assert not m.is_ancestor("0" * 40, rewritten)
    assert not m.is_ancestor("HEAD", rewritten)


def test_unreachable_path_not_a_repo_missing_branch(repo, tmp_path):
    refused(lambda: Mirror(str(tmp_path / "nowhere"), "main", tmp_path / "m1").fetch(), "does not exist")
    plain = tmp_path / "plain"
    plain.mkdir()
    refused(lambda: Mirror(str(plain), "main", tmp_path / "m2").fetch(), "does not appear to be a git repository")
    repo.commit({"a": "1"})
    refused(lambda: mirror(repo, tmp_path, "nope").fetch(), "has no branch nope")
    empty = tmp_path / "empty.git"
    git("init", "--quiet", "--bare", str(empty))
    refused(lambda: Mirror(f"file://{empty}", "main", tmp_path / "m3").fetch(), "has no branch main")


def test_the_ext_transport_stays_off_whatever_the_users_config(repo, tmp_path, env):
    with open(env / ".gitconfig", "a") as config:
        config.write("[protocol]\n\tallow = always\n")
    pwned = tmp_path / "pwned"
    m = Mirror(f"ext::sh -c touch% {pwned}", "main", tmp_path / "m")
    refused(m.fetch, "transport 'ext' not allowed")
    assert not pwned.exists()


@pytest.mark.parametrize("branch", ["-upload-pack=touch", "a..b", "with space", "star*", "x.lock", ""])
def test_bad_branch_names_are_refused_before_any_fetch(repo, tmp_path, branch):
    repo.commit({"a": "1"})
    m = mirror(repo, tmp_path, branch)
    refused(m.fetch, "not a valid branch name")
    assert not m.root.exists()


def test_a_relative_path_is_the_callers(repo, tmp_path, monkeypatch):
    rev = repo.commit({"a": "1"})
    monkeypatch.chdir(tmp_path)
    assert Mirror("remote.git", "main", tmp_path / "m").fetch() == rev


def test_something_else_in_the_mirrors_place_is_refused(repo, tmp_path):
    repo.commit({"a": "1"})
    m = mirror(repo, tmp_path)
    m.root.mkdir(parents=True)
    (m.root / "mine.txt").write_text("keep")
    refused(m.fetch, "in the way")
    assert (m.root / "mine.txt").read_text() == "keep"


def test_credentials_in_the_url_never_reach_a_message(repo, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    m = Mirror(f"http://someone:hunter2secret@127.0.0.1:{port}/repo.git", "main", tmp_path / "m")
    message = refused(lambda: m.fetch(timeout=20), "can't fetch", "***")
    assert "hunter2secret" not in message


def test_a_silent_server_times_out_and_git_is_killed_with_its_children(repo, tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    closed = threading.Event()

    def serve():
        conn, _addr = server.accept()
        with conn:
            while conn.recv(4096):  # says nothing back; EOF once the client is killed
                pass
        closed.set()

    threading.Thread(target=serve, daemon=True).start()
    try:
        m = Mirror(f"git://127.0.0.1:{server.getsockname()[1]}/repo.git", "main", tmp_path / "m")
        refused(lambda: m.fetch(timeout=1.5), "took longer than 1.5 s")
        assert closed.wait(10), "the connection stayed open: git (or its helper) still runs"
    finally:
        server.close()


# Reading


def test_odd_names_links_and_submodules_are_listed_as_they_are(repo, tmp_path):
    repo.commit({"first": "x"}, push="")
    target = repo.blob(b"../../etc/passwd")
    data = repo.blob(b"data")
    script = repo.blob(b"#!/bin/sh\n")
    names = [b"new\nline", b"tab\tname", b"\xff\xfe raw bytes", b"-rf", "ünïcode".encode(), b" lead", b'q"uote',
             b"claude/\x1b[31mred"]
    repo.index([("120000", target, b"link"), ("160000", git("rev-parse", "HEAD", cwd=repo.work), b"sub"),
                ("100755", script, b"run.sh"), *[("100644", data, name) for name in names]])
    rev = repo.commit({}, "odd")
    m = mirror(repo, tmp_path)
    m.fetch()
    listed = {e.path: e for e in m.entries(rev)}
    for name in names:
        assert listed[name.decode("utf-8", "surrogateescape")].mode == "100644"
    assert listed["link"].mode == "120000" and listed["link"].size == len(b"../../etc/passwd")
    assert listed["sub"].mode == "160000" and listed["sub"].size == 0
    assert listed["run.sh"].mode == "100755"
    assert os.fsencode("\udcff\udcfe raw bytes") == b"\xff\xfe raw bytes"
    assert m.read(rev, [listed["link"].oid], 100) == {target: b"../../etc/passwd"}


def test_read_bounds_each_blob_and_names_the_one_too_large(repo, tmp_path):
    rev = repo.commit({"small": "x" * 10, "big": "y" * 5000})
    m = mirror(repo, tmp_path)
    m.fetch()
    by = {e.path: e for e in m.entries(rev)}
    assert m.read(rev, [by["small"].oid], 5000) == {by["small"].oid: b"x" * 10}
    refused(lambda: m.read(rev, [by["small"].oid, by["big"].oid], 4999), by["big"].oid, "5000 bytes")
    refused(lambda: m.read(rev, ["1" * 40], 10), "missing")
    refused(lambda: m.read(rev, [rev], 10**6), "is a commit")
    refused(lambda: m.read(rev, ["HEAD:small"], 10), "not a full object id")
    refused(lambda: m.entries("--output=x"), "not a full object id")
    assert not (m.root / "x").exists()


def test_read_takes_thousands_of_blobs_in_one_batch(repo, tmp_path):
    """More names than a pipe holds go in while the blobs come out: nothing blocks."""
    rev = repo.commit({f"f/{i}": f"blob {i}\n" for i in range(2000)})
    m = mirror(repo, tmp_path)
    m.fetch()
    entries = m.entries(rev)
    assert len(entries) == 2000
    blobs = m.read(rev, [e.oid for e in entries], 100)
    assert sorted(blobs.values()) == sorted(f"blob {i}\n".encode() for i in range(2000))


def test_commit_subject_is_one_printable_line(repo, tmp_path):
    rev = repo.commit({}, "evil \x1b[2J subject\nsecond line\n\nbody")
    m = mirror(repo, tmp_path)
    m.fetch()
    subject = m.commit(rev).subject
    assert subject == "evil \\x1b[2J subject second line"


def test_nothing_from_a_hostile_source_runs(env, tmp_path):
    """Hooks, fsmonitor, filters, an upload-pack hook and ssh command in the source's own config: fetching and
    reading it runs none of them. Nor do hooks the user's global config names (our runs turn hooks off)."""
    repo = Repo(tmp_path)
    rev = repo.commit({".gitattributes": "* filter=evil\n", "claude/CLAUDE.md": "x"})
    pwned = tmp_path / "pwned"
    command = f"touch {pwned}"
    for key, value in [("core.fsmonitor", command), ("uploadpack.packObjectsHook", command),
                       ("core.sshCommand", command), ("filter.evil.smudge", command), ("filter.evil.clean", command),
                       ("core.alternateRefsCommand", command), ("core.hooksPath", str(tmp_path / "hooks"))]:
        git("config", key, value, cwd=repo.remote)
        git("config", key, value, cwd=repo.work)
    (tmp_path / "hooks").mkdir()
    for hooks in (tmp_path / "hooks", repo.remote / "hooks"):
        for hook in ("pre-upload", "post-checkout", "reference-transaction", "post-receive", "fsmonitor-watchman"):
            (hooks / hook).write_text(f"#!/bin/sh\n{command}\n")
            (hooks / hook).chmod(0o755)
    with open(env / ".gitconfig", "a") as config:
        config.write(f"[core]\n\thooksPath = {tmp_path / 'hooks'}\n\tfsmonitor = {command}\n")
    for url in (str(repo.work), str(repo.remote)):
        m = Mirror(url, "main", tmp_path / "m")
        assert m.fetch() == rev
        blobs = m.read(rev, [e.oid for e in m.entries(rev)], 100)
        assert sorted(blobs.values()) == [b"* filter=evil\n", b"x"]
        m.commit(rev)
        m.verify(rev, None)
        m.marker()
    assert not pwned.exists()
    assert not (m.root / "hooks").exists() and not list(m.root.rglob("*.sample"))


@pytest.mark.parametrize("name", [b"..", b".git", b".GIT"])
def test_a_malformed_tree_is_refused_at_fetch(repo, tmp_path, name):
    """Objects are checked as they arrive (fsck): names no checkout could hold never reach the mirror."""
    blob = git("hash-object", "-w", "--stdin", cwd=repo.remote, stdin=b"x")
    tree = git("mktree", "-z", cwd=repo.remote, stdin=b"100644 blob " + blob.encode() + b"\t" + name + b"\0")
    commit = git("commit-tree", tree, "-m", "bad", cwd=repo.remote)
    git("update-ref", "refs/heads/main", commit, cwd=repo.remote)
    m = mirror(repo, tmp_path)
    refused(m.fetch, "can't fetch")
    assert m.revision() is None


def test_limits_on_what_git_prints(repo, tmp_path, monkeypatch):
    rev = repo.commit({f"d/{i}": "" for i in range(50)})
    m = mirror(repo, tmp_path)
    m.fetch()
    monkeypatch.setattr(source, "MAX_LISTING", 1000)
    refused(lambda: m.entries(rev), "too large to list")
    monkeypatch.setattr(source, "MAX_COMMIT", 100)
    refused(lambda: m.commit(rev), "larger than")


# Signatures


@pytest.fixture
def ssh_keys(tmp_path):
    return signing_keys(tmp_path, "alice")


def test_ssh_signatures(repo, tmp_path, ssh_keys):
    keys, allowed = ssh_keys
    m = mirror(repo, tmp_path)
    good = repo.commit({"a": "1"}, "by alice", *ssh_signed(keys / "alice"))
    m.fetch()
    sig = m.verify(good, allowed)
    assert sig.ok and sig.signer == "alice@example.com", sig
    assert not m.verify(good, None).ok
    assert "does not exist" in m.verify(good, tmp_path / "nowhere").reason

    other = repo.commit({"a": "2"}, "by mallory", *ssh_signed(keys / "mallory"))
    m.fetch()
    sig = m.verify(other, allowed)
    assert not sig.ok and sig.signer is None and "not in the allowed signers" in sig.reason

    unsigned = repo.commit({"a": "3"}, "unsigned")
    m.fetch()
    assert m.verify(unsigned, allowed) == source.Signature(False, None, "unsigned")

    # The same signed object with its message changed: the signature no longer holds.
    raw = git("cat-file", "commit", good, cwd=repo.work).replace("by alice", "by alice, edited")
    forged = git("hash-object", "-t", "commit", "-w", "--stdin", cwd=repo.work, stdin=raw.encode() + b"\n")
    git("push", "--quiet", "--force", "origin", f"{forged}:refs/heads/main", cwd=repo.work)
    assert m.fetch() == forged
    sig = m.verify(forged, allowed)
    assert not sig.ok and "bad SSH signature" in sig.reason, sig


def test_the_users_own_allowed_signers_file_does_not_count(repo, tmp_path, ssh_keys, env):
    keys, allowed = ssh_keys
    with open(env / ".gitconfig", "a") as config:
        config.write(f"[gpg \"ssh\"]\n\tallowedSignersFile = {allowed}\n")
    rev = repo.commit({"a": "1"}, "by alice", *ssh_signed(keys / "alice"))
    m = mirror(repo, tmp_path)
    m.fetch()
    empty = keys / "none"
    empty.write_text("")
    assert not m.verify(rev, empty).ok
    assert m.verify(rev, allowed).ok


@pytest.fixture
def gnupg(monkeypatch):
    """A throwaway GNUPGHOME (short: the agent's socket path has a length limit) with a primary key and a
    signing subkey, no passphrase; its agent killed afterwards."""
    if shutil.which("gpg") is None or shutil.which("gpgconf") is None:
        pytest.skip("gpg is not installed")
    home = Path(tempfile.mkdtemp(prefix="gpg", dir="/tmp"))
    home.chmod(0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))

    def gpg(*args: str) -> str:
        return subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", *args],
                              check=True, capture_output=True, text=True).stdout

    try:
        try:
            gpg("--quick-gen-key", "Signer <signer@example.com>", "ed25519", "sign", "never")
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"gpg can't make a key here: {exc.stderr.strip()[:200]}")
        primary = next(line.split(":")[9] for line in gpg("--with-colons", "--list-keys").splitlines()
                       if line.startswith("fpr:"))
        gpg("--quick-add-key", primary, "ed25519", "sign", "never")
        fprs = [line.split(":")[9] for line in gpg("--with-colons", "--list-keys").splitlines()
                if line.startswith("fpr:")]
        yield primary, fprs[1]
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_gpg_signatures_count_by_primary_fingerprint(repo, tmp_path, gnupg, monkeypatch):
    primary, subkey = gnupg
    rev = repo.commit({"a": "1"}, "signed", "-c", "gpg.format=openpgp", "-c", f"user.signingKey={subkey}!",
                      "-c", "commit.gpgSign=true")
    m = mirror(repo, tmp_path)
    m.fetch()
    sig = m.verify(rev, None, (primary,))
    assert sig.ok and sig.signer == primary, sig
    assert m.verify(rev, None, (" ".join([primary[i:i + 4] for i in range(0, 40, 4)]).lower(),)).ok
    sig = m.verify(rev, None, (subkey,))
    assert not sig.ok and sig.signer == primary and "not an allowed fingerprint" in sig.reason
    assert not m.verify(rev, None).ok

    stranger = tmp_path / "stranger"  # a keyring without the key (verifying needs no agent)
    stranger.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(stranger))
    try:
        sig = m.verify(rev, None, (primary,))
        assert not sig.ok and "not in the keyring" in sig.reason, sig
    finally:
        subprocess.run(["gpgconf", "--homedir", str(stranger), "--kill", "all"], capture_output=True)


# The marker


def test_marker_changes_when_the_local_branch_moves(repo, tmp_path):
    repo.commit({"a": "1"})
    for url in (str(repo.remote), f"file://{repo.remote}"):
        m = Mirror(url, "main", tmp_path / "m")
        before = m.marker()
        assert before is not None and m.marker() == before
        repo.commit({"a": url})
        assert m.marker() != before
    git("pack-refs", "--all", cwd=repo.remote)  # the branch now lives in packed-refs only
    m = Mirror(str(repo.remote), "main", tmp_path / "m")
    before = m.marker()
    repo.commit({"a": "packed"})
    assert m.marker() != before


def test_marker_of_a_work_tree_and_a_linked_one(repo, tmp_path):
    repo.commit({"a": "1"})
    linked = tmp_path / "linked"
    git("worktree", "add", "--quiet", "-b", "side", str(linked), cwd=repo.work)
    for path, branch in ((repo.work, "main"), (linked, "side")):
        m = Mirror(str(path), branch, tmp_path / "m")
        before = m.marker()
        git("commit", "--quiet", "--allow-empty", "-m", "moved", cwd=path)
        assert m.marker() != before, path


def test_marker_is_none_for_remote_urls(tmp_path):
    for url in ("https://example.com/r.git", "git@example.com:r.git", "ssh://host/r", "host:path/r"):
        assert Mirror(url, "main", tmp_path / "m").marker() is None
    assert Mirror(str(tmp_path / "none"), "main", tmp_path / "m").marker() == ("no repository",)
