"""A local fake of Anthropic's Messages API, for end-to-end tests.

The real Claude Code binary talks to whatever ``ANTHROPIC_BASE_URL`` points
at. Pointing it at this server lets tests run the real binary (inside or
outside a container) without network access, API costs or flakiness, and
lets them assert on exactly what reached "the API": the prompt text, the
``x-api-key`` header, the model, and so on.

What is faked:

* ``POST /v1/messages`` (any query string, e.g. ``?beta=true``): with
  ``"stream": true`` a Server-Sent-Events stream (message_start,
  content_block_start, content_block_delta/text_delta, content_block_stop,
  message_delta, message_stop); otherwise a plain JSON message. Either way the
  assistant says ``reply`` and stops with ``end_turn``. Given ``commands``, it
  first asks for one Bash tool call per command, in order (a ``tool_use``
  block, ``stop_reason: tool_use``), each once the request carries the
  previous one's result; ``tool_results()`` returns what came back.
* ``POST /v1/messages/count_tokens``: ``{"input_tokens": N}``.
* ``HEAD``/``GET`` anything: 200 with a small JSON body (Claude Code sends
  ``HEAD /`` as a connectivity check).
* Any other ``POST``: 404 in Anthropic's error shape.

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
import itertools
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_ids = itertools.count(1)


def _estimate_tokens(value) -> int:
    """A crude, deterministic token count: about 4 characters per token."""
    return max(1, len(json.dumps(value)) // 4) if value is not None else 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format, *args):  # keep tests quiet
        pass

    # -- plumbing ---------------------------------------------------------
    def _read_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _record(self, body):
        self.server.fake._record({
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "json": body,
        })

    def _send_json(self, status: int, obj, head_only: bool = False):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", f"req_fake{next(_ids):08d}")
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    # -- verbs ------------------------------------------------------------
    def do_HEAD(self):
        self._record(None)
        self._send_json(200, {}, head_only=True)

    def do_GET(self):
        self._record(None)
        self._send_json(200, {})

    def do_POST(self):
        body = self._read_json()
        self._record(body)
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/v1/messages":
            if isinstance(body, dict) and body.get("stream"):
                self._stream_message(body)
            else:
                self._send_json(200, self._message(body or {}, final=True))
        elif path == "/v1/messages/count_tokens":
            self._send_json(200, {"input_tokens": _estimate_tokens(
                (body or {}).get("messages"))})
        else:
            self._send_json(404, {"type": "error", "error": {
                "type": "not_found_error",
                "message": f"Not found: {self.command} {self.path}"}})

    # -- responses --------------------------------------------------------
    def _message(self, req: dict, final: bool) -> dict:
        reply = self.server.fake.reply
        return {
            "id": f"msg_fake{next(_ids):016d}",
            "type": "message",
            "role": "assistant",
            "model": req.get("model") or "claude-fake",
            "content": [{"type": "text", "text": reply}] if final else [],
            "stop_reason": "end_turn" if final else None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": _estimate_tokens(req.get("messages")),
                "output_tokens": max(1, len(reply) // 4) if final else 1,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }

    def _next_command(self, req: dict) -> str | None:
        """The scripted command this request should get as a tool call, if any is left."""
        if not any(isinstance(t, dict) and t.get("name") == "Bash" for t in req.get("tools") or []):
            return None  # a side request (a title, a summary), not the agent's turn
        done = len(_tool_results(req.get("messages")))
        commands = self.server.fake.commands
        return commands[done] if done < len(commands) else None

    def _stream_message(self, req: dict):
        reply = self.server.fake.reply
        command = self._next_command(req)
        start = self._message(req, final=False)
        events = [("message_start", {"type": "message_start", "message": start})]
        if command is None:
            chunks = [reply[i:i + 16] for i in range(0, len(reply), 16)] or [""]
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": c} for c in chunks]
            stop = "end_turn"
        else:
            block = {"type": "tool_use", "id": f"toolu_fake{next(_ids):012d}", "name": "Bash", "input": {}}
            deltas = [{"type": "input_json_delta",
                       "partial_json": json.dumps({"command": command, "description": "scripted by the test"})}]
            stop = "tool_use"
        events += [("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
                   ("ping", {"type": "ping"})]
        events += [("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d}) for d in deltas]
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": stop, "stop_sequence": None},
                               "usage": {"output_tokens": max(1, len(reply) // 4)}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        data = "".join(f"event: {name}\ndata: {json.dumps(obj)}\n\n"
                       for name, obj in events).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", f"req_fake{next(_ids):08d}")
        self.end_headers()
        self.wfile.write(data)


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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAnthropic


class FakeAnthropic:
    """A fake Messages API on 127.0.0.1; a context manager (see module doc)."""

    def __init__(self, reply: str = "pong", port: int = 0, commands: tuple[str, ...] = ()):
        self.reply = reply
        self.commands = commands
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------
    def start(self) -> FakeAnthropic:
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="fake-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- recorded traffic -------------------------------------------------
    def _record(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)

    def messages_requests(self) -> list[dict]:
        """The recorded ``POST /v1/messages`` requests (any query string)."""
        with self._lock:
            return [r for r in self.requests if r["method"] == "POST"
                    and urlsplit(r["path"]).path.rstrip("/") == "/v1/messages"]

    def tool_results(self) -> list[str]:
        """What the scripted commands' tool calls returned, in order (from the latest request holding them)."""
        found: list[str] = []
        for req in self.messages_requests():
            results = _tool_results(req["json"].get("messages") if isinstance(req["json"], dict) else None)
            if len(results) > len(found):
                found = results
        return found

    def last_prompt_text(self) -> str | None:
        """Text of the last user message in the last messages request."""
        reqs = self.messages_requests()
        if not reqs or not isinstance(reqs[-1]["json"], dict):
            return None
        users = [m for m in reqs[-1]["json"].get("messages") or []
                 if m.get("role") == "user"]
        if not users:
            return None
        content = users[-1].get("content")
        if isinstance(content, str):
            return content
        texts = [b.get("text") for b in content or []
                 if isinstance(b, dict) and b.get("type") == "text"]
        return texts[-1] if texts else None


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
