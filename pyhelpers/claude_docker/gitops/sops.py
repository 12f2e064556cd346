"""SOPS files in the JSON store, read and written as the Go `sops` does (docs: sops-format.md of issue #11).

Each leaf value is AES-256-GCM encrypted under one random data key, with a 32-byte IV and the path of
object keys as AAD (array indices are not part of it); the data key is wrapped for each age recipient; a
SHA-512 MAC over the plaintext values, in walk order, is stored encrypted with `lastmodified` as AAD, so a
reordered or swapped value is refused. Reading accepts the metadata of every sops version (3.7's null lists,
3.10's omitted ones, 3.13's sorted keys; numbers all float64 before 3.13.2); writing produces what 3.13.2
writes. Not read: Shamir key groups, sops' YAML, INI, dotenv and binary stores (one line says so).
One difference no writer can avoid: a plain (unencrypted) integer beyond 2**53 is hashed as 3.13.2 hashes it,
and sops before 3.13.2, which reads it as a float64, finds the MAC wrong.

Plaintext values never appear in a message: errors name the key path, the MAC is never printed.
"""

from __future__ import annotations

import os

from claude_docker import exitcodes
from claude_docker.errors import ToolError

TYPE_CHECKING = False  # not typing's: its import is not needed at run time
if TYPE_CHECKING:
    from collections.abc import Callable

# The sops release whose output we write: int64 integers as `type:int`, metadata keys sorted.
VERSION = "3.13.2"
# The six encrypt rules, at most one per file; none means the default below (written out explicitly).
RULES = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex",
         "unencrypted_comment_regex", "encrypted_comment_regex")
DEFAULT_RULE = {"unencrypted_suffix": "_unencrypted"}
_PREFIX = "ENC[AES256_GCM,data:"
_INT64 = 1 << 63
_FLOAT_INTS = 1 << 53  # integral floats below this read back as ints: what a person wrote, and what sops prints
_BOOLS = {b"true": True, b"True": True, b"TRUE": True, b"t": True, b"T": True, b"1": True,
          b"false": False, b"False": False, b"FALSE": False, b"f": False, b"F": False, b"0": False}
# Top-level metadata of sops' other key types: a file that has any of them is not age-only.
_OTHER_KEYS = ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms")


class SopsError(ToolError):
    """A SOPS file that can't be read or written: no or wrong key, tampered, an unsupported kind."""

    def __init__(self, message: str, fix: str = ""):
        super().__init__(message, exitcodes.GITOPS_SECRETS, fix)


# ---- values as sops turns them into bytes ----------------------------------------------------------------------

def float_text(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an exponent, no `.0`.
    repr() has the digits; Decimal spells out its exponent (1e-07 -> 0.0000001, 1e+21 -> 1000…000)."""
    text = repr(value)
    if "e" in text:
        from decimal import Decimal

        text = format(Decimal(text), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _utf8(text: str) -> bytes:
    """A string's UTF-8 bytes; a lone surrogate (a JSON escape UTF-8 can't hold) becomes U+FFFD, as Go reads it."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode("utf-8")


def _plain_bytes(value: object, legacy: bool) -> tuple[bytes, str]:
    """(sops' ToBytes of a JSON leaf, its type name). `legacy`: the file's sops read every number as float64."""
    if isinstance(value, str):
        return _utf8(value), "str"
    if value is True:
        return b"True", "bool"
    if value is False:
        return b"False", "bool"
    if isinstance(value, int):
        if not legacy and -_INT64 <= value < _INT64:
            return str(value).encode(), "int"
        value = float(value)  # sops: an integer outside int64 is a float64 (OverflowError past 1e308)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and Infinity are not JSON")
        return float_text(value).encode(), "float"
    raise ValueError(f"a {type(value).__name__} is not a JSON value")


def _value(plain: bytes, kind: str) -> tuple[object, bytes]:
    """(the value a decrypted leaf stands for, the bytes sops hashes for it). ValueError if it can't be read."""
    if kind == "str":
        return plain.decode("utf-8", "replace"), plain
    if kind == "int":
        number = int(plain)
        return number, str(number).encode()
    if kind == "float":
        real = float(plain)
        hashed = float_text(real).encode()
        if real.is_integer() and abs(real) < _FLOAT_INTS:
            return int(real), hashed
        return real, hashed
    if kind == "bool":
        flag = _BOOLS[plain]  # KeyError is a LookupError: the caller's "can't read" too
        return flag, (b"True" if flag else b"False")
    if kind in ("time", "bytes"):  # YAML timestamps; raw bytes: the text as it is (Go re-marshals it the same)
        return plain.decode("utf-8", "replace"), plain
    raise ValueError(f"unknown value type {kind!r}")


# ---- the tree walk -----------------------------------------------------------------------------------------------

def _rule(settings: dict, where: str) -> tuple[str, str]:
    """The one encrypt rule in `settings` (a file's metadata or a creation rule) as (name, value)."""
    found = [(name, settings[name]) for name in RULES if settings.get(name)]
    if len(found) > 1:
        raise SopsError(f"{where} sets {' and '.join(n for n, _ in found)}: sops allows only one of {', '.join(RULES)}")
    name, value = found[0] if found else next(iter(DEFAULT_RULE.items()))
    if not isinstance(value, str):
        raise SopsError(f"{where}: {name} must be a string")
    return name, value


# A group holding a quantifier, itself quantified: `(a+)+`, `(x*){2,}` (escaped parentheses don't count).
NESTED_QUANTIFIER = r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]"


def _matcher(name: str, value: str) -> Callable[[str], bool]:
    """Does one object key match the rule? Each key of a path is tested alone, never the joined path."""
    if name.endswith("_comment_regex"):
        return lambda key: False  # JSON has no comments: nothing matches
    if name.endswith("_suffix"):
        return lambda key: key.endswith(value)
    import re

    # sops matches with RE2, in linear time; Python's engine backtracks. A quantified group that holds a
    # quantifier, `(a+)+`, can take it years on one key: a file from the repository could hang every loop.
    if re.search(NESTED_QUANTIFIER, str(value)):
        raise SopsError(f"{name} {str(value)[:80]!r}: a repeated group that repeats inside is refused (it can take "
                        "Python's regex engine forever; sops uses RE2)")
    try:
        search = re.compile(value).search
    except re.error as exc:
        raise SopsError(f"{name} {value!r} is not a regular expression: {exc}") from None
    return lambda key: search(key) is not None


class _Walk:
    """One pass over the tree in document order (object members in order, array elements in order; null and
    empty containers skipped), deciding per leaf whether it is encrypted and collecting the MAC's input."""

    def __init__(self, rule: tuple[str, str], mac_only: bool):
        self.positive = rule[0].startswith("encrypted")  # encrypted only where a key matched
        self.matches = _matcher(*rule)
        self.mac_only = mac_only
        self.hashed: list[bytes] = []

    def run(self, doc: dict, leaf: Callable[[object, bytes, bool], object]) -> dict:
        """`doc` rebuilt with `leaf(value, aad, encrypted)` applied to every leaf. A closure over locals: this
        runs once per value of a file that may hold tens of thousands."""
        memo: dict[str, tuple[bool, bytes]] = {}  # keys repeat (a list of objects): each is looked at once
        matches, positive = self.matches, self.positive

        def node(value: dict | list, aad: bytes, matched: bool) -> dict | list:
            # A leaf is handled where its container is walked: one Python call less per value.
            if isinstance(value, dict):
                out = {}
                for key, item in value.items():
                    known = memo.get(key)
                    if known is None:
                        known = memo[key] = (matches(key), _utf8(key) + b":")
                    hit = matched or known[0]
                    out[key] = node(item, aad + known[1], hit) if isinstance(item, (dict, list)) \
                        else None if item is None else leaf(item, aad + known[1], hit is positive)
                return out
            encrypted = matched is positive  # a list: its indices aren't in the path
            return [node(item, aad, matched) if isinstance(item, (dict, list))
                    else None if item is None else leaf(item, aad, encrypted) for item in value]

        return node(doc, b"", False)  # type: ignore[return-value]  # a dict in, a dict out

    def digest(self) -> str:
        import hashlib

        start = hashlib.sha256(b"sops").digest() if self.mac_only else b""  # mac_only's MAC never equals the other
        return hashlib.sha512(start + b"".join(self.hashed)).hexdigest().upper()


def _walked(walk: _Walk, doc: dict, leaf) -> dict:
    try:
        return walk.run(doc, leaf)
    except RecursionError:
        raise SopsError("the document is nested too deeply to walk (hundreds of levels)") from None


def _path(aad: bytes) -> str:
    return aad[:-1].decode("utf-8", "replace") or "(top)"


# ---- AES-256-GCM leaves -------------------------------------------------------------------------------------------

def _sealer(key: bytes) -> Callable[[bytes, bytes, str], str]:
    """seal(plaintext, aad, type) -> `ENC[…]`, under `key`, a fresh 32-byte IV each (sops' nonce size, not GCM's
    usual 12). IVs come from one urandom read per 1024: a syscall per value would be a fifth of the cost."""
    from binascii import b2a_base64

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    encrypt = AESGCM(key).encrypt

    def ivs():
        while True:
            block = os.urandom(32 << 10)
            yield from (block[i:i + 32] for i in range(0, len(block), 32))

    pool = ivs()

    def seal(plain: bytes, aad: bytes, kind: str) -> str:
        iv = next(pool)
        sealed = encrypt(iv, plain, aad)
        return (f"{_PREFIX}{b2a_base64(sealed[:-16], newline=False).decode()},"
                f"iv:{b2a_base64(iv, newline=False).decode()},"
                f"tag:{b2a_base64(sealed[-16:], newline=False).decode()},type:{kind}]")

    return seal


def _unsealer(key: bytes) -> Callable[[object, bytes], tuple[bytes, str]]:
    """unseal(`ENC[…]`, aad) -> (plaintext, type) under `key`; ValueError names what is wrong (never the value)."""
    import re
    from binascii import Error, a2b_base64

    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    decrypt = AESGCM(key).decrypt
    # sops' own pattern, less greedy: base64 holds no comma
    form = re.compile(r"ENC\[AES256_GCM,data:([^,]+),iv:([^,]+),tag:([^,]+),type:([^,]+)\]").fullmatch

    def unseal(text: object, aad: bytes) -> tuple[bytes, str]:
        if not isinstance(text, str):
            raise ValueError(f"a {type(text).__name__} where an encrypted string belongs")
        found = form(text)
        if found is None:
            raise ValueError("not in sops' ENC[AES256_GCM,…] format")
        data, iv, tag, kind = found.groups()
        try:
            return decrypt(a2b_base64(iv), a2b_base64(data) + a2b_base64(tag), aad), kind
        except (Error, InvalidTag, ValueError):
            raise ValueError("it fails authentication (tampered, or moved from another key)") from None

    return unseal


# ---- metadata ---------------------------------------------------------------------------------------------------

def _other_store(raw: bytes) -> str | None:
    """The sops store a file that isn't JSON looks like, for the one line that refuses it."""
    text = raw[:1 << 20].decode("utf-8", "replace")
    for line in reversed(text.splitlines()):
        if line.startswith("sops:"):
            return "YAML"
        if line.strip() == "[sops]":
            return "INI"
        if line.startswith("sops_") and "=" in line:
            return "dotenv"
    return None


def _load(raw: bytes) -> tuple[dict, dict]:
    """(the document without its metadata, the metadata). SopsError if it is not a SOPS JSON file."""
    from claude_docker import claudejson

    try:
        doc = claudejson.loads(raw)
    except (ValueError, RecursionError) as exc:
        store = _other_store(raw)
        if store:
            raise SopsError(f"this is a SOPS {store} file; only SOPS JSON files are read",
                            "re-encrypt it as JSON (sops decrypt --output-type json, then encrypt that)") from None
        raise SopsError(f"not a SOPS JSON file: {exc}") from None
    if not isinstance(doc, dict):
        raise SopsError(f"not a SOPS JSON file: a JSON {type(doc).__name__}, not an object")
    meta = doc.pop("sops", None)
    if not isinstance(meta, dict):
        raise SopsError("not a SOPS file: it has no sops metadata (plaintext?)")
    return doc, meta


def is_encrypted(doc: object) -> bool:
    """Does this parsed JSON document carry sops metadata? (A plaintext one has no top-level `sops` object.)"""
    return isinstance(doc, dict) and isinstance(doc.get("sops"), dict)


def _age_entries(meta: dict) -> list[dict]:
    """The file's age stanzas, each {"recipient", "enc"}. Shamir key groups are refused."""
    groups = meta.get("key_groups") or [meta]
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise SopsError("not a SOPS file: its key_groups are not a list of objects")
    if len(groups) > 1:
        raise SopsError(f"this SOPS file splits its key over {len(groups)} key groups (Shamir threshold "
                        f"{meta.get('shamir_threshold')}), which isn't supported",
                        "re-encrypt it with plain age recipients")
    entries = groups[0].get("age") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise SopsError("not a SOPS file: its age entries are not a list of objects")
    if not entries:
        other = [k for k in _OTHER_KEYS if groups[0].get(k)]
        raise SopsError(f"this SOPS file has no age recipient{' (only ' + ', '.join(other) + ')' if other else ''}; "
                        "only age keys are supported")
    return entries


def _recipient_list(entries: list[dict]) -> list[str]:
    return [str(e.get("recipient", "")) for e in entries]


def recipients(raw: bytes) -> list[str]:
    """The age recipients a SOPS JSON file is encrypted for, in its order."""
    return _recipient_list(_age_entries(_load(raw)[1]))


def _data_key(entries: list[dict], identities: list | None) -> bytes:
    """The 32-byte data key, unwrapped from any age stanza with any identity (sops tries them all)."""
    import pyrage

    from claude_docker.gitops import agekeys

    found = agekeys.find(_recipient_list(entries)) if identities is None else None
    pool = found.identities if found else identities
    if not pool:
        problems = f" ({'; '.join(found.problems)})" if found and found.problems else ""
        raise SopsError(f"no age key found{problems}",
                        "set SOPS_AGE_KEY_FILE, or put your key in ~/.config/sops/age/keys.txt")
    for entry in entries:
        try:
            key = pyrage.decrypt(str(entry.get("enc", "")).encode(), pool)
        except pyrage.DecryptError:
            continue
        if len(key) == 32:
            return key
    names = _recipient_list(entries)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    tried = f"; tried {len(pool)} key{'s' if len(pool) != 1 else ''}"
    if found:
        tried += f" from {', '.join(found.sources)}" + (f" ({'; '.join(found.problems)})" if found.problems else "")
    raise SopsError(f"none of your age keys opens this SOPS file (it is for {shown}{tried})",
                    "ask someone who can decrypt it to add your recipient (rotate)")


def _mac_aad(lastmodified: object) -> bytes:
    """`lastmodified` as Go re-formats it (RFC 3339, no fraction, zero offset as Z): the MAC's AAD."""
    import re
    from datetime import datetime

    found = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)", str(lastmodified))
    try:
        if not found:
            raise ValueError
        datetime.strptime(found[1], "%Y-%m-%dT%H:%M:%S")  # a real date and time, as Go's parse insists
    except ValueError:
        raise SopsError(f"not a SOPS file: lastmodified {str(lastmodified)[:40]!r} is not an RFC 3339 time") from None
    zone = "Z" if found[2] in ("Z", "+00:00", "-00:00") else found[2]
    return (found[1] + zone).encode()


def _legacy(version: object) -> bool:
    """Did this file's sops read every JSON number as float64 (all releases before 3.13.2)?"""
    try:
        return tuple(int(p) for p in str(version).split(".")[:3]) < (3, 13, 2)
    except ValueError:
        return False


def _negative_zero(raw: bytes) -> dict:
    """The document again (it parsed once already), a plain `-0` read as the float -0.0 that sops before 3.13.2
    read and hashed ("-0")."""
    import json

    doc = json.loads(raw.decode("utf-8", "replace"), parse_int=lambda text: -0.0 if text == "-0" else int(text))
    doc.pop("sops")
    return doc


def _file_rule(meta: dict) -> tuple[tuple[str, str], bool]:
    return _rule(meta, "this SOPS file"), meta.get("mac_only_encrypted") is True


# ---- the API ----------------------------------------------------------------------------------------------------

def decrypt(raw: bytes, identities: list | None = None) -> dict:
    """The plaintext document of a SOPS JSON file (without its `sops` metadata), MAC checked.
    `identities`: pyrage identities; None pools every source sops reads (agekeys.find)."""
    doc, meta = _load(raw)
    rule, mac_only = _file_rule(meta)
    key = _data_key(_age_entries(meta), identities)
    unseal = _unsealer(key)
    walk = _Walk(rule, mac_only)
    legacy = _legacy(meta.get("version"))
    if legacy and b"-0" in raw:
        doc = _negative_zero(raw)

    def leaf(value: object, aad: bytes, encrypted: bool) -> object:
        if encrypted and value != "":
            try:
                plain, kind = unseal(value, aad)
            except (ValueError, LookupError) as exc:
                raise SopsError(f"cannot decrypt the value at {_path(aad)}: {exc}") from None
            try:
                value, hashed = _value(plain, kind)
            except (ValueError, LookupError):
                # Never the parser's message: it quotes the decrypted bytes. (The `type:` tag is outside the
                # AEAD and the MAC: anyone who can edit the file can set it, to make a secret's text an error.)
                raise SopsError(f"the value at {_path(aad)} does not read as its type {kind!r}: refused "
                                "(the file was edited by hand, or tampered with)") from None
            walk.hashed.append(hashed)
        elif encrypted or not mac_only:
            try:
                walk.hashed.append(_plain_bytes(value, legacy)[0])
            except (ValueError, OverflowError) as exc:
                raise SopsError(f"cannot read the value at {_path(aad)}: {exc}") from None
        return value

    plain = _walked(walk, doc, leaf)
    try:
        stored, _kind = unseal(meta.get("mac"), _mac_aad(meta.get("lastmodified")))
    except ValueError:
        raise SopsError("this SOPS file's MAC can't be decrypted: its lastmodified or mac was changed",
                        "restore the file from Git") from None
    if stored.decode("ascii", "replace") != walk.digest():
        raise SopsError("this SOPS file's MAC doesn't match its values: it was edited outside sops "
                        "(values reordered, removed or added)", "restore the file from Git") from None
    return plain


def encrypt(plain: dict, recipients: list[str], rule: dict | None = None) -> bytes:
    """`plain` as a SOPS JSON file for these age recipients (`age1…`, or SSH public keys). `rule`: at most one
    of RULES, optionally with `mac_only_encrypted: true`; None is sops' default (`_unencrypted` suffix)."""
    import pyrage

    from claude_docker.gitops import agekeys

    if not isinstance(plain, dict):
        raise SopsError(f"a SOPS file holds a JSON object, not a {type(plain).__name__}")
    if "sops" in plain:
        raise SopsError("the document already has a top-level 'sops' key: it is encrypted already")
    rule = dict(rule or {})
    unknown = sorted(set(rule) - set(RULES) - {"mac_only_encrypted"})
    if unknown:
        raise SopsError(f"unknown encrypt rule {', '.join(unknown)} (known: {', '.join(RULES)}, mac_only_encrypted)")
    chosen, mac_only = _rule(rule, "the encrypt rule"), bool(rule.get("mac_only_encrypted"))
    wrapped = [agekeys.recipient(r) for r in recipients]
    if not wrapped:
        raise SopsError("no age recipient to encrypt for")
    key = os.urandom(32)
    seal = _sealer(key)
    walk = _Walk(chosen, mac_only)

    def leaf(value: object, aad: bytes, encrypted: bool) -> object:
        try:
            data, kind = _plain_bytes(value, False)
        except (ValueError, OverflowError) as exc:
            raise SopsError(f"cannot encrypt the value at {_path(aad)}: {exc}") from None
        if encrypted or not mac_only:
            walk.hashed.append(data)
        return seal(data, aad, kind) if encrypted and value != "" else value

    doc = _walked(walk, plain, leaf)
    from datetime import datetime, timezone

    lastmodified = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta: dict = {
        "age": [{"enc": pyrage.encrypt(key, [w], armored=True).decode("ascii"), "recipient": r}
                for r, w in zip(recipients, wrapped)],
        "lastmodified": lastmodified,
        "mac": seal(walk.digest().encode(), lastmodified.encode(), "str"),
        chosen[0]: chosen[1],
        "version": VERSION,
    }
    if mac_only:
        meta["mac_only_encrypted"] = True
    doc["sops"] = dict(sorted(meta.items()))
    return _dumps(doc)


def _dumps(doc: dict) -> bytes:
    """JSON indented by tabs with a final newline, as sops writes it (so files don't churn between the two)."""
    from claude_docker import claudejson

    # JSON strings hold no raw newline or tab: each "\n  " starts a level of indentation, each "\t  " one more
    text = claudejson.dumps(doc).replace(b"\n  ", b"\n\t")
    while b"\t  " in text:
        text = text.replace(b"\t  ", b"\t\t")
    return text + b"\n"


def rotate(raw: bytes, identities: list | None, recipients: list[str] | None = None) -> bytes:
    """The file re-encrypted under a new data key, every value with it; its encrypt rule kept. `recipients`
    replace the file's own when given (a developer joins or leaves)."""
    meta = _load(raw)[1]
    current = _recipient_list(_age_entries(meta))
    if recipients is None:
        other = [k for k in _OTHER_KEYS if meta.get(k)]
        if other:
            raise SopsError(f"this SOPS file also has {', '.join(other)} keys, which rotating here would drop",
                            "rotate it with sops, or give the age recipients it should have")
        recipients = current
    (name, value), mac_only = _file_rule(meta)
    rule: dict = {name: value}
    if mac_only:
        rule["mac_only_encrypted"] = True
    return encrypt(decrypt(raw, identities), recipients, rule)
