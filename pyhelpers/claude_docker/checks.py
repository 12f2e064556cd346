"""The checks `doctor` runs, and the one Check type (doctor's, health's, verify_recovery's). Each returns one
Check; none raises for an expected problem."""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from claude_docker import damage, engine, envspec, exitcodes, keptaside
from claude_docker.errors import ToolError
from claude_docker.options import RunOptions
from claude_docker.paths import ClaudeHome, state_dir

DISK_FAIL_BYTES = 1 << 30
DISK_WARN_BYTES = 5 << 30


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok, warn, fail, info
    detail: str
    fix: str = ""

    @classmethod
    def of(cls, name: str, passed: bool, detail: str, fix: str = "") -> Check:
        return cls(name, "ok" if passed else "fail", detail, fix if not passed else "")

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def to_json(self) -> dict:
        return asdict(self)


def check_settings() -> list[Check]:
    """Every CLAUDE_DOCKER_* value against envspec's table: one failed Check per refused one, a warning per
    variable that is no setting (a typo would otherwise be a setting silently not taken)."""
    checks = [Check(name, "fail", message, f"set {name} to what it takes, or unset it")
              for name, message in envspec.problems()]
    for name in envspec.unknown():
        checks.append(Check(name, "warn", f"{name} is not a claude-docker setting (a typo?)",
                            "see the README's list of settings"))
    if not checks:
        count = sum(1 for name in envspec.SETTINGS if os.environ.get(name))
        checks.append(Check("settings", "ok", f"{count} CLAUDE_DOCKER_* setting(s) given, all accepted"))
    return checks


def check_network(client, network: str) -> Check:
    """A named network (or the container whose network is shared) must exist: `docker run` would refuse the
    session only after its sync-in."""
    from docker.errors import NotFound

    if not engine.network_lookup(network):
        return Check("network", "ok", network_mode(network))
    try:
        if network.startswith(engine.SHARED):
            client.containers.get(network[len(engine.SHARED):])
        else:
            client.networks.get(network)
    except NotFound:
        missing = engine.missing_network(network)
        return Check("network", "fail", missing.problem, missing.fix)
    return Check("network", "ok", f"{network} exists")


# What each built-in mode means for a session's traffic out (docs/SECURITY.md).
MODES = {
    "allowlist": "only to the hosts you allow, through the egress proxy",
    "bridge": "egress open: Docker's bridge, to anywhere",
    "default": "egress open: Docker's bridge, to anywhere",
    "host": "egress open: the host's own network",
    "none": "no network at all",
}


def network_mode(network: str) -> str:
    """The network setting, and what it means for egress (built-in modes; a named network is the user's own)."""
    return f"{network}: {MODES[network]}" if network in MODES else network


def check_forwarder() -> Check:
    """Allowlist mode's forwarder image (egress/forwarder.py): there, or buildable from this host's socat."""
    from claude_docker.egress import forwarder

    try:
        found = forwarder.present(forwarder.engine_socket())
    except ToolError as exc:
        return Check("egress forwarder", "fail", exc.problem, exc.fix)
    if found:
        return Check("egress forwarder", "ok", f"{forwarder.IMAGE} is present")
    if forwarder.available():
        return Check("egress forwarder", "ok", f"{forwarder.IMAGE} is built from this host's socat when first needed")
    return Check("egress forwarder", "fail", f"{forwarder.IMAGE} is not present, and there is no socat on this host to "
                 "build it", "apt install socat, or set CLAUDE_DOCKER_NETWORK=bridge for open egress")


def check_allowlist(opts: RunOptions) -> Check:
    """Allowlist mode: the list parses, no setting would reopen the network, and Claude Code's API is on it."""
    from claude_docker.egress import allowlist
    from claude_docker.egress.proxy import hostport
    from claude_docker.launcher import egress

    name = "egress allowlist"
    try:
        egress.check(opts)
        entries = allowlist.effective(os.environ).entries
    except ToolError as exc:
        return Check(name, "fail", exc.problem, exc.fix)
    api = egress.api_target(os.environ)
    if api and allowlist.Allowlist(entries).match(*api) is None:
        where = hostport(*api)
        return Check(name, "warn", f"ANTHROPIC_BASE_URL's {where} is not on it: sessions can't reach the API",
                     f"claude-docker egress allow {where}")
    yours = sum(e.source != "default" for e in entries)
    return Check(name, "ok", f"{len(entries) - yours} defaults and {yours} of yours (claude-docker egress list)")


def check_docker_cli() -> Check:
    try:
        return Check("docker CLI", "ok", engine.docker_cli())
    except ToolError as exc:
        return Check("docker CLI", "fail", exc.message, "install Docker (Debian: apt-get install docker.io)")


def check_daemon():
    """The daemon check, and the SDK client for the checks after it (None if unreachable)."""
    from claude_docker import dockerclient

    start = time.perf_counter()
    try:
        client = dockerclient.connect(timeout=5, operation="doctor")
        version = client.version().get("Version", "?")
    except ToolError as exc:  # engine.unreachable's diagnosis, as `claude` and `health` give it
        return Check("docker daemon", "fail", exc.problem, exc.fix), None
    ms = (time.perf_counter() - start) * 1000
    status = "ok" if ms < 1000 else "warn"
    return Check("docker daemon", status, f"Docker {version} answered in {ms:.0f} ms"), client


def check_uid_mapping(client) -> Check:
    mapping = engine.uid_mapping(client.info())
    detail = {"direct": "sessions run as your uid:gid",
              "rootless": "rootless Docker: sessions run as the container's root, which is you",
              "userns": "userns-remap: sessions opt out of it (--userns host) so their files stay yours"}[mapping]
    return Check("user mapping", "ok", detail)


def check_images(client, opts: RunOptions) -> list[Check]:
    from docker.errors import ImageNotFound

    from claude_docker.image import metadata, recipe
    from claude_docker.redact import printable

    slots = [("v1", opts.image)] + ([("v2", opts.v2_image)] if opts.v2_image else [])
    checks = []
    for slot, image in slots:
        try:
            img = client.images.get(image)
            labels = img.labels or {}
            version = labels.get(metadata.VERSION, "")
            detail = f"{image} ({img.attrs.get('Size', 0) / 1e6:.0f} MB{', Claude Code ' + version if version else ''})"
            if recipe.is_stale(labels):
                # The command alone for our own image; said in words for one derived from ours.
                fix = (printable(recipe.rebuild_command(image, labels)) if recipe.derived_base(image, labels) is None
                       else recipe.stale_advice(image, labels))
                checks.append(Check(f"image {slot}", "warn", f"{detail}: built from an older recipe", fix))
            else:
                checks.append(Check(f"image {slot}", "ok", detail))
        except ImageNotFound:
            checks.append(Check(f"image {slot}", "fail", f"{image} is not present", "claude-docker image build"))
    return checks


def check_project_image(client, opts: RunOptions, cwd: Path) -> list[Check]:
    """What the project here asks for in its `.claude-docker.toml`, and whether `claude` here has that image."""
    from docker.errors import ImageNotFound

    from claude_docker import CLAUDE_CODE_VERSION
    from claude_docker.image import profiles, projectfile
    from claude_docker.paths import project_root

    try:
        chosen, warnings = projectfile.read(project_root(cwd))
    except ToolError as exc:
        return [Check("project image", "fail", exc.message)]
    checks = [Check("project file", "warn", warning) for warning in warnings]
    if not chosen:
        return checks
    if opts.image_chosen:
        return [*checks, Check("project image", "info", f"{projectfile.NAME} asks for {','.join(chosen)}; "
                               f"CLAUDE_DOCKER_IMAGE ({opts.image}) wins")]
    tag = profiles.tag(CLAUDE_CODE_VERSION, chosen)
    try:
        client.images.get(tag)
    except ImageNotFound:
        return [*checks, Check("project image", "fail", f"{tag} ({', '.join(chosen)}) is not present",
                               profiles.build_command(chosen))]
    return [*checks, Check("project image", "ok", f"{tag} ({', '.join(chosen)}, from {projectfile.NAME})")]


def check_host_config(claude: ClaudeHome) -> list[Check]:
    from claude_docker.backup import scope
    from claude_docker.backup.configcheck import json_problem

    checks = []
    for key in (scope.CLAUDE_JSON, f"{scope.CONFIG}/settings.json", f"{scope.CONFIG}/.credentials.json"):
        path = scope.host_path(claude, key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            checks.append(Check(path.name, "info", f"{path} does not exist yet"))
            continue
        except OSError as exc:
            checks.append(Check(path.name, "fail", f"cannot read {path}: {exc.strerror}",
                                f"check the permissions of {path}"))
            continue
        problem = json_problem(key, data)  # begins with the file's name
        if problem:
            checks.append(Check(path.name, "fail", f"{path.parent}/{problem}",
                                "restore it from the last good backup: claude-dr"))
        else:
            checks.append(Check(path.name, "ok", f"{path} is valid"))
    return checks


def check_disk(paths: list[Path]) -> list[Check]:
    checks = []
    for path in paths:
        existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
        free = shutil.disk_usage(existing).free
        detail = f"{free / 1e9:.1f} GB free for {path}"
        if free < DISK_FAIL_BYTES:
            checks.append(Check("disk space", "fail", detail, f"free space on the filesystem of {existing}"))
        elif free < DISK_WARN_BYTES:
            checks.append(Check("disk space", "warn", detail, f"free space on the filesystem of {existing}"))
        else:
            checks.append(Check("disk space", "ok", detail))
    return checks


def check_orphans(client) -> list[Check]:
    from claude_docker import inventory
    from claude_docker.liveness import host_name
    from claude_docker.sessiondir import all_sessions, interrupted

    orphans = [s for s in inventory.sessions(client) if s.orphaned]
    stale = interrupted(all_sessions(), host_name())
    checks = []
    if orphans:
        checks.append(Check("orphans", "fail", f"{len(orphans)} container(s) whose wrapper is gone: "
                            + ", ".join(s.name for s in orphans), "claude-docker cleanup"))
    else:
        checks.append(Check("orphans", "ok", "no orphaned containers"))
    if stale:
        failed = [s.session_id for s, m in stale if m.get("state") == "sync-failed"]
        detail = f"{len(stale)} interrupted session(s) not synced back" + (f" ({len(failed)} failed)" if failed else "")
        checks.append(Check("interrupted sessions", "fail", detail, "claude-docker cleanup"))
    return checks


def check_install() -> Check:
    """The plugin beside the venv running us (the layout install.sh makes)."""
    prefix = Path(sys.prefix).parent
    plugin = prefix / "ai-assistant.zsh"
    if not (prefix / "venv").is_dir() or Path(sys.prefix).name != "venv":
        return Check("install", "info", f"running from {sys.prefix} (not an install.sh layout)")
    missing = [p for p in (plugin, prefix / "lib", prefix / "completions", Path(sys.prefix) / "bin" / "claude-docker")
               if not p.exists()]
    if missing:
        return Check("install", "fail", "missing: " + ", ".join(map(str, missing)), "run install.sh again")
    return Check("install", "ok", f"{prefix} (python {sys.version.split()[0]})")


def check_exporters() -> list[Check]:
    """Where telemetry goes, when configured. Such URLs and headers often carry credentials: shown redacted."""
    from claude_docker import redact
    from claude_docker.obs import datadog, flush, otlp

    checks = []
    if flush.pushgateway():
        checks.append(Check("pushgateway", "info", redact.url(flush.pushgateway())))
    if otlp.endpoint():
        sent = ", ".join(f"{k}: {v}" for k, v in redact.headers(otlp.headers()).items() if k != "Content-Type")
        checks.append(Check("otlp", "info", redact.url(otlp.endpoint()) + (f" with {sent}" if sent else "")))
    if datadog.configured():
        checks.append(Check("datadog", "info", " and ".join(map(redact.url, datadog.urls())) + ", with DD-API-KEY"))
    return checks


def check_held() -> Check:
    """Changes sessions made that the boundary held: the user should look at them (docs/SECURITY.md)."""
    from claude_docker.boundary.held import count_pending

    pending = count_pending()
    if pending:
        return Check("held changes", "warn", f"{pending} change(s) from sessions held for your review",
                     "claude-docker held list")
    return Check("held changes", "ok", "nothing held for review")


def check_alerts() -> Check:
    """Alerts firing, notifications stuck, a broken alerting.toml, no way to reach the user (docs/ALERTING.md)."""
    from claude_docker.alerting import report

    status, detail, fix = report.doctor()
    return Check("alerts", status, detail, fix)


def check_rollout(client) -> Check:
    """The rollout in progress, if any, and whether the images it runs by id are still on the engine."""
    from docker.errors import DockerException, ImageNotFound

    from claude_docker.rollout import plan as plans
    from claude_docker.rollout import state as rollout_state
    from claude_docker.rollout.images import short

    try:
        state = rollout_state.load()
    except ToolError as exc:
        return Check("rollout", "fail", exc.message.partition(": nothing")[0],
                     f"mv {rollout_state.state_file()} {rollout_state.state_file()}.bad")
    dep = state["deployment"]
    # (the candidate gone: a rollback ends its sessions' failures; the stable one gone: only unpinning it does)
    used = [(i, "claude-docker rollout rollback" if i is (dep and dep["candidate"])
             else "claude-docker rollout rollback --to settings")
            for i in (dep and dep["candidate"], dep and dep["baseline"], state["stable"]) if i]
    for image, fix in used:
        try:
            client.images.get(image["id"])
        except ImageNotFound:
            return Check("rollout", "fail", f"{short(image)} is gone from the engine: its sessions fail to start",
                         fix)
        except DockerException as exc:
            return Check("rollout", "warn", f"cannot ask the engine for {short(image)}: {exc}")
    if dep:
        return Check("rollout", "info", f"{short(dep['candidate'])} on {plans.percent(dep['weight'])} of new "
                                        "sessions", "claude-docker rollout status")
    stable = f"; stable: {short(state['stable'])}" if state["stable"] else ""
    return Check("rollout", "ok", "none in progress" + stable)


def _guarded(name: str, check) -> list[Check]:
    """A check that reads a refused setting (reported by check_settings already) is skipped, saying why."""
    try:
        found = check()
    except ToolError as exc:
        if exc.code != exitcodes.BAD_SETTING:
            raise
        return [Check(name, "info", f"not checked: {exc.problem}")]
    return found if isinstance(found, list) else [found]


def _project_image(client, opts: RunOptions) -> list[Check]:
    try:
        cwd = Path(os.getcwd())
    except OSError:  # the current directory is gone: no project here
        return []
    return check_project_image(client, opts, cwd)


def run_checks() -> list[Check]:
    checks = [check_docker_cli(), *check_settings()]
    try:
        opts = RunOptions.from_env()
    except ToolError:  # reported by check_settings
        opts = None
    daemon, client = check_daemon()
    checks.append(daemon)
    if client is not None:
        checks.append(check_uid_mapping(client))
        if opts is not None:
            checks += check_images(client, opts)
            checks += _project_image(client, opts)
            checks.append(check_network(client, opts.network))
            checks.append(check_rollout(client))
            if opts.network == "allowlist":
                checks += [check_forwarder(), check_allowlist(opts)]
        checks += _guarded("orphans", lambda: check_orphans(client))
    claude = ClaudeHome.from_env()
    checks += check_host_config(claude)
    checks += _guarded("disk space", lambda: check_disk([state_dir(), claude.config_dir]))
    checks.append(check_install())
    checks += _guarded("held changes", check_held)
    checks += _guarded("alerts", check_alerts)
    checks.append(damage.check())
    checks.append(keptaside.doctor_check())
    return checks + _guarded("exporters", check_exporters)
