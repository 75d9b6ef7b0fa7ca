"""The README's links stay inside the repository, and docs/architecture.md names files that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_links_the_architecture_page_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in readme
    assert "(docs/architecture.md)" in readme and (ROOT / "docs" / "architecture.md").is_file()


def test_architecture_names_only_files_that_exist() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = {m for m in re.findall(r"`([a-z_]+/[\w/.-]*)`", text) if not m.startswith("/")}
    assert len(named) > 20
    missing = sorted(p for p in named if not (ROOT / p).exists() and not (ROOT / "static" / p).exists())
    assert not missing, missing
