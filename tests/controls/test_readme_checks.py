"""The README's table of checks lists every registered check, with the requirement numbers the catalog maps
it to, so the documentation cannot drift from the code (scripts/checks-table rewrites it)."""

from __future__ import annotations

import re
from pathlib import Path

from collector.render import check_mapping
from controls.catalog import load_catalog
from controls.checks import ALL_CHECKS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_check_with_its_requirement_numbers():
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|[^|]*\| `([a-z0-9-]+)` \| ([^|]*) \|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    catalog = load_catalog()

    def numbers(check_id: str) -> str:
        mapped = check_mapping(catalog, check_id)
        return ", ".join(f"{m['no']}" + (" s" if m["coverage"] == "supporting" else "") for m in mapped)

    expected = {c.id: numbers(c.id) for c in ALL_CHECKS}
    assert rows == expected
    assert f"Checks today, {len(ALL_CHECKS)} of them" in README.read_text(encoding="utf-8")
