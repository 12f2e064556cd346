"""Alert targets and the four channels against the real things on 127.0.0.1: Prometheus Alertmanager, an SMTP
server (aiosmtpd), a Slack stand-in that enforces 1/s and checks every request, and a desktop notification
service (dunst on a session D-Bus under Xvfb) through plyer; and each channel's failures read right (retried
or permanent), their messages without the URL's secrets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import alertdaemons
from alertdaemons import am_alerts, dunst, dunst_history, free_port, hooked, smtp
from alertservers import Answer, Receiver, SlackStandIn
from claude_docker import exitcodes
from claude_docker.alerting import targets
from claude_docker.alerting.channels import alertmanager, desktop, mail, slack
from claude_docker.alerting.model import DIGEST, FIRING, RESOLVED, Notification
from claude_docker.errors import ToolError
from polling import wait_for

TOKEN = "T0SECRET1/B0SECRET2/xoxbSECRETtoken3"


def note(kind: str = FIRING, alertname: str = "ErrorRateHigh", **extra) -> Notification:
    labels = {"alertname": alertname, "severity": "high", "command": "run"}
    return Notification(id=f"n-{alertname}-{kind}", kind=kind, labels=labels,
                        summary=extra.pop("summary", "error rate 12% over 5m (threshold 5%)"),
                        runbook="docs/ALERTING.md#errorratehigh", starts_at="2026-11-30T10:00:00.000Z", **extra)


# --- targets ---------------------------------------------------------------------------------------------

def test_parse_every_scheme_names_its_channel_and_endpoint():
    cases = {
        "desktop://": ("desktop", None),
        f"slack://{TOKEN}": ("slack", f"https://hooks.slack.com/services/{TOKEN}"),
        "slack+http://127.0.0.1:8080/services/x": ("slack", "http://127.0.0.1:8080/services/x"),
        "mailto://me:pw@smtp.example.com:587/?to=a@b.c,d@e.f": ("mail", None),
        "mailtos://smtp.example.com/?to=a@b.c": ("mail", None),
        "sendmail://?to=a@b.c": ("mail", None),
        "alertmanager://am.local:9093": ("alertmanager", "http://am.local:9093/api/v2/alerts"),
        "alertmanager+https://am.local/prefix": ("alertmanager", "https://am.local/prefix/api/v2/alerts"),
        "json://hooks.example.com/in?k=1&severity=low": ("webhook", "https://hooks.example.com/in?k=1"),
        "json+http://127.0.0.1:9/in": ("webhook", "http://127.0.0.1:9/in"),
    }
    for url, (channel, endpoint) in cases.items():
        target = targets.parse(url)
        assert targets.channel(target) == channel, url
        if endpoint:
            assert targets.http_url(target) == endpoint, url


def test_query_sets_severities_and_escalation_over_the_defaults():
    target = targets.parse("slack://T1/B2/X3?severity=high,critical&escalation=2", severities=["low"])
    assert target.severities == frozenset({"high", "critical"})
    assert target.escalation == 2
    assert targets.http_url(target) == "https://hooks.slack.com/services/T1/B2/X3"
    default = targets.parse("desktop://", severities=["low", "medium"], escalation=1)
    assert (default.severities, default.escalation) == (frozenset({"low", "medium"}), 1)
    assert targets.parse("desktop://").severities == frozenset({"critical", "high", "medium", "low"})
    assert targets.parse("desktop://", severities="high,critical").severities == frozenset({"high", "critical"})
    low = Notification(id="x", kind=FIRING, labels={"alertname": "A", "severity": "low"}, summary="s")
    assert not target.wants(low)


def test_shown_hides_tokens_and_passwords():
    assert targets.parse(f"slack://{TOKEN}").shown == "slack://T…/…"
    assert "SECRET" not in targets.parse("slack+https://hooks.example.com/services/SECRET").shown
    shown = targets.parse("mailto://me:hunter2@smtp.example.com/?to=a@b.c").shown
    assert "hunter2" not in shown and "smtp.example.com" in shown
    assert "hunter2" not in targets.parse("alertmanager+https://u:hunter2@am.example.com").shown


@pytest.mark.parametrize("url, says", [
    ("gotify://h/SECRETTOKEN", "unknown channel"),
    ("slack://T1/SECRETONLY", "slack://…: a Slack webhook"),
    ("mailto://me:SECRETPW@smtp.example.com/", "no recipient"),
    ("mailto://me:SECRETPW@smtp.example.com/?to=notanaddress", "not a mail address"),
    ("mailto://me:SECRETPW@smtp.example.com/?to=a@b.c&bcc=x@y.z", "unknown parameter"),
    ("slack://T1/B2/SECRET3?severity=urgent", "unknown severity urgent"),
    ("slack://T1/B2/SECRET3?escalation=-1", "escalation"),
    ("alertmanager+http://u:SECRETPW@h:notaport", "not a valid URL"),
    ("desktop://SECRET", "desktop:// takes nothing"),
    ("sendmail://?to=a@b.c%0aBcc:x@y.z", "not a mail address"),
    ("SECRET", "not a URL"),
])
def test_bad_targets_are_one_line_config_errors_without_secrets(url, says):
    with pytest.raises(ToolError) as caught:
        targets.parse(url)
    assert caught.value.code == exitcodes.ALERT_CONFIG
    assert says in caught.value.message and "\n" not in caught.value.message
    assert "SECRET" not in caught.value.message


def test_bad_severity_argument_is_a_config_error():
    with pytest.raises(ToolError) as caught:
        targets.parse("desktop://", severities=["severe"])
    assert caught.value.code == exitcodes.ALERT_CONFIG


# --- Slack -------------------------------------------------------------------------------------------------

@pytest.fixture
def slack_server():
    server = SlackStandIn()
    yield server
    server.stop()


def slack_target(server) -> targets.Target:
    return targets.parse(server.url.replace("http://", "slack+http://") + "/services/" + TOKEN)


def test_slack_delivers_text_and_blocks(slack_server):
    delivered = slack.send(slack_target(slack_server), note(), timeout=5)
    assert delivered.ok, delivered.detail
    [request] = slack_server.requests
    assert request.path == "/services/" + TOKEN and not slack_server.problems
    data = request.json()
    assert "ErrorRateHigh" in data["text"] and "error rate 12%" in data["text"] and ":red_circle:" in data["text"]
    blocks = json.dumps(data["blocks"])
    assert "command=run" in blocks and "docs/ALERTING.md#errorratehigh" in blocks


def test_slack_resolved_and_digest_read_as_such(slack_server):
    slack_server.interval = 0  # this test is about the payloads, not the rate
    target = slack_target(slack_server)
    assert slack.send(target, note(RESOLVED, ends_at="2026-11-30T10:20:00.000Z"), timeout=5).ok
    items = [note(alertname=f"Rule{i}").to_json() for i in range(3)]
    assert slack.send(target, note(DIGEST, alertname="Digest", summary="3 notifications held back",
                                   items=items), timeout=5).ok
    resolved, digest = (r.json() for r in slack_server.requests)
    assert "[resolved]" in resolved["text"] and ":white_check_mark:" in resolved["text"]
    assert "ends: 2026-11-30T10:20:00.000Z" in json.dumps(resolved["blocks"])
    assert "[digest]" in digest["text"]
    assert all(f"[high] Rule{i}" in json.dumps(digest["blocks"]) for i in range(3))


def test_slack_429_gives_retry_after(slack_server):
    target = slack_target(slack_server)
    assert slack.send(target, note(), timeout=5).ok
    limited = slack.send(target, note(), timeout=5)  # at once: over 1/s
    assert [r.status for r in slack_server.requests] == [200, 429]
    assert not limited.ok and not limited.permanent
    assert limited.retry_after is not None and limited.retry_after >= 1
    assert TOKEN not in limited.detail and "429" in limited.detail


def test_slack_400_is_permanent_and_5xx_retried(slack_server):
    target = slack_target(slack_server)
    slack_server.answer = Answer(400, b"no_text")
    refused = slack.send(target, note(), timeout=5)
    assert not refused.ok and refused.permanent and refused.retry_after is None
    slack_server.answer = Answer(503, b"down")
    failing = slack.send(target, note(), timeout=5)
    assert not failing.ok and not failing.permanent
    assert all(TOKEN not in d.detail for d in (refused, failing))


def test_slack_nothing_listening_is_retried():
    target = targets.parse(f"slack+http://127.0.0.1:{free_port()}/services/{TOKEN}")
    result = slack.send(target, note(), timeout=5)
    assert not result.ok and not result.permanent and result.retry_after is None
    assert TOKEN not in result.detail and "refused" in result.detail.lower()


# --- mail --------------------------------------------------------------------------------------------------

@pytest.fixture
def smtp_server():
    def authenticator(server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        ok = auth_data.login == b"alerts" and auth_data.password == b"right"
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    with smtp(authenticator) as box:
        yield box


def test_mail_arrives_with_subject_body_and_recipients(home, smtp_server):
    target = targets.parse(f"mailto://127.0.0.1:{smtp_server.port}/?to=ops@example.com,me@example.com"
                           "&from=alerts@example.com")
    result = mail.send(target, note(value=0.12), timeout=10)
    assert result.ok, result.detail
    [envelope] = smtp_server.messages
    assert envelope.mail_from == "alerts@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "me@example.com"]
    from email import message_from_bytes, policy

    msg = message_from_bytes(envelope.original_content, policy=policy.default)
    assert msg["Subject"] == "claude-docker [high] ErrorRateHigh"
    body = msg.get_content()
    for expected in ("error rate 12% over 5m", "labels: command=run", "runbook: docs/ALERTING.md#errorratehigh",
                     "starts: 2026-11-30T10:00:00.000Z", "value: 0.12"):
        assert expected in body


def test_mail_login_right_and_wrong(home, smtp_server):
    base = f"127.0.0.1:{smtp_server.port}/?to=ops@example.com"
    assert mail.send(targets.parse(f"mailto://alerts:right@{base}"), note(), timeout=10).ok
    wrong = mail.send(targets.parse(f"mailto://alerts:SECRETwrong@{base}"), note(), timeout=10)
    assert not wrong.ok and wrong.permanent and "login refused" in wrong.detail
    assert "SECRET" not in wrong.detail
    assert len(smtp_server.messages) == 1


def test_mail_refused_recipient_is_permanent(home, smtp_server):
    target = targets.parse(f"mailto://127.0.0.1:{smtp_server.port}/?to=nobody@refused.example")
    result = mail.send(target, note(), timeout=10)
    assert not result.ok and result.permanent and "nobody@refused.example" in result.detail
    assert smtp_server.messages == []


def test_mail_nothing_listening_is_retried(home):
    result = mail.send(targets.parse(f"mailto://127.0.0.1:{free_port()}/?to=ops@example.com"), note(), timeout=5)
    assert not result.ok and not result.permanent


def test_sendmail_gets_the_message_on_stdin(home, tmp_path, monkeypatch):
    """No MTA here: a stand-in `sendmail` on PATH that keeps its arguments and input, and fails as told."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "sendmail"
    fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/argv\ncat > {tmp_path}/stdin\nexit "${{FAIL:-0}}"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    target = targets.parse("sendmail://?to=ops@example.com")
    assert mail.send(target, note(), timeout=10).ok
    assert (tmp_path / "argv").read_text().split() == ["-t", "-oi"]
    sent = (tmp_path / "stdin").read_text()
    assert "To: ops@example.com" in sent and "Subject: claude-docker [high] ErrorRateHigh" in sent
    monkeypatch.setenv("FAIL", "67")  # EX_NOUSER
    assert mail.send(target, note(), timeout=10).permanent
    monkeypatch.setenv("FAIL", "75")  # EX_TEMPFAIL
    failed = mail.send(target, note(), timeout=10)
    assert not failed.ok and not failed.permanent


# --- Alertmanager ------------------------------------------------------------------------------------------

@pytest.fixture
def alertmanager_server(tmp_path):
    with alertdaemons.alertmanager(tmp_path) as found:
        yield found


def test_alertmanager_receives_firing_then_resolved(alertmanager_server):
    url, hook = alertmanager_server
    target = targets.parse(url.replace("http://", "alertmanager+http://"))
    firing = alertmanager.send(target, note(), timeout=5)
    assert firing.ok, firing.detail
    [shown] = wait_for(lambda: [a for a in am_alerts(url) if a["labels"].get("alertname") == "ErrorRateHigh"],
                       timeout=10, what="the alert in Alertmanager")
    assert shown["labels"] == {"alertname": "ErrorRateHigh", "severity": "high", "command": "run",
                               "instance": socket.gethostname()}
    assert shown["annotations"] == {"summary": "error rate 12% over 5m (threshold 5%)",
                                    "runbook": "docs/ALERTING.md#errorratehigh"}
    assert shown["status"]["state"] == "active"
    [sent] = wait_for(lambda: hooked(hook, "firing"), timeout=20, what="the webhook receiver to get it firing")
    assert sent["labels"]["alertname"] == "ErrorRateHigh" and sent["startsAt"].startswith("2026-11-30T10:00:00")

    resolved = alertmanager.send(target, note(RESOLVED, ends_at="2026-11-30T10:20:00.000Z"), timeout=5)
    assert resolved.ok, resolved.detail
    [done] = wait_for(lambda: hooked(hook, "resolved"), timeout=20, what="the webhook receiver to get it resolved")
    assert done["labels"]["alertname"] == "ErrorRateHigh" and done["endsAt"].startswith("2026-11-30T10:20:00")
    assert not [a for a in am_alerts(url) if a["labels"].get("alertname") == "ErrorRateHigh"]


def test_alertmanager_digest_is_one_alert_per_item(alertmanager_server):
    url, _hook = alertmanager_server
    target = targets.parse(url.replace("http://", "alertmanager+http://"))
    items = [note(alertname=f"Rule{i}").to_json() for i in range(3)]
    items[0]["labels"]["exit-code"] = "2"  # not a name Alertmanager takes: sent as exit_code
    assert alertmanager.send(target, note(DIGEST, alertname="Digest", items=items), timeout=5).ok
    alerts = wait_for(lambda: len(am_alerts(url)) >= 3 and am_alerts(url), timeout=10, what="three alerts")
    assert sorted(a["labels"]["alertname"] for a in alerts) == ["Rule0", "Rule1", "Rule2"]
    [first] = [a for a in alerts if a["labels"]["alertname"] == "Rule0"]
    assert first["labels"]["exit_code"] == "2"


def test_alertmanager_refusal_is_permanent_and_no_answer_retried():
    hook = Receiver()
    try:
        hook.answer = Answer(400, b'{"message": "bad alert"}')
        target = targets.parse(hook.url.replace("http://", "alertmanager+http://"))
        refused = alertmanager.send(target, note(), timeout=5)
        assert not refused.ok and refused.permanent
        [request] = hook.requests
        assert request.path == "/api/v2/alerts" and request.headers["Content-Type"] == "application/json"
        [sent] = request.json()
        assert sent["labels"]["instance"] == socket.gethostname() and sent["generatorURL"] == ""
        assert sent["endsAt"] > sent["startsAt"]  # firing: held open, not resolved at once
    finally:
        hook.stop()
    gone = alertmanager.send(targets.parse(f"alertmanager+http://127.0.0.1:{free_port()}"), note(), timeout=5)
    assert not gone.ok and not gone.permanent


# --- desktop -----------------------------------------------------------------------------------------------

def _events(home: Path, name: str) -> list[dict]:
    path = home / ".claude-docker-events.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e["event"] == name]


@pytest.fixture
def dunst_session(tmp_path, monkeypatch):
    """dunst on a session D-Bus under Xvfb; DISPLAY and DBUS_SESSION_BUS_ADDRESS set to reach it."""
    with dunst(tmp_path) as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield


def test_desktop_reaches_dunst_through_plyer(home, dunst_session):
    result = desktop.send(targets.parse("desktop://"), note(), timeout=10)
    assert result.ok, result.detail
    shown = wait_for(lambda: [n for n in dunst_history({}) if n["summary"] == "claude-docker [high] ErrorRateHigh"],
                     timeout=10, what="dunst to have our notification")
    assert shown[0]["body"] == "error rate 12% over 5m (threshold 5%)" and shown[0]["appname"] == "claude-docker"


def test_desktop_without_a_service_tells_once_and_recovers(home, tmp_path, monkeypatch):
    from claude_docker.alerting import files

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-bus")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no notify-send either
    first = desktop.send(targets.parse("desktop://"), note(), timeout=10)
    second = desktop.send(targets.parse("desktop://"), note(), timeout=10)
    for result in (first, second):
        assert not result.ok and result.permanent and "D-Bus" in result.detail and "\n" not in result.detail
    [event] = _events(home, "alert.desktop_unavailable")
    assert event["level"] == "warn" and "no desktop notifications here" in event["message"]
    marker = files.directory() / desktop.MARKER
    assert marker.exists()

    # A bus that answers but no backend at all (no python dbus, no notify-send): still the one notice.
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "bus"))
        listening.listen(4)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/bus")
        third = desktop.send(targets.parse("desktop://"), note(), timeout=10)
        assert not third.ok and third.permanent and "backend" in third.detail
        assert len(_events(home, "alert.desktop_unavailable")) == 1

        # A notify-send that works: the send succeeds and the marker goes, so a later failure tells again.
        (empty / "notify-send").write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/shown\n")
        (empty / "notify-send").chmod(0o755)
        monkeypatch.setenv("PATH", f"{empty}:/usr/bin:/bin")
        assert desktop.send(targets.parse("desktop://"), note(), timeout=10).ok
        assert "claude-docker [high] ErrorRateHigh" in (tmp_path / "shown").read_text()
        assert not marker.exists()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-bus")
    assert not desktop.send(targets.parse("desktop://"), note(), timeout=10).ok
    assert len(_events(home, "alert.desktop_unavailable")) == 2


def test_plyer_is_imported_only_when_sending():
    code = ("import sys; from claude_docker.alerting.channels import desktop; "
            "sys.exit(1 if any(m.split('.')[0] == 'plyer' for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize(("url", "shown"), [
    ("json://discord.com/api/webhooks/1234/SECRETTOKEN", "json://discord.com/…"),
    ("json+http://127.0.0.1:9/x?code=SECRETTOKEN", "json+http://127.0.0.1:9/…"),
    ("alertmanager://am.internal:9093", "alertmanager://am.internal:9093"),
])
def test_an_http_targets_path_and_query_are_never_shown(url, shown):
    assert targets.parse(url).shown == shown


@pytest.mark.parametrize("url", ["slack://T0SECRET/B0SECRET/XXXXTOKEN YYYY", "json://h/pSECRET\u00e9",
                                 "json://h/p\x07SECRET"])
def test_a_url_with_spaces_control_or_non_ascii_characters_is_refused_without_quoting_it(url):
    with pytest.raises(ToolError) as refused:
        targets.parse(url)
    assert refused.value.code == exitcodes.ALERT_CONFIG and "SECRET" not in refused.value.message


def test_slack_text_cannot_mention_or_link():
    from claude_docker.alerting.channels import slack

    note = Notification(id="x", kind="manual", labels={"alertname": "UserAlert", "severity": "high", "by": "<@U1>"},
                        summary="deploy <!channel> & see <https://evil.example|here>")
    text = json.dumps(slack.payload(note))
    assert "<!channel>" not in text and "<https://" not in text and "<@U1>" not in text
    assert "&lt;!channel&gt; &amp; see" in text
