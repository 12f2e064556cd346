"""`claude-docker held`: review what the sandbox boundary held back from sessions, and apply or drop it."""

from __future__ import annotations

import re
import sys

import click

from claude_docker import exitcodes

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
PREVIEW = 160


def _preview(item: dict) -> str:
    """The held value, one line, secrets masked: enough to decide, never a token on the screen."""
    import json

    from claude_docker import redact

    if item.get("blob"):
        return f"(file: {item['blob']})"
    if item.get("absent"):
        return "(the session removed it)"
    path = item.get("path") or []
    if path and redact.is_secret_name(str(path[-1])):
        return "***"
    text = json.dumps(_masked(item.get("value")), ensure_ascii=False)
    return text if len(text) <= PREVIEW else text[:PREVIEW] + "…"


_SECRET_FLAG = re.compile(r"--?[\w-]*(key|token|secret|passw(or)?d|auth)[\w-]*", re.IGNORECASE)


def _token_like(text: str) -> bool:
    """A long run of letters and digits with no spaces or path: what API keys look like."""
    return (len(text) >= 20 and not any(c.isspace() for c in text) and "/" not in text
            and any(c.isdigit() for c in text) and any(c.isalpha() for c in text))


def _masked(value):
    """A JSON value with the values of secret-named keys (`GITHUB_TOKEN`, `headers.Authorization`), the word
    after a secret flag in an argument list (`--api-key VALUE`, `--token=VALUE`), token-like strings and
    credentials in URLs masked."""
    from claude_docker import redact

    if isinstance(value, dict):
        return {k: "***" if redact.is_secret_name(str(k)) else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            flag, eq, _rest = item.partition("=") if isinstance(item, str) else ("", "", "")
            if eq and _SECRET_FLAG.fullmatch(flag):
                out.append(f"{flag}=***")
            elif i and isinstance(value[i - 1], str) and _SECRET_FLAG.fullmatch(value[i - 1]):
                out.append("***")
            else:
                out.append(_masked(item))
        return out
    if isinstance(value, str):
        if _token_like(value):
            return "***"
        return redact.secrets(value)
    return value


def _status(item: dict) -> str:
    return "applied" if item.get("applied") else item["verdict"]


@click.group()
def cli() -> None:
    """Changes sessions made that would run on or steer your host, held back for your review.

    \b
    A session's container may run a prompt-injected agent. What it writes that would run a program on
    the host (hooks, MCP servers, plugins, commands, env), lower a guard (permissions), or that
    claude-docker does not know, is not applied at the end of the session but kept here. Review it with
    `held show`, then `held apply` what you want and `held drop` the rest. Refused items are listed for
    the record and never applied. See docs/SECURITY.md.
    """


@cli.command("list")
@JSON_OPTION
def list_cmd(as_json: bool) -> int:
    """One line per session that left changes for review."""
    from claude_docker import ui
    from claude_docker.boundary.held import all_records

    records = all_records()
    rows = [{"id": r.session_id, "created": r.data.get("created", ""), "project": r.data.get("project", ""),
             "held": sum(1 for i in r.items if i["verdict"] == "hold" and not i.get("applied")),
             "refused": sum(1 for i in r.items if i["verdict"] == "refuse"),
             "applied": sum(1 for i in r.items if i.get("applied"))} for r in records]
    if as_json:
        ui.print_json({"records": rows})
    elif not rows:
        print("nothing held")
    else:
        print(ui.table([[r["id"], r["created"], str(r["held"]), str(r["refused"]), str(r["applied"]), r["project"]]
                        for r in rows], ["ID", "CREATED", "HELD", "REFUSED", "APPLIED", "PROJECT"]))
    return exitcodes.OK


@cli.command()
@click.argument("record_id")
@JSON_OPTION
def show(record_id: str, as_json: bool) -> int:
    """Every change one session left: what, where, why it was held, and its value (secrets masked)."""
    from claude_docker import ui
    from claude_docker.boundary.held import find, target_of

    record = find(record_id)
    if as_json:
        items = [{**{k: v for k, v in i.items() if k != "value"}, "preview": _preview(i)} for i in record.items]
        ui.print_json({"id": record.session_id, "project": record.data.get("project", ""), "dir": str(record.dir),
                       "items": items})
        return exitcodes.OK
    print(f"session {record.session_id} ({record.data.get('created', '')}), project {record.data.get('project', '')}")
    for item in record.items:
        try:
            where = str(target_of(item))
        except Exception:  # noqa: BLE001 - a malformed or now-linked target still gets listed
            where = f"{item['root']}/{item['rel']}"
        ui.say(f"{item['n']:>3}. [{_status(item)}] {item['label']}: {item['reason']}")
        ui.say(f"     {where}  {_preview(item)}")
    print(f"files: {record.dir}")
    return exitcodes.OK


@cli.command()
@click.argument("record_id")
@click.argument("numbers", nargs=-1, type=int)
@click.option("--all", "apply_all", is_flag=True, help="Apply every held item of this session.")
def apply(record_id: str, numbers: tuple[int, ...], apply_all: bool) -> int:
    """Apply held items of one session (by number, or --all) to the host, after a config backup."""
    from claude_docker import ui
    from claude_docker.backup.triggers import before_sync
    from claude_docker.boundary.held import apply_item, find
    from claude_docker.errors import ToolError
    from claude_docker.locking import config_lock
    from claude_docker.paths import ClaudeHome

    record = find(record_id)
    if not numbers and not apply_all:
        raise ToolError("name the items to apply (see `claude-docker held show`), or --all", exitcodes.USAGE)
    wanted = [i for i in record.items if (apply_all and i["verdict"] == "hold") or i["n"] in numbers]
    unknown = set(numbers) - {i["n"] for i in record.items}
    if unknown:
        raise ToolError(f"no item {min(unknown)} in {record.session_id}", exitcodes.USAGE)
    claude = ClaudeHome.from_env()
    failed = 0
    with config_lock(claude.config_dir):
        warning = before_sync(claude)
        if warning:
            ui.say(f"warning: {warning}", stream=sys.stderr)
        for item in wanted:
            if item.get("applied"):
                continue
            try:
                apply_item(record, item)
            except ToolError as exc:
                failed += 1
                ui.say(f"not applied: {exc.message}", stream=sys.stderr)
                continue
            ui.say(f"applied {item['n']}: {item['label']}")
    return exitcodes.FAILURE if failed else exitcodes.OK


@cli.command()
@click.argument("record_id", required=False)
@click.option("--all", "drop_all", is_flag=True, help="Drop every record.")
def drop(record_id: str | None, drop_all: bool) -> int:
    """Forget what one session (or every session, --all) left for review."""
    from claude_docker.boundary import held
    from claude_docker.errors import ToolError

    if bool(record_id) == drop_all:
        raise ToolError("name one record, or --all", exitcodes.USAGE)
    records = [held.find(record_id)] if record_id else held.all_records()
    for record in records:
        held.drop(record)
    print(f"dropped {len(records)} record(s)")
    return exitcodes.OK
