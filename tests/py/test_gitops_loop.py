"""The GitOps reconcile loop: one instance, a clean stop, wake-ups, backoff, failures that don't end it;
and the systemd user unit that runs it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from claude_docker import exitcodes, loop
from claude_docker.errors import ToolError
from polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "contrib" / "systemd" / "claude-docker-gitops.service"


class FakeClock:
    """Time that moves only when the loop pauses: each cycle's start time is exact, whatever the machine."""

    def __init__(self, monkeypatch) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []
        monkeypatch.setattr(loop, "_now", lambda: self.now)

        def pause(stop, seconds):
            self.pauses.append(seconds)
            self.now += seconds

        monkeypatch.setattr(loop._Stop, "pause", pause)


def _stop_after(count: int, results, clock: FakeClock, starts: list[float]):
    """A cycle that answers from `results` (a value, or an exception to raise) and asks the loop to stop,
    as SIGTERM does, during its `count`th call."""
    def cycle():
        starts.append(clock.now)
        if len(starts) == count:
            os.kill(os.getpid(), signal.SIGTERM)
        result = results(len(starts))
        if isinstance(result, BaseException):
            raise result
        return result
    return cycle


def _run(cycle, tmp_path, **overrides) -> int:
    settings = dict(interval=60.0, retry=5.0, max_backoff=40.0, jitter=0.0, wake=None,
                    lock_path=tmp_path / "loop.lock", busy=exitcodes.GITOPS_BUSY, poll=1.0)
    settings.update(overrides)
    return loop.run("gitops loop", cycle, **settings)


def _gaps(starts: list[float]) -> list[float]:
    return [b - a for a, b in zip(starts, starts[1:])]


def test_backoff_doubles_up_to_the_cap_and_success_resets_it(tmp_path, monkeypatch):
    clock = FakeClock(monkeypatch)
    starts: list[float] = []
    outcomes = [False, False, False, False, False, True, False, True, True]
    assert _run(_stop_after(len(outcomes), lambda n: outcomes[n - 1], clock, starts), tmp_path) == 0
    assert len(starts) == len(outcomes)
    assert _gaps(starts) == [5, 10, 20, 40, 40, 60, 5, 60]


def test_jitter_spreads_the_pause_within_its_share(tmp_path, monkeypatch):
    clock = FakeClock(monkeypatch)
    starts: list[float] = []
    _run(_stop_after(40, lambda n: True, clock, starts), tmp_path, jitter=0.1)
    gaps = _gaps(starts)
    assert all(54 <= g <= 66 for g in gaps)
    assert len(set(gaps)) > 1, "every pause the same: no jitter"


def test_a_failing_cycle_of_any_kind_does_not_end_the_loop(home, tmp_path, monkeypatch, capsys):
    clock = FakeClock(monkeypatch)
    starts: list[float] = []
    outcomes = [RuntimeError("boom"), ToolError("the source is unreachable", exitcodes.GITOPS_SOURCE),
                FileNotFoundError(2, "No such file or directory", "/nowhere"), True]
    assert _run(_stop_after(4, lambda n: outcomes[n - 1], clock, starts), tmp_path) == 0
    assert _gaps(starts) == [5, 10, 20]  # three failures in a row, then the success
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("claude-docker: gitops loop: internal error (RuntimeError: boom); details in ")
    assert err[1:] == ["claude-docker: gitops loop: the source is unreachable",
                       "claude-docker: gitops loop: No such file or directory: /nowhere"]
    crash = Path(err[0].rsplit("details in ", 1)[1])
    assert "RuntimeError: boom" in crash.read_text()
    assert not any("Traceback" in line for line in err)


def test_a_new_wake_answer_starts_a_cycle_at_once(tmp_path, monkeypatch):
    clock = FakeClock(monkeypatch)
    starts: list[float] = []
    # The source moves at t=1030, and again while the second cycle runs.
    marker = {"value": "a"}

    def results(n):
        if n == 2:
            marker["value"] = "c"
        return True

    def wake():
        if clock.now >= 1030 and marker["value"] == "a":
            marker["value"] = "b"
        return marker["value"]

    _run(_stop_after(4, results, clock, starts), tmp_path, interval=3600.0, poll=2.0, wake=wake)
    assert starts[:3] == [1000, 1030, 1032]  # at the first poll after each move, not an hour later
    assert starts[3] == 1032 + 3600
    assert set(clock.pauses) == {2.0}


def test_a_wake_probe_that_fails_is_no_news(tmp_path, monkeypatch):
    clock = FakeClock(monkeypatch)
    starts: list[float] = []

    def wake():
        raise ToolError("the source is gone")

    _run(_stop_after(3, lambda n: True, clock, starts), tmp_path, interval=30.0, poll=5.0, wake=wake)
    assert _gaps(starts) == [30, 30]


LOOP = """
import sys, time
from pathlib import Path
from claude_docker import loop
work = Path(sys.argv[1])

def cycle():
    n = len(list(work.glob("started-*"))) + 1
    (work / f"started-{n}").touch()
    while (work / "hold").exists():  # a cycle the test keeps running
        time.sleep(0.01)
    (work / f"finished-{n}").touch()
    return True

def wake():
    return (work / "marker").read_text()

try:
    status = loop.run("gitops loop", cycle, interval=3600, retry=3600, max_backoff=3600, jitter=0.1, wake=wake,
                      lock_path=work / "locks" / "loop.lock", busy=12, poll=0.02)
except KeyboardInterrupt:
    status = 130  # as the CLI's error policy answers it
sys.exit(status)
"""


def _start(work: Path) -> subprocess.Popen:
    work.mkdir(exist_ok=True)
    (work / "marker").write_text("one")
    return subprocess.Popen([sys.executable, "-c", LOOP, str(work)], stderr=subprocess.PIPE, text=True)


def _count(work: Path, what: str) -> int:
    return len(list(work.glob(f"{what}-*")))


@pytest.fixture
def loops():
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_a_second_instance_is_refused_naming_the_first(tmp_path, loops, monkeypatch):
    work = tmp_path / "work"
    first = _start(work)
    loops.append(first)
    wait_for(lambda: _count(work, "finished") == 1, 30, "the first cycle")
    lock = work / "locks" / "loop.lock"
    with pytest.raises(ToolError) as refused:
        loop.run("gitops loop", lambda: True, interval=1, retry=1, max_backoff=1, jitter=0, wake=None,
                 lock_path=lock, busy=exitcodes.GITOPS_BUSY)
    assert refused.value.code == exitcodes.GITOPS_BUSY
    assert refused.value.message == f"another gitops loop is running (pid {first.pid}, lock {lock})"
    first.terminate()
    assert first.wait(timeout=30) == 0
    # Once it is gone, the lock is free again.
    starts: list[float] = []
    assert _run(_stop_after(1, lambda n: True, FakeClock(monkeypatch), starts), work, lock_path=lock) == 0
    assert len(starts) == 1


def test_sigterm_lets_the_cycle_in_progress_finish_and_exits_0(tmp_path, loops):
    work = tmp_path / "work"
    work.mkdir()
    (work / "hold").touch()
    proc = _start(work)
    loops.append(proc)
    wait_for(lambda: _count(work, "started") == 1, 30, "the first cycle to start")
    proc.send_signal(signal.SIGTERM)
    (work / "hold").unlink()
    assert proc.wait(timeout=30) == 0
    assert _count(work, "finished") == 1  # the cycle ran to its end
    assert _count(work, "started") == 1  # and no other began
    assert proc.stderr is not None and proc.stderr.read() == ""


def test_a_second_signal_during_a_cycle_ends_it_at_once(tmp_path, loops):
    work = tmp_path / "work"
    work.mkdir()
    (work / "hold").touch()  # kept: only the second signal can end this cycle
    proc = _start(work)
    loops.append(proc)
    wait_for(lambda: _count(work, "started") == 1, 30, "the first cycle to start")
    proc.send_signal(signal.SIGTERM)  # two different signals: two of one kind may arrive as one
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert _count(work, "finished") == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])
def test_sigint_and_sighup_stop_it_between_cycles(tmp_path, loops, signum):
    work = tmp_path / "work"
    proc = _start(work)
    loops.append(proc)
    wait_for(lambda: _count(work, "finished") == 1, 30, "the first cycle")
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == 0
    assert _count(work, "started") == 1


def test_wake_starts_a_cycle_at_once_in_a_real_process(tmp_path, loops):
    work = tmp_path / "work"
    proc = _start(work)
    loops.append(proc)
    wait_for(lambda: _count(work, "finished") == 1, 30, "the first cycle")
    (work / "marker").write_text("two")  # the interval is an hour: only the wake-up can start cycle 2
    wait_for(lambda: _count(work, "finished") == 2, 30, "the cycle the wake-up starts")
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    assert _count(work, "started") == 2


def test_the_systemd_unit_runs_the_installed_helper():
    text = UNIT.read_text()
    lines = [line.strip() for line in text.splitlines()]
    install = (ROOT / "install.sh").read_text()
    assert 'target="$PREFIX/venv/bin/claude-docker"' in install  # where ExecStart points
    assert "ExecStart=%h/.local/share/claude-docker/venv/bin/claude-docker gitops loop" in lines
    assert "Type=simple" in lines
    assert "Restart=on-failure" in lines
    assert not any(line.startswith("KillMode=") for line in lines)  # the default, control-group: all of it stops
    assert "WantedBy=default.target" in lines


def test_the_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit's syntax is checked by systemd only")
    # verify wants ExecStart's program to exist: put a stand-in where %h points.
    home = tmp_path / "home"
    helper = home / ".local/share/claude-docker/venv/bin/claude-docker"
    helper.parent.mkdir(parents=True)
    helper.write_text("#!/bin/sh\n")
    helper.chmod(0o755)
    runtime = tmp_path / "runtime"  # the user manager verify starts wants one, private
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    result = subprocess.run([analyze, "--user", "verify", str(UNIT)], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # a line it can't parse is a warning only, "ignoring" it
