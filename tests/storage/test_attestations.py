"""Attestations in the ledger: append-only records in a chain of their own, documents kept by hash, and
`verify` naming an edited statement, a removed record or a swapped document."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import pytest

from controls.attestations import Attestation, Document
from storage.ledger import LedgerError
from tests.storage.helpers import drop_protection, execute

PDF = b"%PDF-1.4 example certificate"
AT = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def attestation(att_id: str = "ATT-1", *, documents: tuple[Document, ...] = ()) -> Attestation:
    return Attestation(
        id=att_id,
        requirements=(1, 13),
        owner="CISO 山田",
        attested_on=date(2026, 4, 1),
        valid_until=date(2027, 3, 31),
        statement_ja="方針を承認した",
        statement_en="The policy is approved",
        documents=documents,
        recorded_by="yamada",
        recorded_at=AT,
    )


def with_pdf(att_id: str = "ATT-1") -> Attestation:
    doc = Document("cert.pdf", "application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest())
    return attestation(att_id, documents=(doc,))


def test_recorded_attestations_read_back_with_their_documents_and_revocations(ledger):
    ledger.record_attestation(with_pdf(), [(PDF, "application/pdf")])
    ledger.record_attestation(attestation("ATT-2"))
    ledger.revoke_attestation("ATT-2", "auditor", "superseded", AT)
    first, second = ledger.attestations()
    assert first == with_pdf() and first.revoked is None and first.state(date(2026, 5, 1)) == "valid"
    assert first.state(date(2027, 4, 1)) == "expired" and first.state(date(2026, 3, 1)) == "not_yet"
    assert second.revoked is not None and second.revoked.reason == "superseded" and second.state(AT.date()) == "revoked"
    assert ledger.attestation_document(first.documents[0].sha256) == ("application/pdf", PDF)
    report = ledger.verify()
    assert report.ok and report.attestations_checked == 3


def test_an_id_is_recorded_once_and_revoked_once(ledger):
    ledger.record_attestation(attestation())
    with pytest.raises(LedgerError, match="ATT-1 is already recorded"):
        ledger.record_attestation(attestation())
    with pytest.raises(LedgerError, match="no attestation ATT-9"):
        ledger.revoke_attestation("ATT-9", "x", "y", AT)
    ledger.revoke_attestation("ATT-1", "x", "y", AT)
    with pytest.raises(LedgerError, match="already revoked"):
        ledger.revoke_attestation("ATT-1", "x", "y", AT)


def test_records_cannot_be_changed_through_the_database(ledger, raw):
    ledger.record_attestation(attestation())
    with pytest.raises(Exception, match=r"append-only|not allowed|shoko"):
        execute(raw, "UPDATE attestation_records SET content = 'x'")
    with pytest.raises(Exception, match=r"append-only|not allowed|shoko"):
        execute(raw, "DELETE FROM attestation_records")


def test_verify_names_an_edited_statement_a_removed_record_and_a_swapped_document(ledger, raw):
    ledger.record_attestation(with_pdf(), [(PDF, "application/pdf")])
    ledger.record_attestation(attestation("ATT-2"))
    ledger.record_attestation(attestation("ATT-3"))
    drop_protection(raw)

    execute(raw, "UPDATE attestation_documents SET content = :c", c=b"%PDF-1.4 forged")
    report = ledger.verify()
    assert not report.ok and "attestation_documents" in report.problem and "changed" in report.problem

    execute(raw, "UPDATE attestation_documents SET content = :c", c=PDF)
    execute(raw, "DELETE FROM attestation_records WHERE attestation_id = 'ATT-2'")
    report = ledger.verify()
    assert not report.ok and "(ATT-3)" in report.problem and "removed or inserted" in report.problem

    execute(raw, "UPDATE attestation_records SET content = replace(content, 'approved', 'signed') WHERE id = 1")
    report = ledger.verify()
    assert not report.ok and "row 1 (ATT-1)" in report.problem and "edited" in report.problem
