"""A synthetic Claude Code state for tests and benchmarks: `~/.claude.json`, top-level config files, and
transcripts of transcript-like JSON lines (unique per file, compressible about as real ones are)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

WORDS = [
    "the", "file", "function", "test", "change", "error", "import", "return", "value", "config", "session", "project",
    "update", "line", "class", "module", "python", "shell", "docker", "build", "check", "result", "output", "input",
    "read", "write", "path", "string",
]


def _corpus(rng: random.Random, size: int = 4 << 20) -> bytes:
    return " ".join(rng.choices(WORDS, k=size // 6)).encode()


def transcript_lines(rng: random.Random, corpus: bytes, size: int) -> bytes:
    out, total = [], 0
    while total < size:
        start = rng.randrange(len(corpus) - 700)
        text = corpus[start:start + rng.randrange(150, 600)].replace(b'"', b"")
        line = b'{"type":"assistant","uuid":"%s","message":{"role":"assistant","content":"%s"}}\n' % (
            rng.randbytes(16).hex().encode(), text)
        out.append(line)
        total += len(line)
    return b"".join(out)


def make_state(home: Path, total_bytes: int, files: int, seed: int = 1) -> list[Path]:
    """Write the state under `home`; the transcripts, in a stable order."""
    rng = random.Random(seed)
    corpus = _corpus(rng)
    cfg = home / ".claude"
    transcripts = []
    per_file = max(total_bytes // files, 1)
    for i in range(files):
        d = cfg / "projects" / f"-home-u-project{i % 200}"
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{i:08d}-session.jsonl"
        path.write_bytes(transcript_lines(rng, corpus, per_file))
        transcripts.append(path)
    projects = {f"/home/u/project{i}": {"hasTrustDialogAccepted": True, "allowedTools": [], "lastCost": 0.1 * i}
                for i in range(200)}
    (home / ".claude.json").write_text(json.dumps({"numStartups": 40, "userID": "u", "projects": projects,
                                                   "oauthAccount": {"emailAddress": "u@example.com"}}, indent=2))
    (cfg / "settings.json").write_text(json.dumps({"theme": "dark", "permissions": {"allow": ["Bash(ls)"]}}))
    (cfg / ".credentials.json").write_text(json.dumps({"claudeAiOauth": {"accessToken": "a", "refreshToken": "r",
                                                                         "expiresAt": 1_800_000_000_000}}))
    os.chmod(cfg / ".credentials.json", 0o600)
    (cfg / "history.jsonl").write_bytes(b'{"display":"an earlier prompt","project":"/home/u/p"}\n' * 2000)
    (cfg / "CLAUDE.md").write_text("Be concise.\n")
    for d in ("plugins", "skills", "agents", "commands"):
        (cfg / d).mkdir(exist_ok=True)
    return transcripts


def append_turns(transcripts: list[Path], share: float, size: int, seed: int = 2) -> list[Path]:
    """Append about `size` bytes of new turns to `share` of the transcripts; the ones appended to."""
    rng = random.Random(seed)
    corpus = _corpus(rng, 1 << 20)
    chosen = rng.sample(transcripts, max(1, int(len(transcripts) * share)))
    for path in chosen:
        with open(path, "ab") as f:
            f.write(transcript_lines(rng, corpus, size))
    return chosen
