"""A newcomer's first hour, from an installed copy: install.sh into a fresh HOME (never the checkout), then
the documented commands through the user's own `zsh -i`, with the real engine, the real image and the
local fake Anthropic API (containers on the host network, to reach 127.0.0.1 only)."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from claude_docker import CLAUDE_CODE_VERSION
from fakeapi import FakeAnthropic

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pyhelpers" / "claude_docker"
ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[a-zA-Z~]|\][^\x07]*\x07|[()][0-9A-B]|[78=>])")
API_KEY = "sk-ant-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A HOME with claude-docker installed by install.sh and a plain .zshrc (no compinit of its own)."""
    home = tmp_path_factory.mktemp("installed") / "new user"
    home.mkdir()
    (home / ".zshrc").write_text("# a newcomer's zshrc\nsetopt no_beep\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE_", "ANTHROPIC_", "XDG_"))}
    env["HOME"] = str(home)
    proc = subprocess.run([str(ROOT / "install.sh"), "--python", "python3"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return home


def site_package(home: Path) -> Path:
    found = list((home / ".local/share/claude-docker/venv/lib").glob("python3.*/site-packages/claude_docker"))
    assert len(found) == 1, found
    return found[0]


def user_env(home: Path, image: str, **extra: str) -> dict:
    """The user's environment: their HOME, the image, and no automatic backups (a detached process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE_", "ANTHROPIC_", "XDG_"))}
    env.update(HOME=str(home), CLAUDE_DOCKER_IMAGE=image, CLAUDE_DOCKER_NETWORK="none", NO_COLOR="1",
               CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", CLAUDE_DOCKER_BACKUP_INTERVAL="0", TERM="xterm")
    env.update(extra)
    return env


def logged_in_project(home: Path, name: str) -> Path:
    """A git project, trusted, with onboarding done and the API key approved, and a host whose Claude
    Code was installed natively (installMethod), as most users' is."""
    project = home / "work" / name
    project.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    config = home / ".claude.json"
    state = json.loads(config.read_text()) if config.exists() else {}
    state.update(hasCompletedOnboarding=True, installMethod="native", theme="dark",
                 customApiKeyResponses={"approved": [API_KEY[-20:]], "rejected": []})
    state.setdefault("projects", {})[str(project)] = {"hasTrustDialogAccepted": True}
    config.write_text(json.dumps(state))
    return project


def in_terminal(argv: list[str], env: dict, keys: list[tuple[float, bytes]], timeout: float = 90) -> tuple[int, str]:
    """Run argv on a pseudo-terminal, send each (delay, bytes) in turn, and return its status and screen text."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: nothing here may return into pytest
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    out, deadline, pending = b"", time.time() + timeout, list(keys)
    next_at = time.time() + (pending[0][0] if pending else 0)
    while time.time() < deadline:
        if pending and time.time() >= next_at:
            os.write(fd, pending.pop(0)[1])
            next_at = time.time() + (pending[0][0] if pending else 0)
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's other end closed
                break
            if not chunk:
                break
            out += chunk
    else:  # hung: end what this test started (the terminal's session, led by the child)
        os.killpg(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), ANSI.sub(b"", out).decode(errors="replace")


def settle(docker_client, home: Path, seconds: float = 15) -> None:
    """Wait until the daemon has finished removing this HOME's containers (`--rm` completes in the daemon
    after the CLI, and so the wrapper, has returned)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        mounts = [c for c in docker_client.containers.list(all=True, filters={"label": "io.claude-docker.tool"},
                                                          ignore_removed=True)
                  if str(home) in json.dumps(c.attrs.get("Mounts", []))]
        if not mounts:
            return
        time.sleep(0.2)


def test_the_installed_package_holds_every_file_of_the_source(installed):
    """What the package reads at run time besides its modules (the image recipes) is installed too."""
    site = site_package(installed)
    data = [p.relative_to(PACKAGE) for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert {Path("recipes", name) for name in ("Dockerfile", "finish.sh", "dpkg-excludes", "apt-options")} <= set(data)
    missing = [str(p) for p in data
               if not (site / p).is_file() or (site / p).read_bytes() != (PACKAGE / p).read_bytes()]
    assert not missing, f"not installed: {missing}"
    # and the installed copy's own idea of its recipe names that file
    python = installed / ".local/share/claude-docker/venv/bin/python"
    recipe = subprocess.run([str(python), "-I", "-c",
                             "from claude_docker.image import recipe; print(recipe.DOCKERFILE)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert Path(recipe) == site / "recipes/Dockerfile"


@pytest.mark.docker
@pytest.mark.image
def test_interactive_claude_starts_clean_without_the_host_install_warning(installed, real_image, docker_client,
                                                                          no_leftover_containers):
    """`claude` in a terminal: Claude Code's welcome, and not its check of the host's ~/.local/bin/claude
    (which the container doesn't have): that warned "missing or broken" on every start."""
    project = logged_in_project(installed, "interactive")
    with FakeAnthropic(reply="hi") as api:
        env = user_env(installed, real_image, CLAUDE_DOCKER_NETWORK="host", ANTHROPIC_BASE_URL=api.url,
                       ANTHROPIC_API_KEY=API_KEY)
        status, screen = in_terminal(["zsh", "-i", "-c", f"cd {shlex.quote(str(project))} && claude"], env,
                                     [(15, b"\x03"), (0.3, b"\x03")])
    settle(docker_client, installed)
    assert "ClaudeCodev" in screen.replace(" ", ""), screen[-2000:]  # the welcome box (drawn by cursor moves)
    assert "missing or broken" not in screen, screen[-2000:]
    assert status == 0, screen[-2000:]


@pytest.mark.docker
@pytest.mark.image
def test_ctrl_c_during_claude_p_gives_claude_codes_own_status_as_the_readme_says(installed, real_image, docker_client,
                                                                                 no_leftover_containers):
    """Ctrl-C while `claude -p` waits on the API: the status is Claude Code's own, the one README names."""
    project = logged_in_project(installed, "ctrl-c")
    silent = socket.socket()  # an API that accepts and never answers: the request is in flight at Ctrl-C
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        env = user_env(installed, real_image, CLAUDE_DOCKER_NETWORK="host", ANTHROPIC_API_KEY=API_KEY,
                       ANTHROPIC_BASE_URL=f"http://127.0.0.1:{silent.getsockname()[1]}")
        status, screen = in_terminal(["zsh", "-i", "-c", f"cd {shlex.quote(str(project))} && claude -p hello"], env,
                                     [(12, b"\x03")])
    finally:
        silent.close()
    settle(docker_client, installed)
    row = next(line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| Claude Code's own"))
    documented = re.search(r"Ctrl-C[^|]*?\((\d+) with Claude Code ([\d.]+)\)", row)
    assert documented, f"README's exit status row says nothing checkable about Ctrl-C: {row}"
    assert documented.group(2) == real_image.rsplit(":", 1)[1]
    assert status == int(documented.group(1)), screen[-2000:]


@pytest.mark.docker
@pytest.mark.image
def test_a_new_user_gets_the_allowlist_and_the_command_that_opens_it(installed, real_image, docker_client,
                                                                      no_leftover_containers):
    """Out of the box (no CLAUDE_DOCKER_NETWORK): the session's way out is the proxy. The fake API on the
    host's loopback is denied, the end of the session names the command that allows it, and once run that
    command lets the next session through."""
    project = logged_in_project(installed, "egress")
    with FakeAnthropic(reply="through the allowlist") as api:
        env = user_env(installed, real_image, ANTHROPIC_BASE_URL=api.url, ANTHROPIC_API_KEY=API_KEY,
                       CLAUDE_CODE_MAX_RETRIES="0")
        del env["CLAUDE_DOCKER_NETWORK"]

        def zsh(line: str) -> subprocess.CompletedProcess:
            return subprocess.run(["zsh", "-i", "-c", f"cd {shlex.quote(str(project))} && {line}"], env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)

        denied = zsh("claude -p hello")
        assert denied.returncode != 0 and api.messages_requests() == []
        command = re.search(r"`(claude-docker egress allow [^`]+)`", denied.stderr)
        assert command and command.group(1) == f"claude-docker egress allow host.docker.internal:{api.port}", \
            denied.stderr
        assert zsh(command.group(1)).returncode == 0
        allowed = zsh("claude -p hello")
        assert allowed.returncode == 0, allowed.stderr
        assert allowed.stdout.strip() == "through the allowlist"
    settle(docker_client, installed)


# --- every command the docs show -------------------------------------------------------------------------

NAMES = ("claude-docker", "claude-dr", "claude", "disaster_recovery", "find_good_backup", "restore_from_backup",
         "verify_recovery", "log_event", "collect_metrics", "start_trace", "send_to_datadog", "deploy_canary",
         "rollback_deployment", "run_smoke_tests", "track_deployment", "encrypt_secrets", "reconcile_config",
         "detect_drift", "audit_config_change", "gitops_reconcile_loop", "alert")
LEAD = re.compile(r"(?:{})(?![\w-])".format("|".join(re.escape(n) for n in NAMES)))


def documented_commands() -> set[str]:
    """Each command line in README.md and docs/*.md: fenced lines (comments cut) and inline code spans."""
    found = set()
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        fenced = False
        for line in doc.read_text().splitlines():
            if line.startswith("```"):
                fenced = not fenced
            elif fenced:
                text = re.sub(r"\s+#.*$", "", line).strip()
                if not text.startswith("#") and LEAD.match(text.split("|")[-1].strip()):
                    found.add(text)
            else:
                found.update(span for span in re.findall(r"`([^`]+)`", line) if LEAD.fullmatch(span.split(" ")[0]))
    return found


# What each documented form runs, in order (later ones use what earlier ones made): the command as typed in
# the user's `zsh -i`, and its documented status. {held}, {backup} and {image} are filled in as they exist;
# None: run by the named test above.
RUNS: list[tuple[tuple[str, ...], str | None, int]] = [
    (("claude-docker",), "claude-docker", 2),  # usage, as for any command given no subcommand
    (("claude --version",), "claude --version", 0),
    (("claude -p", "claude -p hi", "claude ARGS", 'claude -p "explain main.py"'), 'claude -p "explain main.py"', 0),
    (('git diff | claude -p "review"',), 'git diff | claude -p "review"', 0),
    (("claude --resume",), 'claude -p --continue "and again"', 0),
    (("claude-docker run [--] ARGS",), "claude-docker run -- -p hi", 0),
    (("claude",), None, 0),  # test_interactive_claude_starts_clean_without_the_host_install_warning
    (("claude-docker ps",), "claude-docker ps && claude-docker ps --json", 0),
    (("claude-docker cleanup",), "claude-docker cleanup --dry-run && claude-docker cleanup", 0),
    (("claude-docker image build",
      "claude-docker image build --version 2.1.200 --tag claude-docker/claude-code:2.1.200"),
     "claude-docker image build --tag {image}", 0),
    (("claude-docker image list",), "claude-docker image list && claude-docker image list --json", 0),
    (("claude-docker held",), "claude-docker held", 2),
    (("claude-docker held list",),
     ("CLAUDE_DOCKER_IMAGE={fake} claude set-key mcpServers '{{\"x\": {{\"command\": \"sh\"}}}}';"
      " claude-docker held list"),
     0),
    (("claude-docker held show ID", "claude-docker held show <id>", "claude-docker held show restore-<backup id>"),
     "claude-docker held show {held}", 0),
    (("claude-docker held apply", "claude-docker held apply ID 3", "claude-docker held apply ID N"),
     "claude-docker held apply {held} 1", 0),
    (("claude-docker egress allow", "claude-docker egress allow HOST",
      "claude-docker egress allow pypi.org files.pythonhosted.org"),
     "claude-docker egress allow pypi.org files.pythonhosted.org", 0),
    (("claude-docker egress allow github.com '*.githubusercontent.com'",),
     "claude-docker egress allow github.com '*.githubusercontent.com'", 0),
    (("claude-docker egress allow registry.example.com:5000 'pypi.org:*'",),
     "claude-docker egress allow registry.example.com:5000 'pypi.org:*'", 0),
    (("claude-docker egress allow 127.0.0.1:4000",), "claude-docker egress allow 127.0.0.1:4000", 0),
    (("claude-docker egress remove 'pypi.org:*'",), "claude-docker egress remove 'pypi.org:*'", 0),
    (("claude-docker egress list",), "claude-docker egress list && claude-docker egress list --json", 0),
    (("claude-docker egress log", "claude-docker egress log [--follow] [--json] [--denied] [--session ID]"),
     "claude-docker egress log && claude-docker egress log --json --denied", 0),
    # It follows until interrupted: Ctrl-C after a few seconds (timeout's own status says it was still on; the
    # installed command, since timeout runs programs, not zsh functions).
    (("claude-docker egress log --follow",),
     'timeout -s INT 3 "$HOME/.local/bin/claude-docker" egress log --follow; [ $? = 124 ]', 0),
    (("log_event", "log_event EVENT [KEY=VALUE ...]", 'log_event deploy.step level=warn message="half done" step=3'),
     'log_event deploy.step level=warn message="half done" step=3', 0),
    (("start_trace NAME", "start_trace release"), "start_trace release && log_event traced", 0),
    (("collect_metrics", "claude-docker metrics collect"), "collect_metrics && claude-docker metrics collect", 0),
    (("send_to_datadog",), "send_to_datadog", 0),
    (("claude-docker flush",), "claude-docker flush", 0),
    (("claude-docker health",), "claude-docker health", 0),
    (("claude-docker doctor",), "claude-docker doctor", 0),
    (("claude-docker backup create", "claude-docker backup create --prune"),
     "claude-docker backup create && claude-docker backup create --prune", 0),
    (("claude-docker backup list",), "claude-docker backup list", 0),
    (("claude-docker backup verify [ID]",), "claude-docker backup verify && claude-docker backup verify {backup}", 0),
    (("claude-docker backup prune [--keep-last N --keep-hourly N --keep-daily N --keep-weekly N] [--dry-run]",),
     "claude-docker backup prune --keep-last 5 --keep-hourly 1 --keep-daily 1 --keep-weekly 1 --dry-run", 0),
    (("find_good_backup",), "find_good_backup", 0),
    (("verify_recovery",), "verify_recovery --no-smoke", 0),
    (("claude-dr", "claude-dr --yes", "disaster_recovery", "claude-docker dr"),
     "claude-dr --yes && disaster_recovery --yes && claude-docker dr --yes", 0),
    (("claude-docker backup restore", "restore_from_backup", "restore_from_backup [ID]"),
     "restore_from_backup {backup} --repair && claude-docker backup restore --repair", 0),
    (("claude-docker metrics serve",), None, 0),  # test_metrics_serve_from_the_installed_copy
    # Rollouts: the candidate is the image built above with one more label (a new id). The user's sessions here
    # set CLAUDE_DOCKER_IMAGE, so they bypass the rollout (its e2e tests are test_e2e_rollout.py).
    (("run_smoke_tests", "run_smoke_tests IMAGE", "run_smoke_tests [IMAGE]", "claude-docker rollout smoke [IMAGE]",
      "run_smoke_tests claude-docker/claude-code:2.1.200"), "run_smoke_tests {image}", 0),
    (("deploy_canary", "deploy_canary [IMAGE]", "claude-docker rollout deploy [IMAGE]", "claude-docker rollout …",
      "deploy_canary claude-docker/claude-code:2.1.200", "deploy_canary --sticky user"),
     ('cid=$(docker create {image}) && docker commit --change "LABEL candidate=1" "$cid" {candidate} >/dev/null'
      ' && docker rm "$cid" >/dev/null && deploy_canary {candidate} --sticky user --yes'), 0),
    (("track_deployment", "claude-docker rollout status"),
     "track_deployment && claude-docker rollout status --json", 0),
    # Holds (no session has run on the candidate yet) until interrupted, like `egress log --follow`.
    (("claude-docker rollout watch",),
     'timeout -s INT 3 "$HOME/.local/bin/claude-docker" rollout watch; [ $? = 124 ]', 0),
    (("claude-docker rollout alert NAME",), "claude-docker rollout alert DiskFilling --severity warning", 0),
    (("rollback_deployment", "claude-docker rollout rollback"), "rollback_deployment", 0),
    (("claude-docker rollout rollback --to previous",),
     ("CLAUDE_DOCKER_V2_PROBABILITY=1.0 deploy_canary {candidate} --skip-smoke"
      " && claude-docker rollout rollback --to previous"), 0),
    # GitOps: a team repository in ~/src (a work tree: any path git can fetch), a lead's key as allowed signer.
    (("claude-docker gitops init ~/src/team-claude --allowed-signers ~/.config/claude-docker/signers",),
     ("mkdir -p ~/.config/claude-docker ~/src/team-claude/claude && ssh-keygen -q -t ed25519 -N '' -C ''"
      " -f ~/.config/claude-docker/lead && echo \"lead@example.com $(cat ~/.config/claude-docker/lead.pub)\""
      " > ~/.config/claude-docker/signers && (cd ~/src/team-claude && git init -q -b main"
      " && echo '{{\"model\": \"team-model\"}}' > claude/settings.json && git add -A"
      " && git -c user.name=Lead -c user.email=lead@example.com commit -qm init)"
      " && claude-docker gitops init ~/src/team-claude --allowed-signers ~/.config/claude-docker/signers"), 0),
    (("reconcile_config", "claude-docker gitops reconcile", "claude-docker gitops reconcile --force"),
     ("reconcile_config && claude-docker gitops reconcile --json && claude-docker gitops reconcile --force"
      " && grep -q team-model ~/.claude/settings.json"), 0),
    (("detect_drift", "claude-docker gitops drift"), "detect_drift && claude-docker gitops drift --json", 0),
    (("audit_config_change", "audit_config_change --verify", "claude-docker gitops audit"),
     "audit_config_change && audit_config_change --verify && claude-docker gitops audit --json", 0),
    (("claude-docker gitops check",), "cd ~/src/team-claude && claude-docker gitops check", 0),
    (("encrypt_secrets", "encrypt_secrets --in-place claude/claude.sops.json",
      "encrypt_secrets --rotate claude/claude.sops.json"),
     ("mkdir -p ~/.config/sops/age claude && age-keygen -o ~/.config/sops/age/keys.txt 2>/dev/null"
      " && printf 'creation_rules:\\n  - path_regex: claude/claude\\.sops\\.json$\\n    age: %s\\n'"
      " \"$(age-keygen -y ~/.config/sops/age/keys.txt)\" > .sops.yaml"
      " && echo '{{\"mcpServers\": {{\"s\": {{\"type\": \"http\", \"url\": \"https://x\"}}}}}}'"
      " > claude/claude.sops.json && encrypt_secrets --in-place claude/claude.sops.json"
      " && encrypt_secrets --rotate claude/claude.sops.json && grep -q ENC claude/claude.sops.json"), 0),
    # Follows until stopped: SIGTERM after a few seconds (a clean stop; timeout's own status says it ran on).
    (("gitops_reconcile_loop", "claude-docker gitops loop"),
     ('timeout -s TERM 5 "$HOME/.local/bin/claude-docker" gitops loop; [ $? = 124 ]'
      " && claude-docker gitops status | grep -q 'not running'"), 0),
    # Alerts go to the test's webhook receiver (CLAUDE_DOCKER_ALERT_TARGETS): each send below is delivered.
    (("claude-docker alert targets",), "claude-docker alert targets && claude-docker alert targets --json", 0),
    (("claude-docker alert rules",), "claude-docker alert rules && claude-docker alert rules --json", 0),
    (("claude-docker alert rules --prometheus",
      "claude-docker alert rules --prometheus > /etc/prometheus/claude-docker.yml"),
     'claude-docker alert rules --prometheus > "$HOME/alerts.yml" && promtool check rules "$HOME/alerts.yml"', 0),
    (("claude-docker alert test", "claude-docker alert test --severity high"),
     "claude-docker alert test && claude-docker alert test --severity high", 0),
    (('alert high "nightly import failed" job=import', "claude-docker alert send"),
     'alert high "nightly import failed" job=import && claude-docker alert send low "noted" alertname=Mine', 0),
    (("claude-docker alert evaluate",), "claude-docker alert evaluate && claude-docker alert evaluate --json", 0),
    (("claude-docker alert status",), "claude-docker alert status && claude-docker alert status --json", 0),
    (("claude-docker alert watch",), 'timeout -s TERM 5 "$HOME/.local/bin/claude-docker" alert watch; [ $? = 124 ]', 0),
    (("claude-docker incident list", "claude-docker incident list [--all] [--json]"),
     "claude-docker incident list && claude-docker incident list --all --json | grep -q INC-0001", 0),
    (("claude-docker incident show INC-0001 [--json]",),
     "claude-docker incident show INC-0001 && claude-docker incident show INC-0001 --json", 0),
    (("claude-docker incident ack INC-0001",), "claude-docker incident ack INC-0001", 0),
    (('claude-docker incident resolve INC-0001 --note "rebuilt the image"',),
     ('claude-docker incident resolve INC-0001 --note "rebuilt the image"'
      " && claude-docker incident show INC-0001 --json | grep -q 'rebuilt the image'"), 0),
    (("claude-docker errors", "claude-docker errors [--json]"), "claude-docker errors && claude-docker errors --json",
     0),
    (("claude-docker rollout alert",), "claude-docker rollout alert ClaudeDockerTest", 0),  # no rollout: nothing to do
]


@contextlib.contextmanager
def receiving():
    """A webhook receiver on 127.0.0.1 for the alerts the documented commands send."""
    from alertservers import Receiver

    hook = Receiver()
    try:
        yield hook
    finally:
        hook.stop()


def test_every_documented_command_has_a_run():
    covered = {form for forms, _, _ in RUNS for form in forms}
    assert documented_commands() - covered == set(), "documented but never run from an installed copy"
    assert covered - documented_commands() == set(), "run here but no longer documented"


@pytest.mark.docker
@pytest.mark.image
def test_every_documented_command_runs_from_the_installed_copy(installed, real_image, fake_image, docker_client,
                                                               no_leftover_containers):
    from fakeintake import FakeIntake

    project = logged_in_project(installed, "documented")
    (project / "main.py").write_text("print('hi')\n")
    image = f"claude-docker-test/installed-{os.getpid()}:1"
    candidate = f"claude-docker-test/installed-{os.getpid()}:candidate"
    values = {"fake": fake_image, "image": image, "held": "", "backup": "", "candidate": candidate}
    try:
        with FakeAnthropic(reply="documented ok") as api, FakeIntake() as intake, receiving() as hook:
            env = user_env(installed, real_image, CLAUDE_DOCKER_NETWORK="host", ANTHROPIC_BASE_URL=api.url,
                           ANTHROPIC_API_KEY=API_KEY, DD_API_KEY="dd-test-key", CLAUDE_DOCKER_DATADOG_URL=intake.url,
                           CLAUDE_DOCKER_ALERT_TARGETS=hook.url.replace("http://", "json+http://") + "/alerts")
            for forms, command, expected in RUNS:
                if command is None:
                    continue
                line = command.format(**values)
                result = subprocess.run(["zsh", "-i", "-c", f"cd {shlex.quote(str(project))} && {line}"], env=env,
                                        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
                assert result.returncode == expected, f"{forms[0]} (ran: {line}):\n{result.stdout}\n{result.stderr}"
                assert "Traceback" not in result.stderr, result.stderr
                settle(docker_client, installed)
                if "set-key" in line:
                    listing = subprocess.run(["zsh", "-i", "-c", "claude-docker held list --json"], env=env,
                                             capture_output=True, text=True, check=True).stdout
                    values["held"] = json.loads(listing)["records"][0]["id"]
                if "backup create" in line:
                    listing = subprocess.run(["zsh", "-i", "-c", "claude-docker backup list --json"], env=env,
                                             capture_output=True, text=True, check=True).stdout
                    values["backup"] = json.loads(listing)[-1]["id"]
            assert api.messages_requests(), "no claude -p reached the API"
            assert intake.requests, "send_to_datadog sent nothing"
            sent = [r.json() for r in hook.requests if r.status == 200]
            assert any("nightly import failed" in json.dumps(note) for note in sent), "alert high reached no channel"
    finally:
        subprocess.run(["docker", "image", "rm", "-f", image, candidate], capture_output=True)


def test_metrics_serve_from_the_installed_copy(installed):
    serve = subprocess.Popen([str(installed / ".local/bin/claude-docker"), "metrics", "serve", "--listen",
                              "127.0.0.1:0"], env=user_env(installed, "unused"), stdout=subprocess.PIPE, text=True)
    try:
        url = serve.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        from urllib.request import urlopen

        with urlopen(url + "/metrics", timeout=10) as reply:
            assert reply.status == 200 and b"# TYPE" in reply.read()
    finally:
        serve.terminate()
        serve.wait(timeout=10)


@pytest.fixture(scope="module")
def debian_base(docker_client, tmp_path_factory):
    """Debian's slim image of this host's release, as a registry would serve it (none answers here): a minbase
    root filesystem from the same apt sources, imported."""
    from claude_docker.image import aptsources

    suite = aptsources.host_suite()
    tag = f"claude-docker-test/debian-base:{suite}-slim"
    out = tmp_path_factory.mktemp("base") / "rootfs.tar"
    proc = subprocess.run(["mmdebstrap", "--variant=minbase", "--format=tar", suite, str(out), "-"],
                          input=aptsources.for_release(suite), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    repository, name = tag.split(":")
    docker_client.api.import_image_from_file(str(out), repository=repository, tag=name)
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.mark.docker
@pytest.mark.image
def test_the_dockerfile_recipe_builds_from_an_installed_copy_with_the_default_images_contents(
        installed, debian_base, real_image, docker_client):
    tag = f"claude-docker-test/dockerfile-recipe:{CLAUDE_CODE_VERSION}"
    command = [str(installed / ".local/bin/claude-docker"), "image", "build", "--recipe", "dockerfile", "--base",
               debian_base, "--build-network", "host", "--tag", tag, "--json"]
    result = subprocess.run(command, env=user_env(installed, tag), capture_output=True, text=True, timeout=1200)
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        assert json.loads(result.stdout)["recipe"] == "dockerfile"
        labels = docker_client.images.get(tag).labels
        assert labels["io.claude-docker.recipe"] == "dockerfile"
        assert labels["io.claude-docker.claude-code-version"] == CLAUDE_CODE_VERSION

        def contents(image: str) -> tuple[str, str]:
            script = ("dpkg-query -W -f '${Package}\\n' | sort; find / -xdev -type f -perm /6000; "
                      "for t in bash git rg curl ssh jq unzip make less ps find grep sed claude; do "
                      "command -v $t; done; env | grep -E '^(PATH|LANG|DISABLE_|USE_BUILTIN)' | sort")
            out = docker_client.containers.run(image, ["sh", "-c", script], entrypoint=[], user="4242:4242",
                                               network_mode="none", remove=True).decode()
            version = docker_client.containers.run(image, ["claude", "--version"], user="4242:4242",
                                                   network_mode="none", environment={"HOME": "/tmp"},
                                                   remove=True).decode()
            return out, version

        assert contents(tag) == contents(real_image)
    finally:
        try:
            docker_client.images.remove(tag, force=True)
        except Exception:  # noqa: BLE001 - the build failed before tagging it
            pass
