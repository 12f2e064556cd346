"""`claude-docker metrics serve`: /metrics (Prometheus text format), /health/live and /health/ready."""

from __future__ import annotations

import json
import signal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from claude_docker.obs import health, promstate

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Handler(BaseHTTPRequestHandler):
    server_version = "claude-docker"

    def log_message(self, *_args) -> None:  # scrapes every few seconds: keep stderr quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        try:
            self._answer(self.path.split("?", 1)[0])
        except Exception as exc:  # noqa: BLE001 - a scrape always gets an answer, never a dropped connection
            from claude_docker.redact import text

            self._send(500, f"error: {text(getattr(exc, 'message', exc))}\n".encode(), "text/plain")

    def _answer(self, path: str) -> None:
        if path == "/metrics":
            state = promstate.collect()
            self._send(200, promstate.render(state, promstate.live_gauges()), CONTENT_TYPE)
        elif path in ("/health/live", "/health/ready", "/health"):
            checks = health.live() if path == "/health/live" else health.live() + health.ready()
            ok = health.is_ok(checks)
            body = json.dumps({"status": "ok" if ok else "fail", "checks": [c.to_json() for c in checks]}).encode()
            self._send(200 if ok else 503, body, "application/json")
        else:
            self._send(404, b'{"error": "not found"}', "application/json")


def _stop(_signum, _frame) -> None:
    raise KeyboardInterrupt


def serve(host: str, port: int, on_ready=None) -> None:
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, _stop)
    if on_ready:
        on_ready(server.server_address)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
