"""Alert targets as apprise-style URLs (docs/ALERTING.md): one URL names a channel and where it delivers, and
may say which severities it gets (`?severity=high,critical`) and from which escalation level (`?escalation=1`).

    desktop://                                   the desktop's notification service (plyer)
    slack://T…/B…/X…                             a Slack incoming webhook (https://hooks.slack.com/services/…)
    slack+http(s)://host:port/path               the same protocol at another address
    mailto://user:pass@host:port/?to=a@b,c@d&from=x@y   SMTP, STARTTLS when the server offers it
    mailtos://…                                  SMTP over TLS from the first byte (port 465)
    sendmail://?to=a@b                           the local `sendmail -t`
    alertmanager://host:9093, alertmanager+http(s)://host:port   Prometheus Alertmanager's /api/v2/alerts
    json://host/path (https), json+http(s)://host:port/path      a generic JSON webhook

A URL may hold secrets (a webhook token, a password): `Target.shown` is what messages show, and the errors
here name only the scheme and host, never the path, userinfo or query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

from claude_docker import exitcodes, redact
from claude_docker.alerting.model import SEVERITIES, Target
from claude_docker.errors import ToolError

if TYPE_CHECKING:
    from collections.abc import Iterable

# URL scheme → the channel module (alerting/channels/<name>.py) and the metric's channel label.
CHANNELS = {
    "desktop": "desktop",
    "slack": "slack", "slack+http": "slack", "slack+https": "slack",
    "mailto": "mail", "mailtos": "mail", "sendmail": "mail",
    "alertmanager": "alertmanager", "alertmanager+http": "alertmanager", "alertmanager+https": "alertmanager",
    "json": "webhook", "json+http": "webhook", "json+https": "webhook",
}
# The parameters of the URL that are ours, not the endpoint's.
_OURS = ("severity", "escalation")
_MAIL_PARAMS = ("to", "from")


def channel(target: Target) -> str:
    """desktop, slack, mail, alertmanager or webhook."""
    return CHANNELS[target.scheme]


def _safe(url: str) -> str:
    """What an error may quote of a URL: its scheme, and its host where that names a server (in slack://
    and unknown schemes it may be a token); userinfo, path and query elided."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "(not a URL)"
    scheme = scheme.lower()
    if scheme not in CHANNELS or (CHANNELS[scheme] in ("desktop", "slack") and "+" not in scheme):
        return f"{scheme}://…" if rest else f"{scheme}://"
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    return redact.url(f"{scheme}://{authority}") + ("/…" if len(authority) < len(rest) else "")


def _bad(url: str, why: str) -> ToolError:
    return ToolError(f"alert target {redact.printable(_safe(url))}: {why}", exitcodes.ALERT_CONFIG)


def _severities(url: str, values: Iterable[str]) -> frozenset[str]:
    chosen = {v.strip().lower() for value in values for v in value.split(",") if v.strip()}
    unknown = sorted(chosen - set(SEVERITIES))
    if unknown or not chosen:
        what = f"unknown severity {', '.join(unknown)}" if unknown else "no severity"
        raise _bad(url, f"{redact.printable(what)} (one or more of {', '.join(SEVERITIES)})")
    return frozenset(chosen)


def _addresses(url: str, values: list[str]) -> list[str]:
    found = [a.strip() for value in values for a in value.split(",") if a.strip()]
    for address in found:
        local, at, domain = address.rpartition("@")
        if not (at and local and domain) or any(c.isspace() or ord(c) < 0x20 or c in "<>,;" for c in address):
            raise _bad(url, f"not a mail address: {redact.printable(address)}")
    return found


def parse(url: str, severities: Iterable[str] | None = None, escalation: int = 0) -> Target:
    """A Target from its URL. `severities` and `escalation` are the defaults the URL's query may override.
    Anything wrong → ToolError(ALERT_CONFIG), one line without the URL's secrets."""
    url = url.strip()
    if any(c.isspace() or not c.isprintable() or not c.isascii() for c in url):
        raise _bad(url, "a URL holds no spaces, control or non-ASCII characters (percent-encode them)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _bad(url, "not a valid URL (a port that isn't a number, or brackets that don't match?)") from None
    scheme = parts.scheme.lower()
    if "://" not in url or scheme not in CHANNELS:
        known = ", ".join(sorted({s.split("+")[0] for s in CHANNELS}))
        what = f"unknown channel {redact.printable(scheme)!r}" if "://" in url else "not a URL"
        raise _bad(url, f"{what} (known channels: {known})")
    query = parse_qs(parts.query, keep_blank_values=True)
    if isinstance(severities, str):
        severities = [severities]  # "high,critical" from a config file, not its characters
    chosen = _severities(url, query.pop("severity")) if "severity" in query else (
        _severities(url, list(severities)) if severities is not None else frozenset(SEVERITIES))
    if "escalation" in query:
        text = query.pop("escalation")[-1]
        if not text.isdigit():
            raise _bad(url, f"escalation must be a level 0, 1, 2, …, not {redact.printable(text)!r}")
        escalation = int(text)
    name = CHANNELS[scheme]
    host = parts.hostname or ""
    path_parts = [p for p in parts.path.split("/") if p]
    shown = "desktop://"
    if name == "desktop":
        if parts.netloc or path_parts or query:
            raise _bad(url, "desktop:// takes nothing after it (but severity= and escalation=)")
    elif name == "mail":
        unknown = sorted(set(query) - set(_MAIL_PARAMS))
        if unknown:
            raise _bad(url, f"unknown parameter {redact.printable(unknown[0])!r} (mail takes to=, from=)")
        if not _addresses(url, query.get("to", [])):
            raise _bad(url, "no recipient: add ?to=you@example.com")
        _addresses(url, query.get("from", []))
        if scheme == "sendmail" and (parts.netloc or path_parts):
            raise _bad(url, "sendmail:// takes no host: sendmail://?to=you@example.com")
        if scheme != "sendmail" and not host:
            raise _bad(url, "no SMTP server: mailto://[user:password@]host[:port]/?to=…")
        shown = redact.url(url)
    elif not host:
        raise _bad(url, "no host")
    elif scheme == "slack":
        if "@" in parts.netloc or port is not None or len([host, *path_parts]) != 3:
            raise _bad(url, "a Slack webhook is slack://T…/B…/… (the three parts of hooks.slack.com/services/…)")
        shown = f"slack://{parts.netloc[:1]}…/…"  # the token is case-sensitive: netloc, not hostname
    else:  # an HTTP endpoint: its path and query may be the secret (a webhook's token)
        shown = redact.url(f"{scheme}://{parts.netloc}") + ("/…" if path_parts or query else "")
    return Target(url=url, scheme=scheme, shown=shown, severities=chosen, escalation=escalation)


def http_url(target: Target) -> str:
    """The HTTP endpoint of a slack, alertmanager or json target, without our own query parameters."""
    parts = urlsplit(target.url)
    query = urlencode([(k, v) for k, vs in parse_qs(parts.query, keep_blank_values=True).items() if k not in _OURS
                       for v in vs])
    scheme = target.scheme
    if scheme == "slack":
        return f"https://hooks.slack.com/services/{parts.netloc}{parts.path}"
    proto = scheme.partition("+")[2] or ("http" if scheme == "alertmanager" else "https")
    path = parts.path.rstrip("/") + "/api/v2/alerts" if CHANNELS[scheme] == "alertmanager" else parts.path
    return f"{proto}://{parts.netloc}{path}" + (f"?{query}" if query else "")


def mail_settings(target: Target) -> dict:
    """For channels/mail.py: {"to": [...], "from": str, "host", "port", "user", "password"} (user and
    password unquoted; empty when not given)."""
    from urllib.parse import unquote

    parts = urlsplit(target.url)
    query = parse_qs(parts.query, keep_blank_values=True)
    senders = _addresses(target.url, query.get("from", []))
    return {"to": _addresses(target.url, query.get("to", [])), "from": senders[0] if senders else "",
            "host": parts.hostname or "", "port": parts.port, "user": unquote(parts.username or ""),
            "password": unquote(parts.password or "")}
