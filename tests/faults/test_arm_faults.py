"""ARM misbehaving: throttling, server errors, resets, slow answers, paging that never ends, broken JSON.

A fault that clears within the retries leaves a complete, passing run; one that does not is a collection error
on exactly the facts it hid, judged `error`, never `pass`."""

from __future__ import annotations

import re

import pytest

from controls.model import FactKind, Status
from tests.faults.conftest import DEV, SQL_LIST, STORAGE_LIST, TLS_CHECKS, assert_visible_error

# Faults that clear within the retries: the run ends as if nothing happened, and the retries are counted.
RECOVERED = {
    "429 storm, short Retry-After": (dict(kind="throttle", count=6, retry_after=0.05), "429"),
    "429 with a Retry-After of 1 s": (dict(kind="throttle", path=SQL_LIST, count=2, retry_after=1), "429"),
    "500 burst": (dict(kind="server_error", count=3), "500"),
    "503 burst with Retry-After": (dict(kind="server_error", status=503, count=3, retry_after=0.1), "503"),
    "connection resets": (dict(kind="reset", path=SQL_LIST, count=2), "error"),
}


@pytest.mark.parametrize("fault, status", RECOVERED.values(), ids=RECOVERED.keys())
def test_a_fault_that_clears_within_the_retries_leaves_a_complete_run(fault_run, fault, status):
    armed = {}
    result = fault_run(lambda sb: armed.setdefault("fault", sb.faults.add(**fault)))
    assert armed["fault"].fired == fault["count"]
    assert result.run.status == "completed" and result.errors == []
    for check_id in TLS_CHECKS:
        assert result.statuses(check_id) == {Status.PASS}
    assert result.calls.get(status, 0) >= fault["count"]  # each refused attempt is in shoko_azure_calls


# Faults that outlast the retries (or the run's deadline): errors on what they hid, nothing else lost.
FEW = {"max_retries": 2}
PERSISTENT = {
    # Few retries keep the test short: azure-core's back-off doubles up to 120 s between attempts.
    "503 without end": (dict(kind="server_error", status=503, path=SQL_LIST), FEW, {"ServiceUnavailable"}, "503"),
    "connection reset without end": (dict(kind="reset", path=SQL_LIST), FEW, {"ServiceResponseError"}, "error"),
    "Retry-After beyond the run deadline": (
        dict(kind="throttle", path=SQL_LIST, retry_after=3600),
        {"run_deadline_seconds": 60},
        {"SubscriptionRequestsThrottled"},
        "429",
    ),
    "answers slower than the call timeout": (
        dict(kind="latency", path=SQL_LIST, delay=3),
        {"call_timeout_seconds": 1, "max_retries": 1},
        {"ServiceResponseTimeoutError"},
        "error",
    ),
}


@pytest.mark.parametrize("fault, collection, codes, status", PERSISTENT.values(), ids=PERSISTENT.keys())
def test_a_fault_outlasting_the_retries_is_an_error_on_what_it_hid(fault_run, fault, collection, codes, status):
    result = fault_run(lambda sb: sb.faults.add(**fault), collection=collection)
    assert_visible_error(result, codes, "sql-min-tls-1-2")
    assert FactKind.SQL_SERVER in {e.kind for e in result.errors}
    assert all(str(e.kind).startswith("sql_") for e in result.errors)  # only the SQL fetcher's facts were lost
    assert result.statuses("storage-min-tls-1-2") == {Status.PASS}  # the rest of the run was collected in full
    assert result.calls.get(status, 0) >= 2  # both subscriptions' refused or failed attempts are counted
    assert result.seconds < 45, "a run must not wait out an hour-long Retry-After or a slow service"


def test_a_next_link_loop_is_stopped_and_reported(fault_run):
    result = fault_run(lambda sb: sb.faults.add("next_link_loop", path=SQL_LIST, subscription=DEV), page_size=1)
    assert_visible_error(result, {"NextLinkLoop"}, "sql-min-tls-1-2", subscription=DEV)
    assert result.error_codes() == {"NextLinkLoop"}


def test_endless_paging_is_ended_by_the_run_deadline(fault_run):
    armed = {}
    result = fault_run(
        lambda sb: armed.setdefault("fault", sb.faults.add("endless_paging", path=SQL_LIST, subscription=DEV)),
        collection={"run_deadline_seconds": 6},
        page_size=1,
    )
    assert armed["fault"].fired > 10  # the pages kept coming until the deadline stopped the listing
    assert_visible_error(result, {"RunDeadlineExceeded"}, "sql-min-tls-1-2", subscription=DEV)
    # Ended either when the deadline passed or, once the pages had spent the subscription's read budget, when the
    # pacer saw that the next read could not be made before it.
    message = next(e.message for e in result.errors if e.code == "RunDeadlineExceeded")
    assert re.search(r"deadline \(6 s\) (passed|comes before ARM's read budget allows)", message), message
    assert result.seconds < 30


def test_malformed_json_is_an_error_not_an_empty_listing(fault_run):
    result = fault_run(lambda sb: sb.faults.add("malformed", path=STORAGE_LIST, subscription=DEV))
    assert_visible_error(result, {"InvalidResponseBody"}, "storage-min-tls-1-2", subscription=DEV)
    assert result.statuses("sql-min-tls-1-2") == {Status.PASS}
