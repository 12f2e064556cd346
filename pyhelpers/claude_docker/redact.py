"""The one redaction and terminal-safety helper: whatever reaches a message, an event, a span or an export
goes through here first.

- `url`: credentials in a URL (userinfo, secret-looking query parameters) become `***`.
- `headers`: values of secret headers (Authorization, Cookie, API keys, tokens) become `***`.
- `is_secret_name`: does a name (query parameter, header, JSON key, environment variable) hold a secret.
- `text`, `strings`: `url` applied to every URL inside free text, or inside every string of a record.
- `secrets`: `text`, and inline secrets (`KEY=value`, `Bearer …`, `ghp_…`) masked too.
- `printable`: untrusted text (file names from a container, server messages) safe for a terminal.

Nothing here raises on odd input: redaction runs on error paths, where a second error would hide the first.
Imported only where text is about to leave the process; the event log imports it only for a record
that holds a URL, so a plain `log_event` pays nothing for it.
"""

from __future__ import annotations

import re

MASK = "***"

# Matched anywhere in the name once separators are removed ("X-Amz-Signature", "primaryApiKey").
_SECRET_PARTS = ("secret", "password", "passwd", "passphrase", "apikey", "accesskey", "privatekey", "credential",
                 "signature", "cookie", "authorization", "bearer")
# Matched as whole words only: as substrings they would catch "monkey", "author", "passthrough".
_SECRET_WORDS = frozenset({"key", "token", "auth", "sig", "pass", "jwt"})
# For headers, any of these anywhere in the name is enough (a header never names something harmless so).
_HEADER_PARTS = ("token", "secret", "key", "auth")
# Embeddings, overrides and isolates: they reorder how the text after them is displayed.
BIDI_CONTROLS = (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
_names: dict = {}  # is_secret_name's answers: the same few names are asked about again and again

# A URL in text runs to a space, double quote, angle bracket or control character, less its trailing
# punctuation. A single quote can't end it: a password may hold one (RFC 3986 allows it unencoded).
_URL = re.compile(r"""[A-Za-z][A-Za-z0-9+.\-]*://[^\s"<>\\`\x00-\x1f\x7f-\x9f]*[^\s"'<>\\`\x00-\x1f\x7f-\x9f).,;:!?\]}]""")


def _words(name: str) -> list[str]:
    """`primaryApiKey`, `DD_API_KEY`, `X-Amz-Signature` → their lowercase words."""
    words, word = [], ""
    for i, ch in enumerate(name):
        if not ch.isalnum():
            if word:
                words.append(word)
            word = ""
            continue
        prev = name[i - 1] if i else ""
        after = name[i + 1] if i + 1 < len(name) else ""
        # camelCase and APIKey: a capital starts a word after a lowercase letter, or before one.
        if word and ch.isupper() and (prev.islower() or prev.isdigit() or (prev.isupper() and after.islower())):
            words.append(word)
            word = ""
        word += ch
    if word:
        words.append(word)
    return [w.lower() for w in words]


def is_secret_name(name: str) -> bool:
    """True for names that hold secrets: token, key, api_key, secret, password, auth, sig, signature,
    `*_TOKEN`, `*_KEY`, `*_SECRET`, `*PASSWORD*`, accessToken, primaryApiKey, X-Amz-Signature, Cookie, ..."""
    if not isinstance(name, str):
        return False
    found = _names.get(name)
    if found is None:
        words = _words(name)
        flat = "".join(words)
        found = (any(part in flat for part in _SECRET_PARTS)
                 or any(w in _SECRET_WORDS or w.endswith("token") for w in words)
                 or ("pwd" in words and len(words) > 1))  # MYSQL_PWD, but not PWD, the working directory
        if len(_names) < 4096:
            _names[name] = found
    return found


def _params(part: str) -> str:
    """`a=1&token=x` → `a=1&token=***`."""
    from urllib.parse import unquote

    out = []
    for param in part.split("&"):
        name, sep, _value = param.partition("=")
        out.append(f"{name}={MASK}" if sep and is_secret_name(unquote(name)) else param)
    return "&".join(out)


def _userinfo_end(rest: str) -> int:
    """Where the userinfo of `rest` (a URL less its scheme) ends: the index of its "@", or -1 for none.

    It runs to the last "@" before the first "/" that follows an "@", before any split at "?" or "#":
    a password may hold those ("user:pw#x@host") and still be a password. An "@" after a "/" is userinfo
    only when what comes before that "/" can't be host[:port] ("user:pa/ss@host": an unencoded "/")."""
    first_at = rest.find("@")
    if first_at < 0:
        return -1
    slash = rest.find("/")
    if 0 <= slash < first_at:
        before = rest[:slash]
        if ":" not in before or before.rpartition(":")[2].isdigit():
            return -1  # "host/p?mail=a@b", "host:8080/@scope": a path's "@"
    end = rest.find("/", first_at)
    return rest.rfind("@", 0, end if end >= 0 else len(rest))


def url(u) -> str:
    """`u` with its userinfo (user and password) and the values of secret query parameters as `***`.
    Where the userinfo's end is unclear, more is masked, never less."""
    if not isinstance(u, str):
        u = "" if u is None else str(u)
    scheme, sep, rest = u.partition("://")
    if not sep:
        scheme, rest = "", scheme  # no scheme ("user:pw@host:9091", which some clients accept)
    userinfo = ""
    at = _userinfo_end(rest)
    if at >= 0:
        userinfo = (f"{MASK}:{MASK}" if ":" in rest[:at] else MASK) + "@"
        rest = rest[at + 1:]
    rest, hash_sep, fragment = rest.partition("#")
    rest, query_sep, query = rest.partition("?")
    out = scheme + sep + userinfo + rest
    if query_sep:
        out += "?" + _params(query)
    if hash_sep:
        out += "#" + (_params(fragment) if "=" in fragment else fragment)  # #access_token=... (OAuth)
    return out


def headers(h: dict) -> dict:
    """A copy of `h` with the values of secret headers as `***`."""
    result = {}
    for name, value in (h or {}).items():
        lowered = str(name).lower()
        secret = is_secret_name(str(name)) or any(part in lowered for part in _HEADER_PARTS)
        result[name] = MASK if secret else value
    return result


def text(s) -> str:
    """Free text (an exception message, a log line) with every URL in it redacted by `url`."""
    if not isinstance(s, str):
        s = str(s)
    if "://" not in s:
        return s
    return _URL.sub(lambda m: url(m.group(0)), s)


# Inside free text: `NAME=value` with a secret-looking NAME, a bearer or basic credential, a secret header or
# flag with its value, the path of a Slack webhook, and the prefixes of well-known tokens.
_INLINE_SECRET = re.compile(
    r"((?-i:\b[A-Z_0-9]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PAT|CREDENTIALS?)[A-Z_0-9]*)=)\S+"
    r"|(\b(?:Authorization|X-Api-Key|Api-Key|Cookie|[\w-]*Token)\s*:\s*).+"
    r"|(\b(?:Bearer|Basic)\s+)\S+"
    r"|(--?[\w-]*(?:key|token|secret|passw(?:or)?d|auth)[\w-]*[= ])\S+"
    r"|(\bhooks\.slack\.com/(?:services|workflows|triggers)/)[\w/%-]+"
    r"|()\b(?:sk-ant-|sk-|ghp_|gho_|ghu_|ghs_|github_pat_|glpat-|xox[abeprs][.-]|xapp-|AKIA|ASIA)[\w-]+",
    re.IGNORECASE)
# `name=value`, `name: value`, `'name': 'value'` and `"name": "value"` (a dict or JSON printed in a message):
# the value goes when the name is secret by is_secret_name (`password`, `api_key`, `token`, not `monkey`).
_NAMED_VALUE = re.compile(
    r"""(?P<q>['"]?)(?P<name>[A-Za-z_][\w.-]*)(?P=q)(?P<sep>\s*[:=]\s*)"""
    r"""(?:(?P<vq>['"])(?P<quoted>(?:\\.|(?!(?P=vq)).)*)(?P=vq)|(?P<bare>[^\s'",;)}\]]+))""")


def _named_value(m: re.Match) -> str:
    if not is_secret_name(m.group("name")) or (m.group("quoted") or m.group("bare") or "").startswith(MASK):
        return m.group(0)
    q, vq = m.group("q"), m.group("vq") or ""
    return f"{q}{m.group('name')}{q}{m.group('sep')}{vq}{MASK}{vq}"


def secrets(s) -> str:
    """Free text with URL credentials (`text`) and inline secrets masked: `API_KEY=…`, `key=…`,
    `password: …`, `{'password': '…'}`, `Bearer …`, `--token …`, `Authorization: …`, a Slack webhook's path,
    and well-known token shapes (`ghp_…`, `sk-ant-…`, `xapp-…`, `AKIA…`)."""
    masked = _INLINE_SECRET.sub(lambda m: next((g for g in m.groups() if g is not None), "") + MASK, text(s))
    return _NAMED_VALUE.sub(_named_value, masked)


def strings(value, apply=None):
    """A copy of a JSON-like record (dicts, lists, strings, numbers) with `apply` (`text` by default) applied to
    every string."""
    apply = text if apply is None else apply
    if isinstance(value, str):
        return apply(value)
    if isinstance(value, dict):
        return {k: strings(v, apply) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strings(v, apply) for v in value]
    return value


def _escape(code: int) -> str:
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape): show the byte itself
        return f"\\x{code - 0xDC00:02x}"
    return {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}.get(code) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


# C0 controls (ESC, BEL, BS, CR, LF, ...), DEL, C1 controls (CSI 0x9b, OSC 0x9d, ...), bidi controls, and
# lone surrogates (raw bytes in a file name, which would be written out as they are).
_UNPRINTABLE = {code: _escape(code) for code in [*range(0x20), *range(0x7F, 0xA0), *BIDI_CONTROLS,
                                                   *range(0xD800, 0xE000)]}


def printable(s) -> str:
    """Untrusted text made safe to print as one line: control characters and bidi controls shown as
    escapes (`\\x1b`, `\\x9b`, `\\u202e`, `\\n`), so none reaches the terminal raw."""
    if not isinstance(s, str):
        s = str(s)
    return s.translate(_UNPRINTABLE)
