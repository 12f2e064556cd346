"""The one exception type for expected failures: a message for people and an exit status."""

from claude_docker import exitcodes


class ToolError(Exception):
    def __init__(self, message: str, code: int = exitcodes.FAILURE):
        super().__init__(message)
        self.message = message
        self.code = code
