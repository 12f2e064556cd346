"""Which hosts a session may reach: the defaults Claude Code needs, CLAUDE_DOCKER_ALLOW_HOSTS, and the file
<state dir>/egress-allowlist, which `claude-docker egress allow|remove` edit and running proxies re-read.

Entries: `HOST` (ports 80 and 443), `HOST:PORT`, `HOST:*`, `*.DOMAIN` (any subdomain, not the domain itself)
with the same port forms, an IPv4 address, `[IPv6]` with an optional port (a bare IPv6 address when no port).
Names are ASCII (a non-ASCII name is written in its punycode form), case-insensitive, trailing dot dropped.

The host's loopback has four names here: host.docker.internal, localhost, 127.0.0.1 and ::1. An entry naming
any of them allows all four (on its ports); nothing else reaches the host's loopback (destination.py).
"""

from __future__ import annotations

import ipaddress
import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError

ENV = "CLAUDE_DOCKER_ALLOW_HOSTS"
FILE_NAME = "egress-allowlist"
FILE_LIMIT = 1 << 20  # an allowlist is a few lines; a larger file is a mistake, never read whole
WEB_PORTS = (80, 443)
LOOPBACK_ALIASES = frozenset({"host.docker.internal", "localhost", "127.0.0.1", "::1"})

# What Claude Code needs to work (docs `network-config.md`): the API, login and token refresh, and the MCP
# connector proxy. Left out: what the session's CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC and
# DISABLE_AUTOUPDATER turn off anyway (statsig, sentry, Datadog intake, release notes and updates from
# downloads.claude.ai, registry.npmjs.org, raw.githubusercontent.com): the image pins Claude Code's version,
# so a session has no use for them. HTTPS only: none of these speak plain HTTP.
DEFAULT_HOSTS = ("api.anthropic.com", "claude.ai", "claude.com", "platform.claude.com", "console.anthropic.com",
                 "mcp-proxy.anthropic.com")

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DOTTED_NUMBERS = re.compile(r"[0-9.]+")
_PORT = re.compile(r"[0-9]{1,5}")


def local_reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is never a destination of its own (loopback, link-local, unspecified, multicast,
    reserved), its IPv4-mapped form included; None for an address that may be one."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK):
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    return None


_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


def normal_host(raw: str) -> tuple[str, str]:
    """(host, kind) of a host as an entry or a request names it (no brackets, no port): the name lowercased
    without its trailing dot, or the address in its compressed form; kind is "name", "ip" or "loopback".
    ValueError with a short reason if it is neither a valid name nor an address."""
    if not raw:
        raise ValueError("no host")
    if ":" in raw:
        try:
            if "%" in raw:  # a zone id names an interface of the host, never a destination
                raise ValueError
            text = str(ipaddress.IPv6Address(raw))
        except ValueError:
            raise ValueError("not an IPv6 address") from None
        return text, "loopback" if text in LOOPBACK_ALIASES else "ip"
    if _DOTTED_NUMBERS.fullmatch(raw):
        try:
            text = str(ipaddress.IPv4Address(raw))
        except ValueError:
            raise ValueError("not an IPv4 address") from None
        return text, "loopback" if text in LOOPBACK_ALIASES else "ip"
    name = raw[:-1] if raw.endswith(".") else raw
    if not name.isascii():
        raise ValueError("not ASCII: write the name in its punycode (xn--) form")
    name = name.lower()
    if len(name) > 253:
        raise ValueError("longer than 253 characters")
    labels = name.split(".")
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise ValueError("not a host name (labels of 1-63 letters, digits and inner hyphens)")
    if labels[-1].isdigit():  # `127.1`, `0x7f.1`: a resolver reads those as addresses
        raise ValueError("not a host name (it ends in a number)")
    return name, "loopback" if name in LOOPBACK_ALIASES else "name"


class Entry:
    """One allowlist entry. `ports` is a tuple, or None for any port; `port_text` is the port as written
    ("" for none: 80 and 443). `source` is default, env or file; `where` names it for messages."""

    __slots__ = ("host", "kind", "port_text", "ports", "source", "where", "wildcard")

    def __init__(self, host: str, kind: str, wildcard: bool, port_text: str, source: str = "file",
                 where: str = ""):
        self.host, self.kind, self.wildcard, self.port_text = host, kind, wildcard, port_text
        self.ports: tuple[int, ...] | None = (
            None if port_text == "*" else (int(port_text),) if port_text else WEB_PORTS)
        self.source, self.where = source, where

    @property
    def text(self) -> str:
        """The entry in its normal written form."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return ("*." if self.wildcard else "") + host + (f":{self.port_text}" if self.port_text else "")

    @property
    def key(self) -> tuple:
        return self.wildcard, self.host, self.port_text

    def ports_shown(self) -> str:
        return "*" if self.ports is None else ",".join(map(str, self.ports))

    def to_json(self) -> dict:
        return {"entry": self.text, "ports": self.ports_shown(), "source": self.source, "where": self.where}

    def __repr__(self) -> str:
        return f"Entry({self.text!r}, {self.source})"


def parse_entry(text: str, source: str = "file", where: str = "") -> Entry:
    """One entry; ValueError with a short reason if it is not one."""
    s = text.strip()
    if not s:
        raise ValueError("empty entry")
    wildcard = False
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise ValueError("no closing ]")
        host_raw, rest = s[1:end], s[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError("only :PORT may follow ]")
        if ":" not in host_raw:
            raise ValueError("brackets are for IPv6 addresses")
        has_port, port_raw = bool(rest), rest[1:]
    elif s.count(":") > 1:  # a bare IPv6 address: it can't carry a port
        host_raw, has_port, port_raw = s, False, ""
    else:
        host_raw, sep, port_raw = s.partition(":")
        has_port = bool(sep)
        if host_raw.startswith("*."):
            wildcard, host_raw = True, host_raw[2:]
    if "*" in host_raw:
        raise ValueError("a wildcard is written *.DOMAIN (any subdomain of DOMAIN)")
    if has_port and port_raw != "*":
        if not _PORT.fullmatch(port_raw) or not 1 <= int(port_raw) <= 65535:
            raise ValueError(f"{port_raw!r} is not a port (1-65535 or *)")
        port_raw = str(int(port_raw))
    host, kind = normal_host(host_raw)
    if wildcard and kind != "name":
        raise ValueError("a wildcard takes a domain name, not an address")
    if kind == "ip":
        reason = local_reason(ipaddress.ip_address(host))
        if reason:
            raise ValueError(f"{host} is a {reason} address: the host's loopback is host.docker.internal, "
                             "and nothing else local is reachable")
    return Entry(host, kind, wildcard, port_raw if has_port else "", source, where)


def parse_list(raw: str, source: str = "env", where: str = ENV) -> list[Entry]:
    """Entries separated by commas and/or whitespace (CLAUDE_DOCKER_ALLOW_HOSTS); ValueError naming the
    entry that is not one."""
    entries = []
    for item in re.split(r"[,\s]+", raw):
        if item:
            try:
                entries.append(parse_entry(item, source, where))
            except ValueError as exc:
                raise ValueError(f"{item!r}: {exc}") from None
    return entries


def defaults() -> list[Entry]:
    return [Entry(host, "name", False, "443", "default", "default") for host in DEFAULT_HOSTS]


def allowlist_file() -> Path:
    from claude_docker import paths

    return paths.state_dir() / FILE_NAME


def _file_text(path: Path) -> str | None:
    """The file's text; None if there is no file. OSError (TooLarge among them) or ValueError (not UTF-8)."""
    from claude_docker import fsio

    try:
        data = fsio.read_capped(path, FILE_LIMIT, follow=True)
    except FileNotFoundError:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None


def _entry_of_line(line: str) -> str:
    return line.split("#", 1)[0].strip()


def parse_file_text(text: str, path: Path) -> list[Entry]:
    """The entries of the file's text: one a line, `#` comments, blank lines; ValueError naming file:line."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        item = _entry_of_line(line)
        if not item:
            continue
        try:
            entries.append(parse_entry(item, "file", f"{path}:{number}"))
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {item!r}: {exc}") from None
    return entries


def read_file(path: Path) -> list[Entry]:
    """The file's entries ([] if it doesn't exist); ValueError with one line naming what is wrong."""
    try:
        text = _file_text(path)
    except OSError as exc:
        from claude_docker.errors import describe

        raise ValueError(describe(exc, path)) from None
    return [] if text is None else parse_file_text(text, path)


class Allowlist:
    def __init__(self, entries: Iterable[Entry]):
        self.entries = list(entries)

    def match(self, host: str, port: int) -> Entry | None:
        """The entry allowing `host` (as requested: a name or an address, unbracketed) on `port`, an exact
        entry before a wildcard one; None if none does."""
        try:
            name, kind = normal_host(host)
        except ValueError:
            return None
        wild = None
        for e in self.entries:
            if e.ports is not None and port not in e.ports:
                continue
            if kind == "loopback" or e.kind == "loopback":
                ok = kind == e.kind
            elif e.wildcard:
                ok = kind == "name" and name.endswith("." + e.host)
            else:
                ok = name == e.host
            if ok:
                if not e.wildcard:
                    return e
                wild = wild or e
        return wild


def _env_entries(environ: Mapping[str, str]) -> list[Entry]:
    try:
        return parse_list(environ.get(ENV, ""))
    except ValueError as exc:
        raise ToolError(f"{ENV}: {exc}", exitcodes.BAD_SETTING) from None


def effective(environ: Mapping[str, str] | None = None) -> Allowlist:
    """Defaults + CLAUDE_DOCKER_ALLOW_HOSTS + the file. ToolError(BAD_SETTING), one line naming the source
    and why, if an entry is not one."""
    env = _env_entries(os.environ if environ is None else environ)
    try:
        user = read_file(allowlist_file())
    except ValueError as exc:
        raise ToolError(str(exc), exitcodes.BAD_SETTING) from None
    return Allowlist(defaults() + env + user)


def _signature(path: Path) -> list[int] | None:
    from claude_docker import fsio

    try:
        return fsio.signature(os.stat(path))
    except OSError:
        return None


class Live:
    """The allowlist as a running proxy sees it: the file re-read whenever it changed (one stat per
    connection). An invalid edit keeps the last good list, with one warn event per bad version: a typo
    neither opens egress up nor cuts a running session off."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.path = allowlist_file()
        self._base = defaults() + _env_entries(os.environ if environ is None else environ)
        self._lock = threading.Lock()
        self._signature = _signature(self.path)
        try:
            self._list = Allowlist(self._base + read_file(self.path))
        except ValueError as exc:
            raise ToolError(str(exc), exitcodes.BAD_SETTING) from None

    def current(self) -> Allowlist:
        signature = _signature(self.path)
        if signature != self._signature:
            with self._lock:
                if signature != self._signature:
                    self._reload(signature)
        return self._list

    def _reload(self, signature: list[int] | None) -> None:
        self._signature = signature
        try:
            self._list = Allowlist(self._base + read_file(self.path))
        except ValueError as exc:
            from claude_docker.obs import events

            events.emit("egress.allowlist_invalid", f"kept the last good allowlist: {exc}", level="warn",
                        fields={"file": str(self.path), "reason": str(exc)})


HEADER = ("# claude-docker egress allowlist: one entry per line (HOST, HOST:PORT, HOST:*, *.DOMAIN, an address).\n"
          "# Edit it here or with `claude-docker egress allow|remove`; running sessions see it on their next\n"
          "# connection.\n")


def _parse_args(texts: Iterable[str]) -> list[Entry]:
    entries = []
    for t in texts:
        try:
            entries.append(parse_entry(t))
        except ValueError as exc:
            raise ToolError(f"{t!r}: {exc}", exitcodes.USAGE) from None
    return entries


def _lines_and_keys(path: Path) -> tuple[list[str], list[tuple | None]]:
    """The file's lines, and the key of the entry each holds (None for comments and blanks, which an edit
    leaves as they are); ToolError(USAGE) naming a line that is not an entry."""
    try:
        text = _file_text(path)
    except (OSError, ValueError) as exc:
        from claude_docker.errors import describe

        raise ToolError(describe(exc, path) if isinstance(exc, OSError) else str(exc)) from None
    lines = [] if text is None else text.splitlines()
    keys: list[tuple | None] = []
    for number, line in enumerate(lines, 1):
        item = _entry_of_line(line)
        try:
            keys.append(parse_entry(item).key if item else None)
        except ValueError as exc:
            # An edit would report success on a list no session can use (a start refuses it, and running
            # proxies keep their last good one): the line is the user's to fix first.
            raise ToolError(f"{path}:{number}: {exc}: fix or remove that line first", exitcodes.USAGE) from None
    return lines, keys


def _write(path: Path, lines: list[str]) -> None:
    from claude_docker import fsio
    from claude_docker.paths import ensure_private_dir

    ensure_private_dir(path.parent)
    fsio.write_atomic(path, "".join(line + "\n" for line in lines).encode(), mode=0o600)


def add(texts: Iterable[str]) -> tuple[list[Entry], list[Entry]]:
    """Add entries to the file: (added, already there or a default). Every entry is checked first: on a
    bad one, ToolError(USAGE) and nothing written."""
    from claude_docker import locking

    entries = _parse_args(texts)
    path = allowlist_file()
    added, already = [], []
    with locking.state_lock("egress-allowlist"):
        lines, keys = _lines_and_keys(path)
        present = set(keys) | {d.key for d in defaults()}
        for e in entries:
            if e.key in present:
                already.append(e)
                continue
            present.add(e.key)
            added.append(e)
        if added:
            _write(path, (lines or HEADER.splitlines()) + [e.text for e in added])
    return added, already


def remove(texts: Iterable[str], environ: Mapping[str, str] | None = None) -> list[Entry]:
    """Remove entries from the file (their lines; comments stay). An entry that is a default, comes from
    CLAUDE_DOCKER_ALLOW_HOSTS or is not in the file is ToolError(USAGE), and nothing is written."""
    from claude_docker import locking

    entries = _parse_args(texts)
    env_keys = {e.key for e in _env_entries(os.environ if environ is None else environ)}
    path = allowlist_file()
    with locking.state_lock("egress-allowlist"):
        lines, keys = _lines_and_keys(path)
        for e in entries:
            if e.key in keys:
                continue
            if e.key in {d.key for d in defaults()}:
                raise ToolError(f"{e.text} is a default entry (Claude Code needs it): it can't be removed",
                                exitcodes.USAGE)
            if e.key in env_keys:
                raise ToolError(f"{e.text} comes from {ENV}: remove it there", exitcodes.USAGE)
            raise ToolError(f"{e.text} is not in {path}", exitcodes.USAGE)
        gone = {e.key for e in entries}
        _write(path, [line for line, key in zip(lines, keys) if key not in gone])
    return entries
