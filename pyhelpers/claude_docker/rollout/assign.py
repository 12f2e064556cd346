"""Which slot one session runs: the stage's share at random, or sticky: a user (or a project) hashed with the
deployment id, so it stays on one slot for the whole stage and "10 % of users" means users. A hash below the
share is v2, so a user on the candidate at 10 % stays on it at 50 %."""

from __future__ import annotations

import random


def sticky_key(mode: str, user: str, project: str) -> str | None:
    return {"user": user, "project": project}.get(mode)


def draw(deployment: str, key: str | None) -> float:
    """A number in [0, 1): random per session, or fixed by (deployment, key)."""
    if key is None:
        return random.random()
    from hashlib import blake2b

    digest = blake2b(f"{deployment}\0{key}".encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2 ** 64


def slot(weight: float, deployment: str, key: str | None) -> str:
    return "v2" if weight > 0 and draw(deployment, key) < weight else "v1"
