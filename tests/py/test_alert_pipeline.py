"""The alert pipeline end to end, against a real HTTP receiver on 127.0.0.1: config, the webhook channel,
throttling, the hourly budget and its digest, escalation, Retry-After, backoff, deadlines, and the outbox
across a SIGKILL. Time is driven through `now`; nothing sleeps to wait for a timer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from alertservers import ScriptedReceiver
from claude_docker import exitcodes
from claude_docker.alerting import channels, config, dispatch, files, outbox, throttle
from claude_docker.alerting.model import FIRING, MANUAL, RESOLVED, Notification
from claude_docker.errors import ToolError
from claude_docker.obs import settings as obs_settings

T0 = 1_800_000_000.0


@pytest.fixture
def receiver(home):
    r = ScriptedReceiver()
    yield r
    r.stop()


def note(name: str, kind: str = FIRING, severity: str = "high", **labels: str) -> Notification:
    return Notification(id=f"in-{name}", kind=kind, labels={"alertname": name, "severity": severity, **labels},
                        summary=f"{name} is {kind}", runbook="docs/ALERTING.md#" + name.lower())


def write_config(text: str) -> None:
    files.config_file().parent.mkdir(parents=True, exist_ok=True)
    files.config_file().write_text(text)


def use_targets(monkeypatch, *urls: str) -> config.Settings:
    monkeypatch.setenv("CLAUDE_DOCKER_ALERT_TARGETS", " ".join(urls))
    return config.load()


def events(name: str) -> list[dict]:
    try:
        lines = obs_settings.events_file().read_text().splitlines()
    except FileNotFoundError:
        return []
    return [e for e in map(json.loads, lines) if e.get("event") == name]


# ---- config ----

def test_default_is_one_desktop_target_for_every_severity(home, monkeypatch):
    monkeypatch.delenv("CLAUDE_DOCKER_ALERT_TARGETS", raising=False)
    s = config.load()
    assert s == config.defaults()
    assert [t.scheme for t in s.targets] == ["desktop"]
    assert s.targets[0].severities == {"critical", "high", "medium", "low"}
    assert (s.repeat_s, s.max_per_hour, s.deadline_s, s.rules) == (900.0, 10, 86400.0, {})


def test_config_file_and_environment(home, monkeypatch):
    write_config('[throttle]\nrepeat = "5m"\nmax_per_hour = 3\ndeadline = "2h"\n'
                 '[[target]]\nurl = "json+http://127.0.0.1:9/a"\nseverities = ["critical"]\nescalation = 2\n'
                 '[rules.ErrorRate]\nthreshold = 0.1\n')
    s = use_targets(monkeypatch, "json+http://127.0.0.1:9/b?severity=low,medium", "desktop://")
    assert (s.repeat_s, s.max_per_hour, s.deadline_s) == (300.0, 3, 7200.0)
    assert s.rules == {"ErrorRate": {"threshold": 0.1}}
    first, second, third = s.targets
    assert (first.severities, first.escalation) == ({"critical"}, 2)
    assert second.severities == {"low", "medium"} and third.scheme == "desktop"


@pytest.mark.parametrize(("text", "key"), [
    ("[throttle\n", "not valid TOML"),
    ("[nonsense]\n", "nonsense"),
    ('[throttle]\nrepeats = "5m"\n', "throttle.repeats"),
    ('[throttle]\nrepeat = "5 minutes"\n', "throttle.repeat"),
    ('[throttle]\ndeadline = "0s"\n', "throttle.deadline"),
    ("[throttle]\nmax_per_hour = 0\n", "throttle.max_per_hour"),
    ('[[target]]\nurl = "json+http://h/x"\ncolour = "red"\n', "target[1].colour"),
    ('[[target]]\nurl = "json+http://h/x"\nescalation = -1\n', "target[1].escalation"),
    ('[[target]]\nurl = "nope://user:s3cr3t-token@h/x"\n', "target[1].url"),
    ('[[target]]\nurl = "json+http://h/x"\nseverities = ["urgent"]\n', "target[1].url"),
])
def test_config_errors_are_one_line_naming_file_and_key(home, monkeypatch, text, key):
    monkeypatch.delenv("CLAUDE_DOCKER_ALERT_TARGETS", raising=False)
    write_config(text)
    with pytest.raises(ToolError) as err:
        config.load()
    assert err.value.code == exitcodes.ALERT_CONFIG
    assert str(files.config_file()) in err.value.message and key in err.value.message
    assert "\n" not in err.value.message and "s3cr3t-token" not in err.value.message


def test_bad_environment_target_never_quotes_it(home, monkeypatch):
    with pytest.raises(ToolError) as err:
        use_targets(monkeypatch, "bogus://u:s3cr3t-token@host/x")
    assert err.value.code == exitcodes.ALERT_CONFIG
    assert "CLAUDE_DOCKER_ALERT_TARGETS" in err.value.message and "s3cr3t-token" not in err.value.message


# ---- channels ----

def test_unknown_scheme_and_a_raising_channel_are_failed_deliveries(home, monkeypatch):
    from claude_docker.alerting.channels import webhook
    from claude_docker.alerting.model import Target

    odd = Target(url="carrier-pigeon://x", scheme="carrier-pigeon", shown="carrier-pigeon://x")
    got = channels.send(odd, note("A"))
    assert not got.ok and got.permanent

    def boom(target, n, timeout):
        raise RuntimeError("exploded at https://user:s3cr3t@example.invalid/x\nsecond line")

    monkeypatch.setattr(webhook, "send", boom)
    target = use_targets(monkeypatch, "json+http://127.0.0.1:9/x").targets[0]
    got = channels.send(target, note("A"))
    assert not got.ok and not got.permanent
    assert "exploded" in got.detail and "s3cr3t" not in got.detail and "\n" not in got.detail


# ---- the webhook, end to end ----

def test_webhook_receives_every_field_once(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/hook?token=abc&severity=high"))
    made = dispatch.notify([note("DiskFull", path="state")], s, T0)
    assert len(made) == 1 and made[0].escalation == 0
    assert dispatch.deliver(s, T0) == {"delivered": 1, "retry": 0, "gave_up": 0, "pending": 0}
    [request] = receiver.requests
    assert request.path == "/hook?token=abc"  # our own parameters stay ours
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert body["version"] == 1 and body["id"] == made[0].id and body["kind"] == "firing"
    assert body["labels"] == {"alertname": "DiskFull", "severity": "high", "path": "state"}
    assert body["summary"] == "DiskFull is firing" and body["runbook"] == "docs/ALERTING.md#diskfull"
    assert body["fingerprint"] == made[0].fingerprint and body["host"] == os.uname().nodename
    assert {"starts_at", "ends_at", "value", "escalation", "items"} <= set(body)
    # Delivered is delivered: another run sends nothing.
    assert dispatch.deliver(s, T0 + 60)["delivered"] == 0 and len(receiver.requests) == 1
    metrics = obs_settings.metrics_file().read_text()
    assert '"claude_docker_notifications_total"' in metrics and '"outcome":"delivered"' in metrics.replace(" ", "")


def test_low_severity_goes_only_where_wanted(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/all"), receiver.hook("/crit?severity=critical"))
    dispatch.notify([note("Backup", severity="low"), note("Corrupt", severity="critical")], s, T0)
    dispatch.deliver(s, T0)
    assert sorted(b["labels"]["alertname"] for b in receiver.accepted("/all")) == ["Backup", "Corrupt"]
    assert [b["labels"]["alertname"] for b in receiver.accepted("/crit")] == ["Corrupt"]


# ---- throttling, escalation, budget ----

def test_same_alert_within_repeat_once_then_repeat_escalates(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/desk"), receiver.hook("/slack?escalation=1"))
    assert len(dispatch.notify([note("ErrorRate")], s, T0)) == 1
    assert dispatch.notify([note("ErrorRate")], s, T0 + 60) == []
    assert dispatch.notify([note("ErrorRate")], s, T0 + 899) == []
    dispatch.deliver(s, T0 + 899)
    assert [b["escalation"] for b in receiver.accepted("/desk")] == [0]
    assert receiver.accepted("/slack") == []  # escalation 1: not on the first notification
    [repeat] = dispatch.notify([note("ErrorRate")], s, T0 + 900)
    assert repeat.escalation == 1
    dispatch.deliver(s, T0 + 900)
    assert [b["escalation"] for b in receiver.accepted("/desk")] == [0, 1]
    assert [b["escalation"] for b in receiver.accepted("/slack")] == [1]


def test_resolved_once_and_refiring_starts_higher(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/desk"))
    assert dispatch.notify([note("Orphans", kind=RESOLVED)], s, T0) == []  # never notified firing: nothing
    dispatch.notify([note("Orphans")], s, T0)
    [resolved] = dispatch.notify([note("Orphans", kind=RESOLVED)], s, T0 + 100)
    assert resolved.kind == RESOLVED
    assert dispatch.notify([note("Orphans", kind=RESOLVED)], s, T0 + 200) == []
    later = T0 + 100 + 900  # the repeat interval after its last notification, within 24 h of its resolve
    [again] = dispatch.notify([note("Orphans")], s, later)
    assert again.escalation == 1
    dispatch.notify([note("Orphans", kind=RESOLVED)], s, later + 100)
    dispatch.deliver(s, later + 100)
    [next_day] = dispatch.notify([note("Orphans")], s, later + 100 + 86400 + 1)
    assert next_day.escalation == 0
    dispatch.deliver(s, later + 100 + 86400 + 1)
    kinds = [(b["kind"], b["escalation"]) for b in receiver.accepted()]
    assert kinds == [("firing", 0), ("resolved", 0), ("firing", 1), ("resolved", 1), ("firing", 0)]


def test_a_flapping_alert_is_told_at_most_once_per_repeat_interval(receiver, monkeypatch):
    """Orphans 5, 4, 5, 4, 5 every two minutes: one firing and its resolve, then nothing until the interval has
    passed; still firing then, it is told once more (one level up: it fired again within a day)."""
    s = use_targets(monkeypatch, receiver.hook("/desk"))
    told = []
    for i in range(5):
        told += dispatch.notify([note("Orphans", kind=RESOLVED if i % 2 else FIRING)], s, T0 + 120 * i)
    assert [(n.kind, n.escalation) for n in told] == [("firing", 0), ("resolved", 0)]
    for minute in (10, 12):  # still firing at each pass: the repeats of the evaluator
        assert dispatch.notify([note("Orphans")], s, T0 + 60 * minute) == []
    [late] = dispatch.notify([note("Orphans")], s, T0 + 120 + 900)
    assert (late.kind, late.escalation) == ("firing", 1)
    [end] = dispatch.notify([note("Orphans", kind=RESOLVED)], s, T0 + 120 + 960)
    assert (end.kind, end.escalation) == ("resolved", 1)


def test_a_flap_that_ends_inside_the_interval_tells_nothing_more(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/desk"))
    dispatch.notify([note("Orphans")], s, T0)
    dispatch.notify([note("Orphans", kind=RESOLVED)], s, T0 + 60)
    assert dispatch.notify([note("Orphans")], s, T0 + 120) == []
    assert dispatch.notify([note("Orphans", kind=RESOLVED)], s, T0 + 180) == []  # its firing wasn't told
    assert dispatch.notify([], s, T0 + 3600) == []


def test_manual_notes_share_dedup_by_labels(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/desk"))
    manual = note("backup-script", kind=MANUAL, severity="medium", host="a")
    assert len(dispatch.notify([manual], s, T0)) == 1
    assert dispatch.notify([manual], s, T0 + 10) == []
    other = note("backup-script", kind=MANUAL, severity="medium", host="b")
    assert len(dispatch.notify([other], s, T0 + 10)) == 1


def test_hourly_budget_holds_the_overflow_and_sends_one_digest(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/desk"))
    names = [f"Alert{i:02d}" for i in range(25)]
    for i, name in enumerate(names):
        dispatch.notify([note(name)], s, T0 + i * 60)
        dispatch.deliver(s, T0 + i * 60)
    sent = receiver.accepted()
    assert [b["labels"]["alertname"] for b in sent] == names[:10]
    # Not yet an hour since the first: the budget is still spent.
    assert dispatch.deliver(s, T0 + 3599)["delivered"] == 0
    assert dispatch.deliver(s, T0 + 3600)["delivered"] == 1
    digest = receiver.accepted()[-1]
    assert digest["kind"] == "digest" and digest["labels"]["severity"] == "high"
    assert [i["labels"]["alertname"] for i in digest["items"]] == names[10:]
    assert dispatch.deliver(s, T0 + 7200)["delivered"] == 0  # the digest went once
    assert len(receiver.accepted()) == 11


def test_held_notes_survive_a_damaged_notify_log_being_set_aside(receiver, monkeypatch, capsys):
    s = use_targets(monkeypatch, receiver.hook("/desk"))
    dispatch.notify([note("A")], s, T0)
    files.notify_log_file().write_bytes(b"{not json")
    made = dispatch.notify([note("B")], s, T0 + 1)
    assert [n.alertname for n in made] == ["B"]
    assert "notify-log.json was damaged" in capsys.readouterr().err
    assert len(list((files.directory().parent / "damaged").iterdir())) == 1
    assert dispatch.deliver(s, T0 + 2)["delivered"] == 2


# ---- retries, Retry-After, permanent failure, deadline ----

def test_429_retry_after_is_honoured(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/slack"), receiver.hook("/other"))
    receiver.script["/slack"] = [(429, {"Retry-After": "2"})]
    dispatch.notify([note("A"), note("B")], s, T0)
    got = dispatch.deliver(s, T0)
    # The 429'd target waits (B not tried there); the other target goes on.
    assert got == {"delivered": 2, "retry": 1, "gave_up": 0, "pending": 2}
    assert [r.status for r in receiver.requests if r.path == "/slack"] == [429]
    assert dispatch.deliver(s, T0 + 0.5)["delivered"] == 0
    assert len(receiver.requests) == 3
    assert dispatch.deliver(s, T0 + 2.5)["delivered"] == 2
    assert sorted(b["labels"]["alertname"] for b in receiver.accepted("/slack")) == ["A", "B"]


def test_permanent_refusal_gives_up_with_one_event(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/gone"))
    receiver.script["/gone"] = [(404, {})]
    dispatch.notify([note("A")], s, T0)
    assert dispatch.deliver(s, T0) == {"delivered": 0, "retry": 0, "gave_up": 1, "pending": 0}
    assert dispatch.deliver(s, T0 + 3600)["gave_up"] == 0 and len(receiver.requests) == 1
    [event] = events("alert.gave_up")
    assert "HTTP 404" in event["message"]


def test_server_errors_back_off_until_the_deadline(receiver, monkeypatch):
    write_config('[throttle]\ndeadline = "1h"\n')
    s = use_targets(monkeypatch, receiver.hook("/flaky"))
    receiver.script["/flaky"] = [(500, {})] * 100
    dispatch.notify([note("A")], s, T0)
    assert dispatch.deliver(s, T0)["retry"] == 1
    assert dispatch.deliver(s, T0 + 4)["retry"] == 0  # backoff: 5 s first
    assert dispatch.deliver(s, T0 + 6)["retry"] == 1
    assert dispatch.deliver(s, T0 + 12)["retry"] == 0  # then 10 s
    assert dispatch.deliver(s, T0 + 17)["retry"] == 1
    tried = len(receiver.requests)
    assert dispatch.deliver(s, T0 + 3600) == {"delivered": 0, "retry": 0, "gave_up": 1, "pending": 0}
    assert len(receiver.requests) == tried
    assert "deadline passed" in events("alert.gave_up")[0]["message"]


def test_connection_refused_is_retried(home, monkeypatch):
    from daemons import free_port

    s = use_targets(monkeypatch, f"json+http://127.0.0.1:{free_port()}/x")
    dispatch.notify([note("A")], s, T0)
    assert dispatch.deliver(s, T0) == {"delivered": 0, "retry": 1, "gave_up": 0, "pending": 1}


def test_paced_targets_get_at_most_one_request_a_second(receiver, monkeypatch):
    monkeypatch.setattr(dispatch, "PACED", frozenset({"webhook"}))
    s = use_targets(monkeypatch, receiver.hook("/slack"))
    dispatch.notify([note("A"), note("B"), note("C")], s, T0)
    assert dispatch.deliver(s, T0)["delivered"] == 3
    times = [r.at for r in receiver.requests]
    assert all(b - a >= 1.0 for a, b in zip(times, times[1:]))


# ---- the outbox ----

REPLAY = r"""
import sys
from claude_docker.alerting import config, dispatch
from claude_docker.alerting.model import Notification
s = config.load()
notes = [Notification(id=f"in-{i}", kind="firing", labels={"alertname": f"A{i}", "severity": "high"},
                      summary="x") for i in range(5)]
dispatch.notify(notes, s, float(sys.argv[1]))
print("enqueued", flush=True)
dispatch.deliver(s, float(sys.argv[1]), budget_s=60)
"""


def test_sigkill_while_delivering_then_each_sent_exactly_once(receiver, monkeypatch):
    use_targets(monkeypatch, receiver.hook("/hook"))
    receiver.stall_after = 2  # the third request hangs: the process is killed while it is in flight
    proc = subprocess.Popen([sys.executable, "-c", REPLAY, str(T0)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while len(receiver.requests) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert len(receiver.requests) == 3
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    receiver.stall_after = None
    receiver.release.set()  # the stalled request is answered 503: not accepted
    assert len(outbox.undelivered()) == 3
    got = dispatch.deliver(config.load(), T0 + 1)
    assert got["delivered"] == 3 and got["pending"] == 0
    accepted = [b["labels"]["alertname"] for b in receiver.accepted()]
    assert sorted(accepted) == [f"A{i}" for i in range(5)]  # each exactly once
    first_two = {r.json()["id"] for r in receiver.requests[:2]}
    assert all(r.json()["id"] not in first_two for r in receiver.requests[2:])  # delivered never re-sent


def test_next_due_says_when_the_watcher_must_wake(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/flaky"))
    assert dispatch.next_due(s) == float("inf")
    receiver.script["/flaky"] = [(503, {})]
    dispatch.notify([note("A")], s, T0)
    assert dispatch.next_due(s) == T0
    dispatch.deliver(s, T0)
    assert T0 + 5 <= dispatch.next_due(s) < T0 + 6  # the first backoff
    dispatch.deliver(s, dispatch.next_due(s))
    assert dispatch.next_due(s) == float("inf")


def test_enqueue_twice_is_one_entry(home, monkeypatch):
    s = use_targets(monkeypatch, "json+http://127.0.0.1:9/x")
    n = note("A")
    assert outbox.enqueue(n, s.targets, T0) == 1
    assert outbox.enqueue(n, s.targets, T0) == 0
    [entry] = outbox.undelivered()
    outbox.mark_delivered(entry, T0)
    assert outbox.enqueue(n, s.targets, T0) == 0 and outbox.undelivered() == []


def test_outbox_never_holds_the_target_url(home, monkeypatch):
    s = use_targets(monkeypatch, "json+http://user:s3cr3t@127.0.0.1:9/x?token=t0k3n")
    outbox.enqueue(note("A"), s.targets, T0)
    text = files.outbox_file().read_text()
    assert "s3cr3t" not in text and "t0k3n" not in text


def test_torn_and_damaged_lines_are_skipped_and_the_rest_delivered(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/hook"))
    dispatch.notify([note("A"), note("B")], s, T0)
    path = files.outbox_file()
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"{garbage\n" + lines[1] + b'{"op":"queued","key":"tor')  # torn last line
    assert len(outbox.undelivered()) == 2
    assert len(events("alert.outbox_damaged")) == 1
    assert b"garbage" not in path.read_bytes() and path.read_bytes().endswith(b"\n")
    assert dispatch.deliver(s, T0)["delivered"] == 2
    assert len(events("alert.outbox_damaged")) == 1  # said once: the file was repaired


@pytest.mark.parametrize("field,value", [("next_try", "1e999"), ("deadline", "NaN"), ("queued_at", "-Infinity")])
def test_an_entry_with_a_time_that_is_not_finite_is_a_damaged_record(home, monkeypatch, field, value):
    s = use_targets(monkeypatch, "json+http://127.0.0.1:9/x")
    outbox.enqueue(note("A"), s.targets, T0)
    outbox.enqueue(note("B"), s.targets, T0)
    path = files.outbox_file()
    first, second = path.read_bytes().splitlines(keepends=True)
    record = json.loads(second)
    record[field] = 0.0  # replaced in the text: json.dumps would not write the overflow as it was read
    damaged = json.dumps(record).replace(f'"{field}": 0.0', f'"{field}": {value}').encode() + b"\n"
    assert value.encode() in damaged
    path.write_bytes(first + damaged)
    assert [e.note.labels["alertname"] for e in outbox.undelivered()] == ["A"]
    assert len(events("alert.outbox_damaged")) == 1


def test_a_torn_tail_is_never_glued_to_the_next_record(home, monkeypatch):
    s = use_targets(monkeypatch, "json+http://127.0.0.1:9/x")
    outbox.enqueue(note("A"), s.targets, T0)
    [entry] = outbox.undelivered()
    with open(files.outbox_file(), "ab") as f:
        f.write(b'{"op":"attempt","ke')  # a crash mid-append
    outbox.mark_delivered(entry, T0)  # appended without reading first
    assert outbox.undelivered() == []


def test_unreadable_outbox_is_set_aside_and_a_new_one_started(receiver, monkeypatch, capsys):
    s = use_targets(monkeypatch, receiver.hook("/hook"))
    files.outbox_file().write_bytes(b"\x00\xff binary junk\n\x01\x02\n")
    dispatch.notify([note("A")], s, T0)
    assert "outbox.jsonl was damaged" in capsys.readouterr().err
    assert dispatch.deliver(s, T0)["delivered"] == 1
    assert [b["labels"]["alertname"] for b in receiver.accepted()] == ["A"]


def test_compaction_keeps_only_what_is_undelivered(home, monkeypatch):
    monkeypatch.setattr(outbox, "COMPACT_BYTES", 2000)
    s = use_targets(monkeypatch, "json+http://127.0.0.1:9/x")
    for i in range(30):
        outbox.enqueue(note(f"A{i}"), s.targets, T0)
    for entry in outbox.undelivered()[:-2]:
        outbox.mark_delivered(entry, T0)
    before = files.outbox_file().stat().st_size
    left = outbox.undelivered()
    assert [e.note.alertname for e in left] == ["A28", "A29"]
    assert files.outbox_file().stat().st_size < before / 2
    assert outbox.enqueue(note("A0"), s.targets, T0) == 0  # finished keys are remembered
    assert [e.note.alertname for e in outbox.undelivered()] == ["A28", "A29"]


def test_a_target_this_process_does_not_know_waits_for_its_deadline(home, monkeypatch):
    """Set in one environment alone (a shell's CLAUDE_DOCKER_ALERT_TARGETS, not the watcher's service): another
    process leaves its notifications queued, and they give up only at their deadline."""
    s = use_targets(monkeypatch, "json+http://127.0.0.1:9/x")
    dispatch.notify([note("A")], s, T0)
    other = use_targets(monkeypatch, "json+http://127.0.0.1:9/y")
    assert dispatch.deliver(other, T0) == {"delivered": 0, "retry": 0, "gave_up": 0, "pending": 1}
    assert dispatch.deliver(other, T0 + s.deadline_s)["gave_up"] == 1
    assert "no longer configured" in events("alert.gave_up")[0]["message"]


def test_throttle_log_round_trips(home):
    log = throttle.Log.load()
    made = log.decide([note("A")], T0, 900, 10, lambda n: True)
    log.save()
    again = throttle.Log.load()
    assert again.decide([note("A")], T0 + 1, 900, 10, lambda n: True) == []
    assert made[0].id.startswith(again.epoch)



def test_a_notifier_killed_between_deciding_and_enqueueing_enqueues_those_next_time(receiver, monkeypatch):
    """The decision is saved (with its ids) before the outbox sees it: the next run enqueues exactly those, and
    its own new notifications get new ids (an id is never given to two notifications)."""
    s = use_targets(monkeypatch, receiver.hook("/desk"))
    log = throttle.Log.load()
    decided = log.decide([note("A")], T0, s.repeat_s, s.max_per_hour, lambda n: True)
    log.outgoing = decided
    log.save()  # ... and killed here, before the outbox
    assert outbox.undelivered() == []
    [b] = dispatch.notify([note("B")], s, T0 + 1)
    assert [e.note.id for e in outbox.undelivered()] == [decided[0].id, b.id] and b.id != decided[0].id
    assert throttle.Log.load().outgoing == []


def test_a_digest_gives_each_target_the_held_notifications_it_wants(receiver, monkeypatch):
    write_config("[throttle]\nmax_per_hour = 1\n")
    s = use_targets(monkeypatch, receiver.hook("/low?severity=low,medium"), receiver.hook("/high?severity=high"))
    dispatch.notify([note("First", severity="high")], s, T0)
    assert dispatch.notify([note("Backup", severity="low"), note("Corrupt", severity="high")], s, T0 + 1) == []
    dispatch.notify([], s, T0 + 3600)
    dispatch.deliver(s, T0 + 3600)
    [low] = receiver.accepted("/low")
    high = receiver.accepted("/high")
    assert low["kind"] == "digest" and low["labels"]["severity"] == "low"
    assert [i["labels"]["alertname"] for i in low["items"]] == ["Backup"]
    assert [b["kind"] for b in high] == ["firing", "digest"]
    assert [i["labels"]["alertname"] for i in high[1]["items"]] == ["Corrupt"]


def test_a_resolve_never_overtakes_its_firing_being_retried(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/am"))
    receiver.script["/am"] = [(503, {})]
    dispatch.notify([note("Disk")], s, T0)
    assert dispatch.deliver(s, T0)["retry"] == 1  # the firing waits 5 s
    dispatch.notify([note("Disk", kind=RESOLVED)], s, T0 + 1)
    assert dispatch.deliver(s, T0 + 2)["delivered"] == 0  # the resolve is due, but its firing goes first
    assert dispatch.deliver(s, T0 + 6)["delivered"] == 2
    assert [b["kind"] for b in receiver.accepted("/am")] == ["firing", "resolved"]


def test_slack_pacing_holds_across_runs(home, monkeypatch):
    from alertservers import SlackStandIn

    slack = SlackStandIn()
    try:
        s = use_targets(monkeypatch, f"slack+http://127.0.0.1:{slack.server.server_address[1]}/services/T/B/X")
        dispatch.notify([note("A")], s, time.time())  # (the real clock: the stand-in judges by it)
        assert dispatch.deliver(s, time.time())["delivered"] == 1
        dispatch.notify([note("B")], s, time.time())
        assert outbox.waits()  # the pace is kept in the outbox, for the next run
        # A second run at once (a script's second `alert`): it waits out the second, then sends.
        assert dispatch.deliver(s, time.time())["delivered"] == 1
        assert [r.status for r in slack.requests] == [200, 200] and not slack.problems  # (1/s, by its clock)
    finally:
        slack.stop()


def test_next_due_waits_out_a_retry_after(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/busy"))
    receiver.script["/busy"] = [(429, {"Retry-After": "30"})]
    dispatch.notify([note("A"), note("B")], s, T0)
    dispatch.deliver(s, T0)  # A gets the 429; B, never tried, waits with its target
    assert [e.attempts for e in outbox.undelivered()] == [1, 0]
    assert dispatch.next_due(s) >= T0 + 30


def test_retry_after_as_an_http_date():
    from email.utils import formatdate

    from claude_docker.alerting.channels.httppost import retry_after

    assert retry_after({"Retry-After": formatdate(T0 + 10, usegmt=True)}, now=T0) == 10
    assert retry_after({"Retry-After": formatdate(T0 - 10, usegmt=True)}, now=T0) == 0
    assert retry_after({"retry-after": "7"}) == 7
    assert retry_after({"Retry-After": "soon"}) is None


def test_a_broken_alerting_file_keeps_the_environments_targets(home, monkeypatch):
    from claude_docker.alerting import run

    write_config("[throttle\n")
    monkeypatch.setenv("CLAUDE_DOCKER_ALERT_TARGETS", "json+http://127.0.0.1:9/x not-a-url")
    settings, rules, problems = run.configured()
    assert [t.shown for t in settings.targets] == ["json+http://127.0.0.1:9/…"]
    assert len(problems) == 1 and rules


def test_alert_send_that_no_channel_takes_exits_15_saying_so(home, monkeypatch, capsys):
    from claude_docker import cli

    monkeypatch.setenv("CLAUDE_DOCKER_ALERT_TARGETS", "json+http://127.0.0.1:9/hook?severity=critical")
    assert cli.main(["alert", "send", "low", "hello"]) == exitcodes.ALERT_UNDELIVERED
    out, err = capsys.readouterr()
    assert "no channel takes this severity" in out + err and "not sent again" not in out + err


def test_a_resolve_never_overtakes_its_firing_held_in_a_digest_being_retried(receiver, monkeypatch):
    write_config("[throttle]\nmax_per_hour = 1\n")
    s = use_targets(monkeypatch, receiver.hook("/am"))
    dispatch.notify([note("First")], s, T0)
    dispatch.deliver(s, T0)
    dispatch.notify([note("X")], s, T0 + 1)  # held: over the budget
    receiver.script["/am"] = [(503, {})]
    dispatch.notify([], s, T0 + 3600)  # the digest, holding X's firing
    assert dispatch.deliver(s, T0 + 3600)["retry"] == 1
    s.max_per_hour = 10
    dispatch.notify([note("X", kind=RESOLVED)], s, T0 + 3601)
    assert dispatch.deliver(s, T0 + 3602)["delivered"] == 0  # X's resolve waits for the digest
    dispatch.deliver(s, T0 + 3610)
    assert [b["kind"] for b in receiver.accepted("/am")] == ["firing", "digest", "resolved"]


def test_next_due_leaves_out_what_waits_behind_its_alert_or_for_another_process(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/am"))
    receiver.script["/am"] = [(503, {})]
    dispatch.notify([note("X")], s, T0)
    dispatch.deliver(s, T0)  # X's firing backs off 5 s
    dispatch.notify([note("X", kind=RESOLVED)], s, T0 + 1)
    other = use_targets(monkeypatch, "json+http://127.0.0.1:9/elsewhere")
    dispatch.notify([note("Y")], other, T0 + 1)  # queued for a target only `other` knows
    assert T0 + 5 <= dispatch.next_due(s) < T0 + 6  # not T0 + 1: the resolve waits, Y is not ours


def test_a_retry_after_of_a_year_is_capped(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/busy"))
    receiver.script["/busy"] = [(429, {"Retry-After": "31536000"})]
    dispatch.notify([note("A")], s, T0)
    dispatch.deliver(s, T0)
    assert T0 + 3600 <= dispatch.next_due(s) <= T0 + 3601


def test_an_incident_store_that_cannot_be_written_never_stops_the_notification(receiver, monkeypatch):
    from claude_docker.alerting import incidents, run
    from claude_docker.obs.catalog import observe

    def unwritable(*_args):
        raise OSError(28, "No space left on device")

    s = use_targets(monkeypatch, receiver.hook("/hook"))
    monkeypatch.setattr(incidents, "on_transitions", unwritable)
    observe("claude_docker_helper_errors_total", 1, command="flush")
    report = run.run(now=time.time())
    assert report["delivery"]["delivered"] == 1 and s.targets
    assert [b["labels"]["alertname"] for b in receiver.accepted("/hook")] == ["ClaudeDockerHelperErrors"]
    assert events("alert.incidents_failed")[0]["message"] == "incidents not recorded: no space left"


def test_notify_with_nothing_to_decide_writes_nothing(receiver, monkeypatch):
    s = use_targets(monkeypatch, receiver.hook("/hook"))
    dispatch.notify([note("A")], s, T0)
    written = files.notify_log_file().stat()
    assert dispatch.notify([], s, T0 + 5) == []
    again = files.notify_log_file().stat()
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


def test_a_broken_alerting_file_is_one_event_not_one_per_pass(home, monkeypatch):
    from claude_docker.alerting import run

    write_config("[throttle\n")
    for i in range(3):
        run.run(now=T0 + i)
    assert len(events("alert.config_invalid")) == 1
    write_config("")
    run.run(now=T0 + 10)
    write_config("[throttle\n")
    run.run(now=T0 + 20)  # broken again: told again
    assert len(events("alert.config_invalid")) == 2


def test_a_quiet_pass_writes_nothing_to_disk(home, monkeypatch):
    """`alert watch` makes a pass every 5 s: with nothing new, none of alerting's files is rewritten."""
    from claude_docker.alerting import run

    def stamps() -> dict:
        return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files.directory().iterdir() if p.is_file()}

    use_targets(monkeypatch, "json+http://127.0.0.1:9/hook")
    run.run(now=T0)
    run.run(now=T0 + 5)  # (reads the gauges the first pass recorded)
    before = stamps()
    run.run(now=T0 + 10)
    assert stamps() == before and before
