"""What one sync-out did, and the lines it tells the user."""

from __future__ import annotations

from pathlib import Path

from claude_docker.boundary import policy


class SyncReport:
    def __init__(self) -> None:
        self.files = 0  # host files written, appended to or removed
        self.bytes = 0
        self.merges = 0  # files merged with changes the host got meanwhile
        self.conflicts: list[str] = []
        self.quarantined: list[str] = []  # invalid or unsafe: never applied; each says where it was kept, if it was
        self.held: list[str] = []  # changes the policy held back for review: what and why
        self.refused: list[str] = []  # changes the policy refused
        self.held_in: Path | None = None  # the session's held record, if it has one
        self.notes: list[str] = []  # valid but not applied: deletions
        self.warnings: list[str] = []

    def note_held(self, label: str, verdict: policy.Verdict) -> None:
        line = f"{label}: {verdict.reason}" if verdict.reason else label
        (self.refused if verdict.action == policy.REFUSE else self.held).append(line)

    def messages(self) -> list[str]:
        from claude_docker.redact import printable

        lines = [f"conflict in {c}" for c in self.conflicts]
        lines += [f"not applied: {q}" for q in self.quarantined]
        lines += [f"not applied: {n}" for n in self.notes]
        if self.held or self.refused:
            what = [f"{len(items)} {word}" for items, word in ((self.held, "held for your review"),
                                                                (self.refused, "refused")) if items]
            lines.append(f"{' and '.join(what)}: changes the session made that would run on or steer your host; "
                         f"see `claude-docker held show {self.held_in.name if self.held_in else ''}`".rstrip())
        return [printable(line) for line in lines + [f"warning: {w}" for w in self.warnings]]
