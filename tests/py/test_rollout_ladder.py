"""The smoke ladder (rollout/ladder.py) on the real engine: a broken image fails on its own rung, the real
Claude Code image climbs every rung, a re-tag mid-ladder changes nothing; and the Messages API stand-in."""

from __future__ import annotations

import json
import os
import tempfile
import urllib.request
from typing import ClassVar

import pytest

from claude_docker.container import LABEL_PREFIX, ROLE_LABEL
from claude_docker.rollout import ladder, standin
from claude_docker.smoke import smoke_image

# Stand-ins for a broken Claude Code, each in a busybox image (conftest's busybox_image); None: no `claude`.
STUBS = {
    "crash": "#!/bin/sh\nkill -SEGV $$\n",  # dies by a signal as it starts
    "no-claude": None,
    # answers --version, and exits 0 having done nothing otherwise: what an unwritable HOME makes of it
    "silent": "#!/bin/sh\n[ \"$1\" = --version ] && echo '2.1.197 (Claude Code)'\nexit 0\n",
    # passes the state rung (writes its state, asks the stand-in), then hangs in the round trip's session,
    # deaf to SIGTERM, printing without end
    "hang": """#!/bin/sh
case "$1 $2" in
  --version*) echo '2.1.197 (Claude Code)' ;;
  *state*) echo '{}' > "$HOME/.claude.json"
    wget -q -O /dev/null --header 'Content-Type: application/json' \
      --post-data '{"messages": [{"role": "user", "content": "smoke ladder: state"}]}' \
      "$ANTHROPIC_BASE_URL/v1/messages" ;;
  *) trap '' TERM INT HUP QUIT; yes flood ;;
esac
""",
}


@pytest.fixture(scope="module")
def stub(docker_client, busybox_image):
    made: list[str] = []

    def make(kind: str) -> str:
        name = f"claude-docker-test/smoke-{kind}:{os.getpid()}"
        if name not in made:
            busybox_image(name, STUBS[kind])
            made.append(name)
        return name

    yield make
    for name in made:
        docker_client.images.remove(name)


@pytest.fixture
def left_nothing(home, tmp_path, monkeypatch, docker_client):
    """The ladder's temporary folders (made in tmp_path/scratch here) are gone after it, and so are its
    containers and the round trip's session container; the user's HOME is untouched."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    yield
    assert list(scratch.iterdir()) == []
    assert list(home.iterdir()) == []
    mine = docker_client.containers.list(all=True, filters={"label": f"{ROLE_LABEL}={ladder.ROLE}"},
                                         ignore_removed=True)
    assert [c.name for c in mine if c.labels.get(LABEL_PREFIX + "wrapper-pid") == str(os.getpid())] == []
    sessions = docker_client.containers.list(all=True, filters={"label": f"{LABEL_PREFIX}tool=claude-docker"},
                                             ignore_removed=True)
    assert [c.name for c in sessions if c.labels.get(LABEL_PREFIX + "project", "").startswith(str(scratch))] == []


def verdicts(rungs: list[ladder.Rung]) -> dict[str, bool | None]:
    return {r.name: r.passed for r in rungs}


def climbed_to(failed_at: str) -> dict[str, bool | None]:
    at = ladder.RUNGS.index(failed_at)
    return {name: True if i < at else False if i == at else None for i, name in enumerate(ladder.RUNGS)}


@pytest.mark.docker
def test_a_missing_image_fails_at_the_image_rung(left_nothing):
    name = f"claude-docker-test/smoke-absent:{os.getpid()}"
    seen: list[ladder.Rung] = []
    image_id, rungs = ladder.run(name, seen.append)
    assert image_id is None and seen == rungs
    assert verdicts(rungs) == climbed_to("image")
    assert rungs[0].detail == f"{name} is not on this engine (the ladder never pulls): build or pull it first"
    assert {r.detail for r in rungs[1:]} == {"not run: an earlier rung failed"}
    assert ladder.run(" ", until="image")[1] == [ladder.Rung("image", False, "no image named (the name is empty)")]


@pytest.mark.docker
def test_an_image_that_crashes_at_start_fails_at_start(stub, docker_client, left_nothing):
    image_id, rungs = ladder.run(stub("crash"))
    assert image_id == docker_client.images.get(stub("crash")).id
    assert verdicts(rungs) == climbed_to("start"), rungs
    assert rungs[1].detail == "`claude --version` died of SIGSEGV (exit 139) at start"
    assert smoke_image(stub("crash")) == (False, rungs[1].detail)  # recovery's check: the same rungs


@pytest.mark.docker
def test_an_image_without_claude_fails_at_version(stub, left_nothing):
    _, rungs = ladder.run(stub("no-claude"))
    assert verdicts(rungs) == climbed_to("version"), rungs
    uid_gid = f"{os.getuid()}:{os.getgid()}"
    assert rungs[1].detail.startswith(f"a container started as {uid_gid} with the session's hardening")
    assert rungs[2].detail.startswith("no `claude` the image can run (exit 127"), rungs[2].detail


@pytest.mark.docker
def test_a_claude_that_exits_0_having_written_nothing_fails_at_state(stub, left_nothing):
    _, rungs = ladder.run(stub("silent"))
    assert verdicts(rungs) == climbed_to("state"), rungs
    assert rungs[2].detail == "`claude --version`: 2.1.197 (Claude Code)"
    assert "the silent exit-0 trap" in rungs[3].detail


class _Kept(standin.StandIn):
    """The ladder's stand-in, kept where the test can read what it received."""

    made: ClassVar[list[standin.StandIn]] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _Kept.made.append(self)


@pytest.mark.docker
@pytest.mark.image
def test_the_real_claude_code_image_passes_every_rung(real_image, docker_client, monkeypatch, left_nothing):
    # The user's own credentials are in this environment: none of them reaches the stand-in.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-the-users-real-key")
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", "the-users-oauth-token")
    monkeypatch.setattr(ladder, "StandIn", _Kept)
    _Kept.made.clear()
    seen: list[str] = []
    image_id, rungs = ladder.run(real_image, lambda rung: seen.append(rung.name))
    assert all(r.passed for r in rungs), rungs
    assert seen == list(ladder.RUNGS) == [r.name for r in rungs]
    assert image_id == docker_client.images.get(real_image).id
    assert rungs[2].detail == "`claude --version`: 2.1.197 (Claude Code)"
    [api] = _Kept.made  # one stand-in, for the state rung's container and the round trip's session
    prompts = api.prompts()
    assert "smoke ladder: state" in prompts and any(p and p.startswith("smoke ladder: round trip") for p in prompts)
    sent = json.dumps(api.requests)
    assert "the-users" not in sent and "sk-ant" not in sent
    assert {r["headers"].get("x-api-key") for r in api.messages_requests()} == {ladder.FAKE_KEY}


@pytest.mark.docker
@pytest.mark.image
def test_a_retag_during_the_ladder_changes_nothing(real_image, stub, docker_client, left_nothing):
    name = f"claude-docker-test/smoke-retag:{os.getpid()}"
    docker_client.images.get(real_image).tag(name)
    broken = docker_client.images.get(stub("no-claude"))

    def retag(rung: ladder.Rung) -> None:
        if rung.name == "image":  # the name now means an image without `claude`
            broken.tag(name)

    try:
        image_id, rungs = ladder.run(name, retag)
        assert docker_client.images.get(name).id == broken.id
    finally:
        docker_client.images.remove(name)
    assert image_id == docker_client.images.get(real_image).id
    assert all(r.passed for r in rungs), rungs


def _post(url: str, body: dict) -> tuple[str, bytes]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as answer:
        return answer.headers["Content-Type"], answer.read()


def test_the_standin_answers_streamed_and_whole_messages_and_records_them():
    ask = {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "ping"}]}]}
    with standin.StandIn(reply="a reply longer than one chunk") as api:
        kind, body = _post(api.url + "/v1/messages?beta=true", {**ask, "stream": True})
        assert kind == "text/event-stream"
        events = [json.loads(line[len("data: "):]) for line in body.decode().splitlines() if line.startswith("data: ")]
        assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
        text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
        assert text == "a reply longer than one chunk"
        _, body = _post(api.url + "/v1/messages", ask)
        whole = json.loads(body)
        assert whole["content"] == [{"type": "text", "text": "a reply longer than one chunk"}]
        assert whole["stop_reason"] == "end_turn"
        assert json.loads(_post(api.url + "/v1/messages/count_tokens", ask)[1])["input_tokens"] > 0
        with pytest.raises(urllib.error.HTTPError) as missing:
            _post(api.url + "/v1/other", {})
        assert missing.value.code == 404
        assert api.prompts() == ["ping", "ping"]
        assert [r["path"] for r in api.requests] == ["/v1/messages?beta=true", "/v1/messages",
                                                    "/v1/messages/count_tokens", "/v1/other"]
        assert api.url.startswith("http://127.0.0.1:") and api.port > 0


@pytest.mark.docker
def test_a_session_that_never_ends_is_stopped_and_removed(stub, monkeypatch, left_nothing):
    """Deaf to SIGTERM and flooding its output: the ladder stops it on time, with bounded memory, and leaves
    nothing behind (its container removed before its wrapper is killed, so nothing waits on the other)."""
    monkeypatch.setattr(ladder, "ROUNDTRIP_TIMEOUT", 8.0)
    monkeypatch.setattr(ladder, "STOP_GRACE", 3.0)
    import time

    began = time.monotonic()
    _, rungs = ladder.run(stub("hang"))
    assert verdicts(rungs) == climbed_to("roundtrip"), rungs
    assert rungs[4].detail == "the session did not end within 8s"
    assert time.monotonic() - began < 60


def _raw(port: int, data: bytes) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_the_standin_takes_hostile_clients_without_a_traceback(capfd):
    deep = b"[" * 100000 + b"]" * 100000
    with standin.StandIn() as api:
        head = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
        assert b" 400 " in _raw(api.port, head + b"Content-Length: abc\r\n\r\n")
        assert b" 400 " in _raw(api.port, head + b"Content-Length: -1\r\n\r\n")
        assert b" 413 " in _raw(api.port, head + b"Content-Length: 1000000000000\r\n\r\n")
        assert b" 200 " in _raw(api.port, head + b"Content-Length: %d\r\n\r\n" % len(deep) + deep)
        odd = json.dumps({"messages": [{"role": "user", "content": 1},
                                       {"role": "user", "content": [1, {"type": "text", "text": 2}]}]})
        assert b" 200 " in _raw(api.port, head + b"Content-Length: %d\r\n\r\n" % len(odd) + odd.encode())
        _raw(api.port, b"GARBAGE\r\n\r\n")
        _raw(api.port, head + b"Content-Length: 10\r\n\r\nabc")  # cut short
        assert api.prompts() == [None, None, None]  # (the deep one, the odd one, the cut one)
        assert _post(api.url + "/v1/messages", {"messages": [{"role": "user", "content": "still here"}]})[0]
        assert api.prompts()[-1] == "still here"
    assert capfd.readouterr().err == ""


def test_what_the_image_planted_among_transcripts_reads_as_nothing(tmp_path):
    """A link, a FIFO or a folder named like a transcript: no link followed, no read blocked, no traceback."""
    os.mkfifo(tmp_path / "fifo.jsonl")
    (tmp_path / "link.jsonl").symlink_to("/etc/passwd")
    (tmp_path / "dir.jsonl").mkdir()
    (tmp_path / "real.jsonl").write_text("smoke ladder: round trip\n")
    assert {p.name: ladder._head(p) for p in tmp_path.glob("*.jsonl")} == {
        "fifo.jsonl": "", "link.jsonl": "", "dir.jsonl": "", "real.jsonl": "smoke ladder: round trip\n"}
