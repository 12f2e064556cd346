"""Canary rollouts with a real engine (docs/ROLLOUT.md): sessions split by the stage's share, a bad candidate
rolled back within one interval of the breach, a good one promoted step by step, a running candidate session
untouched by a rollback, transitions that survive SIGKILL and concurrent deploys, the seed's manual steps, and
bad input that changes nothing. Candidates are stub images made from the suite's fake Claude Code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import FAKE_CLAUDE
from shell import helper, plugin_env

pytestmark = [pytest.mark.docker]

WAIT = 120


GOOD = FAKE_CLAUDE.replace("0.0.0 (fake Claude Code)", "9.9.9 (good candidate)")
CRASH = "#!/bin/sh\nkill -SEGV $$\n"


@pytest.fixture(scope="module")
def images(docker_client, fake_image, busybox_image):
    """stable (the fake), good, crashing, and one without `claude`: removed after the module."""
    tag = f"claude-docker-test/rollout-{os.getpid()}"
    made = {"stable": fake_image, "good": f"{tag}:good", "crash": f"{tag}:crash", "noclaude": f"{tag}:noclaude"}
    for name, script in (("good", GOOD), ("crash", CRASH), ("noclaude", None)):
        busybox_image(made[name], script)
    yield made
    for name in ("good", "crash", "noclaude"):
        try:
            docker_client.images.remove(made[name], force=True)
        except Exception:  # noqa: BLE001 - a container a failed test left still uses it: the next run's cleanup
            pass


@pytest.fixture
def env(home, fake_image):
    """A user with no image of their own (the rollout picks), whose stable image is the fake, as an earlier
    rollout's promotion would have left it (the settings' default image is not built here)."""
    from claude_docker.rollout import images
    from claude_docker.rollout import state as states

    env = plugin_env(home, fake_image)
    del env["CLAUDE_DOCKER_IMAGE"]
    env["CLAUDE_DOCKER_STATE_DIR"] = str(home / ".claude-docker")
    env["CLAUDE_DOCKER_BACKGROUND_FLUSH"] = "0"  # no detached flush outliving the test
    with states.lock():
        seeded = states.empty()
        seeded["stable"] = images.resolve(fake_image)
        states.save(seeded)
    return env



def rollout(env: dict, *args: str, timeout: float = WAIT) -> subprocess.CompletedProcess:
    return helper(env, "rollout", *args, timeout=timeout)


def deploy(env: dict, image: str, *args: str) -> subprocess.CompletedProcess:
    done = rollout(env, "deploy", image, "--skip-smoke", *args)
    assert done.returncode == 0, done.stderr
    return done


def state(home: Path) -> dict:
    return json.loads((home / ".claude-docker/rollout/state.json").read_text())


def events(home: Path, kind: str | None = None) -> list[dict]:
    path = home / ".claude-docker-events.jsonl"
    found = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [e for e in found if kind is None or e["event"] == kind]


def one_session(env: dict, project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "claude_docker", "run", "--", *(args or ("--version",))],
                          env=env, cwd=project, capture_output=True, text=True, timeout=WAIT)


def sessions(env: dict, project: Path, count: int, parallel: int = 4) -> list[subprocess.CompletedProcess]:
    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(lambda _: one_session(env, project), range(count)))


@pytest.fixture
def project(tmp_path) -> Path:
    made = tmp_path / "proj"
    made.mkdir()
    return made


def _binomial_ok(hits: int, n: int, p: float) -> bool:
    return abs(hits - n * p) <= 4.5 * (n * p * (1 - p)) ** 0.5


def test_hundreds_of_sessions_split_by_the_share(env, home, project, images, no_leftover_containers):
    deploy(env, images["good"], "--steps", "30,100", "--min-sessions", "100000", "--interval", "1h")
    dep = state(home)["deployment"]
    done = sessions(env, project, 200)
    assert [d.returncode for d in done] == [0] * 200, [d.stderr for d in done if d.returncode][:2]
    ends = [e for e in events(home, "session.end") if e.get("deployment") == dep["id"]]
    assert len(ends) == 200
    on_v2 = sum(e["slot"] == "v2" for e in ends)
    assert _binomial_ok(on_v2, 200, 0.3), on_v2
    candidates = [d.stdout for d in done if "good candidate" in d.stdout]
    assert len(candidates) == on_v2  # the slot said is the image that ran
    assert all(e["fields"]["rollout_class"] == "ok" for e in ends)
    log = (home / f".claude-docker/rollout/sessions-{dep['id']}.log").read_text().splitlines()
    assert len(log) == 200 and {line.split()[2] for line in log} == {"v1", "v2"}
    assert state(home)["deployment"]["step"] == 0  # too few sessions for the step: held


@pytest.mark.parametrize("mode", ["user", "project"])
def test_sticky_modes_keep_one_slot(env, home, tmp_path, images, mode, no_leftover_containers):
    deploy(env, images["good"], "--steps", "50,100", "--min-sessions", "100000", "--interval", "1h")
    dep = state(home)["deployment"]
    env = {**env, "CLAUDE_DOCKER_ROLLOUT_STICKY": mode}
    projects = []
    for i in range(6):
        (tmp_path / f"p{i}").mkdir()
        projects.append(tmp_path / f"p{i}")
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda p: [one_session(env, p) for _ in range(3)], projects))
    ends = [e for e in events(home, "session.end") if e.get("deployment") == dep["id"]]
    assert len(ends) == 18
    by_project: dict[str, set] = {}
    for e in ends:
        by_project.setdefault(e["project"], set()).add(e["slot"])
    assert all(len(slots) == 1 for slots in by_project.values()), by_project
    if mode == "user":  # one user here: every session on the same slot
        assert len({e["slot"] for e in ends}) == 1


def test_a_crashing_candidate_is_rolled_back_within_one_interval(env, home, project, images,
                                                                no_leftover_containers):
    deploy(env, images["crash"], "--steps", "50,100", "--min-sessions", "2", "--interval", "5s")
    dep = state(home)["deployment"]
    crashed = 0
    for _ in range(60):
        done = one_session(env, project)
        assert done.returncode in (0, 139), done.stderr
        crashed += done.returncode == 139
        if state(home)["deployment"] is None:
            # decided at the end of the first crash: 1 error of the 2 sessions needed is over 10 % whatever the
            # second does, so the breach is certain there
            assert done.returncode == 139 and crashed == 1
            assert "rolled back" in done.stderr and "error_rate" in done.stderr
            break
    else:
        pytest.fail("never rolled back")
    entry = state(home)["history"][0]
    assert entry["outcome"] == "rolled_back" and entry["id"] == dep["id"]
    end = [e for e in events(home, "session.end") if e["fields"]["exit_status"] == 139][-1]
    assert end["fields"]["rollout_class"] == "error" and end["slot"] == "v2"
    rolled = events(home, "rollout.rolled_back")
    assert len(rolled) == 1 and rolled[0]["fields"]["gate"] == "error_rate"
    after = sessions(env, project, 6)
    assert all(d.returncode == 0 and "fake Claude Code" in d.stdout for d in after)
    assert not (home / f".claude-docker/rollout/sessions-{dep['id']}.log").exists()


def test_a_slow_candidate_is_rolled_back_by_the_p95_gate(env, home, project, images, no_leftover_containers):
    deploy(env, images["good"], "--steps", "100", "--min-sessions", "2", "--interval", "1h", "--max-p95-start", "1ms")
    sessions(env, project, 2, parallel=1)
    entry = state(home)["history"][0]
    assert entry["outcome"] == "rolled_back" and "p95_start" in entry["reason"]


def test_a_good_candidate_is_promoted_step_by_step(env, home, project, images, no_leftover_containers):
    deploy(env, images["good"], "--min-sessions", "2", "--interval", "2s")
    dep = state(home)["deployment"]
    assert dep["plan"]["steps"] == [10, 50, 100]
    deadline = time.time() + 240
    while state(home)["deployment"] and time.time() < deadline:
        done = sessions(env, project, 4, parallel=4)
        assert all(d.returncode == 0 for d in done)
    final = state(home)
    assert final["deployment"] is None and final["history"][0]["outcome"] == "promoted"
    good_id = dep["candidate"]["id"]
    assert final["stable"]["id"] == good_id and final["known_good"][0]["id"] == dep["baseline"]["id"]
    stepped = events(home, "rollout.stepped")
    assert [e["fields"]["weight"] for e in stepped] == [0.5, 1.0]
    assert not events(home, "rollout.rolled_back")
    after = one_session(env, project)  # no rollout: the promoted image is the stable one
    assert "good candidate" in after.stdout
    back = rollout(env, "rollback", "--to", "previous")
    assert back.returncode == 0, back.stderr
    assert "fake Claude Code" in one_session(env, project).stdout


def test_an_inconclusive_window_holds_and_watch_promotes_on_time(env, home, project, images,
                                                                 no_leftover_containers):
    deploy(env, images["good"], "--steps", "100", "--min-sessions", "3", "--interval", "8s")
    assert all(d.returncode == 0 for d in sessions(env, project, 3, parallel=3))
    report = json.loads(rollout(env, "status", "--json").stdout)
    dep = report["deployment"]
    assert dep is not None and dep["verdict"] == "pass" and dep["action"] == "hold"  # the interval isn't over
    watch = rollout(env, "watch", "--every", "0.5s", timeout=60)
    assert watch.returncode == 0 and "promoted" in watch.stdout
    assert state(home)["history"][0]["outcome"] == "promoted"


def test_a_held_step_with_too_few_sessions_never_promotes(env, home, project, images, no_leftover_containers):
    deploy(env, images["good"], "--steps", "100", "--min-sessions", "5", "--interval", "1s")
    sessions(env, project, 3, parallel=3)
    time.sleep(1.5)
    report = json.loads(rollout(env, "status", "--json").stdout)["deployment"]
    assert report["verdict"] == "inconclusive" and report["action"] == "hold"
    watch = subprocess.Popen([sys.executable, "-m", "claude_docker", "rollout", "watch", "--every", "0.2s"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        assert watch.poll() is None  # still holding
        assert state(home)["deployment"]["step"] == 0
    finally:
        watch.send_signal(signal.SIGINT)
        watch.wait(timeout=WAIT)
    assert watch.returncode == 130


def test_a_candidate_session_running_through_a_rollback_finishes_and_syncs(env, home, project, images,
                                                                         docker_client, no_leftover_containers):
    deploy(env, images["good"], "--steps", "100", "--min-sessions", "100", "--interval", "1h")
    dep = state(home)["deployment"]
    (home / ".claude.json").write_text('{"theme": "dark"}')
    gate = project / "go"
    running = subprocess.Popen([sys.executable, "-m", "claude_docker", "run", "--", "set-key", "promptQueueUseCount",
                                "7", str(gate)], env=env, cwd=project, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        from claude_docker.container import DEPLOYMENT_LABEL, LABEL_PREFIX
        from polling import wait_for

        ours = {"label": f"{DEPLOYMENT_LABEL}={dep['id']}"}
        wait_for(lambda: docker_client.containers.list(filters=ours), WAIT, "the candidate session's container")
        container = docker_client.containers.list(filters=ours)[0]
        assert container.labels[LABEL_PREFIX + "slot"] == "v2"
        back = rollout(env, "rollback")
        assert back.returncode == 0, back.stderr
        assert "fake Claude Code" in one_session(env, project).stdout  # new sessions: the stable image
        gate.touch()
        _out, err = running.communicate(timeout=WAIT)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
    assert running.returncode == 0, err
    assert json.loads((home / ".claude.json").read_text())["promptQueueUseCount"] == 7


def test_the_seeds_manual_steps(env, home, project, images, no_leftover_containers):
    manual = {**env, "CLAUDE_DOCKER_V2_IMAGE": images["good"]}
    for share in ("0.1", "0.5"):
        done = helper({**manual, "CLAUDE_DOCKER_V2_PROBABILITY": share}, "rollout", "deploy", "--skip-smoke")
        assert done.returncode == 0, done.stderr
        dep = state(home)["deployment"]
        assert dep["mode"] == "manual" and dep["weight"] == float(share)
    ends = sessions(env, project, 6)
    assert all(d.returncode == 0 for d in ends)
    assert state(home)["deployment"]["step"] == 0  # never moved by the gates
    done = helper({**manual, "CLAUDE_DOCKER_V2_PROBABILITY": "1.0"}, "rollout", "deploy")
    assert done.returncode == 0, done.stderr
    final = state(home)
    assert final["deployment"] is None and final["history"][0]["outcome"] == "promoted"
    assert "good candidate" in one_session(env, project).stdout


def test_concurrent_deploys_one_wins(env, home, images):
    argv = [sys.executable, "-m", "claude_docker", "rollout", "deploy", images["good"], "--skip-smoke"]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [(p.wait(timeout=WAIT), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0, 6, 6, 6], results
    for code, err in results:
        if code == 6:
            assert len(err.strip().splitlines()) == 1 and ("another deploy" in err or "in progress" in err)
    assert len(events(home, "rollout.started")) == 1
    # and a deploy while another holds the deploy lock (its smoke tests running, say)
    assert rollout(env, "rollback").returncode == 0
    holder = subprocess.Popen([sys.executable, "-c", ("import sys, time\nfrom claude_docker.rollout import state\n"
                               "with state.deploy_lock():\n    print('held', flush=True)\n    time.sleep(60)\n")],
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        second = rollout(env, "deploy", images["crash"], "--skip-smoke")
        assert second.returncode == 6 and "another deploy is running" in second.stderr
    finally:
        holder.kill()
        holder.wait()


KILLER = """
import sys, time
from claude_docker.rollout import controller, records, state as states
dep = states.load()["deployment"]
while True:
    controller.evaluate("watch")
"""


def test_sigkill_at_any_moment_leaves_a_valid_state_and_no_double_transition(env, home, images):
    deploy(env, images["good"], "--steps", ",".join(str(s) for s in range(5, 100, 5)), "--min-sessions", "1",
           "--interval", "0.05s")
    dep = state(home)["deployment"]
    sys.path.insert(0, str(Path(__file__).parent))
    future = time.time() + 3600  # every step has its candidate session already (recorded ahead)
    with open(home / f".claude-docker/rollout/sessions-{dep['id']}.log", "ab") as fh:
        from claude_docker.rollout.records import line

        for step in range(len(dep["plan"]["steps"])):
            fh.write(line(future, dep["plan"], step, "v2", "ok", 0.3))
    import random

    rng = random.Random(7)
    for _ in range(40):
        workers = [subprocess.Popen([sys.executable, "-c", KILLER], env=env, stderr=subprocess.DEVNULL)
                   for _ in range(3)]
        time.sleep(rng.uniform(0.05, 0.4))
        for w in workers:
            w.send_signal(signal.SIGKILL)
            w.wait()
        current = state(home)  # parses, and passes the checks a load makes
        from claude_docker.rollout import state as states

        assert states._invalid(current) is None
        if current["deployment"] is None:
            break
    final = state(home)
    stepped = [e["fields"]["step"] for e in events(home, "rollout.stepped")]
    assert len(stepped) == len(set(stepped)), "a step was taken twice"
    if final["deployment"]:
        assert final["deployment"]["step"] >= len(stepped)
    else:
        assert final["history"][0]["outcome"] == "promoted"
        assert len(events(home, "rollout.promoted")) <= 1


def _unchanged(home: Path, action) -> None:
    path = home / ".claude-docker/rollout/state.json"
    before = path.read_bytes() if path.exists() else None
    done = action()
    after = path.read_bytes() if path.exists() else None
    assert before == after
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done


@pytest.mark.parametrize(("args", "extra", "code", "words"), [
    (("deploy", "claude-docker-test/no-such-image:1", "--skip-smoke"), {}, 1, "not on this engine"),
    (("deploy", "NOT/a valid ref", "--skip-smoke"), {}, 2, "not an image reference"),
    (("deploy", "{good}", "--steps", ""), {}, 2, "--steps"),
    (("deploy", "{good}", "--steps", "50,10"), {}, 2, "increase"),
    (("deploy", "{good}", "--interval", "soon"), {}, 2, "--interval"),
    (("deploy", "{good}", "--max-error-rate", "1.5"), {}, 2, "from 0 to 1"),
    (("deploy", "--skip-smoke"), {"CLAUDE_DOCKER_V2_PROBABILITY": "1.5"}, 125, "CLAUDE_DOCKER_V2_PROBABILITY"),
    (("deploy", "--skip-smoke"), {"CLAUDE_DOCKER_V2_PROBABILITY": "abc"}, 125, "a number from 0 to 1"),
    (("deploy",), {}, 2, "name the image"),
    (("deploy", "{stable}", "--skip-smoke"), {}, 6, "stable image already"),
    (("rollback",), {}, 6, "nothing is being rolled out"),
    (("rollback", "--to", "previous"), {}, 6, "no earlier image"),
])
def test_bad_input_is_one_line_and_changes_nothing(env, home, images, args, extra, code, words):
    args = tuple(a.format(**images) for a in args)
    done = _unchanged(home, lambda: rollout({**env, **extra}, *args))
    assert done.returncode == code and words in done.stderr, done.stderr


def test_an_image_failing_the_smoke_tests_is_never_rolled_out(env, home, images):
    for name, rung in (("noclaude", "version"), ("crash", "start"), ("good", "state")):  # (the fake can't run -p)
        done = _unchanged(home, lambda n=name: rollout(env, "deploy", images[n], "--yes"))
        assert done.returncode == 1
        assert f"failed at '{rung}'" in done.stderr and images[name] in done.stderr
        assert f"✗ {rung}" in done.stdout  # each rung told as it ended
    assert not events(home, "rollout.started")
    assert len(events(home, "rollout.gate")) == 3


def test_a_damaged_state_file_stops_commands_but_never_sessions(env, home, project, images,
                                                                no_leftover_containers):
    path = home / ".claude-docker/rollout/state.json"
    path.write_text('{"schema": 1, "seq": "x"')
    for args in (("status",), ("deploy", images["good"], "--skip-smoke"), ("rollback",)):
        done = _unchanged(home, lambda a=args: rollout(env, *a))
        assert done.returncode == 7 and "damaged" in done.stderr
    one = one_session({**env, "CLAUDE_DOCKER_IMAGE": ""}, project)  # the settings' image: its default
    assert "rollout state" in one.stderr and "damaged" in one.stderr
    assert "Traceback" not in one.stderr and one.returncode in (0, 125)  # (125: no default image built here)
    with_image = one_session({**env, "CLAUDE_DOCKER_IMAGE": images["stable"]}, project)
    assert with_image.returncode == 0 and "damaged" not in with_image.stderr  # a chosen image never reads it
    assert path.read_text() == '{"schema": 1, "seq": "x"'
