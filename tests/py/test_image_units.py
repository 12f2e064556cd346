"""The image/ subpackage without an engine: profile names and tags, the host's apt sources, a project's
`.claude-docker.toml`, the recipe fingerprint, and what the recipes write into an image."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys

import pytest

from claude_docker import CLAUDE_CODE_VERSION, DEFAULT_IMAGE, exitcodes
from claude_docker.errors import ToolError
from claude_docker.image import aptsources, build, debian, metadata, profiles, projectfile, recipe

# ---- profiles ----


def test_profile_names_are_split_on_commas_deduplicated_and_sorted():
    assert profiles.parse(["python,node", "python", " go , ", ""]) == ("go", "node", "python")
    assert profiles.parse([]) == ()


def test_an_unknown_profile_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="unknown profile 'ruby'"):
        profiles.parse(["python,ruby"])


def test_the_tag_and_build_command_name_the_profiles():
    assert profiles.tag() == DEFAULT_IMAGE
    assert profiles.tag("2.0.0", ("node", "python")) == "claude-docker/claude-code:2.0.0-node-python"
    assert profiles.build_command(()) == "claude-docker image build"
    assert profiles.build_command(("node", "python")) == "claude-docker image build --profile node,python"


# ---- the host's apt sources ----

SOURCES_LIST = """\
deb http://deb.debian.org/debian bookworm main contrib
deb-src http://deb.debian.org/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/mirror.gpg] http://mirror.example/debian bookworm-updates main # note
deb http://deb.debian.org/debian bookworm-backports main
deb http://deb.debian.org/debian sid main
# deb http://deb.debian.org/debian bookworm-proposed-updates main
deb http://deb.debian.org/debian bookworm main contrib
"""

DEB822 = """\
Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm-updates bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.debian.org/debian-security
Suites: bookworm-security
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

# a key given inline: one-line sources cannot carry it
Types: deb
URIs: http://inline.example/debian
Suites: bookworm
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGQ
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main
"""


def test_only_the_host_releases_binary_sources_are_kept_from_both_formats(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(SOURCES_LIST)
    (tmp_path / "sources.list.d/debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d/next.list").write_text("deb http://deb.debian.org/debian trixie main\n")
    keyring = "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"
    assert aptsources.for_release("bookworm", tmp_path).splitlines() == [
        "deb http://deb.debian.org/debian bookworm main contrib",
        f"deb {keyring} http://deb.debian.org/debian bookworm-updates main",
        f"deb {keyring} http://security.debian.org/debian-security bookworm-security main non-free-firmware",
        "deb http://inline.example/debian bookworm main",
    ]


def test_a_vendors_repository_naming_the_release_is_left_out_a_lone_resigned_mirror_is_not(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    vendor = ("deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.example/linux/debian "
              "bookworm stable")
    (tmp_path / "sources.list.d/docker.list").write_text(vendor + "\n")
    (tmp_path / "sources.list.d/ppa.list").write_text("deb http://ppa.launchpadcontent.net/x/y/ubuntu bookworm main\n")
    (tmp_path / "sources.list.d/debian.sources").write_text(
        "Types: deb\nURIs: http://snapshot.example/archive/debian/20250520T000000Z\nSuites: bookworm\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.pgp\nCheck-Valid-Until: No\n"
        "Trusted: no\n")
    assert aptsources.for_release("bookworm", tmp_path).splitlines() == [
        ("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.pgp trusted=no check-valid-until=no] "
        "http://snapshot.example/archive/debian/20250520T000000Z bookworm main")]
    (tmp_path / "sources.list.d/debian.sources").unlink()
    (tmp_path / "sources.list.d/ppa.list").unlink()
    (tmp_path / "sources.list.d/mirror.list").write_text(
        "deb [signed-by=/usr/share/keyrings/corp.gpg] http://mirror.corp.example/debian bookworm main\n")
    assert aptsources.for_release("bookworm", tmp_path).splitlines() == [
        vendor, "deb [signed-by=/usr/share/keyrings/corp.gpg] http://mirror.corp.example/debian bookworm main"]


def test_no_source_of_the_release_is_one_line_naming_the_way_out(tmp_path):
    (tmp_path / "sources.list").write_text("deb http://deb.debian.org/debian sid main\n")
    with pytest.raises(ToolError) as caught:
        aptsources.for_release("bookworm", tmp_path)
    assert "--apt-sources" in caught.value.message and "\n" not in caught.value.message


@pytest.mark.parametrize("line", ["VERSION_CODENAME=bookworm", 'VERSION_CODENAME="bookworm"'])
def test_the_host_suite_is_its_release_codename(tmp_path, line):
    os_release = tmp_path / "os-release"
    os_release.write_text(f'PRETTY_NAME="Debian GNU/Linux 12"\n{line}\nID=debian\n')
    assert aptsources.host_suite(os_release) == "bookworm"


def test_a_host_without_a_codename_is_one_line(tmp_path):
    os_release = tmp_path / "os-release"
    os_release.write_text('NAME="Alpine Linux"\nID=alpine\n')
    with pytest.raises(ToolError) as caught:
        aptsources.host_suite(os_release)
    assert caught.value.code == exitcodes.FAILURE
    assert str(os_release) in caught.value.message and "\n" not in caught.value.message


# ---- a project's .claude-docker.toml ----


def write_project(tmp_path, text: str):
    (tmp_path / projectfile.NAME).write_text(text)
    return tmp_path


def refused(project) -> str:
    with pytest.raises(ToolError) as caught:
        projectfile.read(project)
    assert caught.value.code == exitcodes.BAD_SETTING == 125
    assert caught.value.message.startswith(f"{project / projectfile.NAME}: ")
    return caught.value.message


def test_a_project_without_the_file_names_no_profiles(tmp_path):
    assert projectfile.read(tmp_path) == ((), [])


def test_a_projects_profiles_are_read_sorted(tmp_path):
    project = write_project(tmp_path, '[image]\nprofiles = ["python", "node"]\n')
    assert projectfile.read(project) == (("node", "python"), [])


def test_an_unknown_profile_names_the_file(tmp_path):
    assert "unknown profile 'cobol'" in refused(write_project(tmp_path, '[image]\nprofiles = ["cobol"]\n'))


def test_a_file_that_is_not_toml_names_the_file(tmp_path):
    assert "not valid TOML" in refused(write_project(tmp_path, "[image\nprofiles = \n"))


def test_a_link_is_refused_not_followed(tmp_path):
    target = tmp_path / "elsewhere.toml"
    target.write_text('[image]\nprofiles = ["python"]\n')
    project = tmp_path / "project"
    project.mkdir()
    (project / projectfile.NAME).symlink_to(target)
    assert refused(project).endswith("cannot be read (a link)")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / projectfile.NAME)

    def hung(signum, frame):
        raise AssertionError("reading the FIFO blocked")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    try:
        assert "not a regular file" in refused(tmp_path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_an_oversized_file_is_refused(tmp_path):
    project = write_project(tmp_path, "#" * projectfile.MAX_BYTES + '\n[image]\nprofiles = ["go"]\n')
    assert f"larger than {projectfile.MAX_BYTES} bytes" in refused(project)


def test_keys_other_than_the_profiles_give_one_warning_with_their_names_escaped(tmp_path):
    project = write_project(tmp_path, '[image]\nprofiles = "go"\nname = "evil/image"\n'
                                      '"\\u001b]0;owned\\u0007\\u001b[2J" = true\n[mounts]\nroot = "/"\n')
    chosen, warnings = projectfile.read(project)
    assert chosen == ("go",)
    assert len(warnings) == 1
    assert "mounts, image.name, image.\\x1b]0;owned\\x07\\x1b[2J" in warnings[0]
    assert "\x1b" not in warnings[0] and "\x07" not in warnings[0]


# ---- the recipe fingerprint ----


def labels_of(kind: str, chosen: tuple[str, ...] = ()) -> dict[str, str]:
    return build.labels(build.Request(recipe=kind, version=CLAUDE_CODE_VERSION, profiles=chosen, tag="x"))


def test_a_profiles_package_list_is_in_the_fingerprint(monkeypatch):
    before = recipe.fingerprint("debian", ("python",))
    monkeypatch.setitem(profiles.PROFILES, "python", (*profiles.PROFILES["python"], "python3-dev"))
    assert recipe.fingerprint("debian", ("python",)) != before


@pytest.mark.parametrize("kind", ["debian", "dockerfile"])
@pytest.mark.parametrize("name", ["FINISH", "DPKG_EXCLUDES", "APT_OPTIONS", "DOCKERFILE"])
def test_each_recipe_file_a_kind_builds_with_is_in_its_fingerprint(monkeypatch, tmp_path, kind, name):
    copy = tmp_path / getattr(recipe, name).name
    shutil.copyfile(getattr(recipe, name), copy)
    monkeypatch.setattr(recipe, name, copy)
    labels = labels_of(kind, ("go",))
    assert not recipe.is_stale(labels)
    with copy.open("a") as f:
        f.write("\n# edited\n")
    # the debian recipe has no Dockerfile: editing it leaves those images as they are
    assert recipe.is_stale(labels) == (kind == "dockerfile" or name != "DOCKERFILE")


def test_the_shipped_dockerfile_pins_the_binary_it_is_given():
    text = recipe.DOCKERFILE.read_text()
    assert "COPY claude /usr/local/bin/claude" in text and "npm install" not in text and "curl" not in text


def test_the_dockerfile_copies_exactly_the_shared_recipe_files():
    copied = re.findall(r"^COPY (\S+) ", recipe.DOCKERFILE.read_text(), re.M)
    assert sorted(copied) == sorted(["claude", *(path.name for path in recipe.shared_files())])


def test_what_is_stale_and_what_is_not():
    assert not recipe.is_stale(labels_of("debian", ("node", "python")))
    assert not recipe.is_stale(labels_of("minimal"))
    assert recipe.is_stale({**labels_of("debian"), metadata.FINGERPRINT: "00000000"})
    # a profile this copy no longer has: built from something else
    assert recipe.is_stale({**labels_of("debian"), metadata.PROFILES: "cobol"})
    # not ours, or a Dockerfile of the user's own (no fingerprint): never stale
    assert not recipe.is_stale({})
    assert not recipe.is_stale({"maintainer": "someone"})
    assert not recipe.is_stale({k: v for k, v in labels_of("dockerfile").items() if k != metadata.FINGERPRINT})
    # 0.1's busybox-only image under the same tag: a recipe this copy no longer builds, rebuilt as the default
    old = {metadata.VERSION: CLAUDE_CODE_VERSION, metadata.RECIPE: "npm"}
    assert recipe.is_stale(old)
    assert recipe.rebuild_command(DEFAULT_IMAGE, old) == "claude-docker image build"


def test_the_rebuild_command_says_what_differs_from_the_defaults():
    def command(image: str, **overrides: str) -> str:
        return recipe.rebuild_command(image, {**labels_of("debian"), **overrides})

    assert command(DEFAULT_IMAGE) == "claude-docker image build"
    assert (command(profiles.tag(CLAUDE_CODE_VERSION, ("node", "python")), **{metadata.PROFILES: "node,python"})
            == "claude-docker image build --profile node,python")
    assert (command("claude-docker/claude-code:2.0.0", **{metadata.VERSION: "2.0.0"})
            == "claude-docker image build --version 2.0.0")
    assert command("me/claude:dev") == "claude-docker image build --tag me/claude:dev"
    assert (command(profiles.tag(CLAUDE_CODE_VERSION, ("python",)),
                    **{metadata.PROFILES: "python", metadata.RECIPE: "dockerfile"})
            == "claude-docker image build --profile python --recipe dockerfile")
    assert (command(DEFAULT_IMAGE, **{metadata.RECIPE: "dockerfile", metadata.BASE: "mirror.example/debian:slim"})
            == "claude-docker image build --recipe dockerfile --base mirror.example/debian:slim")


# ---- what the recipes record and write ----


def test_the_release_label_names_each_sources_release_date(tmp_path):
    lists = "/tmp/mmdebstrap.x_y/var/lib/apt/lists/"
    dates = tmp_path / "release-dates"
    dates.write_text(
        f"{lists}security.debian.org_debian-security_dists_bookworm-security_InRelease:Date: Tue, 02 Jul 2024\n"
        f"{lists}deb.debian.org_debian_dists_bookworm_InRelease:Date: Sat, 29 Jun 2024 09:10:11 UTC\n"
        f"{lists}deb.debian.org_debian_dists_bookworm_InRelease:Date: Sat, 29 Jun 2024 09:10:11 UTC\n"
        f"{lists}security.debian.org_dists_bookworm_updates_Release:Date: Mon, 01 Jul 2024\n"
        "grep: something odd\n")
    assert debian.release_label("bookworm", dates) == (
        "bookworm; bookworm: Sat, 29 Jun 2024 09:10:11 UTC; bookworm-security: Tue, 02 Jul 2024; "
        "bookworm/updates: Mon, 01 Jul 2024")
    assert debian.release_label("bookworm", tmp_path / "missing") == "bookworm"


def test_installed_packages_are_those_with_a_version(tmp_path):
    listing = tmp_path / "dpkg"
    listing.write_text("bash=5.2.15-2+b7\ngit=1:2.39.5-0+deb12u1\nlibfoo=\n\ncoreutils=9.1-1\n")
    assert debian.installed(listing) == {"bash": "5.2.15-2+b7", "git": "1:2.39.5-0+deb12u1", "coreutils": "9.1-1"}


def test_import_changes_quote_every_value_as_json():
    owner = '1000:/home/ann "the admin" o\'neil \\ é'
    changes = metadata.import_changes({"LANG": "C.UTF-8", "X": "a b"}, {metadata.OWNER: owner})
    assert changes[2] == 'CMD ["claude"]'
    parsed = {}
    for line in changes[:2] + changes[3:]:
        instruction, _, rest = line.partition(" ")
        key, _, value = rest.partition("=")
        parsed[instruction, key] = json.loads(value)
    assert parsed == {("ENV", "LANG"): "C.UTF-8", ("ENV", "X"): "a b", ("LABEL", metadata.OWNER): owner}


def test_the_dockerfile_sets_the_debian_recipes_environment_and_command():
    logical = re.sub(r"\\\n\s*", " ", recipe.DOCKERFILE.read_text()).splitlines()
    env = dict(word.split("=", 1) for line in logical if line.startswith("ENV ") for word in shlex.split(line[4:]))
    assert env == metadata.DEBIAN_ENV
    cmds = [line for line in logical if line.startswith("CMD ")]
    assert cmds == [c for c in metadata.import_changes({}, {}) if c.startswith("CMD ")]


@pytest.mark.parametrize(("args", "message"), [
    (["--recipe", "minimal", "--profile", "python"], "profiles need a Debian recipe"),
    (["--apt-sources", __file__, "--recipe", "dockerfile"], "--apt-sources is for --recipe debian, not dockerfile"),
    (["--base", "debian:bookworm-slim"], "--base is for --recipe dockerfile, not debian"),
    (["--build-network", "host", "--recipe", "minimal"], "--build-network is for --recipe dockerfile, not minimal"),
])
def test_an_option_the_recipe_would_ignore_is_a_usage_error_before_docker_is_asked(args, message):
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}  # never reached
    result = subprocess.run([sys.executable, "-m", "claude_docker", "image", "build", *args], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith(f"claude-docker: {message}") and result.stderr.count("\n") == 1, result.stderr


def test_mmdebstraps_lines_never_show_a_mirrors_credentials(tmp_path):
    fake = tmp_path / "mmdebstrap"
    fake.write_text("#!/bin/sh\ncat >/dev/null\necho 'I: fetching http://me:s3cret@mirror.example/debian' >&2\n"
                    "echo 'E: Failed to fetch http://me:s3cret@mirror.example/debian/dists/x 401' >&2\nexit 1\n")
    fake.chmod(0o755)
    shown: list[str] = []
    with pytest.raises(ToolError) as err:
        debian.run_mmdebstrap([str(fake)], "deb http://me:s3cret@mirror.example/debian bookworm main\n", shown.append)
    assert "s3cret" not in err.value.message and "s3cret" not in "".join(shown)
    assert err.value.message == "mmdebstrap failed: Failed to fetch http://***:***@mirror.example/debian/dists/x 401"
    assert shown == ["mmdebstrap: fetching http://***:***@mirror.example/debian"]


def test_a_derived_image_is_told_to_rebuild_its_base_not_itself():
    labels = {**labels_of("debian"), metadata.BUILT_AS: DEFAULT_IMAGE, metadata.FINGERPRINT: "00000000"}
    assert recipe.derived_base(DEFAULT_IMAGE, labels) is None
    assert recipe.derived_base("sha256:" + "0" * 64, labels) is None  # by id: can't tell, so not said
    assert recipe.stale_advice(DEFAULT_IMAGE, labels) == "rebuild it with `claude-docker image build`"
    assert recipe.derived_base("my/claude", labels) == DEFAULT_IMAGE
    assert recipe.stale_advice("my/claude:1", labels) == (
        f"it is built on {DEFAULT_IMAGE}: rebuild that with `claude-docker image build`, then my/claude:1")


@pytest.mark.parametrize(("env", "chosen"), [({}, False), ({"CLAUDE_DOCKER_IMAGE": ""}, False),
                                             ({"CLAUDE_DOCKER_IMAGE": DEFAULT_IMAGE}, True)])
def test_an_image_the_user_set_even_the_default_is_their_choice(env, chosen):
    from claude_docker.options import RunOptions

    assert RunOptions.from_env(env).image_chosen is chosen


@pytest.mark.parametrize("content", ["a = " + "[" * 5000 + "]" * 5000, "a = " + "9" * 5000],
                         ids=["nested", "long-number"])
def test_a_project_file_the_parser_chokes_on_is_one_line(tmp_path, content):
    (tmp_path / projectfile.NAME).write_text(content + "\n")
    with pytest.raises(ToolError) as caught:
        projectfile.read(tmp_path)
    assert caught.value.code == exitcodes.BAD_SETTING and projectfile.NAME in caught.value.message
