"""Claude config from Git: layout, SOPS secrets, reconcile, drift, audit, the loop (docs/GITOPS.md)."""
