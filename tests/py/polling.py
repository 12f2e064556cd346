"""Waiting in tests for something another process does: polled, bounded, and named when it never comes."""

from __future__ import annotations

import time


def wait_for(predicate, timeout: float = 5.0, what: str = "the condition"):
    """`predicate()`'s first true value, asked every 20 ms; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
