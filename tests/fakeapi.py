"""A local fake of Anthropic's Messages API, for end-to-end tests: the product's stand-in
(claude_docker/rollout/standin.py, whose doc says what it answers) plus scripted tool calls.

The real Claude Code binary talks to whatever ``ANTHROPIC_BASE_URL`` points at. Pointing it at this server
lets tests run the real binary (inside or outside a container) without network access, API costs or
flakiness, and lets them assert on exactly what reached "the API": the prompt text, the ``x-api-key``
header, the model, and so on.

Given ``commands``, a streamed answer first asks for one Bash tool call per command, in order (a
``tool_use`` block, ``stop_reason: tool_use``), each once the request carries the previous one's result;
``tool_results()`` returns what came back.

Use from Python::

    with FakeAnthropic(reply="pong") as api:
        env = {"ANTHROPIC_BASE_URL": api.url, "ANTHROPIC_API_KEY": "sk-test"}
        ...
        assert api.last_prompt_text() == "ping"

or from a shell (prints the URL on one line, serves until SIGTERM/SIGINT)::

    python tests/fakeapi.py --port 0 --reply hi
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from claude_docker.rollout.standin import IDS, StandIn


class FakeAnthropic(StandIn):
    """The stand-in, with scripted Bash tool calls (see module doc)."""

    def __init__(self, reply: str = "pong", port: int = 0, commands: tuple[str, ...] = ()):
        super().__init__(reply, port)
        self.commands = commands

    def turn(self, req: dict) -> tuple[dict, list[dict], str]:
        command = self._next_command(req)
        if command is None:
            return super().turn(req)
        block = {"type": "tool_use", "id": f"toolu_fake{next(IDS):012d}", "name": "Bash", "input": {}}
        delta = {"type": "input_json_delta",
                 "partial_json": json.dumps({"command": command, "description": "scripted by the test"})}
        return block, [delta], "tool_use"

    def _next_command(self, req: dict) -> str | None:
        """The scripted command this request should get as a tool call, if any is left."""
        if not any(isinstance(t, dict) and t.get("name") == "Bash" for t in req.get("tools") or []):
            return None  # a side request (a title, a summary), not the agent's turn
        done = len(_tool_results(req.get("messages")))
        return self.commands[done] if done < len(self.commands) else None

    def tool_results(self) -> list[str]:
        """What the scripted commands' tool calls returned, in order (from the latest request holding them)."""
        found: list[str] = []
        for req in self.messages_requests():
            results = _tool_results(req["json"].get("messages") if isinstance(req["json"], dict) else None)
            if len(results) > len(found):
                found = results
        return found


def _tool_results(messages) -> list[str]:
    """The text of every tool_result block in a request's messages, in order."""
    found = []
    for message in messages or []:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list):
                    inner = "".join(b.get("text", "") for b in inner if isinstance(b, dict))
                found.append(str(inner or ""))
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--reply", default="pong", help="assistant text to stream back")
    args = ap.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with FakeAnthropic(reply=args.reply, port=args.port) as api:
        print(api.url, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
