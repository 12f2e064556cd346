"""HTTP for the exporters: status and headers back, never an exception for a network failure, nothing of
the request's headers (which carry API keys) in any message, and no redirect ever followed.

A redirect is answered as what it is, a 3xx status, which every exporter treats as a failure that keeps
its data: following it would send the API key and the data to a host nobody configured (urllib turns a
302 after a POST into a GET that still carries every header but the body's). Credentials in the URL
(`https://user:token@host`) go as a Basic Authorization header, never into a message.
"""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.request

from claude_docker import redact


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: urllib then raises HTTPError with the 3xx, like any other refusal."""

    def http_error_302(self, req, fp, code, msg, headers):
        return None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_opener: list = []


def _open(request: urllib.request.Request, timeout: float):
    if not _opener:
        _opener.append(urllib.request.build_opener(_NoRedirect))  # proxies from the environment still apply
    return _opener[0].open(request, timeout=timeout)


def _userinfo_as_header(url: str, headers: dict) -> tuple[str, dict]:
    """`scheme://user:password@host/...` → the URL without them, and a Basic Authorization header."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return url, headers
    import base64
    from urllib.parse import unquote

    userinfo, _, host = authority.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return f"{scheme}://{host}{slash}{path}", {"Authorization": f"Basic {token}", **headers}


def _origin(url: str) -> str:
    """`scheme://host[:port]` of `url`, for a message: never its userinfo, path, query or fragment (a
    webhook's path or a query may be its secret)."""
    scheme, sep, rest = redact.url(url).partition("://")
    if not sep:
        return "(not scheme://host)"
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    return redact.printable(f"{scheme}://{authority}")


def request(method: str, url: str, body: bytes, headers: dict,
            timeout: float = 15.0) -> tuple[int | None, dict, str]:
    """(HTTP status or None when nothing answered, response headers, a short reason for people)."""
    url, headers = _userinfo_as_header(url, headers)
    try:
        req = urllib.request.Request(url, data=body, headers=headers, method=method)
    except ValueError:
        return None, {}, f"invalid URL {_origin(url)}"
    try:
        with _open(req, timeout) as response:
            return response.status, dict(response.headers), response.reason or ""
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, dict(exc.headers or {}), exc.reason or ""
    except (urllib.error.URLError, OSError) as exc:
        return None, {}, redact.text(getattr(exc, "reason", exc))
    except http.client.InvalidURL:  # its message quotes the path or the port
        return None, {}, f"invalid URL {_origin(url)}: a bad port, or a space or control character in its path"
    except UnicodeError:  # before ValueError, which it is: http.client sends the path as ASCII
        return None, {}, f"invalid URL {_origin(url)}: a non-ASCII character in its path or query"
    except ValueError:  # a header value with CR/LF: its message would quote it
        return None, {}, f"invalid URL {_origin(url)} or request header (a stray newline in an API key?)"
    except http.client.HTTPException as exc:  # a reply http.client could not read: its type, not its text
        return None, {}, f"unreadable answer from {_origin(url)} ({type(exc).__name__})"


def post(url: str, body: bytes, headers: dict, timeout: float = 15.0) -> tuple[int | None, dict, str]:
    return request("POST", url, body, headers, timeout)


def describe(status: int | None, reason: str) -> str:
    """What went wrong, for a message: the status (saying a redirect was not followed), else the reason."""
    if status is None:
        return reason or "no answer"
    if 300 <= status < 400:
        return f"HTTP {status}, a redirect, not followed"
    return f"HTTP {status}"
