"""`detect`: every drift kind, what is not drift, and "could not see" never read as "gone"."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.drift import detect
from controls.model import DriftEvent, DriftKind, Finding, Status, Verdict

SUB = "/subscriptions/11111111-2222-4333-8444-555555555555"
NSG = f"{SUB}/resourceGroups/rg-karte/providers/Microsoft.Network/networkSecurityGroups/nsg-web"
NSG2 = f"{SUB}/resourceGroups/rg-karte/providers/Microsoft.Network/networkSecurityGroups/nsg-db"
SITE = f"{SUB}/resourceGroups/rg-karte/providers/Microsoft.Web/sites/karte-app"
NSG_CHECK = "nsg-no-internet-management-ports"
TLS_CHECK = "app-service-min-tls-1-2"

REASONS = {
    Status.PASS: ("管理ポートは開いていません", "opens no management port to the Internet"),
    Status.FAIL: ("3389 がインターネットに開いています", "3389 (rule AllowRdp, source the whole Internet)"),
    Status.ERROR: ("取得できませんでした", "could not be collected: AuthorizationFailed (HTTP 403)"),
}


def finding(status: Status, resource: str = NSG, check: str = NSG_CHECK, reqs: tuple[int, ...] = (86, 87, 148)):
    ja, en = REASONS[status]
    return Finding(check, reqs, status, resource, f"{ja}（{resource.rsplit('/', 1)[-1]}）", f"{en} ({resource})")


def verdict(number: int, status: Status) -> Verdict:
    return Verdict(number, status, f"No {number} は {status}", f"No {number} is {status}", (NSG_CHECK,))


def one(events: list[DriftEvent]) -> DriftEvent:
    assert len(events) == 1, events
    return events[0]


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        (Status.PASS, Status.FAIL, DriftKind.NEW_FAILURE),
        (Status.ERROR, Status.FAIL, DriftKind.NEW_FAILURE),
        (None, Status.FAIL, DriftKind.NEW_FAILURE),
        (Status.FAIL, Status.PASS, DriftKind.RESOLVED),
        (Status.ERROR, Status.PASS, DriftKind.RESOLVED),
        (Status.PASS, Status.ERROR, DriftKind.NEW_ERROR),
        (Status.FAIL, Status.ERROR, DriftKind.NEW_ERROR),
        (None, Status.ERROR, DriftKind.NEW_ERROR),
        (Status.PASS, None, DriftKind.RESOURCE_GONE),
        (Status.FAIL, None, DriftKind.RESOURCE_GONE),
        (Status.ERROR, None, DriftKind.RESOURCE_GONE),
        (None, Status.PASS, DriftKind.NEW_RESOURCE),
    ],
)
def test_each_change_of_a_finding_is_named(before: Status | None, after: Status | None, kind: DriftKind) -> None:
    # The other NSG stays as it was, so the check ran and was judged in both runs.
    steady = finding(Status.PASS, NSG2)
    previous = [steady] + ([finding(before)] if before else [])
    current = [steady] + ([finding(after)] if after else [])
    event = one(detect(previous, current, [], [], previous_run_id=7))
    assert (event.kind, event.before, event.after) == (kind, before, after)
    assert (event.check_id, event.resource_id, event.requirements, event.previous_run) == (
        NSG_CHECK,
        NSG,
        (86, 87, 148),
        7,
    )
    arrow_en = f"{before or 'none'} → {after or 'none'}"
    assert f"{NSG_CHECK} on nsg-web: {arrow_en}" in event.reason_en
    assert f"nsg-web の {NSG_CHECK}" in event.reason_ja and "→" in event.reason_ja
    if after is not None:  # the new finding's own reason is quoted
        assert REASONS[after][1] in event.reason_en and REASONS[after][0] in event.reason_ja
    else:
        assert "in run 7" in event.reason_en and "実行 7" in event.reason_ja
    assert "\n" not in event.reason_en + event.reason_ja


def test_unchanged_statuses_are_not_drift_even_when_the_reason_changes() -> None:
    previous = [finding(Status.FAIL), finding(Status.PASS, SITE, TLS_CHECK, (118, 123))]
    worse = Finding(NSG_CHECK, (86, 87, 148), Status.FAIL, NSG, "22 と 3389 が開いています", "22 and 3389 are open")
    current = [worse, finding(Status.PASS, SITE.upper(), TLS_CHECK, (118, 123))]  # ARM ids ignore case
    assert detect(previous, current, [verdict(86, Status.FAIL)], [verdict(86, Status.FAIL)], 3) == []


def test_the_first_run_is_a_baseline_not_drift() -> None:
    current = [finding(Status.FAIL), finding(Status.PASS, NSG2)]
    assert detect([], current, [], [verdict(86, Status.FAIL)], previous_run_id=None) == []


def test_a_verdict_change_names_the_requirement_and_both_statuses() -> None:
    previous = [verdict(86, Status.PARTIAL), verdict(148, Status.PARTIAL), verdict(87, Status.MANUAL)]
    current = [verdict(86, Status.FAIL), verdict(148, Status.PARTIAL), verdict(87, Status.FAIL)]
    events = detect([], [], previous, current, previous_run_id=4)
    assert [(e.kind, e.requirements, e.before, e.after) for e in events] == [
        (DriftKind.VERDICT_CHANGED, (86,), Status.PARTIAL, Status.FAIL),
        (DriftKind.VERDICT_CHANGED, (87,), Status.MANUAL, Status.FAIL),
    ]
    assert events[0].check_id is None and events[0].resource_id is None and events[0].previous_run == 4
    assert events[0].reason_en == "verdict changed: No 86: partial → fail: No 86 is fail"
    assert events[0].reason_ja == "判定の変化: No 86: 一部確認 → 不適合: No 86 は fail"


def test_a_resource_that_cannot_be_seen_is_a_new_error_not_gone() -> None:
    # The NSG listing of the subscription answered 403: the check reports one error for the scope.
    scope_error = finding(Status.ERROR, SUB)
    previous = [finding(Status.PASS), finding(Status.FAIL, NSG2)]
    events = detect(previous, [scope_error], [], [], previous_run_id=5)
    assert [(e.kind, e.resource_id, e.before, e.after) for e in events] == [
        (DriftKind.NEW_ERROR, NSG2, Status.FAIL, Status.ERROR),
        (DriftKind.NEW_ERROR, NSG, Status.PASS, Status.ERROR),
    ]  # the scope's own error is told through the resources it stands for, not once more
    assert all(REASONS[Status.ERROR][1] in e.reason_en for e in events)


def test_a_crashed_check_stands_for_every_resource_it_judged() -> None:
    crashed = Finding(NSG_CHECK, (86,), Status.ERROR, f"check:{NSG_CHECK}", "例外が発生しました", "check raised")
    events = detect([finding(Status.PASS), finding(Status.PASS, NSG2)], [crashed], [], [], previous_run_id=5)
    assert {(e.kind, e.resource_id) for e in events} == {(DriftKind.NEW_ERROR, NSG), (DriftKind.NEW_ERROR, NSG2)}


def test_resources_under_a_lasting_error_are_resolved_when_seen_again() -> None:
    # The baseline holds the error and, as error, the resources it stood for (alerts.drift.previous_state).
    scope_error = finding(Status.ERROR, SUB)
    covered = finding(Status.ERROR)
    events = detect([scope_error, covered], [finding(Status.PASS)], [], [], previous_run_id=6)
    assert [(e.kind, e.resource_id, e.before, e.after) for e in events] == [
        (DriftKind.RESOLVED, NSG, Status.ERROR, Status.PASS)
    ]
    # Still unreadable: nothing changed.
    assert detect([scope_error, covered], [scope_error], [], [], previous_run_id=6) == []


def test_an_error_on_a_scope_with_nothing_under_it() -> None:
    scope_error = finding(Status.ERROR, SUB)
    appeared = one(detect([finding(Status.PASS, NSG2.replace(SUB, "/subscriptions/other"))], [
        finding(Status.PASS, NSG2.replace(SUB, "/subscriptions/other")), scope_error], [], [], 2))  # fmt: skip
    assert (appeared.kind, appeared.resource_id, appeared.before, appeared.after) == (
        DriftKind.NEW_ERROR,
        SUB,
        None,
        Status.ERROR,
    )
    cleared = one(detect([scope_error], [], [], [], 2, checks={NSG_CHECK}))
    assert (cleared.kind, cleared.before, cleared.after) == (DriftKind.RESOLVED, Status.ERROR, None)
    assert "could be read again" in cleared.reason_en and "再び確認できました" in cleared.reason_ja


def test_a_partial_run_compares_only_the_checks_it_ran() -> None:
    previous = [finding(Status.PASS), finding(Status.FAIL, SITE, TLS_CHECK, (118, 123))]
    current = [finding(Status.FAIL)]  # only the NSG check ran: the site is not gone
    event = one(detect(previous, current, [], [], 9, checks={NSG_CHECK}))
    assert (event.kind, event.resource_id) == (DriftKind.NEW_FAILURE, NSG)
    # The same with the baseline's own bookkeeping: check id → the run its previous findings come from.
    event = one(detect(previous, current, [], [], 9, check_runs={NSG_CHECK: 8}))
    assert (event.kind, event.previous_run) == (DriftKind.NEW_FAILURE, 8)


def test_a_check_that_judged_nothing_this_time_has_lost_its_resources() -> None:
    events = detect([finding(Status.PASS), finding(Status.FAIL, NSG2)], [], [], [], 3, checks={NSG_CHECK})
    assert [(e.kind, e.resource_id) for e in events] == [
        (DriftKind.RESOURCE_GONE, NSG2),
        (DriftKind.RESOURCE_GONE, NSG),
    ]


def test_a_check_or_requirement_without_a_baseline_gives_no_events() -> None:
    current = [finding(Status.FAIL), finding(Status.FAIL, SITE, TLS_CHECK, (118, 123))]
    events = detect(
        [finding(Status.PASS)],
        current,
        [verdict(86, Status.PARTIAL)],
        [verdict(86, Status.FAIL), verdict(123, Status.FAIL)],
        5,
        check_runs={NSG_CHECK: 5},  # the TLS check was judged for the first time
        verdict_runs={86: 4},  # No 123 had no verdict before
    )
    assert [(e.kind, e.check_id, e.requirements, e.previous_run) for e in events] == [
        (DriftKind.NEW_FAILURE, NSG_CHECK, (86, 87, 148), 5),
        (DriftKind.VERDICT_CHANGED, None, (86,), 4),
    ]


def test_a_resource_reported_twice_by_one_check_counts_at_its_worst() -> None:
    current = [finding(Status.PASS), finding(Status.FAIL)]
    event = one(detect([finding(Status.PASS)], current, [], [], 1))
    assert event.kind == DriftKind.NEW_FAILURE


def test_an_attestation_near_its_expiry_is_warned_once_in_the_first_full_run_that_sees_it() -> None:
    from datetime import date

    from alerts.drift import attestation_expiry_events
    from alerts.policy import severity_of
    from collector.settings import AlertSettings
    from controls.attestations import Attestation, Revocation

    policy = Attestation("ATT-1", (13, 14), "委員会", date(2026, 4, 1), date(2026, 12, 31), "方針", "policy")
    far = Attestation("ATT-2", (1,), "CISO", date(2026, 4, 1), date(2027, 12, 31), "P", "P")
    lapsed = Attestation("ATT-3", (2,), "CISO", date(2025, 4, 1), date(2026, 11, 30), "P", "P")
    revoked = Attestation("ATT-4", (3,), "x", date(2026, 4, 1), date(2026, 12, 20), "P", "P").with_revocation(
        Revocation("x", datetime(2026, 11, 1, tzinfo=UTC), "wrong")
    )
    everything = [policy, far, lapsed, revoked]

    (event,) = attestation_expiry_events(everything, date(2026, 12, 2), date(2026, 11, 25), 30, 7)
    assert event.kind == DriftKind.ATTESTATION_EXPIRING and event.resource_id == "attestation:ATT-1"
    assert event.requirements == (13, 14) and event.previous_run == 7
    assert "expires on 2026-12-31, in 29 day(s); renew it" in event.reason_en and "あと 29 日" in event.reason_ja
    assert severity_of(event, AlertSettings()) == "medium"
    # Once: the next run, already inside the window, says nothing more; nor does a first run ever when 0.
    assert attestation_expiry_events(everything, date(2026, 12, 3), date(2026, 12, 2), 30, 8) == []
    assert attestation_expiry_events(everything, date(2026, 12, 2), None, 0, None) == []
    # Without an earlier full run, the first run warns.
    assert [e.resource_id for e in attestation_expiry_events(everything, date(2026, 12, 2), None, 30, None)] == [
        "attestation:ATT-1"
    ]
