"""HTTP servers on 127.0.0.1 that alert tests send to: a generic receiver that records every request, and a
stand-in for a Slack incoming webhook that enforces Slack's 1 request/s and checks each request's shape.
Each runs in a thread of the test's process and is stopped by the test (`.stop()`)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0  # what the server answered
    at: float = field(default_factory=time.monotonic)  # when it arrived

    def json(self):
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    """Records every request (`.requests`) and answers `.answer` (200 "ok" unless a test sets another)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.answer = Answer()
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
                with owner.lock:
                    owner.requests.append(request)
                answer = owner.respond(request)  # (outside the lock: a stand-in may hold a request a while)
                request.status = answer.status
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = _any

            def log_message(self, format, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def respond(self, request: Request) -> Answer:
        return self.answer

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class ScriptedReceiver(Receiver):
    """A webhook stand-in answering from `.script` (path -> [(status, headers)], taken in order; then 200), and,
    with `.stall_after` N, holding every request after the first N until `.release` is set (then 503)."""

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, dict]]] = {}
        self.stall_after: int | None = None
        self.release = threading.Event()
        super().__init__()

    def respond(self, request: Request) -> Answer:
        with self.lock:
            arrived = self.requests.index(request)
            queue = self.script.get(request.path, [])
            status, headers = queue.pop(0) if queue else (200, {})
        if self.stall_after is not None and arrived >= self.stall_after:
            self.release.wait(30)
            status, headers = 503, {}
        return Answer(status, b"ok", headers)

    def hook(self, path: str = "/hook", scheme: str = "json+http") -> str:
        """A target URL for this receiver, at `path`."""
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}{path}"

    def accepted(self, path: str | None = None) -> list:
        """The JSON bodies answered 200 (on `path`, if given)."""
        return [r.json() for r in self.requests if r.status == 200 and path in (None, r.path)]

    def stop(self) -> None:
        self.release.set()
        super().stop()


class SlackStandIn(Receiver):
    """Slack's incoming webhook as its docs describe it: POST, Content-Type application/json, a JSON object
    with a non-empty "text" (and "blocks" a list when present); 400 "invalid_payload" otherwise (the
    reason in `.problems`); at most 1 accepted request per second, 429 with Retry-After beyond."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.last_accepted: float | None = None
        self.problems: list[str] = []
        super().__init__()

    def _problem(self, request: Request) -> str:
        if request.method != "POST":
            return f"method {request.method}"
        if request.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return f"content type {request.headers.get('Content-Type')!r}"
        try:
            data = request.json()
        except ValueError:
            return "body is not JSON"
        if not isinstance(data, dict) or not isinstance(data.get("text"), str) or not data["text"]:
            return "no text"
        if "blocks" in data and not isinstance(data["blocks"], list):
            return "blocks is not a list"
        return ""

    def respond(self, request: Request) -> Answer:
        with self.lock:
            return self._judge(request)

    def _judge(self, request: Request) -> Answer:
        problem = self._problem(request)
        if problem:
            self.problems.append(problem)
            return Answer(400, b"invalid_payload")
        now = time.monotonic()
        if self.last_accepted is not None and now - self.last_accepted < self.interval:
            wait = self.interval - (now - self.last_accepted)
            return Answer(429, b"rate_limited", {"Retry-After": str(max(1, round(wait + 0.5)))})
        if self.answer.status == 200:
            self.last_accepted = now
        return self.answer
