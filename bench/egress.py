"""What allowlist mode costs, side by side in one run:

- start: `claude --version` through `claude` in allowlist mode vs bridge mode (goal: ≤ 1.10x);
- throughput: a large download from a server on the host's loopback, from inside a session, through the
  proxy (forwarder sidecar, unix socket, proxy) vs a session on the host network connecting directly
  (goal: ≥ 0.8x);
- latency: what the proxy adds to a new connection for one small request (reported).

The download and the requests are curl in a session's Bash tool, scripted by the local fake API; curl itself
reports speed and time, so neither includes the session's start.
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
from pathlib import Path

from common import ROOT, interleaved, plugin_setup, report, time_command, user_home

sys.path.insert(0, str(ROOT / "tests"))
from fakeapi import FakeAnthropic
from origin import Origin, read_head

START_GOAL = 1.10
THROUGHPUT_GOAL = 0.8
BIG = 512 * 1024 * 1024
CHUNK = 16 * 1024 * 1024
SMALL_REQUESTS = 40


def data_origin(chunk_file: Path) -> Origin:
    """HTTP/1.0 on 127.0.0.1: /big is BIG bytes (sendfile of one chunk, repeated), anything else two bytes."""

    def answer(conn: socket.socket) -> None:
        head = read_head(conn)
        if b"\r\n\r\n" not in head:
            return
        big = head.split(b" ", 2)[1].endswith(b"/big")
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (BIG if big else 2))
        if not big:
            conn.sendall(b"ok")
            return
        with open(chunk_file, "rb") as f:
            try:
                for _ in range(BIG // CHUNK):
                    conn.sendfile(f, 0, CHUNK)
            except OSError:
                pass

    return Origin(answer)


def probe_commands(base: str) -> tuple[str, ...]:
    big = f"for i in 1 2 3; do curl -s -o /dev/null -w '%{{speed_download}} ' {base}/big; done"
    small = (f"for i in $(seq {SMALL_REQUESTS}); do curl -s -o /dev/null -w '%{{time_total}} ' "
             f"{base}/small; done")
    return big, small


def session_figures(env: dict, project: Path, base: str) -> tuple[float, float]:
    """(median download speed in bytes/s, median seconds per small request) measured inside one session."""
    import subprocess

    with FakeAnthropic(reply="done", commands=probe_commands(base)) as api:
        env = dict(env, ANTHROPIC_BASE_URL=api.url, ANTHROPIC_API_KEY="sk-bench")
        if env["CLAUDE_DOCKER_NETWORK"] == "allowlist":
            data_port = base.rsplit(":", 1)[1]
            env["CLAUDE_DOCKER_ALLOW_HOSTS"] = f"127.0.0.1:{api.port} 127.0.0.1:{data_port}"
        zsh = ["zsh", "-f", "-c", f"{plugin_setup()}; claude -p measure --allowedTools Bash"]
        subprocess.run(zsh, env=env, cwd=project, check=True, stdout=subprocess.DEVNULL, timeout=600)
        big, small = api.tool_results()
    speeds = [float(v) for v in big.split()]
    totals = [float(v) for v in small.split()]
    if len(speeds) != 3 or len(totals) != SMALL_REQUESTS or min(speeds) <= 0:
        raise SystemExit(f"bench/egress.py: a probe failed: {big!r} {small[:200]!r}")
    return statistics.median(speeds), statistics.median(totals)


def main(image: str, rounds: int = 11) -> bool:
    with user_home(image, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1") as (project, env):
        wrapped = ["zsh", "-f", "-c", f"{plugin_setup()}; claude --version"]
        allowlist, bridge = dict(env, CLAUDE_DOCKER_NETWORK="allowlist"), dict(env, CLAUDE_DOCKER_NETWORK="bridge")
        time_command(wrapped, allowlist, project)  # builds the forwarder image if it is missing
        starts = interleaved({
            "bridge": lambda: time_command(wrapped, bridge, project),
            "allowlist": lambda: time_command(wrapped, allowlist, project),
        }, rounds)

        chunk = project.parent / "chunk"
        chunk.write_bytes(os.urandom(CHUNK))
        server = data_origin(chunk)
        try:
            figures: dict[str, list[tuple[float, float]]] = {"proxy": [], "direct": []}
            for _ in range(2):
                figures["proxy"].append(session_figures(
                    allowlist, project, f"http://host.docker.internal:{server.port}"))
                figures["direct"].append(session_figures(
                    dict(env, CLAUDE_DOCKER_NETWORK="host"), project, f"http://127.0.0.1:{server.port}"))
        finally:
            server.close()
    start_ratio = starts["allowlist"] / starts["bridge"]
    report("start: allowlist vs bridge",
           f"bridge {starts['bridge'] * 1000:.0f} ms, allowlist {starts['allowlist'] * 1000:.0f} ms "
           f"({start_ratio:.3f}x)", start_ratio <= START_GOAL)
    proxy_speed = statistics.median(s for s, _ in figures["proxy"])
    direct_speed = statistics.median(s for s, _ in figures["direct"])
    ratio = proxy_speed / direct_speed
    report("download: proxy vs direct",
           f"direct {direct_speed / 1e6:.0f} MB/s, through the proxy {proxy_speed / 1e6:.0f} MB/s ({ratio:.2f}x)",
           ratio >= THROUGHPUT_GOAL)
    proxy_t = statistics.median(t for _, t in figures["proxy"])
    direct_t = statistics.median(t for _, t in figures["direct"])
    print(f"{'latency: one small request':<34} direct {direct_t * 1000:.2f} ms, through the proxy "
          f"{proxy_t * 1000:.2f} ms (+{(proxy_t - direct_t) * 1000:.2f} ms a connection)  [reported]")
    return start_ratio <= START_GOAL and ratio >= THROUGHPUT_GOAL


if __name__ == "__main__":
    raise SystemExit(0 if main(sys.argv[1]) else 1)
