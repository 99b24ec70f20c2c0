"""A run streams its evidence to the ledger as fetcher tasks end and judges facts read back kind by kind: it stores
and judges exactly what collecting the whole run in memory did (the same records in the same order, the same
findings and verdicts in the same order), on SQLite and PostgreSQL; an unchanged second run still holds everything
by reference; and a ledger that refuses the evidence fails the run instead of reading as a collection error, as one
that refuses the findings part-way does."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

import collector.pipeline as pipeline
import storage.ledger as ledger_module
from collector.pipeline import collect, evidence_order, judge, run_once
from controls.attestations import Attestation, as_evidence
from controls.checks import ALL_CHECKS
from controls.model import Evidence, FactSet
from sandbox.server import Sandbox
from storage.ledger import Ledger, LedgerError
from tests.pipeline.conftest import sandbox_settings

EMR = Path(__file__).resolve().parents[2] / "sandbox" / "estates" / "hospital-emr.yaml"


@pytest.fixture(scope="module")
def emr() -> Sandbox:
    with Sandbox.from_file(EMR) as sb:
        yield sb


def attestation() -> Attestation:
    return Attestation(
        id="ATT-STREAM",
        requirements=(1, 13),
        owner="CISO 山田",
        attested_on=date(2026, 4, 1),
        valid_until=date(2099, 3, 31),
        statement_ja="方針を承認した",
        statement_en="The policy is approved",
        recorded_by="yamada",
        recorded_at=datetime(2026, 4, 1, 9, 0, tzinfo=UTC),
    )


def what(e: Evidence) -> tuple[Any, ...]:
    """A record without its own collection time and request id (which differ between two collections)."""
    return (str(e.kind), e.source, e.scope, e.resource_id, e.api_version, e.sha256, e.redactions)


def owned_rows(url: str, run_id: int) -> int:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            query = text("SELECT COUNT(*) FROM run_evidence WHERE run_id = :r")
            return int(conn.execute(query, {"r": run_id}).scalar_one())
    finally:
        engine.dispose()


def test_a_streamed_run_stores_and_judges_what_the_whole_run_in_memory_did(
    emr, catalog, database_url, monkeypatch
) -> None:
    monkeypatch.setattr(pipeline, "STREAM_BATCH", 37)  # many batches, from many fetcher threads at once
    monkeypatch.setattr(ledger_module, "FINDINGS_BATCH", 23)  # findings stored in many transactions too
    settings = sandbox_settings(emr, database_url)
    with Ledger(database_url) as ledger:
        ledger.record_attestation(attestation())
        outcome = run_once(settings, ledger, catalog)
        run = outcome.run
        stored = ledger.evidence(run.id)
        findings, verdicts = ledger.findings(run.id), ledger.verdicts(run.id)
        errors = ledger.collection_errors(run.id)

        # The whole run collected in memory from the same estate, as runs were collected and stored before.
        in_memory = collect(settings)
        carried = as_evidence(ledger.attestations(), datetime.now(UTC))
        assert [what(e) for e in stored] == [what(e) for e in in_memory.evidence + carried]
        assert stored[-1].kind == "attestation" and errors == in_memory.errors == []
        assert sorted(stored, key=evidence_order) == stored

        # Judged from the whole run in memory, its stored evidence gives exactly the findings and verdicts the
        # streamed run stored, in the same order.
        whole = FactSet(evidence=stored, errors=errors)
        again = judge(whole, catalog, settings.thresholds, ALL_CHECKS, settings.guideline.profile, False)
        assert again.findings == findings == outcome.result.findings
        assert again.verdicts == verdicts == outcome.result.verdicts
        assert any(f.check_id == "attestation" for f in findings)

        # An unchanged second run holds every record by reference: no evidence row of its own.
        second = run_once(settings, ledger, catalog).run
        assert [what(e) for e in ledger.evidence(second.id)] == [what(e) for e in stored]
        assert ledger.findings(second.id) == findings
        assert ledger.verify().ok
    assert owned_rows(database_url, run.id) > 0 and owned_rows(database_url, second.id) == 0


def test_a_ledger_refusing_the_evidence_fails_the_run(emr, catalog, tmp_path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path}/refused.db"
    real = Ledger.evidence_writer

    def refusing(self: Ledger, run_id: int, order: Any = None) -> Any:
        writer = real(self, run_id, order)
        stored = writer.add

        def add(items: Any) -> None:
            if writer.stored > 100:
                raise LedgerError("ledger database error: disk I/O error")
            stored(items)

        writer.add = add  # type: ignore[method-assign]
        return writer

    monkeypatch.setattr(Ledger, "evidence_writer", refusing)
    with Ledger(url) as ledger:
        with pytest.raises(LedgerError, match="disk I/O error"):
            run_once(sandbox_settings(emr, url), ledger, catalog)
        run = ledger.latest_run()
        assert run is not None and run.status == "failed" and "disk I/O error" in (run.error or "")
        assert ledger.collection_errors(run.id) == [] and ledger.findings(run.id) == []
        # What was stored before the refusal is listed with the failed run.
        assert 100 < len(ledger.evidence(run.id)) < 400
        assert ledger.verify().ok


def test_a_ledger_that_refuses_findings_part_way_seals_the_run_failed_with_what_it_stored(
    emr, catalog, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(ledger_module, "FINDINGS_BATCH", 10)
    real = ledger_module.FindingsWriter._store
    batches: list[int] = []

    def refusing(self, items):
        batches.append(len(items))
        if len(batches) == 3:
            raise LedgerError("database is locked")
        return real(self, items)

    monkeypatch.setattr(ledger_module.FindingsWriter, "_store", refusing)
    url = f"sqlite:///{tmp_path}/refused.db"
    with Ledger(url) as ledger:
        with pytest.raises(LedgerError, match="database is locked"):
            run_once(sandbox_settings(emr, url), ledger, catalog)
        run = ledger.latest_run()
        assert run is not None and run.status == "failed" and "database is locked" in (run.error or "")
        stored = ledger.findings(run.id)
        assert stored and len(stored) == sum(batches[:2])  # the batches stored before it, listed with the run
        assert ledger.verdicts(run.id) == [] and ledger.verify().ok
