"""One `claude` run: the launcher's modules, from preflight to the sync back (docs/ARCHITECTURE.md)."""
