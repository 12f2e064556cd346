"""The `claude-docker` entry point: dispatch, and the one error policy for every command.

Three hot paths skip click's import (~30 ms): the `claude` shim's exact form, `run -- ARGS`, which every
session starts with; `log-event EVENT [KEY=VALUE...]`, which shell scripts call in loops (its goal: under 30 ms
as a whole process); and `gitops drift [--json] [--fetch]`, the drift probe run from cron and prompts (goal:
50 ms). Everything else, and all three with --help, goes through `app.py`.

Every error line goes out through `ui.error`: credentials in URLs redacted, terminal escapes shown, not run
(messages quote file names and server answers). `ui` is imported only once there is an error to print.
"""

from __future__ import annotations

import sys

from claude_docker import exitcodes
from claude_docker.errors import ToolError


def save_crash(argv: list[str] | None = None) -> str:
    """Save the traceback of the exception being handled to crash.log, and track it (errortrack: `argv`, the
    command's arguments, sys.argv's by default); where the traceback went."""
    import traceback

    from claude_docker import __version__, ui
    from claude_docker.paths import ensure_private_dir, state_dir

    report = f"--- claude-docker {__version__}: {' '.join(sys.argv)}\n{traceback.format_exc()}"
    # The report is for sharing: no credential from an argument or a message, nothing that would act on
    # the terminal of whoever reads it.
    report = "\n".join(map(ui.shown, report.splitlines()))
    try:
        path = ensure_private_dir(state_dir()) / "crash.log"
        with open(path, "a", encoding="utf-8") as f:
            f.write(report + "\n\n")
        where = str(path)
    except OSError:
        where = "nowhere (the state dir is not writable)"
    from claude_docker import errortrack

    errortrack.capture(sys.exc_info()[1], sys.argv[1:] if argv is None else argv)
    return where


def _error(message: str) -> None:
    from claude_docker import ui

    ui.error(message)


def _show_click(exc) -> None:
    """click's usage error, whose lines quote the arguments given, as safe as every other error line."""
    import io

    from claude_docker import ui

    out = io.StringIO()
    exc.show(file=out)
    sys.stderr.write("".join(ui.shown(line) + "\n" for line in out.getvalue().splitlines()))


def _dispatch(argv: list[str]) -> int:
    if argv[:2] == ["run", "--"]:
        from claude_docker.launcher.run import run

        return run(argv[2:])
    flags = argv[2:]
    if argv[:2] == ["gitops", "drift"] and set(flags) <= {"--json", "--fetch"} and len(set(flags)) == len(flags):
        from claude_docker.gitops import drift

        return drift.main("--fetch" in argv, "--json" in argv)
    if argv[:1] == ["log-event"] and len(argv) > 1 and argv[1] not in ("-h", "--help"):
        from claude_docker.obs.events import from_shell

        from_shell(argv[1], argv[2:])
        return exitcodes.OK
    from claude_docker.app import cli

    result = cli.main(args=argv, prog_name="claude-docker", standalone_mode=False)
    return result if isinstance(result, int) else exitcodes.OK


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        return _dispatch(args)
    except ToolError as exc:
        _error(exc.message)
        return exc.code
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        return exitcodes.OK
    except OSError as exc:  # an expected condition of the machine (a full disk, a path that isn't there)
        from claude_docker.errors import describe

        _error(describe(exc))
        return exitcodes.FAILURE
    except Exception as exc:  # noqa: BLE001 - the one error policy: click's, or a bug as one line + crash report
        click = sys.modules.get("click")
        if click is not None and isinstance(exc, click.exceptions.Abort):
            return exitcodes.INTERRUPTED
        if click is not None and isinstance(exc, click.ClickException):
            _show_click(exc)
            return exc.exit_code
        # A bug: one line for the user, the traceback for the report.
        where = save_crash(args)
        _error(f"internal error ({type(exc).__name__}: {exc}); details in {where}")
        return exitcodes.INTERNAL
