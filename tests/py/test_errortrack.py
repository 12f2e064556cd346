"""Error tracking: a bug in the helper is recorded scrubbed (home as "~", no credential, no token), grouped by a
fingerprint that ignores the message, counted, listed by `claude-docker errors`, and sent to Sentry when
SENTRY_DSN is set (here a stand-in on 127.0.0.1)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
CREDENTIAL_URL = "https://user:hunter2@host/x"


def crash_incident_show(home, message: str, monkeypatch) -> int:
    """`incident show VALUE` hitting a bug below the command (a store read that raises)."""
    from claude_docker import cli
    from claude_docker.alerting import incidents

    def broken(_incident_id):
        raise RuntimeError(message)

    monkeypatch.setattr(incidents, "get", broken)
    return cli.main(["incident", "show", "--json", "INC-secretvalue"])


def records(home) -> list[dict]:
    return [json.loads(line) for line in (home / ".claude-docker" / "errors" / "errors.jsonl").read_text()
            .splitlines()]


def test_a_bug_is_recorded_scrubbed_grouped_by_fingerprint_and_counted(home, monkeypatch, capsys):
    first = f"cannot read {home}/.claude/settings.json from {CREDENTIAL_URL} with {TOKEN}"
    assert crash_incident_show(home, first, monkeypatch) == 3
    assert crash_incident_show(home, f"a different message about {home}/elsewhere", monkeypatch) == 3
    capsys.readouterr()
    one, two = records(home)
    assert one["message"] == "cannot read ~/.claude/settings.json from https://***:***@host/x with ***"
    assert one["type"] == "RuntimeError" and one["command"] == "incident show"  # no option, no value
    assert one["fingerprint"] == two["fingerprint"] and (one["count"], two["count"]) == (1, 2)
    assert one["trace_id"] and one["version"] and one["claude_code_version"]
    files = [f[0] for f in one["frames"]]
    assert files[0] == "claude_docker/cli.py" and "claude_docker/commands/incident.py" in files
    assert any(f.startswith("<python>/click/") for f in files)
    text = (home / ".claude-docker" / "errors" / "errors.jsonl").read_text()
    for secret in ("hunter2", TOKEN, str(home), "secretvalue"):
        assert secret not in text

    metrics = [json.loads(line) for line in (home / ".claude-docker-metrics.jsonl").read_text().splitlines()]
    counted = [m["labels"] for m in metrics if m["metric"] == "claude_docker_helper_errors_total"]
    assert counted == [{"command": "incident show"}] * 2
    events = [json.loads(line) for line in (home / ".claude-docker-events.jsonl").read_text().splitlines()]
    assert [e["fields"]["fingerprint"] for e in events if e["event"] == "helper.error"] == [one["fingerprint"]] * 2

    from claude_docker import cli

    assert cli.main(["errors", "--json"]) == 0
    [group] = json.loads(capsys.readouterr().out)["errors"]
    assert group["fingerprint"] == one["fingerprint"] and group["count"] == 2
    assert group["commands"] == ["incident show"] and group["type"] == "RuntimeError"
    assert group["first_seen"] == one["time"] and group["last_seen"] == two["time"]
    assert group["message"] == "a different message about ~/elsewhere"


def test_another_place_is_another_group_and_the_table_lists_both(home, monkeypatch, capsys):
    from claude_docker import cli
    from claude_docker.alerting import incidents

    crash_incident_show(home, "boom", monkeypatch)

    def broken(_include_resolved):
        raise KeyError("elsewhere")

    monkeypatch.setattr(incidents, "list_incidents", broken)
    assert cli.main(["incident", "list"]) == 3
    capsys.readouterr()
    assert cli.main(["errors"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["FINGERPRINT", "COUNT", "FIRST"] and len(lines) == 3
    assert "incident list" in lines[1] and "KeyError" in lines[1] and "incident show" in lines[2]
    assert cli.main(["errors", "--limit", "1", "--json"]) == 0
    assert [g["commands"] for g in json.loads(capsys.readouterr().out)["errors"]] == [["incident list"]]


def test_errors_with_nothing_recorded_and_with_a_torn_log(home, capsys):
    from claude_docker import cli, errortrack

    assert cli.main(["errors"]) == 0
    assert capsys.readouterr().out == "no errors recorded\n"
    errortrack.errors_file().write_text('{"fingerprint": "abc", "time": "2026-01-01T00:00:00.000Z"}\n{"torn')
    assert cli.main(["errors", "--json"]) == 0
    out, err = capsys.readouterr()
    assert [g["fingerprint"] for g in json.loads(out)["errors"]] == ["abc"]
    assert err == "warning: 1 unreadable line(s) of the error log skipped\n"


def test_error_tracking_never_raises_out_of_the_crash_path(home, monkeypatch, capsys):
    from claude_docker import errortrack

    def unwritable():
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(errortrack, "errors_file", unwritable)
    assert crash_incident_show(home, "boom", monkeypatch) == 3
    assert "internal error (RuntimeError: boom)" in capsys.readouterr().err
    assert errortrack.capture(None, []) is None
    assert "Traceback" in (home / ".claude-docker" / "crash.log").read_text()


def test_ctrl_c_during_the_sentry_upload_still_writes_the_record_and_nothing_escapes(home, monkeypatch):
    import types

    from claude_docker import errortrack

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    class Scope:
        def __enter__(self):
            return self

        def __exit__(self, *_):
            return False

        def set_tag(self, *_):
            pass

    fake = types.SimpleNamespace(init=lambda **_: None, new_scope=Scope, capture_exception=lambda _exc: "e1",
                                 flush=interrupted)
    monkeypatch.setitem(sys.modules, "sentry_sdk", fake)
    monkeypatch.setenv("SENTRY_DSN", "http://key@127.0.0.1:1/1")
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        record = errortrack.capture(exc, ["incident", "show"])
    assert record is not None and record["sentry"] == "not sent: interrupted"
    assert [r["sentry"] for r in records(home)] == ["not sent: interrupted"]

    monkeypatch.setattr(errortrack, "errors_file", interrupted)  # Ctrl-C anywhere else: still nothing escapes
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        assert errortrack.capture(exc, ["incident", "show"]) is None


class FakeSentry(BaseHTTPRequestHandler):
    """Sentry's envelope endpoint: keeps what it receives (decompressed) in its server's `received`, answers 200."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli

            body = brotli.decompress(body)
        self.server.received.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


SCRIPT = """
import sys
from claude_docker import cli
from claude_docker.alerting import incidents

MESSAGE = sys.argv[1]

def broken(incident_id):
    raise ValueError(MESSAGE)

incidents.get = broken
sys.argv = ["claude-docker", "incident", "show", "INC-1"]
sys.exit(cli.main())
"""


def test_with_sentry_dsn_the_scrubbed_error_reaches_sentry_tagged_with_its_fingerprint(home, tmp_path):
    pytest.importorskip("sentry_sdk")
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSentry)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        script = tmp_path / "crash.py"
        script.write_text(SCRIPT)
        message = f"{home}/project: {CREDENTIAL_URL} {TOKEN}"
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "NO_COLOR": "1",
               "SENTRY_DSN": f"http://publickey@127.0.0.1:{server.server_address[1]}/1"}
        done = subprocess.run([sys.executable, str(script), message], env=env, capture_output=True, text=True,
                              timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 3, done.stderr
    [record] = records(home)
    assert record["sentry"].startswith("sent (")
    [(path, envelope)] = server.received  # type: ignore[attr-defined]
    assert path == "/api/1/envelope/"
    event = next(json.loads(line) for line in envelope.splitlines()[1:] if line.startswith(b'{"') and
                 b'"exception"' in line)
    assert event["tags"]["fingerprint"] == record["fingerprint"] and event["tags"]["command"] == "incident show"
    assert event["fingerprint"] == [record["fingerprint"]]
    assert event["exception"]["values"][0]["value"] == "~/project: https://***:***@host/x ***"
    for secret in (b"hunter2", TOKEN.encode(), str(home).encode()):
        assert secret not in envelope


def test_with_sentry_dsn_but_no_sentry_sdk_the_record_says_so(home, tmp_path):
    blocker = tmp_path / "nosentry"
    (blocker / "sentry_sdk").mkdir(parents=True)
    (blocker / "sentry_sdk" / "__init__.py").write_text("raise ImportError('no sentry here')\n")
    script = tmp_path / "crash.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(blocker)!r})\n" + SCRIPT)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "SENTRY_DSN": "http://publickey@127.0.0.1:9/1"}
    done = subprocess.run([sys.executable, str(script), "boom"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and done.stderr.count("\n") == 1
    [record] = records(home)
    assert record["sentry"] == "sentry-sdk not installed" and record["message"] == "boom"
