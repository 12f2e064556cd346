"""`claude-docker gitops`: Claude's config from a Git repository (docs/GITOPS.md); the shell's reconcile_config,
detect_drift, audit_config_change, encrypt_secrets and gitops_reconcile_loop."""

from __future__ import annotations

import sys

import click

from claude_docker import exitcodes

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


@click.group()
def cli() -> None:
    """Follow a team's Claude Code setup kept in a Git repository: settings, CLAUDE.md, agents, commands,
    skills, MCP servers with SOPS-encrypted tokens, and the image rollout plan (docs/GITOPS.md).

    \b
    init SOURCE          follow SOURCE (a Git URL or path): its branch, who may sign host commands
    reconcile            fetch, validate, back up, apply, verify; rolled back on failure
    drift                exit 0 in sync, 1 drift, 2 could not tell (no network unless --fetch)
    audit                the hash-chained trail of every apply, hold-back, rollback and drift
    encrypt FILE         SOPS-encrypt a JSON file for the age recipients (.sops.yaml)
    check [DIR]          a team repository's working tree: valid, and no secret in plaintext
    loop                 reconcile every interval, at once when the source changes
    """


@cli.command()
@click.argument("source")
@click.option("--branch", default="main", show_default=True, help="The branch to follow.")
@click.option("--allowed-signers", type=click.Path(dir_okay=False), metavar="FILE",
              help="SSH allowed-signers file: commits signed by its keys may carry host commands.")
@click.option("--gpg-fingerprint", "gpg_fingerprints", multiple=True, metavar="FPR",
              help="A GPG key whose signed commits may carry host commands (repeatable).")
@click.option("--trust-unsigned-commands", "trust_unsigned", is_flag=True,
              help="Apply host commands (hooks, MCP server commands, ...) from unsigned commits too.")
@click.option("--self-heal", is_flag=True, help="Overwrite what was changed here since the last apply.")
@click.option("--prune", is_flag=True, help="Remove what the repository stopped managing (never to empty).")
@click.option("--no-smoke", is_flag=True, help="Don't run the session image with a new config before keeping it.")
@click.option("--interval", default="60s", show_default=True, metavar="DURATION", help="The loop's interval.")
@JSON_OPTION
def init(source: str, branch: str, allowed_signers: str | None, gpg_fingerprints: tuple, trust_unsigned: bool,
         self_heal: bool, prune: bool, no_smoke: bool, interval: str, as_json: bool) -> int:
    """Follow SOURCE: settings kept in the state dir. Nothing is fetched yet. Run it again to change them: the
    options given then replace all of them (an option left out is back to its default)."""
    import os

    from claude_docker import redact, ui
    from claude_docker.errors import ToolError
    from claude_docker.gitops import settings
    from claude_docker.rollout.plan import PlanError, parse_duration

    try:
        seconds = parse_duration(interval, "--interval")
    except PlanError as exc:
        raise ToolError(str(exc), exitcodes.USAGE) from None
    if seconds < 10:
        raise ToolError(f"--interval {interval!r}: at least 10s (Flux advises 60s)", exitcodes.USAGE)
    signers = os.path.abspath(os.path.expanduser(allowed_signers)) if allowed_signers else None
    if signers and not os.path.isfile(signers):
        raise ToolError(f"--allowed-signers: no such file: {signers}", exitcodes.USAGE)
    values = settings.save({"source": settings.normalize_source(source), "branch": branch,
                            "allowed_signers": signers, "gpg_fingerprints": list(gpg_fingerprints),
                            "trust_unsigned": trust_unsigned, "self_heal": self_heal, "prune": prune,
                            "smoke": not no_smoke, "interval": seconds})
    if as_json:
        ui.print_json({**values, "source": redact.url(values["source"])})
    else:
        ui.say(f"following {redact.url(values['source'])} ({values['branch']}): run `claude-docker gitops "
               "reconcile` to apply it, or `claude-docker gitops loop` to keep following it", "ok")
    return exitcodes.OK


@cli.command()
@click.option("--once", is_flag=True, help="One pass, then exit (what reconcile always does; the loop is `loop`).")
@click.option("--force", is_flag=True,
              help="Overwrite local changes to managed items, try a failed revision again now, and accept the "
                   "host commands of a force-pushed branch.")
@click.option("--no-fetch", is_flag=True, help="Use the revision fetched last (no network).")
@JSON_OPTION
def reconcile(once: bool, force: bool, no_fetch: bool, as_json: bool) -> int:
    """Bring Claude's config to the repository's revision: fetch, decrypt and validate, back up, apply under
    the config lock, verify (a smoke run of the session image), and on any failure put it all back.

    Local changes to managed items are kept and reported (drift); host commands from a commit no allowed
    signer signed are held back. One attempt per revision and settings; a failed one waits for its retry."""
    from claude_docker import ui
    from claude_docker.errors import ToolError
    from claude_docker.gitops.reconcile import Reconcile

    job = Reconcile(fetch=not no_fetch, force=force)
    try:
        report = job.run()
    except ToolError:
        if as_json:
            ui.print_json(job.report)
        raise
    if as_json:
        ui.print_json(report)
    else:
        _tell(report)
    return exitcodes.OK


def _tell(report: dict) -> None:
    from claude_docker import ui

    rev = (report["revision"] or "-")[:12]
    words = {"applied": f"applied {len(report['applied'])} change(s) from {rev}",
             "in-sync": f"in sync with {rev}", "drift": f"{rev}: managed items changed here (kept)",
             "held": f"{rev}: host commands held back", "waiting": f"{rev}: waiting to retry"}
    ui.say(words.get(report["result"], report["result"]), "warn" if report["drift"] or report["held"] else "ok")
    for item in report["applied"]:
        ui.say(f"  {item}")
    for item in report["pruned"]:
        ui.say(f"  removed: {item}")
    if report["held"]:
        ui.error(f"held back {len(report['held'])} host command(s) ({report['held'][0]['signature']}): sign the "
                 "commit with an allowed key, or `gitops init … --trust-unsigned-commands`")
        for held in report["held"]:
            ui.error(f"  {held['item']}: {held['reason']}")
    if report["drift"]:
        ui.error("changed here since the last apply, kept (`gitops reconcile --force` takes the repository's):")
        for d in report["drift"]:
            ui.error(f"  {d['item']} ({d['direction']})")
    for note in report["notes"]:
        ui.error(f"note: {note}")


@cli.command()
@click.option("--fetch", is_flag=True, help="Fetch first and compare with the source's newest revision.")
@JSON_OPTION
def drift(fetch: bool, as_json: bool) -> int:
    """Is Claude's config as the repository says? Exit 0 in sync, 1 drift, 2 could not tell.

    Each drifted file or key is named with its direction: repo (the repository changed: the next reconcile
    applies it), local (changed here), both."""
    from claude_docker.gitops import drift as probe

    return probe.main(fetch, as_json)


@cli.command()
@click.option("--verify", "check", is_flag=True, help="Check the hash chain: exit 13 if an entry was edited, "
              "removed or reordered.")
@JSON_OPTION
def audit(check: bool, as_json: bool) -> int:
    """The audit trail: every apply, hold-back, rollback and drift, with revision, author, signer, what changed
    (secret values as keyed hashes only), result and trace id."""
    from claude_docker import ui
    from claude_docker.gitops import audit as trail
    from claude_docker.gitops.reconcile import audit_file

    path = audit_file()
    if check:
        count, problems = trail.verify(path)
        if as_json:
            ui.print_json({"entries": count, "intact": not problems, "problems": problems})
        elif problems:
            for line in problems:
                ui.error(f"audit: {line}")
        else:
            ui.say(f"audit trail intact: {count} entries", "ok")
        return exitcodes.GITOPS_AUDIT_BROKEN if problems else exitcodes.OK
    entries = trail.read(path)
    if as_json:
        ui.print_json(entries)
        return exitcodes.OK
    for e in entries:
        ui.say(_audit_line(e))
    return exitcodes.OK


def _audit_line(e: dict) -> str:
    """One entry on one line, whatever a hand edit put in it (the trail is read, not trusted: --verify says)."""
    from claude_docker import redact

    def text(key: str) -> str:
        value = e.get(key)
        return "" if value is None else str(value)

    what = e.get("items") or e.get("item") or e.get("files") or ""
    if isinstance(what, list):
        what = ", ".join(str(w.get("item", w)) if isinstance(w, dict) else str(w) for w in what)
    detail = text("reason") or str(what)
    who = text("signer") or text("author")
    return redact.printable(f"{text('seq') or '?':>4} {text('time')[:19]} {text('kind') or '?':<8} "
                            f"{text('revision')[:12] or '-':<12} {text('result'):<11} {who}  {detail}".rstrip())


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--age", "recipients", metavar="R1,R2", help="age recipients (default: SOPS_AGE_RECIPIENTS, else the "
              "file's .sops.yaml creation rule).")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write here [default: FILE with .sops before its extension: x.json -> x.sops.json].")
@click.option("--in-place", "-i", is_flag=True, help="Replace FILE with its encrypted form.")
@click.option("--rotate", is_flag=True, help="FILE is encrypted already: a new data key, every value re-encrypted, "
              "for the recipients given (or the rule's): when someone leaves the team.")
def encrypt(file: str, recipients: str | None, output: str | None, in_place: bool, rotate: bool) -> int:
    """Encrypt a JSON file in the SOPS format for age recipients (`sops decrypt` reads it)."""
    from pathlib import Path

    from claude_docker import ui
    from claude_docker.errors import ToolError
    from claude_docker.gitops import secretfile

    given = [r.strip() for r in recipients.split(",") if r.strip()] if recipients else None
    if in_place and output:
        raise ToolError("--in-place and --output: choose one", exitcodes.USAGE)
    if rotate:
        secretfile.rotate_file(Path(file), recipients=given)
        ui.say(f"{file}: rotated (new data key)", "ok", stream=sys.stderr)
        return exitcodes.OK
    written = secretfile.encrypt_file(Path(file), output=Path(output) if output else None, recipients=given,
                                      in_place=in_place)
    ui.say(f"{written}: encrypted", "ok", stream=sys.stderr)
    return exitcodes.OK


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, exists=True))
def check(directory: str | None) -> int:
    """Check a team repository's working tree (a pre-commit hook): the layout is valid, and no managed secret
    file is in plaintext. Exit 9 with one line per problem."""
    from pathlib import Path

    from claude_docker import ui
    from claude_docker.gitops import repocheck

    problems, notes = repocheck.check(Path(directory or "."))
    for note in notes:
        ui.error(f"note: {note}")
    for line in problems:
        ui.error(f"gitops check: {line}")
    if problems:
        return exitcodes.GITOPS_INVALID
    ui.say("the repository is valid, and no secret is in plaintext", "ok", stream=sys.stderr)
    return exitcodes.OK


@cli.command()
def loop() -> int:
    """Reconcile every interval (with jitter), at once when a local source's branch moves, backing off after
    failures; one instance at a time; SIGTERM stops it cleanly. Run it as a systemd user service
    (contrib/systemd/claude-docker-gitops.service)."""
    from claude_docker.gitops import follow

    return follow.run()


@cli.command()
@JSON_OPTION
def status(as_json: bool) -> int:
    """What is followed, the revision applied and when, held items, drift, the last attempt."""
    from claude_docker import ui
    from claude_docker.gitops import follow

    report = follow.status()
    if as_json:
        ui.print_json(report)
        return exitcodes.OK
    for line in follow.status_lines(report):
        ui.say(line)
    return exitcodes.OK
