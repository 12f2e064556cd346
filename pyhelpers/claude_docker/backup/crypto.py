"""How chunks and manifests are stored: zstd-compressed, and age-encrypted (pyrage) if the store was
created with recipients, for backups on a shared disk.

CLAUDE_DOCKER_BACKUP_AGE_RECIPIENTS (a file of `age1…` lines, as `age -R` takes) at the store's creation
makes it encrypted; from then on backups need no key at all, and reading one (verify, restore) needs
CLAUDE_DOCKER_BACKUP_AGE_IDENTITY (an identity file, as `age -i` takes). An encrypted store names chunks
by an HMAC of their content under a random key, itself kept encrypted in store.json, so chunk names don't
confirm guesses of their content; a plaintext copy of that key stays in the local state dir.
"""

from __future__ import annotations

import os
from pathlib import Path

from claude_docker import envspec, exitcodes
from claude_docker.errors import ToolError
from claude_docker.fsio import write_atomic
from claude_docker.paths import ensure_private_dir, state_dir

MAX_MANIFEST = 256 << 20  # a manifest of 20,000 files is ~4 MiB
ZSTD_LEVEL = 1  # restic's "auto" ratio, at 2-3x the speed of higher levels on transcript-like JSON


def _read_lines(var: str, prefix: str) -> list[str]:
    path = envspec.get(var)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ToolError(f"{var}: cannot read {path}: {exc.strerror}", exitcodes.USAGE) from None
    found = [line.strip() for line in text.splitlines() if line.strip().upper().startswith(prefix)]
    if not found:
        raise ToolError(f"{var}: {path} holds no {prefix.lower()}… line", exitcodes.USAGE)
    return found


def _recipients(lines: list[str]) -> list:
    import pyrage

    try:
        return [pyrage.x25519.Recipient.from_str(r) for r in lines]
    except pyrage.RecipientError as exc:
        raise ToolError(f"not an age recipient: {exc}", exitcodes.USAGE) from None


def new_store_settings() -> dict:
    """store.json's encryption settings for a new store."""
    if not envspec.get("CLAUDE_DOCKER_BACKUP_AGE_RECIPIENTS"):
        return {"encryption": None}
    import base64

    import pyrage

    lines = _read_lines("CLAUDE_DOCKER_BACKUP_AGE_RECIPIENTS", "AGE1")
    key = os.urandom(32)
    sealed = base64.b64encode(pyrage.encrypt(key, _recipients(lines))).decode()
    _remember(sealed, key)
    return {"encryption": "age", "recipients": lines, "name_key": sealed}


def _key_cache(sealed: str) -> Path:
    import hashlib

    return state_dir() / "backup-keys" / hashlib.sha256(sealed.encode()).hexdigest()[:16]


def _remember(sealed: str, key: bytes) -> None:
    """Keep the plaintext naming key locally, so backups never need the identity."""
    cache = _key_cache(sealed)
    ensure_private_dir(cache.parent)
    write_atomic(cache, key, mode=0o600)


class Codec:
    def __init__(self, meta: dict, root: Path):
        self.encrypted = meta.get("encryption") == "age"
        self.meta = meta
        self.root = root
        self._recipients: list | None = None
        self._identities: list | None = None
        self._name_key: bytes | None = None
        import threading

        import zstandard

        self._zstd = zstandard
        self._local = threading.local()  # zstd contexts are not thread-safe: one per thread

    def _contexts(self):
        local = self._local
        if not hasattr(local, "compressor"):
            local.compressor = self._zstd.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
            local.decompressor = self._zstd.ZstdDecompressor()
        return local.compressor, local.decompressor

    # --- keys ------------------------------------------------------------------------------------

    @property
    def name_key(self) -> bytes | None:
        if not self.encrypted:
            return None
        if self._name_key is None:
            sealed = self.meta["name_key"]
            try:
                self._name_key = _key_cache(sealed).read_bytes()
            except FileNotFoundError:  # another machine: the identity opens the store's copy
                import base64

                self._name_key = self._decrypt(base64.b64decode(sealed))
                _remember(sealed, self._name_key)
        return self._name_key

    def _decrypt(self, data: bytes) -> bytes:
        import pyrage

        if self._identities is None:
            if not envspec.get("CLAUDE_DOCKER_BACKUP_AGE_IDENTITY"):
                raise ToolError(f"the backups in {self.root} are encrypted: set CLAUDE_DOCKER_BACKUP_AGE_IDENTITY "
                                "to your age identity file", exitcodes.USAGE)
            try:
                self._identities = [pyrage.x25519.Identity.from_str(line)
                                    for line in _read_lines("CLAUDE_DOCKER_BACKUP_AGE_IDENTITY", "AGE-SECRET-KEY-")]
            except pyrage.IdentityError as exc:
                raise ToolError(f"CLAUDE_DOCKER_BACKUP_AGE_IDENTITY: not an age identity: {exc}",
                                exitcodes.USAGE) from None
        try:
            return pyrage.decrypt(data, self._identities)
        except pyrage.DecryptError as exc:
            raise ValueError(f"cannot decrypt: {exc}") from None

    def _encrypt(self, data: bytes) -> bytes:
        import pyrage

        if self._recipients is None:
            self._recipients = _recipients(self.meta["recipients"])
        return pyrage.encrypt(data, self._recipients)

    # --- chunks and manifests --------------------------------------------------------------------

    def seal(self, data: bytes) -> bytes:
        sealed = self._contexts()[0].compress(data)
        return self._encrypt(sealed) if self.encrypted else sealed

    @property
    def can_read(self) -> bool:
        return not self.encrypted or bool(envspec.get("CLAUDE_DOCKER_BACKUP_AGE_IDENTITY"))

    def compress_only(self, data: bytes) -> bytes:
        return self._contexts()[0].compress(data)

    def open(self, stored: bytes, length: int | None = None, plain: bool = False) -> bytes:
        """Plain bytes of a stored chunk of `length` bytes (a manifest: None); ValueError if it is not a sound
        one. The frame's declared size is checked first: a hostile one can't make us allocate more."""
        if self.encrypted and not plain:
            stored = self._decrypt(stored)
        limit = MAX_MANIFEST if length is None else length
        try:
            declared = self._zstd.frame_content_size(stored)
            if declared < 0 or declared > limit or (length is not None and declared != length):
                raise ValueError(f"declares {declared} bytes, not {limit}")
            return self._contexts()[1].decompress(stored, max_output_size=limit)
        except self._zstd.ZstdError as exc:
            raise ValueError(str(exc)) from None
