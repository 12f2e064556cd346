"""`claude-docker egress`: what sessions may reach (list, allow, remove) and what they tried (log)."""

from __future__ import annotations

import click

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
OUTCOME_WORDS = {"allowed": ("allow", "green"), "denied": ("deny", "red"), "failed": ("fail", "yellow")}


@click.group()
def cli() -> None:
    """Egress of sessions in the allowlist network mode: the hosts they may reach, and every connection.

    \b
    Entries: HOST (ports 80 and 443), HOST:PORT, HOST:*, *.DOMAIN (its subdomains), an IPv4 address,
    [IPv6] with an optional :PORT. host.docker.internal (= localhost) is the host's own loopback.
    """


def _line(record: dict) -> str:
    from claude_docker import ui
    from claude_docker.egress.proxy import hostport

    fields = record.get("fields") or {}
    word, color = OUTCOME_WORDS.get(str(record.get("outcome")), (str(record.get("outcome", "?")), None))
    host, port = str(fields.get("host") or ""), fields.get("port") or 0
    where = hostport(host, port) if host else "-"
    time_text = str(record.get("time", ""))[:19].replace("T", " ")
    traffic = f"{fields.get('bytes_out', 0)}/{fields.get('bytes_in', 0)}"
    cells = [time_text, ui.paint(word.ljust(5), color), ui.shown(where).ljust(32), ui.shown(fields.get("method") or "-")
             .ljust(7), traffic.rjust(15), ui.shown(str(record.get("session", "-"))[:8]).ljust(8),
             ui.shown(fields.get("reason", ""))]
    return "  ".join(cells).rstrip()


HEADER = "  ".join(["TIME".ljust(19), "WHAT ", "HOST:PORT".ljust(32), "METHOD ", "OUT/IN BYTES".rjust(15),
                    "SESSION ", "REASON"])


@cli.command()
@click.option("--follow", "-f", is_flag=True, help="Keep printing new connections as they happen (Ctrl-C ends).")
@JSON_OPTION
@click.option("--session", metavar="ID", help="Only this session's (an id or its first characters).")
@click.option("--denied", is_flag=True, help="Only connections that were denied.")
def log(follow: bool, as_json: bool, session: str | None, denied: bool) -> int:
    """Show the egress decisions of sessions: one line per connection (allowed, denied or failed), with
    its bytes out and in, its session and why it was refused."""
    import sys

    from claude_docker import ui
    from claude_docker.egress import eventlog
    from claude_docker.obs import settings

    path = settings.events_file()

    def show(record: dict) -> None:
        if as_json:
            sys.stdout.write(ui.json_line(record) + "\n")
        else:
            print(_line(record))
        sys.stdout.flush()

    shown = 0
    for record in eventlog.records(path):
        if eventlog.wanted(record, session, denied):
            if not shown and not as_json:
                print(HEADER)
            show(record)
            shown += 1
    if not follow:
        if not shown and not as_json:
            print("no egress connections logged" + (" that match" if session or denied else ""))
        return 0
    if not shown and not as_json:
        print(HEADER)
    try:
        for record in eventlog.follow(path):
            if eventlog.wanted(record, session, denied):
                show(record)
    except KeyboardInterrupt:
        pass  # following ends with Ctrl-C: that is its normal end, not an interruption of work
    return 0


@cli.command("list")
@JSON_OPTION
def list_(as_json: bool) -> int:
    """The allowlist in effect: defaults, CLAUDE_DOCKER_ALLOW_HOSTS and the allowlist file."""
    from claude_docker import ui
    from claude_docker.egress import allowlist

    entries = allowlist.effective().entries
    if as_json:
        ui.print_json([e.to_json() for e in entries])
        return 0
    print(ui.table([[e.text, e.ports_shown(), e.source] for e in entries], ["ENTRY", "PORTS", "SOURCE"]))
    print(f"\nfile: {allowlist.allowlist_file()}")
    return 0


@cli.command()
@click.argument("entries", nargs=-1, required=True)
def allow(entries: tuple[str, ...]) -> int:
    """Allow sessions to reach ENTRIES (added to the allowlist file). Running sessions see it on their
    next connection."""
    from claude_docker import ui
    from claude_docker.egress import allowlist

    added, already = allowlist.add(entries)
    for e in added:
        ui.say(f"allowed {e.text} (ports {e.ports_shown()})", "ok")
    for e in already:
        ui.say(f"{e.text} was already allowed" + (" (a default)" if e.key in {d.key for d in allowlist.defaults()}
                                                  else ""), "info")
    if added:
        ui.say(f"running sessions see it on their next connection ({allowlist.allowlist_file()})")
    return 0


@cli.command()
@click.argument("entries", nargs=-1, required=True)
def remove(entries: tuple[str, ...]) -> int:
    """Remove ENTRIES from the allowlist file. Running sessions see it on their next connection; a
    connection open now stays open until it ends."""
    from claude_docker import ui
    from claude_docker.egress import allowlist

    for e in allowlist.remove(entries):
        ui.say(f"removed {e.text}", "ok")
    ui.say(f"running sessions see it on their next connection ({allowlist.allowlist_file()})")
    return 0


@cli.command(hidden=True)
@click.option("--fd", type=int, required=True, help="The listening unix socket, inherited.")
@click.option("--summary", required=True, help="Where to write the denied hosts' counts (JSON).")
@click.option("--session", required=True, help="The session id its records carry.")
@click.option("--trace-id", required=True, help="The session's trace id.")
@click.option("--span-id", required=True, help="The span its records belong to.")
@click.option("--parent-pid", type=int, required=True, help="Stop when this process (the wrapper) is gone.")
def proxy(fd: int, summary: str, session: str, trace_id: str, span_id: str, parent_pid: int) -> int:
    """The egress proxy of one session (the `claude` wrapper starts it)."""
    import socket
    from pathlib import Path

    from claude_docker.egress import allowlist
    from claude_docker.egress import proxy as egress_proxy
    from claude_docker.obs import context

    context.bind(trace_id=trace_id, span_id=span_id, session=session)
    listener = socket.socket(fileno=fd)
    egress_proxy.serve(listener, allowlist.Live(), Path(summary), parent_pid)
    return 0
