"""The words of a notification, shared by the channels that show text (desktop, Slack, mail): the same
summary, labels, runbook and times however each lays them out."""

from __future__ import annotations

from claude_docker.alerting.model import DIGEST, RESOLVED, Notification

# Labels every notification carries, shown in the title rather than again in the list.
_TITLED = ("alertname", "severity")


def one_line(text: str) -> str:
    """Whitespace (newlines included) folded to single spaces: for titles and mail headers."""
    return " ".join(str(text).split())


def labels(note: Notification) -> str:
    """`k=v, k=v` of the labels that aren't in the title."""
    return ", ".join(f"{k}={v}" for k, v in sorted(note.labels.items()) if k not in _TITLED)


def item_line(item: dict) -> str:
    """One notification a digest stands for: `[severity] Alertname: summary` (resolved ones say so)."""
    item_labels = item.get("labels") or {}
    word = "resolved" if item.get("kind") == RESOLVED else item_labels.get("severity", "?")
    return one_line(f"[{word}] {item_labels.get('alertname', '?')}: {item.get('summary', '')}")


def short(note: Notification) -> str:
    """The text of a desktop notification: the summary, or a digest's first items."""
    if note.kind != DIGEST:
        return note.summary
    lines = [item_line(item) for item in note.items[:5]]
    more = len(note.items) - len(lines)
    return "\n".join([note.summary, *lines] + ([f"… and {more} more"] if more > 0 else []))


def details(note: Notification) -> list[str]:
    """`name: value` lines for what isn't the summary: labels, value, times, runbook."""
    lines = []
    if labels(note):
        lines.append(f"labels: {labels(note)}")
    if note.value is not None:
        lines.append(f"value: {note.value:g}")
    if note.starts_at:
        lines.append(f"starts: {note.starts_at}")
    if note.ends_at:
        lines.append(f"ends: {note.ends_at}")
    if note.runbook:
        lines.append(f"runbook: {note.runbook}")
    return lines


def plain(note: Notification) -> str:
    """A mail body: the summary, a digest's items, then the details."""
    body = [note.summary, ""]
    if note.kind == DIGEST:
        body += [item_line(item) for item in note.items] + [""]
    return "\n".join(body + details(note)) + "\n"
