"""The append-only evidence ledger.

A run is opened with `start_run`, receives inserts only (evidence, collection errors, findings,
verdicts), and is sealed once by `complete_run` or `fail_run`: the seal hashes the run's metadata and
every row hash, and links to the previous sealed run's digest. `verify` re-checks all of it.

SQLite file by default, PostgreSQL by URL; the schema is created or migrated when the ledger opens.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Self, TypeVar

from sqlalchemy import Engine, create_engine, event, false, func, insert, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session, undefer
from sqlalchemy.pool import StaticPool

from controls.attestations import Attestation
from controls.model import (
    KIND_PATTERN,
    CollectionError,
    DriftEvent,
    DriftKind,
    Evidence,
    FactKind,
    Finding,
    Kind,
    Redaction,
    Status,
    Verdict,
    canonical_json,
)

from . import actions as action_store
from . import attestations as att_store
from . import leases, migrate
from .actions import ActionRecord
from .anchors import LedgerRun
from .hashing import blob_sha256, row_hash, seal_document
from .leases import DEFAULT_LEASE_SECONDS, LeaseHolder, LeaseKeeper, RunLease
from .models import (
    RUN_TABLES,
    ApiToken,
    AttestationRecord,
    Base,
    EvidenceBlob,
    Run,
    RunCollectionError,
    RunDriftEvent,
    RunEvidence,
    RunFinding,
    RunSignature,
    RunVerdict,
)
from .signatures import Anchor, RunSigner, TrustedKey, sign_run
from .tokens import TokenRecord, to_record
from .verify import VerifyReport, verify

__all__ = [
    "ActionRecord",
    "CollectionLock",
    "CollectionLocked",
    "DriftRecord",
    "EvidenceRecord",
    "EvidenceRef",
    "JudgedRun",
    "LeaseHolder",
    "LeaseKeeper",
    "LeaseLost",
    "Ledger",
    "LedgerError",
    "RequirementVerdict",
    "RunLease",
    "RunRecord",
    "RunStatus",
    "TokenRecord",
    "VerifyReport",
]

_T = TypeVar("_T")
_CHUNK = 500  # rows per executemany / IN (...) list
_SEAL_ATTEMPTS = 5
_SEAL_LOCK_KEY = 0x73686F6B6F01  # PostgreSQL advisory lock taken while a run is being sealed


class LedgerError(Exception):
    """A ledger operation that cannot be done. The message is one line for people."""


class NoLedger(LedgerError):
    """A read command's database holds no shoko ledger it may read: missing, empty, another application's
    tables, or a schema this shoko would have to migrate first. Bad input, not a failed operation."""


class _Conflict(LedgerError):
    """A uniqueness constraint refused the write (a concurrent seal, a duplicate verdict)."""


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    # Its process was stopped (SIGTERM past the grace period) or vanished (its lease expired): sealed with
    # what it had stored, never complete.
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class RunRecord:
    id: int
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    error: str | None
    digest: str | None
    prev_digest: str | None
    agent_version: str
    config_digest: str
    scope: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)  # evidence / errors / findings / verdicts
    lease: RunLease | None = None  # who collected it and its lease's last renewal (None: before leases)
    chain_index: int | None = None  # position in the hash chain (seal order); None while running

    @property
    def sealed(self) -> bool:
        return self.status != RunStatus.RUNNING

    @property
    def kind(self) -> str:
        """`partial` for a run of chosen fact kinds (scope {"partial": true, "kinds": [...]}), else `full`."""
        return "partial" if self.scope.get("partial") else "full"

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None


@dataclass(frozen=True)
class CollectionLock:
    """What `Ledger.collection_lock` yields: whether this process got the lock, else what holds it."""

    name: str
    acquired: bool
    holder: RunRecord | None = None  # the run another process is collecting, if it has started one

    def describe(self) -> str:
        run = self.holder
        if run is None:
            return "no run started yet"
        where = f" on {run.lease.host}/{run.lease.pid}" if run.lease else ""
        return f"run {run.id}{where} since {run.started_at.isoformat(timespec='seconds')}"

    @property
    def reason(self) -> str:
        """Why this process may not collect now (empty when it holds the lock)."""
        return "" if self.acquired else f"another agent holds the collection lock ({self.describe()})"


@dataclass(frozen=True)
class DriftRecord:
    """A stored drift event with the run that found it and when that run was sealed."""

    id: int
    run_id: int
    detected_at: datetime  # the run's finish (seal) time
    event: DriftEvent


@dataclass(frozen=True)
class EvidenceRef:
    """One stored evidence record without its document: enough to name its file and fetch it later."""

    sha256: str
    kind: str
    resource_id: str
    source: str  # the fetcher
    collected_at: datetime


@dataclass(frozen=True)
class JudgedRun:
    """A completed run as drift detection sees it: whether it was full, and the checks it judged."""

    id: int
    full: bool
    checks: frozenset[str]


@dataclass(frozen=True)
class EvidenceRecord:
    """One stored evidence record as a finding cites it (where, when and how it was collected), without its
    document."""

    sha256: str
    kind: str
    source: str
    scope: str
    resource_id: str
    api_version: str
    request_id: str | None
    collected_at: datetime
    redactions: tuple[Redaction, ...] = ()


@dataclass(frozen=True)
class RequirementVerdict:
    """One requirement's verdict in one completed run, with what its history shows of the run."""

    run_id: int
    full: bool
    finished_at: datetime | None
    digest: str | None
    verdict: Verdict

    @property
    def kind(self) -> str:
        return "full" if self.full else "partial"


class CollectionLocked(LedgerError):
    """Another process holds the collection lock: no run was started."""

    def __init__(self, lock: CollectionLock) -> None:
        super().__init__(f"{lock.reason}; this run is skipped")
        self.lock = lock


class LeaseLost(LedgerError, leases.LeaseLost):
    """A run's lease cannot be renewed: the run is sealed, or another process holds its lease."""


_COUNT_KEYS: dict[type[Base], str] = {
    RunEvidence: "evidence",
    RunCollectionError: "errors",
    RunFinding: "findings",
    RunVerdict: "verdicts",
}


def redact_url(url: str | URL) -> str:
    """The URL with any password replaced by ***, safe for messages, logs and digests."""
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    return re.sub(r"([^:/@\s]+:)[^@/\s]+@", r"\1***@", text)


def _normalise_url(url: str | URL) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise LedgerError(
            f"not a database URL: {redact_url(url)!r} (expected sqlite:///path or postgresql+psycopg://...)"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg (3) is the driver shipped with shoko; SQLAlchemy's default would be psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise LedgerError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")
    return parsed


def _read_only_uri(path: Path) -> str:
    """An SQLite URI that opens `path` without writing anything. While a writer has the database open (its
    `-wal` file exists) the reader joins it read-only (`mode=ro`) and sees committed runs; otherwise the file is
    opened `immutable`, which creates no `-wal`/`-shm` files beside it — what a read-only copy handed to an
    auditor needs."""
    from urllib.parse import quote

    target = f"file:{quote(str(path.resolve()))}?mode=ro"
    if not Path(f"{path}-wal").exists():
        target += "&immutable=1"
    return target


def _aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise LedgerError(f"{what} must be a timezone-aware datetime (UTC), got {value!r}")
    return value.astimezone(UTC)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Ledger:
    def __init__(
        self,
        url: str | URL,
        *,
        echo: bool = False,
        read_only: bool = False,
        holder: LeaseHolder | None = None,
        signer: RunSigner | None = None,
        on_sealed: Callable[[Anchor], None] | None = None,
    ) -> None:
        """Open (and migrate) a ledger. `read_only=True` (read commands, the API, snapshot export): nothing is
        created, migrated or changed — a missing or empty database, another application's tables or an older
        schema is a NoLedger error, and every transaction is read-only. `holder`: whose leases this ledger
        takes (default: this process). `signer`: signs every run this ledger seals, in the seal's transaction;
        `on_sealed` then gets the signed digest (its anchor) to publish outside the database."""
        self.signer, self.on_sealed = signer, on_sealed
        self._url = _normalise_url(url)
        self.url = self._url.render_as_string(hide_password=True)
        self.read_only = read_only
        self.holder = holder or leases.this_process()
        self._memory_locks: dict[str, Any] = {}
        self._locks_held: set[tuple[str, int]] = set()  # (lock name, thread) held by this ledger
        path = self._sqlite_file()
        if read_only and path is not None and not path.is_file():
            raise NoLedger(f"no ledger database at {path} (no completed run yet: run `shoko collect` first)")
        self.engine = self._create_engine(echo)
        # SQLite: write transactions take the write lock up front (BEGIN IMMEDIATE), so a check such as
        # "is this run still running?" cannot go stale before the insert that depends on it.
        self._writer = self.engine.execution_options(shoko_write=True)
        self._reader = self.engine
        if self.engine.dialect.name == "postgresql":
            # One consistent snapshot for multi-query reads such as verify().
            self._reader = self.engine.execution_options(isolation_level="REPEATABLE READ")
        try:
            if read_only:
                with self._reader.connect() as connection:
                    migrate.require_current(connection, self.url)
            else:
                with self._writer.begin() as connection:
                    migrate.upgrade(connection)
        except migrate.NotALedger as exc:
            self.engine.dispose()
            raise NoLedger(str(exc)) from None
        except migrate.SchemaError as exc:
            self.engine.dispose()
            raise LedgerError(str(exc)) from None
        except DBAPIError as exc:
            self.engine.dispose()
            raise LedgerError(f"cannot open ledger database {self.url}: {_first_line(exc)}") from None

    def _sqlite_file(self) -> Path | None:
        """The database file of a SQLite ledger; None for PostgreSQL and in-memory SQLite."""
        if self._url.get_backend_name() != "sqlite" or self._url.database in (None, "", ":memory:"):
            return None
        return Path(self._url.database or "").expanduser()

    def _create_engine(self, echo: bool) -> Engine:
        url = self._url
        if url.get_backend_name() != "sqlite":
            # Read-only opens: PostgreSQL refuses any write in every transaction of these connections.
            options = {"options": "-c default_transaction_read_only=on"} if self.read_only else {}
            return create_engine(url, echo=echo, pool_pre_ping=True, connect_args=options)
        memory = url.database in (None, "", ":memory:")
        path = self._sqlite_file()
        if not memory and not self.read_only:
            Path(url.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {"poolclass": StaticPool} if memory else {}
        if self.read_only and path is not None:
            target = _read_only_uri(path)
            options["creator"] = lambda: sqlite3.connect(target, uri=True, timeout=30, check_same_thread=False)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30, "check_same_thread": False},
            **options,
        )
        wal = not memory and not self.read_only

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event below emits BEGIN
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")  # readers keep reading while a run writes
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            write = connection.get_execution_options().get("shoko_write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    # -- sessions -------------------------------------------------------------------------------

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Session]:
        with Session(self._writer if write else self._reader, expire_on_commit=False) as session:
            try:
                with session.begin():
                    yield session
            except IntegrityError as exc:
                raise _Conflict(f"ledger database refused the write: {_first_line(exc)}") from None
            except DBAPIError as exc:
                raise LedgerError(f"ledger database error: {_first_line(exc)}") from None
            except StatementError as exc:
                # A value the column type refused (e.g. a naive datetime), before reaching the database.
                raise LedgerError(f"ledger cannot store a value: {_first_line(exc.orig or exc)}") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------------

    def start_run(
        self,
        started_at: datetime,
        *,
        agent_version: str,
        config_digest: str,
        scope: dict[str, Any],
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
    ) -> int:
        """Open a run whose lease this ledger's holder takes: it expires `LEASE_PERIODS` lease periods after
        `started_at` unless renewed (`renew_lease`)."""
        started_at = _aware(started_at, "started_at")
        if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, int) or lease_seconds < 1:
            raise LedgerError(f"lease_seconds must be a whole number of seconds >= 1, got {lease_seconds!r}")
        try:
            # Store exactly what JSON gives back, so the sealed copy equals what is read later.
            scope = json.loads(canonical_json(scope))
        except (TypeError, ValueError) as exc:
            raise LedgerError(f"run scope is not JSON-serialisable: {exc}") from None
        with self._session(write=True) as session:
            run = Run(
                started_at=started_at,
                status=RunStatus.RUNNING.value,
                agent_version=agent_version,
                config_digest=config_digest,
                scope=scope,
                lease_host=self.holder.host,
                lease_pid=self.holder.pid,
                lease_token=self.holder.token,
                lease_renewed_at=started_at,
                lease_expires_at=leases.expiry(started_at, lease_seconds),
            )
            session.add(run)
            session.flush()
            return run.id

    def _running(self, session: Session, run_id: int) -> Run:
        # FOR KEY SHARE on PostgreSQL: a concurrent seal (FOR UPDATE) waits until these inserts are committed,
        # a lease renewal (FOR NO KEY UPDATE) does not.
        run = session.scalar(select(Run).where(Run.id == run_id).with_for_update(read=True, key_share=True))
        if run is None:
            raise LedgerError(f"run {run_id} does not exist")
        if run.status != RunStatus.RUNNING:
            raise LedgerError(f"run {run_id} is sealed ({run.status}); nothing can be added to it")
        return run

    def _insert_rows(self, session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
        for row in rows:
            row["row_hash"] = row_hash(model, row)
        for chunk in _chunks(rows):
            session.execute(insert(model), list(chunk))

    def add_evidence(self, run_id: int, items: Iterable[Evidence]) -> None:
        blobs: dict[str, str] = {}
        rows: list[dict[str, Any]] = []
        for item in items:
            try:
                document = canonical_json(item.content).decode()
            except (TypeError, ValueError) as exc:
                raise LedgerError(f"evidence {item.resource_id} is not JSON-serialisable: {exc}") from None
            sha = blob_sha256(document)
            if item.sha256 != sha:
                raise LedgerError(
                    f"evidence {item.resource_id}: sha256 {item.sha256} does not match its content ({sha})"
                )
            blobs[sha] = document
            rows.append(
                {
                    "run_id": run_id,
                    "kind": _kind(item.kind),
                    "source": item.source,
                    "scope": item.scope,
                    "resource_id": item.resource_id,
                    "api_version": item.api_version,
                    "request_id": item.request_id,
                    "collected_at": _aware(item.collected_at, f"collected_at of evidence {item.resource_id}"),
                    "sha256": sha,
                    "redactions": [r.as_dict() for r in item.redactions],
                }
            )
        with self._session(write=True) as session:
            self._running(session, run_id)
            dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            # Sorted, so concurrent runs storing overlapping blobs take row locks in one order (no deadlock).
            blob_rows = [{"sha256": s, "content": t, "size": len(t.encode())} for s, t in sorted(blobs.items())]
            for chunk in _chunks(blob_rows):
                # Content-addressed: a blob already stored (by any run) is simply referenced again.
                statement = dialect.insert(EvidenceBlob).on_conflict_do_nothing(index_elements=["sha256"])
                session.execute(statement, list(chunk))
            self._insert_rows(session, RunEvidence, rows)

    def add_collection_errors(self, run_id: int, items: Iterable[CollectionError]) -> None:
        rows = [
            {
                "run_id": run_id,
                "kind": _kind(item.kind),
                "source": item.source,
                "scope": item.scope,
                "code": item.code,
                "message": item.message,
                "status_code": item.status_code,
                "request_id": item.request_id,
                "occurred_at": _aware(item.occurred_at, f"occurred_at of collection error {item.code}"),
            }
            for item in items
        ]
        with self._session(write=True) as session:
            self._running(session, run_id)
            self._insert_rows(session, RunCollectionError, rows)

    def add_findings(self, run_id: int, items: Iterable[Finding]) -> None:
        findings = list(items)
        rows = [
            {
                "run_id": run_id,
                "check_id": item.check_id,
                "requirements": [int(n) for n in item.requirements],
                "status": _status(item.status, f"finding {item.check_id} on {item.resource_id}"),
                "resource_id": item.resource_id,
                "reason_ja": item.reason_ja,
                "reason_en": item.reason_en,
                "evidence": list(item.evidence),
            }
            for item in findings
        ]
        with self._session(write=True) as session:
            self._running(session, run_id)
            # A finding must point at evidence this run stored, or its verdict could not be reproduced.
            cited = sorted({sha for item in findings for sha in item.evidence})
            stored: set[str] = set()
            for chunk in _chunks(cited):
                stored.update(
                    session.scalars(
                        select(RunEvidence.sha256)
                        .where(RunEvidence.run_id == run_id, RunEvidence.sha256.in_(chunk))
                        .distinct()
                    )
                )
            for item in findings:
                # A pass stands on what was seen; a fail may be the absence of a setting, an error what could not
                # be seen (a collection error, a check that raised): those two may cite no evidence record.
                if not item.evidence and str(item.status) == Status.PASS:
                    raise LedgerError(
                        f"finding {item.check_id} on {item.resource_id} is a pass that cites no evidence record"
                    )
                missing = [sha for sha in item.evidence if sha not in stored]
                if missing:
                    raise LedgerError(
                        f"finding {item.check_id} on {item.resource_id} cites evidence {missing[0]} "
                        f"that run {run_id} has not stored"
                    )
            self._insert_rows(session, RunFinding, rows)

    def add_verdicts(self, run_id: int, items: Iterable[Verdict]) -> None:
        rows = [
            {
                "run_id": run_id,
                "requirement": int(item.requirement),
                "status": _status(item.status, f"verdict for No {item.requirement}"),
                "reason_ja": item.reason_ja,
                "reason_en": item.reason_en,
                "check_ids": list(item.check_ids),
                "findings_pass": int(item.findings_pass),
                "findings_fail": int(item.findings_fail),
                "findings_error": int(item.findings_error),
            }
            for item in items
        ]
        seen: set[int] = set()
        for row in rows:
            if row["requirement"] in seen:
                raise LedgerError(f"two verdicts for requirement No {row['requirement']} in run {run_id}")
            seen.add(row["requirement"])
        try:
            with self._session(write=True) as session:
                self._running(session, run_id)
                _check_verdicts_cite_findings(session, run_id, rows)
                self._insert_rows(session, RunVerdict, rows)
        except _Conflict:
            raise LedgerError(f"run {run_id} already has a verdict for one of these requirements") from None

    def add_drift_events(self, run_id: int, items: Iterable[DriftEvent]) -> None:
        """Store a running run's drift events (alerts/drift.py); sealed with the run like its findings."""
        rows = []
        for item in items:
            what = f"drift event {item.kind!r} on {item.check_id or 'a verdict'}"
            try:
                kind = DriftKind(item.kind).value
            except ValueError:
                raise LedgerError(f"{what}: unknown drift kind") from None
            rows.append(
                {
                    "run_id": run_id,
                    "kind": kind,
                    "check_id": item.check_id,
                    "resource_id": item.resource_id,
                    "requirements": [int(n) for n in item.requirements],
                    "status_before": None if item.before is None else _status(item.before, what),
                    "status_after": None if item.after is None else _status(item.after, what),
                    "reason_ja": item.reason_ja,
                    "reason_en": item.reason_en,
                    "previous_run": None if item.previous_run is None else int(item.previous_run),
                }
            )
        with self._session(write=True) as session:
            self._running(session, run_id)
            self._insert_rows(session, RunDriftEvent, rows)

    def complete_run(self, run_id: int, finished_at: datetime) -> str:
        return self._seal(run_id, finished_at, RunStatus.COMPLETED, None)

    def fail_run(self, run_id: int, finished_at: datetime, error: str) -> str:
        return self._seal(run_id, finished_at, RunStatus.FAILED, error)

    def interrupt_run(self, run_id: int, at: datetime, reason: str) -> str:
        """Seal a running run as interrupted (e.g. on SIGTERM past the grace period): chained like a failed
        run, with the rows it stored; nothing can be added to it afterwards. Returns its digest."""
        return self._seal(run_id, at, RunStatus.INTERRUPTED, reason)

    # -- leases -----------------------------------------------------------------------------------

    def renew_lease(self, run_id: int, token: str | None = None, at: datetime | None = None) -> datetime:
        """Renew a running run's lease for the holder with `token` (default: this ledger's holder) from `at`
        (default: now) by the window it was started with. Returns the new expiry."""
        token = token or self.holder.token
        at = _aware(at or datetime.now(UTC), "at")
        with self._session(write=True) as session:
            # FOR NO KEY UPDATE: waits for a seal, not for inserts into the run.
            run = session.scalar(select(Run).where(Run.id == run_id).with_for_update(key_share=True))
            if run is None:
                raise LedgerError(f"run {run_id} does not exist")
            if run.status != RunStatus.RUNNING:
                raise LeaseLost(f"run {run_id} is sealed ({run.status}); its lease cannot be renewed")
            if run.lease_token is None or run.lease_renewed_at is None or run.lease_expires_at is None:
                raise LeaseLost(f"run {run_id} was started without a lease")
            if run.lease_token != token:
                holder = f"{run.lease_host}/{run.lease_pid}"
                raise LeaseLost(f"run {run_id}'s lease is held by {holder}, not by this process")
            at = max(at, run.lease_renewed_at)
            window = run.lease_expires_at - run.lease_renewed_at
            run.lease_renewed_at, run.lease_expires_at = at, at + window
            return at + window

    def keep_lease(self, run_id: int, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> LeaseKeeper:
        """Renew this holder's lease of `run_id` every `lease_seconds` on a background thread until the
        keeper's `stop()`. In-memory SQLite gets no thread: its one shared connection cannot take a second
        transaction at once, and no other process can see (or reap) its runs anyway."""
        return LeaseKeeper(
            run_id,
            lambda: self.renew_lease(run_id),
            lease_seconds,
            thread=self.engine.dialect.name == "postgresql" or self._sqlite_file() is not None,
        )

    def running_runs_of_this_process(self) -> list[int]:
        """Ids of the runs still running under this ledger's lease holder (to seal them on shutdown)."""
        with self._session(write=False) as session:
            query = select(Run.id).where(Run.status == RunStatus.RUNNING.value, Run.lease_token == self.holder.token)
            return list(session.scalars(query.order_by(Run.id)).all())

    def abandoned_runs(self, now: datetime) -> list[tuple[RunRecord, str]]:
        """The running runs abandoned at `now`, oldest first, with why — without sealing them (read commands
        report them; the next collection seals them). Abandoned: its lease expired and, when its holder was on
        this host, that process is gone (a live holder that stopped renewing keeps its run). Runs started
        before leases existed count as abandoned."""
        rows = self._abandoned_rows(now)
        with self._session(write=False) as session:
            records = self._records(session, [run for run, _ in rows])
        return [(record, reason) for record, (_, reason) in zip(records, rows, strict=True)]

    def _abandoned_rows(self, now: datetime) -> list[tuple[Run, str]]:
        now = _aware(now, "now")
        with self._session(write=False) as session:
            candidates = session.scalars(
                select(Run)
                .where(
                    Run.status == RunStatus.RUNNING.value,
                    or_(Run.lease_expires_at.is_(None), Run.lease_expires_at < now),
                )
                .order_by(Run.id)
            ).all()
        return [(run, reason) for run in candidates if (reason := self._abandoned(run, now)) is not None]

    def reap_abandoned(self, now: datetime) -> list[RunRecord]:
        """Seal as interrupted every running run abandoned at `now` (see abandoned_runs). Returns the runs
        sealed, oldest first."""
        reaped: list[RunRecord] = []
        for run, reason in self._abandoned_rows(now):
            finished = run.lease_renewed_at or run.started_at  # the last moment it was known to be alive
            try:
                self._seal(run.id, finished, RunStatus.INTERRUPTED, reason, _lease_unchanged(run))
            except LedgerError as exc:
                current = self.run(run.id)
                if current.status == RunStatus.RUNNING and current.lease == _lease(run):
                    # Neither sealed nor renewed meanwhile: the seal itself failed (e.g. a read-only role).
                    leases.log.warning("run %d is abandoned but could not be sealed interrupted: %s", run.id, exc)
                continue  # else sealed or renewed by its holder, or reaped by another process, meanwhile
            reaped.append(self.run(run.id))
        return reaped

    def _abandoned(self, run: Run, now: datetime) -> str | None:
        """Why a running run whose lease expired is abandoned, or None while its holder still runs here."""
        marked = f"marked at {now.isoformat(timespec='seconds')} by {self.holder}"
        if run.lease_host is None or run.lease_pid is None or run.lease_renewed_at is None:
            return (
                f"interrupted: started without a lease (before run leases existed) and never sealed; {marked} / "
                "中断: リースなしで開始され、封印されないまま残っていました"
            )
        holder = LeaseHolder(run.lease_host, run.lease_pid, run.lease_token or "")
        renewed = run.lease_renewed_at.isoformat(timespec="seconds")
        expired = run.lease_expires_at.isoformat(timespec="seconds") if run.lease_expires_at else "?"
        if holder.host == leases.this_process().host:
            if not leases.process_gone(holder, run.started_at):
                return None
            why, why_ja = f"process {holder.pid} on {holder.host} is gone", f"プロセス {holder.pid} は終了しています"
        else:
            why, why_ja = f"no renewal from {holder.host} since", f"{holder.host} から更新がありません"
        return (
            f"interrupted: lease last renewed at {renewed} by {holder}, expired at {expired} ({why}); {marked} / "
            f"中断: リースの最終更新 {renewed}({holder})、期限 {expired}、{why_ja}"
        )

    @contextmanager
    def collection_lock(self, name: str = "collect") -> Iterator[CollectionLock]:
        """Try, without waiting, to become the one process collecting into this database; yields whether
        it did and, if not, what holds the lock. PostgreSQL: a session advisory lock on a connection of its
        own; SQLite file: flock on `<database>.<name>.lock`; in-memory SQLite: a process-local lock.
        Re-entrant within one thread (an agent holding the lock may call `run_once`, which takes it too)."""
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
            raise LedgerError(f"collection lock name {name!r} is not a short lower-case name such as 'collect'")
        mine = (name, threading.get_ident())
        if mine in self._locks_held:
            yield CollectionLock(name, True)
            return
        path = self._sqlite_file()
        if self.engine.dialect.name == "postgresql":
            lock = leases.postgresql_lock(self.engine, name)
        elif path is not None:
            lock = leases.file_lock(path.with_name(f"{path.name}.{name}.lock"))
        else:
            lock = leases.memory_lock(self._memory_locks, name)
        with ExitStack() as stack:
            try:
                acquired = stack.enter_context(lock)
            except DBAPIError as exc:
                raise LedgerError(f"cannot take the collection lock on {self.url}: {_first_line(exc)}") from None
            except OSError as exc:
                raise LedgerError(f"cannot take the collection lock {name!r}: {exc}") from None
            if not acquired:
                yield CollectionLock(name, False, self._lock_holder())
                return
            self._locks_held.add(mine)
            try:
                yield CollectionLock(name, True)
            finally:
                self._locks_held.discard(mine)

    def _lock_holder(self) -> RunRecord | None:
        """The newest running run another holder collects (what holds the lock, as far as the runs show)."""
        with self._session(write=False) as session:
            run = session.scalar(
                select(Run)
                .where(
                    Run.status == RunStatus.RUNNING.value,
                    or_(Run.lease_token.is_(None), Run.lease_token != self.holder.token),
                )
                .order_by(Run.id.desc())
                .limit(1)
            )
            return self._records(session, [run])[0] if run else None

    def _seal(
        self,
        run_id: int,
        finished_at: datetime,
        status: RunStatus,
        error: str | None,
        still: Callable[[Run], str | None] | None = None,
    ) -> str:
        finished_at = _aware(finished_at, "finished_at")
        conflict: _Conflict | None = None
        anchor: Anchor | None = None
        for _attempt in range(_SEAL_ATTEMPTS):
            anchor = None
            try:
                with self._session(write=True) as session:
                    if session.get_bind().dialect.name == "postgresql":
                        # Seals queue up for the chain's tail (SQLite's BEGIN IMMEDIATE already does this).
                        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEAL_LOCK_KEY})
                    run = session.scalar(
                        select(Run).where(Run.id == run_id).options(undefer(Run.seal)).with_for_update()
                    )
                    if run is None:
                        raise LedgerError(f"run {run_id} does not exist")
                    if run.status != RunStatus.RUNNING:
                        raise LedgerError(f"run {run_id} is already sealed ({run.status})")
                    if still is not None and (why := still(run)):
                        raise LedgerError(f"run {run_id} {why}")
                    if finished_at < run.started_at:
                        raise LedgerError(
                            f"run {run_id}: finished_at {finished_at.isoformat()} is before "
                            f"started_at {run.started_at.isoformat()}"
                        )
                    last = session.execute(
                        select(Run.chain_index, Run.digest)
                        .where(Run.chain_index.is_not(None))
                        .order_by(Run.chain_index.desc())
                        .limit(1)
                    ).first()
                    manifest = {model.__tablename__: _row_hashes(session, model, run_id) for model in RUN_TABLES}
                    # All columns change in one UPDATE: the database accepts exactly one change to a run.
                    with session.no_autoflush:
                        run.chain_index = (last.chain_index + 1) if last else 1
                        run.prev_digest = last.digest if last else None
                        run.finished_at = finished_at
                        run.status = status.value
                        run.error = error
                        run.seal = seal_document(run, manifest)
                        run.digest = blob_sha256(run.seal)
                    session.flush()
                    if self.signer is not None:
                        anchor = sign_run(session, run, self.signer, datetime.now(UTC))
                    digest = run.digest
                break
            except _Conflict as exc:
                # Most likely another run took this chain position at the same moment: re-read the tail.
                conflict = exc
        else:
            raise LedgerError(f"run {run_id} could not be sealed: {conflict}")
        if anchor is not None and self.on_sealed is not None:
            self.on_sealed(anchor)  # after the commit: a publisher that fails cannot undo the seal
        return digest

    # -- reading ----------------------------------------------------------------------------------

    def _records(self, session: Session, runs: Sequence[Run]) -> list[RunRecord]:
        ids = [run.id for run in runs]
        counts: dict[int, dict[str, int]] = {run_id: dict.fromkeys(_COUNT_KEYS.values(), 0) for run_id in ids}
        for model, key in _COUNT_KEYS.items():
            column = model.__table__.c.run_id
            for chunk in _chunks(ids):
                for run_id, n in session.execute(
                    select(column, func.count()).where(column.in_(chunk)).group_by(column)
                ):
                    counts[run_id][key] = n
        return [
            RunRecord(
                id=run.id,
                started_at=run.started_at,
                finished_at=run.finished_at,
                status=RunStatus(run.status),
                error=run.error,
                digest=run.digest,
                prev_digest=run.prev_digest,
                agent_version=run.agent_version,
                config_digest=run.config_digest,
                scope=run.scope,
                counts=counts[run.id],
                lease=_lease(run),
                chain_index=run.chain_index,
            )
            for run in runs
        ]

    def _get_run(self, session: Session, run_id: int) -> Run:
        run = session.get(Run, run_id)
        if run is None:
            raise LedgerError(f"run {run_id} does not exist")
        return run

    def run(self, run_id: int) -> RunRecord:
        with self._session(write=False) as session:
            return self._records(session, [self._get_run(session, run_id)])[0]

    def runs(self) -> list[RunRecord]:
        """Every run, sealed or still running, oldest first."""
        with self._session(write=False) as session:
            return self._records(session, session.scalars(select(Run).order_by(Run.id)).all())

    def _sealed_query(self, completed_only: bool, full_only: bool = False) -> Any:
        wanted = ("completed",) if completed_only else ("completed", "failed", "interrupted")
        query = select(Run).where(Run.status.in_(wanted), Run.chain_index.is_not(None))
        return query.where(full_run()) if full_only else query

    def latest_run(self, *, completed_only: bool = False, full_only: bool = False) -> RunRecord | None:
        """The most recently sealed run (completed, failed or interrupted; only completed if asked; only a
        full run, not a partial one of chosen fact kinds, if asked)."""
        with self._session(write=False) as session:
            query = self._sealed_query(completed_only, full_only).order_by(Run.chain_index.desc()).limit(1)
            run = session.scalar(query)
            return self._records(session, [run])[0] if run else None

    def run_as_of(self, ts: datetime, *, completed_only: bool = False, full_only: bool = False) -> RunRecord | None:
        """The run that was current at `ts`: the latest one sealed (finished) at or before it (only a
        completed one, only a full one, if asked)."""
        ts = _aware(ts, "ts")
        with self._session(write=False) as session:
            run = session.scalar(
                self._sealed_query(completed_only, full_only)
                .where(Run.finished_at <= ts)
                .order_by(Run.finished_at.desc(), Run.chain_index.desc())
                .limit(1)
            )
            return self._records(session, [run])[0] if run else None

    def recent_runs(self, limit: int) -> list[RunRecord]:
        """The `limit` newest runs (by id), newest first, sealed or still running."""
        with self._session(write=False) as session:
            query = select(Run).order_by(Run.id.desc()).limit(max(0, int(limit)))
            return self._records(session, session.scalars(query).all())

    def runs_with_status(self, statuses: Collection[str]) -> list[RunRecord]:
        """The runs in these states (e.g. running and interrupted), oldest first, without reading the others."""
        with self._session(write=False) as session:
            query = select(Run).where(Run.status.in_(sorted({str(s) for s in statuses}))).order_by(Run.id)
            return self._records(session, session.scalars(query).all())

    def partial_runs_after(self, run_id: int | None, until: datetime | None = None) -> list[RunRecord]:
        """The sealed partial runs with an id above `run_id` (every one, without it), finished at or before
        `until` if given, oldest first: what a read of a full run mentions as newer."""
        with self._session(write=False) as session:
            query = select(Run).where(Run.status != RunStatus.RUNNING.value, ~full_run())
            if run_id is not None:
                query = query.where(Run.id > run_id)
            if until is not None:
                query = query.where(Run.finished_at <= _aware(until, "until"))
            return self._records(session, session.scalars(query.order_by(Run.id)).all())

    def requirement_verdicts(self, number: int) -> list[RequirementVerdict]:
        """Requirement No `number`'s verdict in every completed run that holds one, in run id order (one indexed
        query, not every run's verdicts)."""
        with self._session(write=False) as session:
            query = (
                select(RunVerdict, Run.scope, Run.finished_at, Run.digest)
                .join(Run, Run.id == RunVerdict.run_id)
                .where(RunVerdict.requirement == int(number), Run.status == RunStatus.COMPLETED.value)
                .order_by(Run.id)
            )
            return [
                RequirementVerdict(
                    row.run_id,
                    not (isinstance(scope, dict) and scope.get("partial")),
                    finished_at,
                    digest,
                    _convert(_to_verdict, row),
                )
                for row, scope, finished_at, digest in session.execute(query)
            ]

    def requirement_findings(self, run_id: int, number: int) -> list[Finding]:
        """The run's findings that name requirement No `number`, in stored order (the database picks them from
        each finding's list of numbers)."""
        table = RunFinding.__table__
        with self._session(write=False) as session:
            self._get_run(session, run_id)
            if session.get_bind().dialect.name == "postgresql":
                names = text("CAST(findings.requirements AS jsonb) @> CAST(:numbers AS jsonb)").bindparams(
                    numbers=json.dumps([int(number)])
                )
            else:
                names = text(
                    "EXISTS (SELECT 1 FROM json_each(findings.requirements) WHERE json_each.value = :number)"
                ).bindparams(number=int(number))
            query = select(table).where(table.c.run_id == run_id, names).order_by(table.c.id)
            out = []
            for row in session.execute(query):
                try:
                    out.append(_to_finding(row))
                except (ValueError, TypeError) as exc:
                    raise LedgerError(f"findings row {row.id} cannot be read ({exc}); run `shoko verify`") from None
            return out

    def evidence_records(self, run_id: int, shas: Collection[str]) -> list[EvidenceRecord]:
        """Every evidence record of the run with one of these SHA-256s (a document stored for several resources
        is several records), in stored order, without the documents."""
        table = RunEvidence.__table__
        rows: list[Any] = []
        with self._session(write=False) as session:
            self._get_run(session, run_id)
            for chunk in _chunks(sorted(set(shas))):
                query = select(table).where(table.c.run_id == run_id, table.c.sha256.in_(chunk))
                rows.extend(session.execute(query))
        rows.sort(key=lambda row: row.id)
        return [
            EvidenceRecord(
                sha256=row.sha256,
                kind=row.kind,
                source=row.source,
                scope=row.scope,
                resource_id=row.resource_id,
                api_version=row.api_version,
                request_id=row.request_id,
                collected_at=row.collected_at,
                redactions=tuple(Redaction(str(r["path"]), str(r["rule"])) for r in row.redactions or ()),
            )
            for row in rows
        ]

    def evidence(self, run_id: int, kinds: Collection[str] | None = None) -> list[Evidence]:
        """The run's evidence records with their documents (only those of `kinds`, if given)."""
        with self._session(write=False) as session:
            rows = self._rows(session, RunEvidence, run_id)
            if kinds is not None:
                wanted = {str(k) for k in kinds}
                rows = [row for row in rows if row.kind in wanted]
            return self._with_contents(session, rows)

    def _with_contents(self, session: Session, rows: Sequence[RunEvidence]) -> list[Evidence]:
        contents: dict[str, str] = {}
        for chunk in _chunks(sorted({row.sha256 for row in rows})):
            query = select(EvidenceBlob.sha256, EvidenceBlob.content).where(EvidenceBlob.sha256.in_(chunk))
            contents.update({sha: content for sha, content in session.execute(query)})
        return [_convert(_to_evidence, row, contents.get(row.sha256)) for row in rows]

    def evidence_refs(self, run_id: int) -> list[EvidenceRef]:
        """What the run stored, without the documents (sha256, kind, resource id, fetcher, time), in stored order."""
        with self._session(write=False) as session:
            self._get_run(session, run_id)
            query = (
                select(
                    RunEvidence.sha256,
                    RunEvidence.kind,
                    RunEvidence.resource_id,
                    RunEvidence.source,
                    RunEvidence.collected_at,
                )
                .where(RunEvidence.run_id == run_id)
                .order_by(RunEvidence.id)
            )
            return [
                EvidenceRef(sha, kind, resource_id, source, collected)
                for sha, kind, resource_id, source, collected in session.execute(query)
            ]

    def evidence_by_sha256(self, run_id: int, shas: Collection[str]) -> dict[str, Evidence]:
        """The run's evidence records with these SHA-256s, with their documents (the first record of each)."""
        out: dict[str, Evidence] = {}
        with self._session(write=False) as session:
            for chunk in _chunks(sorted(set(shas))):
                query = (
                    select(RunEvidence)
                    .where(RunEvidence.run_id == run_id, RunEvidence.sha256.in_(chunk))
                    .order_by(RunEvidence.id)
                )
                for ev in self._with_contents(session, session.scalars(query).all()):
                    out.setdefault(ev.sha256, ev)
        return out

    def evidence_by_sha(self, sha: str) -> dict[str, Any]:
        with self._session(write=False) as session:
            content = session.scalar(select(EvidenceBlob.content).where(EvidenceBlob.sha256 == sha))
        if content is None:
            raise LedgerError(f"no evidence with sha256 {sha}")
        try:
            return json.loads(content)
        except ValueError as exc:
            raise LedgerError(f"evidence_blobs row {sha} cannot be read ({exc}); run `shoko verify`") from None

    def collection_errors(self, run_id: int) -> list[CollectionError]:
        with self._session(write=False) as session:
            return [_convert(_to_collection_error, row) for row in self._rows(session, RunCollectionError, run_id)]

    def findings(self, run_id: int) -> list[Finding]:
        with self._session(write=False) as session:
            return [_convert(_to_finding, row) for row in self._rows(session, RunFinding, run_id)]

    def findings_in_batches(self, run_id: int, size: int = 2000) -> Iterator[list[Finding]]:
        """The run's findings in stored order, `size` at a time: a caller that only writes them out never holds
        a large estate's every finding at once."""
        with self._session(write=False) as session:
            self._get_run(session, run_id)
        after = 0
        while True:
            with self._session(write=False) as session:
                query = select(RunFinding).where(RunFinding.run_id == run_id, RunFinding.id > after)
                try:
                    rows = session.scalars(query.order_by(RunFinding.id).limit(size)).all()
                except (ValueError, TypeError) as exc:
                    raise LedgerError(f"findings of run {run_id} cannot be read ({exc}); run `shoko verify`") from None
                batch = [_convert(_to_finding, row) for row in rows]
                last = rows[-1].id if rows else after
            if batch:
                yield batch
            if len(batch) < size:
                return
            after = last

    def verdicts(self, run_id: int) -> list[Verdict]:
        with self._session(write=False) as session:
            return [_convert(_to_verdict, row) for row in self._rows(session, RunVerdict, run_id)]

    def findings_of(self, run_ids: Collection[int], check_ids: Collection[str]) -> dict[int, list[Finding]]:
        """The findings of some checks in some runs, per run id (in stored order up to 500 check ids)."""
        out: dict[int, list[Finding]] = {int(r): [] for r in run_ids}
        checks = sorted(set(check_ids))
        with self._session(write=False) as session:
            for runs in _chunks(sorted(out)):
                for chunk in _chunks(checks):
                    query = select(RunFinding).where(RunFinding.run_id.in_(runs), RunFinding.check_id.in_(chunk))
                    for row in session.scalars(query.order_by(RunFinding.id)):
                        out[row.run_id].append(_convert(_to_finding, row))
        return out

    def judged_history(self, run_id: int, page: int = 50) -> Iterator[JudgedRun]:
        """Completed runs before `run_id` (every completed run while it is still running), newest first, each
        with the checks it judged: those its scope lists (a partial run's `checks`), else those its findings
        and verdicts name. Read a page at a time, so a caller that stops early reads little."""
        with self._session(write=False) as session:
            chain_index = self._get_run(session, run_id).chain_index
        while True:
            with self._session(write=False) as session:
                query = select(Run.id, Run.chain_index, Run.scope).where(
                    Run.status == RunStatus.COMPLETED.value, Run.chain_index.is_not(None), Run.id != run_id
                )
                if chain_index is not None:
                    query = query.where(Run.chain_index < chain_index)
                batch = session.execute(query.order_by(Run.chain_index.desc()).limit(page)).all()
                scopes = {rid: scope if isinstance(scope, dict) else {} for rid, _, scope in batch}
                checks: dict[int, set[str]] = {}
                unlisted = []
                for rid, scope in scopes.items():
                    if isinstance(scope.get("checks"), list):
                        checks[rid] = {str(c) for c in scope["checks"]}
                    else:
                        checks[rid] = set()
                        unlisted.append(rid)
                if unlisted:
                    found = select(RunFinding.run_id, RunFinding.check_id).where(RunFinding.run_id.in_(unlisted))
                    for rid, check_id in session.execute(found.distinct()):
                        checks[rid].add(check_id)
                    mapped = select(RunVerdict.run_id, RunVerdict.check_ids).where(RunVerdict.run_id.in_(unlisted))
                    for rid, ids in session.execute(mapped):
                        checks[rid].update(str(c) for c in ids or ())
            for rid, _, _ in batch:
                yield JudgedRun(rid, not scopes[rid].get("partial"), frozenset(checks[rid]))
            if len(batch) < page:
                return
            chain_index = batch[-1][1]

    def drift_events(self, since: datetime | None = None, run_id: int | None = None) -> list[DriftRecord]:
        """Drift events of completed runs, newest run first (in detection order within a run); `since`:
        runs sealed at or after it; `run_id`: that run only."""
        with self._session(write=False) as session:
            query = (
                select(RunDriftEvent, Run.finished_at)
                .join(Run, Run.id == RunDriftEvent.run_id)
                .where(Run.status == RunStatus.COMPLETED.value)
            )
            if run_id is not None:
                self._get_run(session, run_id)
                query = query.where(RunDriftEvent.run_id == run_id)
            if since is not None:
                query = query.where(Run.finished_at >= _aware(since, "since"))
            query = query.order_by(Run.chain_index.desc(), RunDriftEvent.id)
            try:
                rows = session.execute(query).all()
            except (ValueError, TypeError) as exc:
                raise LedgerError(f"drift_events cannot be read ({exc}); run `shoko verify`") from None
            return [
                DriftRecord(row.id, row.run_id, finished_at, _convert(_to_drift_event, row))
                for row, finished_at in rows
            ]

    def _rows(self, session: Session, model: type[Any], run_id: int) -> Sequence[Any]:
        self._get_run(session, run_id)
        try:
            return session.scalars(select(model).where(model.run_id == run_id).order_by(model.id)).all()
        except (ValueError, TypeError) as exc:
            raise LedgerError(
                f"{model.__tablename__} of run {run_id} cannot be read ({exc}); run `shoko verify`"
            ) from None

    # -- integrity --------------------------------------------------------------------------------

    def verify(self, trusted: TrustedKey | None = None) -> VerifyReport:
        """`trusted`: the key every run signature must have been made with (else each is checked against the
        key stored with it)."""
        with self._session(write=False) as session:
            return verify(session, trusted)

    def chain(self) -> list[LedgerRun]:
        """Every sealed run in chain order, with whether it holds a signature (to compare with the anchors)."""
        with self._session(write=False) as session:
            signed = set(session.scalars(select(RunSignature.run_id)))
            rows = session.execute(
                select(Run.id, Run.chain_index, Run.digest)
                .where(Run.chain_index.is_not(None))
                .order_by(Run.chain_index)
            )
            return [LedgerRun(r.id, r.chain_index, r.digest or "", r.id in signed) for r in rows]

    # -- attestations -------------------------------------------------------------------------------

    def record_attestation(self, attestation: Attestation, documents: Sequence[tuple[bytes, str]] = ()) -> str:
        """Append an attestation and store its documents ((bytes, media type) each, already named in
        `attestation.documents`); returns the record's chain hash. An id already recorded is refused."""
        for _ in range(_SEAL_ATTEMPTS):
            try:
                with self._session(write=True) as session:
                    if session.scalar(select(func.count()).where(AttestationRecord.attestation_id == attestation.id)):
                        raise LedgerError(f"attestation {attestation.id} is already recorded")
                    for data, media_type in documents:
                        att_store.store_document(session, data, media_type)
                    at = attestation.recorded_at or datetime.now(UTC)
                    return att_store.append(session, att_store.ADD, attestation.id, attestation.content(), at)
            except _Conflict:
                continue  # another writer appended first; take the new end of the chain
        raise LedgerError("attestation could not be appended: the chain kept moving (concurrent writers)")

    def revoke_attestation(self, attestation_id: str, revoked_by: str, reason: str, at: datetime) -> str:
        for _ in range(_SEAL_ATTEMPTS):
            try:
                with self._session(write=True) as session:
                    actions = set(
                        session.scalars(
                            select(AttestationRecord.action).where(AttestationRecord.attestation_id == attestation_id)
                        )
                    )
                    if att_store.ADD not in actions:
                        raise LedgerError(f"no attestation {attestation_id} is recorded")
                    if att_store.REVOKE in actions:
                        raise LedgerError(f"attestation {attestation_id} is already revoked")
                    content = {
                        "id": attestation_id,
                        "revoked_by": revoked_by,
                        "revoked_at": _aware(at, "at").isoformat(),
                        "reason": reason,
                    }
                    return att_store.append(session, att_store.REVOKE, attestation_id, content, _aware(at, "at"))
            except _Conflict:
                continue
        raise LedgerError("revocation could not be appended: the chain kept moving (concurrent writers)")

    def attestations(self) -> list[Attestation]:
        """Every attestation recorded, oldest first, with its revocation if any."""
        with self._session(write=False) as session:
            return att_store.load(session)

    def attestation_document(self, sha256: str) -> tuple[str, bytes] | None:
        """(media type, bytes) of a stored document, or None."""
        with self._session(write=False) as session:
            return att_store.document(session, sha256)

    # -- API tokens and the record of API writes -------------------------------------------------------

    def record_action(
        self, action: str, subject: str, actor: str, content: dict[str, Any], at: datetime | None = None
    ) -> str:
        """Append one write to the chained record of API writes; returns its chain hash."""
        at = _aware(at or datetime.now(UTC), "at")
        for _ in range(_SEAL_ATTEMPTS):
            try:
                with self._session(write=True) as session:
                    return action_store.append(session, action, subject, actor, content, at)
            except _Conflict:
                continue  # another writer appended first; take the new end of the chain
        raise LedgerError("action could not be recorded: the chain kept moving (concurrent writers)")

    def actions(self, action: str | None = None) -> list[ActionRecord]:
        """The recorded API writes (of one kind, if given), oldest first."""
        with self._session(write=False) as session:
            return action_store.load(session, action)

    def add_token(self, token: TokenRecord, details: dict[str, Any]) -> None:
        """Store a new token and record its creation (by `token.created_by`) in one transaction."""
        for _ in range(_SEAL_ATTEMPTS):
            try:
                with self._session(write=True) as session:
                    if session.scalar(select(func.count()).where(ApiToken.name == token.name)):
                        raise LedgerError(f"a token named {token.name!r} already exists (names are never reused)")
                    session.add(
                        ApiToken(
                            id=token.id,
                            name=token.name,
                            role=token.role,
                            secret_sha256=token.secret_sha256,
                            created_at=_aware(token.created_at, "created_at"),
                            created_by=token.created_by,
                            expires_at=_aware(token.expires_at, "expires_at"),
                        )
                    )
                    content = {
                        **details,
                        "name": token.name,
                        "role": token.role,
                        "expires_at": token.expires_at.isoformat(),
                    }
                    action_store.append(
                        session, action_store.TOKEN_CREATE, token.id, token.created_by, content, token.created_at
                    )
                    return
            except _Conflict:
                continue
        raise LedgerError("token could not be stored: the record kept moving (concurrent writers)")

    def revoke_token(self, which: str, by: str, at: datetime, details: dict[str, Any]) -> TokenRecord:
        """Revoke a token named by its id or its name, and record who did it; an unknown or already revoked
        token is an error."""
        at = _aware(at, "at")
        for _ in range(_SEAL_ATTEMPTS):
            try:
                with self._session(write=True) as session:
                    row = session.get(ApiToken, which) or session.scalar(select(ApiToken).where(ApiToken.name == which))
                    if row is None:
                        raise LedgerError(f"no token {which!r} (see `shoko token list`)")
                    if row.revoked_at is not None:
                        raise LedgerError(f"token {row.name!r} is already revoked")
                    row.revoked_at, row.revoked_by = at, by
                    action_store.append(
                        session, action_store.TOKEN_REVOKE, row.id, by, {**details, "name": row.name}, at
                    )
                    session.flush()
                    return to_record(row)
            except _Conflict:
                continue
        raise LedgerError("revocation could not be recorded: the record kept moving (concurrent writers)")

    def tokens(self) -> list[TokenRecord]:
        with self._session(write=False) as session:
            return [to_record(r) for r in session.scalars(select(ApiToken).order_by(ApiToken.created_at))]

    def token(self, token_id: str) -> TokenRecord | None:
        with self._session(write=False) as session:
            row = session.get(ApiToken, token_id)
            return to_record(row) if row is not None else None

    def token_used(self, token_id: str, at: datetime) -> None:
        """Note a token's last use (state, not a record: it moves)."""
        with self._session(write=True) as session:
            row = session.get(ApiToken, token_id)
            if row is not None:
                row.last_used_at = _aware(at, "at")

    def evidence_record(self, sha256: str, as_of: datetime | None = None) -> tuple[int, Evidence] | None:
        """The newest sealed run's record of a piece of evidence (sealed at or before `as_of`, if given):
        (run id, evidence with its content), or None."""
        with self._session(write=False) as session:
            query = (
                select(RunEvidence)
                .join(Run, Run.id == RunEvidence.run_id)
                .where(RunEvidence.sha256 == sha256, Run.chain_index.is_not(None))
            )
            if as_of is not None:
                query = query.where(Run.finished_at <= _aware(as_of, "as_of"))
            row = session.scalar(query.order_by(Run.chain_index.desc(), RunEvidence.id).limit(1))
            if row is None:
                return None
            content = session.scalar(select(EvidenceBlob.content).where(EvidenceBlob.sha256 == sha256))
            return row.run_id, _convert(_to_evidence, row, content)


def _lease_unchanged(seen: Run) -> Callable[[Run], str | None]:
    """A seal precondition: the run's lease is as it was seen (its holder has not renewed it meanwhile)."""
    token, renewed = seen.lease_token, seen.lease_renewed_at

    def check(current: Run) -> str | None:
        if current.lease_token != token or current.lease_renewed_at != renewed:
            return "had its lease renewed meanwhile"
        return None

    return check


def _lease(run: Run) -> RunLease | None:
    if run.lease_host is None or run.lease_pid is None or run.lease_renewed_at is None:
        return None
    return RunLease(run.lease_host, run.lease_pid, run.lease_renewed_at, run.lease_expires_at or run.lease_renewed_at)


def full_run() -> Any:
    """SQL condition: a full run, not a partial one (whose scope holds {"partial": true})."""
    partial = Run.scope["partial"].as_boolean()
    return or_(partial.is_(None), partial == false())


def _row_hashes(session: Session, model: type[Base], run_id: int) -> list[list[Any]]:
    table = model.__table__
    query = select(table.c.id, table.c.row_hash).where(table.c.run_id == run_id).order_by(table.c.id)
    return [[row_id, digest] for row_id, digest in session.execute(query)]


# Verdicts that state a judgement read from findings, and the finding status each must cite at least one of.
# `error` (nothing could be judged), `manual`, `inherited` and `not_applicable` (the catalog's word) may cite none.
_VERDICT_CITES = {"pass": "pass", "partial": "pass", "attested": "pass", "fail": "fail", "expired": "fail"}


def _check_verdicts_cite_findings(session: Session, run_id: int, rows: list[dict[str, Any]]) -> None:
    """A verdict that states a judgement must count at least one finding of the status it rests on, and each of
    its counts must be backed by findings this run stored (of its checks, naming its No)."""
    stored: dict[tuple[int, str, str], int] = {}
    query = select(RunFinding.check_id, RunFinding.status, RunFinding.requirements).where(RunFinding.run_id == run_id)
    for check_id, status, numbers in session.execute(query):
        for number in numbers or ():
            key = (int(number), check_id, status)
            stored[key] = stored.get(key, 0) + 1
    for row in rows:
        number, status = row["requirement"], row["status"]
        what = f"verdict {status} for No {number} in run {run_id}"
        cites = _VERDICT_CITES.get(status)
        if cites is None:
            continue
        if row[f"findings_{cites}"] < 1:
            raise LedgerError(f"{what} cites no {cites} finding")
        for counted in ("pass", "fail", "error"):
            have = sum(stored.get((number, c, counted), 0) for c in set(row["check_ids"]))
            if row[f"findings_{counted}"] > have:
                raise LedgerError(
                    f"{what} counts {row[f'findings_{counted}']} {counted} finding(s) of its checks, "
                    f"but the run stored {have}"
                )


def _kind(kind: Kind) -> str:
    if not isinstance(kind, str) or not re.fullmatch(KIND_PATTERN, kind):
        raise LedgerError(f"fact kind {kind!r} is not a name such as 'storage_account'")
    return str(kind)


def _known_kind(name: str) -> Kind:
    """A stored kind: the built-in family's enum member where there is one, else the declared name."""
    if not re.fullmatch(KIND_PATTERN, name):
        raise ValueError(f"fact kind {name!r} is not a kind name")
    return FactKind(name) if name in FactKind._value2member_map_ else name


def _status(status: Status | str, what: str) -> str:
    try:
        return Status(status).value
    except ValueError:
        raise LedgerError(f"{what}: unknown status {status!r}") from None


def _convert(build: Callable[..., _T], row: Any, *more: Any) -> _T:
    # A hand-edited value (unknown status, kind, broken JSON) gives one clear line, not a traceback.
    try:
        return build(row, *more)
    except (ValueError, TypeError) as exc:
        raise LedgerError(f"{row.__tablename__} row {row.id} cannot be read ({exc}); run `shoko verify`") from None


def _to_evidence(row: RunEvidence, content: str | None) -> Evidence:
    if content is None:
        raise ValueError(f"evidence blob {row.sha256} is missing")
    return Evidence(
        kind=_known_kind(row.kind),
        source=row.source,
        scope=row.scope,
        resource_id=row.resource_id,
        api_version=row.api_version,
        request_id=row.request_id,
        collected_at=row.collected_at,
        content=json.loads(content),
        sha256=row.sha256,
        redactions=tuple(Redaction(str(r["path"]), str(r["rule"])) for r in row.redactions or ()),
    )


def _to_collection_error(row: RunCollectionError) -> CollectionError:
    return CollectionError(
        kind=_known_kind(row.kind),
        source=row.source,
        scope=row.scope,
        code=row.code,
        message=row.message,
        status_code=row.status_code,
        request_id=row.request_id,
        occurred_at=row.occurred_at,
    )


def _to_finding(row: RunFinding) -> Finding:
    return Finding(
        check_id=row.check_id,
        requirements=tuple(row.requirements),
        status=Status(row.status),
        resource_id=row.resource_id,
        reason_ja=row.reason_ja,
        reason_en=row.reason_en,
        evidence=tuple(row.evidence),
    )


def _to_drift_event(row: RunDriftEvent) -> DriftEvent:
    return DriftEvent(
        kind=DriftKind(row.kind),
        check_id=row.check_id,
        resource_id=row.resource_id,
        requirements=tuple(int(n) for n in row.requirements),
        before=None if row.status_before is None else Status(row.status_before),
        after=None if row.status_after is None else Status(row.status_after),
        reason_ja=row.reason_ja,
        reason_en=row.reason_en,
        previous_run=row.previous_run,
    )


def _to_verdict(row: RunVerdict) -> Verdict:
    return Verdict(
        requirement=row.requirement,
        status=Status(row.status),
        reason_ja=row.reason_ja,
        reason_en=row.reason_en,
        check_ids=tuple(row.check_ids),
        findings_pass=row.findings_pass,
        findings_fail=row.findings_fail,
        findings_error=row.findings_error,
    )


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
