"""Where the project is, and which worktree common dirs may be mounted."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from claude_docker.paths import SYSTEM_DIRS, exposed_socket_dir, git_common_dir, is_system_dir, project_root


def test_project_root_is_the_git_top_level(home):
    repo = home / "src" / "app"
    (repo / "pkg" / "deep").mkdir(parents=True)
    (repo / ".git").mkdir()
    assert project_root(repo / "pkg" / "deep") == repo


def test_a_dotfiles_repo_in_home_is_not_every_folders_project(home):
    (home / ".git").mkdir()
    folder = home / "scratch" / "notes"
    folder.mkdir(parents=True)
    assert project_root(folder) == folder


def test_a_real_worktree_mounts_its_common_dir(home):
    main = home / "main"
    subprocess.run(["git", "init", "-q", str(main)], check=True)
    subprocess.run(["git", "-C", str(main), "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    subprocess.run(["git", "-C", str(main), "worktree", "add", "-q", str(home / "wt")], check=True)
    assert git_common_dir(home / "wt") == main / ".git"


def test_a_forged_git_file_gets_nothing_mounted(home):
    target = home / ".claude" / "worktrees" / "x"
    target.mkdir(parents=True)
    project = home / "proj" / "sub"
    project.mkdir(parents=True)
    (project / ".git").write_text(f"gitdir: {target}\n")
    assert git_common_dir(project) is None
    (target / "gitdir").write_text(str(home / "elsewhere" / ".git"))
    assert git_common_dir(project) is None


def test_guards_compare_real_paths(home, tmp_path, monkeypatch):
    from claude_docker.errors import ToolError
    from claude_docker.launcher.exposure import check_project
    from claude_docker.paths import ClaudeHome

    # HOME reached through a symlink: running in it must still be refused.
    link = tmp_path / "home-link"
    link.symlink_to(home)
    monkeypatch.setenv("HOME", str(link))
    with pytest.raises(ToolError):
        check_project(home, link, ClaudeHome.from_env())
    # ~/.claude linked into a dotfiles repo: that repo is not a project to mount either.
    monkeypatch.setenv("HOME", str(home))
    dotfiles = home / "dotfiles"
    (dotfiles / "claude").mkdir(parents=True)
    (dotfiles / ".git").mkdir()
    (home / ".claude").symlink_to(dotfiles / "claude")
    assert project_root(dotfiles) == dotfiles
    with pytest.raises(ToolError) as err:
        check_project(dotfiles, home, ClaudeHome.from_env())
    assert str(dotfiles / "claude") in err.value.message


# A socket or runtime dir (below a scratch dir), set by this variable, and what the refusal calls it.
SOCKETS = {
    "SSH_AUTH_SOCK": ("{tmp}/s/agent/ssh.sock", "s/agent", "ssh-agent"),
    "TMUX": ("{tmp}/s/tmux/default,4242,0", "s/tmux", "tmux"),
    "TMUX_TMPDIR": ("{tmp}/s/tt", f"s/tt/tmux-{os.getuid()}", "tmux"),
    "XDG_RUNTIME_DIR": ("{tmp}/s/xdg", "s/xdg", "the XDG runtime dir"),
    "GNUPGHOME": ("{tmp}/s/gnupg", "s/gnupg", "gpg-agent"),
    "DBUS_SESSION_BUS_ADDRESS": ("unix:path={tmp}/s/bus/socket,guid=9;unix:abstract=/x", "s/bus", "D-Bus"),
}


@pytest.fixture
def no_sockets(monkeypatch):
    for var in SOCKETS:
        monkeypatch.delenv(var, raising=False)


def refusal(project: Path, home: Path) -> str | None:
    """check_project's one line for `project`, or None if it may be mounted."""
    from claude_docker.errors import ToolError
    from claude_docker.launcher.exposure import check_project
    from claude_docker.paths import ClaudeHome

    try:
        check_project(project, home, ClaudeHome.from_env())
    except ToolError as exc:
        assert exc.code == 125 and "\n" not in exc.message
        return exc.message
    return None


@pytest.mark.parametrize("system", [d for d in (*SYSTEM_DIRS, *(f"/{n}" for n in os.listdir("/")
                                                                  if n.startswith("lib")))
                                    if os.path.isdir(d)])  # one missing here can't be anyone's cwd
def test_system_directories_are_refused(home, system):
    assert is_system_dir(Path(system), home)
    assert refusal(Path(system), home) == (f"refusing to run in {system}: it is a system directory, not a project; "
                                           "cd into a project directory")


def test_system_directories_are_compared_as_real_paths(home, tmp_path):
    (tmp_path / "etc-link").symlink_to("/etc")
    assert is_system_dir(tmp_path / "etc-link", home)
    assert is_system_dir(Path("/usr/../etc/."), home)
    if os.path.islink("/bin"):  # merged /usr: /usr/bin is /bin
        assert is_system_dir(Path("/usr/bin"), home)


def test_projects_below_system_directories_are_fine(home, tmp_path, no_sockets):
    (tmp_path / "proj").mkdir()  # below /tmp, where every test's project lives
    for project in ("/opt/work/myproj", "/srv/git/repo", "/usr/share", "/var/lib", "/etc/ssl", tmp_path / "proj"):
        assert refusal(Path(project), home) is None, project


def test_root_as_home_is_left_to_the_home_guard(monkeypatch, no_sockets):
    monkeypatch.setenv("HOME", "/root")
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    assert not is_system_dir(Path("/root"), Path("/root"))
    assert refusal(Path("/root"), Path("/root")).startswith("refusing to run in /root: mounting it would expose /root,")
    assert refusal(Path("/root/proj"), Path("/root")) is None


@pytest.mark.parametrize("var", SOCKETS)
def test_a_root_that_is_or_holds_a_socket_dir_is_refused(home, tmp_path, monkeypatch, no_sockets, var):
    value, sockets, what = SOCKETS[var]
    sockets = tmp_path / sockets
    sockets.mkdir(parents=True)
    (tmp_path / "link").symlink_to(sockets)
    assert refusal(sockets, home) is None  # until the variable names it
    monkeypatch.setenv(var, value.format(tmp=tmp_path))
    for refused in (sockets, sockets.parent, tmp_path / "link"):
        assert f"mounting it would expose {what}" in (refusal(refused, home) or ""), refused
        assert exposed_socket_dir(refused, home)[1] == str(sockets)
    for fine in (sockets / "project", tmp_path / "s" / "elsewhere"):  # below it, or beside it
        assert refusal(fine, home) is None, fine


def test_the_fixed_socket_dirs_are_refused(home, no_sockets):
    uid = os.getuid()
    for sockets, what in ((f"/tmp/tmux-{uid}", "tmux"), ("/tmp/.X11-unix", "X11"), (f"/run/user/{uid}", "XDG"),
                          (f"{home}/.gnupg", "gpg-agent"), ("/run/user", "XDG")):
        assert what in (refusal(Path(sockets), home) or ""), sockets


def test_a_relative_socket_path_is_not_every_project(home, monkeypatch, no_sockets):
    project = home / "proj"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("SSH_AUTH_SOCK", "agent.sock")
    assert refusal(project, home) is None


@pytest.mark.docker
def test_claude_in_a_system_dir_or_beside_a_socket_is_one_line_and_125(home, fake_image, no_leftover_containers):
    from shell import plugin_env, run_claude

    env = plugin_env(home, fake_image)
    result = run_claude(Path("/tmp"), env, "--version")
    assert result.returncode == 125
    assert result.stderr == ("claude-docker: refusing to run in /tmp: it is a system directory, not a project; "
                             "cd into a project directory\n")
    project = home / "proj"
    project.mkdir()
    result = run_claude(project, dict(env, SSH_AUTH_SOCK=str(project / "agent.sock")), "--version")
    assert result.returncode == 125 and result.stderr.count("\n") == 1
    assert f"mounting it would expose ssh-agent's socket dir {project}," in result.stderr
    assert not (home / ".claude-docker" / "sessions").exists()
