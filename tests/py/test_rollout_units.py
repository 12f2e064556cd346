"""Rollout logic without an engine: the plan, the session records and their rollup, the gates and what they
decide, the slot draw, the state file and the transitions (docs/ROLLOUT.md)."""

from __future__ import annotations

import json
import math
import time

import pytest

from claude_docker import exitcodes
from claude_docker.rollout import analysis, assign, controller, records
from claude_docker.rollout import plan as plans
from claude_docker.rollout import state as states

A = {"image": "stable:1", "id": "sha256:" + "a" * 64}


@pytest.fixture(autouse=True)
def no_background_flush(monkeypatch):
    """Transitions start a detached flush: none here, where nothing would wait for it."""
    monkeypatch.setenv("CLAUDE_DOCKER_BACKGROUND_FLUSH", "0")
B = {"image": "cand:2", "id": "sha256:" + "b" * 64}


# ---- plan ----

@pytest.mark.parametrize(("text", "steps"), [("10,50,100", (10, 50, 100)), ("1, 10%, 50", (1, 10, 50)),
                                             ("0.5,100", (0.5, 100))])
def test_steps_parse(text, steps):
    assert plans.parse_steps(text) == steps


@pytest.mark.parametrize("text", ["", ",", "10,,50", "50,10", "10,10", "0,50", "10,150", "a,b", "-5,10", "nan"])
def test_bad_steps_are_one_line(text):
    with pytest.raises(plans.PlanError) as err:
        plans.parse_steps(text)
    assert "\n" not in str(err.value) and "--steps" in str(err.value)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("2s", 2), ("5m", 300), ("1.5h", 5400), ("500ms", 0.5),
                                               ("1d", 86400)])
def test_durations(text, seconds):
    assert plans.parse_duration(text, "--interval") == seconds


@pytest.mark.parametrize("text", ["0", "-1s", "abc", "5 minutes", "", "1e3"])
def test_bad_durations(text):
    with pytest.raises(plans.PlanError):
        plans.parse_duration(text, "--interval")


@pytest.mark.parametrize("text", ["-0.1", "1.01", "nan", "abc", "", "inf"])
def test_bad_shares(text):
    with pytest.raises(plans.PlanError):
        plans.parse_share(text, "--max-error-rate")


def test_plan_timings_follow_flagger():
    plan = plans.make(steps=(1.0, 10.0, 50.0), interval=60.0, failure_limit=2)
    assert plans.shortest_promotion(plan) == 180 and plans.longest_rollback(plan) == 180
    text = "\n".join(plans.describe(plan))
    assert "1% → 10% → 50%" in text and "shortest time to promotion: 3m" in text and "3m (failure limit 2)" in text


# ---- classification and records ----

@pytest.mark.parametrize(("status", "signalled", "cls"), [
    (0, False, "ok"), (1, False, "claude_error"), (2, False, "claude_error"), (125, False, "error"),
    (122, False, "error"), (126, False, "error"), (127, False, "error"), (137, False, "error"), (139, False, "error"),
    (134, False, "error"), (137, True, "interrupted"), (130, False, "interrupted"), (143, False, "interrupted"),
    (129, False, "interrupted")])
def test_classification(status, signalled, cls):
    assert records.classify(status, signalled) == cls


def _plan(**kw):
    return plans.make(**{"interval": 10.0, "window": 100.0, "min_sessions": 3, **kw})


def _write(dep_id, plan, rows):
    """(time, step, slot, class, startup) rows appended to the deployment's log."""
    path = records.log_path(dep_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        for now, step, slot, cls, startup in rows:
            fh.write(records.line(now, plan, step, slot, cls, startup))
    return path


def test_fold_reads_only_new_lines_and_skips_damaged_ones(home):
    plan = _plan()
    now = 1_000_000.0
    _write("d1", plan, [(now, 0, "v2", "ok", 0.4), (now, 0, "v2", "error", None)])
    last = records.line(now, plan, 0, "v1", "ok", 1.0)
    with open(records.log_path("d1"), "ab") as fh:
        fh.write(b"garbage line\n" + b"%f d1 0 v3 ok 1\n" % now + last[:-5])
    rollup = records.empty("d1", plan)
    assert records.fold(rollup, 0)
    assert rollup["bad_lines"] == 2  # the half-written last line is not read yet
    totals = records.window(rollup, 0, now - 50)
    assert totals["v2"].sessions == 2 and totals["v2"].errors == 1 and totals["v2"].samples() == 1
    assert totals["v1"].sessions == 0
    with open(records.log_path("d1"), "ab") as fh:
        fh.write(last[-5:])  # the rest of that line: now whole
    assert records.fold(rollup, 0)
    assert records.window(rollup, 0, now - 50)["v1"].sessions == 1
    records.save(rollup)
    again = records.load("d1", plan)
    assert again == rollup
    assert records.load("d1", _plan(interval=20.0)) != rollup  # another plan: the cache doesn't fit, rebuilt


def test_window_is_per_step_and_drops_old_buckets(home):
    plan = _plan()
    now = 2_000_000.0
    _write("d2", plan, [(now - 500, 0, "v2", "error", 1), (now - 5, 0, "v2", "ok", 1), (now - 5, 1, "v2", "ok", 1)])
    rollup = records.empty("d2", plan)
    records.fold(rollup, 0)
    assert records.window(rollup, 0, now - 100)["v2"].sessions == 1  # the window
    assert records.window(rollup, 0, 0)["v2"].sessions == 2  # the whole step
    assert records.window(rollup, 1, now - 100)["v2"].sessions == 1
    records.fold(rollup, 1)  # once the deployment is at step 1, step 0's counts go
    assert not any(k.startswith("0:") for k in rollup["cells"]) and records.window(rollup, 1, 0)["v2"].sessions == 1


def test_p95_is_exact_at_the_threshold():
    plan = _plan(max_p95_start=15.0)
    edges = records.bounds(plan)
    t = records.Totals(len(edges) + 1)
    from bisect import bisect_left

    for seconds in [1.0] * 19 + [15.0]:  # 95 % at or under 1 s... and one at exactly 15 s
        t.hist[bisect_left(edges, seconds)] += 1
    assert t.p95(edges) == 1.0
    t.hist[bisect_left(edges, 15.5)] += 1  # now 2 of 21 above 1 s: the 95th percentile is above 1 s
    assert t.p95(edges) == 15.0
    for _ in range(3):
        t.hist[bisect_left(edges, 15.01)] += 1
    assert t.p95(edges) > 15.0


# ---- gates and decisions ----

def _dep(now, **kw):
    dep = {"id": "d", "mode": "auto", "candidate": B, "baseline": A, "plan": _plan(), "step": 0, "weight": 0.1,
           "started": now - 20, "step_started": now - 20, "failed_checks": 0, "failed_period": -1, "errors": 0,
           "smoke": "passed", "alerts": []}
    dep.update(kw)
    return dep


def _totals(v1=(0, 0), v2=(0, 0), start=1.0, plan=None):
    edges = records.bounds(plan or _plan())
    out = {}
    for slot, (n, errors) in (("v1", v1), ("v2", v2)):
        t = records.Totals(len(edges) + 1)
        t.sessions = n
        t.by_class["error"] = errors
        t.by_class["ok"] = n - errors
        from bisect import bisect_left

        t.hist[bisect_left(edges, start)] += n
        out[slot] = t
    return out, edges


def test_too_few_sessions_hold_never_promote():
    now = 10_000.0
    dep = _dep(now)
    totals, edges = _totals(v2=(2, 0))
    found = analysis.gates(dep, totals, totals, edges, now, True)
    assert analysis.verdict(found) == analysis.INCONCLUSIVE
    assert analysis.decide(dep, found, now) == analysis.HOLD


def test_pass_steps_only_after_the_interval_and_promotes_at_the_last():
    now = 10_000.0
    totals, edges = _totals(v2=(5, 0))
    early = _dep(now, step_started=now - 5)
    assert analysis.decide(early, analysis.gates(early, totals, totals, edges, now, True), now) == analysis.HOLD
    dep = _dep(now)
    assert analysis.decide(dep, analysis.gates(dep, totals, totals, edges, now, True), now) == analysis.STEP
    last = _dep(now, step=2)
    assert analysis.decide(last, analysis.gates(last, totals, totals, edges, now, True), now) == analysis.PROMOTE
    manual = _dep(now, mode="manual", plan=_plan(steps=(10.0,)))
    assert analysis.decide(manual, analysis.gates(manual, totals, totals, edges, now, True), now) == analysis.HOLD


def test_error_rate_failure_rolls_back_at_the_first_check_by_default():
    now = 10_000.0
    dep = _dep(now, step_started=now - 1)  # even before the interval: failing fast
    totals, edges = _totals(v2=(5, 1))  # 20 %
    found = analysis.gates(dep, totals, totals, edges, now, True)
    assert [g.name for g in found if g.verdict == analysis.FAIL] == ["error_rate"]
    assert analysis.decide(dep, found, now) == analysis.ROLLBACK


def test_failure_limit_counts_one_failed_check_per_interval():
    now = 10_000.0
    dep = _dep(now, plan=_plan(failure_limit=1))
    totals, edges = _totals(v2=(5, 1))
    found = analysis.gates(dep, totals, totals, edges, now, True)
    assert analysis.decide(dep, found, now) == analysis.COUNT_FAILURE
    counted = _dep(now, plan=_plan(failure_limit=1), failed_checks=1, failed_period=analysis.period(dep, now))
    assert analysis.decide(counted, found, now) == analysis.HOLD  # the same interval: not counted twice
    assert analysis.decide(counted, found, now + 10) == analysis.ROLLBACK  # the next interval's failure


def test_baseline_margin_and_p95_and_deadline():
    now = 10_000.0
    dep = _dep(now, plan=_plan(max_error_rate=0.5))
    totals, edges = _totals(v1=(10, 0), v2=(10, 1))  # 10 % vs 0 %: worse by more than 5 %
    found = {g.name: g.verdict for g in analysis.gates(dep, totals, totals, edges, now, True)}
    assert found["error_rate"] == analysis.PASS and found["baseline"] == analysis.FAIL
    slow, edges = _totals(v2=(5, 0), start=20.0)
    assert {g.name: g.verdict for g in analysis.gates(dep, slow, slow, edges, now, True)}["p95_start"] == analysis.FAIL
    old = _dep(now, step_started=now - 8 * 86400)  # past the 7-day deadline
    one = _totals(v2=(1, 0))[0]
    found_old = analysis.gates(old, one, one, edges, now, True)
    assert analysis.decide(old, found_old, now) == analysis.ROLLBACK


def test_measurement_errors_count_in_a_row_past_four():
    now = 10_000.0
    totals, edges = _totals(v2=(5, 0))
    for errors in range(4):
        dep = _dep(now, errors=errors)
        assert analysis.decide(dep, analysis.gates(dep, totals, totals, edges, now, False), now) == analysis.COUNT_ERROR
    dep = _dep(now, errors=4)
    assert analysis.decide(dep, analysis.gates(dep, totals, totals, edges, now, False), now) == analysis.ROLLBACK


# ---- the draw ----

def _within_binomial(hits: int, n: int, p: float) -> bool:
    sigma = math.sqrt(n * p * (1 - p))
    return abs(hits - n * p) <= 4.5 * sigma


@pytest.mark.parametrize("share", [0.1, 0.5, 0.9])
def test_random_draw_is_binomial(share):
    n = 4000
    hits = sum(assign.slot(share, "d", None) == "v2" for _ in range(n))
    assert _within_binomial(hits, n, share)


def test_sticky_draw_keeps_a_key_and_widens_monotonically():
    users = [f"user{i}@host" for i in range(2000)]
    at10 = {u for u in users if assign.slot(0.1, "dep-1", u) == "v2"}
    assert _within_binomial(len(at10), len(users), 0.1)
    assert all(assign.slot(0.1, "dep-1", u) == "v2" for u in at10)  # the same user, the same slot
    at50 = {u for u in users if assign.slot(0.5, "dep-1", u) == "v2"}
    assert at10 <= at50  # a user on the candidate stays on it when the share grows
    other = {u for u in users if assign.slot(0.1, "dep-2", u) == "v2"}
    assert other != at10  # a new deployment draws anew
    assert assign.slot(0.0, "d", "x") == "v1" and assign.slot(1.0, "d", "x") == "v2"
    assert assign.sticky_key("project", "u", "/p") == "/p" and assign.sticky_key("none", "u", "/p") is None


# ---- state and transitions ----

def test_state_round_trip_and_damage(home):
    assert states.load() == states.empty()
    with states.lock():
        state = states.empty()
        state["stable"] = A
        states.save(state)
    assert states.load()["stable"] == A and states.load()["seq"] == 1
    path = states.state_file()
    for broken in (b"{", b"[]", b'{"schema": 2}', json.dumps({**states.empty(), "stable": {"image": 1}}).encode()):
        path.write_bytes(broken)
        with pytest.raises(states.Damaged) as err:
            states.load()
        assert err.value.code == exitcodes.ROLLOUT_STATE_DAMAGED and "\n" not in err.value.message


def _events(home):
    path = home / ".claude-docker-events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_transitions_are_told_once_and_never_doubled(home):
    plan = _plan(steps=[10.0, 100.0], interval=1.0, min_sessions=1)
    controller.start(B, A, plan, "auto", 0.1, "passed")
    with pytest.raises(controller.ToolError) as err:
        controller.start(B, A, plan, "auto", 0.1, "passed")
    assert err.value.code == exitcodes.ROLLOUT_CONFLICT
    dep = states.load()["deployment"]
    records.append(dep["id"], plan, 0, "v2", "ok", 0.3)
    later = time.time() + 2
    assert controller.evaluate("watch", now=later) == analysis.STEP
    stale = dict(states.load(), deployment=dep)  # an evaluator that read the state before the step
    assert controller.evaluate("watch", now=later, state=stale) == analysis.HOLD  # decided again under the lock
    assert states.load()["deployment"]["step"] == 1  # stepped once only
    _write(dep["id"], plan, [(later + 1, 1, "v2", "ok", 0.3)])
    assert controller.evaluate("session", now=later + 2) == analysis.PROMOTE
    state = states.load()
    assert state["deployment"] is None and state["stable"] == B and state["known_good"][0]["id"] == A["id"]
    assert state["history"][0]["outcome"] == "promoted"  # (the stable before it: none pinned, so the baseline)
    assert not records.log_path(dep["id"]).exists()
    kinds = [e["event"] for e in _events(home) if e["event"].startswith("rollout.")]
    assert kinds == ["rollout.started", "rollout.stepped", "rollout.promoted"]
    assert controller.rollback("by hand") is None  # nothing in progress
    state = controller.back_to(A, "by hand")
    assert state["stable"] == A and state["known_good"] == []  # the image left is not remembered as good
    assert controller.back_to(None, "by hand")["stable"] is None


def test_a_failing_session_rolls_back_at_once(home, capsys):
    controller.start(B, A, _plan(min_sessions=2, max_error_rate=0.6), "auto", 0.5, "passed")
    dep = states.load()["deployment"]
    records.append(dep["id"], dep["plan"], 0, "v2", "error", 0.3)
    assert controller.evaluate("session") == analysis.HOLD  # one of 2: 50 % at most, under 60 %: inconclusive
    records.append(dep["id"], dep["plan"], 0, "v2", "error", 0.3)
    assert controller.evaluate("session") == analysis.ROLLBACK
    assert "rolled back" in capsys.readouterr().err
    state = states.load()
    assert state["deployment"] is None and state["stable"] is None  # sessions: what they ran before it
    assert state["history"][0]["outcome"] == "rolled_back" and "error_rate" in state["history"][0]["reason"]


def test_critical_alert_rolls_back_and_others_are_noted(home):
    controller.start(B, A, _plan(), "manual", 0.2, "passed")
    assert controller.alert("DiskFull", "warning") is None
    assert states.load()["deployment"]["alerts"][0]["name"] == "DiskFull"
    entry = controller.alert("SessionsFailing", "critical")
    assert entry is not None and "SessionsFailing" in entry["reason"]
    assert states.load()["deployment"] is None


def test_manual_share_moves_and_promotes_at_one(home):
    controller.start(B, A, _plan(steps=[10.0]), "manual", 0.1, "passed")
    assert controller.set_share(B, 0.5)["deployment"]["weight"] == 0.5
    with pytest.raises(controller.ToolError):
        controller.set_share(A, 0.5)
    state = controller.set_share(B, 1.0)
    assert state["deployment"] is None and state["stable"] == B


def test_a_workstations_few_sessions_count_over_the_whole_step():
    """5 candidate sessions over hours: none of them in the last 5 minutes, yet the step has its sessions."""
    now = 100_000.0
    dep = _dep(now, step_started=now - 6 * 3600, plan=_plan(window=300.0, min_sessions=5))
    empty, edges = _totals()
    whole, _ = _totals(v2=(5, 0))
    found = analysis.gates(dep, empty, whole, edges, now, True)
    assert analysis.verdict(found) == analysis.PASS and "over the step" in found[0].detail
    assert analysis.decide(dep, found, now) == analysis.STEP
    busy, _ = _totals(v2=(6, 3))  # a burst in the window fails it even though the step overall would pass
    bad = analysis.gates(dep, busy, whole, edges, now, True)
    assert bad[0].verdict == analysis.FAIL and "over the last 5m" in bad[0].detail
    burst, _ = _totals(v2=(2, 2))  # fewer than 5 in the window, but 2 errors are already 40 % of 5
    over = analysis.gates(dep, burst, _totals(v2=(100, 2))[0], edges, now, True)
    assert over[0].verdict == analysis.FAIL and "2 of 2 candidate sessions failed over the last 5m" in over[0].detail
    one, _ = _totals(v2=(1, 0))  # quiet window: the whole step judges
    assert analysis.gates(dep, one, whole, edges, now, True)[0].verdict == analysis.PASS


def test_a_share_set_by_hand_has_no_deadline_and_takes_an_auto_rollout_over(home):
    now = 10_000.0
    manual = _dep(now, mode="manual", step_started=now - 10 ** 7)
    totals, edges = _totals(v2=(1, 0))
    found = analysis.gates(manual, totals, totals, edges, now, True)
    assert {g.name: g.verdict for g in found}["deadline"] == analysis.SKIPPED
    assert analysis.decide(manual, found, now) == analysis.HOLD
    controller.start(B, A, _plan(steps=[10.0, 50.0, 100.0]), "auto", 0.1, "passed")
    dep = controller.set_share(B, 0.9)["deployment"]
    assert dep["mode"] == "manual" and dep["weight"] == 0.9  # never stepped down to 50 % by the gates


def test_measurement_errors_count_once_per_interval(home):
    controller.start(B, A, _plan(interval=60.0), "auto", 0.1, "passed")
    dep = states.load()["deployment"]
    log = records.log_path(dep["id"])
    log.parent.mkdir(parents=True, exist_ok=True)
    log.mkdir()  # a log that can't be read
    for _ in range(3):
        assert controller.evaluate("watch") == analysis.COUNT_ERROR
    assert states.load()["deployment"]["errors"] == 1
    log.rmdir()
    controller.evaluate("watch")
    assert states.load()["deployment"]["errors"] == 0  # in a row: a good read resets them


@pytest.mark.parametrize("change", [
    {"step": 0.5}, {"history": [1]}, {"alerts": [1]}, {"step_started": float("nan")},
    {"plan.min_sessions": float("inf")}, {"plan.interval": 0}, {"id": "../../x"}, {"plan.steps": []},
    {"weight": True}, {"mode": "other"}])
def test_a_hand_edited_state_that_would_break_later_is_damaged_now(home, change):
    controller.start(B, A, _plan(), "auto", 0.1, "passed")
    state = states.load()
    for path, value in change.items():
        where = state if path == "history" else state["deployment"]
        if path.startswith("plan."):
            where = where["plan"]
        where[path.removeprefix("plan.")] = value
    states.state_file().write_text(json.dumps(state))
    with pytest.raises(states.Damaged):
        states.load()
