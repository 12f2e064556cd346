"""Canary rollout of session images: plan, state, analysis, assignment, the smoke ladder (docs/ROLLOUT.md)."""
