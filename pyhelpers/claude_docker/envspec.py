"""Every CLAUDE_DOCKER_* setting in one table: its parser, what it accepts, its default. Everything that reads
one reads it through `get`, so a value it doesn't accept is refused the same way everywhere: one line naming
the variable and what it accepts, exit status BAD_SETTING. `claude` checks them all before anything starts
(`check_all`), `doctor` lists every bad one (`problems`).

On the append path of the logs (thousands of records a second) a setting costs one environ lookup and one
dict lookup: values are parsed once per distinct raw value. `re` and `pwd` are imported only when a value
needs them (the log-event process imports neither).
"""

from __future__ import annotations

import math
import os

from claude_docker import DEFAULT_IMAGE, exitcodes
from claude_docker.errors import ToolError

TYPE_CHECKING = False  # not typing's: its import is ~10 ms of log-event's budget (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

PREFIX = "CLAUDE_DOCKER_"


def home() -> str:
    """The user's home: $HOME, else (unset or empty) the password database's. The one place that decides it."""
    found = os.environ.get("HOME")
    if found:
        return found
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_dir or "/"
    except KeyError:  # a uid with no passwd entry (containers, sandboxes)
        return "/"


def expand(raw: str) -> str:
    """`~` and `~/…` against `home()`; `~user/…` as the password database says."""
    if raw == "~" or raw.startswith("~/"):
        return home() + raw[1:]
    return os.path.expanduser(raw)


# ---- parsers: raw text (never empty) → value; ValueError when not accepted ----

def _fullmatch(pattern: str, text: str):
    import re

    return re.fullmatch(pattern, text, re.DOTALL)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError


def _number(low: float, high: float = math.inf, whole: bool = False) -> Callable[[str], float]:
    def parse(raw: str):
        value = int(raw.strip()) if whole else float(raw.strip())
        if not (math.isfinite(value) and low <= value <= high):  # nan and inf are no number of seconds
            raise ValueError
        return value
    return parse


def has_control(text: str) -> bool:
    """A control character (a newline, an escape): in a path, something docker's flags can't carry."""
    return any(c < " " or c == "\x7f" for c in text)


def _path(raw: str) -> str:
    """A path, `~` expanded; absolute, so that it names one place whatever the current directory."""
    path = expand(raw)  # as given: a trailing space may be part of a name
    if not os.path.isabs(path):
        raise ValueError
    return path


def _mounted_path(raw: str) -> str:
    """A path below which sessions' dirs are made and mounted: no character docker's flags can't carry."""
    if has_control(raw):
        raise ValueError
    return _path(raw)


def _program(raw: str) -> str:
    path = _path(raw)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ValueError
    return path


def _url(raw: str) -> str:
    if not _fullmatch(_URL, raw.strip()):
        raise ValueError
    return raw.strip()


def _choice(*words: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.strip().lower() not in words:
            raise ValueError
        return raw.strip().lower()
    return parse


def _words(raw: str) -> tuple[str, ...]:
    return tuple(n for n in raw.replace(",", " ").split() if n)


def _spaced(raw: str) -> tuple[str, ...]:
    """Split at white space only: a URL may hold commas (mailto://…?to=a@b,c@d)."""
    return tuple(raw.split())


def _env_names(raw: str) -> tuple[str, ...]:
    names = _words(raw)
    if not all(_fullmatch(_ENV_NAME, n) for n in names):
        raise ValueError
    return names


def _caps(raw: str) -> tuple[str, ...]:
    names = _words(raw)
    if not all(n.upper().removeprefix("CAP_") in CAPABILITIES for n in names):
        raise ValueError
    return names


def _image(raw: str) -> str:
    ref = raw.strip()
    if len(ref) > 255 or not _fullmatch(_IMAGE_REF, ref):
        raise ValueError
    first, slash, _ = ref.partition("/")
    # A first component is a registry only with a dot, a port or as localhost; else it is part of the
    # (lowercase) name, which Docker refuses with an HTTP 400.
    if slash and first != first.lower() and not ("." in first or ":" in first):
        raise ValueError
    return ref


def _network(raw: str) -> str:
    name = raw.strip()
    if not _fullmatch(_NETWORK, name):
        raise ValueError
    return name


class Refused(ValueError):
    """A value refused for a reason worth showing (which entry of a list, and why)."""


def _allowed_hosts(raw: str) -> tuple:
    from claude_docker.egress.allowlist import parse_list

    try:
        return tuple(parse_list(raw))
    except ValueError as exc:
        raise Refused(str(exc)) from None


def memory_bytes(raw: str) -> int:
    """Docker's memory syntax (go-units RAMInBytes: 512m, 8g, 1.5GiB, 1073741824), in bytes."""
    found = _fullmatch(_MEMORY, raw.strip())
    if not found:
        raise ValueError
    unit = "bkmgtp".index((found.group(2) or "b").lower())
    return int(float(found.group(1)) * 1024 ** unit)


def _memory(raw: str) -> str | None:
    if raw.strip().lower() in ("0", "none"):
        return None
    if not MIN_MEMORY <= memory_bytes(raw) <= INT64_MAX:
        raise ValueError
    return raw.strip()


def _shell_words(raw: str) -> tuple[str, ...]:
    import shlex

    return tuple(shlex.split(raw))


_URL = r"(?i)https?://[^/\s?#]+(?:[/?#]\S*)?"
_ENV_NAME = r"[A-Za-z_*?][A-Za-z0-9_*?]*"  # names, or fnmatch patterns of names
_NETWORK = r"(?:container:)?[A-Za-z0-9][A-Za-z0-9_.-]*"
_MEMORY = r"(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?"
MIN_MEMORY = 6 * 1024 * 1024  # the daemon's minimum
INT64_MAX = (1 << 63) - 1  # Docker parses counts and byte sizes into int64: anything larger is its usage text
# The reference grammar of distribution/reference: [registry[:port]/]path[:tag][@digest], lowercase path.
_IMAGE_REF = (
    r"(?:(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*"
    r"(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?")
CAPABILITIES = frozenset((
    "ALL", "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN",
    "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
    "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT",
    "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG",
    "SYSLOG", "WAKE_ALARM",
))

# ---- the table ----

class Setting:
    """One variable: `parse` turns its text into the value, `accepts` says in words what it takes, `default`
    is the value when unset or empty. `secret`: the value is never echoed (it may hold a credential: `-e
    KEY=…` in RUN_ARGS, a URL's user:password)."""

    __slots__ = ("accepts", "default", "name", "parse", "secret")

    def __init__(self, name: str, parse: Callable[[str], object], accepts: str, default: object,
                 secret: bool = False):
        self.name, self.parse, self.accepts, self.default, self.secret = name, parse, accepts, default, secret

_ON = "1 or 0 (true/false, yes/no, on/off)"
ALLOWLIST = "allowlist"  # CLAUDE_DOCKER_NETWORK's mode of egress through the proxy (launcher/egress.py)
_ABS = "an absolute path (~ allowed)"
SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("CLAUDE_DOCKER_IMAGE", _image, "an image reference (name[:tag][@digest], lowercase name)",
            DEFAULT_IMAGE),
    Setting("CLAUDE_DOCKER_V2_IMAGE", _image, "an image reference (name[:tag][@digest], lowercase name)", None),
    Setting("CLAUDE_DOCKER_V2_PROBABILITY", _number(0.0, 1.0), "a number from 0 to 1", 0.0),
    Setting("CLAUDE_DOCKER_ROLLOUT_STICKY", _choice("none", "user", "project"), "none, user or project", None),
    Setting("CLAUDE_DOCKER_NETWORK", _network, "allowlist, bridge, host, none, a network's name or container:NAME",
            ALLOWLIST),
    Setting("CLAUDE_DOCKER_ALLOW_HOSTS", _allowed_hosts, "host names (*.domain for subdomains), IP addresses, "
            "each with an optional :PORT or :*, space or comma separated", ()),
    Setting("CLAUDE_DOCKER_MEMORY", _memory, "a memory size of at least 6m (e.g. 512m, 8g) or none", "8g"),
    Setting("CLAUDE_DOCKER_PIDS_LIMIT", _number(0, INT64_MAX, whole=True), "a whole number >= 0 (0: no limit)", 1024),
    Setting("CLAUDE_DOCKER_CAP_ADD", _caps, "Linux capability names (e.g. NET_ADMIN), space or comma separated",
            ()),
    Setting("CLAUDE_DOCKER_ALLOW_NEW_PRIVILEGES", _flag, _ON, False),
    Setting("CLAUDE_DOCKER_DOCKER_SOCKET", _flag, _ON, False),
    Setting("CLAUDE_DOCKER_READ_ONLY", _flag, _ON, False),
    Setting("CLAUDE_DOCKER_GITCONFIG", _flag, _ON, True),
    Setting("CLAUDE_DOCKER_ENV", _env_names, "variable names or patterns, space or comma separated", ()),
    Setting("CLAUDE_DOCKER_RUN_ARGS", _shell_words, "docker run arguments, shell-quoted", (), secret=True),
    Setting("CLAUDE_DOCKER_SYNC_HOST_COMMANDS", _choice("hold", "apply"), "hold or apply", "hold"),
    Setting("CLAUDE_DOCKER_PROTECT_GIT", _flag, _ON, True),
    Setting("CLAUDE_DOCKER_PROTECT_PROJECT", _flag, _ON, True),
    Setting("CLAUDE_DOCKER_STATE_DIR", _mounted_path, _ABS + " without control characters", None),
    Setting("CLAUDE_DOCKER_PYTHON", _program, "the absolute path of a python interpreter", None),
    Setting("CLAUDE_DOCKER_OBSERVABILITY", _flag, _ON, True),
    Setting("CLAUDE_DOCKER_EVENTS_FILE", _path, _ABS, None),  # obs/settings.py
    Setting("CLAUDE_DOCKER_METRICS_FILE", _path, _ABS, None),
    Setting("CLAUDE_DOCKER_TRACES_DIR", _path, _ABS, None),
    Setting("CLAUDE_DOCKER_LOG_MAX_BYTES", _number(4096, whole=True), "a whole number of bytes >= 4096",
            16 * 1024 * 1024),
    Setting("CLAUDE_DOCKER_LOG_KEEP", _number(1, whole=True), "a whole number >= 1", 5),
    Setting("CLAUDE_DOCKER_TEXTFILE_DIR", _path, _ABS, None),
    Setting("CLAUDE_DOCKER_PUSHGATEWAY", _url, "an http:// or https:// URL", None, secret=True),
    Setting("CLAUDE_DOCKER_BACKGROUND_FLUSH", _flag, _ON, True),
    Setting("CLAUDE_DOCKER_OTLP_ENDPOINT", _url, "an http:// or https:// URL", None, secret=True),
    Setting("CLAUDE_DOCKER_DATADOG_URL", _url, "an http:// or https:// URL", None, secret=True),
    Setting("CLAUDE_DOCKER_DATADOG_RETRIES", _number(1, 100, whole=True), "a whole number from 1 to 100", 5),
    Setting("CLAUDE_DOCKER_DATADOG_BACKOFF", _number(0.0, 3600.0), "seconds from 0 to 3600", 1.0),
    Setting("CLAUDE_DOCKER_BACKUP_DIR", _path, _ABS, None),  # paths.backup_dir
    # setitimer takes no more than time_t does; a year is past any session.
    Setting("CLAUDE_DOCKER_BACKUP_INTERVAL", _number(0.0, 365 * 86400.0),
            "seconds from 0 (no automatic backups) to 31536000 (a year)", 3600.0),
    Setting("CLAUDE_DOCKER_BACKUP_AGE_RECIPIENTS", _path, _ABS, None),
    Setting("CLAUDE_DOCKER_BACKUP_AGE_IDENTITY", _path, _ABS, None),
    Setting("CLAUDE_DOCKER_AUTO_RECOVER", _flag, _ON, False),
    Setting("CLAUDE_DOCKER_ALERTS", _flag, _ON, True),
    # alerting/config.py: each URL is parsed (and refused) there, naming the variable but never the URL.
    Setting("CLAUDE_DOCKER_ALERT_TARGETS", _spaced, "alert target URLs, space separated", (), secret=True),
)}

# Read by install.sh or the tests, never by the package: not settings of a session.
NOT_SETTINGS = ("CLAUDE_DOCKER_PREFIX", "CLAUDE_DOCKER_BIN_DIR", "CLAUDE_DOCKER_INSTALL_PYTHON")

_cache: dict = {}


def _parse(setting: Setting, raw: str | None):
    if raw is None or not raw.strip():
        return setting.default
    try:
        return setting.parse(raw)
    except ValueError as exc:
        shown = "" if setting.secret else f"={raw!r}"
        why = f" ({exc})" if isinstance(exc, Refused) else ""
        raise ToolError(f"{setting.name}{shown}: expected {setting.accepts}{why}",
                        exitcodes.BAD_SETTING) from None


def get(name: str, environ: Mapping[str, str] | None = None):
    """The parsed value of a setting (its default when unset or empty); ToolError(BAD_SETTING) if refused."""
    env = os.environ if environ is None else environ
    raw = env.get(name)
    key = (name, raw, os.environ.get("HOME"))  # paths expand `~` against it (home())
    try:
        return _cache[key]
    except KeyError:
        value = _cache[key] = _parse(SETTINGS[name], raw)
        return value


def is_set(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the user gave the setting a value (its default may be the same value: that is still a choice)."""
    assert name in SETTINGS, name
    return bool((os.environ if environ is None else environ).get(name, "").strip())


def problems(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(variable, one line) for every setting whose value is refused, in the table's order."""
    found = []
    for name in SETTINGS:
        try:
            get(name, environ)
        except ToolError as exc:
            found.append((name, exc.message))
    return found


def unknown(environ: Mapping[str, str] | None = None) -> list[str]:
    """CLAUDE_DOCKER_* variables that are no setting: typos, most likely (CLAUDE_DOCKER_READONLY)."""
    env = os.environ if environ is None else environ
    return sorted(n for n in env if n.startswith(PREFIX) and n not in SETTINGS and n not in NOT_SETTINGS
                  and not n.startswith(PREFIX + "TEST_") and n != PREFIX + "REQUIRE_DOCKER")


def check_all(environ: Mapping[str, str] | None = None) -> None:
    """Raise the first refused setting's line (a session checks them all before anything starts)."""
    found = problems(environ)
    if found:
        more = f" (and {len(found) - 1} more: `claude-docker doctor` lists them)" if len(found) > 1 else ""
        raise ToolError(found[0][1] + more, exitcodes.BAD_SETTING)
