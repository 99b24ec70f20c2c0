"""A fault run: a clean run stored first, then the same estate collected with a fault armed, through the real SDK
into the ledger. What a fault test asserts is the same everywhere: the run is sealed, the earlier run's evidence
is untouched and the chain verifies, nothing the fault hid reads `pass`, and the failure shows in the stored
collection errors, the log and the Azure-call metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from agent.metrics import METRICS
from collector.pipeline import run_once
from controls.catalog import Catalog, load_catalog
from controls.model import CollectionError, Finding, Status, Verdict
from sandbox.server import Sandbox
from storage.ledger import Ledger, RunRecord
from tests.estates import DEV, PROD, estate, sql_server, storage_account
from tests.pipeline.conftest import sandbox_settings

# Storage and SQL in both subscriptions, every TLS minimum at 1.3 (1.2 fails the default mhlw6 profile):
# without faults each TLS finding passes.
ESTATE = estate(
    [
        *storage_account("stprod", {"minimumTlsVersion": "TLS1_3", "supportsHttpsTrafficOnly": True}),
        *storage_account("stdev", {"minimumTlsVersion": "TLS1_3", "supportsHttpsTrafficOnly": True}, subscription=DEV),
        *sql_server("sqlprod", {"minimalTlsVersion": "1.3"}),
        *sql_server("sqldev", {"minimalTlsVersion": "1.3"}, subscription=DEV),
    ]
)
SQL_LIST = "*/providers/Microsoft.Sql/servers"
STORAGE_LIST = "*/providers/Microsoft.Storage/storageAccounts"
TLS_CHECKS = ("storage-min-tls-1-2", "sql-min-tls-1-2")
STRONG_CRYPTO = 123  # the requirement both TLS checks evidence


@dataclass
class FaultRun:
    """The faulted run as stored, with what the test needs to judge it."""

    run: RunRecord
    findings: list[Finding]
    verdicts: dict[int, Verdict]
    errors: list[CollectionError]
    seconds: float
    log: str
    calls: dict[str, float]  # shoko_azure_calls added during the run, by status label
    sandbox: Sandbox

    def statuses(self, check_id: str) -> set[Status]:
        return {f.status for f in self.findings if f.check_id == check_id}

    def error_codes(self) -> set[str]:
        return {e.code for e in self.errors}


def _calls_by_status() -> dict[str, float]:
    out: dict[str, float] = {}
    for family in METRICS.registry.collect():
        if family.name == "shoko_azure_calls":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    status = sample.labels["status"]
                    out[status] = out.get(status, 0.0) + sample.value
    return out


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def fault_run(tmp_path, catalog, caplog) -> Callable[..., FaultRun]:
    """fault_run(setup, estate=ESTATE, collection={...}, **sandbox_kw): a clean run, then `setup(sb)` arms the fault
    and a second run is collected; asserts that the ledger verifies and the clean run's evidence is unchanged."""

    def run(
        setup: Callable[[Sandbox], Any],
        estate: dict[str, Any] = ESTATE,
        collection: dict[str, Any] | None = None,
        **sandbox_kw: Any,
    ) -> FaultRun:
        url = f"sqlite:///{tmp_path}/faults.db"
        with Sandbox.from_dict(estate, **sandbox_kw) as sb, Ledger(url) as ledger:
            settings = sandbox_settings(sb, url, collection=collection or {})
            clean = run_once(settings, ledger, catalog).run
            before = sorted(e.sha256 for e in ledger.evidence(clean.id))
            setup(sb)
            calls = _calls_by_status()
            caplog.clear()
            started = time.monotonic()
            with caplog.at_level(logging.INFO, logger="shoko"):
                outcome = run_once(settings, ledger, catalog)
            seconds = time.monotonic() - started
            after_calls = _calls_by_status()
            faulted = ledger.run(outcome.run.id)
            report = ledger.verify()
            assert report.ok and report.runs_checked == 2, report
            assert sorted(e.sha256 for e in ledger.evidence(clean.id)) == before, "the clean run's evidence changed"
            return FaultRun(
                run=faulted,
                findings=ledger.findings(faulted.id),
                verdicts={v.requirement: v for v in ledger.verdicts(faulted.id)},
                errors=ledger.collection_errors(faulted.id),
                seconds=seconds,
                log=caplog.text,
                calls={k: after_calls.get(k, 0.0) - calls.get(k, 0.0) for k in after_calls},
                sandbox=sb,
            )

    return run


def assert_visible_error(result: FaultRun, codes: set[str], check_id: str, *, subscription: str | None = None) -> None:
    """The fault shows everywhere and hides nothing behind a `pass`: the run is sealed completed, the stored
    collection errors carry `codes`, each is logged, the check's findings for the faulted scope are errors,
    and the strong-cryptography verdict is `error`."""
    assert result.run.status == "completed"
    assert codes <= result.error_codes(), result.error_codes()
    for code in codes:
        assert f"code={code}" in result.log, code
    scope = f"/subscriptions/{subscription}".lower() if subscription else None
    judged = [f for f in result.findings if f.check_id == check_id]
    in_scope = [f for f in judged if scope is None or f.resource_id.lower().startswith(scope)]
    assert in_scope and {f.status for f in in_scope} == {Status.ERROR}, [(f.resource_id, f.status) for f in judged]
    assert result.verdicts[STRONG_CRYPTO].status == Status.ERROR


__all__ = ["DEV", "ESTATE", "PROD", "SQL_LIST", "STORAGE_LIST", "TLS_CHECKS", "assert_visible_error"]
