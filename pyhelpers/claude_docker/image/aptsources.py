"""The host's apt sources for its own release, as one-line entries for mmdebstrap.

The image is built from the mirrors the host already uses (a corporate mirror, a snapshot), and only from
those of the host's release: mmdebstrap ignores apt pinning, so a `sid` or `bookworm-backports` line beside
the release would otherwise win every version."""

from __future__ import annotations

import re
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError

ETC_APT = Path("/etc/apt")
OS_RELEASE = Path("/etc/os-release")


def host_suite(os_release: Path = OS_RELEASE) -> str:
    """The host's release codename (bookworm, noble): the image is of the same family as its packages."""
    try:
        text = os_release.read_text(errors="replace")
    except OSError:
        text = ""
    m = re.search(r"^VERSION_CODENAME=\"?([a-z][a-z0-9.-]*)\"?\s*$", text, re.M)
    if not m:
        raise ToolError(f"{os_release} names no release codename: the debian recipe needs a Debian or Ubuntu host "
                        "(or --recipe dockerfile, or --recipe minimal)", exitcodes.FAILURE)
    return m.group(1)


def _of_release(suite: str, codename: str) -> bool:
    return suite in (codename, f"{codename}-updates", f"{codename}-security", f"{codename}/updates")


_YES_NO = ("trusted", "check-valid-until", "check-date", "allow-insecure", "allow-weak",
           "allow-downgrade-to-insecure")


def _distribution_signed(opts: str) -> bool:
    """Signed by the distribution's own archive keyring (or by whatever apt trusts when no key is named): the
    archive, or a mirror or snapshot of it, not a vendor's repository that happens to name the release
    (Docker's, NodeSource's), whose packages would win (mmdebstrap ignores pinning) and whose keyring the
    image lacks, breaking apt in a derived Dockerfile."""
    m = re.search(r"signed-by=(\S+?)\]?(?:\s|$)", opts)
    return m is None or re.search(r"-archive-keyring\.(gpg|pgp|asc)$", m.group(1)) is not None


def _one_line(text: str) -> list[tuple[str, str, str, list[str]]]:
    """(options, uri, suite, components) of each `deb` line of a sources.list."""
    entries = []
    for raw in text.splitlines():
        m = re.match(r"deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$", raw.split("#", 1)[0].strip())
        if m:
            entries.append(((m.group(1) or "").strip(), m.group(2), m.group(3), m.group(4).split()))
    return entries


def _deb822(text: str) -> list[tuple[str, str, str, list[str]]]:
    """The same, from the stanzas of a .sources file (only its `deb` type, not `deb-src`)."""
    entries = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and key:
                # A value may start on the next line (an inline Signed-By key block does): no leading space.
                fields[key] = f"{fields[key]} {line.strip()}".lstrip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        options = []
        if "signed-by" in fields and not fields["signed-by"].startswith("-----"):
            options.append(f"signed-by={fields['signed-by'].split()[0]}")
        if "architectures" in fields:
            options.append(f"arch={','.join(fields['architectures'].split())}")
        # A snapshot mirror needs check-valid-until=no, a local one trusted=yes: kept as one-line options.
        options += [f"{key}={fields[key].lower()}" for key in _YES_NO if key in fields]
        opts = f"[{' '.join(options)}]" if options else ""
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                entries.append((opts, uri, suite, fields.get("components", "").split()))
    return entries


def for_release(codename: str, etc_apt: Path = ETC_APT) -> str:
    """The host's sources of `codename` as sources.list lines; ToolError if it has none."""
    files = [etc_apt / "sources.list", *sorted((etc_apt / "sources.list.d").glob("*.list")),
             *sorted((etc_apt / "sources.list.d").glob("*.sources"))]
    lines: list[str] = []
    signed: list[str] = []
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for opts, uri, suite, components in (_deb822(text) if path.suffix == ".sources" else _one_line(text)):
            line = " ".join(filter(None, ("deb", opts, uri, suite, *components)))
            if _of_release(suite, codename) and "ppa.launchpad" not in uri and line not in lines:
                lines.append(line)
                if _distribution_signed(opts):
                    signed.append(line)
    # A mirror re-signed with its own key is used when it is all there is.
    lines = signed or lines
    if not lines:
        raise ToolError(f"no apt source for {codename} in {etc_apt}: pass one with --apt-sources FILE",
                        exitcodes.FAILURE)
    return "\n".join(lines) + "\n"
