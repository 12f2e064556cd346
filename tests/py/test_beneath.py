"""beneath.rmtree_at: a directory removed by descriptor, on every Python the package supports.

shutil.rmtree's dir_fd is Python 3.11+ (mypy found the call that would raise TypeError on 3.9 and 3.10);
both ways are run here, the older one by making the version check see 3.10.
"""

from __future__ import annotations

import os
import sys

import pytest

from claude_docker import beneath

PYTHONS = [pytest.param(None, id="this-python"), pytest.param((3, 10, 0), id="before-3.11")]


def _tree(tmp_path):
    parent, outside = tmp_path / "parent", tmp_path / "outside"
    (parent / "doomed" / "sub").mkdir(parents=True)
    (parent / "doomed" / "sub" / "f").write_text("x")
    outside.mkdir()
    (outside / "keep").write_text("mine")
    (parent / "doomed" / "link").symlink_to(outside, target_is_directory=True)
    (parent / "sibling").write_text("stays")
    return parent, outside


@pytest.mark.parametrize("version", PYTHONS)
def test_removes_the_tree_and_follows_no_link(tmp_path, monkeypatch, version):
    if version:
        monkeypatch.setattr(sys, "version_info", version)
    parent, outside = _tree(tmp_path)
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        beneath.rmtree_at(fd, "doomed")
    finally:
        os.close(fd)
    assert sorted(os.listdir(parent)) == ["sibling"]
    assert (outside / "keep").read_text() == "mine"


@pytest.mark.parametrize("version", PYTHONS)
def test_a_link_in_its_place_is_refused_and_its_target_kept(tmp_path, monkeypatch, version):
    if version:
        monkeypatch.setattr(sys, "version_info", version)
    parent, outside = _tree(tmp_path)
    (parent / "planted").symlink_to(outside, target_is_directory=True)
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError):
            beneath.rmtree_at(fd, "planted")
    finally:
        os.close(fd)
    assert (parent / "planted").is_symlink()
    assert (outside / "keep").read_text() == "mine"


@pytest.mark.parametrize("name", ["a/b", "..", ".", ""])
def test_only_a_plain_name(tmp_path, name):
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(beneath.Escape):
            beneath.rmtree_at(fd, name)
    finally:
        os.close(fd)
