"""The helper's own bugs, tracked (seed 002 §10.4): every unexpected exception, as one scrubbed record.

`capture` runs on the crash path (cli.save_crash), after the traceback is saved: a record with the command's
words (never its values), the versions, the trace and session, and the stack as (file, function, line), with
the user's home shown as "~" and secret values masked; grouped by a fingerprint of the exception's type and the
package's frames (module and function: not line numbers, not messages, so an edit elsewhere or a different
file name in a message keeps the group). Counted in claude_docker_helper_errors_total (a rule alerts on it),
listed by `claude-docker errors`.

With SENTRY_DSN set (Sentry's own variable, read as it is: not a CLAUDE_DOCKER_* setting), the exception also
goes to Sentry through sentry-sdk, imported only then, with the same scrub applied to everything it sends.
Nothing here ever raises: a second error on the crash path would hide the first.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

MAX_BYTES = 1 << 20  # the error log rotates past this, keeping KEEP older files
KEEP = 2
SENTRY_FLUSH = 2.0
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the folder holding claude_docker/


def errors_file() -> Path:
    """<state>/errors/errors.jsonl: one record per unexpected exception."""
    from claude_docker.paths import ensure_private_dir, state_dir

    return ensure_private_dir(state_dir() / "errors") / "errors.jsonl"


def capture(exc: BaseException | None, argv: list[str]) -> dict | None:
    """Record `exc` (being handled now); the record, or None if there was none or even that failed."""
    if exc is None:
        return None
    try:
        record = _record(exc, argv)
        record["count"] = _seen(record["fingerprint"]) + 1
        if os.environ.get("SENTRY_DSN"):
            record["sentry"] = _to_sentry(exc, record)
        from claude_docker.obs import catalog, events, jsonl, jsonline

        jsonl.append(errors_file(), jsonline.line(record), MAX_BYTES, KEEP)
        catalog.observe("claude_docker_helper_errors_total", 1, command=record["command"] or "-")
        events.emit("helper.error", f"internal error in `{record['command'] or '-'}`: {record['type']}",
                    level="error", outcome="error",
                    fields={"fingerprint": record["fingerprint"], "command": record["command"]})
        return record
    except BaseException:  # noqa: BLE001 - not even Ctrl-C: error tracking must never turn one crash into another
        return None


def scrub(text: str) -> str:
    """`text` with the user's home as "~" and secret values (URL credentials, tokens, KEY=value) masked."""
    from claude_docker import redact

    text = str(text)
    for home in _homes():
        text = text.replace(home, "~")
    return redact.secrets(text)


def _homes() -> list[str]:
    found = {os.path.expanduser("~"), os.environ.get("HOME", "")}
    found |= {os.path.realpath(h) for h in found if h}
    # longest first, so a home inside another (/home/u and /home/u/x) is replaced whole; "/" never
    return sorted((h.rstrip("/") for h in found if len(h.rstrip("/")) > 1), key=len, reverse=True)


def _record(exc: BaseException, argv: list[str]) -> dict:
    import hashlib
    import traceback

    from claude_docker import CLAUDE_CODE_VERSION, __version__
    from claude_docker.obs import context

    frames = [(_where(f.filename), f.name, f.lineno or 0) for f in traceback.extract_tb(exc.__traceback__)]
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    ours = [f"{path[:-3].replace('/', '.')}:{function}" for path, function, _line in frames
            if path.startswith("claude_docker/") and path.endswith(".py")]
    ctx = context.current()
    record = {"time": context.utc_now(),
              "fingerprint": hashlib.sha256("\n".join([kind, *ours]).encode()).hexdigest()[:16],
              "type": type(exc).__name__, "message": scrub(str(exc))[:2000], "command": command_of(argv),
              "version": __version__, "claude_code_version": CLAUDE_CODE_VERSION, "trace_id": ctx["trace_id"],
              "frames": [[scrub(path), function, line] for path, function, line in frames]}
    if ctx.get("session"):
        record["session"] = ctx["session"]
    return record


def _where(filename: str) -> str:
    """A frame's file: relative to the package's folder ("claude_docker/cli.py"), to the Python path it was
    imported from ("<python>/click/core.py"), or as it is (scrubbed later)."""
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE_ROOT + os.sep):
        return os.path.relpath(path, _PACKAGE_ROOT)
    roots = sorted((os.path.abspath(p) for p in sys.path if p), key=len, reverse=True)
    root = next((r for r in roots if path.startswith(r.rstrip(os.sep) + os.sep)), None)
    return f"<python>/{os.path.relpath(path, root)}" if root else path


def command_of(argv: list[str]) -> str:
    """The command's words: a known command and a subcommand of its group; no argument or option value."""
    words = list(argv[:2])
    try:
        from importlib import import_module

        from claude_docker.app import COMMANDS

        if not words or words[0] not in COMMANDS:
            return ""
        group = import_module(COMMANDS[words[0]]).cli
        known = getattr(group, "commands", {})
        return " ".join(words) if len(words) > 1 and words[1] in known else words[0]
    except Exception:  # noqa: BLE001 - a command module that can't even import: the first word was checked
        return words[0] if words and words[0].replace("-", "").isalpha() and words[0].islower() else ""


def _seen(fingerprint: str) -> int:
    """How many times this fingerprint was recorded before: the newest record of it holds the count, so the
    count outlives the rotation of older records."""
    import json

    from claude_docker.obs import jsonl

    for path in reversed(jsonl.generations(errors_file())):
        for line in reversed(path.read_bytes().splitlines()):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("fingerprint") == fingerprint:
                return _count(record)
    return 0


def _count(record: dict) -> int:
    count = record.get("count")
    return count if type(count) is int and count > 0 else 1


def _to_sentry(exc: BaseException, record: dict) -> str:
    """Send `exc` to the DSN's project; a word for the record on how that went."""
    try:
        import sentry_sdk
    except ImportError:
        return "sentry-sdk not installed"
    try:
        sentry_sdk.init(dsn=os.environ["SENTRY_DSN"], send_default_pii=False, include_local_variables=False,
                        default_integrations=False, server_name="", release=f"claude-docker@{record['version']}",
                        before_send=_scrubbed_event)
        with sentry_sdk.new_scope() as scope:
            for tag in ("command", "version", "fingerprint"):
                scope.set_tag(tag, record[tag] or "-")
            scope.fingerprint = [record["fingerprint"]]
            event_id = sentry_sdk.capture_exception(exc)
        sentry_sdk.flush(timeout=SENTRY_FLUSH)
        return f"sent ({event_id})" if event_id else "not sent"
    except KeyboardInterrupt:  # Ctrl-C while it uploads: the record is still written
        return "not sent: interrupted"
    except Exception as failure:  # noqa: BLE001 - Sentry's own trouble stays in the record
        return scrub(f"not sent: {type(failure).__name__}: {failure}")


def _scrubbed_event(event, _hint):
    """sentry-sdk's before_send: the event with every string scrubbed as the record's are."""
    from claude_docker import redact

    return redact.strings(event, scrub)


def groups(limit: int | None = None) -> tuple[list[dict], int]:
    """The recorded errors grouped by fingerprint, the latest seen first; and the unreadable lines skipped."""
    import json

    from claude_docker.obs import jsonl

    found: dict[str, dict] = {}
    skipped = 0
    for path in jsonl.generations(errors_file()):
        for line in path.read_bytes().splitlines():
            try:
                record = json.loads(line)
                fp = record["fingerprint"]
                if not isinstance(fp, str):
                    raise TypeError
            except (ValueError, TypeError, KeyError):
                skipped += 1
                continue
            group = found.setdefault(fp, {"fingerprint": fp, "count": 0, "first_seen": record.get("time", ""),
                                          "commands": [], "versions": []})
            group["count"] = max(group["count"] + 1, _count(record))
            group.update(last_seen=record.get("time", ""), type=record.get("type", ""),
                         message=record.get("message", ""), frames=(record.get("frames") or [])[-5:])
            for key, value in (("commands", record.get("command") or "-"), ("versions", record.get("version"))):
                if value and value not in group[key]:
                    group[key].append(value)
    ordered = sorted(found.values(), key=lambda g: g["last_seen"], reverse=True)
    return ordered[:limit] if limit else ordered, skipped
