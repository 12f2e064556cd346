"""`claude-docker egress log|list|allow|remove` as users run them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from claude_docker import exitcodes
from claude_docker.egress import allowlist


def helper(*args, env=None):
    return subprocess.run([sys.executable, "-I", "-m", "claude_docker", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def record(outcome, host, port=443, session="sess-aaaaaaaa-1", reason=None, out=10, into=20, time_="12:00:00"):
    fields = {"host": host, "port": port, "method": "CONNECT", "bytes_out": out, "bytes_in": into}
    if reason:
        fields["reason"] = reason
    return {"time": f"2026-11-30T{time_}.000Z", "level": "info", "event": "egress.connection",
            "trace_id": "ab" * 16, "session": session, "outcome": outcome, "fields": fields}


def append(home, *records, name=".claude-docker-events.jsonl"):
    with open(home / name, "a") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def test_allow_list_remove(home):
    result = helper("egress", "allow", "Example.com:8443", "*.corp.example")
    assert result.returncode == 0, result.stderr
    assert "allowed example.com:8443 (ports 8443)" in result.stdout
    assert "allowed *.corp.example (ports 80,443)" in result.stdout
    assert "next connection" in result.stdout
    again = helper("egress", "allow", "example.com:8443")
    assert again.returncode == 0 and "already allowed" in again.stdout
    listed = json.loads(helper("egress", "list", "--json").stdout)
    assert {"entry": "example.com:8443", "ports": "8443", "source": "file"} in [
        {k: e[k] for k in ("entry", "ports", "source")} for e in listed]
    assert {"entry": "api.anthropic.com:443", "ports": "443", "source": "default"} in [
        {k: e[k] for k in ("entry", "ports", "source")} for e in listed]
    human = helper("egress", "list").stdout
    assert human.startswith("ENTRY") and "*.corp.example" in human and "default" in human
    removed = helper("egress", "remove", "example.com:8443")
    assert removed.returncode == 0 and "removed example.com:8443" in removed.stdout
    assert "example.com:8443" not in allowlist.allowlist_file().read_text()


def test_bad_input_is_one_line_and_writes_nothing(home):
    helper("egress", "allow", "keep.example")
    before = allowlist.allowlist_file().read_bytes()
    for args in (["allow", "ok.example", "bad entry!"], ["remove", "api.anthropic.com:443"],
                 ["remove", "never.example"], ["allow", "bücher.example"]):
        result = helper("egress", *args)
        assert result.returncode == exitcodes.USAGE, args
        assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith("claude-docker: ")
    assert allowlist.allowlist_file().read_bytes() == before
    env_bad = helper("egress", "list", env={**os.environ, "CLAUDE_DOCKER_ALLOW_HOSTS": "a.example,*"})
    assert env_bad.returncode == exitcodes.BAD_SETTING
    assert env_bad.stderr.startswith("claude-docker: CLAUDE_DOCKER_ALLOW_HOSTS: '*'")


def test_log_with_nothing_logged(home):
    result = helper("egress", "log")
    assert result.returncode == 0 and result.stdout == "no egress connections logged\n"


def test_log_lines_json_and_filters_across_rotated_files(home):
    append(home, record("allowed", "api.anthropic.com", time_="11:00:00"), name=".claude-docker-events.jsonl.1")
    other = {"time": "2026-11-30T11:30:00.000Z", "level": "info", "event": "session.start"}
    append(home, other, record("denied", "evil.invalid", reason="not in the allowlist", session="other-session"),
           record("failed", "x.invalid", reason="cannot resolve x.invalid"))
    human = helper("egress", "log")
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    assert lines[0].startswith("TIME") and len(lines) == 4
    assert lines[1].startswith("2026-11-30 11:00:00  allow  api.anthropic.com:443") and "10/20" in lines[1]
    assert "deny   evil.invalid:443" in lines[2] and lines[2].endswith("other-se  not in the allowlist")
    assert "\033" not in human.stdout  # NO_COLOR (and not a terminal)
    as_json = [json.loads(line) for line in helper("egress", "log", "--json").stdout.splitlines()]
    assert [r["outcome"] for r in as_json] == ["allowed", "denied", "failed"]
    denied = helper("egress", "log", "--denied", "--json").stdout.splitlines()
    assert [json.loads(line)["fields"]["host"] for line in denied] == ["evil.invalid"]
    mine = helper("egress", "log", "--session", "sess-aaa", "--json").stdout.splitlines()
    assert len(mine) == 2
    none = helper("egress", "log", "--session", "nobody")
    assert none.stdout == "no egress connections logged that match\n"


def test_log_follow_prints_new_events_across_a_rotation_and_ends_quietly_on_ctrl_c(home):
    log = home / ".claude-docker-events.jsonl"
    append(home, record("allowed", "old.example"))
    follower = subprocess.Popen([sys.executable, "-I", "-m", "claude_docker", "egress", "log", "--follow", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(follower.stdout.readline())["fields"]["host"] == "old.example"
        time.sleep(0.5)  # following has begun at the end of the log
        append(home, record("denied", "new.example"))
        assert json.loads(follower.stdout.readline())["fields"]["host"] == "new.example"
        append(home, record("denied", "before-rotation.example"))
        os.replace(log, home / ".claude-docker-events.jsonl.1")  # rotated before the follower saw the line
        append(home, record("allowed", "after-rotation.example"))
        assert json.loads(follower.stdout.readline())["fields"]["host"] == "before-rotation.example"
        assert json.loads(follower.stdout.readline())["fields"]["host"] == "after-rotation.example"
        follower.send_signal(signal.SIGINT)
        assert follower.wait(10) == 0
        assert follower.stderr.read() == ""
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()


def test_an_edit_over_a_broken_file_is_refused_naming_its_line(home):
    helper("egress", "allow", "keep.example")
    path = allowlist.allowlist_file()
    path.write_text(path.read_text() + "not valid!\n")
    before = path.read_bytes()
    for args in (["allow", "new.example"], ["remove", "keep.example"]):
        result = helper("egress", *args)
        assert result.returncode == exitcodes.USAGE and result.stdout == ""
        assert result.stderr.count("\n") == 1 and f"{path}:" in result.stderr and "fix or remove" in result.stderr
    assert path.read_bytes() == before


def test_the_json_log_is_safe_for_a_terminal(home):
    append(home, record("failed", "", reason="\x9b31m\u202e is not proxied"))
    out = helper("egress", "log", "--json").stdout
    assert "\x9b" not in out and "\u202e" not in out and "\\u009b" in out
    assert json.loads(out)["fields"]["reason"] == "\x9b31m\u202e is not proxied"
