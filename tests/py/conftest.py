"""Shared fixtures: an isolated HOME per test, the real Docker engine, the test images.

Docker tests use the engine the test runner started (tests/run). Set CLAUDE_DOCKER_REQUIRE_DOCKER=1
(tests/run does) to turn a missing engine or image into a failure instead of a skip.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

# A run started in the background by a shell without job control inherits SIGINT ignored, and so would every
# process the tests start (an ignored signal survives exec): the tests that stop a child with Ctrl-C need the
# default back. (A handler, unlike SIG_IGN, is reset by exec: children get SIGINT's default.)
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import otheruser  # noqa: E402 - it imports from tests/, on the path only from here

REAL_IMAGE_ENV = "CLAUDE_DOCKER_TEST_IMAGE"
FAKE_IMAGE = "claude-docker-test/fake-claude:1"
REQUIRE_DOCKER = os.environ.get("CLAUDE_DOCKER_REQUIRE_DOCKER") == "1"


def _missing(reason: str):
    if REQUIRE_DOCKER:
        pytest.fail(reason + " (CLAUDE_DOCKER_REQUIRE_DOCKER=1)")
    pytest.skip(reason)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh HOME with the tool's state inside it, and no CLAUDE_CONFIG_DIR."""
    h = tmp_path / "home user"  # a space in the path, as asdf's tests do
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("CLAUDE_DOCKER_STATE_DIR", raising=False)
    for var in ("CLAUDE_DOCKER_BACKUP_DIR", "CLAUDE_DOCKER_BACKUP_AGE_RECIPIENTS", "CLAUDE_DOCKER_BACKUP_AGE_IDENTITY",
                "CLAUDE_DOCKER_AUTO_RECOVER"):
        monkeypatch.delenv(var, raising=False)  # never the developer's own store
    monkeypatch.setenv("CLAUDE_DOCKER_BACKUP_INTERVAL", "0")  # no detached backups unless a test asks
    monkeypatch.setenv("CLAUDE_DOCKER_ALERTS", "0")  # nor alert passes after sessions (their notices on stderr)
    monkeypatch.setenv("NO_COLOR", "1")
    return h


@pytest.fixture
def git_env(tmp_path, monkeypatch) -> Path:
    """A HOME with a global git config of the test's own; nothing of the developer's git or keys reaches git."""
    from gitrepo import private_git_config

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(private_git_config(home)))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GNUPGHOME", "SSH_AUTH_SOCK", "GIT_DIR", "GIT_WORK_TREE", "GIT_CONFIG_PARAMETERS",
                 "CLAUDE_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def docker_client():
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine means: no docker tests
        _missing(f"no Docker engine: {exc}")
    return client


@pytest.fixture(scope="session")
def real_image(docker_client) -> str:
    """The image with the real Claude Code binary (built by tests/run with `claude-docker image build`)."""
    name = os.environ.get(REAL_IMAGE_ENV)
    if not name:
        _missing(f"{REAL_IMAGE_ENV} is not set")
    try:
        docker_client.images.get(name)
    except Exception:  # noqa: BLE001 - not found, or the engine refused: either way no image to test with
        _missing(f"image {name} is not present")
    return name


# A stand-in for Claude Code that behaves like it where these tests look: it reads `.claude.json` when it
# starts and rewrites the whole file later (the lost-update pattern), and can be told to wait.
FAKE_CLAUDE = r"""#!/bin/sh
[ -n "$CLAUDE_CONFIG_DIR" ] && json="$CLAUDE_CONFIG_DIR/.claude.json" || json="$HOME/.claude.json"
case "$1" in
  --version) echo "0.0.0 (fake Claude Code)"; exit 0 ;;
  sh) shift; exec sh -c "$@" ;;
  set-key)
    # set-key KEY JSON-VALUE [WAIT_FILE]: read now, rewrite the whole file once WAIT_FILE exists.
    before=$(cat "$json" 2>/dev/null); [ -n "$before" ] || before='{}'
    echo started
    if [ -n "$4" ]; then while [ ! -e "$4" ]; do sleep 0.05; done; fi
    rest=${before#*\{}
    case "$(printf %s "$rest" | tr -d ' \n')" in \}) sep='' ;; *) sep=',' ;; esac
    printf '{"%s": %s%s%s' "$2" "$3" "$sep" "$rest" > "$json.tmp.$$" && mv "$json.tmp.$$" "$json"
    exit 0 ;;
esac
echo "fake claude: unknown command $1" >&2
exit 64
"""


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes | None = None, mode: int = 0o755, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.mode = mode
    if link:
        info.type, info.linkname = tarfile.SYMTYPE, link
        tar.addfile(info)
    elif data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="session")
def busybox_image(docker_client, tmp_path_factory):
    """make(name, claude): imports a busybox image tagged `name` whose /usr/local/bin/claude is the script
    `claude` (None: no `claude` at all); returns its ID. Nothing pulled: busybox-static is this machine's."""
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        _missing("busybox-static is not installed")
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()

    def make(name: str, claude: str | None) -> str:
        out = tmp_path_factory.mktemp("busyboximg") / "rootfs.tar"
        with tarfile.open(out, "w") as tar:
            for d in ("bin", "usr", "usr/local", "usr/local/bin", "tmp", "etc"):
                _tar_add(tar, d, mode=0o1777 if d == "tmp" else 0o755)
            _tar_add(tar, "bin/busybox", busybox.read_bytes())
            for applet in set(applets) - {"busybox"}:
                _tar_add(tar, f"bin/{applet}", link="busybox")
            if claude is not None:
                _tar_add(tar, "usr/local/bin/claude", claude.encode())
        repository, tag = name.split(":")
        docker_client.api.import_image_from_file(str(out), repository=repository, tag=tag,
                                                 changes=["ENV PATH=/usr/local/bin:/bin"])
        return docker_client.images.get(name).id

    return make


@pytest.fixture(scope="session")
def fake_image(docker_client, busybox_image) -> str:
    """A busybox image whose `claude` is the shell stand-in above: any image with `claude` on PATH must work."""
    try:
        previous = docker_client.images.get(FAKE_IMAGE).id
    except Exception:  # noqa: BLE001 - none yet
        previous = None
    if busybox_image(FAKE_IMAGE, FAKE_CLAUDE) != previous and previous:
        try:  # the last run's, which the tag just left: not one dangling image per run
            docker_client.images.remove(previous)
        except Exception:  # noqa: BLE001 - a container still uses it (a run beside this one)
            pass
    return FAKE_IMAGE


@pytest.fixture(scope="session", autouse=True)
def forwarder_image_left_as_found():
    """`image build` makes the egress forwarder image too: one the run made goes with it, one that was there stays."""
    from claude_docker import engine
    from claude_docker.egress import forwarder

    def there() -> bool | None:  # None: no engine to ask
        try:
            return bool(forwarder.present(forwarder.engine_socket()))
        except Exception:  # noqa: BLE001 - no local engine: nothing to leave as found
            return None

    before = there()
    yield
    if before is False and there():
        engine.request(forwarder.engine_socket(), "/images/" + engine.quote_ref(forwarder.IMAGE), timeout=30,
                       method="DELETE")  # (a container still using it keeps it: no force)


@pytest.fixture
def no_leftover_containers(docker_client, tmp_path_factory):
    """Asserts, after the test, that it left no claude-docker container behind. Only this pytest run's
    containers count (their project is under its base temp dir): a run beside it on the same engine is
    neither blamed nor touched."""
    from claude_docker.container import LABEL_PREFIX, TOOL_LABEL

    base = str(tmp_path_factory.getbasetemp()) + os.sep

    def ours():
        mine = {"label": f"{TOOL_LABEL}=claude-docker"}
        # ignore_removed: on a shared engine, other runs' sessions end (--rm) between the listing and each inspect
        return {c.name for c in docker_client.containers.list(all=True, filters=mine, ignore_removed=True)
                if (c.labels.get(LABEL_PREFIX + "project") or "").startswith(base)}

    before = ours()
    yield
    left = ours() - before
    for name in left:
        docker_client.containers.get(name).remove(force=True)
    assert not left, f"containers left behind: {left}"


@pytest.fixture
def user_home():
    """A base dir holding the user's HOME (home/, with an empty project/) and their venv (venv/)."""
    with otheruser.user_base() as made:
        yield made
