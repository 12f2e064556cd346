"""Egress control: the allowlist proxy, the forwarder that reaches it, and their events."""
