"""The outbox: alerts are written to the database before they are sent, and sent until delivered.

`enqueue(target, run_id, events, settings, catalog, now)` applies the alert policy (alerts/policy.py)
to one run's drift events and writes one message per channel — plus reminders of alerts still open —
in a single transaction with the open-alert state. Enqueueing the same run again writes nothing.

`deliver_pending(target, settings, now)` sends what is due, oldest first per channel (a channel's
messages keep their order: a later message waits while an earlier one is retried). Each message is
claimed before it is sent (its attempt counter is the version, so two deliverers never send it at the
same moment) and marked after:

- a 2xx answer (SMTP: 250) marks it delivered;
- anything else — an error answer, a refused connection, a timeout, a missing secret — schedules a
  retry after `retry_initial_seconds`, doubling up to `retry_max_seconds`, and gives it up (logged,
  counted in the report and by `AlertStore.counts()`) once the next try would fall more than
  `give_up_hours` after the message was written. A message is always tried at least once.

Delivery is **at-least-once**: a process that dies after a send but before the mark leaves the claim
to expire (`CLAIM_SECONDS`), and the message is sent again. Receivers can drop duplicates by the
message `id` (webhook body and `X-Shoko-Delivery` header; the email's Message-ID). A restart needs
nothing special: pending rows are simply due again. Safe to call every few seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from alerts.message import AlertMessage, build_message
from alerts.notifiers import DeliveryError, Notifier, build_notifiers
from alerts.policy import decide
from alerts.store import DELIVERED, GIVEN_UP, AlertStore, OutboxEntry, aware
from collector.settings import AlertSettings, Settings
from controls.catalog import Catalog
from controls.model import DriftEvent
from storage.ledger import Ledger, LedgerError

log = logging.getLogger("shoko.alerts")

# A claimed message not marked within this time (its sender died) is due again.
CLAIM_SECONDS = 300


def _alerts(settings: Settings | AlertSettings) -> AlertSettings:
    return settings.alerts if isinstance(settings, Settings) else settings


def enqueue(
    target: Ledger | Engine,
    run_id: int,
    events: Iterable[DriftEvent],
    settings: Settings | AlertSettings,
    catalog: Catalog,
    now: datetime,
) -> int:
    """Write this run's alert messages (one per channel that gets anything); returns how many."""
    alerts = _alerts(settings)
    now = aware(now)
    events = list(events)
    if not alerts.channels:
        if events:
            log.info("run %d: %d drift event(s), no alert channel configured (alerts.channels)", run_id, len(events))
        return 0
    store = AlertStore(target)
    with store.session(write=True) as session:
        store.lock_for_enqueue(session)
        if not store.run_exists(session, run_id):
            raise LedgerError(f"run {run_id} does not exist")
        if store.already_enqueued(session, run_id):
            log.info("run %d: alerts already written to the outbox; nothing added", run_id)
            return 0
        decision = decide(run_id, events, alerts, catalog, store.open_alerts(session), now)
        store.save_open_alerts(session, decision.upsert, decision.close)
        written = 0
        for channel in (c.name for c in alerts.channels):
            items = decision.items.get(channel)
            if not items:
                continue
            message = build_message(channel, run_id, items, now, alerts.max_items)
            store.add_message(session, run_id, channel, message.severity, message.to_document(), now)
            written += 1
    if events or written:
        log.info(
            "run %d: %d drift event(s) → %d alert message(s); %d not re-sent (already open), %d routed nowhere",
            run_id, len(events), written, decision.not_resent, decision.unrouted,
        )  # fmt: skip
    return written


@dataclass(frozen=True)
class DeliveryOutcome:
    outbox_id: int
    channel: str
    run_id: int
    attempt: int
    result: str  # delivered | retry | given_up
    detail: str  # "HTTP 202", or the error line
    next_attempt_at: datetime | None = None


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    given_up: int = 0
    outcomes: list[DeliveryOutcome] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return len(self.outcomes)


def backoff(alerts: AlertSettings, attempt: int) -> timedelta:
    """Wait after failed attempt number `attempt` (1, 2, ...): initial, doubling, capped."""
    seconds = alerts.retry_initial_seconds * 2 ** min(max(attempt - 1, 0), 30)
    return timedelta(seconds=min(seconds, alerts.retry_max_seconds))


def deliver_pending(
    target: Ledger | Engine,
    settings: Settings | AlertSettings,
    now: datetime,
    *,
    notifiers: Mapping[str, Notifier] | None = None,
    environ: Mapping[str, str] | None = None,
    limit: int = 500,
) -> DeliveryReport:
    """Send every due message (at most `limit` looked at); see the module docstring."""
    alerts = _alerts(settings)
    now = aware(now)
    notifiers = build_notifiers(alerts, environ) if notifiers is None else notifiers
    store = AlertStore(target)
    report = DeliveryReport()
    by_channel: dict[str, list[OutboxEntry]] = {}
    for entry in store.pending(limit):
        by_channel.setdefault(entry.channel, []).append(entry)
    for channel, entries in by_channel.items():
        for entry in entries:
            if entry.next_attempt_at is not None and entry.next_attempt_at > now:
                break  # not due (or being sent elsewhere): later messages of this channel wait their turn
            if not store.claim(entry, now, now + timedelta(seconds=CLAIM_SECONDS)):
                break
            attempt = entry.attempts + 1
            notifier = notifiers.get(channel)
            final = False
            try:
                if notifier is None:
                    final = True
                    raise DeliveryError(f"channel {channel} is no longer configured (alerts.channels)")
                try:
                    message = AlertMessage.from_document(entry.message)
                except (KeyError, TypeError, ValueError) as exc:
                    final = True
                    raise DeliveryError(f"the stored message cannot be read ({type(exc).__name__}: {exc})") from None
                try:
                    detail = notifier.send(message)
                except DeliveryError:
                    raise
                except Exception as exc:  # a bug must not stop every later delivery: retried, then given up
                    log.exception("alert %s to %s: unexpected error while sending", entry.message.get("id"), channel)
                    raise DeliveryError(f"unexpected error: {type(exc).__name__}") from None
            except DeliveryError as exc:
                outcome = _failed(store, alerts, entry, attempt, str(exc), now, final=final)
                report.outcomes.append(outcome)
                if outcome.result == GIVEN_UP:
                    report.given_up += 1
                else:
                    report.retrying += 1
                break  # the channel is down: its later messages wait
            store.settle(entry.id, attempt, state=DELIVERED, delivered_at=now, next_attempt_at=None, last_error=None)
            log.info("alert %s delivered to %s (attempt %d): %s", entry.message.get("id"), channel, attempt, detail)
            report.outcomes.append(DeliveryOutcome(entry.id, channel, entry.run_id, attempt, DELIVERED, detail))
            report.delivered += 1
    return report


def _failed(
    store: AlertStore, alerts: AlertSettings, entry: OutboxEntry, attempt: int, error: str, now: datetime, final: bool
) -> DeliveryOutcome:
    message_id = entry.message.get("id")
    retry_at = now + backoff(alerts, attempt)
    horizon = entry.created_at + timedelta(hours=alerts.give_up_hours)
    if final or retry_at > horizon:
        store.settle(entry.id, attempt, state=GIVEN_UP, given_up_at=now, next_attempt_at=None, last_error=error)
        log.error(
            "alert %s to %s GIVEN UP after %d attempt(s) since %s: %s",
            message_id, entry.channel, attempt, entry.created_at.isoformat(), error,
        )  # fmt: skip
        return DeliveryOutcome(entry.id, entry.channel, entry.run_id, attempt, GIVEN_UP, error)
    store.settle(entry.id, attempt, next_attempt_at=retry_at, last_error=error)
    log.warning(
        "alert %s to %s failed (attempt %d), retry at %s: %s",
        message_id, entry.channel, attempt, retry_at.isoformat(), error,
    )  # fmt: skip
    return DeliveryOutcome(entry.id, entry.channel, entry.run_id, attempt, "retry", error, retry_at)
