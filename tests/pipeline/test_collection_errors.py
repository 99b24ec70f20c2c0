"""Missing permissions, throttling and broken responses: visible as errors, never as passes."""

from __future__ import annotations

from controls.model import FactKind, Status
from tests.estates import DEV, PROD, estate, sql_server, storage_account

COMPLIANT = estate(
    [
        *storage_account("stprod", {"minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": True}),
        *storage_account("stdev", {"minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": True}, subscription=DEV),
        *sql_server("sqlprod", {"minimalTlsVersion": "1.2"}),
        *sql_server("sqldev", {"minimalTlsVersion": "1.2"}, subscription=DEV),
    ]
)


def test_compliant_estate_passes_its_tls_checks(judge):
    judged = judge(COMPLIANT)
    for check_id in ("storage-min-tls-1-2", "sql-min-tls-1-2"):
        assert {f.status for f in judged.findings(check_id).values()} == {Status.PASS}
    assert judged.facts.errors == []


def test_forbidden_subscription_gives_error_findings_and_error_verdicts(judge):
    judged = judge(COMPLIANT, setup=lambda sb: sb.faults.add("forbidden", subscription=DEV))
    storage_findings = judged.findings("storage-min-tls-1-2")
    assert storage_findings[f"/subscriptions/{PROD}/resourcegroups/rg-test/providers/microsoft.storage/"
                            "storageaccounts/stprod"].status == Status.PASS  # fmt: skip
    dev_error = storage_findings[f"/subscriptions/{DEV}"]
    assert dev_error.status == Status.ERROR and "AuthorizationFailed" in dev_error.reason_en
    assert judged.verdict(123) == Status.ERROR
    denied = [e for e in judged.facts.errors if e.scope == f"/subscriptions/{DEV}"]
    assert {e.code for e in denied} == {"AuthorizationFailed"} and {e.status_code for e in denied} == {403}
    assert {e.kind for e in denied} >= {FactKind.STORAGE_ACCOUNT, FactKind.SQL_SERVER, FactKind.NSG}
    # The other subscription was collected in full.
    assert not [e for e in judged.facts.errors if e.scope == f"/subscriptions/{PROD}"]


def test_forbidden_resource_type_affects_only_the_checks_reading_it(judge):
    judged = judge(
        COMPLIANT,
        setup=lambda sb: sb.faults.add("forbidden", subscription=PROD, resource_type="Microsoft.Sql/servers"),
    )
    assert {f.status for f in judged.findings("storage-min-tls-1-2").values()} == {Status.PASS}
    sql_findings = judged.findings("sql-min-tls-1-2")
    assert sql_findings[f"/subscriptions/{PROD}"].status == Status.ERROR
    assert [e.kind for e in judged.facts.errors if e.code == "AuthorizationFailed"].count(FactKind.SQL_SERVER) == 1


def test_throttling_storm_is_retried_to_completion(judge):
    seen = {}

    def throttle(sb):
        seen["fault"] = sb.faults.add("throttle", count=6, retry_after=0.05)
        seen["sb"] = sb

    judged = judge(COMPLIANT, setup=throttle)
    assert seen["fault"].fired == 6
    assert judged.facts.errors == []
    assert {f.status for f in judged.findings("storage-min-tls-1-2").values()} == {Status.PASS}
    statuses = [r.status for r in seen["sb"].requests]
    assert statuses.count(429) == 6 and statuses[-1] == 200


def test_throttling_beyond_the_retry_budget_is_an_error_not_a_pass(judge):
    judged = judge(
        COMPLIANT,
        setup=lambda sb: sb.faults.add("throttle", path="*/providers/Microsoft.Sql/servers", retry_after=0.01),
    )
    throttled = [e for e in judged.facts.errors if e.kind == FactKind.SQL_SERVER]
    assert throttled and all(e.status_code == 429 for e in throttled)
    assert {f.status for f in judged.findings("sql-min-tls-1-2").values()} == {Status.ERROR}


def test_malformed_json_and_looping_next_link_are_collection_errors(judge):
    def faults(sb):
        sb.faults.add("malformed", path="*/providers/Microsoft.Storage/storageAccounts", subscription=PROD)
        sb.faults.add("next_link_loop", path="*/providers/Microsoft.Sql/servers", subscription=DEV)

    judged = judge(COMPLIANT, setup=faults, page_size=1)
    by_kind = {(e.kind, e.scope): e for e in judged.facts.errors}
    assert by_kind[(FactKind.STORAGE_ACCOUNT, f"/subscriptions/{PROD}")].code == "InvalidResponseBody"
    assert by_kind[(FactKind.SQL_SERVER, f"/subscriptions/{DEV}")].code == "NextLinkLoop"
    assert judged.verdict(123) == Status.ERROR


def test_nothing_to_evaluate_is_an_error_not_a_pass(judge):
    judged = judge(estate([]))
    assert judged.facts.errors == []
    for number in (86, 118, 123, 145):
        assert judged.verdict(number) == Status.ERROR, number
    # The tenant is always there to judge too: admins' MFA (security defaults on) is the part of No 148 seen.
    assert judged.verdict(148) == Status.PARTIAL
    # Subscriptions are always there to judge: one that sends its activity log nowhere fails.
    for number in (96, 128, 117, 147):
        assert judged.verdict(number) == Status.FAIL, number
    # A manual requirement with a supporting check stays manual and says its checks saw nothing.
    assert judged.verdict(97) == Status.MANUAL


def test_unlistable_subscriptions_make_every_subscription_check_an_error_naming_the_cause(judge):
    judged = judge(COMPLIANT, setup=lambda sb: sb.faults.add("forbidden", path="/subscriptions"))
    storage_findings = judged.findings("storage-min-tls-1-2")
    assert list(storage_findings) == ["tenant"]
    assert storage_findings["tenant"].status == Status.ERROR
    assert "AuthorizationFailed" in storage_findings["tenant"].reason_en
    for number in (86, 87, 96, 118, 123, 128, 145, 148):
        assert judged.verdict(number) == Status.ERROR, number
    supported = judged.result.verdict(97)
    assert supported.status == Status.MANUAL and "could not be evaluated" in supported.reason_en
