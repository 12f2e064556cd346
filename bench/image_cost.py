"""What the default Debian session image costs next to the `minimal` busybox one: build time, size on disk and
compressed (what `docker save` ships), and `claude --version` start, measured side by side in one run:
through `claude` vs a bare `docker run` of the Debian image (goal: <= 1.25x), and bare Debian vs bare minimal.

The images are tagged claude-docker-bench/{debian,minimal}:VERSION and kept, so a rerun reuses them (unless
the installed recipe changed since); `--cleanup` removes them at the end. Images the bench did not build are
never removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from claude_docker import CLAUDE_CODE_VERSION
from claude_docker.image import metadata, recipe
from common import clean_env, interleaved, plugin_setup, report, time_command, user_home

GOAL_RATIO = 1.25
# Builds run with a throwaway HOME named so: the owner label then says the bench built the image, and the
# build's removal of superseded images (ours = this uid and HOME) can reach only the bench's own.
BUILD_HOME_PREFIX = "claude-docker-bench-home-"
DOCKER = shutil.which("docker") or "docker"


def inspect(image: str) -> dict | None:
    proc = subprocess.run([DOCKER, "image", "inspect", image], capture_output=True, text=True)
    return json.loads(proc.stdout)[0] if proc.returncode == 0 else None


def labels_of(info: dict) -> dict[str, str]:
    return (info.get("Config") or {}).get("Labels") or {}


def bench_built(info: dict) -> bool:
    uid, _, home = labels_of(info).get(metadata.OWNER, "").partition(":")
    return uid == str(os.getuid()) and Path(home).name.startswith(BUILD_HOME_PREFIX)


def ensure(tag: str, args: list[str], tarball: Path | None) -> float | None:
    """Build `tag` unless it is there from the installed recipe; the build's seconds, None when reused."""
    info = inspect(tag)
    if info is not None:
        if not recipe.is_stale(labels_of(info)):
            return None
        if not bench_built(info):
            raise SystemExit(f"{tag} is from an older recipe and was not built by this bench: remove it yourself")
        subprocess.run([DOCKER, "image", "rm", tag], check=True, stdout=subprocess.DEVNULL)
    argv = [sys.executable, "-m", "claude_docker", "image", "build", "--tag", tag, *args]
    if tarball:
        argv += ["--npm-tarball", str(tarball)]
    with tempfile.TemporaryDirectory(prefix=BUILD_HOME_PREFIX) as home:
        start = time.perf_counter()
        proc = subprocess.run(argv, env=clean_env(HOME=home), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True)
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"building {tag} failed (status {proc.returncode})")
    return seconds


def compressed_size(image: str) -> int:
    """Bytes of `docker save IMAGE | gzip -6`, counted as they stream."""
    save = subprocess.Popen([DOCKER, "save", image], stdout=subprocess.PIPE)
    gzip = subprocess.Popen(["gzip", "-6"], stdin=save.stdout, stdout=subprocess.PIPE)
    assert save.stdout is not None and gzip.stdout is not None
    save.stdout.close()  # gzip holds the pipe now: docker save sees it close if gzip dies
    total = 0
    while chunk := gzip.stdout.read(1 << 20):
        total += len(chunk)
    if gzip.wait() != 0 or save.wait() != 0:
        raise SystemExit(f"docker save {image} | gzip -6 failed")
    return total


def startup(debian: str, minimal: str, rounds: int) -> dict[str, float]:
    """Median seconds of `claude --version`: through `claude` on Debian, bare on Debian, bare on minimal."""
    with user_home(debian, CLAUDE_DOCKER_NETWORK="none") as (project, env):
        user = f"{os.getuid()}:{os.getgid()}"

        def bare(image: str) -> list[str]:
            return [DOCKER, "run", "--rm", "--network", "none", "-u", user, "-e", "HOME=/tmp", image,
                    "claude", "--version"]

        wrapped = ["zsh", "-f", "-c", f"{plugin_setup()}; claude --version"]
        subprocess.run(wrapped, env=env, cwd=project, check=True, stdout=subprocess.DEVNULL)
        return interleaved({
            "function": lambda: time_command(wrapped, env, project),
            "debian": lambda: time_command(bare(debian), env, project),
            "minimal": lambda: time_command(bare(minimal), env, project),
        }, rounds)


def main() -> bool:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--npm-tarball", type=Path, help="`npm pack` tarball of the Claude Code binary to build "
                        "from (default: the build fetches it)")
    parser.add_argument("--runs", type=int, default=7, help="interleaved rounds of the start measurement")
    parser.add_argument("--cleanup", action="store_true", help="remove the bench's images at the end")
    args = parser.parse_args()
    images = {"debian": f"claude-docker-bench/debian:{CLAUDE_CODE_VERSION}",
              "minimal": f"claude-docker-bench/minimal:{CLAUDE_CODE_VERSION}"}
    try:
        built = {"debian": ensure(images["debian"], [], args.npm_tarball),
                 "minimal": ensure(images["minimal"], ["--recipe", "minimal"], args.npm_tarball)}
        print(f"{'image':<34} {'build':>8} {'on disk':>9} {'saved, gzip -6':>15}")
        for name, image in images.items():
            seconds = built[name]
            info = inspect(image)
            assert info is not None
            print(f"{image:<34} {'reused' if seconds is None else f'{seconds:.1f} s':>8} "
                  f"{info['Size'] / 1e6:>6.0f} MB {compressed_size(image) / 1e6:>12.0f} MB")
        medians = startup(images["debian"], images["minimal"], args.runs)
    finally:
        if args.cleanup:
            for image in images.values():
                info = inspect(image)
                if info is not None and bench_built(info):
                    subprocess.run([DOCKER, "image", "rm", image], check=True, stdout=subprocess.DEVNULL)
    ratio = medians["function"] / medians["debian"]
    report("claude --version, Debian image",
           f"bare docker run {medians['debian'] * 1000:.0f} ms, through `claude` {medians['function'] * 1000:.0f} ms "
           f"({ratio:.3f}x)", ratio <= GOAL_RATIO)
    print(f"{'bare start, Debian vs minimal':<34} Debian {medians['debian'] * 1000:.0f} ms, minimal "
          f"{medians['minimal'] * 1000:.0f} ms ({medians['debian'] / medians['minimal']:.3f}x)")
    return ratio <= GOAL_RATIO


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
