"""Sync-out given damaged or unusual staged files: one bad file is kept aside with a reason that names it
while the session's other changes are applied, what Claude Code itself accepts as JSON is accepted, and every
line said to the user is true."""

from __future__ import annotations

import json
import os
import time

import test_configsync
from claude_docker.paths import state_dir
from test_configsync import Sim, host_json

claude_home = test_configsync.claude_home  # the fixture: a Claude state in HOME


def kept(sim, name):
    return state_dir() / "quarantine" / sim.session.session_id / name


def test_a_staged_file_replaced_by_a_directory_is_named_and_the_rest_applies(home, claude_home):
    sim = Sim(home)
    settings = sim.config / "settings.json"
    settings.unlink()
    settings.mkdir()
    (settings / "x").write_text("{}")
    sim.rewrite_json(sim.claude_json, lambda d: d.update(numStartups=2))
    report = sim.finish()
    assert host_json(home / ".claude.json")["numStartups"] == 2
    assert host_json(claude_home / "settings.json") == {"theme": "dark"}
    assert report.messages() == ["not applied: settings.json: a directory where a file belongs"]
    assert sim.finish().messages() == []  # a retry has nothing left to do, and does not fail


def test_a_lone_surrogate_from_json_stringify_is_accepted_and_round_trips(home, claude_home):
    """JSON.stringify cuts a string inside an emoji to a lone surrogate and writes it escaped: Claude Code
    reads it back, so the file is the session's valid state."""
    (claude_home / "stats-cache.json").write_text('{"a": 1}')
    sim = Sim(home)
    (sim.config / "stats-cache.json").write_bytes(b'{"a": 1, "label": "hi \\ud83d"}')
    (claude_home / "stats-cache.json").write_text('{"a": 1, "b": 2}')  # the host's change: a real merge
    report = sim.finish()
    raw = (claude_home / "stats-cache.json").read_bytes()
    assert b"\\ud83d" in raw
    assert json.loads(raw) == {"a": 1, "b": 2, "label": "hi \ud83d"}
    assert report.quarantined == [] and report.merges == 1


def test_a_lone_surrogate_does_not_cost_the_sessions_other_changes(home, claude_home):
    sim = Sim(home)
    raw = sim.claude_json.read_bytes()
    sim.claude_json.write_bytes(raw.replace(b'"numStartups": 1', b'"numStartups": 2, "lastTip": "\\ud83d"'))
    with open(sim.config / "history.jsonl", "ab") as f:
        f.write(b'{"display":"cut \\ud83d"}\n')
    report = sim.finish()
    assert host_json(home / ".claude.json")["numStartups"] == 2
    assert (claude_home / "history.jsonl").read_bytes().endswith(b'{"display":"cut \\ud83d"}\n')
    assert report.quarantined == []


def test_invalid_utf8_that_node_reads_is_applied_as_node_reads_it(home, claude_home):
    """Node decodes invalid UTF-8 to U+FFFD before JSON.parse: such a file is Claude Code's valid state. It goes
    to the host as Node read it, in UTF-8, so that the check at the next start reads it too (a session must not
    leave a file that stops every later `claude`)."""
    from claude_docker.backup.configcheck import json_defect

    (claude_home / "settings.json").write_text('{"theme": "light"}')
    sim = Sim(home)
    (sim.config / "settings.json").write_bytes(b'{"theme": "dark\xed\xa0\xbd\xff"}')
    report = sim.finish()
    host = (claude_home / "settings.json").read_bytes()
    assert report.quarantined == [] and json_defect(host) is None
    assert json.loads(host.decode("utf-8")) == {"theme": "dark\ufffd\ufffd\ufffd\ufffd"}


def test_what_json_parse_refuses_is_still_kept_aside(home, claude_home):
    (claude_home / "stats-cache.json").write_text('{"a": 1}')
    sim = Sim(home)
    (sim.config / "stats-cache.json").write_text('{"a": NaN}')
    report = sim.finish()
    assert host_json(claude_home / "stats-cache.json") == {"a": 1}
    assert report.quarantined and kept(sim, "stats-cache.json").read_text() == '{"a": NaN}'


def test_json_nested_600_deep_is_held_with_a_reason_and_the_rest_applies(home, claude_home):
    sim = Sim(home)
    raw = sim.claude_json.read_bytes()
    deep = b'{"a": ' * 600 + b"1" + b"}" * 600
    sim.claude_json.write_bytes(raw.replace(b'"numStartups": 1', b'"numStartups": 2, "deep": ' + deep))
    sim.rewrite_json(sim.config / "settings.json", lambda d: d.update(theme="light"))
    report = sim.finish()
    assert host_json(claude_home / "settings.json")["theme"] == "light"
    host = host_json(home / ".claude.json")
    assert host["numStartups"] == 2 and "deep" not in host
    assert report.held == [".claude.json: deep: a key claude-docker does not know (held by default)"]


def test_json_too_deep_to_merge_is_kept_aside_with_a_reason_and_the_rest_applies(home, claude_home):
    (claude_home / "stats-cache.json").write_text('{"a": 1}')
    sim = Sim(home)
    deep = '{"a": 1, "deep": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}"
    (sim.config / "stats-cache.json").write_text(deep)
    (claude_home / "stats-cache.json").write_text('{"a": 1, "b": 2}')  # the host's change: a real merge
    sim.rewrite_json(sim.config / "settings.json", lambda d: d.update(theme="light"))
    report = sim.finish()
    assert host_json(claude_home / "settings.json")["theme"] == "light"
    assert host_json(claude_home / "stats-cache.json") == {"a": 1, "b": 2}
    where = kept(sim, "stats-cache.json")
    assert report.messages() == [
        f"not applied: stats-cache.json: JSON nested too deeply to merge; the session's copy is kept in {where}"]
    assert where.read_text() == deep


def test_kept_aside_is_said_only_of_what_was_kept(home, claude_home):
    sim = Sim(home)
    (sim.config / "CLAUDE.md").unlink()
    (sim.config / "CLAUDE.md").symlink_to("/etc/hostname")
    (sim.config / "settings.json").write_text('{"theme": ')
    lines = sim.finish().messages()
    assert lines == ["not applied: CLAUDE.md: a link (links are never followed)",
                     ("not applied: settings.json: invalid JSON (unexpected end of data: line 1 column 11 (char 10)); "
                      f"the session's copy is kept in {kept(sim, 'settings.json')}")]


def test_claude_codes_empty_mcp_servers_of_a_first_session_say_nothing(home, claude_home):
    """Claude Code writes these defaults on the first session of every new project: nothing to review."""
    sim = Sim(home)
    sim.rewrite_json(sim.claude_json, lambda d: (
        d.update(mcpServers={}),
        d["projects"].update({"/new": {"allowedTools": [], "mcpContextUris": [], "mcpServers": {},
                                       "enabledMcpjsonServers": [], "disabledMcpjsonServers": [],
                                       "hasTrustDialogAccepted": False, "projectOnboardingSeenCount": 0}})))
    report = sim.finish()
    assert report.messages() == [] and not report.held
    host = host_json(home / ".claude.json")
    assert host["mcpServers"] == {} and host["projects"]["/new"]["mcpServers"] == {}


def test_a_rewrite_in_place_that_sets_mtime_back_is_still_seen(home, claude_home):
    """The change signature (fsio.signature) holds ctime, which no writer can set back."""
    sim = Sim(home)
    staged = sim.config / "settings.json"
    before = staged.stat()
    time.sleep(0.05)  # file times tick coarsely: a container never starts within one tick of its staging
    with open(staged, "r+") as f:  # same inode, same size
        f.write('{"theme": "ansi"}\n')
    os.utime(staged, ns=(before.st_atime_ns, before.st_mtime_ns))
    sim.finish()
    assert host_json(claude_home / "settings.json") == {"theme": "ansi"}
