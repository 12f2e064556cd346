"""The alert evaluation: the rollup over the metrics log, the live gauges, Prometheus' rule state machine."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import pytest

from claude_docker.alerting import evaluate as ev
from claude_docker.alerting import files
from claude_docker.alerting.gauges import live_gauges
from claude_docker.alerting.rollup import Rollup
from claude_docker.obs import catalog, jsonline, settings


@pytest.fixture
def state(home, monkeypatch):
    monkeypatch.setenv("CLAUDE_DOCKER_STATE_DIR", str(home / "state"))
    return home / "state"


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def write(t: float, metric: str, value: float, **labels: str) -> None:
    """A record exactly as observe() writes it, at a time of the test's choosing."""
    kind = catalog.METRICS[metric].kind
    line = jsonline.line({"time": stamp(t), "metric": metric, "type": kind, "value": value, "labels": labels})
    with open(settings.metrics_file(), "ab") as fh:
        fh.write(line)


def as_dict(series):
    return {json.dumps(labels, sort_keys=True): value for labels, value in series}


def test_rollup_counts_real_observations_and_reads_only_what_is_new(state):
    for _ in range(3):
        catalog.observe("claude_docker_sessions_total", 1, slot="v1", outcome="ok")
    catalog.observe("claude_docker_sessions_total", 1, slot="v1", outcome="error")
    catalog.observe("claude_docker_last_success_timestamp_seconds", 1700000000.0)
    catalog.observe("claude_docker_last_success_timestamp_seconds", 1700000500.0)
    rollup = Rollup.load()
    assert rollup.catch_up() == 6
    rollup.save()
    now = time.time()
    got = as_dict(rollup.increase("claude_docker_sessions_total", 300, now))
    assert got == {'{"outcome": "ok", "slot": "v1"}': 3.0, '{"outcome": "error", "slot": "v1"}': 1.0}
    assert rollup.gauge("claude_docker_last_success_timestamp_seconds", now) == [({}, 1700000500.0)]

    again = Rollup.load()  # another process: the saved counts, and only the new record read
    catalog.observe("claude_docker_sessions_total", 1, slot="v1", outcome="ok")
    assert again.catch_up() == 1
    assert again.catch_up() == 0
    got = as_dict(again.increase("claude_docker_sessions_total", 300, time.time()))
    assert got['{"outcome": "ok", "slot": "v1"}'] == 4.0


def test_rollup_follows_the_log_through_a_rotation(state, monkeypatch):
    monkeypatch.setenv("CLAUDE_DOCKER_LOG_MAX_BYTES", "4096")
    monkeypatch.setenv("CLAUDE_DOCKER_LOG_KEEP", "3")
    for _ in range(10):
        catalog.observe("claude_docker_sync_failures_total", 1, direction="out")
    rollup = Rollup.load()
    assert rollup.catch_up() == 10
    rollup.save()
    for _ in range(40):  # several rotations (a record is ~200 bytes)
        catalog.observe("claude_docker_sync_failures_total", 1, direction="out")
    assert settings.metrics_file().with_name(settings.metrics_file().name + ".1").exists()
    rollup = Rollup.load()
    assert rollup.catch_up() == 40
    assert rollup.increase("claude_docker_sync_failures_total", 600, time.time()) == [({"direction": "out"}, 50.0)]


def test_counters_are_bucketed_by_minute(state):
    base = (int(time.time()) // 60 - 10) * 60.0  # a minute boundary, ten minutes ago
    write(base + 10, "claude_docker_sync_failures_total", 1, direction="in")
    write(base + 59.5, "claude_docker_sync_failures_total", 2, direction="in")
    write(base + 60, "claude_docker_sync_failures_total", 4, direction="in")
    write(base + 185, "claude_docker_sync_failures_total", 8, direction="in")
    rollup = Rollup.load()
    assert rollup.catch_up(now=base + 200) == 4

    def inc(seconds, now):
        return rollup.increase("claude_docker_sync_failures_total", seconds, now)[0][1]

    assert inc(60, base + 59.9) == 3  # only the first minute
    assert inc(60, base + 119) == 7  # the window (59, 119] touches the first two minutes
    assert inc(30, base + 150) == 0  # (120, 150] touches only the third minute, which has nothing
    assert inc(70, base + 150) == 4  # (80, 150]: the second and third
    assert inc(30, base + 190) == 8
    assert inc(600, base + 200) == 15
    assert inc(600, base + 10000) == 0.0  # nothing in the window: the series reads 0, as a flat counter does


def test_histogram_buckets_are_cumulative_as_prometheus_exposes_them(state):
    for value in (0.3, 3.0, 12.0, 100.0):
        catalog.observe("claude_docker_session_startup_seconds", value, slot="v2")
    rollup = Rollup.load()
    rollup.catch_up()
    now = time.time()
    buckets = {labels["le"]: v for labels, v in rollup.increase("claude_docker_session_startup_seconds_bucket",
                                                                300, now)}
    assert buckets["0.25"] == 0 and buckets["0.5"] == 1 and buckets["5.0"] == 2
    assert buckets["10.0"] == 2 and buckets["15.0"] == 3 and buckets["60.0"] == 3 and buckets["+Inf"] == 4
    assert all(labels["slot"] == "v2" for labels, _ in
               rollup.increase("claude_docker_session_startup_seconds_bucket", 300, now))
    assert rollup.increase("claude_docker_session_startup_seconds_count", 300, now) == [({"slot": "v2"}, 4.0)]
    assert rollup.increase("claude_docker_session_startup_seconds_sum", 300, now) == [({"slot": "v2"}, 115.3)]


def test_gauges_keep_the_latest_and_live_ones_override(state):
    now = time.time()
    write(now - 100, "claude_docker_backup_last_success_timestamp_seconds", 5.0, scope="full")
    write(now - 50, "claude_docker_backup_last_success_timestamp_seconds", 7.0, scope="full")
    write(now - 40, "claude_docker_backup_last_success_timestamp_seconds", 1.0, scope="config")
    write(now - 30, "claude_docker_containers", 9.0, state="orphaned")
    rollup = Rollup.load()
    rollup.catch_up()
    assert as_dict(rollup.gauge("claude_docker_backup_last_success_timestamp_seconds", now)) == {
        '{"scope": "full"}': 7.0, '{"scope": "config"}': 1.0}
    rollup.add_live({"claude_docker_containers": [({"state": "orphaned"}, 2.0), ({"state": "running"}, 1.0)]})
    assert as_dict(rollup.gauge("claude_docker_containers", now)) == {'{"state": "orphaned"}': 2.0,
                                                                     '{"state": "running"}': 1.0}
    rollup.save()
    assert Rollup.load().gauge("claude_docker_containers", now) == [({"state": "orphaned"}, 9.0)]  # live: not kept


def test_buckets_older_than_the_retention_are_pruned(state):
    now = time.time()
    write(now - 3 * 3600, "claude_docker_orphans_removed_total", 1)
    write(now - 3 * 3600, "claude_docker_sync_failures_total", 1, direction="in")
    write(now - 60, "claude_docker_sync_failures_total", 1, direction="in")
    rollup = Rollup.load(retention_s=2 * 3600)
    rollup.catch_up(now=now)
    rollup.save()
    saved = json.loads(files.rollup_file().read_text())["counters"]
    assert "claude_docker_orphans_removed_total" not in saved or not saved["claude_docker_orphans_removed_total"]
    [(first, values)] = saved["claude_docker_sync_failures_total"].values()
    assert first == int(now - 2 * 3600) // 60 and sum(values) == 1  # the old minute is gone
    assert Rollup.load().increase("claude_docker_sync_failures_total", 86400, now) == [({"direction": "in"}, 1.0)]


@pytest.mark.parametrize("content", [b"{not json", b"[]", (b'{"version": 1, "cursor": {}, "counters": '
                                                              b'{"m": {"{}": [1, ["x"]]}}, "gauges": {}}')])
def test_a_damaged_rollup_is_set_aside_and_starts_at_the_log_end(state, content, capsys):
    catalog.observe("claude_docker_sync_failures_total", 1, direction="in")
    files.rollup_file().write_bytes(content)
    rollup = Rollup.load()
    assert rollup.catch_up() == 0  # what the log held before is not read again
    catalog.observe("claude_docker_sync_failures_total", 1, direction="in")
    assert rollup.catch_up() == 1
    rollup.save()
    assert list((state / "damaged").iterdir())
    assert "rollup.json was damaged" in capsys.readouterr().err
    events = [json.loads(line) for line in settings.events_file().read_text().splitlines()]
    assert [e["event"] for e in events] == ["state.damaged"]
    assert "end of" in events[0]["message"]
    assert Rollup.load().increase("claude_docker_sync_failures_total", 300, time.time()) == [({"direction": "in"}, 1.0)]


def test_a_rollup_started_over_keeps_the_gauges_as_last_folded(state):
    """The last success and the last backup stay known: an age rule can't fall silent because of the damage."""
    from claude_docker.obs import promstate

    catalog.observe("claude_docker_backup_last_success_timestamp_seconds", 1_700_000_000.0, scope="full")
    promstate.collect()
    files.rollup_file().write_bytes(b"{not json")
    rollup = Rollup.load()
    assert rollup.gauge("claude_docker_backup_last_success_timestamp_seconds", time.time()) == [
        ({"scope": "full"}, 1_700_000_000.0)]


# The state machine, with a store and rules of the test's own.

@dataclass
class FakeRule:
    name: str
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    severity: str = "high"
    summary: str = "something is wrong"
    runbook: str = "look"
    group: str = "test"
    active: dict = field(default_factory=dict)  # fingerprint-free: {label value: metric value}
    broken: bool = False

    def evaluate(self, store, now):
        if self.broken:
            raise RuntimeError("division by zero in the test rule")
        return [({"x": k}, v) for k, v in self.active.items()]


def run(rules, now):
    return [(t.rule, t.labels.get("x"), t.state, t.repeat) for t in ev.evaluate(rules, None, now)]


def states():
    return {(a["rule"], a["labels"].get("x")): a["state"] for a in ev.current()}


def test_pending_fires_at_exactly_for_and_repeats_while_firing(state):
    rule = FakeRule("Slow", for_s=300, active={"a": 12.0})
    assert run([rule], 1000) == []
    assert states() == {("Slow", "a"): "pending"}
    assert run([rule], 1299) == []
    assert run([rule], 1300) == [("Slow", "a", "firing", False)]
    assert run([rule], 1360) == [("Slow", "a", "firing", True)]
    alert = ev.current()[0]
    assert (alert["active_at"], alert["fired_at"], alert["value"], alert["severity"]) == (1000, 1300, 12.0, "high")
    rule.active = {}
    assert run([rule], 1420) == [("Slow", "a", "resolved", False)]
    assert ev.current()[0]["resolved_at"] == 1420


def test_for_zero_fires_at_once(state):
    assert run([FakeRule("Now", active={"a": 1.0})], 50) == [("Now", "a", "firing", False)]


def test_a_pending_alert_that_clears_is_dropped_silently(state):
    rule = FakeRule("Slow", for_s=300, active={"a": 1.0})
    run([rule], 0)
    rule.active = {}
    assert run([rule], 200) == []
    assert states() == {}
    rule.active = {"a": 1.0}  # active again: the `for` clock starts over
    assert run([rule], 260) == []
    assert run([rule], 500) == []
    assert run([rule], 560) == [("Slow", "a", "firing", False)]


def test_keep_firing_for_rides_out_flapping(state):
    rule = FakeRule("Flappy", keep_firing_for_s=120, active={"a": 1.0})
    assert run([rule], 0) == [("Flappy", "a", "firing", False)]
    rule.active = {}
    assert run([rule], 60) == [("Flappy", "a", "firing", True)]  # inactive since 60: kept
    rule.active = {"a": 1.0}
    assert run([rule], 120) == [("Flappy", "a", "firing", True)]  # active again: the keep clock resets
    rule.active = {}
    assert run([rule], 180) == [("Flappy", "a", "firing", True)]
    assert run([rule], 299) == [("Flappy", "a", "firing", True)]
    assert run([rule], 300) == [("Flappy", "a", "resolved", False)]  # 120 s after 180, the first inactive look


def test_resolved_alerts_are_kept_fifteen_minutes_and_start_over_when_active(state):
    rule = FakeRule("R", for_s=60, active={"a": 1.0, "b": 2.0})
    run([rule], 0)
    assert run([rule], 60) == [("R", "a", "firing", False), ("R", "b", "firing", False)]
    rule.active = {"b": 2.0}
    assert run([rule], 120) == [("R", "a", "resolved", False), ("R", "b", "firing", True)]
    assert run([rule], 120 + 900) == [("R", "b", "firing", True)]
    assert states() == {("R", "a"): "resolved", ("R", "b"): "firing"}
    assert run([rule], 120 + 901) == [("R", "b", "firing", True)]
    assert states() == {("R", "b"): "firing"}  # forgotten after 15 minutes
    rule.active = {}
    assert run([rule], 2000) == [("R", "b", "resolved", False)]
    rule.active = {"b": 2.0}
    assert run([rule], 2030) == []  # resolved 30 s ago and active again: pending, not firing
    assert states() == {("R", "b"): "pending"}
    assert ev.current()[0]["active_at"] == 2030
    assert run([rule], 2090) == [("R", "b", "firing", False)]


def test_states_survive_a_restart(state):
    rule = FakeRule("Slow", for_s=300, active={"a": 1.0})
    run([rule], 1000)
    saved = files.rule_state_file().read_bytes()
    files.rule_state_file().write_bytes(saved)  # what a new process reads
    assert run([FakeRule("Slow", for_s=300, active={"a": 1.0})], 1300) == [("Slow", "a", "firing", False)]
    assert ev.current()[0]["active_at"] == 1000


def test_a_raising_rule_is_skipped_and_the_others_go_on(state):
    good, bad = FakeRule("Good", active={"a": 1.0}), FakeRule("Bad", active={"a": 1.0})
    run([good, bad], 0)
    bad.broken = True
    assert run([bad, good], 60) == [("Good", "a", "firing", True)]
    assert states()[("Bad", "a")] == "firing"  # left as it was, not resolved by the error
    failed = [json.loads(line) for line in settings.events_file().read_text().splitlines()]
    assert [(e["event"], e["fields"]["rule"]) for e in failed] == [("alert.rule_failed", "Bad")]
    assert "division by zero" in failed[0]["message"]


def test_a_rule_no_longer_configured_resolves(state):
    run([FakeRule("Gone", active={"a": 1.0}), FakeRule("Stays")], 0)
    assert run([FakeRule("Stays")], 60) == [("Gone", "a", "resolved", False)]
    assert states() == {}


def test_a_damaged_rule_state_is_set_aside(state, capsys):
    files.rule_state_file().write_text('{"version": 1, "alerts": {"x": {"rule": 3}}}')
    assert run([FakeRule("A", active={"a": 1.0})], 0) == [("A", "a", "firing", False)]
    assert "rules-state.json was damaged" in capsys.readouterr().err
    assert len(list((state / "damaged").iterdir())) == 1


def test_live_gauges_read_the_real_state_dir(state, monkeypatch):
    monkeypatch.setenv("DD_API_KEY", "k")
    catalog.observe("claude_docker_sync_failures_total", 1, direction="in")
    gauges = live_gauges()
    disk = {labels["path"]: value for labels, value in gauges["claude_docker_disk_usage_ratio"]}
    assert 0.0 <= disk["state"] <= 1.0
    st = os.statvfs(state.parent)
    assert abs(disk["state"] - (1 - st.f_bavail / st.f_blocks)) < 0.01
    # Datadog is configured and has sent nothing: its backlog is the whole metrics log (no events yet).
    assert gauges["claude_docker_export_backlog_bytes"] == [({"sink": "datadog"},
                                                             float(settings.metrics_file().stat().st_size))]
    monkeypatch.delenv("DD_API_KEY")
    assert "claude_docker_export_backlog_bytes" not in live_gauges()


def test_live_gauges_carry_the_rollouts_share(state):
    """ClaudeDockerCanaryStartupSlow reads the canary's share: a gauge never logged, read from the rollout now."""
    gauges = live_gauges()
    assert gauges["claude_docker_rollout_canary_weight"] == [({"mode": "none"}, 0.0)]
    assert gauges["claude_docker_rollout_step"] == [({}, -1.0)]


def stored(**fields) -> None:
    """A state of one pending element of "Slow" (x=a), as an older or hand-edited file may hold it."""
    element = {"rule": "Slow", "labels": {"x": "a"}, "state": "pending", "active_at": 1000, "value": 1.0,
               "severity": "high", "summary": "s", **fields}
    files.rule_state_file().write_text(json.dumps({"version": 1, "alerts": {"Slow/a": element}}))


def test_an_element_without_the_optional_times_is_read_not_a_key_error(state, capsys):
    stored()  # no fired_at, resolved_at, keep_firing_since, for_s
    [alert] = ev.current()
    assert (alert["state"], alert["fired_at"], alert["resolved_at"], alert["fires_at"]) == ("pending", None, None, 1000)
    rule = FakeRule("Slow", keep_firing_for_s=60, active={"a": 1.0})
    assert run([rule], 1010) == [("Slow", "a", "firing", False)]
    stored(state="firing", fired_at=1000)  # firing, with no keep_firing_since: the keep clock starts now
    rule.active = {}
    assert run([rule], 1020) == [("Slow", "a", "firing", True)]
    assert run([rule], 1080) == [("Slow", "a", "resolved", False)]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("fields", [{"for_s": "300"}, {"for_s": [1]}, {"active_at": float("nan")},
                                    {"state": "firing", "fired_at": float("inf")}, {"labels": {"x": 3}},
                                    {"keep_firing_since": "soon"}, {"value": "1"}])
def test_an_element_with_a_field_of_a_wrong_type_sets_the_state_aside(state, capsys, fields):
    stored(**fields)
    assert ev.current() == []
    assert "rules-state.json was damaged" in capsys.readouterr().err
    assert run([FakeRule("Slow", active={"a": 1.0})], 1010) == [("Slow", "a", "firing", False)]


def test_a_severity_override_resolves_the_old_alert_with_its_own_severity(state):
    rule = FakeRule("Slow", active={"a": 1.0})
    ev.evaluate([rule], None, 1000)
    rule.severity = "medium"
    found = [(t.severity, t.state, t.repeat) for t in ev.evaluate([rule], None, 1010)]
    assert found == [("high", "resolved", False), ("medium", "firing", False)]


def test_a_quiet_pass_writes_no_state(state):
    """`alert watch` passes every few seconds: with nothing active and nothing changed, no disk write."""
    rule = FakeRule("Slow", active={"a": 1.0})
    ev.evaluate([rule], None, 1000)
    rule.active = {}
    ev.evaluate([rule], None, 1010)  # it resolves: a change, written
    written = files.rule_state_file().stat()
    ev.evaluate([rule], None, 1020)
    again = files.rule_state_file().stat()
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
