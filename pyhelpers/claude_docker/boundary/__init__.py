"""The sandbox boundary: what a session may send back to the host (docs/SECURITY.md)."""
