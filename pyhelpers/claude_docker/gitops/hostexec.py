"""Which owned entries of a team repository need a signed commit (docs/GITOPS.md, "Signed commits").

Default deny, as on the way back from a session: an entry flows from any commit only when it is plain data
(the boundary's plain preferences and `.claude.json` keys), a rule that only tightens (`permissions.deny`,
`ask`), or text Claude Code reads as a prompt (`CLAUDE.md`, output styles). Everything else (a program the
host runs, a guard lowered, a place data or credentials go, a key claude-docker does not know) is applied only
from a commit signed by an allowed signer, or with the user's explicit opt-in: anyone who can push to the
repository could otherwise run code on every workstation that follows it. The reasons are the boundary's
(boundary/policy.py); claude-code-exec-surface.md has the evidence for each.
"""

from __future__ import annotations

from claude_docker.boundary import policy
from claude_docker.jsonmerge import MISSING

# Files Claude Code runs code from: `!`cmd`` blocks of commands and skills, frontmatter hooks of agents.
EXEC_DIRS = frozenset({"agents", "commands", "skills"})
# Settings toggles that run nothing when true (they turn hooks or `!` blocks off).
_OFF_SWITCHES = frozenset({"disableAllHooks", "disableSkillShellExecution"})
# Permission rules that only ever ask more or allow less; and the modes that lower nothing.
_TIGHTENING = frozenset({"deny", "ask"})
_SAFE_MODES = frozenset({"default", "plan"})
FILE_REASON = "Claude Code runs the commands in it (`!` blocks, frontmatter hooks)"
MCP_REASON = "an MCP server your host's Claude Code starts or sends data to"
UNKNOWN = "a setting claude-docker does not know (held without a signed commit)"
REMOVED_GUARD = "it removes a guard (a deny or ask rule, an off switch) your host's Claude Code keeps now"


def reason(target: str, path: tuple, value: object, before: object = MISSING) -> str | None:
    """Why setting this owned entry to `value` (MISSING: removing it) needs a signed commit, or None when any
    commit may. `before` is the host's value now: a tightening rule list may only grow. `target` is
    "settings.json", ".claude.json", or "file" for a whole file (then `path` is (config-dir-relative path,)).
    `rollout.json` is target "rollout": it picks the image every session runs."""
    if value is MISSING:
        return _removal(target, path, before)
    if target == "file":
        return FILE_REASON if path[0].partition("/")[0] in EXEC_DIRS else None
    if target == "rollout":
        return "it picks the image every session runs"
    key = path[0]
    if target == "settings.json":
        return _setting(key, path, value, before)
    if target == ".claude.json":
        if key == "mcpServers":
            return MCP_REASON
        if key in policy.SAFE_GLOBAL:
            return None
        return policy.GLOBAL_REASONS.get(key, UNKNOWN)
    return UNKNOWN


def _removal(target: str, path: tuple, before: object) -> str | None:
    """Removing an entry runs nothing, but removing a guard lowers it: a deny or ask rule, an off switch."""
    if target != "settings.json":
        return None
    if path[0] == "permissions" and (len(path) == 1 or path[1] in _TIGHTENING):
        return REMOVED_GUARD if before not in (MISSING, [], None) else None
    if path[0] in _OFF_SWITCHES or path[0] == "sandbox":
        return REMOVED_GUARD if before not in (MISSING, False, None) else None
    return None


def _setting(key: str, path: tuple, value: object, before: object) -> str | None:
    if key == "permissions":
        if len(path) == 2 and path[1] in _TIGHTENING:
            kept = not isinstance(before, list) or (isinstance(value, list) and all(r in value for r in before))
            return None if kept else REMOVED_GUARD
        if len(path) == 2 and path[1] == "defaultMode" and value in _SAFE_MODES:
            return None
        return policy.PERM
    if policy.plain_setting(key, value):
        return None
    if (key in _OFF_SWITCHES and value is True) or (key == "enabledPlugins" and len(path) > 1 and value is False):
        return None  # turning hooks, `!` blocks or a plugin off
    return policy.SETTINGS_REASONS.get(key, UNKNOWN)
