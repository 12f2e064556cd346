"""The code, checked: ruff, mypy and shellcheck run clean with the configuration in pyproject.toml.

tests/run installs the pinned linters (the `lint` extra) and shellcheck; a missing one is a failure, not a skip,
so CI can never pass without having run them. Each test fails with the tool's own findings.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Where the shell scripts live. Only sh/bash/bats: shellcheck cannot read zsh, so the plugin
# (ai-assistant.zsh, lib/*.sh, which it sources) and completions/ are left to the zsh and bats tests.
SHELL_DIRS = ("tests", ".ci", "bench")
SHELL_FILES = ("install.sh",)
SHELLS = ("sh", "bash", "bats", "dash", "ksh")


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


def _python_tool(module: str) -> None:
    if subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode:
        pytest.fail(f"{module} is not installed in {sys.executable}: pip install -e '.[test,lint]' (tests/run does)")


def _shell_of(path: Path) -> str | None:
    """The shell a file is written for, from its shebang or a `# shellcheck shell=` line; None if not shell."""
    try:
        with path.open(encoding="utf-8") as f:
            head = [f.readline() for _ in range(3)]
    except (UnicodeDecodeError, OSError):
        return None
    if head[0].startswith("#!"):
        words = head[0][2:].split()
        if words and words[0].endswith("/env"):
            words = words[1:]
        name = Path(words[0]).name if words else None
        return name if name in SHELLS else None
    for line in head:
        if line.startswith("# shellcheck shell="):
            return line.split("=", 1)[1].strip()
    return None


def shell_scripts() -> list[Path]:
    found = [ROOT / name for name in SHELL_FILES]
    for top in SHELL_DIRS:
        found += [p for p in sorted((ROOT / top).rglob("*")) if p.is_file() and _shell_of(p) in SHELLS]
    return found


def test_ruff_finds_nothing():
    _python_tool("ruff")
    r = _run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."])
    assert r.returncode == 0, f"ruff check:\n{r.stdout}{r.stderr}"


def test_mypy_finds_nothing(tmp_path):
    _python_tool("mypy")
    # Files and settings come from [tool.mypy]; the cache goes to a temporary directory, not the checkout.
    r = _run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")])
    assert r.returncode == 0, f"mypy:\n{r.stdout}{r.stderr}"


def test_shellcheck_finds_nothing():
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed (tests/run installs the Debian package)")
    scripts = shell_scripts()
    names = {p.relative_to(ROOT).as_posix() for p in scripts}
    # The list is discovered; make sure discovery still sees the scripts CI depends on.
    assert {"install.sh", "tests/run", "tests/machine.sh", ".ci/run", "bench/run",
            "tests/bats/test_helper.bash", "tests/bats/plugin.bats"} <= names, sorted(names)
    # -x follows `source` lines (tests/run and bench/run source tests/machine.sh); paths are relative to ROOT.
    r = _run(["shellcheck", "-x", "--format", "gcc", *sorted(names)])
    assert r.returncode == 0, f"shellcheck:\n{r.stdout}{r.stderr}"


def test_shell_discovery_leaves_out_zsh_and_non_shell(tmp_path):
    scripts = {p.relative_to(ROOT).as_posix() for p in shell_scripts()}
    assert not any(name.endswith((".py", ".zsh")) for name in scripts), sorted(scripts)
    cases = {
        "env-bash": ("#!/usr/bin/env bash\n", "bash"),
        "bin-sh": ("#!/bin/sh -e\n", "sh"),
        "bats": ("#!/usr/bin/env bats\n", "bats"),
        "directive": ("# a sourced library\n# shellcheck shell=bash\n", "bash"),
        "zsh": ("#!/usr/bin/env zsh\n", None),
        "python": ("#!/usr/bin/env python3\n", None),
        "text": ("just words\n", None),
        "bare-shebang": ("#!\n", None),
    }
    for name, (text, shell) in cases.items():
        (tmp_path / name).write_text(text)
        assert _shell_of(tmp_path / name) == shell, name
