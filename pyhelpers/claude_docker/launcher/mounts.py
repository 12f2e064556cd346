"""The session's bind mounts, planned: staged trees, shared config dirs, the project, git's pinned dirs."""

from __future__ import annotations

import os
from pathlib import Path

from claude_docker.container import Mount
from claude_docker.launcher.exposure import is_within

TYPE_CHECKING = False  # not typing's: its import costs milliseconds of claude's start (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.launcher.staging import Staging, SyncIn
    from claude_docker.options import RunOptions


def plan_mounts(staging: Staging, synced: SyncIn, project: Path, opts: RunOptions, user_home: Path,
                common: Path | None) -> list[Mount]:
    """`common`: mounted_common_dir's answer for the project (worked out once per run)."""
    mounts = [Mount(src, dst) for src, dst in staging.staging_mounts()]
    mounts += [Mount(src, dst, read_only) for src, dst, read_only in synced.shared_dirs]
    mounts.append(Mount(Path(os.path.realpath(project)), project))
    if common is not None:
        mounts.append(Mount(common, common))
    if opts.protect_git:
        from claude_docker.boundary import git

        # Same path inside and out: the project (or worktree) mount above holds these.
        mounts += [Mount(Path(os.path.realpath(p)), p, read_only) for p, read_only in git.mounts(project, common)]
    gitconfig = user_home / ".gitconfig"
    if opts.mount_gitconfig and gitconfig.is_file():
        mounts.append(Mount(Path(os.path.realpath(gitconfig)), gitconfig, read_only=True))
    # Docker creates missing mount points as root inside the source of an enclosing bind mount;
    # make them ourselves in the staged trees so the staging dir stays ours to delete.
    for mount in mounts:
        for src, dst in staging.staging_mounts():
            if mount.target != dst and is_within(mount.target, dst):
                point = src / mount.target.relative_to(dst)
                if mount.source.is_dir():
                    point.mkdir(parents=True, exist_ok=True)
                else:
                    point.parent.mkdir(parents=True, exist_ok=True)
                    point.touch(exist_ok=True)
    seen, unique = set(), []
    for mount in mounts:
        if mount.target not in seen:
            seen.add(mount.target)
            unique.append(mount)
    return unique
