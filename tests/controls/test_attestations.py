"""Attestations as the engine reads them: a valid one makes a manual requirement `attested` and a partial
one whose checks pass `pass`; a lapsed one `expired`; a failing check still decides. Import sheets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from controls.attestations import Attestation, AttestationError, as_evidence, read_import_file
from controls.checks.base import passed
from controls.engine import ATTESTATION_CHECK
from controls.model import FactSet, Status
from tests.controls.test_engine import Mode, Req, evaluate_mapped, fake

ON = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"


def att(att_id: str, numbers: tuple[int, ...], until: date, since: date = date(2026, 4, 1)) -> Attestation:
    return Attestation(att_id, numbers, "CISO", since, until, "方針あり", "policy in place")


def test_valid_attestation_turns_manual_attested_and_partial_pass_and_lapsed_expired():
    valid = att("A-1", (1, 2, 3), date(2027, 3, 31))
    lapsed = att("A-2", (4,), date(2026, 5, 31))
    facts = FactSet(as_evidence([valid, lapsed], ON), [])
    checks = [fake("ok", (2,), [passed(SUB, "ok", "ok")]), fake("bad", (3,), [passed(SUB, "ok", "ok")])]
    catalog = [
        Req(1, Mode.MANUAL),
        Req(2, coverage="partial", coverage_ja="確認: x 要証明: y", coverage_en="Checked: x To attest: y"),
        Req(3),  # full coverage: an attestation adds nothing to a pass
        Req(4, Mode.MANUAL),
        Req(5, Mode.MANUAL),
    ]
    result = evaluate_mapped(facts, catalog, checks)
    v = {x.requirement: x for x in result.verdicts}
    assert v[1].status == Status.ATTESTED and "A-1" in v[1].reason_en and "policy in place" in v[1].reason_en
    assert v[2].status == Status.PASS and "covered by attestation A-1" in v[2].reason_en
    assert ATTESTATION_CHECK in v[2].check_ids
    assert v[3].status == Status.PASS and ATTESTATION_CHECK not in v[3].check_ids
    assert v[4].status == Status.EXPIRED and "expired 2026-05-31" in v[4].reason_en
    assert v[5].status == Status.MANUAL
    by_id = {f.resource_id: f for f in result.findings if f.check_id == ATTESTATION_CHECK}
    assert by_id["attestation:A-1"].status == Status.PASS and by_id["attestation:A-1"].requirements == (1, 2, 3)
    lapsed_finding = by_id["attestation:A-2"]
    assert lapsed_finding.status == Status.FAIL and "expired on 2026-05-31" in lapsed_finding.reason_en
    assert by_id["attestation:A-1"].evidence == (facts.of("attestation")[0].sha256,)


def test_a_failing_check_outweighs_an_attestation():
    facts = FactSet(as_evidence([att("A-1", (7, 8), date(2027, 3, 31))], ON), [])
    from controls.checks.base import failed

    checks = [fake("broken", (7, 8), [failed(SUB, "bad", "bad")])]
    catalog = [Req(7, Mode.MANUAL), Req(8, coverage="partial", coverage_ja="確認: 要証明:", coverage_en="x")]
    v = {x.requirement: x.status for x in evaluate_mapped(facts, catalog, checks).verdicts}
    assert v == {7: Status.FAIL, 8: Status.FAIL}


def test_revoked_and_future_attestations_are_not_judged_with():
    revoked = replace(att("A-1", (1,), date(2027, 3, 31)))
    from controls.attestations import Revocation

    revoked = revoked.with_revocation(Revocation("x", ON, "wrong"))
    future = att("A-2", (1,), date(2027, 3, 31), since=date(2026, 7, 1))
    assert as_evidence([revoked, future], ON) == []


def test_import_sheets_yaml_and_csv(tmp_path: Path):
    (tmp_path / "cert.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "sheet.yaml").write_text(
        "attestations:\n"
        "- id: ATT-1\n  requirements: [1, '96-97']\n  owner: CISO\n  attested_on: 2026-04-01\n"
        "  valid_until: 2027-03-31\n  statement_ja: あり\n  statement_en: yes\n  documents: [cert.pdf]\n",
        encoding="utf-8",
    )
    (d,) = read_import_file(tmp_path / "sheet.yaml")
    assert d.requirements == (1, 96, 97) and d.document_paths == (tmp_path / "cert.pdf",)
    (tmp_path / "sheet.csv").write_text(
        "id,requirements,owner,attested_on,valid_until,statement_ja,statement_en,documents\n"
        "ATT-2,13;14,委員会,2026-04-01,2027-03-31,承認済,approved,\n",
        encoding="utf-8",
    )
    (d,) = read_import_file(tmp_path / "sheet.csv")
    assert d.id == "ATT-2" and d.requirements == (13, 14) and d.owner == "委員会" and d.document_paths == ()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("ATT-1,183,o,2026-04-01,2027-03-31,a,b,", "No 183 is not in the catalog"),
        ("ATT-1,1,o,2026-04-01,2025-03-31,a,b,", "valid_until 2025-03-31 is before attested_on"),
        ("ATT-1,1,o,someday,2027-03-31,a,b,", "attested_on: 'someday' is not a date"),
        ("ATT-1,1,,2026-04-01,2027-03-31,a,b,", "owner is missing"),
        ("bad id,1,o,2026-04-01,2027-03-31,a,b,", "id 'bad id' must be"),
    ],
)
def test_import_errors_are_one_line_naming_the_row(tmp_path: Path, row: str, message: str):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("id,requirements,owner,attested_on,valid_until,statement_ja,statement_en,documents\n" + row + "\n")
    with pytest.raises(AttestationError, match=message) as info:
        read_import_file(sheet)
    assert "\n" not in str(info.value) and "row 2" in str(info.value)
