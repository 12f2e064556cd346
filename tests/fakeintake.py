"""Local stand-ins for the HTTP intakes we can't run here (Datadog's logs and series APIs, an OTLP/HTTP
collector). They record what they receive, decompressed and parsed, and answer with statuses a test
scripts, so retries, spooling and splitting can be checked against what actually arrived."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeIntake:
    def __init__(self):
        self.requests: list[dict] = []  # every request: path, headers, body (parsed), status answered
        self.script: dict[str, list[int]] = {}  # path -> statuses to answer, in order (then 202)
        self.refuse = None  # body -> a status to answer instead (e.g. 400 for a poison item), or None
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                body = json.loads(raw) if raw else None
                with outer.lock:
                    queue = outer.script.get(self.path, [])
                    status = queue.pop(0) if queue else (outer.refuse and outer.refuse(body)) or 202
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    outer.requests.append({"path": self.path, "headers": headers, "body": body, "raw_size": len(raw),
                                           "status": status})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def accepted(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path and 200 <= r["status"] < 300]

    def __enter__(self) -> FakeIntake:
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.server.shutdown()
        self.server.server_close()
