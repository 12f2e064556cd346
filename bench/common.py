"""Timing helpers: commands measured interleaved, in one run, so machine noise hits both sides alike."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without the user's claude-docker settings or Claude config (a V2 slot, a state dir,
    their CLAUDE_CONFIG_DIR would change or touch what is measured), plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_DOCKER_") and k != "CLAUDE_CONFIG_DIR"}
    return {**env, **settings}


@contextmanager
def user_home(image: str, **settings: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """(a project in a throwaway HOME, the environment of a user there running `image`). No detached flush or
    backup: they would outlive the run and write into its removed HOME."""
    with tempfile.TemporaryDirectory(prefix="claude-docker-bench-") as tmp:
        home = Path(tmp) / "home"
        project = home / "project"
        project.mkdir(parents=True)
        yield project, clean_env(HOME=str(home), CLAUDE_DOCKER_IMAGE=image, CLAUDE_DOCKER_BACKGROUND_FLUSH="0",
                                 CLAUDE_DOCKER_BACKUP_INTERVAL="0", **settings)


def time_command(argv: list[str], env: dict | None = None, cwd=None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def interleaved(cases: dict[str, Callable[[], float]], rounds: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds per case, running the cases in turn each round."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name].append(fn())
    return {name: statistics.median(values) for name, values in samples.items()}


def plugin_setup() -> str:
    """zsh code that loads the plugin as install.sh sets it up: this interpreter, the entry point as a script."""
    import shlex
    import sys

    import claude_docker

    main = ROOT / "pyhelpers" / "claude_docker" / "__main__.py"
    assert Path(claude_docker.__file__).parent == main.parent, "bench needs the checkout's package installed"
    return (f"_CLAUDE_DOCKER_PYTHON={shlex.quote(sys.executable)}; _CLAUDE_DOCKER_MAIN={shlex.quote(str(main))}; "
            f"source {shlex.quote(str(ROOT / 'ai-assistant.zsh'))}")


def report(title: str, line: str, ok: bool) -> None:
    print(f"{title:<34} {line}  [{'meets goal' if ok else 'MISSES goal'}]")
