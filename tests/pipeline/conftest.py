"""End-to-end helpers: a sandbox serving an estate, the real SDK collecting it, the engine judging it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from collector.pipeline import collect
from collector.settings import Settings, load_settings, sandbox_overrides
from controls.catalog import Catalog, load_catalog
from controls.engine import EvaluationResult, evaluate
from controls.model import FactSet, Status
from sandbox.server import Sandbox


def sandbox_settings(sb: Sandbox, database_url: str = "sqlite://", **sections: dict[str, Any]) -> Settings:
    overrides: dict[str, dict[str, Any]] = {"database": {"url": database_url}, **sandbox_overrides(sb.info.to_dict())}
    for name, values in sections.items():
        overrides[name] = {**overrides.get(name, {}), **values}
    return load_settings(None, environ={}, overrides=overrides)


@dataclass
class Judged:
    facts: FactSet
    result: EvaluationResult

    def verdict(self, number: int) -> Status:
        v = self.result.verdict(number)
        assert v is not None, f"no verdict for No {number}"
        return v.status

    def findings(self, check_id: str) -> dict[str, Any]:
        """Findings of one check by resource id (lower-cased)."""
        return {f.resource_id.lower(): f for f in self.result.findings if f.check_id == check_id}


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def judge(catalog: Catalog) -> Callable[..., Judged]:
    """judge(estate_dict, thresholds={...}, setup=callable(sb)) → collected through the real SDK and evaluated."""

    def run(estate: dict[str, Any], *, thresholds: dict[str, Any] | None = None, setup=None, **sb_kw: Any) -> Judged:
        with Sandbox.from_dict(estate, **sb_kw) as sb:
            if setup:
                setup(sb)
            settings = sandbox_settings(sb, thresholds=thresholds or {})
            facts = collect(settings)
        return Judged(facts, evaluate(facts, catalog, settings.thresholds))

    return run


@contextmanager
def serving(estate: dict[str, Any], **kw: Any) -> Iterator[Sandbox]:
    with Sandbox.from_dict(estate, **kw) as sb:
        yield sb
