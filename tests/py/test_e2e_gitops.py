"""The seed's GitOps workflow end to end with a real engine: a settings.json committed to the team's repository
is applied by the running loop and seen by a `claude` session; a commit that breaks the session image's
`claude -p` is rolled back by the smoke run and audited; a rollout.json starts a canary rollout of the real
Claude Code image (smoke ladder first), once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from claude_docker import exitcodes
from gitrepo import Repo
from polling import wait_for
from shell import run_claude
from test_gitops_reconcile import Workstation

pytestmark = [pytest.mark.docker]

# A `claude` that fails `-p` when its settings carry the word BREAKS, and otherwise asks the stand-in (over the
# host network the smoke run gives it) and writes its state, as the smoke ladder's state rung checks.
CHECKING_CLAUDE = r"""#!/bin/sh
case "$1" in
  --version) echo "1.0.0 (settings-checking stub)"; exit 0 ;;
  -p)
    if grep -q BREAKS "$HOME/.claude/settings.json" 2>/dev/null; then
      echo "Invalid settings: companyAnnouncements" >&2; exit 1
    fi
    echo '{}' > "$HOME/.claude.json"
    body="{\"model\":\"m\",\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"$2\"}]}"
    wget -q -O /dev/null --header 'Content-Type: application/json' --post-data "$body" \
      "$ANTHROPIC_BASE_URL/v1/messages" || exit 2
    echo ok; exit 0 ;;
  sh) shift; exec sh -c "$@" ;;
esac
exit 64
"""
CHECKING_IMAGE = "claude-docker-test/settings-checking:1"


@pytest.fixture
def checking_image(docker_client, busybox_image):
    busybox_image(CHECKING_IMAGE, CHECKING_CLAUDE)
    yield CHECKING_IMAGE
    try:
        docker_client.images.remove(CHECKING_IMAGE, force=True)
    except Exception:  # noqa: BLE001 - already gone
        pass


@pytest.fixture
def team(git_env, tmp_path):
    repo = Repo(tmp_path / "team")
    return repo, Workstation(git_env, tmp_path / "state", repo)


def test_the_loop_applies_a_commit_and_a_session_sees_it(team, fake_image, tmp_path, no_leftover_containers):
    repo, ws = team
    ws.env.update(CLAUDE_DOCKER_IMAGE=fake_image, CLAUDE_DOCKER_NETWORK="none",
                  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", CLAUDE_DOCKER_PYTHON=sys.executable)
    repo.commit({"claude/settings.json": json.dumps({"model": "first"})})
    ws.cli("gitops", "init", str(repo.remote), "--interval", "10m")
    loop = subprocess.Popen([sys.executable, "-m", "claude_docker", "gitops", "loop"], env=ws.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for((ws.config / "settings.json").exists, 60, "the loop's first apply")
        assert ws.settings()["model"] == "first"
        # 1. edit settings.json  2. commit  4. the loop sees the branch move (not the 10-minute interval)
        repo.commit({"claude/settings.json": json.dumps({"model": "second", "permissions": {"deny": ["Bash(rm:*)"]}})})
        wait_for(lambda: ws.settings().get("model") == "second", 60, "the loop applying the new commit")
        # A second loop is refused while this one runs.
        second = ws.cli("gitops", "loop", check=exitcodes.GITOPS_BUSY)
        assert "another gitops loop" in second.stderr
    finally:
        loop.send_signal(signal.SIGTERM)
        _out, err = loop.communicate(timeout=60)
    assert loop.returncode == 0, err
    assert "applied at" in err and "Traceback" not in err
    project = tmp_path / "project"
    project.mkdir()
    session = run_claude(project, ws.env, "sh", "cat $HOME/.claude/settings.json")
    assert session.returncode == 0, session.stderr
    assert json.loads(session.stdout)["model"] == "second"
    assert [e["kind"] for e in ws.audit()] == ["apply", "apply"]


def test_a_commit_that_breaks_the_session_image_is_rolled_back_and_audited(team, checking_image):
    repo, ws = team
    ws.env.update(CLAUDE_DOCKER_IMAGE=checking_image)
    repo.commit({"claude/settings.json": json.dumps({"model": "good"}), "claude/CLAUDE.md": "v1"})
    ws.cli("gitops", "init", str(repo.remote))
    report = ws.reconcile()
    assert report["result"] == "applied" and not any("skipped" in n for n in report["notes"]), report
    before = {p: p.read_bytes() for p in (ws.config / "settings.json", ws.config / "CLAUDE.md")}
    repo.commit({"claude/settings.json": json.dumps({"model": "good", "companyAnnouncements": ["BREAKS"]}),
                 "claude/CLAUDE.md": "v2"}, "breaks claude")
    done = ws.cli("gitops", "reconcile", check=exitcodes.GITOPS_ROLLED_BACK)
    assert "rolled back" in done.stderr and "Invalid settings" in done.stderr
    assert done.stderr.count("\n") == 1
    assert {p: p.read_bytes() for p in before} == before
    assert not (ws.state / "gitops" / "journal.json").exists()
    last = ws.audit()[-1]
    assert last["kind"] == "rollback" and last["result"] == "failed" and "Invalid settings" in last["reason"]
    assert ws.cli("gitops", "audit", "--verify").returncode == 0
    # Fixed in the repository: applied at once.
    repo.commit({"claude/settings.json": json.dumps({"model": "fixed"})}, "fix")
    assert ws.reconcile()["result"] == "applied" and ws.settings() == {"model": "fixed"}


def test_rollout_json_starts_a_canary_once(team, fake_image, real_image):
    repo, ws = team
    ws.env.update(CLAUDE_DOCKER_IMAGE=fake_image)
    repo.commit({"claude/settings.json": "{}", "rollout.json": json.dumps({"image": "claude-docker-test/absent:1"})})
    ws.cli("gitops", "init", str(repo.remote), "--no-smoke")
    held = ws.reconcile()  # the image every session runs: a signed commit's choice, or an explicit opt-in
    assert [h["item"] for h in held["held"]] == ["rollout.json"]
    ws.cli("gitops", "init", str(repo.remote), "--no-smoke", "--trust-unsigned-commands")
    report = ws.reconcile()
    assert any("not on this engine" in n and "waits" in n for n in report["notes"]), report
    repo.commit({"rollout.json": json.dumps({"image": real_image, "steps": [20, 100], "interval": "1m"})})
    report = ws.reconcile()
    assert any("started at 20%" in n for n in report["notes"]), report
    status = json.loads(ws.cli("rollout", "status", "--json").stdout)
    assert status["deployment"]["candidate"]["image"] == real_image and status["deployment"]["weight"] == 0.2
    ws.cli("rollout", "rollback")
    # The plan was acted on: the next reconcile doesn't start it again over the rollback.
    repo.commit({"claude/CLAUDE.md": "unrelated"})
    report = ws.reconcile()
    assert not any("rollout" in n for n in report["notes"]), report
    assert json.loads(ws.cli("rollout", "status", "--json").stdout)["deployment"] is None
    assert next(e for e in ws.audit() if e["kind"] == "rollout")["result"] == "started"
