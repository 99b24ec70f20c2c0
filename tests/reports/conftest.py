"""The `requirements` fixture: one row per No 1–182 (tests/reports/sample_rows.py)."""

from __future__ import annotations

import pytest

from tests.reports.sample_rows import sample_requirements


@pytest.fixture(scope="module")
def requirements() -> list[dict]:
    return sample_requirements()
