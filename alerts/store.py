"""Database access for alerts: the outbox (alert_outbox) and the open alerts (alert_open).

Both tables are mutable state beside the ledger (migration 0004), never part of a run's seal: the
ledger's append-only tables are only read here (does the run exist?). Every change is one short
transaction; on SQLite it takes the write lock up front like the ledger's own writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from alerts.policy import OpenAlertState
from storage.ledger import Ledger, LedgerError
from storage.models import AlertOutbox, OpenAlert, Run

PENDING, DELIVERED, GIVEN_UP = "pending", "delivered", "given_up"
_ENQUEUE_LOCK_KEY = 0x73686F6B6F04  # PostgreSQL advisory lock held while alerts are enqueued


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    run_id: int
    channel: str
    severity: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    given_up_at: datetime | None
    last_error: str | None
    message: dict[str, Any]


def aware(value: datetime, what: str = "now") -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise LedgerError(f"{what} must be a timezone-aware datetime (UTC), got {value!r}")
    return value.astimezone(UTC)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class AlertStore:
    def __init__(self, target: Ledger | Engine) -> None:
        engine = target.engine if isinstance(target, Ledger) else target
        self._writer = engine.execution_options(shoko_write=True)  # SQLite: BEGIN IMMEDIATE (ledger's listener)
        self._reader = engine

    @contextmanager
    def session(self, *, write: bool) -> Iterator[Session]:
        with Session(self._writer if write else self._reader, expire_on_commit=False) as session:
            try:
                with session.begin():
                    yield session
            except IntegrityError as exc:
                raise LedgerError(f"alert outbox refused the write: {_first_line(exc)}") from None
            except DBAPIError as exc:
                raise LedgerError(f"alert outbox database error: {_first_line(exc)}") from None

    # -- used inside one enqueue transaction ------------------------------------------------------

    @staticmethod
    def lock_for_enqueue(session: Session) -> None:
        """One enqueue at a time reads and rewrites the open alerts (SQLite: BEGIN IMMEDIATE already)."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ENQUEUE_LOCK_KEY})

    @staticmethod
    def run_exists(session: Session, run_id: int) -> bool:
        return session.scalar(select(Run.id).where(Run.id == run_id)) is not None

    @staticmethod
    def already_enqueued(session: Session, run_id: int) -> bool:
        return session.scalar(select(func.count()).select_from(AlertOutbox).where(AlertOutbox.run_id == run_id)) > 0

    @staticmethod
    def open_alerts(session: Session) -> dict[str, OpenAlertState]:
        rows = session.scalars(select(OpenAlert)).all()
        return {
            row.key: OpenAlertState(
                key=row.key,
                check_id=row.check_id,
                resource_id=row.resource_id,
                status=row.status,
                severity=row.severity,
                requirements=tuple(int(n) for n in row.requirements),
                channels=tuple(str(c) for c in row.channels),
                reason_ja=row.reason_ja,
                reason_en=row.reason_en,
                opened_run_id=row.opened_run_id,
                opened_at=row.opened_at,
                last_run_id=row.last_run_id,
                notified_at=row.notified_at,
            )
            for row in rows
        }

    @staticmethod
    def save_open_alerts(session: Session, upsert: dict[str, OpenAlertState], close: set[str]) -> None:
        gone = sorted(close | set(upsert))
        for start in range(0, len(gone), 500):
            session.execute(delete(OpenAlert).where(OpenAlert.key.in_(gone[start : start + 500])))
        session.add_all(
            OpenAlert(
                key=a.key,
                check_id=a.check_id,
                resource_id=a.resource_id,
                status=a.status,
                severity=a.severity,
                requirements=list(a.requirements),
                channels=list(a.channels),
                reason_ja=a.reason_ja,
                reason_en=a.reason_en,
                opened_run_id=a.opened_run_id,
                opened_at=a.opened_at,
                last_run_id=a.last_run_id,
                notified_at=a.notified_at,
            )
            for a in upsert.values()
        )

    @staticmethod
    def add_message(session: Session, run_id: int, channel: str, severity: str, message: dict[str, Any],
                    now: datetime) -> None:  # fmt: skip
        session.add(
            AlertOutbox(
                run_id=run_id,
                channel=channel,
                severity=severity,
                message=message,
                state=PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )

    # -- delivery: each step its own transaction ------------------------------------------------

    def pending(self, limit: int) -> list[OutboxEntry]:
        """Pending messages, oldest first (due or not: a channel's messages go out in order)."""
        with self.session(write=False) as session:
            rows = session.scalars(
                select(AlertOutbox).where(AlertOutbox.state == PENDING).order_by(AlertOutbox.id).limit(limit)
            ).all()
            return [_entry(row) for row in rows]

    def claim(self, entry: OutboxEntry, now: datetime, until: datetime) -> bool:
        """Take one due message for sending: only one process wins (attempts is the version)."""
        with self.session(write=True) as session:
            result = session.execute(
                update(AlertOutbox)
                .where(
                    AlertOutbox.id == entry.id,
                    AlertOutbox.state == PENDING,
                    AlertOutbox.attempts == entry.attempts,
                    AlertOutbox.next_attempt_at <= now,
                )
                .values(attempts=entry.attempts + 1, next_attempt_at=until)
            )
            return result.rowcount == 1

    def settle(self, entry_id: int, attempts: int, **values: Any) -> bool:
        """Record the outcome of the attempt numbered `attempts`, unless another process has moved on."""
        with self.session(write=True) as session:
            result = session.execute(
                update(AlertOutbox)
                .where(AlertOutbox.id == entry_id, AlertOutbox.state == PENDING, AlertOutbox.attempts == attempts)
                .values(**values)
            )
            return result.rowcount == 1

    # -- reading --------------------------------------------------------------------------------

    def entries(self, *, run_id: int | None = None, state: str | None = None) -> list[OutboxEntry]:
        with self.session(write=False) as session:
            query = select(AlertOutbox).order_by(AlertOutbox.id)
            if run_id is not None:
                query = query.where(AlertOutbox.run_id == run_id)
            if state is not None:
                query = query.where(AlertOutbox.state == state)
            return [_entry(row) for row in session.scalars(query).all()]

    def counts(self) -> dict[str, int]:
        """Messages per delivery state (pending, delivered, given_up), e.g. for metrics."""
        with self.session(write=False) as session:
            found = dict(session.execute(select(AlertOutbox.state, func.count()).group_by(AlertOutbox.state)).all())
        return {state: int(found.get(state, 0)) for state in (PENDING, DELIVERED, GIVEN_UP)}

    def open_alert_states(self) -> dict[str, OpenAlertState]:
        with self.session(write=False) as session:
            return self.open_alerts(session)


def _entry(row: AlertOutbox) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        run_id=row.run_id,
        channel=row.channel,
        severity=row.severity,
        state=row.state,
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        given_up_at=row.given_up_at,
        last_error=row.last_error,
        message=row.message,
    )
