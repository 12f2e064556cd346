"""`claude-docker alert watch` as a real process, the alert pass inside `claude-docker flush`, and the one-time
desktop notice at a `claude` start. Conditions are real records in the metrics log (catalog.observe); alerts
reach a webhook on 127.0.0.1 (alertservers.Receiver). The watchers run with `--interval 1h`: a notification
that comes while the test waits is explained only by the watcher waking on the log or on a `for:` due."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from alertservers import Receiver
from claude_docker import exitcodes
from claude_docker.alerting import evaluate, files, notice
from claude_docker.obs.catalog import observe
from polling import wait_for
from shell import plugin_env, run_claude

WAIT = 30.0  # far below the watchers' 1 h interval


@pytest.fixture
def receiver(home, monkeypatch):
    r = Receiver()
    monkeypatch.setenv("CLAUDE_DOCKER_ALERT_TARGETS", f"json+{r.url}/hook")
    monkeypatch.setenv("CLAUDE_DOCKER_BACKGROUND_FLUSH", "0")
    monkeypatch.setenv("CLAUDE_DOCKER_ALERTS", "1")  # (the flush's pass, which conftest turns off)
    yield r
    r.stop()


def start_watch() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "claude_docker", "alert", "watch", "--interval", "1h"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(watcher: subprocess.Popen) -> tuple[int, str]:
    """SIGTERM, by pid; (its exit status, its stderr)."""
    watcher.send_signal(signal.SIGTERM)
    try:
        _, err = watcher.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        watcher.kill()
        watcher.communicate()
        raise
    return watcher.returncode, err


@pytest.fixture
def watching(receiver):
    """A started watcher; the test stops it (and checks how), or this does if the test failed first."""
    started: list[subprocess.Popen] = []

    def begin() -> subprocess.Popen:
        started.append(start_watch())
        return started[-1]

    yield begin
    for watcher in started:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()


def helper_error(command: str) -> None:
    """A condition made true: the helper-errors rule fires for `command` (medium, no `for:` by default)."""
    observe("claude_docker_helper_errors_total", 1, command=command)


def firing(receiver: Receiver, command: str) -> list[dict]:
    return [r.json() for r in receiver.requests if r.json().get("kind") == "firing"
            and r.json()["labels"].get("alertname") == "ClaudeDockerHelperErrors"
            and r.json()["labels"].get("command") == command]


def write_config(text: str) -> None:
    files.directory()  # the state dir, made
    files.config_file().write_text(text)


def first_pass_done() -> bool:
    return (files.directory() / "rollup.json").exists()


def test_a_pass_at_once_then_a_record_is_notified_without_waiting_for_the_interval(receiver, watching):
    helper_error("before")
    watcher = watching()
    wait_for(lambda: firing(receiver, "before"), WAIT, "the first pass to notify what was recorded before")
    assert not firing(receiver, "after")
    helper_error("after")
    [note] = wait_for(lambda: firing(receiver, "after"), WAIT, "the watcher to notify the new record")
    assert note["labels"]["severity"] == "medium"
    assert len(firing(receiver, "before")) == 1  # told once, not at every pass
    status, err = stop(watcher)
    assert status == exitcodes.OK, err
    assert "Traceback" not in err


def test_a_pending_alert_fires_when_its_for_is_due_without_a_new_record(receiver, watching):
    write_config('[rules.ClaudeDockerHelperErrors]\nfor = "3s"\n')
    watcher = watching()
    wait_for(first_pass_done, WAIT, "the first pass")
    helper_error("slow")

    def pending() -> bool:
        return any(a["state"] == "pending" and a["labels"].get("command") == "slow" for a in evaluate.current())

    wait_for(pending, WAIT, "the record to make the alert pending")
    assert not firing(receiver, "slow")  # pending is never told
    wait_for(lambda: firing(receiver, "slow"), WAIT, "the pending alert to fire when its `for:` ran out")
    status, err = stop(watcher)
    assert status == exitcodes.OK, err


def test_a_second_watcher_is_refused_naming_the_first(receiver, watching):
    first = watching()
    wait_for(lambda: (files.directory() / "watch.lock").exists()
             and (files.directory() / "watch.lock").read_text().strip() == str(first.pid), WAIT,
             "the first watcher to hold its lock")
    second = subprocess.run([sys.executable, "-m", "claude_docker", "alert", "watch", "--interval", "1h"],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert second.returncode == exitcodes.ALERT_BUSY == 17
    assert f"pid {first.pid}" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    assert first.poll() is None  # the first one goes on
    status, err = stop(first)
    assert status == exitcodes.OK, err


def test_a_malformed_config_is_told_once_and_the_watcher_goes_on_with_the_defaults(receiver, watching):
    write_config("[throttle\nrepeat = \n")
    watcher = watching()
    wait_for(first_pass_done, WAIT, "the first pass")
    helper_error("broken-config")  # a second pass, on the record

    def firing_now() -> bool:
        return any(a["state"] == "firing" and a["labels"].get("command") == "broken-config"
                   for a in evaluate.current())

    wait_for(firing_now, WAIT, "the default rules to be evaluated all the same")
    assert watcher.poll() is None
    status, err = stop(watcher)
    assert status == exitcodes.OK
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # once, not at each pass (the first and the one the record woke)
    assert "alerting.toml" in lines[0] and "the defaults are used" in lines[0], err
    assert "Traceback" not in err


# --- the background pass: `claude-docker flush` --------------------------------------------------------------

def flush(**env: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "claude_docker", "flush", "--json"], capture_output=True,
                            text=True, timeout=120, env={**os.environ, **env})
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def test_flush_runs_an_alert_pass(receiver):
    helper_error("flushed")
    found = flush()
    assert found["alerts"]["transitions"] >= 1
    assert found["alerts"]["delivery"]["delivered"] >= 1
    assert firing(receiver, "flushed")


def test_flush_without_alerts_runs_no_pass(receiver):
    helper_error("not-flushed")
    found = flush(CLAUDE_DOCKER_ALERTS="0")
    assert "alerts" not in found
    assert not receiver.requests
    assert not evaluate.current()


# --- the one-time desktop notice -----------------------------------------------------------------------------

def desktop_failed() -> None:
    (files.directory() / notice.MARKER).write_text("no session D-Bus\n")


def test_notice_is_told_once_and_again_after_desktop_worked(home, tmp_path, monkeypatch):
    from claude_docker.alerting import targets
    from claude_docker.alerting.channels import desktop
    from claude_docker.alerting.model import Notification

    assert notice.take() is None  # the desktop never failed
    desktop_failed()
    told = notice.take()
    assert told is not None and "\n" not in told and "alerting.toml" in told
    assert notice.take() is None
    # A desktop send that works (a notify-send on a bus that answers) clears it: a later failure tells again.
    import socket

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "notify-send").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "notify-send").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with socket.socket(socket.AF_UNIX) as bus:
        bus.bind(str(tmp_path / "bus"))
        bus.listen(4)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/bus")
        note = Notification(id="n", kind="firing", labels={"alertname": "A", "severity": "high"}, summary="s")
        assert desktop.send(targets.parse("desktop://"), note, timeout=10).ok
    assert notice.take() is None
    desktop_failed()
    assert notice.take() == told


def test_claude_start_tells_the_notice_once(home, fake_image):
    project = home / "project"
    project.mkdir()
    env = plugin_env(home, fake_image, CLAUDE_DOCKER_BACKGROUND_FLUSH="0")
    desktop_failed()
    first = run_claude(project, env, "--version")
    second = run_claude(project, env, "--version")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stderr.count("alerts can't reach a desktop here") == 1
    assert "alerts can't reach a desktop here" not in second.stderr
    assert Path(files.directory() / notice.TOLD).exists()
