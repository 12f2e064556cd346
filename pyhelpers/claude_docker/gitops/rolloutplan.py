"""The repository's `rollout.json` handed to the rollout capability: a lead commits an image and its plan, and
every workstation following the repository starts that canary rollout by itself (docs/GITOPS.md).

A plan is acted on once (its digest is recorded when it is started, found stable already, or refused by its
smoke tests), so a rollback is never undone by the next reconcile: a new plan (another image, or the same one
with new values) is what starts a new rollout. Images are never pulled: a plan naming an image this engine
doesn't have waits, said each reconcile, until it is built or pulled. A rollout already in progress (another
image's, started by hand) is never interrupted: the plan waits for it to end."""

from __future__ import annotations

from claude_docker.errors import ToolError


def follow(wanted: dict | None, rec: dict, digester) -> tuple[str | None, dict | None]:
    """(a line for the report or None, an audit entry or None). `rec["rollout"]` is updated in place."""
    if wanted is None:
        return None, None
    digest = digester.of_value(wanted)
    done = rec.get("rollout") or {}
    if done.get("digest") == digest and done.get("done"):
        return None, None
    rec["rollout"] = {"digest": digest, "wanted": wanted, "done": False}
    outcome, line = _start(wanted)
    if outcome == "waiting":
        return f"rollout.json: {line}", None
    rec["rollout"]["done"] = True
    return f"rollout.json: {line}", {"kind": "rollout", "image": wanted["image"], "result": outcome, "reason": line}


def _start(wanted: dict) -> tuple[str, str]:
    from claude_docker.rollout import controller, images, ladder
    from claude_docker.rollout import state as states

    try:
        candidate = images.resolve(wanted["image"])
        state = states.load()
    except ToolError as exc:
        return "waiting", f"{exc.message}; the rollout waits"
    dep = state["deployment"]
    if dep and dep["candidate"]["id"] == candidate["id"]:
        return "started", f"{wanted['image']} is being rolled out already"
    if dep:
        return "waiting", f"a rollout of {dep['candidate']['image']} is in progress; {wanted['image']} waits for it"
    baseline, source = images.baseline(state)
    if baseline["id"] == candidate["id"]:
        return "stable", f"{wanted['image']} is the stable image already"
    plan = wanted["plan"]
    try:
        with states.deploy_lock():
            _id, rungs = ladder.run(candidate["id"])
            failed = next((r for r in rungs if r.passed is False), None)
            if failed is not None:
                return "refused", (f"not rolled out: the smoke tests of {wanted['image']} failed at "
                                   f"'{failed.name}': {failed.detail}")
            controller.start(candidate, {**baseline, "from": source}, plan, "auto", plan["steps"][0] / 100, "passed")
    except ToolError as exc:  # another deploy running, the engine gone: the next reconcile tries again
        return "waiting", f"{exc.message}; the rollout waits"
    return "started", f"rollout of {images.short(candidate)} started at {plan['steps'][0]:g}% of new sessions"
