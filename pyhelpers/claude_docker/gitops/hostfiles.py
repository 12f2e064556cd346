"""The host's side of a managed item: Claude's files read and written the way every writer of them does.

Below the config dir nothing follows a link, at any component (beneath.py): a session can plant links in
places it shares, and GitOps must never write through one out of Claude's state. The config dir itself and
`~/.claude.json` are the user's own paths (either may be a dotfiles link), resolved once as sync resolves them.
Writes go through the one safe-write path (fsio), callers holding the config lock."""

from __future__ import annotations

import errno
import os
import stat

from claude_docker import beneath, claudejson, fsio
from claude_docker.errors import ToolError, describe
from claude_docker.jsonmerge import MISSING

TYPE_CHECKING = False
if TYPE_CHECKING:
    from claude_docker.paths import ClaudeHome

CLAUDE_JSON = ".claude.json"
SETTINGS = "settings.json"
LIMIT = 64 << 20  # a .claude.json of years of projects is a few MB; a file larger than this is not Claude's
# What a host value is when it can't be compared: never equal to a repository's digest, so always drift.
BROKEN = "!broken"
BLOCKED = "!not-an-object"


class HostFiles:
    """One reconcile's view of the host: files read once, JSON parsed once (ValueError kept as BROKEN)."""

    def __init__(self, claude: ClaudeHome):
        self.claude = claude
        self._root: int | None = None  # the config dir, opened once (its path resolved once: beneath.open_dir)
        self._raw: dict[str, bytes | None] = {}
        self._docs: dict[str, object] = {}

    # -- reading ----------------------------------------------------------------------------------------
    def read(self, rel: str) -> bytes | None:
        """A file's bytes (None: absent). `rel` is relative to the config dir; `.claude.json` is Claude's own."""
        if rel not in self._raw:
            self._raw[rel] = self._read(rel)
        return self._raw[rel]

    def _read(self, rel: str) -> bytes | None:
        try:
            if rel == CLAUDE_JSON:
                return fsio.read_capped(os.path.realpath(self.claude.claude_json), LIMIT)
            root = self._config()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ToolError(f"cannot read {self.where(rel)}: {describe(exc)}") from None
        try:
            fd = beneath.open_regular(root, rel)
            try:
                return fsio.read_capped(fd, LIMIT)
            finally:
                os.close(fd)
        except FileNotFoundError:
            return None
        except (beneath.Escape, beneath.NotRegular) as exc:
            raise ToolError(f"{self.where(rel)}: {exc.strerror} (GitOps never writes through a link or over "
                            "something that is not a file): move it away, then reconcile again") from None
        except OSError as exc:
            raise ToolError(f"cannot read {self.where(rel)}: {describe(exc)}") from None

    def _config(self) -> int:
        """The config dir's descriptor, opened at the first use (FileNotFoundError while it doesn't exist)."""
        if self._root is None:
            self._root = beneath.open_dir(self.claude.config_dir)
        return self._root

    def close(self) -> None:
        if self._root is not None:
            os.close(self._root)
            self._root = None

    def __del__(self) -> None:
        self.close()

    def doc(self, target: str) -> object:
        """A keyed target's document: a dict, MISSING (no file), or BROKEN (it doesn't parse as an object)."""
        if target not in self._docs:
            raw = self.read(target)
            if raw is None:
                self._docs[target] = MISSING
            else:
                try:
                    found = claudejson.loads(raw)
                except (ValueError, RecursionError):
                    found = BROKEN
                self._docs[target] = found if isinstance(found, dict) else BROKEN
        return self._docs[target]

    def value(self, target: str, path: tuple) -> object:
        """The host's value at an owned path: the value, MISSING, or BROKEN / BLOCKED (can't be compared)."""
        node = self.doc(target)
        if node is BROKEN:
            return BROKEN
        for i, key in enumerate(path):
            if node is MISSING:
                return MISSING
            if not isinstance(node, dict):
                return BLOCKED if i else BROKEN
            node = node.get(key, MISSING)
        return node

    def where(self, rel: str) -> str:
        return str(self.claude.claude_json) if rel == CLAUDE_JSON else str(self.claude.config_dir / rel)

    # -- writing (under the config lock) ------------------------------------------------------------------
    def write(self, rel: str, data: bytes | None) -> None:
        """`rel` made to hold `data` (None: removed), atomically and durably; its directories made 0700 on the
        way, following no link. The cache is updated, so a verify reads what is there now."""
        try:
            if rel == CLAUDE_JSON:
                if data is None:
                    fsio.remove_durable(self.claude.claude_json)
                else:
                    # 0600 whatever it was: it may now hold the repository's decrypted tokens
                    fsio.write_atomic(self.claude.claude_json, data, mode=0o600)
            else:
                self.claude.config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                parent, name = beneath.parent_of(self._config(), rel, create=data is not None)
                try:
                    mode = 0o600
                    try:
                        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                    except FileNotFoundError:
                        pass
                    else:
                        if stat.S_ISDIR(st.st_mode):  # (put_in_dir would remove it: not ours to remove)
                            raise IsADirectoryError(errno.EISDIR, "is a directory")
                        mode = st.st_mode & 0o777 if stat.S_ISREG(st.st_mode) else mode
                    fsio.put_in_dir(parent, name, data, mode)
                finally:
                    os.close(parent)
        except FileNotFoundError as exc:
            if data is not None:
                raise ToolError(f"cannot write {self.where(rel)}: {describe(exc)}") from None
        except beneath.Escape as exc:
            raise ToolError(f"{self.where(rel)}: {exc.strerror} (GitOps never writes through a link)") from None
        except OSError as exc:
            if exc.errno == errno.EISDIR:
                raise ToolError(f"{self.where(rel)} is a directory: move it away") from None
            raise ToolError(f"cannot write {self.where(rel)}: {describe(exc)}") from None
        self._raw[rel] = data
        self._docs.pop(rel, None)

    def sweep(self, rel: str, prefix: str) -> None:
        """Remove the temp files named `prefix…` beside `rel`: what a writer killed mid-write left there."""
        try:
            if rel == CLAUDE_JSON:
                fd = os.open(os.path.dirname(os.path.realpath(self.claude.claude_json)), os.O_RDONLY | os.O_DIRECTORY)
            else:
                fd, _name = beneath.parent_of(self._config(), rel, create=False)
        except OSError:
            return  # no such directory (or a link there): nothing of ours in it
        try:
            for name in os.listdir(fd):
                if name.startswith(prefix):
                    try:
                        os.unlink(name, dir_fd=fd)
                    except OSError:
                        pass
        finally:
            os.close(fd)

    def forget(self, rel: str) -> None:
        self._raw.pop(rel, None)
        self._docs.pop(rel, None)
