"""The outbox end to end: drift events → messages in the database → real local HTTPS and SMTP receivers.

Time is passed in (`now`), never waited for: backoff and give-up are checked by moving `now`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta

import pytest

from alerts.formats import SLACK_MAX_ITEMS, TEAMS_MAX_BYTES
from alerts.notifiers import build_notifiers
from alerts.outbox import CLAIM_SECONDS, deliver_pending, enqueue
from alerts.store import AlertStore
from controls.model import DriftKind, Status
from storage.ledger import Ledger

from .conftest import (
    HMAC_KEY,
    SECRETS,
    SMTP_USER,
    T0,
    alert_settings,
    channel_yaml,
    environment,
    sealed_run,
)
from .events import NSG_CHECK, event, failure, nsg_id, resolved


def no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_each_channel_gets_its_format_in_japanese_and_english(
    tmp_path, database_url, receiver, smtp_server, tls, catalog, caplog
):
    caplog.set_level(logging.DEBUG)
    settings = alert_settings(tmp_path, database_url, channel_yaml(receiver, smtp_server, tls))
    receiver.default = 202  # what a Teams workflow answers
    with Ledger(database_url) as ledger:
        run_id = sealed_run(ledger)
        events = [failure(), event(DriftKind.VERDICT_CHANGED, None, check_id=None, requirements=(148,),
                                   before=Status.MANUAL, after=Status.FAIL)]  # fmt: skip
        assert enqueue(ledger, run_id, events, settings, catalog, T0) == 4
        report = deliver_pending(ledger, settings, T0, environ=environment(receiver))
        assert (report.delivered, report.retrying, report.given_up) == (4, 0, 0)
        assert AlertStore(ledger).counts() == {"pending": 0, "delivered": 4, "given_up": 0}

    (hook,) = receiver.on("soc")
    expected = hmac.new(HMAC_KEY.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["x-shoko-signature"] == f"sha256={expected}"
    assert hook.headers["content-type"] == "application/json; charset=utf-8"
    body = hook.json()
    assert body["schema"] == "shoko.alert/v1" and body["type"] == "alert" and body["run_id"] == run_id
    assert hook.headers["x-shoko-delivery"] == body["id"] == f"shoko-run-{run_id}-soc"
    assert body["severity"] == "high" and body["counts"] == {"new_failure": 1, "verdict_changed": 1}
    first = body["items"][0]
    assert first["event"] == "new_failure" and first["check_id"] == NSG_CHECK and first["resource_id"] == nsg_id()
    assert first["before"] == "pass" and first["after"] == "fail"
    assert first["explain"] == f"shoko explain 86 --run {run_id}"
    assert first["requirements"][1]["number"] == 148 and first["requirements"][1]["title_ja"]
    assert "インターネット" in first["reason_ja"] and "Internet" in first["reason_en"]

    (teams,) = receiver.on("teams")
    card = teams.json()
    assert card["type"] == "message"
    (attachment,) = card["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    content = attachment["content"]
    assert content["type"] == "AdaptiveCard" and content["version"] == "1.4"
    texts = _texts(content["body"])
    assert any("新たな不適合" in t for t in texts) and any("new failure" in t for t in texts)
    assert any(f"shoko explain 86 --run {run_id}" in t for t in texts)

    (slack,) = receiver.on("slack")
    payload = slack.json()
    assert "new failure" in payload["text"] and "新たな不適合" in payload["text"]
    assert payload["blocks"][0]["type"] == "header" and len(payload["blocks"]) <= 50
    assert any(nsg_id() in b.get("text", {}).get("text", "") for b in payload["blocks"])

    (mail,) = smtp_server.messages
    assert smtp_server.logins == [SMTP_USER]
    assert "新たな不適合" in mail["Subject"] and "new failure" in mail["Subject"]
    assert mail["To"] == "ops@hospital.example, security@hospital.example"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "不適合 fail" in text and f"shoko explain 86 --run {run_id}" in text and nsg_id() in text
    assert "<html" in html and "新たな不適合" in html
    no_secrets(caplog.text)


def _texts(node) -> list[str]:
    if isinstance(node, dict):
        own = [v for k, v in node.items() if k in ("text", "value") and isinstance(v, str)]
        return own + _texts(list(node.values()))
    if isinstance(node, list):
        return [t for child in node for t in _texts(child)]
    return []


def test_300_failures_at_once_are_one_bounded_message_per_channel(
    tmp_path, database_url, receiver, smtp_server, tls, catalog
):
    settings = alert_settings(tmp_path, database_url, channel_yaml(receiver, smtp_server, tls), max_items=50)
    events = [failure(nsg_id(n)) for n in range(300)]
    with Ledger(database_url) as ledger:
        run_id = sealed_run(ledger)
        assert enqueue(ledger, run_id, events, settings, catalog, T0) == 4
        entries = AlertStore(ledger).entries(run_id=run_id)
        assert sorted(e.channel for e in entries) == ["mail", "slack", "soc", "teams"]
        for entry in entries:
            assert len(entry.message["items"]) == 50 and entry.message["omitted"] == 250
            assert entry.message["counts"] == {"new_failure": 300}
        assert deliver_pending(ledger, settings, T0, environ=environment(receiver)).delivered == 4
        # The open alerts are tracked one by one, so each resolves on its own later.
        assert len(AlertStore(ledger).open_alert_states()) == 300

    assert len(receiver.requests) == 3 and len(smtp_server.messages) == 1
    (hook,) = receiver.on("soc")
    assert len(hook.json()["items"]) == 50 and "300 new failures" in hook.json()["title_en"]
    (teams,) = receiver.on("teams")
    assert len(teams.body) <= TEAMS_MAX_BYTES
    (slack,) = receiver.on("slack")
    assert len(slack.json()["blocks"]) <= SLACK_MAX_ITEMS + 3
    text = smtp_server.messages[0].get_body(("plain",)).get_content()
    assert "ほか 250 件は省略しました" in text and "250 more not listed" in text
    assert f"shoko drift --run {run_id}" in text


def test_across_runs_persisting_failure_is_not_resent_then_reminded_then_resolved(
    tmp_path, database_url, receiver, tls, catalog
):
    settings = alert_settings(tmp_path, database_url, channel_yaml(receiver, None, tls)[:1], reminder_hours=24)
    env = environment(receiver)
    with Ledger(database_url) as ledger:
        sent = []
        for hours, events in [(0, [failure()]), (1, []), (2, [failure()]), (25, []), (26, []), (27, [resolved()])]:
            now = T0 + timedelta(hours=hours)
            seen = len(receiver.requests)
            run_id = sealed_run(ledger, now)
            enqueue(ledger, run_id, events, settings, catalog, now)
            deliver_pending(ledger, settings, now, environ=env)
            sent.append([i["event"] for r in receiver.requests[seen:] for i in r.json()["items"]])
        assert AlertStore(ledger).open_alert_states() == {}
    assert sent == [["new_failure"], [], [], ["reminder"], [], ["resolved"]]


def test_enqueueing_a_run_twice_adds_nothing(tmp_path, database_url, receiver, tls, catalog):
    settings = alert_settings(tmp_path, database_url, channel_yaml(receiver, None, tls))
    with Ledger(database_url) as ledger:
        run_id = sealed_run(ledger)
        assert enqueue(ledger, run_id, [failure()], settings, catalog, T0) == 3
        assert enqueue(ledger, run_id, [failure()], settings, catalog, T0) == 0
        assert len(AlertStore(ledger).entries()) == 3


def test_a_channel_answering_500_is_retried_with_backoff_and_delivered_after_recovery(
    tmp_path, database_url, receiver, tls, catalog, caplog
):
    caplog.set_level(logging.INFO)
    settings = alert_settings(tmp_path, database_url, channel_yaml(receiver, None, tls)[:1], retry_initial_seconds=30)
    receiver.answers = [500, 500, 500]
    env = environment(receiver)
    with Ledger(database_url) as ledger:
        enqueue(ledger, sealed_run(ledger), [failure()], settings, catalog, T0)
        store = AlertStore(ledger)
        steps = []
        for seconds in (0, 10, 30, 60, 90, 200, 210, 211):
            report = deliver_pending(ledger, settings, T0 + timedelta(seconds=seconds), environ=env)
            steps.append((seconds, [o.result for o in report.outcomes]))
        (entry,) = store.entries()
    # Due at 0; retried 30 s later, then 60 s, then 120 s after each failure.
    assert steps == [(0, ["retry"]), (10, []), (30, ["retry"]), (60, []), (90, ["retry"]), (200, []),
                     (210, ["delivered"]), (211, [])]  # fmt: skip
    assert entry.state == "delivered" and entry.attempts == 4 and entry.last_error is None
    assert len(receiver.requests) == 4 and len({r.body for r in receiver.requests}) == 1  # the same bytes each time
    assert "HTTP 500" in caplog.text
    no_secrets(caplog.text)


def test_a_channel_down_past_the_horizon_is_given_up_counted_and_logged(
    tmp_path, database_url, receiver, tls, catalog, caplog
):
    settings = alert_settings(
        tmp_path, database_url, channel_yaml(receiver, None, tls)[:1],
        retry_initial_seconds=600, retry_max_seconds=1800, give_up_hours=1,
    )  # fmt: skip
    receiver.default = 503
    env = environment(receiver)
    with Ledger(database_url) as ledger:
        enqueue(ledger, sealed_run(ledger), [failure()], settings, catalog, T0)
        results = []
        for seconds in (0, 600, 1800, 3600, 9999):
            report = deliver_pending(ledger, settings, T0 + timedelta(seconds=seconds), environ=env)
            results.append([o.result for o in report.outcomes])
        counts = AlertStore(ledger).counts()
        (entry,) = AlertStore(ledger).entries()
    # Retries at +600 s and +1800 s; the one after +3600 s would fall past the 1 h horizon: given up.
    assert results == [["retry"], ["retry"], ["retry"], ["given_up"], []]
    assert counts == {"pending": 0, "delivered": 0, "given_up": 1}
    assert entry.given_up_at == T0 + timedelta(seconds=3600) and "HTTP 503" in (entry.last_error or "")
    assert any(r.levelno == logging.ERROR and "GIVEN UP" in r.getMessage() for r in caplog.records)
    no_secrets(caplog.text, entry.last_error or "")


def test_a_restart_resumes_pending_deliveries(tmp_path, database_url, receiver, smtp_server, tls, catalog):
    settings = alert_settings(tmp_path, database_url, channel_yaml(receiver, smtp_server, tls))
    with Ledger(database_url) as ledger:
        run_id = sealed_run(ledger)
        enqueue(ledger, run_id, [failure()], settings, catalog, T0)
        # The agent stops before sending anything (or everything fails): nothing delivered yet.
        report = deliver_pending(ledger, settings, T0, environ={})  # no secrets in this environment
        assert report.retrying == 4 and report.delivered == 0
        assert all("is not set" in o.detail for o in report.outcomes)
    assert receiver.requests == [] and smtp_server.messages == []

    with Ledger(database_url) as restarted:  # a new process: a new engine on the same database
        report = deliver_pending(restarted, settings, T0 + timedelta(minutes=5), environ=environment(receiver))
        assert report.delivered == 4
    assert len(receiver.requests) == 3 and len(smtp_server.messages) == 1


class Crash(BaseException):
    """The process dies (e.g. SIGKILL) right after a send, before the outbox is updated."""


def test_a_crash_between_send_and_mark_sends_again_at_least_once(tmp_path, database_url, receiver, tls, catalog):
    settings = alert_settings(tmp_path, database_url, channel_yaml(receiver, None, tls)[:1])
    env = environment(receiver)
    real = build_notifiers(settings.alerts, env)["soc"]

    class SendThenDie:
        channel = real.channel

        def send(self, message):
            real.send(message)
            raise Crash

    with Ledger(database_url) as ledger:
        enqueue(ledger, sealed_run(ledger), [failure()], settings, catalog, T0)
        with pytest.raises(Crash):
            deliver_pending(ledger, settings, T0, notifiers={"soc": SendThenDie()})
    with Ledger(database_url) as restarted:
        # While the dead process's claim lasts, nobody else sends it ...
        assert deliver_pending(restarted, settings, T0 + timedelta(seconds=60), environ=env).attempted == 0
        # ... then it is sent again, with the same delivery id, and marked.
        later = T0 + timedelta(seconds=CLAIM_SECONDS)
        assert deliver_pending(restarted, settings, later, environ=env).delivered == 1
        (entry,) = AlertStore(restarted).entries()
    assert entry.state == "delivered" and entry.attempts == 2
    first, second = receiver.requests
    assert first.body == second.body and first.headers["x-shoko-delivery"] == second.headers["x-shoko-delivery"]


def test_a_later_message_waits_while_an_earlier_one_is_retried(tmp_path, database_url, receiver, tls, catalog):
    settings = alert_settings(tmp_path, database_url, channel_yaml(receiver, None, tls)[:1])
    receiver.answers = [500]
    env = environment(receiver)
    with Ledger(database_url) as ledger:
        enqueue(ledger, sealed_run(ledger), [failure()], settings, catalog, T0)
        deliver_pending(ledger, settings, T0, environ=env)
        enqueue(ledger, sealed_run(ledger, T0 + timedelta(seconds=5)), [resolved()], settings, catalog,
                T0 + timedelta(seconds=5))  # fmt: skip
        assert deliver_pending(ledger, settings, T0 + timedelta(seconds=10), environ=env).attempted == 0
        assert deliver_pending(ledger, settings, T0 + timedelta(seconds=30), environ=env).delivered == 2
    assert [r.json()["items"][0]["event"] for r in receiver.requests] == ["new_failure", "new_failure", "resolved"]


def test_smtp_answering_451_to_the_data_is_retried(tmp_path, database_url, smtp_server, tls, catalog):
    settings = alert_settings(tmp_path, database_url, channel_yaml(None, smtp_server, tls))
    smtp_server.refuse_data = [451]
    with Ledger(database_url) as ledger:
        enqueue(ledger, sealed_run(ledger), [failure()], settings, catalog, T0)
        first = deliver_pending(ledger, settings, T0, environ=environment(None))
        assert [o.result for o in first.outcomes] == ["retry"] and "SMTP 451" in first.outcomes[0].detail
        second = deliver_pending(ledger, settings, T0 + timedelta(minutes=1), environ=environment(None))
        assert [o.detail for o in second.outcomes] == ["SMTP 250"]
    assert len(smtp_server.messages) == 1


def test_a_message_for_a_channel_removed_from_the_config_is_given_up_not_kept_forever(
    tmp_path, database_url, receiver, tls, catalog, caplog
):
    before = alert_settings(tmp_path, database_url, channel_yaml(receiver, None, tls))
    after = alert_settings(tmp_path, database_url, channel_yaml(receiver, None, tls)[1:])  # "soc" removed
    with Ledger(database_url) as ledger:
        enqueue(ledger, sealed_run(ledger), [failure()], before, catalog, T0)
        report = deliver_pending(ledger, after, T0, environ=environment(receiver))
        assert (report.delivered, report.given_up) == (2, 1)
        (gone,) = AlertStore(ledger).entries(state="given_up")
    assert gone.channel == "soc" and "channel soc is no longer configured" in (gone.last_error or "")
    assert "GIVEN UP" in caplog.text


def test_a_bug_while_sending_is_a_failed_attempt_not_a_stuck_outbox(tmp_path, database_url, receiver, tls, catalog):
    settings = alert_settings(tmp_path, database_url, channel_yaml(receiver, None, tls)[:2])

    class Broken:
        channel = settings.alerts.channels[0]

        def send(self, message):
            raise RuntimeError("renderer bug")

    teams = build_notifiers(settings.alerts, environment(receiver))["teams"]
    with Ledger(database_url) as ledger:
        enqueue(ledger, sealed_run(ledger), [failure()], settings, catalog, T0)
        report = deliver_pending(ledger, settings, T0, notifiers={"soc": Broken(), "teams": teams})
    assert [(o.channel, o.result, o.detail) for o in report.outcomes] == [
        ("soc", "retry", "unexpected error: RuntimeError"),
        ("teams", "delivered", "HTTP 200"),
    ]
