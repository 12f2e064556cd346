"""Mail: SMTP through smtplib (mailto:// upgraded with STARTTLS when the server offers it, mailtos:// TLS from
the start; login when the URL has a user) or the local `sendmail -t` (sendmail://). A refusal (recipient,
sender, login, a 5xx) is permanent; no answer, a timeout, a 4xx is retried."""

from __future__ import annotations

import shutil
import smtplib
import socket
import ssl
import subprocess
from email.message import EmailMessage
from email.utils import formatdate

from claude_docker.alerting import targets
from claude_docker.alerting.channels import render
from claude_docker.alerting.model import Delivery, Notification, Target

# sysexits.h statuses of sendmail that trying again can't change: usage, data, no such user or host, config.
_SENDMAIL_PERMANENT = (64, 65, 67, 68, 78)
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def message(note: Notification, sender: str, recipients: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = render.one_line(note.title)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = f"<{note.id}@claude-docker>"  # the same on a retry: the receiver can tell it twice
    msg.set_content(render.plain(note))
    return msg


def _smtp(settings: dict, tls: bool, msg: EmailMessage, timeout: float) -> Delivery:
    context = ssl.create_default_context()
    host, port = settings["host"], settings["port"] or (465 if tls else 25)
    smtp = (smtplib.SMTP_SSL(host, port, timeout=timeout, context=context) if tls
            else smtplib.SMTP(host, port, timeout=timeout))
    with smtp:
        smtp.ehlo()
        if not tls and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
            tls = True
        if settings["user"]:
            if not tls and host not in _LOOPBACK:
                return Delivery(ok=False, permanent=True,
                                detail="mail: the server offers no STARTTLS: the password is not sent in clear")
            smtp.login(settings["user"], settings["password"])
        refused = smtp.send_message(msg, settings["from"], settings["to"])
    if refused:
        return Delivery(ok=True, detail=f"mail: sent, but refused for {', '.join(sorted(refused))}")
    return Delivery(ok=True, detail="mail: sent")


def _sendmail(msg: EmailMessage, timeout: float) -> Delivery:
    path = shutil.which("sendmail") or "/usr/sbin/sendmail"
    try:
        done = subprocess.run([path, "-t", "-oi"], input=msg.as_bytes(), capture_output=True, timeout=timeout)
    except FileNotFoundError:
        return Delivery(ok=False, permanent=True, detail="mail: no sendmail here (install an MTA, or use mailto://)")
    except subprocess.TimeoutExpired:
        return Delivery(ok=False, detail=f"mail: sendmail did not finish in {timeout:g} s")
    except OSError as exc:
        return Delivery(ok=False, permanent=True, detail=f"mail: cannot run {path}: {exc.strerror or exc}")
    if done.returncode == 0:
        return Delivery(ok=True, detail="mail: handed to sendmail")
    said = render.one_line(done.stderr.decode("utf-8", "replace"))[:200]
    return Delivery(ok=False, permanent=done.returncode in _SENDMAIL_PERMANENT,
                    detail=f"mail: sendmail exited with {done.returncode}" + (f": {said}" if said else ""))


def _refusal(exc: smtplib.SMTPException) -> Delivery:
    """An SMTP error as a Delivery: refusals of what we sent are permanent, a 4xx or a dropped line retried."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(sorted(exc.recipients))
        return Delivery(ok=False, permanent=True, detail=f"mail: recipients refused: {refused}")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return Delivery(ok=False, permanent=True, detail=f"mail: login refused ({exc.smtp_code})")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Delivery(ok=False, permanent=True, detail="mail: the server does not support login (no AUTH)")
    if isinstance(exc, smtplib.SMTPResponseException):
        said = render.one_line(exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes)
                               else str(exc.smtp_error))[:200]
        return Delivery(ok=False, permanent=500 <= exc.smtp_code < 600, detail=f"mail: {exc.smtp_code} {said}")
    return Delivery(ok=False, detail=f"mail: {type(exc).__name__}: {render.one_line(str(exc))[:200]}")


def send(target: Target, note: Notification, timeout: float) -> Delivery:
    settings = targets.mail_settings(target)
    user = settings["user"]
    settings["from"] = settings["from"] or (user if "@" in user else f"claude-docker@{socket.gethostname()}")
    msg = message(note, settings["from"], settings["to"])
    if target.scheme == "sendmail":
        return _sendmail(msg, timeout)
    try:
        return _smtp(settings, target.scheme == "mailtos", msg, timeout)
    except smtplib.SMTPException as exc:
        return _refusal(exc)
    except ssl.SSLCertVerificationError as exc:
        return Delivery(ok=False, permanent=True, detail=f"mail: the server's certificate: {exc.verify_message}")
    except (OSError, EOFError) as exc:  # refused, unreachable, timed out, TLS cut: the server may be back later
        reason = "timed out" if isinstance(exc, socket.timeout) else (getattr(exc, "strerror", None) or str(exc))
        return Delivery(ok=False, detail=f"mail: cannot reach {settings['host']}: {reason}")
