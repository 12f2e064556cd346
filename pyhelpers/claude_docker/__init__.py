"""claude-docker: Claude Code in a hardened container, with host config kept in sync."""

__version__ = "0.1.0"

# The Claude Code release the shipped image recipes pin.
CLAUDE_CODE_VERSION = "2.1.197"
