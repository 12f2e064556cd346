"""The boundary's pieces without Docker: the policy's verdicts, the walk over JSON changes, the transcript
check (with a concurrent writer), the project review (with planted links), and the held store."""

from __future__ import annotations

import json
import os

import pytest

from claude_docker.boundary import policy, transcripts
from claude_docker.boundary.held import HeldRecord, apply_item, target_of
from claude_docker.boundary.project import review, snapshot
from claude_docker.errors import ToolError
from claude_docker.jsonmerge import MISSING

CTX = policy.Context(projects=("/work/proj",))


def verdicts(classify, base, ours, theirs=None, ctx=CTX):
    allowed, held = policy.filter_changes(classify, base, ours, ours if theirs is None else theirs, ctx)
    return allowed, {".".join(h.path): h.verdict.action for h in held}


@pytest.mark.parametrize("rel,action", [
    (".config.json", policy.REFUSE), ("remote-settings.json", policy.REFUSE), ("daemon.json", policy.REFUSE),
    ("history.jsonl", policy.FLOW), ("stats-cache.json", policy.FLOW), ("CLAUDE.md", policy.HOLD),
    ("keybindings.json", policy.HOLD), ("statusline-command.sh", policy.HOLD), ("anything-new", policy.HOLD),
    ("plugins/installed_plugins.json", policy.REFUSE), ("workflows/a.js", policy.REFUSE),
    ("local/claude", policy.REFUSE), ("commands/x.md", policy.HOLD), ("agents/a.md", policy.HOLD),
    ("todos/t.json", policy.FLOW), ("file-history/s/1", policy.FLOW), ("session-env/s/hook-0.sh", policy.DROP),
    ("brand-new-dir/x", policy.HOLD),
])
def test_every_config_path_has_one_verdict(rel, action):
    assert policy.config_entry(rel).action == action


def test_directories_are_shared_only_when_they_are_data():
    assert policy.dir_mode("projects") == policy.SHARED
    assert policy.dir_mode("plugins") == policy.READ_ONLY
    assert policy.dir_mode("commands") == policy.READ_ONLY
    assert policy.dir_mode("a-dir-from-a-newer-claude") == policy.READ_ONLY  # unknown: default deny
    assert policy.dir_mode("session-env") == policy.LOCAL
    assert policy.dir_mode("commands", relaxed=True) == policy.SHARED
    assert policy.dir_mode("plugins", relaxed=True) == policy.READ_ONLY  # refused kinds stay refused


def test_settings_keys_flow_only_as_plain_preferences():
    allowed, held = verdicts(policy.settings_change, {"theme": "dark"},
                             {"theme": "light", "model": "opus", "hooks": {}, "env": {"A": "1"},
                              "verbose": "yes-but-a-string", "defaultShell": "/tmp/evil", "unknownKey": 1})
    assert allowed == {"theme": "light", "model": "opus", "hooks": {}}  # an empty hooks object grants nothing
    assert held == {"env.A": "hold", "verbose": "hold", "defaultShell": "hold", "unknownKey": "hold"}
    _, held = verdicts(policy.settings_change, {}, {"model": "arn:aws:bedrock:us-east-1:1:model/x"})
    assert held == {"model": "hold"}
    _, held = verdicts(policy.settings_change, {"respectGitignore": True}, {"respectGitignore": False})
    assert held == {"respectGitignore": "hold"}
    _, held = verdicts(policy.settings_change, {"hooks": {"Stop": []}}, {})
    assert held == {"hooks": "hold"}  # a deletion is a change like any other


def test_global_config_keys():
    base = {"numStartups": 1, "projects": {"/work/proj": {"lastCost": 1}}}
    ours = {"numStartups": 2, "cachedGrowthBookFeatures": {"x": 1}, "hasSeenTasksHint": True,
            "env": {"X": "1"}, "bypassPermissionsModeAccepted": True, "somethingNew": "x",
            "projects": {"/work/proj": {"lastCost": 2, "hasTrustDialogAccepted": True, "mcpServers": {"a": {}},
                                        "enabledMcpjsonServers": ["x"]},
                         "/work/proj/sub": {"hasTrustDialogAccepted": True},
                         "/elsewhere": {"hasTrustDialogAccepted": True, "allowedTools": []}}}
    allowed, held = verdicts(policy.claude_json_change, base, ours)
    assert allowed == {"numStartups": 2, "hasSeenTasksHint": True,
                       "projects": {"/work/proj": {"lastCost": 2, "hasTrustDialogAccepted": True},
                                    "/work/proj/sub": {"hasTrustDialogAccepted": True},
                                    "/elsewhere": {"allowedTools": []}}}
    assert held == {"env.X": "hold", "bypassPermissionsModeAccepted": "refuse", "somethingNew": "hold",
                    "projects./work/proj.mcpServers.a": "hold", "projects./work/proj.enabledMcpjsonServers": "refuse",
                    "projects./elsewhere.hasTrustDialogAccepted": "hold"}
    assert "cachedGrowthBookFeatures" not in allowed  # dropped: the host refetches its own


def test_oauth_tokens_only_move_forward_and_never_to_another_account():
    host = {"claudeAiOauth": {"accessToken": "h", "expiresAt": 5000}}
    older = {"claudeAiOauth": {"accessToken": "o", "expiresAt": 1000}}
    newer = {"claudeAiOauth": {"accessToken": "n", "expiresAt": 9000}}
    assert verdicts(policy.credentials_change, host, older, host)[0] == host  # dropped, silently
    assert verdicts(policy.credentials_change, host, newer, host)[0] == newer
    assert verdicts(policy.credentials_change, {}, newer, {})[0] == newer  # a first login
    switched = CTX._replace(account_switched=True)
    assert verdicts(policy.credentials_change, host, newer, host, switched)[1] == {"claudeAiOauth": "hold"}
    assert policy.account_switched({}, {"oauthAccount": {"accountUuid": "b"}}, {"oauthAccount": {"accountUuid": "a"}})
    assert not policy.account_switched({}, {"oauthAccount": {"accountUuid": "a"}}, {})


def test_relaxed_lets_host_commands_through_but_never_refused_keys():
    ctx = CTX._replace(relaxed=True)
    allowed, held = verdicts(policy.claude_json_change, {}, {"mcpServers": {"a": {}},
                                                             "bypassPermissionsModeAccepted": True}, ctx=ctx)
    assert allowed == {"mcpServers": {"a": {}}} and held == {"bypassPermissionsModeAccepted": "refuse"}


def test_state_lines_are_the_non_default_ones():
    assert policy.is_state_line({"type": "permission-mode", "permissionMode": "acceptEdits"})
    assert policy.is_state_line({"type": "agent-setting", "agentSetting": "x"})
    assert policy.is_state_line({"type": "worktree-state"})
    assert not policy.is_state_line({"type": "mode", "mode": "normal"})  # every real session writes it
    assert not policy.is_state_line({"type": "permission-mode", "permissionMode": "default"})
    assert not policy.is_state_line({"type": "user", "message": "permission-mode"})


# --- transcripts --------------------------------------------------------------------------------------


def test_transcript_review_removes_state_lines_keeps_the_rest_byte_for_byte(tmp_path):
    projects = tmp_path / "projects"
    (projects / "-p" / "sid" / "subagents").mkdir(parents=True)
    convo = b'{"type":"user","message":"x"}\r\n{"type":"assistant"}\n'
    evil = b'{"type":"permission-mode","permissionMode":"bypassPermissions"}\n'
    (projects / "-p" / "a.jsonl").write_bytes(convo + evil + b'{"bad json\n')
    (projects / "-p" / "sid" / "subagents" / "b.jsonl").write_bytes(evil)
    os.chmod(projects / "-p" / "a.jsonl", 0o640)
    old = projects / "-p" / "old.jsonl"
    old.write_bytes(evil)
    os.utime(old, ns=(0, 0))  # an mtime set back does not hide a change: ctime decides
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(evil)
    (projects / "-link").symlink_to(tmp_path)
    (projects / "-p" / "l.jsonl").symlink_to(outside)
    removed, busy = transcripts.review(str(projects), 0)
    assert sorted(r.rel for r in removed) == ["-p/a.jsonl", "-p/old.jsonl", "-p/sid/subagents/b.jsonl"]
    assert (projects / "-p" / "a.jsonl").read_bytes() == convo  # a line no parser reads goes too
    assert os.stat(projects / "-p" / "a.jsonl").st_mode & 0o777 == 0o640
    assert outside.read_bytes() == evil and not busy  # never through a link
    future = transcripts.review(str(projects), 2 ** 62)
    assert future == ([], [])


def test_a_transcript_that_changes_while_checked_is_left_for_later(tmp_path, monkeypatch):
    projects = tmp_path / "projects"
    (projects / "-p").mkdir(parents=True)
    path = projects / "-p" / "a.jsonl"
    path.write_bytes(b'{"type":"agent-setting","agentSetting":"x"}\n')
    real_lines, calls = transcripts._lines, []

    def lines_while_someone_appends(f):
        calls.append(1)
        if len(calls) == 2:  # between the scan and the rewrite
            with open(path, "ab") as out:
                out.write(b'{"type":"user"}\n')
        return real_lines(f)

    monkeypatch.setattr(transcripts, "_lines", lines_while_someone_appends)
    removed, busy = transcripts.review(str(projects), 0)
    assert not removed and busy == ["-p/a.jsonl"]
    assert path.read_bytes().endswith(b'{"type":"user"}\n')  # the writer's line survived


@pytest.mark.parametrize("line", [
    b'{"type":"permission\\u002dmode","permissionMode":"acceptEdits"}',
    b'{"type":"permission-mode",\r"permissionMode":"acceptEdits"}',
    b'{"type":"permission-mode","permissionMode":"acceptEdits","x":"\\ud800"}',
    b'{"type":"permission-mode","permissionMode":"acceptEdits","x":' + b"[" * 1100 + b"]" * 1100 + b"}",
    b'{"type":"user","type":"agent-setting","agentSetting":"evil"}',
    b'{"type":"agent\\u002dsetting","agentSetting":"evil"}',
])
def test_state_lines_are_found_however_they_are_spelled(tmp_path, line):
    projects = tmp_path / "projects"
    (projects / "-p").mkdir(parents=True)
    convo = b'{"type":"user","message":"a \\u002d b"}\n'
    (projects / "-p" / "a.jsonl").write_bytes(convo + line + b"\n" + convo)
    removed, _ = transcripts.review(str(projects), 0)
    assert [r.lines for r in removed] == [line + b"\n"]
    assert (projects / "-p" / "a.jsonl").read_bytes() == convo + convo


# --- the project --------------------------------------------------------------------------------------


@pytest.fixture
def held(home):
    return HeldRecord("s1", "/p")


def test_project_review_puts_back_what_would_run_and_keeps_the_rest(home, tmp_path, held):
    proj = tmp_path / "proj"
    (proj / ".claude" / "commands").mkdir(parents=True)
    (proj / ".claude" / "settings.json").write_text('{"permissions": {"deny": ["x"]}}')
    (proj / ".claude" / "commands" / "ok.md").write_text("mine")
    record = snapshot(proj, tmp_path / "base")
    (proj / ".claude" / "settings.json").write_text('{"permissions": {}, "outputStyle": "terse"}')
    (proj / ".claude" / "commands" / "ok.md").write_text("changed")
    (proj / ".claude" / "commands" / "new.md").write_text("new")
    (proj / ".mcp.json").write_text('{"mcpServers": {}}')
    items = review(record, tmp_path / "base", held, policy.Context(projects=(str(proj),)))
    assert json.loads((proj / ".claude" / "settings.json").read_text()) == {"permissions": {"deny": ["x"]},
                                                                            "outputStyle": "terse"}
    assert (proj / ".claude" / "commands" / "ok.md").read_text() == "mine"
    assert not (proj / ".claude" / "commands" / "new.md").exists() and not (proj / ".mcp.json").exists()
    assert sorted(i["label"] for i in items) == [".claude/commands/new.md", ".claude/commands/ok.md",
                                                 ".claude/settings.json: permissions", ".mcp.json"]
    # Applied on purpose, the held version comes back.
    apply_item(held, next(i for i in held.items if i["label"] == ".mcp.json"))
    assert (proj / ".mcp.json").read_text() == '{"mcpServers": {}}'


def test_project_review_never_follows_a_planted_link(home, tmp_path, held):
    proj = tmp_path / "proj"
    (proj / ".claude").mkdir(parents=True)
    (proj / ".claude" / "settings.json").write_text("{}")
    dotfile = tmp_path / "zshenv"
    dotfile.write_text("user's")
    record = snapshot(proj, tmp_path / "base")
    (proj / ".claude" / "settings.json").unlink()
    (proj / ".claude" / "settings.json").symlink_to(dotfile)
    (proj / ".claude" / "commands").symlink_to(tmp_path)
    items = review(record, tmp_path / "base", held, policy.Context(projects=(str(proj),)))
    assert dotfile.read_text() == "user's"
    assert (proj / ".claude" / "settings.json").read_text() == "{}" and not (proj / ".claude" / "commands").exists()
    assert len(items) == 2


def test_held_items_are_never_applied_through_a_link(home, tmp_path, held):
    root = tmp_path / "cfg"
    (root / "commands").mkdir(parents=True)
    item = held.add_file(root, "commands/x.md", "commands/x.md", b"data", policy.Verdict(policy.HOLD, "r"))
    os.rmdir(root / "commands")
    (root / "commands").symlink_to(home)
    with pytest.raises(ToolError):
        target_of(item)
    with pytest.raises(ToolError):
        apply_item(held, item)
    assert not (home / "x.md").exists()
    refused = held.add_key(root, "s.json", "s.json: x", ("x",), 1, policy.Verdict(policy.REFUSE, "no"))
    with pytest.raises(ToolError, match="never applies"):
        apply_item(held, refused)
    bad = dict(item, rel="../escape")
    with pytest.raises(ToolError):
        target_of(bad)


def test_held_keys_apply_into_the_current_file(home, tmp_path, held):
    root = tmp_path / "cfg"
    root.mkdir()
    (root / "settings.json").write_text('{"theme": "dark"}')
    item = held.add_key(root, "settings.json", "settings.json: hooks", ("hooks",), {"Stop": []},
                        policy.Verdict(policy.HOLD, "r"))
    gone = held.add_key(root, "settings.json", "settings.json: theme", ("theme",), MISSING,
                        policy.Verdict(policy.HOLD, "r"))
    apply_item(held, item)
    apply_item(held, gone)
    assert json.loads((root / "settings.json").read_text()) == {"hooks": {"Stop": []}}
    assert HeldRecord("s1").items[0]["applied"] is True  # saved


def test_the_held_command_lists_shows_applies_and_drops(home, tmp_path):
    import subprocess
    import sys

    from claude_docker.checks import check_held

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_")}
    env.update(HOME=str(home), NO_COLOR="1", CLAUDE_DOCKER_BACKUP_INTERVAL="0")

    def held_cmd(*args):
        return subprocess.run([sys.executable, "-m", "claude_docker", "held", *args], env=env, capture_output=True,
                              text=True, timeout=60)

    assert held_cmd("list").stdout == "nothing held\n" and check_held().status == "ok"
    cfg = home / ".claude"
    cfg.mkdir()
    (cfg / "settings.json").write_text('{"theme": "dark"}')
    record = HeldRecord("abc123", "/p")
    record.add_key(cfg, "settings.json", "settings.json: env", ("env",), {"GITHUB_TOKEN": "ghp_secret", "A": "1"},
                   policy.Verdict(policy.HOLD, "runs a program on your host"), own_link=True)
    record.add_key(cfg, "settings.json", "settings.json: x", ("x",),
                   {"args": ["--api-key", "BSAq1234", "--token=tok9", "-v", "-H", "Authorization: Bearer hdr9"],
                    "k": "sk9ant0abcdefghijklmnopqrstu", "cmd": "AWS_SECRET_ACCESS_KEY=aws9/x GH=ghp_gh9 node s.js"},
                   policy.Verdict(policy.HOLD, "unknown"), own_link=True)
    record.add_file(cfg, "commands/x.md", "commands/x.md", b"!`id`", policy.Verdict(policy.HOLD, "code"))
    record.save()
    assert check_held().status == "warn" and "3 change(s)" in check_held().detail
    listing = held_cmd("list")
    assert "abc123" in listing.stdout and listing.returncode == 0
    shown = held_cmd("show", "abc")
    assert "settings.json: env: runs a program on your host" in shown.stdout
    assert "ghp_secret" not in shown.stdout and '"A": "1"' in shown.stdout
    for secret in ("BSAq1234", "tok9", "sk9ant0", "hdr9", "aws9", "ghp_gh9"):
        assert secret not in shown.stdout
    assert "node s.js" in shown.stdout  # the command itself stays readable
    assert '"--api-key", "***", "--token=***", "-v"' in shown.stdout
    missing = held_cmd("show", "zzz")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "held list" in missing.stderr
    assert held_cmd("apply", "abc123").returncode == 2  # neither numbers nor --all
    applied = held_cmd("apply", "abc123", "--all")
    assert applied.returncode == 0, applied.stderr
    assert json.loads((cfg / "settings.json").read_text())["env"]["GITHUB_TOKEN"] == "ghp_secret"
    assert (cfg / "commands" / "x.md").read_bytes() == b"!`id`"
    assert check_held().status == "ok"  # applied items are no longer pending
    assert held_cmd("drop", "--all").stdout == "dropped 1 record(s)\n"
    assert held_cmd("list").stdout == "nothing held\n"


def test_a_restore_takes_state_lines_out_of_the_transcripts_it_brings_back(home):
    """An hourly backup runs while a session does, so a backup can hold a line the session's end would have
    removed: restoring it must not bring that line back to a native resume."""
    from claude_docker.backup.create import create
    from claude_docker.backup.restore import restore
    from claude_docker.backup.store import Store
    from claude_docker.paths import ClaudeHome

    claude = ClaudeHome.from_env()
    folder = claude.config_dir / "projects" / "-work-p"
    folder.mkdir(parents=True)
    convo = b'{"type":"user","message":"hi"}\n'
    evil = b'{"type":"permission-mode","permissionMode":"acceptEdits"}\n'
    (folder / "s.jsonl").write_bytes(convo + evil)
    claude.claude_json.write_text('{"numStartups": 1}')
    manifest = create(claude, "test", "full", Store())
    (folder / "s.jsonl").unlink()
    result = restore(Store().load(manifest["id"]), claude, backup_first=False)
    assert (folder / "s.jsonl").read_bytes() == convo
    assert result.held == ["projects/-work-p/s.jsonl"]
    assert HeldRecord(f"restore-{manifest['id']}").items[0]["kind"] == "lines"


def test_git_mounts_pin_every_git_dir_and_make_hooks_and_config_read_only(tmp_path):
    from claude_docker.boundary import git

    proj = tmp_path / "proj"
    sub = proj / ".git" / "modules" / "lib"
    sub.mkdir(parents=True)
    (proj / ".git" / "config").write_text("[core]\n")
    (sub / "HEAD").write_text("ref: refs/heads/main\n")
    (sub / "config").write_text("[core]\n")
    (proj / ".git" / "modules" / "evil").symlink_to(tmp_path)  # never followed into
    (tmp_path / "HEAD").write_text("")
    (tmp_path / "config").write_text("")
    found = git.mounts(proj, None)
    assert found == [(proj / ".git", False), (proj / ".git" / "modules", False), (proj / ".git" / "hooks", True),
                     (proj / ".git" / "config", True), (sub, False), (sub / "hooks", True), (sub / "config", True)]
    assert (proj / ".git" / "hooks").is_dir()  # made, so the session can't make it
    worktree = tmp_path / "tree"
    worktree.mkdir()
    (worktree / ".git").write_text("gitdir: /elsewhere\n")
    assert git.mounts(worktree, None) == [(worktree / ".git", True)]  # the pointer itself, read-only


def test_project_review_closes_the_ways_around_it(home, tmp_path, held):
    proj = tmp_path / "proj"
    (proj / ".claude").mkdir(parents=True)
    (proj / ".claude" / "settings.json").write_text('{"permissions": {"deny": ["Bash(rm:*)"]}}')
    (proj / ".claude" / "settings.local.json").write_text('{"env": {"TOKEN": "t"}}')
    os.chmod(proj / ".claude" / "settings.local.json", 0o600)
    (proj / "shared").mkdir()
    (proj / "shared" / "mcp.json").write_text('{"mcpServers": {}}')
    (proj / ".mcp.json").symlink_to("shared/mcp.json")  # the user's own link
    record = snapshot(proj, tmp_path / "base")
    # The session: deletes the deny rules' file, writes through the user's link, pads a file past 1 MiB,
    # buries new files under 2001 others, and changes the private local settings.
    (proj / ".claude" / "settings.json").unlink()
    (proj / "shared" / "mcp.json").write_text('{"mcpServers": {"evil": {"command": "sh"}}}')
    (proj / ".claude" / "launch.json").write_text("{" + " " * (2 << 20) + "}")
    junk = proj / ".claude" / "skills" / "junk"
    junk.mkdir(parents=True)
    for i in range(2001):
        (junk / f"{i}.md").write_text("x")
    (proj / ".claude" / "settings.local.json").write_text('{"env": {"TOKEN": "t"}, "hooks": {"Stop": []}}')
    items = review(record, tmp_path / "base", held, policy.Context(projects=(str(proj),)))
    assert json.loads((proj / ".claude" / "settings.json").read_text()) == {"permissions": {"deny": ["Bash(rm:*)"]}}
    assert (proj / "shared" / "mcp.json").read_text() == '{"mcpServers": {}}' and (proj / ".mcp.json").is_symlink()
    assert not (proj / ".claude" / "launch.json").exists() and not list(junk.iterdir())
    assert os.stat(proj / ".claude" / "settings.local.json").st_mode & 0o777 == 0o600
    labels = {i["label"] for i in items}
    assert {".claude/settings.json: permissions", ".mcp.json (through your link)",
            ".claude/settings.local.json: hooks"} <= labels
    assert len(items) == 3 + 1 + 2001


def test_a_planted_link_is_refused_so_applying_it_never_deletes_the_restored_file(home, tmp_path, held):
    proj = tmp_path / "proj"
    (proj / ".claude").mkdir(parents=True)
    (proj / ".claude" / "settings.json").write_text('{"permissions": {"deny": ["x"]}}')
    record = snapshot(proj, tmp_path / "base")
    (proj / ".claude" / "settings.json").unlink()
    (proj / ".claude" / "settings.json").symlink_to("/etc/passwd")
    [item] = review(record, tmp_path / "base", held, policy.Context(projects=(str(proj),)))
    assert item["verdict"] == policy.REFUSE
    with pytest.raises(ToolError):
        apply_item(held, item)
    assert json.loads((proj / ".claude" / "settings.json").read_text()) == {"permissions": {"deny": ["x"]}}


def test_a_submodule_repository_git_status_would_enter_is_set_aside(home, tmp_path, held):
    import subprocess

    from claude_docker.boundary import git

    proj = tmp_path / "proj"
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    subprocess.run(["git", "-C", str(proj), "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q",
                    "--allow-empty", "-m", "init"], check=True)
    head = subprocess.run(["git", "-C", str(proj), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    (proj / ".git" / "modules" / "lib").mkdir(parents=True)
    for name, text in (("HEAD", "ref: refs/heads/main\n"), ("config", "[core]\n")):
        (proj / ".git" / "modules" / "lib" / name).write_text(text)
    (proj / "lib").mkdir()
    (proj / "lib" / ".git").write_text("gitdir: ../.git/modules/lib\n")  # the user's own submodule
    record = git.snapshot(proj, None)
    for path in ("lib", "evil", "moved"):
        subprocess.run(["git", "-C", str(proj), "update-index", "--add", "--cacheinfo", f"160000,{head},{path}"],
                       check=True)
    (proj / "evil" / ".git").mkdir(parents=True)  # a repository of the session's, with its own config
    (proj / "moved").mkdir()
    (proj / "moved" / ".git").write_text("gitdir: /tmp/elsewhere\n")  # pointing out of the known git dirs
    items = git.review(record, proj, held)
    assert sorted(i["label"].split(" (")[0] for i in items) == ["evil/.git", "moved/.git"]
    assert (proj / "lib" / ".git").is_file() and not (proj / "evil" / ".git").exists()
    assert not (proj / "moved" / ".git").exists() and all(i["verdict"] == policy.REFUSE for i in items)


def test_a_rebase_the_session_touched_is_abandoned(home, tmp_path, held):
    import subprocess

    from claude_docker.boundary import git

    proj = tmp_path / "proj"
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    (proj / ".git" / "worktrees" / "wt" / "rebase-merge").mkdir(parents=True)
    record = git.snapshot(proj, None)
    (proj / ".git" / "rebase-merge").mkdir()
    (proj / ".git" / "rebase-merge" / "strategy").write_text("../../x\n")
    (proj / ".git" / "worktrees" / "wt" / "rebase-merge" / "git-rebase-todo").write_text("exec touch /tmp/p\n")
    items = git.review(record, proj, held)
    assert not (proj / ".git" / "rebase-merge").exists()
    assert not (proj / ".git" / "worktrees" / "wt" / "rebase-merge").exists()
    assert len(items) == 2 and all(i["verdict"] == policy.REFUSE for i in items)


def test_settings_in_subfolders_are_guarded_too(home, tmp_path, held):
    """Claude Code reads project settings from the folder it starts in: a monorepo's packages count."""
    proj = tmp_path / "proj"
    (proj / "pkg" / "app" / ".claude").mkdir(parents=True)
    (proj / "pkg" / "app" / ".claude" / "settings.json").write_text('{"permissions": {"deny": ["x"]}}')
    (proj / "pkg" / "lib").mkdir(parents=True)
    (proj / "node_modules" / "dep").mkdir(parents=True)
    record = snapshot(proj, tmp_path / "base")
    assert record["roots"] == ["", "pkg/app"] and record["whole"]
    (proj / "pkg" / "app" / ".claude" / "settings.json").write_text(
        '{"permissions": {"deny": ["x"]}, "hooks": {"Stop": []}}')
    (proj / "pkg" / "lib" / ".mcp.json").write_text('{"mcpServers": {"e": {"command": "sh"}}}')
    (proj / "pkg" / "lib" / ".claude" / "commands").mkdir(parents=True)
    (proj / "pkg" / "lib" / ".claude" / "commands" / "x.md").write_text("!`id`")
    (proj / "node_modules" / "dep" / ".mcp.json").write_text("{}")  # no place to start Claude Code in
    items = review(record, tmp_path / "base", held, policy.Context(projects=(str(proj),)))
    assert sorted(i["label"] for i in items) == ["pkg/app/.claude/settings.json: hooks",
                                                 "pkg/lib/.claude/commands/x.md", "pkg/lib/.mcp.json"]
    assert not (proj / "pkg" / "lib" / ".mcp.json").exists()
    assert json.loads((proj / "pkg" / "app" / ".claude" / "settings.json").read_text()) == {
        "permissions": {"deny": ["x"]}}
    from claude_docker.boundary.project import guarded_roots

    assert guarded_roots(proj, budget=2)[1] is False  # a walk that stops says so


def test_held_lines_are_never_appended_to_a_fifo(home, tmp_path, held):
    root = tmp_path / "cfg"
    (root / "projects" / "-p").mkdir(parents=True)
    item = held.add_lines(root, "projects/-p/s.jsonl", "projects/-p/s.jsonl", b'{"type":"mode"}\n', "r")
    os.mkfifo(root / "projects" / "-p" / "s.jsonl")  # planted later, where the lines would go back
    with pytest.raises(ToolError, match="not applied"):
        apply_item(held, item)  # would block forever on a FIFO with no reader
