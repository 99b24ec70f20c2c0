"""Guideline profiles on a TLS 1.2 estate: meti2012 passes it, mhlw6 asks for 1.3 unless 1.2 is justified."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from controls.attestations import KIND as ATTESTATION_KIND
from controls.attestations import Attestation, AttestationError, draft
from controls.catalog import load_catalog
from controls.checks.base import Outcome
from controls.engine import evaluate
from controls.model import Evidence, FactKind, FactSet, Status, Thresholds
from controls.profiles import METI2012, MHLW6, apply_profile

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
AT = datetime(2026, 3, 31, tzinfo=UTC)
CHECKS = ("storage-min-tls-1-2", "storage-https-only", "sql-min-tls-1-2", "storage-encryption-at-rest")


def _storage(name: str, tls: str) -> Evidence:
    doc = {
        "id": f"{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/{name}",
        "name": name,
        "properties": {
            "minimumTlsVersion": tls,
            "supportsHttpsTrafficOnly": True,
            "encryption": {"keySource": "Microsoft.Storage", "services": {"blob": {"enabled": True}}},
        },
    }
    return Evidence(FactKind.STORAGE_ACCOUNT, "test", SUB, doc["id"], "2024-01-01", None, AT, doc)


def _sql(tls: str) -> Evidence:
    doc = {"id": f"{SUB}/resourceGroups/rg/providers/Microsoft.Sql/servers/sql1", "name": "sql1",
           "properties": {"minimalTlsVersion": tls}}  # fmt: skip
    return Evidence(FactKind.SQL_SERVER, "test", SUB, doc["id"], "2024-01-01", None, AT, doc)


def _justification(valid_until: date = date(2027, 3, 31), requirements: tuple[int, ...] = (123,)) -> Evidence:
    a = Attestation(
        id="ATT-TLS12",
        requirements=requirements,
        owner="CISO Sato",
        attested_on=date(2026, 1, 1),
        valid_until=valid_until,
        statement_ja="検査装置の連携先が TLS 1.3 に未対応のため TLS 1.2 とする（2027 年度更新予定）",
        statement_en="The lab-device partner cannot speak TLS 1.3 yet; TLS 1.2 until its 2027 upgrade",
        justifies=("tls1.2",),
    )
    return Evidence(ATTESTATION_KIND, "ledger.attestations", "attestations", f"attestation:{a.id}", "x", None, AT,
                    a.content())  # fmt: skip


def _judge(facts: list[Evidence], profile: str):  # type: ignore[no-untyped-def]
    result = evaluate(FactSet(facts), load_catalog(), Thresholds(), profile=profile)
    v = {x.requirement: x for x in result.verdicts}
    mine = {(f.check_id, f.resource_id.rsplit("/", 1)[-1]): f for f in result.findings if f.check_id in CHECKS}
    return v, mine


def test_the_two_profiles_give_different_verdicts_on_a_tls_1_2_estate() -> None:
    estate = [_storage("stemr", "TLS1_2"), _sql("1.2")]
    v_old, f_old = _judge(estate, METI2012)
    v_new, f_new = _judge(estate, MHLW6)
    # 2012: TLS 1.2 meets the bar; No 123 is partial (its checks cover part of it) and nothing fails.
    assert f_old[("storage-min-tls-1-2", "stemr")].status == Status.PASS
    assert f_old[("sql-min-tls-1-2", "sql1")].status == Status.PASS
    assert v_old[123].status == Status.PARTIAL
    # 6.0: the same facts fail, and the reason says TLS 1.3 is expected and how 1.2 can be accepted.
    storage = f_new[("storage-min-tls-1-2", "stemr")]
    assert storage.status == Status.FAIL
    assert "minimumTlsVersion is TLS1_2" in storage.reason_en and "expects TLS 1.3" in storage.reason_en
    assert "justifies: tls1.2" in storage.reason_en and "TLS 1.3" in storage.reason_ja
    assert f_new[("sql-min-tls-1-2", "sql1")].status == Status.FAIL
    assert f_new[("storage-https-only", "stemr")].status == Status.PASS  # no higher bar involved
    assert v_new[123].status == Status.FAIL and v_new[123].findings_fail == 2


def test_tls_1_3_meets_both_profiles() -> None:
    estate = [_storage("stemr", "TLS1_3")]
    for profile in (METI2012, MHLW6):
        _, findings = _judge(estate, profile)
        assert findings[("storage-min-tls-1-2", "stemr")].status == Status.PASS
        assert not findings[("storage-min-tls-1-2", "stemr")].short_of


def test_a_recorded_justification_accepts_tls_1_2_under_mhlw6_only_while_valid() -> None:
    estate = [_storage("stemr", "TLS1_2"), _sql("1.2")]
    v, findings = _judge([*estate, _justification()], MHLW6)
    storage = findings[("storage-min-tls-1-2", "stemr")]
    assert storage.status == Status.PASS and "justified by attestation ATT-TLS12" in storage.reason_en
    # A justification accepts findings; it does not attest the requirement: No 123 stays partial, not pass.
    assert v[123].status == Status.PARTIAL and "attestation" not in v[123].check_ids
    # Lapsed, it no longer accepts anything.
    _, findings = _judge([*estate, _justification(valid_until=date(2026, 3, 1))], MHLW6)
    assert findings[("storage-min-tls-1-2", "stemr")].status == Status.FAIL
    # It applies only to the requirements it names.
    _, findings = _judge([*estate, _justification(requirements=(112,))], MHLW6)
    assert findings[("storage-min-tls-1-2", "stemr")].status == Status.FAIL


def test_failures_and_errors_are_never_softened_and_unknown_profiles_refused() -> None:
    _, findings = _judge([_storage("stold", "TLS1_0"), _justification()], MHLW6)
    assert findings[("storage-min-tls-1-2", "stold")].status == Status.FAIL
    with pytest.raises(ValueError, match="unknown guideline profile"):
        apply_profile([], "iso27001", [])
    with pytest.raises(ValueError, match="only a passing outcome"):
        Outcome(Status.FAIL, "r", "ja", "en", short_of=("tls1.3",))
    with pytest.raises(ValueError, match="unknown bar"):
        Outcome(Status.PASS, "r", "ja", "en", short_of=("mfa",))


def test_justifies_is_validated_and_kept_out_of_older_records() -> None:
    entry = {"requirements": "123", "owner": "CISO", "attested_on": "2026-01-01", "valid_until": "2027-01-01",
             "statement_ja": "理由", "statement_en": "why", "justifies": "tls1.2"}  # fmt: skip
    from pathlib import Path

    assert draft(entry, "sheet", Path(".")).justifies == ("tls1.2",)
    with pytest.raises(AttestationError, match=r"justifies: 'tls1\.0' is not one of tls1\.2"):
        draft({**entry, "justifies": ["tls1.0"]}, "sheet", Path("."))
    plain = Attestation("A", (1,), "o", date(2026, 1, 1), date(2027, 1, 1), "s", "s")
    assert "justifies" not in plain.content()  # records made before the field keep their content and hash
    assert Attestation.from_content(plain.content()).justifies == ()
