"""Slack incoming webhooks: a POST of {"text", "blocks"} (`text` is what the notification and old clients
show). The rate (at most 1/s per webhook) and Retry-After are dispatch's to honour: here one attempt, its
429 read into Delivery.retry_after."""

from __future__ import annotations

from claude_docker.alerting import targets
from claude_docker.alerting.channels import httppost, render
from claude_docker.alerting.model import DIGEST, RESOLVED, Delivery, Notification, Target

EMOJI = {"critical": ":rotating_light:", "high": ":red_circle:", "medium": ":large_orange_circle:",
         "low": ":large_blue_circle:", RESOLVED: ":white_check_mark:", DIGEST: ":bookmark_tabs:"}
# Slack refuses a section text over 3000 characters, and more than 50 blocks.
_TEXT_MAX, _ITEMS_MAX = 2900, 40


def _mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text[:_TEXT_MAX]}


def escaped(text: str) -> str:
    """Text as Slack asks it escaped: `&`, `<`, `>` as entities, so no value (a user's alert text, a label)
    becomes a mention (`<!channel>`), a link or a user reference."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(note: Notification) -> dict:
    emoji = EMOJI.get(note.kind) or EMOJI.get(note.severity, ":bell:")
    title = escaped(render.one_line(note.title))
    blocks: list[dict] = [{"type": "section", "text": _mrkdwn(f"{emoji} *{title}*\n{escaped(note.summary)}")}]
    if note.kind == DIGEST:
        lines = [escaped(render.item_line(item)) for item in note.items]
        for start in range(0, min(len(lines), _ITEMS_MAX), 10):
            chunk = "\n".join(f"• {line}" for line in lines[start:start + 10])
            blocks.append({"type": "section", "text": _mrkdwn(chunk)})
        if len(lines) > _ITEMS_MAX:
            blocks.append({"type": "context", "elements": [_mrkdwn(f"… and {len(lines) - _ITEMS_MAX} more")]})
    details = render.details(note)
    if details:
        blocks.append({"type": "context", "elements": [_mrkdwn(escaped("\n".join(details)))]})
    return {"text": f"{emoji} {title}: {escaped(render.one_line(note.summary))}"[:_TEXT_MAX], "blocks": blocks}


def send(target: Target, note: Notification, timeout: float) -> Delivery:
    return httppost.post_json("slack", targets.http_url(target), payload(note), timeout)
