"""The Layout table (docs/layout.md, linked from the README) names every module of the package,
and only files that exist."""

import re

from helpers import REPO


def _layout_rows():
    text = (REPO / "docs" / "layout.md").read_text(encoding="utf-8")
    table = text.split("# Layout\n", 1)[1].strip().split("\n\n", 1)[0]
    return [line.split("|")[1] for line in table.splitlines()[2:]]


def test_the_layout_table_matches_the_tree():
    named = set()
    for cell in _layout_rows():
        for path in re.findall(r"`([^`]+)`", cell):
            if "*" in path:  # a glob row: every match counts as named, and one must exist
                matches = {p for part in path.split(", ") for p in REPO.glob(part.strip())}
                assert matches, path
                named |= {str(p.relative_to(REPO)) for p in matches}
            else:
                assert (REPO / path).exists(), f"docs/layout.md names {path}, which is not there"
                named.add(path.rstrip("/"))
    modules = {str(p.relative_to(REPO)) for p in (REPO / "dcgan").rglob("*.py")
               if p.name != "__init__.py"}
    assert modules <= named, f"modules missing from docs/layout.md: {modules - named}"
