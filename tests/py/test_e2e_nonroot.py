"""A session of an ordinary user (uid 4242, in the docker group), when the tests run as root as CI does:
the container runs as that uid:gid, and nothing in the user's HOME ends up owned by anyone else."""

from __future__ import annotations

import json
import os

import pytest

from claude_docker.launcher.staging import transcript_dir_name
from fakeapi import FakeAnthropic
from otheruser import GID, UID, as_user, claude_in, user_env

pytestmark = [pytest.mark.docker, pytest.mark.image]


def test_an_ordinary_user_session_keeps_everything_theirs(user_home, real_image, no_leftover_containers):
    home = user_home / "home"
    project = home / "project"
    with FakeAnthropic(reply="hello, user 4242") as api:
        env = user_env(user_home, real_image, CLAUDE_DOCKER_NETWORK="host", ANTHROPIC_BASE_URL=api.url,
                       ANTHROPIC_API_KEY="sk-user")
        result = as_user(user_home, env, claude_in(project, "-p", "who am i"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello, user 4242"
    transcripts = list((home / ".claude" / "projects" / transcript_dir_name(project)).glob("*.jsonl"))
    assert transcripts and transcripts[0].stat().st_uid == UID
    assert isinstance(json.loads((home / ".claude.json").read_text()), dict)
    assert (home / ".claude.json").stat().st_mode & 0o777 == 0o600
    foreign = [str(p) for p in [home, *home.rglob("*")] if _owner(p) not in ((UID, GID), None)]
    assert not foreign, f"files not owned by the user: {foreign}"
    assert not list((home / ".claude-docker" / "sessions").iterdir())


def test_transcripts_that_could_not_be_saved_stop_the_session_before_it_starts(user_home, real_image):
    """Claude Code would exit 0 having saved nothing; the wrapper says so first, with the fix."""
    home = user_home / "home"
    project = home / "project"
    stuck = home / ".claude" / "projects" / transcript_dir_name(project)
    stuck.mkdir(parents=True)
    for path in (home / ".claude", home / ".claude" / "projects"):
        os.chown(path, UID, GID)  # only the project's own transcript dir is root's, as a `sudo claude` leaves it
    result = as_user(user_home, user_env(user_home, real_image), claude_in(project, "-p", "hi"))
    assert result.returncode == 125
    assert result.stderr == (f"claude-docker: Claude Code could not save its state: {stuck} is not writable by you "
                             f"(left by `sudo claude`?); fix: sudo chown -R {UID} {home / '.claude'}\n")


def test_other_unwritable_shared_dirs_are_a_warning(user_home, real_image, no_leftover_containers):
    home = user_home / "home"
    (home / ".claude" / "todos").mkdir(parents=True)
    os.chown(home / ".claude", UID, GID)
    result = as_user(user_home, user_env(user_home, real_image), claude_in(home / "project", "--version"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2.1.197 (Claude Code)"
    assert result.stderr == (f"claude-docker: warning: {home / '.claude' / 'todos'} is not writable by you: "
                             "Claude Code can't save to todos/\n")


def _owner(path):
    """(uid, gid), or None for a file gone meanwhile (the detached flush renames its temp files)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    return st.st_uid, st.st_gid
