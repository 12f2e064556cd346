"""SIGKILL at random points of reconcile_config: every file of Claude's config parses at every instant, the
managed files are never half of one revision and half of another once the journal is gone, the next
reconcile finishes the job, and the audit chain stays intact."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

from claude_docker import fsio
from gitrepo import Repo
from test_gitops_reconcile import Workstation

STYLES = 120  # files per revision: enough that an apply takes a while to kill in


def revision(tag: str) -> dict[str, str]:
    found = {f"claude/output-styles/s{i:03}.md": f"{tag} style {i}\n" for i in range(STYLES)}
    found["claude/settings.json"] = json.dumps({"model": f"model-{tag}", "permissions": {"deny": [f"Read({tag})"]}})
    found["claude/claude.json"] = json.dumps({"editorMode": tag})
    return found


def tags_on_host(ws: Workstation) -> set[str]:
    """Which revision each managed file holds now ("A", "B"), every JSON file parsed on the way."""
    seen = {json.loads((ws.config / "settings.json").read_text())["model"].removeprefix("model-"),
            json.loads((ws.home / ".claude.json").read_text())["editorMode"]}
    for i in range(STYLES):
        seen.add((ws.config / "output-styles" / f"s{i:03}.md").read_text().split()[0])
    return seen


def test_sigkill_anywhere_in_an_apply_leaves_a_whole_config(git_env, tmp_path):
    repo = Repo(tmp_path / "team")
    ws = Workstation(git_env, tmp_path / "state", repo)
    repo.commit(revision("A"))
    ws.init()
    started = time.monotonic()
    ws.reconcile()
    full = time.monotonic() - started
    assert tags_on_host(ws) == {"A"}
    rng = random.Random(1234)
    journal = ws.state / "gitops" / "journal.json"
    interrupted = 0
    tag = "A"
    for _round in range(10):
        tag = "B" if tag == "A" else "A"
        repo.commit(revision(tag), f"to {tag}")
        child = subprocess.Popen([sys.executable, "-m", "claude_docker", "gitops", "reconcile"], env=ws.env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 1.0) * full)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stderr.close()
        held = tags_on_host(ws)  # (parses every JSON file: raises if one is torn)
        if journal.exists():
            interrupted += 1
        else:
            assert len(held) == 1, f"half-applied with no journal to undo it: {held}"
        ws.reconcile()  # undoes an interrupted apply, then applies the revision whole
        assert tags_on_host(ws) == {tag}
        assert not journal.exists()
        assert not [p for p in ws.config.rglob("*") if p.name.startswith(fsio.TMP_PREFIX)]
    assert ws.cli("gitops", "audit", "--verify").returncode == 0
    assert interrupted >= 1, "no kill landed inside an apply: the test proved nothing"
    assert any(e["kind"] == "rollback" and e["result"] == "interrupted" for e in ws.audit())
