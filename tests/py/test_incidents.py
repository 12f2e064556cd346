"""Incidents: opened by high and critical alerts, joined by the same cause, closed when their alerts resolve; the
automatic actions and the user's ack and resolve on the timeline; the times to ack and resolve as metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

T0 = 1_800_000_000.0


def transition(rule: str, severity: str = "high", state: str = "firing", repeat: bool = False, **labels):
    return SimpleNamespace(rule=rule, severity=severity, labels=labels, state=state, value=1.0,
                           summary=f"{rule} is {state}", repeat=repeat)


def helper(home, *args):
    return subprocess.run([sys.executable, "-I", "-m", "claude_docker", *args], capture_output=True, text=True,
                          env={"HOME": str(home), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}, timeout=60)


def observed(home, metric: str) -> list[float]:
    path = home / ".claude-docker-metrics.jsonl"
    if not path.exists():
        return []
    return [r["value"] for r in map(json.loads, path.read_text().splitlines()) if r["metric"] == metric]


def events(home, name: str) -> list[dict]:
    path = home / ".claude-docker-events.jsonl"
    return [e for e in map(json.loads, path.read_text().splitlines()) if e["event"] == name]


def test_a_high_alert_opens_one_incident_the_same_cause_joins_it_and_it_closes_when_all_resolve(home):
    from claude_docker.alerting import incidents

    opened = incidents.on_transitions([transition("ErrorRateHigh", slot="v1")], T0)
    assert [i["id"] for i in opened] == ["INC-0001"]
    assert incidents.on_transitions([transition("ErrorRateHigh", slot="v2"),
                                     transition("ErrorRateHigh", slot="v1", repeat=True)], T0 + 60) == []
    [incident] = incidents.list_incidents()
    assert incident["cause"] == "ErrorRateHigh" and incident["status"] == "open" and len(incident["alerts"]) == 2
    assert [e["text"] for e in incident["timeline"]] == [
        "ErrorRateHigh firing (high) [slot=v1]: ErrorRateHigh is firing",
        "ErrorRateHigh firing (high) [slot=v2]: ErrorRateHigh is firing"]  # the repeat added nothing

    incidents.on_transitions([transition("ErrorRateHigh", state="resolved", slot="v1")], T0 + 120)
    assert incidents.get("INC-0001")["status"] == "open"  # v2 still fires
    incidents.on_transitions([transition("ErrorRateHigh", state="resolved", slot="v2")], T0 + 300)
    closed = incidents.get("inc-1")
    assert closed["status"] == "resolved" and closed["resolved_by"] == "alerts" and closed["resolved_at"] == T0 + 300
    assert [e["kind"] for e in closed["timeline"]] == ["alert", "alert", "alert", "alert", "resolve"]
    assert incidents.list_incidents() == [] and incidents.open_count() == 0
    assert observed(home, "claude_docker_incidents_total") == [1]
    assert observed(home, "claude_docker_incident_resolve_seconds") == [300.0]
    assert [e["fields"]["incident"] for e in events(home, "incident.open")] == ["INC-0001"]
    assert [e["fields"]["incident"] for e in events(home, "incident.resolve")] == ["INC-0001"]

    # the same cause firing again well after the close is a new incident
    assert [i["id"] for i in incidents.on_transitions([transition("ErrorRateHigh", slot="v1")], T0 + 300 + 901)] \
        == ["INC-0002"]


def test_a_flapping_cause_reopens_its_incident_closed_by_its_alerts_moments_ago(home):
    from claude_docker.alerting import incidents

    incidents.on_transitions([transition("ErrorRateHigh", slot="v1")], T0)
    incidents.ack("INC-0001", T0 + 10)
    incidents.on_transitions([transition("ErrorRateHigh", state="resolved", slot="v1")], T0 + 60)
    assert incidents.on_transitions([transition("ErrorRateHigh", "critical", slot="v1")], T0 + 60 + 899) == []
    [incident] = incidents.list_incidents(include_resolved=True)
    assert incident["id"] == "INC-0001" and incident["status"] == "open" and incident["severity"] == "critical"
    assert incident["resolved_at"] is None and incident["resolved_by"] is None and incident["acked_at"] is None
    assert [e["kind"] for e in incident["timeline"]] == ["alert", "ack", "alert", "resolve", "reopen", "alert"]
    assert incident["timeline"][4]["text"].startswith("reopened: ErrorRateHigh firing (critical)")
    assert [e["fields"]["incident"] for e in events(home, "incident.reopen")] == ["INC-0001"]
    assert observed(home, "claude_docker_incidents_total") == [1]

    # closed by the user, not by its alerts: the next firing is a new incident
    incidents.resolve("INC-0001", T0 + 1000)
    assert [i["id"] for i in incidents.on_transitions([transition("ErrorRateHigh", slot="v1")], T0 + 1010)] == [
        "INC-0002"]


def test_lower_severities_only_join_an_open_incident_and_other_causes_open_their_own(home):
    from claude_docker.alerting import incidents

    assert incidents.on_transitions([transition("DiskUsageHigh", "medium"), transition("BackupStale", "low")],
                                    T0) == []
    assert incidents.list_incidents(include_resolved=True) == []
    opened = incidents.on_transitions([transition("OrphanedContainers", "critical"),
                                       transition("NoSuccessfulRun", "high")], T0)
    assert [(i["id"], i["cause"], i["severity"]) for i in opened] == [
        ("INC-0001", "OrphanedContainers", "critical"), ("INC-0002", "NoSuccessfulRun", "high")]
    # a medium firing of a cause with an open incident joins it, and keeps it open until it resolves too
    incidents.on_transitions([transition("NoSuccessfulRun", "medium", host="b")], T0 + 10)
    incidents.on_transitions([transition("NoSuccessfulRun", "high", state="resolved")], T0 + 20)
    assert incidents.get("INC-0002")["status"] == "open"
    incidents.on_transitions([transition("NoSuccessfulRun", "medium", state="resolved", host="b")], T0 + 30)
    assert incidents.get("INC-0002")["status"] == "resolved"
    assert observed(home, "claude_docker_incidents_total") == [1, 1]
    assert [r["labels"]["severity"] for r in map(json.loads, (home / ".claude-docker-metrics.jsonl").read_text()
                                                   .splitlines()) if r["metric"] == "claude_docker_incidents_total"] \
        == ["critical", "high"]


def test_actions_join_every_open_incident_and_ack_and_resolve_are_timed(home):
    from claude_docker.alerting import incidents

    incidents.on_transitions([transition("RolloutRolledBack", "critical"), transition("GitopsApplyFailed")], T0)
    incidents.on_transitions([transition("GitopsApplyFailed", state="resolved")], T0 + 5)  # closes INC-0002
    incidents.record_action("rollback", "rolled back to https://user:s3cret@registry/img:1", T0 + 30)
    first = incidents.get("INC-0001")
    assert first["timeline"][-1] == {"time": T0 + 30, "kind": "rollback",
                                     "text": "rolled back to https://***:***@registry/img:1"}
    assert all(e["kind"] != "rollback" for e in incidents.get("INC-0002")["timeline"])  # closed before the action

    incident, changed = incidents.ack("INC-0001", T0 + 90)
    assert changed and incident["status"] == "acknowledged" and incident["acked_at"] == T0 + 90
    _, again = incidents.ack("INC-0001", T0 + 200)
    assert not again
    incident, changed = incidents.resolve("1", T0 + 600, note="image fixed")
    assert changed and incident["resolved_by"] == "user" and incident["note"] == "image fixed"
    assert incident["timeline"][-1]["text"] == "resolved by the user: image fixed"
    assert not incidents.resolve("1", T0 + 700)[1]
    assert observed(home, "claude_docker_incident_ack_seconds") == [90.0]  # once, for the first ack
    assert sorted(observed(home, "claude_docker_incident_resolve_seconds")) == [5.0, 600.0]
    assert [e["event"] for e in events(home, "incident.ack")] == ["incident.ack"]


def test_the_cli_lists_shows_acks_and_resolves_and_an_unknown_id_is_16(home):
    from claude_docker.alerting import incidents

    incidents.on_transitions([transition("HelperErrors", slot="v1")], T0)
    listed = helper(home, "incident", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [i["id"] for i in json.loads(listed.stdout)["incidents"]] == ["INC-0001"]
    shown = helper(home, "incident", "show", "INC-0001")
    assert shown.returncode == 0 and "HelperErrors firing (high)" in shown.stdout
    assert helper(home, "incident", "ack", "INC-0001").returncode == 0
    again = helper(home, "incident", "ack", "INC-0001")
    assert again.returncode == 0 and "acknowledged already" in again.stderr
    assert helper(home, "incident", "resolve", "INC-0001", "--note", "fixed").returncode == 0
    assert helper(home, "incident", "list").stdout.strip() == "no open incidents"
    table = helper(home, "incident", "list", "--all").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "STATUS", "SEVERITY"] and table[1].split()[:2] == ["INC-0001", "resolved"]
    detail = json.loads(helper(home, "incident", "show", "1", "--json").stdout)
    assert [e["kind"] for e in detail["timeline"]] == ["alert", "ack", "resolve"]
    for verb in ("show", "ack", "resolve"):
        unknown = helper(home, "incident", verb, "INC-0099")
        assert unknown.returncode == 16 and unknown.stdout == ""
        assert unknown.stderr == "claude-docker: no incident 'INC-0099' (see `claude-docker incident list --all`)\n"


@pytest.mark.parametrize("content", [b"{not json", b'{"next": 1, "incidents": [{"id": 3}]}', b"[]"])
def test_a_damaged_store_is_set_aside_with_one_line_and_incidents_start_anew(home, capsys, content):
    from claude_docker.alerting import files, incidents

    files.incidents_file().write_bytes(content)
    opened = incidents.on_transitions([transition("DataCorruption")], T0)
    assert [i["id"] for i in opened] == ["INC-0001"]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "incidents.json was damaged" in err[0] and "incidents start anew" in err[0]
    [aside] = (home / ".claude-docker" / "damaged").iterdir()
    assert aside.read_bytes() == content
    assert incidents.open_count() == 1


@pytest.mark.parametrize("change", [
    lambda i: i.pop("severity"), lambda i: i.update(summary=None), lambda i: i.update(acked_at="soon"),
    lambda i: i.update(opened_at=1e999), lambda i: i.update(resolved_by=7), lambda i: i["timeline"].append({}),
    lambda i: i["alerts"].update(x={"state": "firing"}), lambda i: i.pop("note"),
])
def test_an_incident_missing_a_field_or_of_a_wrong_type_sets_the_store_aside_and_the_cli_goes_on(home, change):
    from claude_docker.alerting import files, incidents

    incidents.on_transitions([transition("HelperErrors", slot="v1")], T0)
    store = json.loads(files.incidents_file().read_text())
    change(store["incidents"][0])
    files.incidents_file().write_text(json.dumps(store))
    listed = helper(home, "incident", "list")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stderr.splitlines()
    assert "incidents.json was damaged" in line and "incidents start anew" in line
    assert listed.stdout.strip() == "no open incidents"
    assert len(list((home / ".claude-docker" / "damaged").iterdir())) == 1


def test_a_firing_told_twice_is_on_the_timeline_once(home):
    """A pass that failed after the incidents were kept is evaluated again: its transitions come twice."""
    from claude_docker.alerting import incidents

    firing = transition("Disk")
    incidents.on_transitions([firing], 1000)
    incidents.on_transitions([firing], 1010)
    [incident] = incidents.list_incidents()
    assert [e["kind"] for e in incident["timeline"]].count("alert") == 1
