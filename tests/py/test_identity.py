"""The passwd and group files a session gets for its uid:gid (launcher/identity.py)."""

from __future__ import annotations

from pathlib import Path

from claude_docker.launcher import identity


def entries(mounts) -> dict[str, list[str]]:
    return {m.target.name: m.source.read_text().splitlines() for m in mounts}


def test_the_users_uid_gets_their_name_and_home_read_only(tmp_path):
    mounts = identity.mounts(tmp_path, 1000, 1000, Path("/home/ann"), {"USER": "ann"})
    assert [(str(m.target), m.read_only) for m in mounts] == [("/etc/passwd", True), ("/etc/group", True)]
    files = entries(mounts)
    assert "ann:x:1000:1000::/home/ann:/bin/sh" in files["passwd"]
    assert "ann:x:1000:" in files["group"]
    assert files["passwd"][0] == "root:x:0:0:root:/root:/bin/sh"
    assert all(oct(m.source.stat().st_mode & 0o777) == "0o644" for m in mounts)
    assert oct((tmp_path / "identity").stat().st_mode & 0o777) == "0o700"


def test_root_sessions_have_the_session_home_where_ssh_looks(tmp_path):
    files = entries(identity.mounts(tmp_path, 0, 0, Path("/home/ann"), {"USER": "ann"}))
    assert files["passwd"] == ["root:x:0:0:root:/home/ann:/bin/sh",
                               "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"]
    assert files["group"] == ["root:x:0:", "nogroup:x:65534:"]


def test_a_name_or_home_that_would_corrupt_the_files_is_replaced(tmp_path):
    files = entries(identity.mounts(tmp_path, 1000, 100, Path("/home/a:b\nevil::0:0"), {"USER": "x:0:0:\nroot"}))
    assert "user:x:1000:100::/:/bin/sh" in files["passwd"]
    assert all(line.count(":") == 6 for line in files["passwd"])
