"""Where an allowed request may connect, decided per connection on the host.

An address entry connects to exactly that address, a loopback alias to the host's loopback. A name is
resolved each time (no cache: a CDN's addresses move, and a name that fails fails only this connection),
and addresses that are local to the host are dropped: an allowed name that resolves to 127.0.0.1 or to a
cloud metadata address (DNS rebinding) never reaches them. Addresses that are not global (private ranges,
shared and reserved ones) are reachable through an exact name only: `*.example.com` must not open up a LAN
that some subdomain happens to point at. The name is resolved as the host resolves it (its hosts file and
search domains included: an exact entry means what it means on the host), which the global-address rule
keeps from leading a wildcard entry inside.
"""

from __future__ import annotations

import ipaddress
import socket

from claude_docker.egress.allowlist import Entry, local_reason, normal_host


class Refused(Exception):
    """This connection can't go ahead: `outcome` is "denied" (a rule says no) or "failed" (the name does
    not resolve); `reason` is one short line."""

    def __init__(self, outcome: str, reason: str):
        super().__init__(reason)
        self.outcome, self.reason = outcome, reason


def _private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global


def addresses(entry: Entry, host: str, port: int, resolve=None) -> list[tuple[int, tuple]]:
    """(family, sockaddr) to try in order for `host`:`port`, which `entry` allowed. Refused if none.
    `resolve` is getaddrinfo's stand-in (tests)."""
    name, kind = normal_host(host)
    if kind == "loopback":
        return [(socket.AF_INET6, ("::1", port, 0, 0))] if name == "::1" else [(socket.AF_INET, ("127.0.0.1", port))]
    if kind == "ip":
        family = socket.AF_INET6 if ":" in name else socket.AF_INET
        return [(family, (name, port, 0, 0) if family == socket.AF_INET6 else (name, port))]
    try:
        found = (resolve or socket.getaddrinfo)(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise Refused("failed", f"cannot resolve {name}") from None
    out: list[tuple[int, tuple]] = []
    local = private = False
    for family, _type, _proto, _canon, sockaddr in found:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if local_reason(ip):
            local = True
        elif entry.wildcard and _private(ip):
            private = True
        elif (family, sockaddr) not in out:
            out.append((family, sockaddr))
    if out:
        return out
    if private:
        raise Refused("denied", f"resolves to a private address (a wildcard entry never reaches one: allow {name} "
                                "itself)")
    if local:
        raise Refused("denied", "resolves to a local address")
    raise Refused("failed", f"cannot resolve {name}")
