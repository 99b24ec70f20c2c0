"""The alert policy: which drift events become which alert items, how severe, for which channels.

Pure: `decide()` takes the run's drift events and the alerts still open, and returns the items per
channel and the changes to the open alerts; alerts/outbox.py stores both in one transaction.

- One alert per drift event. A (check, resource) that fails or errors is *open* until it resolves; a
  later event repeating the status already announced for it (e.g. a partial run re-judging it) is not
  sent again, and a persisting failure produces no drift event at all, so it is not re-sent each run.
  A change between fail and error while open is a new alert (what is known changed).
- A reminder of each open alert when `alerts.reminder_hours` have passed since it was last sent; it goes
  with the next run's message, to the channels the alert went to.
- A resolve item when it clears (RESOLVED, or the resource is no longer judged), to the channels the
  alert went to. A RESOLVED with no open alert (it failed before alerting was set up) is routed normally.
- Severity (documented in config/defaults.yaml): new failure of `alerts.high_severity_checks` high,
  of other checks medium; new error medium; a verdict turning fail or error medium; a judged resource
  gone low; resolved, a resource gone while alerted, a new passing resource, other verdict changes info.
- Routing: `alerts.routes` (requirements, checks, min_severity → channels); no routes = every channel.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from alerts.config import severity_rank
from alerts.message import AlertItem, RequirementRef
from collector.settings import AlertSettings
from controls.catalog import Catalog
from controls.model import DriftEvent, DriftKind

_OPENING = {"fail", "error"}


def alert_key(check_id: str, resource_id: str) -> str:
    """The identity of a (check, resource): resource ids compare case-insensitively, as in ARM."""
    return hashlib.sha256(f"{check_id}\n{resource_id.lower()}".encode()).hexdigest()


@dataclass(frozen=True)
class OpenAlertState:
    key: str
    check_id: str
    resource_id: str
    status: str  # fail | error: what was last announced
    severity: str
    requirements: tuple[int, ...]
    channels: tuple[str, ...]
    reason_ja: str
    reason_en: str
    opened_run_id: int
    opened_at: datetime
    last_run_id: int
    notified_at: datetime


@dataclass
class Decision:
    items: dict[str, list[AlertItem]] = field(default_factory=dict)  # channel → items, in channel order
    upsert: dict[str, OpenAlertState] = field(default_factory=dict)
    close: set[str] = field(default_factory=set)
    not_resent: int = 0  # events for an alert already open with the same status
    unrouted: int = 0  # items no route sends anywhere

    def add(self, item: AlertItem, channels: Iterable[str]) -> tuple[str, ...]:
        sent = tuple(channels)
        for channel in sent:
            self.items.setdefault(channel, []).append(item)
        if not sent:
            self.unrouted += 1
        return sent


def severity_of(event: DriftEvent, alerts: AlertSettings, *, open_alert: bool = False) -> str:
    after = str(event.after) if event.after is not None else None
    if event.kind == DriftKind.NEW_FAILURE or (event.kind != DriftKind.VERDICT_CHANGED and after == "fail"):
        return "high" if event.check_id in alerts.high_severity_checks else "medium"
    if event.kind == DriftKind.NEW_ERROR or (event.kind != DriftKind.VERDICT_CHANGED and after == "error"):
        return "medium"
    if event.kind == DriftKind.VERDICT_CHANGED:
        return "medium" if after in _OPENING else "info"
    if event.kind == DriftKind.RESOURCE_GONE:
        return "info" if open_alert else "low"
    if event.kind == DriftKind.ATTESTATION_EXPIRING:
        return "medium"
    return "info"  # resolved, new resource


def route(alerts: AlertSettings, severity: str, requirements: Iterable[int], check_id: str | None) -> tuple[str, ...]:
    """The channels an item goes to, in the order the channels are configured."""
    names = [c.name for c in alerts.channels]
    if not alerts.routes:
        return tuple(names)
    numbers = set(requirements)
    wanted: set[str] = set()
    for r in alerts.routes:
        if severity_rank(severity) < severity_rank(r.min_severity):
            continue
        if r.requirements and not numbers & set(r.requirements):
            continue
        if r.checks and check_id not in r.checks:
            continue
        wanted.update(r.channels)
    return tuple(n for n in names if n in wanted)


def decide(
    run_id: int,
    events: Iterable[DriftEvent],
    alerts: AlertSettings,
    catalog: Catalog,
    open_alerts: Mapping[str, OpenAlertState],
    now: datetime,
) -> Decision:
    from controls.checks import CHECKS_BY_ID

    configured = [c.name for c in alerts.channels]
    decision = Decision()
    state = dict(open_alerts)
    touched: set[str] = set()

    def refs(numbers: Iterable[int]) -> tuple[RequirementRef, ...]:
        out = []
        for n in numbers:
            req = catalog.get(int(n))
            out.append(RequirementRef(int(n), req.title_ja if req else "(不明)", req.title_en if req else "(unknown)"))
        return tuple(out)

    def item(event: str, severity: str, numbers: tuple[int, ...], check_id: str | None, resource_id: str | None,
             before: str | None, after: str | None, reason_ja: str, reason_en: str, shown_run: int,
             opened_run_id: int | None = None) -> AlertItem:  # fmt: skip
        check = CHECKS_BY_ID.get(check_id) if check_id else None
        return AlertItem(
            event=event,
            severity=severity,
            requirements=refs(numbers),
            check_id=check_id,
            check_title_ja=check.title_ja if check else None,
            check_title_en=check.title_en if check else None,
            resource_id=resource_id,
            before=before,
            after=after,
            reason_ja=reason_ja,
            reason_en=reason_en,
            run_id=shown_run,
            opened_run_id=opened_run_id,
            explain=f"shoko explain {numbers[0]} --run {shown_run}" if numbers else f"shoko drift --run {shown_run}",
        )

    def still_configured(channels: Iterable[str]) -> tuple[str, ...]:
        return tuple(c for c in configured if c in set(channels))

    for event in events:
        kind = str(event.kind)
        before = str(event.before) if event.before is not None else None
        after = str(event.after) if event.after is not None else None
        numbers = tuple(int(n) for n in event.requirements)
        key = alert_key(event.check_id, event.resource_id) if event.check_id and event.resource_id else None
        current = state.get(key) if key else None

        if key and after in _OPENING and kind != DriftKind.VERDICT_CHANGED:
            touched.add(key)
            if current is not None and current.status == after:
                decision.not_resent += 1
                state[key] = replace(current, last_run_id=run_id)
                decision.upsert[key] = state[key]
                continue
            severity = severity_of(event, alerts)
            sent = decision.add(
                item(kind, severity, numbers, event.check_id, event.resource_id, before, after,
                     event.reason_ja, event.reason_en, run_id, current.opened_run_id if current else None),
                route(alerts, severity, numbers, event.check_id),
            )  # fmt: skip
            state[key] = OpenAlertState(
                key=key,
                check_id=str(event.check_id),
                resource_id=str(event.resource_id),
                status=str(after),
                severity=severity,
                requirements=numbers,
                channels=tuple(dict.fromkeys((*(current.channels if current else ()), *sent))),
                reason_ja=event.reason_ja,
                reason_en=event.reason_en,
                opened_run_id=current.opened_run_id if current else run_id,
                opened_at=current.opened_at if current else now,
                last_run_id=run_id,
                notified_at=now,
            )
            decision.upsert[key] = state[key]
            decision.close.discard(key)
            continue

        if key and current is not None and kind in (DriftKind.RESOLVED, DriftKind.RESOURCE_GONE):
            # The alert clears: tell the channels that heard about it (or, if none of them is configured
            # any more, whoever the routes name).
            touched.add(key)
            severity = severity_of(event, alerts, open_alert=True)
            channels = still_configured(current.channels)
            if current.channels and not channels:
                channels = route(alerts, severity, numbers, event.check_id)
            decision.add(
                item(kind, severity, numbers or current.requirements, event.check_id, event.resource_id, before,
                     after, event.reason_ja, event.reason_en, run_id, current.opened_run_id),
                channels,
            )  # fmt: skip
            del state[key]
            decision.upsert.pop(key, None)
            decision.close.add(key)
            continue

        severity = severity_of(event, alerts)
        decision.add(
            item(kind, severity, numbers, event.check_id, event.resource_id, before, after, event.reason_ja,
                 event.reason_en, run_id),
            route(alerts, severity, numbers, event.check_id),
        )  # fmt: skip

    if alerts.reminder_hours:
        period = timedelta(hours=alerts.reminder_hours)
        for key, alert in sorted(state.items(), key=lambda kv: (kv[1].opened_at, kv[1].check_id, kv[1].resource_id)):
            if key in touched or now - alert.notified_at < period:
                continue
            channels = still_configured(alert.channels)
            if alert.channels and not channels:
                channels = route(alerts, alert.severity, alert.requirements, alert.check_id)
            decision.add(
                item("reminder", alert.severity, alert.requirements, alert.check_id, alert.resource_id, alert.status,
                     alert.status, alert.reason_ja, alert.reason_en, alert.opened_run_id, alert.opened_run_id),
                channels,
            )  # fmt: skip
            decision.upsert[key] = replace(alert, notified_at=now)
    return decision
