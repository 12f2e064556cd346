"""A local stand-in for Anthropic's Messages API, on 127.0.0.1 in a thread of this process.

The real Claude Code binary talks to whatever ``ANTHROPIC_BASE_URL`` points at. Pointed here, it finishes a
`claude -p` session with no token spent and no traffic leaving the machine: the smoke ladder's round trip
(ladder.py) runs on it, and so does the tests' fake (tests/fakeapi.py, which adds scripted tool calls). It
records every request, so a caller can tell that the request came and what it held.

What it answers:

* ``POST /v1/messages`` (any query string, e.g. ``?beta=true``): with ``"stream": true`` a Server-Sent-Events
  stream (message_start, content_block_start, ping, content_block_delta, content_block_stop, message_delta,
  message_stop); otherwise a plain JSON message. The turn is ``turn()``'s: by default the assistant says
  ``reply`` and stops with ``end_turn``.
* ``POST /v1/messages/count_tokens``: ``{"input_tokens": N}``.
* ``HEAD``/``GET`` anything: 200 with a small JSON body (Claude Code sends ``HEAD /`` as a connectivity check).
* Any other ``POST``: 404 in Anthropic's error shape.

Its clients are images under test, so it takes them as hostile: a body must say its length and stay under
MAX_BODY, a connection idle for IDLE seconds is dropped, JSON it can't read (too deep, not JSON) is no JSON,
and a failed connection is dropped silently (never a traceback on the user's terminal).
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

IDS = itertools.count(1)  # message, request and tool-use ids: unique within the process
MAX_BODY = 8 << 20  # Claude Code's requests with a long history stay well under this
IDLE = 30.0  # seconds a connection may wait between bytes


def estimate_tokens(value) -> int:
    """A crude, deterministic token count: about 4 characters per token."""
    return max(1, len(json.dumps(value)) // 4) if value is not None else 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE
    server: _Server

    def log_message(self, format, *args):  # the caller's terminal is not this server's log
        pass

    def _read_json(self):
        """The body as JSON (None: none, or not JSON); False when its length is missing or out of bounds (the
        answer then is 400 or 413 and the connection is closed)."""
        text = (self.headers.get("Content-Length") or "0").strip()
        if not text.isdigit():
            self._refuse(400, "invalid_request_error", "Content-Length must be a number")
            return False
        if int(text) > MAX_BODY:
            self._refuse(413, "request_too_large", f"bodies are at most {MAX_BODY} bytes")
            return False
        raw = self.rfile.read(int(text)) if int(text) else b""
        try:
            return json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            return None

    def _refuse(self, status: int, kind: str, message: str) -> None:
        self.close_connection = True
        self._send_json(status, {"type": "error", "error": {"type": kind, "message": message}})

    def _record(self, body) -> None:
        self.server.standin.record({"method": self.command, "path": self.path,
                                    "headers": {k.lower(): v for k, v in self.headers.items()}, "json": body})

    def _send(self, status: int, kind: str, data: bytes, head_only: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        if kind == "text/event-stream":
            self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", f"req_standin{next(IDS):08d}")
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def _send_json(self, status: int, obj, head_only: bool = False) -> None:
        self._send(status, "application/json", json.dumps(obj).encode(), head_only)

    def do_HEAD(self):
        self._record(None)
        self._send_json(200, {}, head_only=True)

    def do_GET(self):
        self._record(None)
        self._send_json(200, {})

    def do_POST(self):
        body = self._read_json()
        if body is False:
            return
        self._record(body)
        path = urlsplit(self.path).path.rstrip("/")
        req = body if isinstance(body, dict) else {}
        if path == "/v1/messages" and req.get("stream"):
            self._send(200, "text/event-stream", self.server.standin.stream(req))
        elif path == "/v1/messages":
            self._send_json(200, self.server.standin.message(req, final=True))
        elif path == "/v1/messages/count_tokens":
            self._send_json(200, {"input_tokens": estimate_tokens(req.get("messages"))})
        else:
            self._send_json(404, {"type": "error", "error": {
                "type": "not_found_error", "message": f"Not found: {self.command} {self.path}"}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: StandIn

    def handle_error(self, request, client_address) -> None:
        """A connection that failed (reset, timed out, sent garbage) is dropped: no traceback on stderr."""


class StandIn:
    """The stand-in server; a context manager. `url` is what ANTHROPIC_BASE_URL should be."""

    def __init__(self, reply: str = "pong", port: int = 0):
        self.reply = reply
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._port = port  # 0: an ephemeral one
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> StandIn:
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="messages-api-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> StandIn:
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

    # -- the answers ------------------------------------------------------
    def turn(self, req: dict) -> tuple[dict, list[dict], str]:
        """The assistant's streamed turn for a request: (its content block, the block's deltas, the stop
        reason). A subclass scripts other turns (tests/fakeapi.py: tool calls)."""
        chunks = [self.reply[i:i + 16] for i in range(0, len(self.reply), 16)] or [""]
        return {"type": "text", "text": ""}, [{"type": "text_delta", "text": c} for c in chunks], "end_turn"

    def message(self, req: dict, final: bool) -> dict:
        """A whole message (final: with the reply), or the empty one that starts a stream."""
        return {
            "id": f"msg_standin{next(IDS):016d}",
            "type": "message",
            "role": "assistant",
            "model": req.get("model") or "claude-standin",
            "content": [{"type": "text", "text": self.reply}] if final else [],
            "stop_reason": "end_turn" if final else None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": estimate_tokens(req.get("messages")),
                "output_tokens": max(1, len(self.reply) // 4) if final else 1,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }

    def stream(self, req: dict) -> bytes:
        """The Server-Sent-Events body of a streamed answer."""
        block, deltas, stop = self.turn(req)
        events = [
            ("message_start", {"type": "message_start", "message": self.message(req, final=False)}),
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
            ("ping", {"type": "ping"}),
            *(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d}) for d in deltas),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                               "usage": {"output_tokens": max(1, len(self.reply) // 4)}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        return "".join(f"event: {name}\ndata: {json.dumps(obj)}\n\n" for name, obj in events).encode()

    # -- what came --------------------------------------------------------
    def record(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)

    def messages_requests(self) -> list[dict]:
        """The recorded ``POST /v1/messages`` requests (any query string)."""
        with self._lock:
            return [r for r in self.requests if r["method"] == "POST"
                    and urlsplit(r["path"]).path.rstrip("/") == "/v1/messages"]

    def prompts(self) -> list[str | None]:
        """Per messages request, the text of its last user message (None: none there)."""
        return [_last_user_text(r["json"]) for r in self.messages_requests()]

    def last_prompt_text(self) -> str | None:
        """Text of the last user message in the last messages request."""
        prompts = self.prompts()
        return prompts[-1] if prompts else None


def _last_user_text(req) -> str | None:
    """Read from whatever a client sent: any member may have any type."""
    messages = req.get("messages") if isinstance(req, dict) else None
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"] \
        if isinstance(messages, list) else []
    if not users:
        return None
    content = users[-1].get("content")
    if isinstance(content, str):
        return content
    texts = [b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"
             and isinstance(b.get("text"), str)] if isinstance(content, list) else []
    return texts[-1] if texts else None
