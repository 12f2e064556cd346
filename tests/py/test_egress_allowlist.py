"""The egress allowlist: entry syntax, matching, sources, live reload, edits; and where an allowed request
may connect (destination)."""

from __future__ import annotations

import json
import os
import socket

import pytest

from claude_docker import exitcodes
from claude_docker.egress import allowlist, destination
from claude_docker.egress.allowlist import Allowlist, parse_entry, parse_list
from claude_docker.errors import ToolError


def events_of(home, name):
    path = home / ".claude-docker-events.jsonl"
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["event"] == name]


@pytest.mark.parametrize(("text", "normal", "ports"), [
    ("example.com", "example.com", (80, 443)),
    ("Example.COM.", "example.com", (80, 443)),
    ("example.com:8080", "example.com:8080", (8080,)),
    ("example.com:0443", "example.com:443", (443,)),
    ("example.com:*", "example.com:*", None),
    ("*.example.com", "*.example.com", (80, 443)),
    ("*.example.com:22", "*.example.com:22", (22,)),
    ("10.1.2.3", "10.1.2.3", (80, 443)),
    ("10.1.2.3:5432", "10.1.2.3:5432", (5432,)),
    ("[2001:db8::1]:443", "[2001:db8::1]:443", (443,)),
    ("[2001:DB8:0::1]", "[2001:db8::1]", (80, 443)),
    ("2001:db8::1", "[2001:db8::1]", (80, 443)),
    ("xn--bcher-kva.example", "xn--bcher-kva.example", (80, 443)),
    ("host.docker.internal:8080", "host.docker.internal:8080", (8080,)),
    ("[::1]:9", "[::1]:9", (9,)),
])
def test_valid_entries_and_their_normal_form(text, normal, ports):
    entry = parse_entry(text)
    assert entry.text == normal
    assert entry.ports == ports


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("exa mple.com", "not a host name"),
    ("bücher.example", "punycode"),
    ("example.com:0", "not a port"),
    ("example.com:65536", "not a port"),
    ("example.com:http", "not a port"),
    ("example.com:", "not a port"),
    ("*example.com", "wildcard"),
    ("foo.*.example.com", "wildcard"),
    ("*.10.0.0.1", "not an address"),
    ("-bad.example", "not a host name"),
    ("a" * 64 + ".example", "not a host name"),
    (".".join(["a" * 60] * 5), "longer than 253"),
    ("256.1.1.1", "not an IPv4 address"),
    ("127.1", "not an IPv4 address"),
    ("example.123", "ends in a number"),
    ("[::1", "closing"),
    ("[example.com]:80", "brackets are for IPv6"),
    ("[::1]x", "only :PORT"),
    ("fe80::1%eth0", "not an IPv6 address"),
    ("127.0.0.2", "loopback"),
    ("169.254.169.254", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("::ffff:127.0.0.2", "loopback"),
])
def test_invalid_entries_say_why(text, why):
    with pytest.raises(ValueError, match=why):
        parse_entry(text)


def test_a_list_takes_commas_and_whitespace_and_names_the_bad_entry():
    assert [e.text for e in parse_list(" a.example, b.example:81\n*.c.example,,")] == [
        "a.example", "b.example:81", "*.c.example"]
    with pytest.raises(ValueError, match=r"'b_d\.example'"):
        parse_list("a.example b_d.example")


def test_matching_names_wildcards_and_ports():
    allow = Allowlist(parse_list("example.com *.wild.example:8443 any.example:* 10.0.0.7 [2001:db8::1]:443"))
    assert allow.match("example.com", 443).text == "example.com"
    assert allow.match("EXAMPLE.com.", 80).text == "example.com"
    assert allow.match("example.com", 8080) is None
    assert allow.match("www.example.com", 443) is None  # an exact entry is not a wildcard
    assert allow.match("a.wild.example", 8443).text == "*.wild.example:8443"
    assert allow.match("a.b.c.wild.example", 8443) is not None  # any depth
    assert allow.match("wild.example", 8443) is None  # not the apex
    assert allow.match("a.wild.example", 443) is None
    assert allow.match("evilwild.example", 8443) is None
    assert allow.match("any.example", 1) is not None
    assert allow.match("10.0.0.7", 80) is not None
    assert allow.match("10.0.0.8", 80) is None
    assert allow.match("2001:db8:0::1", 443) is not None
    assert allow.match("not a host", 443) is None


def test_an_exact_entry_is_preferred_over_a_wildcard():
    allow = Allowlist(parse_list("*.example.com api.example.com"))
    assert not allow.match("api.example.com", 443).wildcard


def test_loopback_aliases_are_one_host_and_nothing_else_is_loopback():
    allow = Allowlist(parse_list("host.docker.internal:8080"))
    for alias in ("host.docker.internal", "localhost", "LOCALHOST.", "127.0.0.1", "::1"):
        assert allow.match(alias, 8080) is not None, alias
        assert allow.match(alias, 8081) is None
    assert allow.match("127.0.0.2", 8080) is None
    assert Allowlist(parse_list("localhost:*")).match("host.docker.internal", 5) is not None
    # A name entry never matches a loopback alias, and an alias entry no name.
    assert Allowlist(parse_list("*.internal")).match("host.docker.internal", 443) is None
    assert allow.match("docker.internal", 8080) is None


def test_defaults_are_claude_codes_endpoints_on_443_only(home, monkeypatch):
    monkeypatch.delenv("CLAUDE_DOCKER_ALLOW_HOSTS", raising=False)
    effective = allowlist.effective({})
    assert {e.text for e in effective.entries} == {f"{h}:443" for h in allowlist.DEFAULT_HOSTS}
    assert effective.match("api.anthropic.com", 443).source == "default"
    assert effective.match("api.anthropic.com", 80) is None
    for off in ("statsig.anthropic.com", "sentry.io", "downloads.claude.ai", "registry.npmjs.org",
                "raw.githubusercontent.com"):
        assert effective.match(off, 443) is None, off


def test_effective_joins_env_and_file_and_names_the_bad_source(home):
    path = allowlist.allowlist_file()
    path.parent.mkdir(parents=True)
    path.write_text("# mine\n\nfile.example  # a comment\n")
    got = allowlist.effective({"CLAUDE_DOCKER_ALLOW_HOSTS": "env.example"})
    assert got.match("file.example", 443).where == f"{path}:3"
    assert got.match("env.example", 443).source == "env"
    with pytest.raises(ToolError) as bad_env:
        allowlist.effective({"CLAUDE_DOCKER_ALLOW_HOSTS": "ok.example nope*"})
    assert bad_env.value.code == exitcodes.BAD_SETTING
    assert bad_env.value.message.startswith("CLAUDE_DOCKER_ALLOW_HOSTS: 'nope*'")
    path.write_text("file.example\n\nbad..example\n")
    with pytest.raises(ToolError) as bad_file:
        allowlist.effective({})
    assert bad_file.value.message.startswith(f"{path}:3: 'bad..example'")
    assert "\n" not in bad_file.value.message
    path.write_bytes(b"\xff\n")
    with pytest.raises(ToolError, match="not UTF-8"):
        allowlist.effective({})


def test_live_sees_edits_keeps_the_last_good_list_and_warns_once_per_bad_version(home):
    path = allowlist.allowlist_file()
    live = allowlist.Live({})  # no file yet: defaults only
    assert live.current().match("new.example", 443) is None
    path.parent.mkdir(parents=True)
    path.write_text("new.example\n")
    assert live.current().match("new.example", 443) is not None
    path.write_text("new.example\nbroken entry\n")
    for _ in range(3):
        assert live.current().match("new.example", 443) is not None
    warned = events_of(home, "egress.allowlist_invalid")
    assert len(warned) == 1 and warned[0]["level"] == "warn" and ":2:" in warned[0]["message"]
    path.write_text("other.example\n")
    assert live.current().match("new.example", 443) is None
    assert live.current().match("other.example", 443) is not None
    os.unlink(path)
    assert live.current().match("other.example", 443) is None
    assert len(events_of(home, "egress.allowlist_invalid")) == 1


def test_live_refuses_to_start_on_a_bad_file(home):
    path = allowlist.allowlist_file()
    path.parent.mkdir(parents=True)
    path.write_text("*\n")
    with pytest.raises(ToolError, match=":1:"):
        allowlist.Live({})


def test_add_and_remove_keep_comments_and_write_0600(home):
    path = allowlist.allowlist_file()
    added, already = allowlist.add(["a.example", "B.example:81", "a.example", "api.anthropic.com:443"])
    assert [e.text for e in added] == ["a.example", "b.example:81"]
    assert [e.text for e in already] == ["a.example", "api.anthropic.com:443"]
    assert os.stat(path).st_mode & 0o777 == 0o600
    path.write_text(path.read_text() + "# keep me\nc.example\n")
    removed = allowlist.remove(["A.EXAMPLE."], environ={})
    assert [e.text for e in removed] == ["a.example"]
    lines = path.read_text().splitlines()
    assert "# keep me" in lines and "b.example:81" in lines and "c.example" in lines and "a.example" not in lines


def test_bad_edits_write_nothing(home):
    path = allowlist.allowlist_file()
    allowlist.add(["keep.example"])
    before = path.read_bytes()
    for call, arg in ((allowlist.add, ["ok.example", "bad_entry"]),
                      (lambda e: allowlist.remove(e, environ={}), ["keep.example", "api.anthropic.com:443"]),
                      (lambda e: allowlist.remove(e, environ={"CLAUDE_DOCKER_ALLOW_HOSTS": "env.example"}),
                       ["env.example"]),
                      (lambda e: allowlist.remove(e, environ={}), ["missing.example"])):
        with pytest.raises(ToolError) as exc:
            call(arg)
        assert exc.value.code == exitcodes.USAGE and "\n" not in exc.value.message
        assert path.read_bytes() == before


# -- destination


def fake_resolver(*addresses):
    def resolve(name, port, **_kw):
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port, 0, 0) if ":" in a else (a, port)) for a in addresses]
    return resolve


def test_destinations_of_addresses_and_loopback_aliases():
    entry = parse_entry("localhost:*")
    assert destination.addresses(entry, "host.docker.internal", 9) == [(socket.AF_INET, ("127.0.0.1", 9))]
    assert destination.addresses(entry, "::1", 9) == [(socket.AF_INET6, ("::1", 9, 0, 0))]
    assert destination.addresses(parse_entry("10.0.0.7"), "10.0.0.7", 80) == [(socket.AF_INET, ("10.0.0.7", 80))]


def test_a_name_resolving_to_a_local_address_is_denied():
    entry = parse_entry("rebind.example")
    for local in (["127.0.0.1"], ["169.254.169.254"], ["::ffff:127.0.0.1"], ["fe80::1"], ["0.0.0.0"], ["::"]):
        with pytest.raises(destination.Refused) as exc:
            destination.addresses(entry, "rebind.example", 443, resolve=fake_resolver(*local))
        assert exc.value.outcome == "denied" and exc.value.reason == "resolves to a local address", local
    # Local answers are dropped, the rest kept, in order.
    got = destination.addresses(entry, "rebind.example", 443, resolve=fake_resolver("127.0.0.1", "93.184.215.14"))
    assert got == [(socket.AF_INET, ("93.184.215.14", 443))]


def test_private_ranges_only_through_an_exact_name():
    exact, wild = parse_entry("db.corp.example"), parse_entry("*.corp.example")
    for private in ("10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "fd00::1"):
        assert destination.addresses(exact, "db.corp.example", 443, resolve=fake_resolver(private))
        with pytest.raises(destination.Refused, match="private") as exc:
            destination.addresses(wild, "db.corp.example", 443, resolve=fake_resolver(private))
        assert exc.value.outcome == "denied"


def test_a_name_that_does_not_resolve_fails_only_that_connection():
    with pytest.raises(destination.Refused) as exc:
        destination.addresses(parse_entry("gone.invalid"), "gone.invalid", 443, resolve=fake_resolver())
    assert exc.value.outcome == "failed" and exc.value.reason == "cannot resolve gone.invalid"
    with pytest.raises(destination.Refused, match="cannot resolve"):
        destination.addresses(parse_entry("x.invalid"), "x.invalid", 443)  # the real resolver
