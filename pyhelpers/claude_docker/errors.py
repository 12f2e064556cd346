"""The one exception type for expected failures: a message for people and an exit status."""

from claude_docker import exitcodes


class ToolError(Exception):
    """`message` is the line people see; with a `fix`, that is "problem: fix", and `doctor` shows the two
    apart (`problem`, `fix`)."""

    def __init__(self, message: str, code: int = exitcodes.FAILURE, fix: str = ""):
        self.problem = message
        self.fix = fix
        self.message = f"{message}: {fix}" if fix else message
        super().__init__(self.message)
        self.code = code
