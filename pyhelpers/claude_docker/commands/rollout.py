"""`claude-docker rollout`: canary rollout of session images (docs/ROLLOUT.md); the shell's deploy_canary,
rollback_deployment, run_smoke_tests and track_deployment."""

from __future__ import annotations

import sys
from contextlib import ExitStack, contextmanager

import click

from claude_docker import exitcodes

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
DEPLOY_WAIT = 900.0  # the smoke ladder's longest run, and then some
MAX_ALERT_NAME = 200


@click.group()
def cli() -> None:
    """Roll a new session image out to a share of sessions, widen it while it behaves, and go back by itself
    the moment it doesn't (docs/ROLLOUT.md).

    \b
    deploy IMAGE         smoke tests, then 10% -> 50% -> 100% of new sessions while the gates hold
    CLAUDE_DOCKER_V2_PROBABILITY=0.1 rollout deploy [IMAGE]
                         the share set by hand (1.0 promotes); the gates still roll back
    rollback             every new session on the stable image again (running ones finish untouched)
    status               the stage, sessions per slot, each gate's verdict, the history
    """


def _usage(message: str):
    """A bad value: one line, exit 2 (as `egress allow` does), not click's usage block."""
    from claude_docker.errors import ToolError

    return ToolError(message, exitcodes.USAGE)


def _plan(**given) -> dict:
    from claude_docker.rollout import plan as plans

    try:
        if given["steps"] is not None:
            given["steps"] = plans.parse_steps(given["steps"])
        for key, flag in (("interval", "--interval"), ("window", "--window"), ("max_p95_start", "--max-p95-start"),
                          ("progress_deadline", "--progress-deadline")):
            if given[key] is not None:
                given[key] = plans.parse_duration(given[key], flag)
        for key, flag in (("max_error_rate", "--max-error-rate"), ("baseline_margin", "--baseline-margin")):
            if given[key] is not None:
                given[key] = plans.parse_share(given[key], flag)
        for key, flag, low in (("min_sessions", "--min-sessions", 1), ("failure_limit", "--failure-limit", 0)):
            if given[key] is not None:
                given[key] = plans.parse_count(given[key], flag, low, plans.MAX_SESSIONS)
        return plans.make(**given)
    except plans.PlanError as exc:
        raise _usage(str(exc)) from None


def _smoke(image: dict, as_json: bool) -> tuple[bool, list]:
    """The ladder over `image` (by id), each rung told as it ends (stderr under --json)."""
    from claude_docker import ui
    from claude_docker.rollout import ladder

    stream = sys.stderr if as_json else sys.stdout

    def told(rung) -> None:
        status = "info" if rung.passed is None else "ok" if rung.passed else "fail"
        ui.say(f"{rung.name:<10} {rung.detail}", status, stream)

    _, rungs = ladder.run(image["id"], told)
    return all(r.passed for r in rungs), rungs


@cli.command()
@click.argument("image", required=False)
@click.option("--steps", metavar="PERCENTS", help="The shares of sessions, in percent [default: 10,50,100].")
@click.option("--interval", metavar="DURATION", help="How long each step holds at least [default: 60s].")
@click.option("--window", metavar="DURATION", help="The gates' window [default: 5m].")
@click.option("--min-sessions", metavar="N", help="Candidate sessions a step needs [default: 5].")
@click.option("--max-error-rate", metavar="SHARE", help="The candidate's error-rate limit, 0-1 [default: 0.1].")
@click.option("--max-p95-start", metavar="DURATION", help="The candidate's p95 start limit [default: 15s].")
@click.option("--baseline-margin", metavar="SHARE",
              help="How much worse than the stable's the candidate's error rate may be [default: 0.05].")
@click.option("--failure-limit", metavar="N", help="Failed checks tolerated [default: 0].")
@click.option("--progress-deadline", metavar="DURATION", help="The longest a step may hold [default: 7d].")
@click.option("--sticky", type=click.Choice(["none", "user", "project"]),
              help="Keep a user or a project on one slot for a whole step [default: none].")
@click.option("--skip-smoke", is_flag=True, help="Start without the smoke tests.")
@click.option("--yes", "-y", is_flag=True, help="Don't ask before starting (asked only on a terminal).")
@JSON_OPTION
def deploy(image: str | None, steps, interval, window, min_sessions, max_error_rate, max_p95_start, baseline_margin,
           failure_limit, progress_deadline, sticky, skip_smoke: bool, yes: bool, as_json: bool) -> int:
    """Roll IMAGE out: smoke tests, then each step's share of new sessions while the gates hold, then promotion.

    With CLAUDE_DOCKER_V2_PROBABILITY set (the seed's form), the share is set by hand instead: a new rollout
    starts at it, or the one in progress moves to it; 1.0 promotes. IMAGE defaults to CLAUDE_DOCKER_V2_IMAGE.
    """
    from claude_docker import envspec, ui
    from claude_docker.errors import ToolError
    from claude_docker.rollout import controller, images
    from claude_docker.rollout import plan as plans
    from claude_docker.rollout import state as states

    manual = envspec.is_set("CLAUDE_DOCKER_V2_PROBABILITY")
    share = float(envspec.get("CLAUDE_DOCKER_V2_PROBABILITY")) if manual else 0.0
    plan = _plan(steps=steps, interval=interval, window=window, min_sessions=min_sessions,
                 max_error_rate=max_error_rate, max_p95_start=max_p95_start, baseline_margin=baseline_margin,
                 failure_limit=failure_limit, progress_deadline=progress_deadline, sticky=sticky)
    state = states.load()
    dep = state["deployment"]
    if manual and dep and (not image or image == dep["candidate"]["image"]):
        # the share of the rollout in progress: its candidate as pinned, whatever the name means now
        state = controller.set_share(dep["candidate"], share)
        return _done(state, as_json, f"{dep['candidate']['image']}: {plans.percent(share)} of new sessions")
    ref = image or envspec.get("CLAUDE_DOCKER_V2_IMAGE")
    if not ref:
        raise _usage("name the image to roll out (or set CLAUDE_DOCKER_V2_IMAGE)")
    candidate = images.resolve(ref)
    if manual and dep and dep["candidate"]["id"] == candidate["id"]:
        state = controller.set_share(dep["candidate"], share)
        return _done(state, as_json, f"{candidate['image']}: {plans.percent(share)} of new sessions")
    if dep:
        raise controller._in_progress(dep)
    baseline, source = images.baseline(state)
    if baseline["id"] == candidate["id"]:
        raise ToolError(f"{candidate['image']} is the stable image already", exitcodes.ROLLOUT_CONFLICT)
    if source == "setting":
        ui.error("warning: CLAUDE_DOCKER_IMAGE is set here: it is this rollout's stable image, pinned for the "
                 "sessions that don't set it (a rollback keeps them on it); sessions that set it bypass rollouts")
    if manual:
        plan["steps"] = [share * 100]
    stream = sys.stderr if as_json else sys.stdout
    ui.say(f"rollout of {images.short(candidate)} over {images.short(baseline)}", stream=stream)
    by_hand = (f"share set by hand: {plans.percent(share)} of new sessions; the gates roll back, only you "
               "move the share (1.0 promotes)")
    for line in [by_hand] if manual else plans.describe(plan):
        ui.say("  " + line, stream=stream)
    if not yes and sys.stdin.isatty() and sys.stderr.isatty() and not _agreed():
        ui.error("not rolled out: declined")
        return exitcodes.FAILURE
    try:
        guard = states.deploy_lock()
        guard.__enter__()
    except ToolError:
        raise ToolError("another deploy is running (deploy_canary): wait for it, or see `claude-docker rollout "
                        "status`", exitcodes.ROLLOUT_CONFLICT) from None
    try:
        if states.load()["deployment"]:  # started by another deploy since the look above
            raise controller._in_progress(states.load()["deployment"])
        smoke = "skipped"
        if not skip_smoke:
            passed, rungs = _smoke(candidate, as_json)
            _gate_smoke(candidate, passed, rungs)
            smoke = "passed"
        state = controller.start(candidate, {**baseline, "from": source}, plan, "manual" if manual else "auto",
                                 share if manual else plan["steps"][0] / 100, smoke)
        return _done(state, as_json, f"{candidate['image']} started")
    finally:
        guard.__exit__(None, None, None)


def _agreed() -> bool:
    click.echo("Start the rollout? [y/N] ", nl=False, err=True)
    try:
        return input().strip().lower() in ("y", "yes")
    except (EOFError, KeyboardInterrupt):
        return False


def _gate_smoke(candidate: dict, passed: bool, rungs: list) -> None:
    """A candidate that fails a rung never starts: one line naming it."""
    from claude_docker.errors import ToolError
    from claude_docker.obs import events
    from claude_docker.obs.catalog import observe

    observe("claude_docker_rollout_gate_checks_total", 1, gate="smoke", verdict="pass" if passed else "fail")
    if passed:
        return
    failed = next(r for r in rungs if r.passed is False)
    events.emit("rollout.gate", f"smoke tests of {candidate['image']} failed at {failed.name}: {failed.detail}",
                level="error", outcome="error", fields={"gate": "smoke", "rung": failed.name,
                                                        "candidate": candidate["image"]})
    raise ToolError(f"not rolled out: the smoke tests of {candidate['image']} failed at '{failed.name}': "
                    f"{failed.detail}", exitcodes.FAILURE)


def _done(state: dict, as_json: bool, message: str) -> int:
    from claude_docker import ui

    if as_json:
        ui.print_json(state)
    else:
        ui.say(message, "ok")
    return exitcodes.OK


@cli.command()
@click.option("--to", "to", type=click.Choice(["previous", "settings"]),
              help="previous: the last known-good image, stable again at once, without analysis; settings: no "
                   "image pinned by a rollout, CLAUDE_DOCKER_IMAGE's again.")
@JSON_OPTION
def rollback(to: str | None, as_json: bool) -> int:
    """Every new session on the stable image from the next `claude` start; sessions already running on the
    candidate finish untouched. A deploy still running its smoke tests is waited for, then rolled back."""
    from claude_docker import ui
    from claude_docker.errors import ToolError
    from claude_docker.rollout import controller, images
    from claude_docker.rollout import state as states

    with _after_any_deploy():
        if to:
            known = states.load()["known_good"]
            if to == "previous" and not known:
                raise ToolError("no earlier image to go back to: no rollout has promoted one yet",
                                exitcodes.ROLLOUT_CONFLICT)
            target = None
            if to == "previous":
                target = {**images.resolve(known[0]["id"]), "image": known[0]["image"]}
            state = controller.back_to(target, f"rolled back by hand to the {to} image")
            if as_json:
                ui.print_json(state)
            else:
                ui.say(f"{images.short(target) if target else 'CLAUDE_DOCKER_IMAGE'} is the stable image again", "ok")
            return exitcodes.OK
        entry = controller.rollback("rolled back by hand")
    if entry is None:
        raise ToolError("nothing is being rolled out", exitcodes.ROLLOUT_CONFLICT)
    from claude_docker import envspec

    if envspec.is_set("CLAUDE_DOCKER_V2_IMAGE") and envspec.is_set("CLAUDE_DOCKER_V2_PROBABILITY"):
        ui.error("warning: CLAUDE_DOCKER_V2_IMAGE and CLAUDE_DOCKER_V2_PROBABILITY are set here: where they are "
                 "exported, sessions still send that share to that image; unset them")
    if as_json:
        ui.print_json(entry)
    else:
        ui.say(f"rolled back {images.short(entry['candidate'])}: new sessions run the stable image again", "ok")
    return exitcodes.OK


@contextmanager
def _after_any_deploy():
    """Held while a rollback acts: a deploy running its smoke tests is waited for (it may be about to start)."""
    from claude_docker import ui
    from claude_docker.errors import ToolError
    from claude_docker.locking import state_lock

    with ExitStack() as held:
        try:
            held.enter_context(state_lock("rollout-deploy", 0.0, exitcodes.ROLLOUT_CONFLICT))
        except ToolError as exc:
            if "timed out" not in exc.message:
                raise
            ui.error("a deploy is running its smoke tests: waiting for it, to roll back what it starts")
            held.enter_context(state_lock("rollout-deploy", DEPLOY_WAIT, exitcodes.ROLLOUT_CONFLICT))
        yield


@cli.command()
@click.argument("image", required=False)
@JSON_OPTION
def smoke(image: str | None, as_json: bool) -> int:
    """The smoke ladder over IMAGE (default: the stable image): it exists and is pinned by id, starts as you
    with the session's hardening, `claude --version` answers, Claude Code can write its state, and a real
    `claude -p` round trip through the whole wrapper against a local stand-in of the API (no token spent,
    nothing leaves the machine). Exit 0 only when every rung passes."""
    from claude_docker import ui
    from claude_docker.rollout import images
    from claude_docker.rollout import state as states

    target = images.resolve(image) if image else images.baseline(states.load())[0]
    passed, rungs = _smoke(target, as_json)
    if as_json:
        ui.print_json({"image": target["image"], "id": target["id"], "passed": passed,
                       "rungs": [r._asdict() for r in rungs]})
    return exitcodes.OK if passed else exitcodes.FAILURE


@cli.command()
@JSON_OPTION
@click.option("--watch", is_flag=True, help="Redraw every 2 seconds until Ctrl-C (JSON: a line each time).")
def status(as_json: bool, watch: bool) -> int:
    """The rollout in progress (stage, share, sessions and error rate and p95 start per slot over the window,
    each gate's verdict, when the next step is due) and the history of past ones."""
    import time

    from claude_docker import ui
    from claude_docker.rollout import status as report

    while True:
        rep = report.report()
        if as_json:
            if watch:
                sys.stdout.write(ui.json_line(rep) + "\n")
            else:
                ui.print_json(rep)
        else:
            if watch and sys.stdout.isatty():
                sys.stdout.write("\033[H\033[2J")
            for line, mark in report.lines(rep):
                ui.say(line, mark)
        if not watch:
            return exitcodes.OK
        sys.stdout.flush()
        time.sleep(2)


@cli.command()
@click.option("--every", default="5s", show_default=True, metavar="DURATION", help="How often the gates are checked.")
def watch(every: str) -> int:
    """Check the gates on time, with no session running: promote when a step is due and its gates pass, roll
    back when they fail. Exits 0 once promoted, 1 once rolled back (or at once, 0, with nothing in progress)."""
    import time

    from claude_docker import ui
    from claude_docker.rollout import analysis, controller
    from claude_docker.rollout import plan as plans
    from claude_docker.rollout import state as states

    try:
        pause = plans.parse_duration(every, "--every")
    except plans.PlanError as exc:
        raise _usage(str(exc)) from None
    if pause < 0.1:
        raise _usage(f"--every {every!r}: give 100ms or more")
    dep = states.load()["deployment"]
    if not dep:
        ui.say("no rollout in progress")
        return exitcodes.OK
    ui.say(f"watching {dep['id']}: {plans.percent(dep['weight'])} of new sessions on {dep['candidate']['image']}")
    while True:
        action = controller.evaluate("watch")
        now = states.load()
        live = now["deployment"]
        if action == analysis.STEP and live:
            ui.say(f"stepped to {plans.percent(live['weight'])}", "ok")
        if not live or live["id"] != dep["id"]:
            last = next((h for h in now["history"] if h["id"] == dep["id"]), None)
            if last is None:
                ui.say("the rollout was replaced by another")
                return exitcodes.FAILURE
            ui.say(f"{last['outcome'].replace('_', ' ')}: {last['reason']}",
                   "ok" if last["outcome"] == "promoted" else "fail")
            return exitcodes.OK if last["outcome"] == "promoted" else exitcodes.FAILURE
        sys.stdout.flush()
        time.sleep(pause)


@cli.command()
@click.argument("name")
@click.option("--severity", type=click.Choice(["critical", "warning", "info"]), default="critical", show_default=True)
def alert(name: str, severity: str) -> int:
    """The alerting hook: a critical alert rolls the rollout in progress back at once (others are noted on it)."""
    from claude_docker import ui
    from claude_docker.rollout import controller
    from claude_docker.rollout import state as states

    if not name.strip() or len(name) > MAX_ALERT_NAME or not name.isprintable():
        raise _usage(f"give the alert's name: printable, at most {MAX_ALERT_NAME} characters")
    with _after_any_deploy():
        busy = states.load()["deployment"] is not None
        entry = controller.alert(name, severity)
    if entry is not None:
        ui.say(f"rolled back {entry['candidate']['image']}: {entry['reason']}", "fail")
    else:
        where = "noted on the rollout in progress" if busy else "(no rollout in progress)"
        ui.say(f"{severity} alert {name} {where}")
    return exitcodes.OK
