"""The seed's nine alert rules end to end: each fires from records real operations made (sessions of stub
images on the real engine, orphaned containers, a hostile session's broken config, failed syncs, real backups,
a GitOps checkout edited by hand, the disk's real usage), reaches the user on the desktop (dunst), in Slack (the
stand-in), by mail (aiosmtpd) and through the real Alertmanager, and resolves there; high alerts open incidents
that close when their alerts resolve; a critical alert during a canary rollout rolls it back, and the rollback
joins the incident's timeline.

Passes run in this process (`run.run(now=...)`, as the background flush runs it) so a test can step time
forward for a `for:`, a window or an age; the records they read are the real ones. Thresholds a workstation
can't reach in a test (a minute of `for:`, 80 % of the disk) are lowered in alerting.toml, the documented way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import alertdaemons
from alertservers import SlackStandIn
from conftest import FAKE_CLAUDE
from polling import wait_for
from shell import helper, plugin_env, run_claude, start_claude, zsh_command

pytestmark = [pytest.mark.docker]

TOKEN = "T0ALERT/B0E2E/secretE2Etoken"
HOUR = 3600.0


@pytest.fixture(scope="module")
def receivers(tmp_path_factory):
    """The four channels' real receivers, shared by the module: Alertmanager (and its webhook), an SMTP
    server, the Slack stand-in (1 request/s, 429 beyond) and dunst on a session bus."""
    with alertdaemons.alertmanager(tmp_path_factory.mktemp("am")) as (am_url, hook), \
            alertdaemons.smtp() as mailbox, alertdaemons.dunst(tmp_path_factory.mktemp("dunst")) as desktop:
        slack = SlackStandIn()
        try:
            yield {"am": am_url, "hook": hook, "mail": mailbox, "desktop": desktop, "slack": slack}
        finally:
            slack.stop()


class Alerting:
    """A user whose alerts go to the four receivers: writes alerting.toml, runs passes, checks what arrived."""

    def __init__(self, home: Path, receivers: dict, env: dict):
        self.home, self.r, self.env = home, receivers, env
        self.state = home / ".claude-docker"

    def configure(self, **rules: dict) -> None:
        r = self.r
        lines = ["[throttle]", "max_per_hour = 1000", ""]
        for url in ("desktop://", r["slack"].url.replace("http://", "slack+http://") + "/services/" + TOKEN,
                    f"mailto://127.0.0.1:{r['mail'].port}/?to=ops@example.com&from=alerts@example.com",
                    r["am"].replace("http://", "alertmanager+http://")):
            lines += ["[[target]]", f"url = {json.dumps(url)}", ""]
        # The disk's real usage is the machine's: only the test about it lets that rule speak.
        rules = {"ClaudeDockerDiskUsageHigh": {"enabled": False}, **rules}
        for name, table in rules.items():
            lines.append(f"[rules.{name}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
            lines.append("")
        self.state.mkdir(exist_ok=True)
        (self.state / "alerting.toml").write_text("\n".join(lines))

    def evaluate(self, now: float | None = None) -> dict:
        """One pass, as the background flush runs it; every notification it made delivered."""
        from claude_docker.alerting import config, dispatch, run

        start, began = time.time() if now is None else now, time.monotonic()
        report = run.run(now=start)
        assert not report.get("busy") and not report["problems"], report
        delivery = report["delivery"]
        # A pass right after another (time stepped forward here, not on the Slack stand-in's clock) can meet
        # a 429: the outbox keeps it for the next delivery, after its Retry-After.
        for _ in range(5):
            if not delivery["pending"]:
                break
            time.sleep(1.1)
            delivery = dispatch.deliver(config.load(), start + time.monotonic() - began + 60)
        assert delivery["pending"] == 0 and report["delivery"]["gave_up"] == delivery["gave_up"] == 0, delivery
        return report

    def alerts(self, state: str) -> set[str]:
        from claude_docker.alerting import evaluate

        return {a["rule"] for a in evaluate.current() if a["state"] == state}

    def reached(self, rule: str, severity: str) -> None:
        """The rule's firing notification on all four channels, and active in Alertmanager."""
        self._everywhere(f"claude-docker [{severity}] {rule}")
        wait_for(lambda: any(a["labels"].get("alertname") == rule and a["labels"]["severity"] == severity
                             for a in alertdaemons.am_alerts(self.r["am"])), timeout=10,
                 what=f"{rule} active in Alertmanager")

    def resolved(self, rule: str, ahead: bool = False) -> None:
        """The rule's resolved notification on all four channels, and Alertmanager told: gone from its active
        alerts and routed as resolved; or, when the pass ran `ahead` of the clock Alertmanager keeps, held with
        the end the pass gave it (it resolves the alert then)."""
        from claude_docker.alerting import evaluate

        self._everywhere(f"claude-docker [resolved] {rule}")
        shown = [a for a in alertdaemons.am_alerts(self.r["am"]) if a["labels"].get("alertname") == rule]
        if ahead:
            ended = {time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(a["resolved_at"])) for a in evaluate.current()
                     if a["rule"] == rule and a["state"] == "resolved"}
            assert shown and all(a["endsAt"][:19] in ended for a in shown), (shown, ended)
            return
        assert not shown, shown
        wait_for(lambda: [a for a in alertdaemons.hooked(self.r["hook"], "resolved")
                          if a["labels"]["alertname"] == rule], timeout=20,
                 what=f"Alertmanager to route {rule} resolved")

    def _everywhere(self, title: str) -> None:
        r = self.r
        assert any(q.status == 200 and title in q.json()["text"] for q in list(r["slack"].requests)), title
        assert not r["slack"].problems
        assert title in r["mail"].subjects()
        wait_for(lambda: [n for n in alertdaemons.dunst_history(r["desktop"]) if n["summary"] == title],
                 timeout=10, what=f"dunst to show {title}")

    def cli(self, *args: str, code: int = 0) -> subprocess.CompletedProcess:
        done = helper(self.env, *args)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == code, done.stdout + done.stderr
        return done

    def incidents(self) -> dict[str, dict]:
        """Every incident by its cause (the newest when a cause had several), from `incident list --all --json`."""
        found = json.loads(self.cli("incident", "list", "--all", "--json").stdout)["incidents"]
        return {i["cause"]: i for i in sorted(found, key=lambda i: i["opened_at"])}

    def timeline(self, incident_id: str) -> list[dict]:
        return json.loads(self.cli("incident", "show", incident_id, "--json").stdout)["timeline"]

    def events(self, name: str) -> list[dict]:
        path = self.home / ".claude-docker-events.jsonl"
        return [e for e in map(json.loads, path.read_text().splitlines()) if e["event"] == name]


@pytest.fixture
def alerting(home, fake_image, receivers, monkeypatch):
    for name, value in receivers["desktop"].items():
        monkeypatch.setenv(name, value)  # the desktop of this process's passes, and of every command's
    # No detached flush (and its pass) from what these passes do (a rollback): the passes are the test's.
    monkeypatch.setenv("CLAUDE_DOCKER_BACKGROUND_FLUSH", "0")
    env = plugin_env(home, fake_image, CLAUDE_DOCKER_BACKGROUND_FLUSH="0")
    (home / ".claude").mkdir()
    (home / ".claude.json").write_text(json.dumps({"userID": "u1", "projects": {}}))
    return Alerting(home, receivers, env)


@pytest.fixture
def project(home) -> Path:
    made = home / "proj"
    made.mkdir()
    return made


def sh(project: Path, env: dict, script: str, code: int = 0) -> None:
    done = run_claude(project, env, "sh", script)
    assert done.returncode == code, done.stderr


# --- sessions: error rate, no success, slow start, data corruption ------------------------------------------

def test_session_rules_fire_reach_every_channel_open_incidents_and_resolve(alerting, project,
                                                                            no_leftover_containers):
    a = alerting
    a.configure(ClaudeDockerErrorRateHigh={"for": "6s"}, ClaudeDockerNoSuccessfulRun={"threshold": "4s"},
                ClaudeDockerStartupSlow={"threshold": 0.001, "for": "0s"})
    a.evaluate()  # a pass before anything happened: nothing fires
    assert a.alerts("firing") == set()

    sh(project, a.env, "true")
    # A hostile session leaves invalid JSON in its ~/.claude.json: kept aside, the host's file untouched.
    sh(project, a.env, 'printf "{broken" > "$HOME/.claude.json"')
    assert json.loads((a.home / ".claude.json").read_text())["userID"] == "u1"
    assert any(e["fields"].get("quarantined") for e in a.events("sync.out"))
    last_success = time.time()
    for _ in range(3):
        sh(project, a.env, "exit 3", code=3)  # Claude Code failing: outcome error
    time.sleep(max(0.0, last_success + 4.5 - time.time()))

    pending_since = time.time()
    a.evaluate()
    assert a.alerts("firing") == {"ClaudeDockerNoSuccessfulRun", "ClaudeDockerDataCorruption",
                                  "ClaudeDockerStartupSlow"}
    assert a.alerts("pending") == {"ClaudeDockerErrorRateHigh"}  # its `for:` has not run out
    a.reached("ClaudeDockerNoSuccessfulRun", "high")
    a.reached("ClaudeDockerDataCorruption", "high")
    a.reached("ClaudeDockerStartupSlow", "medium")
    incidents = a.incidents()
    assert set(incidents) == {"ClaudeDockerNoSuccessfulRun", "ClaudeDockerDataCorruption"}  # high ones only
    assert all(i["status"] == "open" for i in incidents.values())
    no_success = incidents["ClaudeDockerNoSuccessfulRun"]["id"]
    corruption = incidents["ClaudeDockerDataCorruption"]["id"]
    assert "acknowledged" in a.cli("incident", "ack", no_success).stdout
    a.cli("incident", "resolve", corruption, "--note", "the session's config was thrown away")

    time.sleep(max(0.0, pending_since + 6.5 - time.time()))
    sh(project, a.env, "true")  # a run ends well again; the error rate (4 of 7) has held for its `for:`
    a.evaluate()
    assert "ClaudeDockerNoSuccessfulRun" not in a.alerts("firing")
    a.resolved("ClaudeDockerNoSuccessfulRun")
    assert "ClaudeDockerErrorRateHigh" in a.alerts("firing")
    a.reached("ClaudeDockerErrorRateHigh", "high")

    a.evaluate(now=time.time() + 2 * HOUR)  # every window has passed; nobody runs claude at night
    assert a.alerts("firing") == set()
    for rule in ("ClaudeDockerErrorRateHigh", "ClaudeDockerDataCorruption", "ClaudeDockerStartupSlow"):
        a.resolved(rule, ahead=True)
    incidents = a.incidents()
    assert {c: (i["status"], i["resolved_by"]) for c, i in incidents.items()} == {
        "ClaudeDockerNoSuccessfulRun": ("resolved", "alerts"), "ClaudeDockerDataCorruption": ("resolved", "user"),
        "ClaudeDockerErrorRateHigh": ("resolved", "alerts")}
    kinds = [e["kind"] for e in a.timeline(no_success)]
    assert kinds[0] == "alert" and "ack" in kinds and kinds[-1] == "resolve"
    assert any("the session's config was thrown away" in e["text"] for e in a.timeline(corruption))
    assert incidents["ClaudeDockerNoSuccessfulRun"]["acked_at"] is not None


# --- orphaned containers -------------------------------------------------------------------------------------

def test_five_orphaned_containers_fire_and_cleanup_resolves(alerting, project, no_leftover_containers):
    from test_e2e_container import _children, _python_child, _wait_gone

    a = alerting
    a.configure()
    a.evaluate()
    procs = [subprocess.Popen(zsh_command(project, ["claude", "sh", "echo up; sleep 600"]), env=a.env,
                              stdout=subprocess.PIPE, text=True) for _ in range(5)]
    docker_cli: list[int] = []
    for proc in procs:
        assert proc.stdout.readline().strip() == "up"
        wrapper = _python_child(proc.pid)
        docker_cli += _children(wrapper)
        os.kill(wrapper, signal.SIGKILL)  # the wrapper dies; its container runs on
        proc.wait(timeout=30)
        proc.stdout.close()
    orphaned = [s for s in json.loads(a.cli("ps", "--json").stdout) if s["orphaned"]]
    assert len(orphaned) == 5

    a.evaluate()
    assert "ClaudeDockerOrphanedContainers" in a.alerts("firing")
    a.reached("ClaudeDockerOrphanedContainers", "high")
    [incident] = [i for c, i in a.incidents().items() if c == "ClaudeDockerOrphanedContainers"]
    assert incident["status"] == "open" and incident["severity"] == "high"

    assert "remove orphaned container" in a.cli("cleanup").stdout
    for pid in docker_cli:
        _wait_gone(pid)
    a.evaluate()
    assert "ClaudeDockerOrphanedContainers" not in a.alerts("firing")
    a.resolved("ClaudeDockerOrphanedContainers")
    closed = a.incidents()["ClaudeDockerOrphanedContainers"]
    assert closed["status"] == "resolved" and closed["resolved_by"] == "alerts"


# --- sync failures, disk usage ------------------------------------------------------------------------------

def test_sync_failures_and_disk_usage_fire_and_resolve(alerting, project, no_leftover_containers):
    a = alerting
    a.configure(ClaudeDockerDiskUsageHigh={"threshold": 0.000001, "for": "0s"})
    target = a.home / ".claude" / ".last-cleanup"
    for n in range(3):
        if target.is_dir():
            target.rmdir()
        target.write_text("host version\n")
        gate = project / f"go{n}"
        proc = start_claude(project, a.env, "sh", f'echo "session {n}" > "$HOME/.claude/.last-cleanup"; echo ready; '
                                                  f'while [ ! -e "{gate}" ]; do sleep 0.05; done')
        assert proc.stdout.readline().strip() == "ready"
        target.unlink()
        target.mkdir()  # the host path can't take the file the session wrote
        gate.touch()
        proc.communicate(timeout=60)
        assert proc.returncode == 122
    assert len(a.events("sync.out")) >= 3 and all(e["outcome"] == "error" for e in a.events("sync.out"))

    a.evaluate()
    assert {"ClaudeDockerSyncFailures", "ClaudeDockerDiskUsageHigh"} <= a.alerts("firing")
    a.reached("ClaudeDockerSyncFailures", "medium")
    a.reached("ClaudeDockerDiskUsageHigh", "medium")
    paths = {al["labels"]["path"] for al in alertdaemons.am_alerts(a.r["am"])
             if al["labels"]["alertname"] == "ClaudeDockerDiskUsageHigh"}
    assert "state" in paths  # statvfs of the state dir's file system (and Docker's data root where it can see it)

    target.rmdir()
    assert a.cli("cleanup").returncode == 0  # the failed syncs go through now
    a.configure(ClaudeDockerDiskUsageHigh={"threshold": 0.999999, "for": "0s"})
    a.evaluate(now=time.time() + 2 * HOUR)  # an hour without sync failures
    assert a.alerts("firing") == set()
    a.resolved("ClaudeDockerSyncFailures", ahead=True)
    a.resolved("ClaudeDockerDiskUsageHigh", ahead=True)
    assert a.incidents() == {}  # medium alerts open no incident


# --- backups, config drift ----------------------------------------------------------------------------------

def test_stale_backup_and_config_drift_fire_and_resolve(alerting, monkeypatch):
    from gitrepo import Repo, private_git_config
    from test_gitops_reconcile import Workstation, files

    a = alerting
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(private_git_config(a.home)))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    a.configure(ClaudeDockerBackupStale={"threshold": "3s"}, ClaudeDockerConfigDrift={"for": "0s"})
    a.evaluate()

    a.cli("backup", "create", "--json")
    repo = Repo(a.home.parent / "team")
    ws = Workstation(a.home, a.state, repo)
    repo.commit(files())
    ws.init()
    assert ws.reconcile()["result"] == "applied"
    mine = ws.settings()
    mine["model"] = "my-model"  # a local edit of a managed key
    (ws.config / "settings.json").write_text(json.dumps(mine))
    assert ws.drift()[0] == 1
    time.sleep(3.5)

    a.evaluate()
    assert {"ClaudeDockerBackupStale", "ClaudeDockerConfigDrift"} <= a.alerts("firing")
    a.reached("ClaudeDockerBackupStale", "low")
    a.reached("ClaudeDockerConfigDrift", "low")

    a.cli("backup", "create", "--json")
    assert ws.reconcile("--force")["drift"] == []
    a.evaluate()
    assert not {"ClaudeDockerBackupStale", "ClaudeDockerConfigDrift"} & a.alerts("firing")
    a.resolved("ClaudeDockerBackupStale")
    a.resolved("ClaudeDockerConfigDrift")


# --- a critical alert rolls the rollout back ----------------------------------------------------------------

@pytest.fixture
def candidate(docker_client, busybox_image):
    name = f"claude-docker-test/alert-candidate-{os.getpid()}:1"
    busybox_image(name, FAKE_CLAUDE.replace("0.0.0 (fake Claude Code)", "9.9.9 (candidate)"))
    yield name
    try:
        docker_client.images.remove(name, force=True)
    except Exception:  # noqa: BLE001 - a container a failed test left still uses it
        pass


def test_critical_alert_rolls_the_canary_back_into_the_incident(alerting, project, fake_image, candidate,
                                                                 no_leftover_containers):
    from claude_docker.rollout import images
    from claude_docker.rollout import state as states

    a = alerting
    a.env["CLAUDE_DOCKER_STATE_DIR"] = str(a.state)
    del a.env["CLAUDE_DOCKER_IMAGE"]  # the rollout picks the image
    with states.lock():
        seeded = states.empty()
        seeded["stable"] = images.resolve(fake_image)
        states.save(seeded)
    a.configure(ClaudeDockerStartupCritical={"threshold": 0.001, "for": "0s"})
    a.cli("rollout", "deploy", candidate, "--skip-smoke", "--steps", "50,100", "--min-sessions", "100000",
          "--interval", "1h")
    assert json.loads(a.cli("rollout", "status", "--json").stdout)["deployment"] is not None

    for _ in range(4):
        sh(project, a.env, "true")
    a.evaluate()  # the first pass ever: the rollback it makes still joins the incident
    assert "ClaudeDockerStartupCritical" in a.alerts("firing")
    a.reached("ClaudeDockerStartupCritical", "critical")
    status = json.loads(a.cli("rollout", "status", "--json").stdout)
    assert status["deployment"] is None
    assert status["history"][0]["outcome"] == "rolled_back"
    assert "ClaudeDockerStartupCritical" in status["history"][0]["reason"]
    incident = a.incidents()["ClaudeDockerStartupCritical"]
    assert incident["severity"] == "critical" and incident["status"] == "open"
    rollback = [e for e in a.timeline(incident["id"]) if e["kind"] == "rollback"]
    assert rollback and "rolled back" in rollback[0]["text"]

    a.evaluate(now=time.time() + HOUR)
    assert "ClaudeDockerStartupCritical" not in a.alerts("firing")
    a.resolved("ClaudeDockerStartupCritical", ahead=True)
    assert a.incidents()["ClaudeDockerStartupCritical"]["status"] == "resolved"
