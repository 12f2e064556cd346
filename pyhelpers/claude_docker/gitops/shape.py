"""The shapes Claude Code 2.1.197 expects of the JSON a team repository declares (docs/GITOPS.md).

A settings file Claude Code can't read is not refused by it: interactive runs show a dialog, `-p` runs
drop the broken values and go on (claude-code-facts.md §4.1). So a hook with its command in the wrong
place would be applied, and silently never run: we refuse it before anything is applied. Known keys are
type-checked; unknown keys pass (Claude Code's schema keeps them, and it has well over a hundred).

Problems are one line each, `path must be what (it is kind)`: never the value, which may be a secret.
"""

from __future__ import annotations

from collections.abc import Callable

from claude_docker.boundary import policy

# Hook events of 2.1.197 (claude-code-exec-surface.md §2.1): a misspelt one would never fire.
HOOK_EVENTS = frozenset((
    "PreToolUse", "PostToolUse", "PostToolUseFailure", "PostToolBatch", "Notification", "UserPromptSubmit",
    "UserPromptExpansion", "SessionStart", "SessionEnd", "Stop", "StopFailure", "SubagentStart", "SubagentStop",
    "PreCompact", "PostCompact", "PermissionRequest", "PermissionDenied", "Setup", "TeammateIdle", "TaskCreated",
    "TaskCompleted", "Elicitation", "ElicitationResult", "ConfigChange", "WorktreeCreate", "WorktreeRemove",
    "InstructionsLoaded", "CwdChanged", "FileChanged", "MessageDisplay",
))
# Each handler type with the string fields it can't go without.
HANDLERS = {"command": ("command",), "http": ("url",), "mcp_tool": ("server", "tool"), "prompt": ("prompt",),
            "agent": ("prompt",)}
PERMISSION_MODES = ("acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan")
MCP_REMOTE = ("http", "sse", "ws")
# rollout.json: each plan value with the parser `rollout deploy` uses for its option ("steps" has its own).
_DURATIONS = ("interval", "window", "max_p95_start", "progress_deadline")
_SHARES = ("max_error_rate", "baseline_margin")
_COUNTS = {"min_sessions": 1, "failure_limit": 0}

Check = Callable[[str, object], list[str]]


def _kind(value: object) -> str:
    if value is None or isinstance(value, bool):
        return "null" if value is None else "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string" if isinstance(value, str) else "a list" if isinstance(value, list) else "an object"


def _need(what: str, test: Callable[[object], bool]) -> Check:
    """A check of one value: `test` says whether it is `what`."""
    return lambda path, value: [] if test(value) else [f"{path} must be {what} (it is {_kind(value)})"]


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


BOOL = _need("true or false", lambda v: isinstance(v, bool))
NUMBER = _need("a number", _is_number)
STRING = _need("a string", _is_str)
TEXT = _need("a non-empty string", lambda v: isinstance(v, str) and v.strip() != "")
STRINGS = _need("a list of strings", _is_strings)
OBJECT = _need("an object", lambda v: isinstance(v, dict))
LIST = _need("a list", lambda v: isinstance(v, list))
PLUGIN_CHOICE = _need("true, false or a list of strings", lambda v: isinstance(v, bool) or _is_strings(v))


def _choice(*options: str) -> Check:
    return _need("one of " + ", ".join(options), lambda v: v in options)


def _fields(spec: dict[str, Check], required: tuple[str, ...] = ()) -> Check:
    """An object whose known fields have their checks, and whose `required` ones are present."""
    def check(path: str, value: object) -> list[str]:
        if not isinstance(value, dict):
            return OBJECT(path, value)
        found = [f"{path}.{key} is missing" for key in required if key not in value]
        for key, inner in value.items():
            if key in spec:
                found += spec[key](f"{path}.{key}", inner)
        return found
    return check


def _each(check: Check) -> Check:
    """An object whose every entry passes `check`."""
    def each(path: str, value: object) -> list[str]:
        if not isinstance(value, dict):
            return OBJECT(path, value)
        return [p for key, inner in value.items() for p in check(f"{path}.{key}", inner)]
    return each


STRING_MAP = _each(STRING)


def _handler(path: str, value: object) -> list[str]:
    if not isinstance(value, dict):
        return OBJECT(path, value)
    kind = value.get("type")
    if kind not in HANDLERS:
        return [f"{path}.type must be one of {', '.join(HANDLERS)}"]
    spec = {"timeout": NUMBER, "async": BOOL, "args": STRINGS, "headers": STRING_MAP, "allowedEnvVars": STRINGS,
            **dict.fromkeys(HANDLERS[kind], TEXT)}
    return _fields(spec, HANDLERS[kind])(path, value)


def _listed(check: Check) -> Check:
    def listed(path: str, value: object) -> list[str]:
        if not isinstance(value, list):
            return LIST(path, value)
        return [p for i, inner in enumerate(value) for p in check(f"{path}[{i}]", inner)]
    return listed


_GROUP = _fields({"matcher": STRING, "hooks": _listed(_handler)}, ("hooks",))


def _hooks(path: str, value: object) -> list[str]:
    if not isinstance(value, dict):
        return OBJECT(path, value)
    found = []
    for event, groups in value.items():
        if event not in HOOK_EVENTS:
            found.append(f"{path}.{event} is not a hook event of Claude Code (such as PreToolUse, SessionStart, Stop)")
        else:
            found += _listed(_GROUP)(f"{path}.{event}", groups)
    return found


def _mcp_server(path: str, value: object) -> list[str]:
    if not isinstance(value, dict):
        return OBJECT(path, value)
    kind = value.get("type", "stdio")
    if kind == "stdio":
        return _fields({"command": TEXT, "args": STRINGS, "env": STRING_MAP}, ("command",))(path, value)
    if kind in MCP_REMOTE:
        return _fields({"url": TEXT, "headers": STRING_MAP, "headersHelper": TEXT}, ("url",))(path, value)
    return [f"{path}.type must be one of stdio, {', '.join(MCP_REMOTE)}"]


_COMMAND_LINE = _fields({"type": _choice("command"), "command": TEXT, "padding": NUMBER}, ("type", "command"))
_SETTINGS_TYPES = {"bool": BOOL, "num": NUMBER, "str": STRING, "language": STRING}
SETTINGS: dict[str, Check] = {
    # Plain preferences, typed as the boundary's policy types them.
    **{key: _SETTINGS_TYPES[kind] for key, kind in policy.SAFE_SETTINGS.items() if kind in _SETTINGS_TYPES},
    "permissions": _fields({
        "allow": STRINGS, "deny": STRINGS, "ask": STRINGS, "additionalDirectories": STRINGS,
        "defaultMode": _choice(*PERMISSION_MODES), "disableBypassPermissionsMode": _choice("disable"),
        "disableAutoMode": _choice("disable")}),
    "env": STRING_MAP,
    "hooks": _hooks,
    "statusLine": _COMMAND_LINE, "subagentStatusLine": _COMMAND_LINE, "fileSuggestion": _COMMAND_LINE,
    **dict.fromkeys(("apiKeyHelper", "awsCredentialExport", "awsAuthRefresh", "gcpAuthRefresh", "otelHeadersHelper",
                     "proxyAuthHelper"), TEXT),
    "enabledPlugins": _each(PLUGIN_CHOICE),
    "extraKnownMarketplaces": _each(_fields({"source": _fields({"source": TEXT}, ("source",))}, ("source",))),
    **dict.fromkeys(("disableAllHooks", "disableSkillShellExecution", "includeCoAuthoredBy", "respectGitignore",
                     "enableAllProjectMcpServers", "skipDangerousModePermissionPrompt", "autoUploadSessions"), BOOL),
    **dict.fromkeys(("enabledMcpjsonServers", "disabledMcpjsonServers", "availableModels", "allowedHttpHookUrls",
                     "httpHookAllowedEnvVars", "companyAnnouncements"), STRINGS),
    **dict.fromkeys(("sandbox", "attribution", "worktree", "pluginConfigs", "modelOverrides"), OBJECT),
    "cleanupPeriodDays": _need("a whole number of days", lambda v: isinstance(v, int) and not isinstance(v, bool)
                               and v >= 0),
    "forceLoginMethod": _choice("claudeai", "console"),
    **dict.fromkeys(("agent", "defaultShell", "fallbackModel"), STRING),
}
CLAUDE_JSON: dict[str, Check] = {
    "mcpServers": _each(_mcp_server),
    "env": STRING_MAP,
    **dict.fromkeys(("theme", "editorMode", "diffTool", "preferredNotifChannel"), STRING),
    **dict.fromkeys(("verbose", "autoCompactEnabled", "autoScrollEnabled", "fileCheckpointingEnabled",
                     "showTurnDuration", "terminalProgressBarEnabled", "todoFeatureEnabled", "hasCompletedOnboarding",
                     "autoConnectIde", "autoInstallIdeExtension", "respectGitignore", "copyOnSelect"), BOOL),
}


def _problems(known: dict[str, Check], doc: object) -> list[str]:
    if not isinstance(doc, dict):
        return [f"the document must be a JSON object (it is {_kind(doc)})"]
    return [p for key, value in doc.items() if key in known for p in known[key](key, value)]


def settings_problems(doc: object) -> list[str]:
    """What in a settings.json Claude Code would not read as meant."""
    return _problems(SETTINGS, doc)


def claude_json_problems(doc: object) -> list[str]:
    """What in keys for ~/.claude.json Claude Code would not read as meant."""
    return _problems(CLAUDE_JSON, doc)


def _text(value: object, key: str) -> str:
    """A plan value as `rollout deploy`'s option text: JSON may give numbers where the option gives text, and
    the steps as a list."""
    if isinstance(value, list) and key == "steps" and all(isinstance(v, str) or _is_number(v) for v in value):
        return ",".join(map(str, value))
    if isinstance(value, str) or _is_number(value):
        return str(value)
    raise ValueError(f"{key} must be a string or a number (it is {_kind(value)})")


def rollout(doc: object) -> dict:
    """rollout.json as {"image": str, "plan": rollout.plan.make(...)}; LayoutError naming every bad value.
    Values are what `rollout deploy` takes (steps "10,50,100" or a list, durations "5m" or seconds, ...)."""
    from claude_docker import envspec
    from claude_docker.gitops.layout import LayoutError
    from claude_docker.rollout import plan as plans

    if not isinstance(doc, dict):
        raise LayoutError([f"rollout.json must be a JSON object (it is {_kind(doc)})"])
    known = ("image", "steps", *_DURATIONS, *_SHARES, *_COUNTS, "sticky")
    found = [f"{key} is not a plan setting (known: {', '.join(known)})" for key in doc if key not in known]
    image, setting = doc.get("image"), envspec.SETTINGS["CLAUDE_DOCKER_IMAGE"]
    try:
        image = setting.parse(image) if isinstance(image, str) else None
    except ValueError:
        image = None
    if image is None:
        found.append(f"image must be {setting.accepts}")
    given: dict[str, object] = {}
    for key, value in doc.items():
        try:
            if key == "steps":
                given[key] = plans.parse_steps(_text(value, key))
            elif key in _DURATIONS:
                given[key] = plans.parse_duration(_text(value, key), key)
            elif key in _SHARES:
                given[key] = plans.parse_share(_text(value, key), key)
            elif key in _COUNTS:
                given[key] = plans.parse_count(_text(value, key), key, _COUNTS[key], plans.MAX_SESSIONS)
            elif key == "sticky":
                given[key] = value
        except ValueError as exc:  # (PlanError is one)
            found.append(str(exc))
    if not found:
        try:
            return {"image": image, "plan": plans.make(**given)}
        except plans.PlanError as exc:
            found.append(str(exc))
    raise LayoutError([f"rollout.json: {problem}" for problem in found])
