"""The one policy for everything that flows from a session back to the host (docs/SECURITY.md).

A session's container may run a prompt-injected agent, so all it writes is untrusted input. For every path
and every JSON key that can reach the host this module answers one of:

* FLOW    data: applied as the session wrote it (theme, counters, project trust, history, transcripts);
* HOLD    kept aside for the user's review (`claude-docker held`): it would run a program on the host, lower
          a guard, send data or credentials somewhere, or it is simply unknown (default deny);
* REFUSE  never applied: only a hostile or broken session writes it (a `.config.json` that replaces the
          global config, a legacy key that migrates into a permission bypass);
* DROP    silently not applied: the host's own copy is the truth (caches the host refetches, an OAuth token
          older than the host's).

What Claude Code 2.1.197 runs code from, and why each entry is here: ../shared/reference/claude-code-exec-surface.md,
summarised in docs/SECURITY.md. Pure: no I/O, so every rule is testable on its own.
"""

from __future__ import annotations

import re
from collections import namedtuple

from claude_docker.jsonmerge import MISSING, same

FLOW, HOLD, REFUSE, DROP, DESCEND = "flow", "hold", "refuse", "drop", "descend"


class Verdict(namedtuple("Verdict", "action reason")):
    __slots__ = ()


def flow() -> Verdict:
    return Verdict(FLOW, "")


# --- the config dir's top level -----------------------------------------------------------------------

# How a directory of Claude's config dir is seen by a session.
SHARED, READ_ONLY, LOCAL = "shared", "read-only", "local"

# Data Claude Code reads as data: bind-mounted read-write, so gigabytes of transcripts are never copied.
SHARED_DIRS = frozenset({
    "projects", "todos", "tasks", "plans", "teams", "file-history", "themes", "cache", "statsig", "telemetry",
    "usage-data", "feedback-bundles", "debug", "paste-cache", "image-cache", "uploads", "shares", "startup-perf",
    "dump-prompts", "traces",
})
# Per-process or per-machine state, and places whose content the host would run or restore: the session gets
# its own empty one, which never leaves the container (session-env/ scripts run on `--resume`; backups/ holds
# old .claude.json copies with their env and MCP servers).
PER_PROCESS_DIRS = frozenset({"sessions", "shell-snapshots", "ide"})  # meaningless after the process: not backed up
LOCAL_DIRS = PER_PROCESS_DIRS | {"session-env", "backups", "daemon", "jobs"}
# Code the host runs or loads (plugins, commands, skills, agents, …), or text loaded into every session.
# Mounted read-only when they exist; created in a session, they are held (or refused) at its end.
CODE_DIRS = {
    "plugins": REFUSE, "cowork_plugins": REFUSE, "workflows": REFUSE, "local": REFUSE, "chrome": REFUSE,
    "commands": HOLD, "skills": HOLD, "agents": HOLD, "output-styles": HOLD, "routines": HOLD, "hooks": HOLD,
    "rules": HOLD, "agent-memory": HOLD, "mcp-skill-archives": HOLD,
}
CODE_DIR_REASON = "code or instructions your host's Claude Code would load"

# Top-level files whose changes are applied key by key (see the key policies below).
KEYED_FILES = frozenset({".claude.json", "settings.json", "settings.local.json", "cowork_settings.json",
                         ".credentials.json"})
FLOW_FILES = frozenset({"history.jsonl", "stats-cache.json", "gh-pr-status-cache.json", "mcp-needs-auth-cache.json",
                        ".last-cleanup", ".last-update-result.json", ".deep-link-register-failed"})
DROP_FILES = frozenset({"hfi-auth.json", "daemon.log", "daemon.status.json", "daemon.scheduled.status.json"})
REFUSED_FILES = {
    ".config.json": "it would replace your whole ~/.claude.json (MCP servers, env) for every native run",
    ".claude-custom-oauth.json": "it would replace your global config when a custom OAuth URL is set",
    "remote-settings.json": "a server-managed policy cache, never written by a session",
    "policy-limits.json": "an organisation policy file, never written by a session",
    "daemon.json": "it schedules background agent runs, with their permission mode",
}


def dir_mode(name: str, relaxed: bool = False) -> str:
    """How a session sees one directory of the host's config dir. Unknown ones are read-only: default deny."""
    if name in LOCAL_DIRS:
        return LOCAL
    if name in SHARED_DIRS or (relaxed and CODE_DIRS.get(name) == HOLD):
        return SHARED
    return READ_ONLY


def config_entry(rel: str) -> Verdict:
    """A file the session created or changed in its staged config dir (`rel` is relative to the config dir)."""
    top, _, rest = rel.partition("/")
    if rest:  # inside a directory that was not mounted: one the session created
        if top in LOCAL_DIRS:
            return Verdict(DROP, "")
        if top in SHARED_DIRS:
            return flow()
        if top in CODE_DIRS:
            return Verdict(CODE_DIRS[top], CODE_DIR_REASON)
        return Verdict(HOLD, "a new directory Claude Code may read code or settings from")
    if top in REFUSED_FILES:
        return Verdict(REFUSE, REFUSED_FILES[top])
    if top in FLOW_FILES:
        return flow()
    if top in DROP_FILES:
        return Verdict(DROP, "")
    if top.endswith(".sh"):
        return Verdict(HOLD, "a script your host's settings could run")
    if top == "CLAUDE.md":
        return Verdict(HOLD, "instructions loaded into every Claude Code session")
    return Verdict(HOLD, "a new file Claude Code may read settings or code from")


# --- values -----------------------------------------------------------------------------------------

def _plain(value, depth: int = 0) -> bool:
    """Data that can't name a program or a place: booleans, numbers, short strings without path separators,
    and lists or objects of those."""
    if depth > 4:
        return False
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return len(value) <= 200 and "/" not in value and "\\" not in value and value.isprintable()
    if isinstance(value, list):
        return len(value) <= 1000 and all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= 1000 and all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    return False


_LANGUAGE = re.compile(r"[A-Za-z][A-Za-z ()-]{0,39}")  # the language is spliced into the system prompt
_TYPES = {"bool": lambda v: isinstance(v, bool),
          "num": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          "str": lambda v: isinstance(v, str) and _plain(v), "plain": _plain,
          "language": lambda v: isinstance(v, str) and _LANGUAGE.fullmatch(v) is not None}


def _typed(kind: str, value) -> bool:
    return value is MISSING or _TYPES[kind](value)


def _empty(value) -> bool:
    if isinstance(value, bool):
        return value is False
    if isinstance(value, (int, float)):
        return value == 0
    return value is None or value in ("", [], {})


# Keys whose absent value is truthy: setting them to false or empty lowers a guard.
_TRUTHY_DEFAULTS = frozenset({"respectGitignore", "autoUpdates", "includeCoAuthoredBy", "cleanupPeriodDays"})


def _inert_default(key: str, base, ours) -> bool:
    """A key the session added with an empty value (Claude Code writes defaults like `allowedTools: []` into
    every new project entry): it grants nothing."""
    return base is MISSING and ours is not MISSING and _empty(ours) and key not in _TRUTHY_DEFAULTS


# --- settings.json ----------------------------------------------------------------------------------

# Plain preferences (reference §2.4), with the value type they must have to flow.
SAFE_SETTINGS = {
    "$schema": "str", "theme": "str", "editorMode": "str", "verbose": "bool", "viewMode": "str", "tui": "plain",
    "language": "language", "outputStyle": "str", "effortLevel": "str", "alwaysThinkingEnabled": "bool",
    "fastMode": "bool", "fastModePerSessionOptIn": "bool", "autoCompactWindow": "num", "autoCompactEnabled": "bool",
    "precomputeCompactionEnabled": "bool", "promptSuggestionEnabled": "bool", "awaySummaryEnabled": "bool",
    "showClearContextOnPlanAccept": "bool", "showThinkingSummaries": "bool", "showTurnDuration": "bool",
    "showMessageTimestamps": "bool", "terminalProgressBarEnabled": "bool", "todoFeatureEnabled": "bool",
    "autoScrollEnabled": "bool", "wheelScrollAccelerationEnabled": "bool", "syntaxHighlightingDisabled": "bool",
    "terminalTitleFromRename": "bool", "prefersReducedMotion": "bool", "preferredNotifChannel": "str",
    "spinnerTipsEnabled": "bool", "spinnerVerbs": "plain", "spinnerTipsOverride": "plain",
    "companyAnnouncements": "plain", "breakReminder": "plain", "quietHours": "plain",
    "skillListingMaxDescChars": "num", "skillListingBudgetFraction": "num", "skillOverrides": "plain",
    "includeGitInstructions": "bool", "respondToBashCommands": "bool", "fileCheckpointingEnabled": "bool",
    "autoMemoryEnabled": "bool", "autoDreamEnabled": "bool", "switchModelsOnFlag": "bool", "doneMeansMerged": "bool",
    "totalTokensReminder": "bool", "totalTokensReminderBudget": "num", "enableArtifact": "bool",
    "defaultView": "str", "axScreenReader": "bool",
    # `/model` writes a model name; a provider ARN or a path (slashes, colons) is held with the NET keys.
    "model": "str", "worktree": "plain",
}
_MODEL_NAME = re.compile(r"[A-Za-z0-9._\-\[\]]{1,100}")
_SHELLS = frozenset({"bash", "zsh", "sh", "fish", "powershell", "pwsh"})

EXEC = "runs a program on your host"  # (public: gitops/hostexec.py gates on it)
PERM = "lowers a permission or sandbox guard"
NET = "changes where data, credentials or requests go"
SETTINGS_REASONS = {
    **dict.fromkeys(("hooks", "statusLine", "subagentStatusLine", "fileSuggestion", "apiKeyHelper", "proxyAuthHelper",
                     "awsCredentialExport", "awsAuthRefresh", "gcpAuthRefresh", "otelHeadersHelper", "policyHelper",
                     "env", "enabledPlugins", "extraKnownMarketplaces", "pluginConfigs", "agent", "disableAllHooks",
                     "disableSkillShellExecution", "enableWorkflows", "workflowKeywordTriggerEnabled", "ultracode",
                     "daemonColdStart", "teammateMode", "remoteControlAtStartup", "defaultShell"), EXEC),
    **dict.fromkeys(("permissions", "disableAutoMode", "skipDangerousModePermissionPrompt", "skipAutoPermissionPrompt",
                     "useAutoModeDuringPlan", "autoMode", "skipWorkflowUsageWarning", "enableAllProjectMcpServers",
                     "enabledMcpjsonServers", "disabledMcpjsonServers", "allowedMcpServers", "deniedMcpServers",
                     "allowedHttpHookUrls", "httpHookAllowedEnvVars", "sandbox", "skipWebFetchPreflight",
                     "autoMemoryDirectory", "plansDirectory", "claudeMdExcludes", "isolatePeerMachines",
                     "channelsEnabled", "allowedChannelPlugins", "pluginSuggestionMarketplaces", "respectGitignore",
                     "cleanupPeriodDays"), PERM),
    **dict.fromkeys(("forceLoginMethod", "forceLoginOrgUUID", "forceLoginGatewayUrl", "xaaIdp", "modelOverrides",
                     "fallbackModel", "advisorModel", "availableModels", "enforceAvailableModels", "autoUploadSessions",
                     "remote", "sshConfigs", "voice", "voiceEnabled", "prUrlTemplate", "footerLinksRegexes",
                     "attribution", "includeCoAuthoredBy", "autoUpdatesChannel", "minimumVersion"), NET),
}


# Keys whose entries are held one by one: a review shows (and an apply writes) only the entry the session
# changed, never the user's other servers or variables with their tokens.
PER_ENTRY = frozenset({"env", "mcpServers"})


def _entries(path: tuple, depth: int, ours, reason: str) -> Verdict:
    """DESCEND into a PER_ENTRY object at `depth`, or HOLD the entry below it."""
    if len(path) == depth:
        return Verdict(DESCEND, "") if isinstance(ours, dict) else Verdict(HOLD, reason)
    return Verdict(HOLD, reason)


def plain_setting(key: str, value) -> bool:
    """A settings.json key whose value is a plain preference: it runs nothing, lowers no guard, sends nothing
    anywhere (a model name, not a provider's URL; a shell by name, not by path)."""
    kind = SAFE_SETTINGS.get(key)
    if kind and _typed(kind, value):
        return key != "model" or value is MISSING or _MODEL_NAME.fullmatch(value) is not None
    return key == "defaultShell" and value in _SHELLS


def settings_change(path: tuple, base, ours, theirs, ctx) -> Verdict:
    """A top-level key of settings.json (user, local, or a project's) that the session changed."""
    key = path[0]
    if ctx.relaxed:
        return flow()
    if key in PER_ENTRY and not _inert_default(key, base, ours):
        return _entries(path, 1, ours, SETTINGS_REASONS.get(key, EXEC))
    if plain_setting(key, ours):
        return flow()
    if key == "model" and _typed("str", ours):
        return Verdict(HOLD, NET)
    if _inert_default(key, base, ours):
        return flow()
    return Verdict(HOLD, SETTINGS_REASONS.get(key, "a setting claude-docker does not know (held by default)"))


# --- ~/.claude.json ---------------------------------------------------------------------------------

# UI preferences, first-run keys, interactive bookkeeping and usage counters (reference §2.6).
SAFE_GLOBAL = frozenset({
    "theme", "editorMode", "verbose", "preferredNotifChannel", "autoCompactEnabled", "autoScrollEnabled",
    "fileCheckpointingEnabled", "showTurnDuration", "showMessageTimestamps", "terminalProgressBarEnabled",
    "todoFeatureEnabled", "inputNeededNotifEnabled", "agentPushNotifEnabled", "diffTool",
    "externalEditorContext", "copyOnSelect", "copyFullResponse", "messageIdleNotifThresholdMs",
    "firstStartTime", "machineID", "migrationVersion", "opusProMigrationComplete", "sonnet1m45MigrationComplete",
    "seenNotifications", "numStartups", "tipsHistory", "tipLifetimeShownCounts", "lastReleaseNotesSeen",
    "hasCompletedOnboarding", "lastOnboardingVersion", "skillUsage", "pluginUsage", "promptQueueUseCount",
    "memoryUsageCount", "btwUseCount", "feedbackSurveyState", "officialMarketplaceAutoInstallAttempted",
    "officialMarketplaceAutoInstallInstalled", "officialMarketplaceAutoInstallFailReason",
    "officialMarketplaceAutoInstallRetryCount", "officialMarketplaceAutoInstallLastAttemptTime",
    "officialMarketplaceAutoInstallNextRetryTime", "showExpandedTodos", "showStatusInTerminalTab",
    "preferTmuxOverIterm2", "leftArrowOpensAgents", "briefTranscript", "favoritePlugins", "agentLastUsed",
    "claudeCodeFirstTokenDate", "startupPrefetchedAt", "powerupsUnlocked", "fleetViewGroupMode",
    "fleetViewPeakConcurrent", "lastShownEmergencyTip", "teammateDefaultModel", "claudeCodeHints",
    # `/config` toggles, dismissals and first-use flags of 2.1.197's global config (its `Sdr` list).
    "prStatusFooterEnabled", "permissionExplainerEnabled", "taskCompleteNotifEnabled", "defaultToAgentsView",
    "diffSidebarOpen", "lspRecommendationDisabled", "lspRecommendationNeverPlugins", "shiftEnterKeyBindingInstalled",
    "claudeAiMcpEverConnected", "passesLastSeenRemaining",
})
# Counters, dismissals and "seen" flags by name: they flow while their value stays plain data.
_BOOKKEEPING = re.compile(r"^(has[A-Z]|num[A-Z]|seen[A-Z])|(Seen|Count|Counts|Dismissed|Acknowledged|Shown|Complete|"
                          r"Completed|Watermark|Impressions|Declined|DeclinedUpgrades|LaunchEffort|Consent\w*|"
                          r"Unlocked|At)$")
CACHE = re.compile(r"^cached|Cache")  # (public: gitops/layout.py refuses these in a repository)
GLOBAL_REASONS = {
    **dict.fromkeys(("env", "mcpServers"), EXEC),
    **dict.fromkeys(("primaryApiKey", "oauthAccount", "customApiKeyResponses", "userID", "autoConnectIde",
                     "autoInstallIdeExtension", "remoteControlAtStartup", "autoUploadSessions",
                     "claudeInChromeDefaultEnabled", "githubRepoPaths", "deepLinkTerminal", "chromeExtension"), NET),
}
# How the host's own Claude Code is installed and updated is the host's business: never taken from a session.
GLOBAL_DROPPED = frozenset({"autoUpdates", "installMethod", "autoUpdatesProtectedForNative", "penguinModeOrgEnabled"})
GLOBAL_REFUSED = {"bypassPermissionsModeAccepted": "it turns into a permission-bypass setting at the next native start"}

# Per-project entries (projects[<path>]).
PROJECT_STATS = re.compile(r"^last[A-Z]\w*$|^exampleFiles\w*$")
PROJECT_TRUST = frozenset({"hasTrustDialogAccepted", "hasCompletedProjectOnboarding", "projectOnboardingSeenCount"})
PROJECT_REFUSED = dict.fromkeys(("enabledMcpjsonServers", "disabledMcpjsonServers", "enableAllProjectMcpServers"),
                                "it migrates into the project's MCP server approvals at the next native start")


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def claude_json_change(path: tuple, base, ours, theirs, ctx) -> Verdict:
    key = path[0]
    if key == "projects":
        if len(path) == 1:
            if isinstance(ours, dict):
                return Verdict(DESCEND, "")
            return Verdict(HOLD, "it would remove every project's state")
        if len(path) == 2:
            return Verdict(DESCEND, "") if isinstance(ours, dict) else Verdict(HOLD, "it removes a project's state")
        return _project_key(path[1], path[2], base, ours, ctx, path)
    if ctx.relaxed and key not in GLOBAL_REFUSED:
        return flow()
    if key in PER_ENTRY:
        # `"mcpServers": {}`, written by Claude Code's first session of every new project, grants nothing.
        return flow() if len(path) == 1 and _inert_default(key, base, ours) else _entries(path, 1, ours, EXEC)
    if key in GLOBAL_REFUSED:
        return Verdict(REFUSE, GLOBAL_REFUSED[key])
    if key == "oauthAccount":
        if ctx.account_switched:
            return Verdict(HOLD, "a login to another account")
        return flow() if theirs is MISSING or _account(ours) == _account(theirs) else Verdict(HOLD, NET)
    if key == "userID" and theirs is MISSING:
        return flow()  # set once, on the first run
    if key in GLOBAL_DROPPED:
        return Verdict(DROP, "")
    if key == "respectGitignore":
        return flow() if ours is True or ours is MISSING else Verdict(HOLD, PERM)
    if key in GLOBAL_REASONS:
        return Verdict(HOLD, GLOBAL_REASONS[key])
    if key in SAFE_GLOBAL and (ours is MISSING or _plain(ours)):
        return flow()
    if CACHE.search(key):
        return Verdict(DROP, "")  # the host refetches its own
    if _BOOKKEEPING.search(key) and (ours is MISSING or _plain(ours)):
        return flow()
    if _inert_default(key, base, ours):
        return flow()
    return Verdict(HOLD, "a key claude-docker does not know (held by default)")


def _project_key(project: str, key: str, base, ours, ctx, path: tuple = ()) -> Verdict:
    if ctx.relaxed and key not in PROJECT_REFUSED:
        return flow()
    if len(path) > 3:  # an entry of the project's MCP servers
        return Verdict(HOLD, EXEC)
    if _inert_default(key, base, ours):
        return flow()
    if key == "mcpServers":
        return _entries(path, 3, ours, EXEC)
    if key in PROJECT_REFUSED:
        return Verdict(REFUSE, PROJECT_REFUSED[key])
    if PROJECT_STATS.match(key) and (ours is MISSING or _plain(ours)):
        return flow()
    if key in PROJECT_TRUST:
        if any(_within(project, root) for root in ctx.projects):
            return flow()  # the session trusted the folder it was started in, as the user answered it
        return Verdict(HOLD, f"it trusts {project}, a folder this session was not started in")
    return Verdict(HOLD, PERM if key.startswith("has") or key in ("allowedTools", "mcpContextUris") else
                   "a key claude-docker does not know (held by default)")


def _account(value) -> object:
    return value.get("accountUuid") if isinstance(value, dict) else None


def account_switched(base, ours, theirs) -> bool:
    """Did the session log in to an account other than the host's? Then its tokens would send the host's
    work to that account: they are held, not applied."""
    host = _account(theirs.get("oauthAccount")) if isinstance(theirs, dict) else None
    session = _account(ours.get("oauthAccount")) if isinstance(ours, dict) else None
    return bool(host and session and host != session)


# --- .credentials.json ------------------------------------------------------------------------------

def _expiry(value) -> float:
    exp = value.get("expiresAt") if isinstance(value, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else 0.0


def credentials_change(path: tuple, base, ours, theirs, ctx) -> Verdict:
    key = path[0]
    if key == "mcpOAuth" and len(path) == 1:
        return Verdict(DESCEND, "") if isinstance(ours, dict) else Verdict(HOLD, "it logs your MCP servers out")
    if key == "claudeAiOauth" or len(path) == 2:
        if ours is MISSING:
            return Verdict(HOLD, "a logout in the session")
        if key == "claudeAiOauth" and ctx.account_switched:
            return Verdict(HOLD, "a login to another account")
        if theirs is MISSING or _expiry(ours) > _expiry(theirs):
            return flow()  # a first login, or a refreshed token
        return Verdict(DROP, "")  # the host's token is as new or newer: refresh tokens are single-use
    return Verdict(HOLD, "a credential claude-docker does not know (held by default)")


# --- the walk over a JSON document ------------------------------------------------------------------

Context = namedtuple("Context", "projects account_switched relaxed", defaults=((), False, False))
HeldKey = namedtuple("HeldKey", "path value verdict")  # value: the session's (MISSING: it deleted the key)

KEY_POLICIES = {".claude.json": claude_json_change, "settings.json": settings_change,
                "settings.local.json": settings_change, "cowork_settings.json": settings_change,
                ".credentials.json": credentials_change}


def filter_changes(classify, base, ours, theirs, ctx: Context, path: tuple = ()) -> tuple[dict, list[HeldKey]]:
    """The session's document with only the changes that flow (a dict), and the changes that don't.

    Changes are what differs between `base` (the file the session started from) and `ours` (what it
    wrote), key by key; `theirs` is the host's current file, for rules that compare with it."""
    base = base if isinstance(base, dict) else {}
    theirs = theirs if isinstance(theirs, dict) else {}
    allowed = dict(base)
    held: list[HeldKey] = []
    for key in list(ours) + [k for k in base if k not in ours]:
        b, o = base.get(key, MISSING), ours.get(key, MISSING)
        if same(b, o):
            continue
        here = path + (key,)
        verdict = classify(here, b, o, theirs.get(key, MISSING), ctx)
        if verdict.action == DESCEND:
            inner, below = filter_changes(classify, b, o, theirs.get(key, MISSING), ctx, here)
            if inner or b is not MISSING:  # an entry whose every key was held is not created empty
                allowed[key] = inner
            held += below
        elif verdict.action == FLOW:
            if o is MISSING:
                allowed.pop(key, None)
            else:
                allowed[key] = o
        elif verdict.action != DROP:
            held.append(HeldKey(here, o, verdict))
    return allowed, held


# --- transcripts ------------------------------------------------------------------------------------

# Transcript lines that `--resume` turns into session state rather than conversation: the permission mode,
# the main agent, the worktree to re-enter, the mode.
STATE_LINE_TYPES = frozenset({"permission-mode", "agent-setting", "worktree-state", "mode"})
# Values every ordinary session writes (real Claude Code 2.1.197 appends a `mode: normal` line to each
# transcript): they restore nothing but the defaults, and stay. `plan` is never restored by a resume.
DEFAULT_STATE = {"mode": ("mode", {"normal"}), "permission-mode": ("permissionMode", {"default", "plan"})}


def is_state_line(record) -> bool:
    """A transcript line that a resume would turn into non-default session state."""
    if not isinstance(record, dict) or record.get("type") not in STATE_LINE_TYPES:
        return False
    field, defaults = DEFAULT_STATE.get(record["type"], ("", ()))
    return record.get(field) not in defaults


# --- the project ------------------------------------------------------------------------------------

# Files in a project that the host's Claude Code or git would run or obey without asking (reference §1.5),
# relative to the project root. JSON settings are reviewed key by key; the rest as whole files.
PROJECT_SETTINGS = (".claude/settings.json", ".claude/settings.local.json")
PROJECT_FILES = (".mcp.json", ".claude/scheduled_tasks.json", ".claude/launch.json", ".worktreeinclude")
PROJECT_DIRS = (".claude/commands", ".claude/skills", ".claude/agents", ".claude/workflows", ".claude/routines",
                ".claude/hooks", ".claude/output-styles")


def project_file_reason(rel: str) -> str:
    if rel == ".mcp.json":
        return "MCP servers your host's Claude Code starts in this project"
    if rel == ".worktreeinclude":
        return "files copied into every new worktree"
    return "code your host's Claude Code would run in this project"


def relaxed() -> bool:
    """CLAUDE_DOCKER_SYNC_HOST_COMMANDS=apply: the user's explicit opt-out of holding host commands."""
    from claude_docker import envspec

    return envspec.get("CLAUDE_DOCKER_SYNC_HOST_COMMANDS") == "apply"
