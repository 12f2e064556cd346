"""Is a wrapper process still alive? A pid plus its start time, so a reused pid is not mistaken for it.

A pid and a start time mean something only where they were read: in the same PID namespace, on the same
boot of the same kernel. Every session therefore records its `Place` (container labels, manifest), and
its wrapper is judged only from that same place:

  alive      this place, and the pid runs with the recorded start time
  gone       this place, and it doesn't: the session is orphaned (cleanup, claude-dr may act on it); or
             this very machine (host name and machine id) on an earlier boot: every process of it is gone
  elsewhere  another host name, boot or PID namespace, or a record that doesn't say (written before
             places were recorded, or where /proc was unreadable): nothing here can prove it dead, so
             it counts as alive and is left to whoever runs where it runs

The namespace's inode alone is not enough: the initial PID namespace has the same inode on every boot
and every machine, and inodes are reused once a namespace is gone. The boot id tells a reboot (pids
start over) and another kernel apart; the host name is what older records had. Reuse within a boot is
harmless: a namespace gone means its wrapper is gone, and the start time still has to match.
"""

from __future__ import annotations

import os
from collections import namedtuple

ALIVE, GONE, ELSEWHERE = "alive", "gone", "elsewhere"


class Place(namedtuple("Place", "host boot pidns machine")):
    """Where a process runs: host name, boot id, PID namespace inode, machine id (strings; "" where unknown)."""

    __slots__ = ()

    @classmethod
    def of(cls, record: dict) -> Place:
        """The place a session manifest records ("" for fields a manifest of an older version lacks)."""
        return cls(*(str(record.get(field) or "") for field in cls._fields))

    def fields(self) -> dict:
        return self._asdict()


def host_name() -> str:
    return os.uname().nodename


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            return f.read().strip().decode()
    except OSError:
        return ""


def pid_namespace(pid: int | str = "self") -> str:
    try:
        return str(os.stat(f"/proc/{pid}/ns/pid").st_ino)
    except OSError:
        return ""


def machine_id() -> str:
    """systemd's (or D-Bus's) id of this installation: unlike the host name, two machines don't share it."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path, "rb") as f:
                found = f.read().strip().decode()
        except (OSError, UnicodeDecodeError):
            continue
        if found:
            return found
    return ""


def here() -> Place:
    return Place(host_name(), boot_id(), pid_namespace(), machine_id())


def process_start(pid: int) -> str:
    """The kernel's start time of `pid` (clock ticks since boot), or "" where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    # The command name (field 2) may contain spaces and parentheses: fields restart after the last ')'.
    return stat[stat.rfind(b")") + 2:].split()[19].decode()


def is_alive(pid: int, start: str) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not start or process_start(pid) in ("", start)


def wrapper_state(place: Place, pid: int, start: str, current: Place | None = None) -> str:
    """ALIVE, GONE or ELSEWHERE (see the module's docstring) for a wrapper recorded at `place`."""
    current = current or here()
    if place.machine and place.boot and place.host == current.host and place.machine == current.machine \
            and place.boot != current.boot:
        return GONE  # this machine, rebooted since: a crash or power cut left the session behind
    if not all(place) or place != current:
        return ELSEWHERE
    return ALIVE if is_alive(pid, start) else GONE
