"""Links, FIFOs and directories turned into links while backups and restores run: nothing is ever read from,
or made, outside Claude's state. The attacker is a session's container, which can write below the config
dir's directories at any moment; here a process of our own plays it, as fast as it can, and inotify watches
the host directories it points at. Also beneath.py's own tests, for openat2 and for the per-component walk."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from claude_docker import beneath
from claude_docker.backup import create as create_module
from claude_docker.backup.create import create
from claude_docker.backup.restore import RestoreError, restore
from claude_docker.backup.store import Store
from claude_docker.paths import ClaudeHome
from synthstate import make_state
from test_backup import cli, tree

IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_OPEN, IN_MOVED_TO, IN_CREATE = 0x1, 0x2, 0x4, 0x20, 0x80, 0x100
READS = IN_OPEN | IN_ACCESS
CHANGES = READS | IN_MODIFY | IN_ATTRIB | IN_MOVED_TO | IN_CREATE

# Swaps two paths atomically (renameat2 RENAME_EXCHANGE) until the stop file exists, so the spot is always
# there, a directory or a link by turns; prints how many swaps it made.
EXCHANGER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
spot, stash, stop = (os.fsencode(a) for a in sys.argv[1:4])
swaps = 0
while not os.path.exists(stop):
    if libc.renameat2(-100, spot, -100, stash, 2) == 0:
        swaps += 1
print(swaps)
"""


class Inotify:
    """inotify on some directories (the syscalls, through ctypes): what is opened, read or made in them."""

    def __init__(self, paths, mask: int):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        self.names = {}
        for path in paths:
            wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
            assert wd >= 0, os.strerror(ctypes.get_errno())
            self.names[wd] = str(path)

    def __enter__(self) -> Inotify:
        return self

    def __exit__(self, *_exc) -> None:
        os.close(self.fd)

    def events(self) -> list[tuple[str, int, str]]:
        """(directory watched, event mask, name in it) of each event so far."""
        found = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return found
            at = 0
            while at < len(data):
                wd, mask, _cookie, length = struct.unpack_from("iIII", data, at)
                found.append((self.names.get(wd, "?"), mask, data[at + 16:at + 16 + length].rstrip(b"\0").decode()))
                at += 16 + length


def _outside(home: Path) -> dict:
    """HOME as tree() sees it, but for Claude's state and the tool's own files (all named `.claude…`)."""
    return {k: v for k, v in tree(home).items() if not k.split("/")[0].startswith(".claude")}


def _manifests() -> list[dict]:
    store = Store()
    return [store.load(sid) for sid in store.snapshot_ids()]


# --- links planted in projects/ ---------------------------------------------------------------------------

@pytest.fixture
def planted(home, tmp_path):
    """A state whose projects/ holds what a hostile session could plant: links to a dotfile of HOME and to a
    directory outside, absolute and climbing, and one harmless link that points down."""
    make_state(home, 1 << 20, 20)
    (home / ".zshenv").write_text("# the user's own\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host secret\n")
    project = home / ".claude" / "projects" / "-home-u-project0"
    os.symlink(home / ".zshenv", project / ".zshenv")
    os.symlink("../../../.zshenv", project / "climbs")
    os.symlink(outside, project / "outside")
    os.symlink("../..", home / ".claude" / "projects" / "home")
    os.symlink("00000000-session.jsonl", project / "down")
    return {"outside": outside, "project": project, "home_before": _outside(home),
            "outside_before": tree(outside)}


def test_planted_links_are_left_out_and_a_restore_after_a_wipe_makes_nothing_outside(home, planted):
    claude = ClaudeHome.from_env()
    with Inotify([planted["outside"]], CHANGES) as outside, Inotify([home], CHANGES) as home_dir:
        manifest = create(claude, "manual")
        shutil.rmtree(home / ".claude")
        restore(manifest, claude)
        assert outside.events() == []
        assert [e for e in home_dir.events() if e[2] == ".zshenv"] == []
    links = {e["path"]: e["target"] for e in manifest["entries"] if e["type"] == "link"}
    assert links == {"config/projects/-home-u-project0/down": "00000000-session.jsonl"}
    assert sum("a link that may point outside" in s for s in manifest["skipped"]) == 4
    project = planted["project"]
    assert os.readlink(project / "down") == "00000000-session.jsonl"
    assert not any(os.path.lexists(project / n) for n in (".zshenv", "climbs", "outside"))
    assert not os.path.lexists(home / ".claude" / "projects" / "home")
    assert _outside(home) == planted["home_before"] and tree(planted["outside"]) == planted["outside_before"]
    assert stat.S_ISREG(os.lstat(home / ".zshenv").st_mode)


def test_claude_dr_after_a_wipe_makes_nothing_outside(home, planted):
    create(ClaudeHome.from_env(), "manual")
    shutil.rmtree(home / ".claude")
    with Inotify([planted["outside"]], CHANGES) as outside:
        result = cli("dr", "--yes", "--no-smoke")
        assert outside.events() == []
    assert result.returncode == 0, result.stderr
    assert os.readlink(planted["project"] / "down") == "00000000-session.jsonl"
    assert _outside(home) == planted["home_before"] and tree(planted["outside"]) == planted["outside_before"]


def test_a_link_where_the_backup_has_a_directory_is_refused_before_anything_is_made(home, tmp_path):
    """The reproduced attack: the backup holds a link below projects/p; the session replaced p with a link to
    HOME. Creating the link "below p" would put it in HOME."""
    make_state(home, 1 << 20, 20)
    claude = ClaudeHome.from_env()
    project = home / ".claude" / "projects" / "-home-u-project1"
    os.symlink("00000001-session.jsonl", project / ".zshrc")
    manifest = create(claude, "manual")
    before = _outside(home)
    shutil.rmtree(project)
    os.symlink(home, project)
    backups = len(Store().snapshot_ids())
    for run in (lambda: cli("dr", "--yes", "--no-smoke"), lambda: cli("backup", "restore", manifest["id"])):
        result = run()
        assert result.returncode == 1, result.stdout
        reason = result.stderr.splitlines()[-1]
        assert f"{project} is a link, not followed" in reason and "nothing was changed" in reason, result.stderr
    assert not os.path.lexists(home / ".zshrc") and not os.path.lexists(home / "00000001-session.jsonl")
    assert _outside(home) == before
    assert len(Store().snapshot_ids()) == backups  # refused before even the backup of the state before


def test_a_fifo_is_left_out_with_its_reason_and_never_blocks_a_backup(home, monkeypatch):
    make_state(home, 1 << 20, 20)
    project = home / ".claude" / "projects" / "-home-u-project2"
    os.mkfifo(project / "planted.fifo")
    claude = ClaudeHome.from_env()
    walk = create_module.scope.walk

    def walk_then_swap(*args, **kwargs):
        # A file the walk saw as regular becomes a FIFO before it is read: opened without blocking, refused.
        found = walk(*args, **kwargs)
        os.unlink(project / "00000002-session.jsonl")
        os.mkfifo(project / "00000002-session.jsonl")
        return found

    monkeypatch.setattr(create_module.scope, "walk", walk_then_swap)
    manifest = create(claude, "manual")
    assert "config/projects/-home-u-project2/planted.fifo: not a regular file, directory or link" in manifest["skipped"]
    assert "config/projects/-home-u-project2/00000002-session.jsonl: not a regular file" in manifest["skipped"]
    assert not any(e["path"].endswith(("planted.fifo", "00000002-session.jsonl")) for e in manifest["entries"])


def test_top_level_links_are_still_followed_for_their_content(home, tmp_path):
    """A dotfiles-managed settings.json and skills/ are the user's own links: backed up for what they hold,
    restored through them (they stay links)."""
    make_state(home, 1 << 20, 20)
    dotfiles = tmp_path / "dotfiles"
    (dotfiles / "skills" / "mine").mkdir(parents=True)
    (dotfiles / "skills" / "mine" / "SKILL.md").write_text("# mine\n")
    (dotfiles / "settings.json").write_text('{"theme": "from dotfiles"}')
    cfg = home / ".claude"
    (cfg / "settings.json").unlink()
    (cfg / "skills").rmdir()
    os.symlink(dotfiles / "settings.json", cfg / "settings.json")
    os.symlink(dotfiles / "skills", cfg / "skills")
    claude = ClaudeHome.from_env()
    manifest = create(claude, "manual")
    paths = {e["path"] for e in manifest["entries"]}
    assert {"config/settings.json", "config/skills/mine/SKILL.md"} <= paths
    (dotfiles / "settings.json").write_text("{")
    (dotfiles / "skills" / "mine" / "SKILL.md").unlink()
    restore(manifest, claude)
    assert os.path.islink(cfg / "settings.json") and os.path.islink(cfg / "skills")
    assert json.loads((dotfiles / "settings.json").read_text()) == {"theme": "from dotfiles"}
    assert (dotfiles / "skills" / "mine" / "SKILL.md").read_text() == "# mine\n"
    (dotfiles / "settings.json").write_text("{")
    result = cli("dr", "--yes", "--no-smoke")  # its check reads what it restored, through the same link
    assert result.returncode == 0, result.stderr
    assert os.path.islink(cfg / "settings.json")
    assert json.loads((dotfiles / "settings.json").read_text()) == {"theme": "from dotfiles"}


def test_two_top_level_links_to_one_file_are_never_written_twice(home):
    make_state(home, 1 << 20, 20)
    cfg = home / ".claude"
    os.symlink("settings.json", cfg / "settings.local.json")  # the user's own: followed, so one file twice
    manifest = create(ClaudeHome.from_env(), "manual")
    (cfg / "settings.json").write_text("{")
    result = cli("backup", "restore", manifest["id"])
    assert result.returncode == 1 and result.stderr.endswith("it would write one file twice\n"), result.stderr
    assert (cfg / "settings.json").read_text() == "{"


def test_a_dry_run_lists_the_directories_and_links_it_would_make(home):
    make_state(home, 1 << 20, 20)
    project = home / ".claude" / "projects" / "-home-u-project0"
    (project / "sub").mkdir()
    os.symlink("../00000000-session.jsonl", project / "sub" / "up")  # climbs: left out
    os.symlink("00000000-session.jsonl", project / "down")
    manifest = create(ClaudeHome.from_env(), "manual")
    shutil.rmtree(home / ".claude")
    result = cli("backup", "restore", manifest["id"], "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "would create directory config/projects/-home-u-project0/sub" in lines
    assert "would create directory config/projects" in lines
    assert "would create link config/projects/-home-u-project0/down -> 00000000-session.jsonl" in lines
    assert "would restore config/settings.json (missing)" in lines
    assert not any("/up" in line for line in lines)
    as_json = json.loads(cli("backup", "restore", manifest["id"], "--dry-run", "--json").stdout)
    assert "config/projects/-home-u-project0/sub" in as_json["dirs"]
    assert as_json["links"] == [{"path": "config/projects/-home-u-project0/down", "target": "00000000-session.jsonl"}]
    assert not (home / ".claude").exists()
    done = cli("backup", "restore", manifest["id"])
    assert "created directory config/projects/-home-u-project0/sub" in done.stdout.splitlines()
    assert (project / "sub").is_dir() and os.readlink(project / "down") == "00000000-session.jsonl"


# --- races ------------------------------------------------------------------------------------------------

def _exchanger(tmp_path: Path, spot: Path, stash: Path) -> tuple[subprocess.Popen, Path]:
    stop = tmp_path / "stop-exchanging"
    proc = subprocess.Popen([sys.executable, "-c", EXCHANGER, str(spot), str(stash), str(stop)],
                            stdout=subprocess.PIPE, text=True)
    return proc, stop


def _stop(proc: subprocess.Popen, stop: Path) -> int:
    stop.touch()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    return int(out)


def _host_secrets(tmp_path: Path) -> tuple[Path, set[str]]:
    """A host directory (think ~/.ssh) of secret files, and their hashes."""
    secrets = tmp_path / "host-ssh"
    (secrets / "sub").mkdir(parents=True)
    hashes = set()
    for i, folder in enumerate([secrets] * 8 + [secrets / "sub"] * 2):
        data = b"-----BEGIN OPENSSH PRIVATE KEY----- %d\n" % i
        (folder / f"id_{i}").write_bytes(data)
        hashes.add(hashlib.sha256(data).hexdigest())
    return secrets, hashes


def test_a_directory_flipped_to_a_link_while_backups_run_never_leads_them_out(home, tmp_path):
    make_state(home, 1 << 20, 20)
    claude = ClaudeHome.from_env()
    secrets, hashes = _host_secrets(tmp_path)
    spot = home / ".claude" / "projects" / "flip"
    (spot / "deeper").mkdir(parents=True)
    for i in range(30):
        (spot / ("deeper" if i % 2 else "") / f"t{i}.jsonl").write_text(f'{{"turn": {i}}}\n' * 50)
    stash = tmp_path / "stash"
    os.symlink(secrets, stash)
    with Inotify([secrets, secrets / "sub"], READS) as watch:
        proc, stop = _exchanger(tmp_path, spot, stash)
        try:
            manifests = [create(claude, "race") for _ in range(30)]
        finally:
            swaps = _stop(proc, stop)
        events = watch.events()
        (secrets / "id_0").read_bytes()  # the watch does see a read
        assert any(mask & IN_ACCESS and name == "id_0" for _, mask, name in watch.events())
    assert swaps > 1000
    assert events == []
    stored = [e for m in _manifests() for e in m["entries"]]
    assert not any(e.get("sha256") in hashes or "id_" in e["path"] for e in stored)
    # Each backup met the spot as one or the other, and the 30 met both.
    as_dir = [m for m in manifests if any(e["path"].startswith("config/projects/flip/") for e in m["entries"])]
    as_link = [m for m in manifests if any(s.startswith("config/projects/flip") for s in m["skipped"])]
    assert as_dir and as_link and len(set(map(id, as_dir + as_link))) == 30


def _deep_state(home: Path) -> ClaudeHome:
    make_state(home, 1 << 20, 20)
    deep = home / ".claude" / "projects" / "deep" / "a" / "b"
    deep.mkdir(parents=True)
    for i in range(5):
        (deep / f"s{i}.jsonl").write_text(f'{{"turn": {i}}}\n')
    return ClaudeHome.from_env()


@pytest.mark.parametrize("where", ["projects/deep", "projects/deep/a", "projects/deep/a/b"])
def test_a_link_raced_into_a_restores_path_makes_nothing_outside(home, tmp_path, monkeypatch, where):
    claude = _deep_state(home)
    manifest = create(claude, "manual")
    shutil.rmtree(home / ".claude" / "projects" / "deep")
    outside = tmp_path / "outside"
    outside.mkdir()
    real_create = create_module.create

    def backup_then_plant(*args, **kwargs):
        # Right after the backup of the state before, as the swap begins: the plan saw no link.
        made = real_create(*args, **kwargs)
        spot = home / ".claude" / where
        spot.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(outside, spot)
        return made

    monkeypatch.setattr(create_module, "create", backup_then_plant)
    with Inotify([outside], CHANGES) as watch:
        with pytest.raises(RestoreError) as refused:
            restore(manifest, claude)
        assert watch.events() == []
    assert f"the restore stopped part way: {home / '.claude' / where} is a link, not followed" in refused.value.message
    assert os.listdir(outside) == []


def test_restores_racing_a_flipping_directory_make_nothing_outside(home, tmp_path):
    claude = _deep_state(home)
    manifest = create(claude, "manual")
    outside = tmp_path / "outside"
    outside.mkdir()
    spot = home / ".claude" / "projects" / "deep" / "a"
    stash = tmp_path / "stash"
    os.symlink(outside, stash)
    real = os.open(spot, os.O_RDONLY | os.O_DIRECTORY)  # the real directory, wherever the flips put it
    outcomes = {"restored": 0, "refused": 0}
    try:
        with Inotify([outside], CHANGES) as watch:
            proc, stop = _exchanger(tmp_path, spot, stash)
            try:
                for _ in range(20):
                    try:
                        os.unlink("b/s0.jsonl", dir_fd=real)  # something for each restore to write
                    except FileNotFoundError:
                        pass  # the last one was refused
                    try:
                        restore(manifest, claude)
                        outcomes["restored"] += 1
                    except RestoreError as exc:
                        assert "not followed" in exc.message, exc.message
                        outcomes["refused"] += 1
            finally:
                swaps = _stop(proc, stop)
            assert watch.events() == []
    finally:
        os.close(real)
    assert swaps > 100 and outcomes["restored"] + outcomes["refused"] == 20
    assert os.listdir(outside) == []


# --- beneath.py -------------------------------------------------------------------------------------------

def _kernel_has_openat2() -> bool:
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    return os.uname().machine in ("x86_64", "aarch64") and (major, minor) >= (5, 6)


@pytest.fixture(params=["openat2", "components"])
def resolver(request, monkeypatch):
    if request.param == "openat2" and not _kernel_has_openat2():
        pytest.skip("no openat2 on this kernel")
    monkeypatch.setattr(beneath, "USE_OPENAT2", None if request.param == "openat2" else False)
    yield request.param
    assert beneath.USE_OPENAT2 is (request.param == "openat2")  # the path asked for is the one taken


@pytest.fixture
def tree_fd(tmp_path):
    """root/a/b/f, root/a/link -> the outside dir, root/a/file; and outside/secret."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("secret\n")
    (root / "a" / "b" / "f").write_text("inside\n")
    (root / "a" / "file").write_text("x")
    os.symlink(outside, root / "a" / "link")
    os.symlink("b", root / "a" / "down")
    fd = beneath.open_dir(root)
    yield fd, root, outside
    os.close(fd)


def test_open_beneath_opens_plain_paths_and_refuses_each_link_naming_it(resolver, tree_fd):
    fd, root, _outside = tree_fd
    got = beneath.open_beneath(fd, "a/b/f")
    assert os.read(got, 100) == b"inside\n"
    os.close(got)
    refused = {"a/link/secret": "a/link", "a/link": "a/link", "a/down/f": "a/down", "a/down": "a/down"}
    for path, culprit in refused.items():
        with pytest.raises(beneath.Escape) as caught:
            beneath.open_beneath(fd, path)
        assert caught.value.filename == culprit and caught.value.strerror == "is a link, not followed", path
    with pytest.raises(beneath.Escape) as caught:
        beneath.open_beneath(fd, "a/file/x")
    assert (caught.value.filename, caught.value.strerror) == ("a/file", "is not a directory")
    for path in ("../outside/secret", "a/../../outside/secret", "/etc/passwd", "a//b/f", "a/./b/f"):
        with pytest.raises(beneath.Escape):
            beneath.open_beneath(fd, path)
    with pytest.raises(FileNotFoundError):
        beneath.open_beneath(fd, "a/missing/f")
    made = beneath.open_beneath(fd, "a/b/new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    os.close(made)
    assert stat.S_IMODE(os.stat(root / "a" / "b" / "new").st_mode) == 0o640 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_open_regular_refuses_a_fifo_without_blocking(resolver, tree_fd):
    fd, root, _ = tree_fd
    os.mkfifo(root / "a" / "fifo")
    with pytest.raises(beneath.NotRegular):
        beneath.open_regular(fd, "a/fifo")
    os.close(beneath.open_regular(fd, "a/b/f"))


def test_mkdirs_beneath_makes_each_component_and_refuses_a_link_even_one_raced_in(tree_fd, monkeypatch):
    fd, root, outside = tree_fd
    made = beneath.mkdirs_beneath(fd, "a/b/c/d", 0o750)
    os.close(made)
    assert (root / "a" / "b" / "c" / "d").is_dir()
    with pytest.raises(beneath.Escape) as caught:
        beneath.mkdirs_beneath(fd, "a/link/new")
    assert caught.value.filename == "a/link"
    real_mkdir = os.mkdir

    def mkdir_then_swap(path, mode=0o777, *, dir_fd=None):
        # Between our mkdirat and our open of it, the directory becomes a link out.
        real_mkdir(path, mode, dir_fd=dir_fd)
        if path == "raced":
            os.rmdir(path, dir_fd=dir_fd)
            os.symlink(outside, path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "mkdir", mkdir_then_swap)
    with pytest.raises(beneath.Escape) as caught:
        beneath.mkdirs_beneath(fd, "a/raced/x/y")
    assert caught.value.filename == "a/raced"
    assert sorted(os.listdir(outside)) == ["secret"]


def test_walk_reports_links_and_never_enters_one_even_a_directory_swapped_for_one(resolver, tree_fd, monkeypatch):
    fd, root, outside = tree_fd
    os.mkfifo(root / "a" / "fifo")
    (root / "a" / "swapped").mkdir()
    (root / "a" / "swapped" / "inside").write_text("x")
    real_stat = os.stat
    errors = []

    def stat_then_swap(path, *args, **kwargs):
        # The walk has seen a directory; before it enters it, it is a link to the outside dir.
        st = real_stat(path, *args, **kwargs)
        if path == "swapped" and kwargs.get("dir_fd") is not None and not os.path.islink(root / "a" / "swapped"):
            shutil.rmtree(root / "a" / "swapped")
            os.symlink(outside, root / "a" / "swapped")
        return st

    monkeypatch.setattr(os, "stat", stat_then_swap)
    with Inotify([outside], READS) as watch:
        found = [(rel, kind) for rel, _, kind in beneath.walk(fd, onerror=lambda rel, exc: errors.append((rel, exc)))]
        assert watch.events() == []
    assert found == [("a", "dir"), ("a/b", "dir"), ("a/b/f", "file"), ("a/down", "link"), ("a/fifo", "other"),
                     ("a/file", "file"), ("a/link", "link")]
    assert [(rel, type(exc), exc.strerror) for rel, exc in errors] == [
        ("a/swapped", beneath.Escape, "is a link, not followed")]
    assert beneath.readlink(fd, "a/link") == str(outside)
    skipped = [rel for rel, _, _ in beneath.walk(fd, include=lambda rel, st: not rel.endswith("b"))]
    assert "a/b" not in skipped and "a/b/f" not in skipped and "a/file" in skipped


def test_enosys_falls_back_to_the_component_walk(tree_fd, monkeypatch):
    fd, _, _ = tree_fd
    monkeypatch.setattr(beneath, "USE_OPENAT2", None)
    monkeypatch.setattr(beneath, "_SYS_OPENAT2", 1023)  # no such system call: the kernel answers ENOSYS
    got = beneath.open_beneath(fd, "a/b/f")
    os.close(got)
    assert beneath.USE_OPENAT2 is False
    with pytest.raises(beneath.Escape):
        beneath.open_beneath(fd, "a/link/secret")
