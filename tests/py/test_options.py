import pytest

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.options import DEFAULT_IMAGE, RunOptions


def test_defaults_are_hardened():
    o = RunOptions.from_env({})
    assert o.image == DEFAULT_IMAGE and o.network == "allowlist"
    assert o.memory == "8g" and o.pids_limit == 1024
    assert not o.allow_new_privileges and not o.docker_socket and o.cap_add == ()


def test_relaxing_options():
    o = RunOptions.from_env({"CLAUDE_DOCKER_MEMORY": "none", "CLAUDE_DOCKER_PIDS_LIMIT": "0",
                             "CLAUDE_DOCKER_CAP_ADD": "NET_ADMIN, NET_RAW", "CLAUDE_DOCKER_ALLOW_NEW_PRIVILEGES": "1",
                             "CLAUDE_DOCKER_RUN_ARGS": "--add-host 'h:127.0.0.1'", "CLAUDE_DOCKER_ENV": "FOO,BAR"})
    assert o.memory is None and o.pids_limit is None
    assert o.cap_add == ("NET_ADMIN", "NET_RAW") and o.allow_new_privileges
    assert o.extra_args == ("--add-host", "h:127.0.0.1") and o.extra_env == ("FOO", "BAR")


@pytest.mark.parametrize("env", [{"CLAUDE_DOCKER_V2_PROBABILITY": "1.5"}, {"CLAUDE_DOCKER_V2_PROBABILITY": "x"},
                                 {"CLAUDE_DOCKER_PIDS_LIMIT": "many"}, {"CLAUDE_DOCKER_RUN_ARGS": "'unclosed"}])
def test_bad_values_are_one_clear_error(env):
    with pytest.raises(ToolError) as err:
        RunOptions.from_env(env)
    assert err.value.code == exitcodes.TOOL_FAILED
    assert next(iter(env)) in err.value.message


def test_slot_picking():
    o = RunOptions.from_env({"CLAUDE_DOCKER_IMAGE": "a:1", "CLAUDE_DOCKER_V2_IMAGE": "b:2",
                             "CLAUDE_DOCKER_V2_PROBABILITY": "0.25"})
    assert o.pick_slot(0.1) == ("v2", "b:2")
    assert o.pick_slot(0.3) == ("v1", "a:1")
    assert RunOptions.from_env({"CLAUDE_DOCKER_IMAGE": "a:1"}).pick_slot(0.0) == ("v1", "a:1")
