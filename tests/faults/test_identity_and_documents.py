"""Sign-in failing, tokens expiring, access denied in part, and documents a check cannot fully read."""

from __future__ import annotations

from controls.checks import ALL_CHECKS
from controls.model import Status
from tests.estates import DEV, PROD, estate, sql_server, storage_account
from tests.faults.conftest import ESTATE, SQL_LIST, TLS_CHECKS, FaultRun, assert_visible_error

TOKEN_PATH = "*/oauth2/v2.0/token"


def _passes_on_lost_facts(result: FaultRun) -> list[tuple[str, str]]:
    """Passing findings of checks that read a fact kind this run failed to collect anywhere (tenant-wide losses)."""
    lost = {str(e.kind) for e in result.errors}
    blind = {c.id for c in ALL_CHECKS if lost & {str(k) for k in c.reads}}
    return [(f.check_id, f.resource_id) for f in result.findings if f.check_id in blind and f.status == Status.PASS]


def test_token_endpoint_down_makes_every_check_an_error_and_nothing_a_pass(fault_run):
    result = fault_run(lambda sb: sb.faults.add("server_error", status=503, path=TOKEN_PATH))
    assert result.run.status == "completed"
    assert result.errors and result.error_codes() <= {"ClientAuthenticationError"}, result.error_codes()
    assert "code=ClientAuthenticationError" in result.log
    assert not [f for f in result.findings if f.status == Status.PASS]
    assert not [n for n, v in result.verdicts.items() if v.status == Status.PASS]
    assert result.verdicts[123].status == Status.ERROR


def test_a_token_expiring_mid_run_is_renewed_and_the_run_is_complete(fault_run):
    # Tokens live 2 s; the listings are slowed so that the run outlives several of them.
    result = fault_run(lambda sb: sb.faults.add("latency", path="*/providers/*", delay=0.3), token_lifetime=2)
    tokens = [r for r in result.sandbox.requests if r.api == "identity" and r.path.endswith("/token")]
    assert result.run.status == "completed" and result.errors == []
    assert len(tokens) >= 3
    assert result.seconds > 2
    for check_id in TLS_CHECKS:
        assert result.statuses(check_id) == {Status.PASS}


def test_403_on_one_subscription(fault_run):
    result = fault_run(lambda sb: sb.faults.add("forbidden", subscription=DEV))
    assert_visible_error(result, {"AuthorizationFailed"}, "storage-min-tls-1-2", subscription=DEV)
    assert {e.scope for e in result.errors} == {f"/subscriptions/{DEV}"}
    prod = [f for f in result.findings if f.check_id in TLS_CHECKS and PROD in f.resource_id]
    assert prod and {f.status for f in prod} == {Status.PASS}


def test_403_on_one_resource_type(fault_run):
    result = fault_run(lambda sb: sb.faults.add("forbidden", resource_type="Microsoft.Sql/servers"))
    assert_visible_error(result, {"AuthorizationFailed"}, "sql-min-tls-1-2")
    assert result.statuses("storage-min-tls-1-2") == {Status.PASS}


def test_403_on_graph_only(fault_run):
    result = fault_run(lambda sb: sb.faults.add("forbidden", path="/v1.0/*"))
    assert result.run.status == "completed"
    assert result.error_codes() == {"Authorization_RequestDenied"}
    assert {e.scope for e in result.errors} == {"tenant"}
    assert "code=Authorization_RequestDenied" in result.log
    assert _passes_on_lost_facts(result) == []
    for check_id in TLS_CHECKS:  # ARM was read in full
        assert result.statuses(check_id) == {Status.PASS}


def test_graph_throttled_without_end_is_an_error_not_a_pass(fault_run):
    result = fault_run(lambda sb: sb.faults.add("throttle", path="/v1.0/*", retry_after=200))
    assert result.run.status == "completed" and result.seconds < 60  # kiota does not wait a Retry-After over 180 s
    assert result.errors, "a throttled Graph is a collection error"
    assert {e.scope for e in result.errors} == {"tenant"}
    assert _passes_on_lost_facts(result) == []
    assert result.calls.get("429", 0) >= 1


def _without(doc: dict, key: str) -> dict:
    return {k: v for k, v in doc.items() if k != key}


ODD_DOCUMENTS = estate(
    [
        # A future TLS version in each spelling: newer than the minimum, so it passes, and says so.
        *storage_account("stfuture", {"minimumTlsVersion": "TLS1_4"}),
        *sql_server("sqlfuture", {"minimalTlsVersion": "1.4"}),
        # A value no rule knows: an error, never a guess.
        *storage_account("stunknown", {"minimumTlsVersion": "TLS_STRICT"}, subscription=DEV),
        # The field a check reads is missing: the service default (any TLS version) applies, so it fails.
        *storage_account("stmissing", {}, subscription=DEV),
        # No `properties` at all (the server; its master database as Azure creates it).
        _without(sql_server("sqlbare", {}, subscription=DEV)[0], "properties"),
        sql_server("sqlbare", {}, subscription=DEV)[1],
    ]
)


def test_documents_missing_fields_or_with_unknown_values_are_never_a_silent_pass(fault_run):
    result = fault_run(lambda sb: None, estate=ODD_DOCUMENTS)
    assert result.run.status == "completed" and result.errors == []
    by_resource = {f.resource_id.rsplit("/", 1)[-1]: f for f in result.findings if f.check_id in TLS_CHECKS}
    assert by_resource["stfuture"].status == Status.PASS and "TLS1_4" in by_resource["stfuture"].reason_en
    assert by_resource["sqlfuture"].status == Status.PASS and "1.4" in by_resource["sqlfuture"].reason_en
    assert by_resource["stunknown"].status == Status.ERROR and "unrecognised" in by_resource["stunknown"].reason_en
    assert by_resource["stmissing"].status == Status.FAIL
    assert by_resource["sqlbare"].status == Status.FAIL
    assert result.verdicts[123].status in (Status.FAIL, Status.ERROR)


def test_the_fault_free_estate_is_the_baseline(fault_run):
    """The estate the faults are armed on passes every TLS finding when nothing is armed."""
    result = fault_run(lambda sb: None, estate=ESTATE)
    assert result.errors == []
    for check_id in TLS_CHECKS:
        assert result.statuses(check_id) == {Status.PASS}
    assert SQL_LIST  # the listing path the ARM fault tests aim at


def test_endless_graph_paging_is_ended_by_the_run_deadline(fault_run):
    armed = {}
    result = fault_run(
        lambda sb: armed.setdefault("fault", sb.faults.add("endless_paging", path="/v1.0/users")),
        collection={"run_deadline_seconds": 6},
        page_size=1,
    )
    assert armed["fault"].fired > 10  # the pages kept coming until the deadline stopped the listing
    assert result.run.status == "completed" and result.seconds < 30
    deadline = [e for e in result.errors if e.code == "RunDeadlineExceeded"]
    assert deadline and {e.scope for e in deadline} == {"tenant"}
    assert "deadline (6 s) passed" in deadline[0].message and "/v1.0/users" in deadline[0].message
    assert "code=RunDeadlineExceeded" in result.log
    assert _passes_on_lost_facts(result) == []
    for check_id in TLS_CHECKS:  # ARM was read before the deadline
        assert result.statuses(check_id) == {Status.PASS}


def test_a_graph_retry_after_beyond_the_run_deadline_is_not_waited(fault_run):
    # 100 s is under kiota's own 180 s limit: only the run's deadline keeps it from being waited out.
    result = fault_run(
        lambda sb: sb.faults.add("throttle", path="/v1.0/*", retry_after=100), collection={"run_deadline_seconds": 20}
    )
    assert result.run.status == "completed" and result.seconds < 15
    assert result.errors and {e.scope for e in result.errors} == {"tenant"}
    assert {e.status_code for e in result.errors} <= {429, None}
    assert _passes_on_lost_facts(result) == []
    assert result.calls.get("429", 0) >= 1
