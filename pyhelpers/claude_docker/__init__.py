"""claude-docker: Claude Code in a hardened container, with host config kept in sync."""

__version__ = "0.1.0"

# The Claude Code release the shipped image recipes pin.
CLAUDE_CODE_VERSION = "2.1.197"
# The image sessions run unless CLAUDE_DOCKER_IMAGE says otherwise, as `claude-docker image build` tags it.
IMAGE_REPOSITORY = "claude-docker/claude-code"
DEFAULT_IMAGE = f"{IMAGE_REPOSITORY}:{CLAUDE_CODE_VERSION}"
