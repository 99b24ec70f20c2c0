"""What was blanked out of a document is stored with its evidence record, hashed with the row: `verify` names a
record whose redactions were edited, and rows stored before the column existed still verify."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Engine, text

from controls.model import Redaction
from storage.hashing import row_hash
from storage.ledger import Ledger
from storage.models import RunEvidence

from .helpers import T0, drop_protection, execute, record_run, sample

BLANKED = (Redaction("$.properties.siteConfig.appSettings[0].value", "app-setting-value"),)


def _with_redactions(at=T0):  # type: ignore[no-untyped-def]
    data = sample(at)
    data.evidence[2] = replace(data.evidence[2], redactions=BLANKED)  # the site's config/web
    return data


def _site_row(raw: Engine, run_id: int) -> int:
    with raw.connect() as connection:
        query = text("SELECT id FROM run_evidence WHERE run_id = :r AND kind = 'web_site_config'")
        return int(connection.execute(query, {"r": run_id}).scalar_one())


def test_redactions_are_stored_read_back_and_verified(ledger: Ledger) -> None:
    run_id, _ = record_run(ledger, T0, _with_redactions())
    stored = {ev.kind: ev.redactions for ev in ledger.evidence(run_id)}
    assert stored["web_site_config"] == BLANKED
    assert stored["network_security_group"] == ()
    assert ledger.verify().ok


def test_erasing_the_record_of_a_redaction_is_named(ledger: Ledger, raw: Engine) -> None:
    run_id, _ = record_run(ledger, T0, _with_redactions())
    row = _site_row(raw, run_id)
    drop_protection(raw)
    execute(raw, "UPDATE run_evidence SET redactions = '[]' WHERE id = :i", i=row)
    report = ledger.verify()
    assert not report.ok
    assert (report.run_id, report.table, report.row_id) == (run_id, "run_evidence", row)


def test_setting_redactions_to_null_does_not_pass_for_an_older_row(ledger: Ledger, raw: Engine) -> None:
    run_id, _ = record_run(ledger, T0, _with_redactions())
    row = _site_row(raw, run_id)
    drop_protection(raw)
    execute(raw, "UPDATE run_evidence SET redactions = NULL WHERE id = :i", i=row)
    report = ledger.verify()
    assert not report.ok and (report.table, report.row_id) == ("run_evidence", row)


def test_rows_stored_before_the_column_existed_still_verify(ledger: Ledger, raw: Engine) -> None:
    """A row from before migration 0006 holds NULL and was hashed without the column."""
    run_id = ledger.start_run(T0, agent_version="0.1.0", config_digest="c0ffee", scope={})
    ledger.add_evidence(run_id, sample().evidence)
    drop_protection(raw)
    with raw.begin() as connection:
        rows = connection.execute(text("SELECT * FROM run_evidence WHERE run_id = :r"), {"r": run_id}).mappings().all()
        for row in rows:
            old = {k: v for k, v in row.items() if k != "redactions"}
            old["collected_at"] = ledger.evidence(run_id)[0].collected_at
            digest = row_hash(RunEvidence, {**old, "redactions": None})
            connection.execute(
                text("UPDATE run_evidence SET redactions = NULL, row_hash = :h WHERE id = :i"),
                {"h": digest, "i": row["id"]},
            )
    ledger.complete_run(run_id, T0)
    assert all(ev.redactions == () for ev in ledger.evidence(run_id))
    assert ledger.verify().ok
