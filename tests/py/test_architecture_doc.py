"""docs/ARCHITECTURE.md's layout names every module of the package, in its own folder's block: a newcomer
reading it meets no file it does not mention."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pyhelpers" / "claude_docker"


def test_the_layout_names_every_module():
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    layout = doc[doc.index("## Layout"):doc.index("## One `claude` run")]
    named = set(re.findall(r"([A-Za-z_]+\.py)\b", layout))
    missing = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                     if p.name not in ("__init__.py", "__main__.py") and "__pycache__" not in p.parts
                     and p.parent.name != "commands" and p.name not in named)
    assert not missing, f"docs/ARCHITECTURE.md's layout does not name: {missing}"
