"""Which owned entries of a team repository make the host run a program (docs/GITOPS.md, "Signed commits").

Those are applied only from a commit signed by an allowed signer, or with the user's explicit opt-in: anyone
who can push to the repository could otherwise run code on every workstation that follows it. The lists are
the boundary's (boundary/policy.py), which answer the same question for what a session writes back:
claude-code-exec-surface.md has the evidence for each.
"""

from __future__ import annotations

from claude_docker.boundary import policy

# Files Claude Code runs code from: `!`cmd`` blocks of commands and skills, frontmatter hooks of agents.
EXEC_DIRS = frozenset({"agents", "commands", "skills"})
# Settings toggles that run nothing when true (they turn hooks or `!` blocks off).
_OFF_SWITCHES = frozenset({"disableAllHooks", "disableSkillShellExecution"})
FILE_REASON = "Claude Code runs the commands in it (`!` blocks, frontmatter hooks)"
MCP_REASON = "an MCP server your host's Claude Code starts (its command)"
HELPER_REASON = "an MCP server whose headers your host's Claude Code gets by running a command"
# Permission settings that let Claude Code run any command on the host without asking: as good as running one.
BYPASS_REASON = "it lets your host's Claude Code run any command without asking"
_BYPASS_MODES = frozenset({"bypassPermissions"})
_BYPASS_KEYS = frozenset({"skipDangerousModePermissionPrompt", "enableAllProjectMcpServers"})


def reason(target: str, path: tuple, value: object) -> str | None:
    """Why this owned entry makes the host run a program, or None. `target` is "settings.json",
    ".claude.json", or "file" for a whole file (then `path` is (config-dir-relative path,))."""
    if target == "file":
        return FILE_REASON if path[0].partition("/")[0] in EXEC_DIRS else None
    key = path[0]
    if target == "settings.json":
        if key in _BYPASS_KEYS and value is not False:
            return BYPASS_REASON
        if path == ("permissions", "defaultMode") and value in _BYPASS_MODES:
            return BYPASS_REASON
        if key == "permissions" and len(path) == 1 and isinstance(value, dict) \
                and value.get("defaultMode") in _BYPASS_MODES:
            return BYPASS_REASON
        if policy.SETTINGS_REASONS.get(key) != policy.EXEC:
            return None
        if (key in _OFF_SWITCHES and value is True) or (key == "enabledPlugins" and len(path) > 1 and value is False):
            return None  # turning hooks, `!` blocks or a plugin off
        return policy.EXEC
    if target == ".claude.json":
        if key == "env":
            return policy.EXEC
        if key == "mcpServers":
            # (Not an object, or stdio without a command: refused by the shape check; counted as running one.)
            if not isinstance(value, dict) or "command" in value or value.get("type", "stdio") == "stdio":
                return MCP_REASON
            return HELPER_REASON if "headersHelper" in value else None
    return None
