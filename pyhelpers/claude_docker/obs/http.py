"""One HTTP POST for the exporters: status and headers back, never an exception for a network failure,
and nothing of the request's headers (which carry API keys) in any message."""

from __future__ import annotations

import urllib.error
import urllib.request


def post(url: str, body: bytes, headers: dict, timeout: float = 15.0) -> tuple[int | None, dict, str]:
    """(HTTP status or None when nothing answered, response headers, a short reason for people)."""
    try:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    except ValueError:
        return None, {}, "invalid request URL"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.reason or ""
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {}), exc.reason or ""
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, {}, str(reason)
    except ValueError:  # http.client refuses a header value with CR/LF: its message would quote the value
        return None, {}, "a request header value is invalid (a stray newline in an API key or header?)"
