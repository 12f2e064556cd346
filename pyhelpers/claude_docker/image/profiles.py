"""What the session image holds: the Debian packages of the base, and the profiles a user or project adds.

On `claude`'s start (a project's `.claude-docker.toml` names profiles): no imports beyond the package's own."""

from __future__ import annotations

from claude_docker import CLAUDE_CODE_VERSION, IMAGE_REPOSITORY

# What Claude Code reaches for (git for history and commits, rg for search, a POSIX userland), and what an
# agent needs to fetch, unpack and build: nothing that runs a service.
BASE = ("bash", "ca-certificates", "coreutils", "curl", "findutils", "git", "grep", "jq", "less", "make",
        "openssh-client", "procps", "ripgrep", "sed", "unzip")

PROFILES = {
    "python": ("python3", "python3-pip", "python3-venv"),
    "node": ("nodejs", "npm"),
    "go": ("golang-go",),
    "rust": ("cargo", "rustc"),
    "build": ("build-essential",),
}


def parse(values) -> tuple[str, ...]:
    """Profile names, from values that may each hold several (`python,node`): sorted, each once.
    ValueError naming the first unknown one."""
    names = set()
    for value in values:
        for name in (part.strip() for part in str(value).split(",")):
            if not name:
                continue
            if name not in PROFILES:
                raise ValueError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})")
            names.add(name)
    return tuple(sorted(names))


def packages(profiles: tuple[str, ...]) -> tuple[str, ...]:
    """The Debian packages an image with these profiles installs, sorted."""
    chosen = set(BASE)
    for name in profiles:
        chosen.update(PROFILES[name])
    return tuple(sorted(chosen))


def tag(version: str = CLAUDE_CODE_VERSION, profiles: tuple[str, ...] = ()) -> str:
    """The tag `image build` gives: the Claude Code version, then the profiles it holds."""
    return f"{IMAGE_REPOSITORY}:{'-'.join((version, *profiles))}"


def build_command(profiles: tuple[str, ...]) -> str:
    """The command that builds the default image with these profiles (for the lines that name it)."""
    return "claude-docker image build" + (f" --profile {','.join(profiles)}" if profiles else "")
