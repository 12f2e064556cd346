"""`.sops.yaml` creation rules, found and matched as sops does (config/config.go).

The file: SOPS_CONFIG if set (no search), else `.sops.yaml` in the working directory or the nearest of its
parents (100 levels; `.sops.yml` is not read). Its `creation_rules` are tried in order, the first match wins:
a rule without `path_regex` matches every file, otherwise the regex is searched (unanchored) in the file's
absolute path with the config's directory stripped from its front. No match is an error. Unknown keys are
ignored (sops' YAML decoding isn't strict). `age:` is a comma-separated string or a list.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from claude_docker.gitops.sops import RULES, SopsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

NAME = ".sops.yaml"
MAX_LEVELS = 100
MAX_SIZE = 1 << 20


class Rule(NamedTuple):
    config: Path  # the .sops.yaml it came from
    number: int  # 1-based, as people count rules
    recipients: list[str]  # its age recipients (empty: only other key types, or Shamir key groups)
    encryption: dict  # its encrypt rule for sops.encrypt: one of sops.RULES and/or mac_only_encrypted, or {}
    problem: str  # why its recipients can't be used ("" if they can)


def find_config(start: Path, environ: Mapping[str, str] | None = None) -> Path | None:
    """SOPS_CONFIG, else the nearest `.sops.yaml` from `start` upward; None if there is none."""
    env = os.environ if environ is None else environ
    if env.get("SOPS_CONFIG"):
        return Path(env["SOPS_CONFIG"])
    here = Path(os.path.abspath(start))
    for _ in range(MAX_LEVELS):
        if (here / NAME).is_file():
            return here / NAME
        if here.parent == here:
            break
        here = here.parent
    return None


def load(config: Path) -> list[dict]:
    """The creation rules of a `.sops.yaml`, each a mapping. SopsError, naming the file, if it can't be used."""
    import yaml

    from claude_docker.errors import describe
    from claude_docker.fsio import read_capped

    try:
        doc = yaml.safe_load(read_capped(config, MAX_SIZE, follow=True)) or {}
    except OSError as exc:
        raise SopsError(f"cannot read the sops config: {describe(exc, config)}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where else ""
        raise SopsError(f"{config} is not valid YAML{at}") from None
    rules = doc.get("creation_rules") if isinstance(doc, dict) else None
    if rules is None:
        rules = []
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise SopsError(f"{config}: creation_rules must be a list of mappings")
    return rules


def _age(value: object, where: str) -> list[str]:
    from claude_docker.gitops.agekeys import split_recipients

    if value is None:
        return []
    if isinstance(value, str):
        return split_recipients(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise SopsError(f"{where}: age must be a string or a list of strings")


def _rule(raw: dict, config: Path, index: int) -> Rule:
    where = f"rule {index} of {config}"
    chosen = {name: raw[name] for name in RULES if raw.get(name)}
    if len(chosen) > 1:
        raise SopsError(f"{where} sets {' and '.join(chosen)}: sops allows only one of them")
    if any(not isinstance(v, str) for v in chosen.values()):
        raise SopsError(f"{where}: {', '.join(chosen)} must be a string")
    if raw.get("mac_only_encrypted") is True:
        chosen["mac_only_encrypted"] = True
    groups = raw.get("key_groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise SopsError(f"{where}: key_groups must be a list of mappings")
    if len(groups) > 1:
        return Rule(config, index, [], chosen, f"{where} splits the key over {len(groups)} key groups (Shamir), "
                                                "which isn't supported: give age recipients")
    keys = groups[0] if groups else raw
    recipients = _age(keys.get("age"), where)
    problem = "" if recipients else f"{where} has no age recipients (other key types aren't supported)"
    return Rule(config, index, recipients, chosen, problem)


def rule_for(file: Path, *, start: Path | None = None, environ: Mapping[str, str] | None = None,
             missing_ok: bool = False) -> Rule | None:
    """The creation rule for `file` from the `.sops.yaml` found from `start` (default: the working directory).
    None if there is no config (or it has no creation rules); if none of its rules matches, SopsError as
    sops says, or None with `missing_ok` (recipients given another way: sops PR #2150's reading)."""
    import re

    config = find_config(Path.cwd() if start is None else start, environ)
    if config is None:
        return None
    rules = load(config)
    if not rules:
        return None
    base = os.path.abspath(config.parent) + os.sep
    path = os.path.abspath(file)
    relative = path[len(base):] if path.startswith(base) else path
    for index, raw in enumerate(rules, 1):
        pattern = raw.get("path_regex")
        if pattern:
            try:
                if not re.search(str(pattern), relative):
                    continue
            except re.error as exc:
                raise SopsError(f"rule {index} of {config}: path_regex is not a regular expression: {exc}") from None
        return _rule(raw, config, index)
    if missing_ok:
        return None
    raise SopsError(f"no creation rule in {config} matches {relative}")
