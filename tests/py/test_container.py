"""The docker run command line, built without Docker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from claude_docker.container import Mount, SessionSpec, container_name, run_argv
from claude_docker.errors import ToolError
from claude_docker.liveness import Place
from claude_docker.options import RunOptions


def bridged(env: dict) -> RunOptions:
    """Options on Docker's bridge: the argv alone (allowlist mode's join is test_egress_launcher's)."""
    return RunOptions.from_env({"CLAUDE_DOCKER_NETWORK": "bridge", **env})


def spec(**over):
    base = dict(session_id="abcdef123456", name="claude-docker-p-abcdef12", image="img:1", slot="v1",
                project=Path("/h/p"), workdir=Path("/h/p/sub"), home=Path("/h"), uid=1000, gid=1000, wrapper_pid=42,
                wrapper_start="777", host="box", started="2026-01-01T00:00:00Z",
                mounts=(Mount(Path("/s/home"), Path("/h")), Mount(Path("/h/p"), Path("/h/p"))),
                env={"HOME": "/h", "DISABLE_AUTOUPDATER": "1"}, tty=False, stdin=True, host_userns=False)
    base.update(over)
    return SessionSpec(**base)


def test_argv_shape_and_hardening():
    argv = run_argv("/usr/bin/docker", spec(), bridged({}), ["-p", "hi"],
                    {})
    assert argv[:6] == ["/usr/bin/docker", "run", "--rm", "--init", "--name", "claude-docker-p-abcdef12"]
    joined = " ".join(argv)
    for flag in ("--cap-drop ALL", "--security-opt no-new-privileges", "--pids-limit 1024", "--memory 8g",
                 "--user 1000:1000", "--network bridge", "--workdir /h/p/sub", "--log-driver none"):
        assert flag in joined
    assert argv[-4:] == ["claude", "img:1", "-p", "hi"] and argv[-5] == "--entrypoint"
    assert "docker.sock" not in joined and "--tty" not in argv


def _labels(argv: list[str]) -> set[str]:
    return {argv[i + 1] for i, a in enumerate(argv) if a == "--label"}


def test_labels_identify_the_session_its_owner_and_where_its_wrapper_runs():
    labels = _labels(run_argv("docker", spec(owner=4242, place=Place("box", "b00t", "4026532000", "m4ch1ne")),
                              bridged({}), [], {}))
    assert {"io.claude-docker.tool=claude-docker", "io.claude-docker.session=abcdef123456",
            "io.claude-docker.project=/h/p", "io.claude-docker.wrapper-pid=42", "io.claude-docker.host=box",
            "io.claude-docker.slot=v1", "io.claude-docker.wrapper-start=777",
            "io.claude-docker.started=2026-01-01T00:00:00Z", "io.claude-docker.uid=4242",
            "io.claude-docker.boot=b00t", "io.claude-docker.pidns=4026532000",
            "io.claude-docker.machine=m4ch1ne"} <= labels


def test_by_default_the_owner_and_place_are_the_wrappers_own():
    """The wrapper builds its own argv: its real uid (not the container's user, 0 under rootless Docker), its boot
    and PID namespace."""
    labels = _labels(run_argv("docker", spec(uid=os.getuid() + 1234), bridged({}), [], {}))
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert {f"io.claude-docker.uid={os.getuid()}", f"io.claude-docker.boot={boot}",
            f"io.claude-docker.pidns={os.stat('/proc/self/ns/pid').st_ino}"} <= labels


def test_environment_goes_by_name_never_by_value():
    environ = {"ANTHROPIC_API_KEY": "sk-secret", "CLAUDE_CODE_X": "1", "LC_ALL": "C", "TERM": "xterm", "PATH": "/bin",
               "MINE": "1", "HOME": "/elsewhere"}
    argv = run_argv("docker", spec(), bridged({"CLAUDE_DOCKER_ENV": "MINE"}), [], environ)
    envs = [argv[i + 1] for i, a in enumerate(argv) if a == "--env"]
    assert {"ANTHROPIC_API_KEY", "CLAUDE_CODE_X", "LC_ALL", "TERM", "MINE", "HOME=/h"} <= set(envs)
    assert "sk-secret" not in " ".join(argv) and "PATH" not in envs and "HOME" not in envs


def test_mount_fields_with_commas_and_quotes_are_quoted():
    assert Mount(Path("/a,b"), Path('/c"d'), True).args() == ["--mount",
                                                              'type=bind,"source=/a,b","target=/c""d",readonly']


def test_a_path_that_is_not_utf8_is_refused_with_its_name():
    odd = Path(os.fsdecode(b"/h/caf\xe9"))
    with pytest.raises(ToolError) as err:
        Mount(odd, odd).args()
    assert err.value.message.startswith("/h/caf\\xe9: Docker can't mount")


def test_tty_only_when_asked_and_opt_in_socket():
    opts = bridged({"CLAUDE_DOCKER_DOCKER_SOCKET": "1", "CLAUDE_DOCKER_READ_ONLY": "1"})
    argv = run_argv("docker", spec(tty=True, stdin=False), opts, [], {})
    assert "--tty" in argv and "--interactive" not in argv
    assert "type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock" in argv
    assert "--read-only" in argv


def test_userns_remapped_daemon_gets_host_userns():
    assert "--userns" not in run_argv("docker", spec(), bridged({}), [], {})
    argv = run_argv("docker", spec(host_userns=True), bridged({}), [], {})
    assert argv[argv.index("--userns") + 1] == "host"


def test_uid_mapping_of_the_daemon():
    from claude_docker.engine import uid_mapping

    assert uid_mapping({"SecurityOptions": ["name=seccomp,profile=default"]}) == "direct"
    assert uid_mapping({"SecurityOptions": ["name=seccomp,profile=default", "name=rootless"]}) == "rootless"
    assert uid_mapping({"SecurityOptions": ["name=userns"]}) == "userns"
    assert uid_mapping({}) == "direct"


def test_container_names_are_unique_and_valid():
    assert container_name(Path("/x/My Project!"), "0123456789ab") == "claude-docker-My-Project-01234567"
    assert container_name(Path("/"), "0123456789ab") == "claude-docker-root-01234567"
