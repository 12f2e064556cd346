"""`claude-docker image build`, both recipes, with a tiny stand-in npm package (the real one is what
tests/run builds the end-to-end image from)."""

from __future__ import annotations

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


@pytest.fixture
def built(docker_client):
    tags = []
    yield tags
    for tag in tags:
        docker_client.images.remove(tag, force=True)


def build(*args):
    return subprocess.run([sys.executable, "-m", "claude_docker", "image", "build", "--json", *args],
                          capture_output=True, text=True, timeout=300)


def test_npm_recipe_assembles_a_working_image_without_a_registry(npm_tarball, docker_client, built):
    tag = "claude-docker-test/npm-recipe:1"
    built.append(tag)
    result = build("--npm-tarball", str(npm_tarball), "--version", "0.0.1", "--tag", tag)
    assert result.returncode == 0, result.stderr
    image = docker_client.images.get(tag)
    assert image.labels["io.claude-docker.claude-code-version"] == "0.0.1"
    assert image.labels["io.claude-docker.recipe"] == "npm"
    out = docker_client.containers.run(tag, ["bash", "-c", "claude && echo claude-ran; ls /etc/ssl/certs; id -u"],
                                       user="1234:1234", network_mode="none", remove=True).decode()
    assert out.splitlines() == ["claude-ran", "ca-certificates.crt", "1234"]


def test_dockerfile_recipe_builds_with_the_pinned_binary(npm_tarball, fake_image, docker_client, built, tmp_path):
    tag = "claude-docker-test/dockerfile-recipe:1"
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


def test_the_shipped_recipe_pins_the_binary_it_is_given():
    from claude_docker.imagebuild import RECIPE

    text = RECIPE.read_text()
    assert "COPY claude /usr/local/bin/claude" in text and "npm install" not in text and "curl" not in text


def test_a_package_without_the_binary_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.tgz"
    with tarfile.open(bad, "w:gz") as tar:
        tar.add(__file__, arcname="package/README.md")
    result = build("--npm-tarball", str(bad), "--tag", "claude-docker-test/never:1")
    assert result.returncode == 1
    assert result.stderr.startswith(f"claude-docker: {bad} is not a @anthropic-ai/claude-code-linux-x64 package")
    assert result.stderr.count("\n") == 1


def test_a_rebuild_removes_its_own_previous_image_but_never_one_in_use_or_not_ours(npm_tarball, docker_client, built,
                                                                                  tmp_path, monkeypatch):
    from docker.errors import ImageNotFound

    tag = "claude-docker-test/rebuild:1"
    built.append(tag)

    def image_of(version: str, home: Path | None = None) -> str:
        if home is not None:
            monkeypatch.setenv("HOME", str(home))
        result = build("--npm-tarball", str(npm_tarball), "--version", version, "--tag", tag)
        assert result.returncode == 0, result.stderr
        return docker_client.images.get(tag).id

    first = image_of("0.0.1")
    assert docker_client.images.get(first).labels["io.claude-docker.owner"].startswith(f"{os.getuid()}:")
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
    # built by someone else (another owner): kept, even unused
    other = tmp_path / "other home"
    other.mkdir()
    image_of("0.0.4", home=other)
    assert docker_client.images.get(third).id == third
    docker_client.images.remove(third, force=True)
