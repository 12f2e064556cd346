"""`claude-docker image build` and `image list` with the fast `minimal` recipe (and a Dockerfile of our own)
and a tiny stand-in npm package: the real one, and the `debian` recipe, are what tests/run builds the
end-to-end image with. Each test builds as a HOME of its own, so its builds own their images (and prune only
those), and its tags name this run: a run beside it on the same engine is neither touched nor in the way."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker


@pytest.fixture
def npm_tarball(tmp_path) -> Path:
    """An `npm pack` tarball whose package/claude is a small native binary (/bin/true)."""
    out = tmp_path / "anthropic-ai-claude-code-linux-x64-0.0.1.tgz"
    with tarfile.open(out, "w:gz") as tar:
        tar.add(shutil.which("true"), arcname="package/claude")
    return out


def tag_of(name: str) -> str:
    return f"claude-docker-test/{name}:{os.getpid()}"


@pytest.fixture
def built(docker_client, home):
    """Tags the test makes, removed after it (last first: a derived image before its parent)."""
    tags: list[str] = []
    yield tags
    for tag in reversed(tags):
        docker_client.images.remove(tag, force=True)


def build(*args):
    return subprocess.run([sys.executable, "-m", "claude_docker", "image", "build", "--json", *args],
                          capture_output=True, text=True, timeout=300)


def build_minimal(npm_tarball: Path, version: str, tag: str) -> None:
    result = build("--recipe", "minimal", "--npm-tarball", str(npm_tarball), "--version", version, "--tag", tag)
    assert result.returncode == 0, result.stderr


def listed() -> list[dict]:
    result = subprocess.run([sys.executable, "-m", "claude_docker", "image", "list", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_minimal_recipe_assembles_a_working_image_without_a_registry(npm_tarball, docker_client, built,
                                                                    tmp_path, monkeypatch):
    tag = tag_of("minimal-recipe")
    built.append(tag)
    # the owner label holds HOME: quotes and spaces in it must reach the label as they are
    home = tmp_path / 'ann "the admin" o\'neil'
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    build_minimal(npm_tarball, "0.0.1", tag)
    image = docker_client.images.get(tag)
    assert image.labels["io.claude-docker.claude-code-version"] == "0.0.1"
    assert image.labels["io.claude-docker.recipe"] == "minimal"
    assert image.labels["io.claude-docker.owner"] == f"{os.getuid()}:{home}"
    out = docker_client.containers.run(tag, ["bash", "-c", "claude && echo claude-ran; ls /etc/ssl/certs; id -u"],
                                       user="1234:1234", network_mode="none", remove=True).decode()
    assert out.splitlines() == ["claude-ran", "ca-certificates.crt", "1234"]


def test_profiles_with_the_minimal_recipe_are_a_usage_error(npm_tarball, home):
    result = build("--recipe", "minimal", "--profile", "python", "--npm-tarball", str(npm_tarball),
                   "--tag", tag_of("never"))
    assert result.returncode == 2
    assert result.stderr.startswith("claude-docker: profiles need a Debian recipe") and result.stderr.count("\n") == 1


def test_dockerfile_recipe_builds_with_the_pinned_binary(npm_tarball, fake_image, docker_client, built, tmp_path):
    tag = tag_of("dockerfile-recipe")
    built.append(tag)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {fake_image}\nARG CLAUDE_CODE_VERSION\nCOPY claude /opt/claude-from-npm\n"
                          "RUN echo \"$CLAUDE_CODE_VERSION\" > /opt/version\n")
    result = build("--recipe", "dockerfile", "--dockerfile", str(dockerfile), "--npm-tarball", str(npm_tarball),
                   "--version", "0.0.2", "--tag", tag)
    assert result.returncode == 0, result.stderr
    image = docker_client.images.get(tag)
    assert image.labels["io.claude-docker.recipe"] == "dockerfile"
    out = docker_client.containers.run(tag, ["sh", "-c", "cat /opt/version; wc -c < /opt/claude-from-npm"],
                                       entrypoint=[], network_mode="none", remove=True).decode().split()
    assert out == ["0.0.2", str(Path(shutil.which("true")).stat().st_size)]


def test_a_package_without_the_binary_is_one_clear_error(tmp_path, home):
    bad = tmp_path / "bad.tgz"
    with tarfile.open(bad, "w:gz") as tar:
        tar.add(__file__, arcname="package/README.md")
    result = build("--recipe", "minimal", "--npm-tarball", str(bad), "--tag", tag_of("never"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"claude-docker: {bad} is not a @anthropic-ai/claude-code-linux-x64 package")
    assert result.stderr.count("\n") == 1


def test_a_rebuild_removes_its_own_superseded_image_unless_a_slot_or_a_container_uses_it_or_it_is_not_ours(
        npm_tarball, docker_client, built, tmp_path, monkeypatch):
    from docker.errors import ImageNotFound

    tag = tag_of("rebuild")
    built.append(tag)

    def image_of(version: str) -> str:
        build_minimal(npm_tarball, version, tag)
        return docker_client.images.get(tag).id

    first = image_of("0.0.1")
    second = image_of("0.0.2")
    assert second != first
    with pytest.raises(ImageNotFound):  # no dangling image left behind
        docker_client.images.get(first)
    # in use by a container (even a stopped one): kept
    user = docker_client.containers.create(second, ["true"], network_disabled=True)
    try:
        third = image_of("0.0.3")
        assert docker_client.images.get(second).id == second
    finally:
        user.remove(force=True)
        docker_client.images.remove(second, force=True)
    # named by a slot setting (by id, as `docker images` shows it): kept
    monkeypatch.setenv("CLAUDE_DOCKER_IMAGE", third.removeprefix("sha256:")[:12])
    fourth = image_of("0.0.4")
    monkeypatch.delenv("CLAUDE_DOCKER_IMAGE")
    assert docker_client.images.get(third).id == third
    docker_client.images.remove(third, force=True)
    # a refused slot setting: which image a slot names is unknown, so nothing is removed (the build stands)
    monkeypatch.setenv("CLAUDE_DOCKER_V2_PROBABILITY", "often")
    result = build("--recipe", "minimal", "--npm-tarball", str(npm_tarball), "--version", "0.0.6", "--tag", tag)
    monkeypatch.delenv("CLAUDE_DOCKER_V2_PROBABILITY")
    assert result.returncode == 0, result.stderr
    assert "kept superseded images: CLAUDE_DOCKER_V2_PROBABILITY" in result.stderr
    assert docker_client.images.get(fourth).id == fourth
    docker_client.images.remove(fourth, force=True)
    fourth = docker_client.images.get(tag).id
    # built by someone else (another owner): kept, even unused
    other = tmp_path / "other home"
    other.mkdir()
    monkeypatch.setenv("HOME", str(other))
    image_of("0.0.5")
    assert docker_client.images.get(fourth).id == fourth
    docker_client.images.remove(fourth, force=True)


def test_image_list_shows_each_image_and_what_uses_it(npm_tarball, docker_client, built, monkeypatch):
    tag = tag_of("listed")
    built.append(tag)
    build_minimal(npm_tarball, "0.0.1", tag)
    monkeypatch.setenv("CLAUDE_DOCKER_IMAGE", tag)
    [info] = listed()  # this test's HOME built only this one
    assert info["id"] == docker_client.images.get(tag).id
    assert (info["tags"], info["claude_code_version"], info["profiles"], info["recipe"]) == (
        [tag], "0.0.1", [], "minimal")
    assert info["size"] > 0 and info["slots"] == ["v1"] and info["containers"] == 0 and not info["stale"]
    user = docker_client.containers.create(tag, ["true"], network_disabled=True)
    try:
        assert [i["containers"] for i in listed()] == [1]
    finally:
        user.remove(force=True)


def test_an_image_from_another_recipe_is_flagged_in_the_list_and_by_doctor(npm_tarball, docker_client, built,
                                                                           monkeypatch):
    tag, older = tag_of("current"), tag_of("older-recipe")
    built.extend([tag, older])
    build_minimal(npm_tarball, "0.0.1", tag)
    # the same image, but as if built (as itself, not derived) when the recipe was different
    docker_client.images.build(fileobj=io.BytesIO(
        f"FROM {tag}\nLABEL io.claude-docker.recipe-fingerprint=00000000 io.claude-docker.built-as={older}\n"
        .encode()), tag=older, rm=True)
    assert {info["tags"][0]: info["stale"] for info in listed()} == {tag: False, older: True}
    monkeypatch.setenv("CLAUDE_DOCKER_IMAGE", older)
    doctor = subprocess.run([sys.executable, "-m", "claude_docker", "doctor"], capture_output=True, text=True,
                            timeout=60).stdout.splitlines()
    at = next(n for n, line in enumerate(doctor) if " image v1 " in line)
    assert doctor[at].startswith("! ") and doctor[at].endswith(": built from an older recipe"), doctor[at]
    assert doctor[at + 1].split() == ["fix:", "claude-docker", "image", "build", "--recipe", "minimal",
                                      "--version", "0.0.1", "--tag", older]
