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
                    answer = owner.respond(request)
                    request.status = answer.status
                    owner.requests.append(request)
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
