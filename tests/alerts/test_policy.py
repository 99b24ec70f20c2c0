"""The alert policy on its own: severities, routing, one alert per event, reminders and resolves."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from alerts.policy import Decision, OpenAlertState, alert_key, decide, route, severity_of
from controls.model import DriftKind, Status

from .conftest import T0, alert_settings
from .events import NSG_CHECK, TLS_CHECK, event, failure, nsg_id, resolved, storage_id

CHANNELS = [
    {"name": "soc", "type": "webhook", "url_env": "A_URL", "hmac_key_env": "A_KEY"},
    {"name": "teams", "type": "teams", "url_env": "B_URL"},
    {"name": "mail", "type": "email", "host": "smtp.example.jp", "from_address": "a@example.jp",
     "to_addresses": ["ops@example.jp"]},
    {"name": "slack", "type": "slack", "url_env": "C_URL"},
]  # fmt: skip
# NSG exposure to Teams and email; everything to the webhook; Slack only what is high.
ROUTES = [
    {"checks": [NSG_CHECK], "channels": ["teams", "mail"]},
    {"channels": ["soc"]},
    {"min_severity": "high", "channels": ["slack"]},
]


@pytest.fixture
def alerts(tmp_path):
    return alert_settings(tmp_path, "sqlite://", CHANNELS, routes=ROUTES).alerts


def apply(state: dict[str, OpenAlertState], decision: Decision) -> dict[str, OpenAlertState]:
    """What alerts/store.py does with a decision."""
    state = {k: v for k, v in state.items() if k not in decision.close}
    state.update(decision.upsert)
    return state


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        (failure(), "high"),  # exposure check
        (failure(storage_id(), check_id=TLS_CHECK, requirements=(123,)), "medium"),
        (event(DriftKind.NEW_ERROR, after=Status.ERROR), "medium"),
        (event(DriftKind.VERDICT_CHANGED, None, check_id=None, requirements=(148,)), "medium"),
        (event(DriftKind.VERDICT_CHANGED, None, check_id=None, before=Status.FAIL, after=Status.PARTIAL), "info"),
        (event(DriftKind.RESOURCE_GONE, after=None), "low"),
        (event(DriftKind.NEW_RESOURCE, before=None, after=Status.PASS), "info"),
        (resolved(), "info"),
    ],
)
def test_severity_follows_the_kind_and_the_check(alerts, drift, expected):
    assert severity_of(drift, alerts) == expected


def test_routes_send_nsg_exposure_to_teams_and_mail_and_everything_to_the_webhook(alerts):
    assert route(alerts, "high", (86, 148), NSG_CHECK) == ("soc", "teams", "mail", "slack")
    assert route(alerts, "medium", (123,), TLS_CHECK) == ("soc",)
    assert route(alerts, "info", (148,), None) == ("soc",)  # a verdict change names no check


def test_routes_by_requirement_number(tmp_path):
    routes = [{"requirements": [123], "channels": ["mail"]}, {"requirements": [148], "min_severity": "medium",
                                                               "channels": ["teams"]}]  # fmt: skip
    alerts = alert_settings(tmp_path, "sqlite://", CHANNELS, routes=routes).alerts
    assert route(alerts, "info", (123,), TLS_CHECK) == ("mail",)
    assert route(alerts, "info", (86, 148), NSG_CHECK) == ()
    assert route(alerts, "high", (86, 148), NSG_CHECK) == ("teams",)


def test_no_routes_means_every_channel(tmp_path):
    alerts = alert_settings(tmp_path, "sqlite://", CHANNELS).alerts
    assert route(alerts, "info", (1,), None) == ("soc", "teams", "mail", "slack")


def test_a_persisting_failure_is_alerted_once_reminded_after_the_period_and_resolved(alerts, catalog):
    first = decide(1, [failure()], alerts, catalog, {}, T0)
    assert {c: [i.event for i in items] for c, items in first.items.items()} == {
        "soc": ["new_failure"], "teams": ["new_failure"], "mail": ["new_failure"], "slack": ["new_failure"],
    }  # fmt: skip
    item = first.items["teams"][0]
    assert item.severity == "high" and item.check_id == NSG_CHECK and item.resource_id == nsg_id()
    assert [r.number for r in item.requirements] == [86, 148] and item.requirements[0].title_ja
    assert item.explain == "shoko explain 86 --run 1"
    state = apply({}, first)
    assert list(state) == [alert_key(NSG_CHECK, nsg_id())]

    # Later runs where it still fails: no drift event, nothing sent.
    quiet = decide(2, [], alerts, catalog, state, T0 + timedelta(hours=1))
    assert quiet.items == {}
    state = apply(state, quiet)
    # A partial run re-judging it reports the same failure again: not re-sent either.
    again = decide(3, [failure(nsg_id().upper())], alerts, catalog, state, T0 + timedelta(hours=2))
    assert again.items == {} and again.not_resent == 1
    state = apply(state, again)

    reminder = decide(4, [], alerts, catalog, state, T0 + timedelta(hours=24))
    assert {c: [i.event for i in items] for c, items in reminder.items.items()} == {
        "soc": ["reminder"], "teams": ["reminder"], "mail": ["reminder"], "slack": ["reminder"],
    }  # fmt: skip
    assert reminder.items["mail"][0].opened_run_id == 1 and reminder.items["mail"][0].severity == "high"
    state = apply(state, reminder)
    assert decide(5, [], alerts, catalog, state, T0 + timedelta(hours=30)).items == {}  # next one 24 h later

    cleared = decide(6, [resolved()], alerts, catalog, state, T0 + timedelta(hours=31))
    assert {c: [(i.event, i.severity) for i in items] for c, items in cleared.items.items()} == {
        c: [("resolved", "info")] for c in ("soc", "teams", "mail", "slack")
    }  # slack only takes high alerts, but it heard of this one, so it hears it cleared
    assert apply(state, cleared) == {}


def test_fail_then_error_is_a_new_alert_but_keeps_its_first_run(alerts, catalog):
    state = apply({}, decide(1, [failure()], alerts, catalog, {}, T0))
    error = event(DriftKind.NEW_ERROR, before=Status.FAIL, after=Status.ERROR)
    decision = decide(2, [error], alerts, catalog, state, T0 + timedelta(hours=1))
    assert [i.event for i in decision.items["soc"]] == ["new_error"]
    assert decision.items["soc"][0].opened_run_id == 1
    assert apply(state, decision)[alert_key(NSG_CHECK, nsg_id())].status == "error"


def test_a_resolve_without_an_open_alert_is_routed_normally(alerts, catalog):
    decision = decide(1, [resolved()], alerts, catalog, {}, T0)
    assert set(decision.items) == {"soc", "teams", "mail"}  # slack wants high only


def test_an_alert_routed_nowhere_is_still_tracked_and_its_resolve_goes_nowhere(tmp_path, catalog):
    routes = [{"checks": [TLS_CHECK], "channels": ["mail"]}]
    alerts = alert_settings(tmp_path, "sqlite://", CHANNELS, routes=routes).alerts
    first = decide(1, [failure()], alerts, catalog, {}, T0)
    assert first.items == {} and first.unrouted == 1
    state = apply({}, first)
    assert decide(2, [resolved()], alerts, catalog, state, T0).items == {}


def test_reminders_follow_the_alert_to_its_channels_even_if_routes_change(alerts, catalog, tmp_path):
    state = apply({}, decide(1, [failure(storage_id(), check_id=TLS_CHECK, requirements=(123,))], alerts, catalog,
                             {}, T0))  # fmt: skip
    assert {a.channels for a in state.values()} == {("soc",)}
    rerouted = replace(alerts, routes=())
    later = decide(2, [], rerouted, catalog, state, T0 + timedelta(days=2))
    assert set(later.items) == {"soc"}


def test_no_reminders_when_the_period_is_zero(tmp_path, catalog):
    alerts = alert_settings(tmp_path, "sqlite://", CHANNELS, reminder_hours=0).alerts
    state = apply({}, decide(1, [failure()], alerts, catalog, {}, T0))
    assert decide(2, [], alerts, catalog, state, T0 + timedelta(days=30)).items == {}
