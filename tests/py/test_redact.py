"""Secrets are never printed, logged, traced or exported; untrusted text never reaches a terminal raw.

Also home to `Server`, the local stand-in the exporter tests use for redirects: it takes every method
(a followed redirect arrives as a GET, a push as a PUT) and records whatever reaches it.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import unicodedata
from http.server import BaseHTTPRequestHandler

import pytest

from claude_docker import redact, ui
from daemons import free_port
from fakeintake import FakeIntake

KEY = "dd-redact-key-5f0c1a"


class Server(FakeIntake):
    """FakeIntake for any method and body: records each request (method, path, headers, body un-gzipped)
    and answers from `statuses` (in order, then 202); a 3xx goes with a Location at `redirect_to`,
    same path."""

    def __init__(self, redirect_to: str = ""):
        super().__init__()
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.redirect_to = redirect_to
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def answer(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                with outer.lock:
                    status = outer.statuses.pop(0) if outer.statuses else 202
                    outer.requests.append({"method": self.command, "path": self.path, "status": status, "body": raw,
                                           "headers": {k.lower(): v for k, v in self.headers.items()}})
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", outer.redirect_to + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_DELETE = answer

        self.server.RequestHandlerClass = Handler

    def received(self) -> str:
        """Everything that reached it, as one text to search."""
        return "\n".join(f"{r['method']} {r['path']} {r['headers']} {r['body'].decode(errors='replace')}"
                         for r in self.requests)


def helper(home, *args, env=None):
    return subprocess.run([sys.executable, "-m", "claude_docker", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(home), "NO_COLOR": "1", **(env or {})})


def home_files(home) -> str:
    return "\n".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())


# -- the helpers themselves ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [
    ("https://user:tok3n@host/p?a=1&token=T0K&Key=K3Y#access_token=FR4G",
     "https://***:***@host/p?a=1&token=***&Key=***#access_token=***"),
    ("http://justuser@host:9091", "http://***@host:9091"),
    ("user:pw@host:9091", "***:***@host:9091"),  # no scheme: Pushgateway clients accept that
    ("https://user:pa/ss@host/x", "https://***:***@host/x"),  # an unencoded "/" in the password
    ("https://s3/b/o?X-Amz-Signature=abc&X-Amz-Credential=AK%2F1&X-Amz-Date=20260101",
     "https://s3/b/o?X-Amz-Signature=***&X-Amz-Credential=***&X-Amz-Date=20260101"),
    ("https://blob/c?sv=2024&sig=AbC%3D&se=x", "https://blob/c?sv=2024&sig=***&se=x"),
    ("https://h/?api_key=1&apikey=2&API-KEY=3&secret=4&password=5&passwd=6&auth=7&signature=8&api%5Fkey=9",
     ("https://h/?api_key=***&apikey=***&API-KEY=***&secret=***&password=***&passwd=***&auth=***&signature=***"
      "&api%5Fkey=***")),
    ("http://127.0.0.1:9091/metrics/job/x", "http://127.0.0.1:9091/metrics/job/x"),
    ("http://h:8080/@scope/pkg?page=2&author=me", "http://h:8080/@scope/pkg?page=2&author=me"),
    ("http://[::1]:4318/v1/traces", "http://[::1]:4318/v1/traces"),
    # a "#" or "?" in the password: still the password, not a fragment or a query
    ("mailto://alerts:hunter2#x@smtp.example.com:587/?to=me@example.com",
     "mailto://***:***@smtp.example.com:587/?to=me@example.com"),
    ("smtp://alerts:hun?ter2@smtp.example.com:587", "smtp://***:***@smtp.example.com:587"),
    ("https://u:1234?secretpart@h/p", "https://***:***@h/p"),
])
def test_url_masks_userinfo_and_secret_parameters(raw, expected):
    assert redact.url(raw) == expected


def test_url_never_raises_and_never_lets_a_credential_through():
    import random

    garbage = [None, 12, b"http://u:p@h", "", "://", "@", "?", "#", "http://[::1", "http://u:p@[::1", "%zz",
               "a" * 10000, "http://\x00:\udcff@h", "?token", "?=x&&=&token=", "ht tp://u:p@h"]
    rng = random.Random(7)
    alphabet = "ab:/@?#&=%[]\x1b\u202e "
    garbage += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    for value in garbage:
        assert isinstance(redact.url(value), str) and isinstance(redact.text(value), str)
    for _ in range(500):
        secret = "S" + "".join(rng.choice("xyz019-_.~!$'()*+,;") for _ in range(12))
        for form in (f"https://u:{secret}@h/p", f"https://{secret}@h", f"http://h/x?a=b&access_token={secret}&c=d",
                     f"http://h/#id_token={secret}", f"push to http://u:{secret}@127.0.0.1:1/ failed"):
            assert secret not in redact.text(form), form


@pytest.mark.parametrize("name", [
    "token", "key", "api_key", "apikey", "secret", "password", "passwd", "auth", "sig", "signature", "access_token",
    "X-Amz-Signature", "X-Amz-Security-Token", "primaryApiKey", "accessToken", "refreshToken", "GITHUB_TOKEN",
    "ANTHROPIC_API_KEY", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD_FILE", "Authorization", "Proxy-Authorization",
    "Cookie", "Set-Cookie", "DD-API-KEY", "DD-APPLICATION-KEY", "X-Api-Key", "APIKey", "MYSQL_PWD", "client_secret",
])
def test_secret_names(name):
    assert redact.is_secret_name(name)


@pytest.mark.parametrize("name", [
    "PWD", "author", "monkey", "keyboard", "keys", "session", "trace_id", "input_tokens", "passthrough", "oauthAccount",
    "numStartups", "message", "project", "Content-Type", "Keep-Alive", "x-team", "HOME", "", 3, None,
])
def test_names_that_are_not_secret(name):
    assert not redact.is_secret_name(name)


def test_headers_keep_harmless_ones_and_mask_the_rest():
    sent = {"Authorization": "Bearer a", "Proxy-Authorization": "Basic b", "Cookie": "c", "Set-Cookie": "d",
            "DD-API-KEY": "e", "DD-APPLICATION-KEY": "f", "X-Api-Key": "g", "X-Auth-Thing": "h", "X-Sub-Token-Id": "i",
            "Content-Type": "application/json", "x-team": "a b", "User-Agent": "curl"}
    shown = redact.headers(sent)
    assert shown == {**dict.fromkeys(sent, "***"), "Content-Type": "application/json", "x-team": "a b",
                     "User-Agent": "curl"}
    assert sent["Authorization"] == "Bearer a"  # a copy: the request still has its header


def test_text_redacts_urls_in_free_text():
    message = ("<urlopen error [Errno 111]> push to http://pg:S3CR3T@127.0.0.1:1/?token=QT0K failed; "
               "see 'https://h/x?sig=S1G' (or https://h/?key=K3Y).")
    assert redact.text(message) == ("<urlopen error [Errno 111]> push to http://***:***@127.0.0.1:1/?token=*** failed; "
                                    "see 'https://h/x?sig=***' (or https://h/?key=***).")
    assert redact.text("no URL: user:pw is text") == "no URL: user:pw is text"
    record = {"message": "GET https://u:p@h/", "fields": {"n": 1, "urls": ["https://h/?token=t"]}}
    assert redact.strings(record) == {"message": "GET https://***:***@h/", "fields": {"n": 1, "urls": ["https://h/?token=***"]}}


def test_printable_shows_every_control_and_bidi_character_as_an_escape():
    assert redact.printable("a\x1b[2J\x1b]0;pwned\x07b") == "a\\x1b[2J\\x1b]0;pwned\\x07b"
    assert redact.printable("\x9b31m\x9d0;t\x9c\x85") == "\\x9b31m\\x9d0;t\\x9c\\x85"  # C1: CSI, OSC, ST, NEL
    assert redact.printable("x\by\rz\n\t\x00\x7f") == "x\\x08y\\rz\\n\\t\\x00\\x7f"
    assert redact.printable("invoice\u202efdp.exe \u2066a\u2069") == "invoice\\u202efdp.exe \\u2066a\\u2069"
    assert redact.printable("bad\udc9bbyte") == "bad\\x9bbyte"  # an undecodable byte of a file name
    kept = "naïve 中文 ✓ 🙂 ~ \\ ' \" ä\u200d"
    assert redact.printable(kept) == kept
    everything = redact.printable("".join(map(chr, range(0x110000))))
    bidi = set(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
    assert not [c for c in everything if unicodedata.category(c) in ("Cc", "Cs") or c in bidi]


def test_ui_prints_untrusted_text_escaped(capsys):
    name = "evil\x1b]0;owned\x07\u202eexe"
    print(ui.table([[name, "ok"]], ["FILE", "STATUS"]))
    ui.say(f"kept {name}", "ok")
    ui.error(f"cannot read {name} from https://u:S3CR3T@h/")
    ui.print_json({"name": name + "\x9b"})
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "\u202e" not in out + err and "\x9b" not in out + err and "\x07" not in out + err
    assert out.splitlines()[1] == "evil\\x1b]0;owned\\x07\\u202eexe  ok"
    assert out.splitlines()[2] == "✓ kept evil\\x1b]0;owned\\x07\\u202eexe"
    assert err == "claude-docker: cannot read evil\\x1b]0;owned\\x07\\u202eexe from https://***:***@h/\n"
    assert json.loads(out.split("\n", 3)[3]) == {"name": name + "\x9b"}  # escaped as JSON, the same value


# -- where it is applied ---------------------------------------------------------------------------------

def test_a_file_name_with_escapes_is_printed_escaped_by_a_command(home):
    events = home / "logs\x1b[2J\x9b31m\u202e" / "events.jsonl"
    result = helper(home, "health", "--live", env={"CLAUDE_DOCKER_EVENTS_FILE": str(events)})
    assert result.returncode == 0, result.stderr
    assert "logs\\x1b[2J\\x9b31m\\u202e/events.jsonl is writable" in result.stdout
    assert not any(c in result.stdout for c in "\x1b\x9b\u202e")
    usage = helper(home, "ps", "--bo\x1b]0;x\x07gus")
    assert usage.returncode == 2 and "--bo\\x1b]0;x\\x07gus" in usage.stderr and "\x1b" not in usage.stderr


def test_error_lines_and_the_crash_log_hold_no_credentials(home, monkeypatch, capsys):
    from claude_docker import cli
    from claude_docker.errors import ToolError

    url = "https://crash:CR4SHPW@h/?token=CR4SHTOK"

    def tool_error(argv):
        raise ToolError(f"cannot reach {url}\x1b[2J", 1)

    def bug(argv):
        raise RuntimeError(f"cannot reach {url}")

    monkeypatch.setattr(sys, "argv", ["claude-docker", "flush", url])
    monkeypatch.setattr(cli, "_dispatch", tool_error)
    assert cli.main(["flush"]) == 1
    monkeypatch.setattr(cli, "_dispatch", bug)
    assert cli.main(["flush"]) == 3
    err = capsys.readouterr().err
    crash = (home / ".claude-docker" / "crash.log").read_text()
    assert err.splitlines()[0] == "claude-docker: cannot reach https://***:***@h/?token=***\\x1b[2J"
    assert "internal error (RuntimeError: cannot reach https://***:***@h/?token=***)" in err
    assert "Traceback" in crash and "https://***:***@h/?token=***" in crash
    for secret in ("CR4SHPW", "CR4SHTOK"):
        assert secret not in err and secret not in crash


def test_events_and_traces_store_no_credential_urls(home):
    from claude_docker.obs import events, settings
    from claude_docker.obs.tracing import Tracer

    events.emit("export", "POST https://ev:EVPW@h/v1?token=EVTOK failed", fields={"url": "https://h/?api_key=EVKEY"})
    result = helper(home, "log-event", "deploy", "target=https://sh:SHPW@h/x?sig=SHSIG", "message=to https://sh:SHPW@h")
    assert result.returncode == 0, result.stderr
    tracer = Tracer("op")
    tracer.start("push").end(error="PUT http://tr:TRPW@h/?token=TRTOK: HTTP 503")
    tracer.root.end()
    tracer.write(settings.traces_file())
    stored = home_files(home)
    for secret in ("EVPW", "EVTOK", "EVKEY", "SHPW", "SHSIG", "TRPW", "TRTOK"):
        assert secret not in stored
    records = [json.loads(line) for line in settings.events_file().read_text().splitlines()]
    assert records[0]["message"] == "POST https://***:***@h/v1?token=*** failed"
    assert records[0]["fields"] == {"url": "https://h/?api_key=***"}
    assert records[1]["fields"]["target"] == "https://***:***@h/x?sig=***"
    assert "PUT http://***:***@h/?token=***: HTTP 503" in stored


def test_a_url_free_event_takes_the_fast_path(home):
    """Redaction costs the log-event hot path nothing (no `re` import) unless a record holds a URL."""
    code = ("import sys; from claude_docker.cli import main; main(['log-event', 'x', 'a=' + sys.argv[1]]); "
            "print('claude_docker.redact' in sys.modules, 're' in sys.modules)")
    for value, imported in (("plain", "False False"), ("https://h/", "True True")):
        result = subprocess.run([sys.executable, "-I", "-c", code, value], capture_output=True, text=True, check=True)
        assert result.stdout.strip() == imported


def test_records_stored_before_redaction_are_exported_redacted(home, monkeypatch):
    """Logs written by an older version hold credential URLs as they were: the exporters redact them."""
    from claude_docker.obs import datadog, otlp, settings
    from claude_docker.obs.context import utc_now
    from claude_docker.obs.tracing import Tracer

    settings.events_file().write_text(json.dumps({"time": utc_now(), "level": "warn", "event": "old",
                                                  "message": "push to http://old:OLDPW@h/?token=OLDTOK failed"}) + "\n")
    tracer = Tracer("old")
    tracer.root.end(error="GET https://old:OLDPW@h/")
    settings.traces_file().parent.mkdir(parents=True)
    settings.traces_file().write_text(json.dumps(tracer.to_otlp()) + "\n")
    with Server() as dd, Server() as collector:
        monkeypatch.setenv("DD_API_KEY", KEY)
        monkeypatch.setenv("CLAUDE_DOCKER_DATADOG_URL", dd.url)
        monkeypatch.setenv("CLAUDE_DOCKER_OTLP_ENDPOINT", collector.url + "/v1/traces")
        assert datadog.send().logs_sent == 1
        assert otlp.export() == 1
    [log] = json.loads(dd.requests[0]["body"])
    assert log["message"] == "push to http://***:***@h/?token=*** failed"
    span = json.loads(collector.requests[0]["body"])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["status"]["message"] == "GET https://***:***@h/"
    assert "OLDPW" not in dd.received() + collector.received() and "OLDTOK" not in dd.received()


def test_credentials_in_exporter_urls_appear_nowhere(home):
    """A Pushgateway nobody answers and an OTLP collector that fails, both configured with credentials in
    their URLs: the real commands print, log, trace and export (to Datadog) none of them."""
    secrets = ("pgUSER", "pgS3CRET", "pgQTOK", "otUSER", "otS3CRET", "otQTOK", "otHDR")
    gateway_port = free_port()  # nothing listens there
    assert helper(home, "trace", "start", "deploy").returncode == 0  # a trace for the OTLP export to try
    with Server() as collector, Server() as dd:
        collector.statuses = [503, 503]
        env = {"CLAUDE_DOCKER_PUSHGATEWAY": f"http://pgUSER:pgS3CRET@127.0.0.1:{gateway_port}/?token=pgQTOK",
               "CLAUDE_DOCKER_OTLP_ENDPOINT":
                   collector.url.replace("//", "//otUSER:otS3CRET@") + "/v1/traces?token=otQTOK",
               "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=otHDR,x-team=blue", "DD_API_KEY": KEY,
               "CLAUDE_DOCKER_DATADOG_URL": dd.url, "CLAUDE_DOCKER_DATADOG_BACKOFF": "0.01"}
        runs = [helper(home, *args, env=env) for args in (["flush", "--json"], ["flush"], ["metrics", "collect"],
                                                           ["metrics", "collect", "--json"], ["datadog", "send"])]
        doctor = helper(home, "doctor", env={**env, "PATH": "/nonexistent"})
    flush_json, flush_human, collect = runs[:3]
    errors = json.loads(flush_json.stdout)["errors"]
    assert flush_json.returncode == 1 and len(errors) == 2
    assert errors[0].startswith(f"push to http://***:***@127.0.0.1:{gateway_port}/?token=*** failed: ")
    masked = collector.url.replace("//", "//***:***@")
    assert errors[1] == f"OTLP export to {masked}/v1/traces?token=*** failed: HTTP 503"
    assert flush_human.stderr.count("\n") == 2 and collect.returncode == 1
    assert "push to http://***:***@" in collect.stderr
    shown = next(line for line in doctor.stdout.splitlines() if line.startswith("· otlp "))
    assert shown.split(None, 2)[2] == \
        f"{collector.url.replace('//', '//***:***@')}/v1/traces?token=*** with x-api-key: ***, x-team: blue"
    # The collector itself was sent its credentials: as a header and its own query, to its own host only.
    first = collector.requests[0]
    assert first["path"] == "/v1/traces?token=otQTOK" and first["headers"]["x-api-key"] == "otHDR"
    assert first["headers"]["authorization"] == "Basic " + base64.b64encode(b"otUSER:otS3CRET").decode()
    # Datadog got the failures as events (the second flush sent the first's), redacted.
    failures = [item for r in dd.requests if r["path"] == "/api/v2/logs" for item in json.loads(r["body"])
                if item.get("event") == "telemetry.export_failed"]
    assert any("push to http://***:***@127.0.0.1:" in f["message"] for f in failures)
    assert any("OTLP export to http://***:***@127.0.0.1:" in f["message"] for f in failures)
    printed = "".join(r.stdout + r.stderr for r in runs + [doctor])
    for secret in secrets:
        assert secret not in printed and secret not in home_files(home) and secret not in dd.received(), secret


def test_secrets_masks_inline_credentials_and_known_token_shapes_in_free_text():
    from claude_docker import redact

    token = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0"
    text = f"GITHUB_TOKEN={token} curl -H 'Authorization: Bearer abc' https://u:pw@h/p --api-key K3Y; also {token}."
    assert redact.secrets(text) == "GITHUB_TOKEN=*** curl -H 'Authorization: ***"  # a header's value: the rest
    assert redact.secrets(f"pushed with {token}.") == "pushed with ***."
    assert redact.secrets("fetch https://u:pw@h/p --api-key K3Y then") == "fetch https://***:***@h/p --api-key *** then"
    assert redact.secrets("a monkey=1 author: me") == "a monkey=1 author: me"


def test_secrets_masks_secret_values_in_printed_dicts_lowercase_names_slack_webhooks_and_tokens():
    assert redact.secrets("bad config {'password': 'hunter2', 'user': 'bob'}") == \
        "bad config {'password': '***', 'user': 'bob'}"
    assert redact.secrets('{"api_key": "abc123", "n": 1}') == '{"api_key": "***", "n": 1}'
    assert redact.secrets("password: hunter2") == "password: ***"
    assert redact.secrets("with key=abc123 token=t0k3n, monkey=1") == "with key=*** token=***, monkey=1"
    hook = "https://hooks.slack.com/services/T0SECRET/B0SECRET/XXXXTOKEN"
    assert redact.secrets(f"post to {hook} failed") == "post to https://hooks.slack.com/services/*** failed"
    for token in ("xapp-1-A0SECRET-123-abcdef", "xoxb-12-SECRETab", "xoxe.xoxp-1-SECRETcd", "xoxe-1-SECRETef"):
        assert redact.secrets(f"token {token} refused") == "token *** refused", token


@pytest.mark.parametrize("path", ["/services/T0SECRET/B0SECRET/XXXX TOKEN", "/services/T0SECRET/B0SECRET/XXXXTOKENé",
                                  "/services/T0SECRET/B0SECRET/XXXX\nTOKEN?token=T0SECRET"])
def test_an_invalid_url_is_reported_by_its_origin_alone(path):
    from claude_docker.obs import http

    port = free_port()
    status, _headers, reason = http.request("POST", f"http://user:pw@127.0.0.1:{port}{path}", b"{}", {}, timeout=2)
    assert status is None and reason.startswith(f"invalid URL http://127.0.0.1:{port}")
    assert "SECRET" not in reason and "TOKEN" not in reason and "pw" not in reason
    status, _headers, reason = http.request("POST", f"http://127.0.0.1:x{path}", b"{}", {}, timeout=2)
    assert status is None and reason.startswith("invalid URL http://127.0.0.1:x") and "SECRET" not in reason
