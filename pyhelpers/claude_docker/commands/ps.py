"""`claude-docker ps`: the live sessions, and which are orphaned."""

from __future__ import annotations

import os

import click


def _root_only(_ctx, _param, value: bool) -> bool:
    if value and os.geteuid() != 0:
        from claude_docker import exitcodes
        from claude_docker.errors import ToolError

        raise ToolError("--all-users is for root only: other users' sessions are theirs to list and clean up",
                        exitcodes.USAGE)
    return value


# Shared with `cleanup`: checked while the options are parsed, so a refusal never waits on Docker.
all_users_option = click.option("--all-users", is_flag=True, callback=_root_only,
                                help="Every user's sessions on this engine, not only yours (root only).")


def _user(uid: int | None) -> str:
    import pwd

    if uid is None:
        return "?"
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@click.command()
@all_users_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def cli(all_users: bool, as_json: bool) -> int:
    """List your claude-docker sessions: one container each, running or left behind.

    An orphaned one's wrapper is gone; one marked "elsewhere" was started in another PID namespace, boot
    or host, where only its own side can tell whether it still runs. NETWORK is the session's mode; an
    allowlist session's egress sidecar is part of its row, listed alone only when it is left behind without
    its session (marked "egress sidecar"; `cleanup` removes it).
    """
    from claude_docker import dockerclient, inventory, ui

    found = inventory.shown(inventory.sessions(dockerclient.connect(operation="ps"), all_users))
    if as_json:
        ui.print_json([s.to_json() for s in found])
        return 0
    if not found:
        print("no claude-docker sessions")
        return 0
    marks = {"gone": " (orphaned)", "elsewhere": " (elsewhere)"}
    headers = ["SESSION", "STATUS", "SLOT", "NETWORK", "IMAGE", "STARTED", "WRAPPER", "PROJECT"]
    rows = [[s.session, s.status + marks.get(s.wrapper, "") + _role(s.role), s.slot, s.network or "-", s.image,
             s.started, str(s.wrapper_pid), s.project] for s in found]
    if all_users:
        headers.insert(0, "USER")
        rows = [[_user(s.uid), *row] for s, row in zip(found, rows)]
    print(ui.table(rows, headers))
    return 0


def _role(role: str) -> str:
    from claude_docker.inventory import SESSION

    return "" if role == SESSION else f" ({role} sidecar)"
