"""send_to_datadog against a local stand-in for Datadog's intake: limits, gzip, retries, spool, no duplicates."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fakeintake import FakeIntake
from test_redact import Server

KEY = "dd-test-key-0123456789abcdef"
LOGS, SERIES = "/api/v2/logs", "/api/v2/series"


@pytest.fixture
def intake(home, monkeypatch):
    with FakeIntake() as fake:
        monkeypatch.setenv("DD_API_KEY", KEY)
        monkeypatch.setenv("CLAUDE_DOCKER_DATADOG_URL", fake.url)
        monkeypatch.setenv("CLAUDE_DOCKER_DATADOG_BACKOFF", "0.01")
        yield fake


def emit(n: int, offset: int = 0, **fields):
    from claude_docker.obs import events
    from claude_docker.obs.catalog import observe

    for i in range(offset, offset + n):
        events.emit("load", fields={"i": i, **fields})
    observe("claude_docker_sessions_total", n, slot="v1", outcome="ok")
    observe("claude_docker_session_startup_seconds", 0.5, slot="v1")


def send():
    from claude_docker.obs import datadog

    return datadog.send()


def sent_ids(intake) -> list[int]:
    return [item["fields"]["i"] for r in intake.accepted(LOGS) for item in r["body"] if item.get("event") == "load"]


def test_logs_and_series_arrive_gzipped_in_limits(intake):
    emit(2500)
    report = send()
    assert report.error is None and report.logs_sent == 2500
    batches = intake.accepted(LOGS)
    assert [len(b["body"]) for b in batches] == [1000, 1000, 500]
    for b in batches:
        assert b["headers"]["content-encoding"] == "gzip" and b["headers"]["dd-api-key"] == KEY
        assert b["raw_size"] <= 5_000_000
    item = batches[0]["body"][0]
    assert item["ddsource"] == "claude-docker" and item["service"] == "claude-docker" and item["status"] == "info"
    assert item["message"] == "load" and len(item["trace_id"]) == 32
    [series] = intake.accepted(SERIES)
    by_name = {s["metric"]: s for s in series["body"]["series"]}
    assert by_name["claude_docker.sessions_total"]["type"] == 1
    assert by_name["claude_docker.sessions_total"]["points"][0]["value"] == 2500.0
    assert "slot:v1" in by_name["claude_docker.sessions_total"]["tags"]
    assert by_name["claude_docker.session_startup_seconds"]["type"] == 3
    assert sorted(sent_ids(intake)) == list(range(2500))


def test_retries_on_5xx_429_408_then_nothing_lost_or_sent_twice(intake):
    emit(10)
    intake.script[LOGS] = [500, 429, 408]
    report = send()
    assert report.error is None and report.logs_sent == 10
    assert [r["status"] for r in intake.requests if r["path"] == LOGS] == [500, 429, 408, 202]
    assert sorted(sent_ids(intake)) == list(range(10))


def test_what_cannot_be_sent_is_spooled_and_sent_later_once(intake, monkeypatch):
    emit(30)
    monkeypatch.setenv("CLAUDE_DOCKER_DATADOG_RETRIES", "2")
    intake.script[LOGS] = [503, 503]
    report = send()
    assert report.error and report.logs_sent == 0
    emit(5, offset=30)  # more events arrive while Datadog is down
    report = send()
    assert report.error is None and report.logs_sent == 35
    send()  # nothing left: nothing is sent again
    assert sorted(sent_ids(intake)) == list(range(35))


def test_a_refused_key_is_not_retried_and_keeps_everything(intake):
    emit(5)
    intake.script[LOGS] = [403]
    report = send()
    assert "refused the API key" in report.error
    assert len([r for r in intake.requests if r["path"] == LOGS]) == 1
    report = send()
    assert report.logs_sent == 5 and sorted(sent_ids(intake)) == list(range(5))


def test_a_poison_item_is_isolated_and_dropped_alone_and_413_splits(intake):
    emit(8)
    poison = 5
    intake.refuse = lambda body: 400 if isinstance(body, list) and any(
        item.get("fields", {}).get("i") == poison for item in body) else None
    report = send()
    assert report.logs_sent == 7 and report.dropped == 1 and report.error is None
    assert sorted(sent_ids(intake)) == [i for i in range(8) if i != poison]
    intake.refuse = None
    emit(8, offset=8)
    intake.script[LOGS] = [413]
    report = send()
    assert report.logs_sent == 8
    assert [len(r["body"]) for r in intake.requests if r["path"] == LOGS][-3:] == [8, 4, 4]


def test_a_proxy_refusal_keeps_everything(intake):
    emit(5)
    intake.script[LOGS] = [407]
    report = send()
    assert "HTTP 407" in report.error and report.dropped == 0 and report.logs_sent == 0
    assert send().logs_sent == 5 and sorted(sent_ids(intake)) == list(range(5))


def test_count_points_in_one_second_are_summed(intake):
    from claude_docker.obs.catalog import observe

    for _ in range(3):
        observe("claude_docker_sync_conflicts_total", 1)
    send()
    [series] = intake.accepted(SERIES)
    conflicts = [s for s in series["body"]["series"] if s["metric"] == "claude_docker.sync_conflicts_total"]
    assert sum(p["value"] for s in conflicts for p in s["points"]) == 3.0
    assert len({(s["points"][0]["timestamp"]) for s in conflicts}) == len(conflicts)


def test_too_old_points_and_logs_are_dropped_before_sending(intake):
    import time

    from claude_docker.obs import datadog

    emit(3)
    report = datadog.send(now=time.time() + 19 * 3600)  # 19 h later: logs past 18 h, points past 1 h
    assert report.logs_sent == 0 and report.metrics_sent == 0 and report.dropped == 3 + 2
    assert datadog.send().logs_sent == 0  # and they are not tried again
    assert intake.requests == []


def test_the_key_never_appears_in_logs_or_output(intake, home):
    emit(3)
    intake.script[LOGS] = [401]
    env = {**os.environ, "HOME": str(home)}
    result = subprocess.run([sys.executable, "-m", "claude_docker", "datadog", "send"], env=env, capture_output=True,
                            text=True)
    assert result.returncode == 1 and "refused the API key" in result.stderr
    flush = subprocess.run([sys.executable, "-m", "claude_docker", "flush", "--json"], env=env, capture_output=True,
                           text=True)
    files = [p for p in home.rglob("*") if p.is_file()]
    stored = [p.read_text(errors="replace") for p in files]
    for text in [result.stdout, result.stderr, flush.stdout, flush.stderr, *stored]:
        assert KEY not in text


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_and_everything_goes_once_it_answers(home, monkeypatch, status):
    """Followed, a redirect would take the key (and, for 307/308, the data) to a host nobody configured,
    and count what it answers as sent."""
    emit(5)
    with Server() as elsewhere, Server(redirect_to=elsewhere.url) as intake:
        monkeypatch.setenv("DD_API_KEY", KEY)
        monkeypatch.setenv("CLAUDE_DOCKER_DATADOG_URL", intake.url.replace("//", "//proxy:PXPW@"))
        intake.statuses = [status]
        report = send()
        assert report.logs_sent == report.metrics_sent == 0
        assert f"HTTP {status}, a redirect, not followed" in report.error
        assert "PXPW" not in report.error
        report = send()
        assert report.error is None and report.logs_sent == 5 and report.metrics_sent == 2
    assert elsewhere.requests == []
    assert [(r["path"], r["status"]) for r in intake.requests] == [(LOGS, status), (LOGS, 202), (SERIES, 202)]
    assert [item["fields"]["i"] for item in json.loads(intake.requests[1]["body"])] == list(range(5))
    assert {r["headers"]["authorization"] for r in intake.requests} == {"Basic cHJveHk6UFhQVw=="}  # proxy:PXPW


def test_without_a_key_it_says_so(home, monkeypatch):
    monkeypatch.delenv("DD_API_KEY", raising=False)
    result = subprocess.run([sys.executable, "-m", "claude_docker", "datadog", "send"], capture_output=True, text=True,
                            env={**os.environ, "HOME": str(home)})
    assert result.returncode == 1 and result.stderr == "claude-docker: DD_API_KEY is not set\n"
