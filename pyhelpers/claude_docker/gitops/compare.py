"""The 3-way comparison of every managed item: the repository's value (R), the value last applied (A, from
the record) and the host's value now (H), all as digests. Pure: reconcile and detect_drift both decide from it.

    H == R                      in sync
    H == A, R != A              repo: the repository changed, the host is as we left it -> apply
    A unknown, H absent         repo: a new item -> apply
    A unknown, H present != R   both: the user had their own value before the repository managed it
    R == A, H != A              local: the user changed it since the last apply (drift) -> kept, unless self-heal
    R != A, H != A              both: changed on both sides (drift) -> kept, unless --force
    R gone, H == A              dropped: the repository no longer declares it, untouched here -> prunable
    R gone, H != A              dropped and changed here -> the user's now, forgotten
"""

from __future__ import annotations

from collections import namedtuple

SYNC, REPO, LOCAL, BOTH, DROPPED = "in-sync", "repo", "local", "both", "dropped"
DRIFT = (REPO, LOCAL, BOTH)  # what detect_drift reports (its `direction`)


class Item(namedtuple("Item", "ident state repo applied host")):
    """One managed item: its ident (record.item_id), its state above, and the three digests (None: absent).
    (collections' namedtuple, not typing's: `typing` costs the drift probe ~10 ms to import.)"""

    __slots__ = ()

    @property
    def prunable(self) -> bool:
        return self.state == DROPPED and self.host == self.applied and self.host is not None


def compare(repo: dict[str, str | None], applied: dict[str, str | None], host: dict[str, str | None]) -> list[Item]:
    """Every item the repository declares or the record remembers, in a stable order."""
    found = []
    for ident in sorted(set(repo) | {i for i, a in applied.items() if a is not None}):
        r, a, h = repo.get(ident), applied.get(ident), host.get(ident)
        if r is None:
            state = DROPPED
        elif h == r:
            state = SYNC
        elif h == a:
            state = REPO
        elif a is None:
            state = BOTH
        elif r == a:
            state = LOCAL
        else:
            state = BOTH
        found.append(Item(ident, state, r, a, h))
    return found
