"""Observability: events, metric observations, traces, and where they are exported."""
