"""Where the project is, and which worktree common dirs may be mounted."""

from __future__ import annotations

import subprocess

from claude_docker.paths import git_common_dir, project_root


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
    from claude_docker.paths import ClaudeHome
    from claude_docker.session import check_project

    import pytest

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
