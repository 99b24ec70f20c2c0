"""The append-only evidence ledger.

A run is opened with `start_run`, receives inserts only (evidence, collection errors, findings,
verdicts), and is sealed once by `complete_run` or `fail_run`: the seal hashes the run's metadata, the hash of
every row it stored and of every part listing the evidence and findings it holds (an unchanged row is held by
reference, not stored again: storage/states.py), and links to the previous sealed run's digest. `verify`
re-checks all of it.

SQLite file by default, PostgreSQL by URL; the schema is created or migrated when the ledger opens.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Container, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Self, TypeVar

from sqlalchemy import Engine, case, create_engine, delete, event, false, func, insert, literal, or_, select, text
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
    subscription_id_of,
)

from . import actions as action_store
from . import attestations as att_store
from . import leases, migrate, states
from .actions import ActionRecord
from .anchors import LedgerRun
from .hashing import SEAL_VERSION, blob_sha256, row_hash, seal_document
from .leases import DEFAULT_LEASE_SECONDS, LeaseHolder, LeaseKeeper, RunLease
from .models import (
    RUN_TABLES,
    ApiToken,
    AttestationRecord,
    AuthFailure,
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
from .verify import Checkpoint, VerifyReport, verify

__all__ = [
    "ActionRecord",
    "Checkpoint",
    "CollectionLock",
    "CollectionLocked",
    "DriftRecord",
    "EvidenceRecord",
    "EvidenceRef",
    "EvidenceWriter",
    "FindingsWriter",
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
_CHECKS_CACHED = 8  # sealed runs whose findings' rows per check are kept (Ledger.check_rows)
# The most rows of a table (evidence, findings) whose content keys a ledger keeps from one run for the next (about 60
# bytes a row: 15 MB). A larger run's keys are read back from the database by the run after it, as `shoko collect`
# does (about 15 s for the 1.09 million rows of 100,000 resources): kept, they were about 70 MB held between runs
# and as much again while the next run gathered its own, which took the agent past 500 MB at that size.
KEYS_REMEMBERED_UP_TO = 250_000
_SEAL_LOCK_KEY = 0x73686F6B6F01
# Findings a FindingsWriter stores per transaction: short enough that the run's lease renewal is not held up.
FINDINGS_BATCH = 1000  # PostgreSQL advisory lock taken while a run is being sealed


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


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """One stored evidence record without its document: enough to name its file and fetch it later."""

    sha256: str
    kind: str
    resource_id: str
    source: str  # the fetcher
    collected_at: datetime


@dataclass(frozen=True)
class FindingOutcome:
    """A finding's check, status and reasons (Ledger.finding_outcomes_of), read like a Finding."""

    check_id: str
    status: Status
    reason_ja: str
    reason_en: str


@dataclass(frozen=True, slots=True)
class FindingState:
    """A finding's check, resource and status (Ledger.finding_states_of): what the registers read of it."""

    check_id: str
    resource_id: str
    status: Status


class CheckRows:
    """The finding rows a run holds of one check (Ledger.check_rows): their ids in stored order, 8 bytes each (a
    run at 100,000 resources holds 700,000), and whether any of them is an error."""

    __slots__ = ("errors", "ids")

    def __init__(self) -> None:
        self.ids = array("q")
        self.errors = False

    def add(self, row_id: int, error: bool) -> None:
        self.ids.append(row_id)
        self.errors = self.errors or error

    def same_rows(self, other: CheckRows) -> bool:
        """Whether both hold the same rows, as many times each, in whatever order."""
        return len(self.ids) == len(other.ids) and sorted(self.ids) == sorted(other.ids)


@dataclass(frozen=True)
class JudgedRun:
    """A completed run as drift detection sees it: whether it was full, and the checks it judged."""

    id: int
    full: bool
    checks: frozenset[str]


@dataclass(frozen=True)
class JudgedVerdict:
    """One requirement's verdict in one completed run (its status history, a run at a time)."""

    run_id: int
    chain_index: int
    kind: str  # full | partial
    finished_at: datetime | None
    digest: str | None
    status: str
    reason_ja: str
    reason_en: str


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


# A requirement's findings are shown failures first: fail, error, pass, then any other status.
FINDING_ORDER = {"fail": 0, "error": 1, "pass": 2}


@dataclass(frozen=True)
class FindingsPage:
    """One page of a requirement's findings in a run (failures first; by check, then resource id in any case,
    then stored order within a status), the number that meet the page's filters, and the count per status of
    all the requirement's findings in the run."""

    findings: list[Finding]
    total: int
    counts: dict[str, int]


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


class _Places:
    """A small number per row id of `count` ids from `low` to `high`: an array over that span when they lie close
    together (a run's rows mostly do), else a dict. 400,000 ids in a dict cost about 40 MB; in the array, 4 bytes
    each."""

    def __init__(self, low: int, high: int, count: int) -> None:
        self._low = low
        span = high - low + 1 if count else 0
        self._array: array[int] | None = array("i", [-1]) * span if span <= 4 * count else None
        self._dict: dict[int, int] = {}

    def __setitem__(self, row_id: int, value: int) -> None:
        if self._array is None:
            self._dict[row_id] = value
        else:
            self._array[row_id - self._low] = value

    def get(self, row_id: int) -> int | None:
        if self._array is None:
            return self._dict.get(row_id)
        n = row_id - self._low
        value = self._array[n] if 0 <= n < len(self._array) else -1
        return None if value < 0 else value


def _span(columns: Iterable[array[int]]) -> tuple[int, int, int]:
    """(lowest, highest, how many) of the ids in `columns`; (0, -1, 0) when there are none."""
    low, high, count = 0, -1, 0
    for ids in columns:
        if ids:
            low, high = (min(ids), max(ids)) if not count else (min(low, min(ids)), max(high, max(ids)))
            count += len(ids)
    return low, high, count


def _write_ahead_log(cursor: sqlite3.Cursor, wait: float = 30.0) -> None:
    """Put the database in WAL mode. SQLite answers "database is locked" at once, without waiting out its busy
    timeout, when another connection is switching a new file's journal mode at the same moment (processes starting
    together on a new ledger): tried again for up to `wait` seconds, as the busy timeout would."""
    deadline = time.monotonic() + wait
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


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
        remember_keys: bool = True,
        keys_remembered_up_to: int | None = None,
    ) -> None:
        """Open (and migrate) a ledger. `read_only=True` (read commands, the API, snapshot export): nothing is
        created, migrated or changed — a missing or empty database, another application's tables or an older
        schema is a NoLedger error, and every transaction is read-only. `holder`: whose leases this ledger
        takes (default: this process). `signer`: signs every run this ledger seals, in the seal's transaction;
        `on_sealed` then gets the signed digest (its anchor) to publish outside the database. `remember_keys=False`:
        a process storing one run (`shoko collect`) does not keep its rows' content keys for a next run it will
        not store (at 100,000 resources about a million keys, held from storing the evidence to the seal).
        `keys_remembered_up_to` (default KEYS_REMEMBERED_UP_TO): the most rows of a table whose keys are kept."""
        self.signer, self.on_sealed = signer, on_sealed
        limit = KEYS_REMEMBERED_UP_TO if keys_remembered_up_to is None else keys_remembered_up_to
        self._remember_up_to = limit if remember_keys else 0
        self._remember = self._remember_up_to > 0
        self._url = _normalise_url(url)
        self.url = self._url.render_as_string(hide_password=True)
        self.read_only = read_only
        self.holder = holder or leases.this_process()
        self._memory_locks: dict[str, Any] = {}
        self._checks_cache: OrderedDict[int, dict[str, CheckRows]] = OrderedDict()
        # Per table, the last run this ledger stored by reference and its rows by content key: the next run's
        # predecessor, so storing it need not read those rows back and hash them again (stored rows never change).
        # (run id, how many of its parts the keys cover, the keys): a part another process added is not in them.
        self._held_keys: dict[str, tuple[int, int, states.HeldKeys]] = {}
        # Per running run, the findings this ledger's writers stored: how many, and per (No, check, status). Its
        # verdicts are checked against them when they are all the run holds, rather than reading every finding.
        self._finding_counts: OrderedDict[int, tuple[int, Counter[tuple[int, str, str]]]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._locks_held: set[tuple[str, int]] = set()  # (lock name, thread) held by this ledger
        self._transaction = threading.local()  # the session of transaction(), per thread
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
                _write_ahead_log(cursor)  # readers keep reading while a run writes
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            write = connection.get_execution_options().get("shoko_write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    # -- sessions -------------------------------------------------------------------------------

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Session]:
        outer = getattr(self._transaction, "session", None)
        if write and outer is not None:  # a write inside transaction(): part of it
            yield outer
            return
        with Session(self._writer if write else self._reader, expire_on_commit=False) as session:
            try:
                with session.begin():
                    yield session
            except IntegrityError as exc:
                raise _Conflict(f"ledger database refused the write: {_first_line(exc)}") from None
            except DBAPIError as exc:
                raise LedgerError(f"ledger database error ({self.url}): {_first_line(exc)}") from None
            except StatementError as exc:
                # A value the column type refused (e.g. a naive datetime), before reaching the database.
                raise LedgerError(f"ledger cannot store a value: {_first_line(exc.orig or exc)}") from None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction on this thread: every ledger write made inside it (add_evidence,
        add_collection_errors, add_findings, ...) joins it, so they commit together or not at all. The session is
        given for the caller's own statements in the same transaction (e.g. marking the work they store done)."""
        if getattr(self._transaction, "session", None) is not None:
            raise LedgerError("a ledger transaction is already open on this thread")
        with self._session(write=True) as session:
            self._transaction.session = session
            try:
                yield session
            finally:
                self._transaction.session = None

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

    def _insert_rows(self, session: Session, model: type[Base], rows: list[dict[str, Any]]) -> list[int]:
        """Insert rows (with their row hashes); returns their ids in the order given."""
        for row in rows:
            row["row_hash"] = row_hash(model, row)
        if rows and session.get_bind().dialect.name == "postgresql":
            return _copy_rows(session, model, rows)
        ids: list[int] = []
        for chunk in _chunks(rows):
            statement = insert(model).returning(model.__table__.c.id, sort_by_parameter_order=True)
            ids.extend(session.scalars(statement, list(chunk)).all())
        return ids

    def _remember_keys(self, table: str, run_id: int, earlier: int, held: states.HeldKeys | None) -> None:
        """Keep a committed part's rows by content key (`held`, in the part's order), for the run after this one
        (see `_keys_of`); `earlier` is how many parts of the run there were before it. `held` None (a writer
        that stopped gathering them past the limit), or more rows than `keys_remembered_up_to`: nothing is kept
        of the table, and the next run reads its predecessor's keys from the database."""
        if not self._remember:
            return
        with self._cache_lock:
            cached = self._held_keys.pop(table, None)  # what it held is let go here unless it goes on below
            if held is None:
                return
            if earlier == 0:
                mine = held
            elif cached is not None and cached[:2] == (run_id, earlier):
                mine = cached[2]  # a later part of the same run: its keys follow the earlier parts'
                for key, row_id in held.items():
                    mine.add(key, row_id)
            else:
                return  # earlier parts stored elsewhere: read them when needed
            if mine.added <= self._remember_up_to:
                self._held_keys[table] = (run_id, earlier + 1, mine)

    def _note_finding_counts(self, run_id: int, stored: int, counts: Counter[tuple[int, str, str]]) -> None:
        """Add what a closed findings writer of the run stored (see `_finding_counts_of`)."""
        with self._cache_lock:
            before, counted = self._finding_counts.pop(run_id, (0, Counter()))
            self._finding_counts[run_id] = (before + stored, counted + counts if counted else counts)
            while len(self._finding_counts) > 4:  # runs sealed or abandoned long ago
                self._finding_counts.popitem(last=False)

    def _finding_counts_of(self, session: Session, run_id: int) -> Counter[tuple[int, str, str]] | None:
        """The run's findings per (No, check, status) as this ledger's writers counted them, when they stored
        every finding the run holds (not another process, a replica say); else None: they are to be read."""
        with self._cache_lock:
            stored, counted = self._finding_counts.get(run_id, (0, None))
        if counted is None:
            return None
        held = states.counts(session, [run_id]).get(run_id, {}).get(RunFinding.__tablename__, 0)
        return counted if held == stored else None

    def _keys_of(self, session: Session, model: type[Base], run_id: int) -> states.HeldKeys:
        """The rows `run_id` holds of `model` by content key (states.held_keys), from what this ledger kept when
        it stored that run, else read from the database. A fresh copy: the caller consumes it."""
        table = model.__tablename__
        stored_parts = states.part_count(session, run_id, table)
        with self._cache_lock:
            cached = self._held_keys.get(table)
            if cached is not None and cached[:2] == (run_id, stored_parts):
                return cached[2].copy()
        return states.held_keys(session, model, run_id)

    def _predecessor_keys(self, session: Session, run: Run, model: type[Base]) -> states.HeldKeys:
        """The rows of `model` the run's predecessor holds, by content key (storage/states.py)."""
        parent = states.predecessor(session, run)
        try:
            return self._keys_of(session, model, parent) if parent is not None else states.HeldKeys()
        except (ValueError, TypeError) as exc:
            what = f"{model.__tablename__} of run {parent}"
            raise LedgerError(f"{what} cannot be read ({exc}); run `shoko verify`") from None

    def _insert_new(
        self,
        session: Session,
        model: type[Base],
        rows: list[dict[str, Any]],
        known: states.HeldKeys,
        taken: list[tuple[bytes, int]] | None = None,
        keys_out: list[bytes] | None = None,
    ) -> list[int]:
        """The row id each of `rows` is held by: a row of `known` with the same content (taken from it, and noted
        in `taken`, so content held twice is matched twice), else a row inserted now."""
        held: list[int | None] = []
        new: list[dict[str, Any]] = []
        for row in rows:
            key = states.content_key(model, row)
            if keys_out is not None:
                keys_out.append(key)
            same = known.take(key)
            held.append(same)
            if same is None:
                new.append(row)
            elif taken is not None:
                taken.append((key, same))
        new_ids = iter(self._insert_rows(session, model, new))
        return [row_id if row_id is not None else next(new_ids) for row_id in held]

    def add_evidence(self, run_id: int, items: Iterable[Evidence]) -> None:
        """Store a run's evidence in one part, in the order given (`evidence_writer` stores it as it comes)."""
        writer = self.evidence_writer(run_id)
        writer.add(items)
        writer.close()

    def evidence_writer(self, run_id: int, order: Callable[[Evidence], bytes] | None = None) -> EvidenceWriter:
        """A writer storing a running run's evidence batch by batch (`add`, from any thread, one batch at a time)
        and then listing all of it in the run's one evidence part (`close`), ordered by `order` (stable; the order
        added without it). What is stored is what one `add_evidence` of all the records in that order stores."""
        return EvidenceWriter(self, run_id, order)

    def _evidence_rows(self, run_id: int, items: Iterable[Evidence]) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """The blobs (by SHA-256) and run_evidence rows of `items`, each document checked against its SHA-256."""
        blobs: dict[str, str] = {}
        rows: list[dict[str, Any]] = []
        for item in items:
            try:
                document = item.canonical if item.canonical is not None else canonical_json(item.content).decode()
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
        return blobs, rows

    def _insert_blobs(self, session: Session, blobs: dict[str, str]) -> None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        # Documents already stored (an unchanged run's, nearly all) are not sent to the database again.
        stored: set[str] = set()
        for chunk in _chunks(sorted(blobs)):
            stored.update(
                session.scalars(select(EvidenceBlob.sha256).where(states.among(session, EvidenceBlob.sha256, chunk)))
            )
        # Sorted, so concurrent runs storing overlapping blobs take row locks in one order (no deadlock).
        blob_rows = [
            {"sha256": s, "content": t, "size": len(t.encode())} for s, t in sorted(blobs.items()) if s not in stored
        ]
        for chunk in _chunks(blob_rows):
            # Content-addressed: a blob already stored (by any run) is simply referenced again.
            statement = dialect.insert(EvidenceBlob).on_conflict_do_nothing(index_elements=["sha256"])
            session.execute(statement, list(chunk))

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
        """Store a run's findings in one part, in the order given (`findings_writer` stores them as they come);
        one that cannot be stored refuses them all."""
        items = list(items)
        writer = self.findings_writer(run_id)
        writer.check(items)
        writer.add(items)
        writer.close()

    def findings_writer(self, run_id: int) -> FindingsWriter:
        """A writer storing a running run's findings as they are judged (`add`, in small transactions) and then
        listing all of them in the run's one findings part (`close`), in the order added. What is stored is what
        one `add_findings` of all of them stores."""
        return FindingsWriter(self, run_id)

    def _finding_rows(self, run_id: int, items: Sequence[Finding], stored: Container[str]) -> list[dict[str, Any]]:
        """The run_findings rows of `items`, each checked (`_checked_status`)."""
        return [
            {
                "run_id": run_id,
                "check_id": item.check_id,
                "requirements": [int(n) for n in item.requirements],
                "status": self._checked_status(run_id, item, stored),
                "resource_id": item.resource_id,
                "reason_ja": item.reason_ja,
                "reason_en": item.reason_en,
                "evidence": list(item.evidence),
            }
            for item in items
        ]

    @staticmethod
    def _checked_status(run_id: int, item: Finding, stored: Container[str]) -> str:
        """The status a finding is stored with, once it is checked: a finding must point at evidence this run
        stored (`stored`: SHA-256s), or its verdict could not be reproduced."""
        status = _status(item.status, f"finding {item.check_id} on {item.resource_id}")
        # A pass stands on what was seen; a fail may be the absence of a setting, an error what could not
        # be seen (a collection error, a check that raised): those two may cite no evidence record.
        if not item.evidence and status == Status.PASS:
            raise LedgerError(f"finding {item.check_id} on {item.resource_id} is a pass that cites no evidence record")
        missing = [sha for sha in item.evidence if sha not in stored]
        if missing:
            raise LedgerError(
                f"finding {item.check_id} on {item.resource_id} cites evidence {missing[0]} "
                f"that run {run_id} has not stored"
            )
        return status

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
                _check_verdicts_cite_findings(session, run_id, rows, self._finding_counts_of(session, run_id))
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

    def clock(self) -> datetime:
        """Now by the database's clock: PostgreSQL's server clock, which every host sharing the database reads
        alike (run leases and run times are compared against it, whatever a host's own clock says); this host's
        clock for SQLite, which only this host uses."""
        if self.engine.dialect.name == "postgresql":
            with self._session(write=False) as session:  # an unreachable server is a LedgerError, as for any read
                return session.scalar(text("SELECT clock_timestamp()")).astimezone(UTC)
        return datetime.now(UTC)

    def renew_lease(self, run_id: int, token: str | None = None, at: datetime | None = None) -> datetime:
        """Renew a running run's lease for the holder with `token` (default: this ledger's holder) from `at`
        (default: now by the database's clock) by the window it was started with. Returns the new expiry."""
        token = token or self.holder.token
        at = _aware(at or self.clock(), "at")
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
            # The last moment it was known to be alive (never before its start, which another host's clock gave).
            finished = max(run.lease_renewed_at or run.started_at, run.started_at)
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
                    manifest, held = seal_contents(session, run_id)
                    # All columns change in one UPDATE: the database accepts exactly one change to a run.
                    with session.no_autoflush:
                        run.chain_index = (last.chain_index + 1) if last else 1
                        run.prev_digest = last.digest if last else None
                        run.finished_at = finished_at
                        run.status = status.value
                        run.error = error
                        run.seal = seal_document(run, manifest, held)
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
        # A run with parts holds what they list, not the (fewer) rows it stored itself.
        for run_id, held in states.counts(session, ids).items():
            for model in states.STATE_TABLES:
                counts[run_id][_COUNT_KEYS[model]] = held.get(model.__tablename__, 0)
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

    def runs_page(self, limit: int, offset: int = 0, started_by: datetime | None = None) -> tuple[list[RunRecord], int]:
        """One page of the runs (those started at or before `started_by`, if given), newest first by id, and how
        many there are: only the page's runs are read and counted."""
        with self._session(write=False) as session:
            query = select(Run)
            if started_by is not None:
                query = query.where(Run.started_at <= _aware(started_by, "started_by"))
            total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
            page = session.scalars(query.order_by(Run.id.desc()).offset(max(0, offset)).limit(max(0, limit))).all()
            return self._records(session, page), total

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

    def _names_requirement(self, number: int, table: str = "findings") -> Any:
        """The condition on a row of `table` (findings, drift_events) that its list of requirement numbers holds
        `number`."""
        if self.engine.dialect.name == "postgresql":
            return text(f"CAST({table}.requirements AS jsonb) @> CAST(:numbers AS jsonb)").bindparams(
                numbers=json.dumps([int(number)])
            )
        # The text test first (a list holding the number spells it) spares most rows the JSON walk.
        return text(
            f"(instr({table}.requirements, :digits) > 0 AND "
            f"EXISTS (SELECT 1 FROM json_each({table}.requirements) WHERE json_each.value = :number))"
        ).bindparams(digits=str(int(number)), number=int(number))

    def requirement_findings(self, run_id: int, number: int) -> list[Finding]:
        """The run's findings that name requirement No `number`, in stored order (the database picks them from
        each finding's list of numbers), including those it holds from earlier runs."""
        table = RunFinding.__table__
        names = self._names_requirement(number)
        with self._session(write=False) as session:
            self._get_run(session, run_id)
        held = self._held_finding_rows(run_id, [names], None)
        if held is not None:
            return [_convert(_to_finding, states.StateRow(RunFinding.__tablename__, row)) for row in held]
        with self._session(write=False) as session:
            query = select(table).where(table.c.run_id == run_id, names).order_by(table.c.id)
            return _findings_of_rows(session.execute(query))

    def requirement_findings_page(
        self,
        run_id: int,
        number: int,
        *,
        limit: int | None,
        offset: int = 0,
        status: str | None = None,
        resource: str | None = None,
    ) -> FindingsPage:
        """One page of the run's findings that name requirement No `number` (`limit` None: all from `offset`),
        failures first, of those with `status` and a resource id holding `resource` (in any case), with the
        count per status of all of them. Only the page's rows are read whole: for a run that holds its rows by
        reference, the others' check, status and resource id; for one that owns them, the database counts,
        orders and cuts the page."""
        names = self._names_requirement(number)
        with self._session(write=False) as session:
            self._get_run(session, run_id)
        keys = self._held_finding_rows(run_id, [names], ("check_id", "status", "resource_id"))
        if keys is not None:
            counts: dict[str, int] = {}
            for row in keys:
                counts[row["status"]] = counts.get(row["status"], 0) + 1
            needle = resource.lower() if resource else None
            # (order, check, resource id in any case, position, row id): the position keeps stored order for ties.
            kept = []
            for n, row in enumerate(keys):
                rid = row["resource_id"].lower()
                if (status is None or row["status"] == status) and (needle is None or needle in rid):
                    kept.append((FINDING_ORDER.get(row["status"], 3), row["check_id"], rid, n, row["id"]))
            kept.sort()
            ids = [key[-1] for key in kept[offset : None if limit is None else offset + limit]]
            with self._session(write=False) as session:
                stored = states.load_rows(session, RunFinding, ids)
            if len(stored) != len(set(ids)):
                missing = "a held row is missing"
                raise LedgerError(f"findings of run {run_id} cannot be read ({missing}); run `shoko verify`")
            found = [_convert(_to_finding, states.StateRow(RunFinding.__tablename__, stored[i])) for i in ids]
            return FindingsPage(found, len(kept), counts)
        table = RunFinding.__table__
        mine = (table.c.run_id == run_id, names)
        wanted = list(mine)
        if status is not None:
            wanted.append(table.c.status == status)
        if resource:
            wanted.append(func.lower(table.c.resource_id).contains(resource.lower(), autoescape=True))
        order = case(
            *((table.c.status == name, rank) for name, rank in FINDING_ORDER.items()), else_=len(FINDING_ORDER)
        )
        query = select(table).where(*wanted).order_by(order, table.c.check_id, func.lower(table.c.resource_id))
        query = query.order_by(table.c.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self._session(write=False) as session:
            grouped = session.execute(select(table.c.status, func.count()).where(*mine).group_by(table.c.status))
            counts = {name: int(n) for name, n in grouped}
            total = int(session.scalar(select(func.count()).select_from(table).where(*wanted)) or 0)
            found = _findings_of_rows(session.execute(query))
        return FindingsPage(found, total, counts)

    def evidence_records(self, run_id: int, shas: Collection[str]) -> list[EvidenceRecord]:
        """Every evidence record of the run with one of these SHA-256s (a document stored for several resources
        is several records), in stored order, without the documents."""
        table = RunEvidence.__table__
        rows: list[Any] = []
        with self._session(write=False) as session:
            self._get_run(session, run_id)
            # The rows with these documents, whichever run stored them; the run's parts say which it holds.
            ids: set[int] = set()
            for chunk in _chunks(sorted(set(shas))):
                ids.update(session.scalars(select(table.c.id).where(table.c.sha256.in_(chunk))))
            try:
                held = states.held_rows(session, RunEvidence, run_id, only=ids)
            except states.StateError as exc:
                raise LedgerError(f"run_evidence of run {run_id} cannot be read ({exc}); run `shoko verify`") from None
            if held is not None:
                rows = held
            else:
                for chunk in _chunks(sorted(ids)):
                    rows.extend(session.execute(select(table).where(table.c.run_id == run_id, table.c.id.in_(chunk))))
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
        """The run's evidence records with their documents, in stored order; only those of `kinds`, if given,
        each kind's in stored order, the kinds in the order the run first stored them (only their rows are read:
        a snapshot's few attestations among 400,000 records took 800 MB when every row was read to pick them)."""
        if kinds is not None:
            return [ev for batch in self.evidence_in_batches(run_id, kinds) for ev in batch]
        with self._session(write=False) as session:
            return self._with_contents(session, self._rows(session, RunEvidence, run_id))

    def evidence_in_batches(self, run_id: int, kinds: Collection[str], size: int = 5000) -> Iterator[list[Evidence]]:
        """What `evidence(run_id, kinds)` gives, `size` records at a time: a caller that reads them once (the
        100,000 documents of a large estate's inventory) never holds them all."""
        wanted = {str(k) for k in kinds}
        for kind, refs in self.evidence_kinds(run_id).items():
            if kind in wanted:
                for start in range(0, len(refs), size):
                    yield self.evidence_of(refs[start : start + size])

    def evidence_kinds(self, run_id: int) -> dict[str, states.Refs]:
        """The run's evidence records by kind, each kind's in stored order, as references (`evidence_of` reads
        them): the row each record is, with the run's own collection time and request id (a run stored before
        parts existed holds the rows it owns, with their own). Reads no document."""
        return {kind: parts[None] for kind, parts in self._evidence_index(run_id, by_subscription=False).items()}

    def evidence_parts(self, run_id: int) -> dict[str, dict[str | None, states.Refs]]:
        """What `evidence_kinds` gives, each kind's records split by the subscription their resource lies in
        (controls.model.subscription_id_of; None for none), each part in stored order."""
        return self._evidence_index(run_id, by_subscription=True)

    def _evidence_index(self, run_id: int, by_subscription: bool) -> dict[str, dict[str | None, states.Refs]]:
        table = RunEvidence.__table__
        columns = (table.c.id, table.c.kind, table.c.resource_id) if by_subscription else (table.c.id, table.c.kind)
        places: dict[tuple[str, str | None], int] = {}  # (kind, subscription) -> a small number, in stored order

        def place(row: Any) -> int:
            return places.setdefault((row[1], subscription_id_of(row[2]) if by_subscription else None), len(places))

        out: dict[str, dict[str | None, states.Refs]] = {}
        with self._session(write=False) as session:
            self._get_run(session, run_id)
            found = states.parts(session, run_id)
            if not found:  # stored before parts existed: the rows it owns
                query = select(*columns).where(table.c.run_id == run_id).order_by(table.c.id)
                for row in session.execute(query):
                    kind, subscription = row[1], subscription_id_of(row[2]) if by_subscription else None
                    out.setdefault(kind, {}).setdefault(subscription, states.Refs()).add(row[0])
                return out
            try:
                decoded = [
                    states.columns(part.table_name, part.content)
                    for part in found
                    if part.table_name == RunEvidence.__tablename__
                ]
            except states.StateError as exc:
                raise LedgerError(f"run_evidence of run {run_id} cannot be read ({exc}); run `shoko verify`") from None
            # Asked part by part in the part's order (a row held twice: asked twice), not as one sorted list of
            # every id: 400,000 int objects made and let go beside what judging then keeps would leave CPython's
            # arenas fragmented (about 15 MB at 100,000 resources). An unchanged run's ids come mostly ascending.
            placed = _Places(*_span(ids for ids, _, _ in decoded))
            for ids, _, _ in decoded:
                for chunk in _chunks(ids):
                    query = select(*columns).where(states.among(session, table.c.id, list(chunk)))
                    for row in session.execute(query):
                        placed[row[0]] = place(row)
        keys = list(places)
        refs: list[states.Refs | None] = [None] * len(places)  # kinds and parts made in stored order
        for ids, micros, requests in decoded:
            for n, row_id in enumerate(ids):
                where = placed.get(row_id)
                if where is None:
                    raise LedgerError(f"run_evidence row {row_id} held by run {run_id} is missing; run `shoko verify`")
                part = refs[where]
                if part is None:
                    kind, subscription = keys[where]
                    part = refs[where] = out.setdefault(kind, {}).setdefault(subscription, states.Refs())
                if micros is None or requests is None:
                    part.add(row_id)
                else:
                    part.add(row_id, micros[n], requests[n])
        return out

    def evidence_of(self, entries: Sequence[states.Entry]) -> list[Evidence]:
        """The evidence records `entries` name (from `evidence_kinds`), in their order, with their documents: what
        `evidence` gives for them."""
        with self._session(write=False) as session:
            try:
                stored = states.load_rows(session, RunEvidence, (e.row_id for e in entries))
            except (ValueError, TypeError) as exc:
                raise LedgerError(f"run_evidence cannot be read ({exc}); run `shoko verify`") from None
            rows = []
            for entry in entries:
                values = stored.get(entry.row_id)
                if values is None:
                    raise LedgerError(f"run_evidence row {entry.row_id} is missing; run `shoko verify`")
                if entry.collected_at is not None:  # held from a part: the run's own time and request id
                    values = {**values, "collected_at": entry.collected_at, "request_id": entry.request_id}
                rows.append(states.StateRow(RunEvidence.__tablename__, values))
            return self._with_contents(session, rows)

    def _with_contents(self, session: Session, rows: Sequence[RunEvidence]) -> list[Evidence]:
        contents: dict[str, str] = {}
        for chunk in _chunks(sorted({row.sha256 for row in rows})):
            query = select(EvidenceBlob.sha256, EvidenceBlob.content).where(
                states.among(session, EvidenceBlob.sha256, chunk)
            )
            contents.update({sha: content for sha, content in session.execute(query)})
        shared = _SharedStrings()  # for this read only: the strings many of its documents repeat are held once
        return [_convert(_to_evidence, row, contents.get(row.sha256), shared) for row in rows]

    def evidence_refs(self, run_id: int, size: int = 5000) -> Iterator[EvidenceRef]:
        """What the run stored, without the documents (sha256, kind, resource id, fetcher, time), in stored order,
        read `size` rows at a time: a run of 100,000 resources holds 400,000 records, whose rows read whole at once
        took about 600 MB."""
        table = RunEvidence.__table__
        columns = (table.c.id, table.c.sha256, table.c.kind, table.c.resource_id, table.c.source, table.c.collected_at)
        shared = _SharedStrings()  # kinds and fetchers: a few texts for every record

        def ref(row: Any, at: datetime | None = None) -> EvidenceRef:
            kind, source = shared.text(row.kind), shared.text(row.source)
            return EvidenceRef(row.sha256, kind, row.resource_id, source, at or row.collected_at)

        with self._session(write=False) as session:
            self._get_run(session, run_id)
            found = states.parts(session, run_id)
            try:
                decoded = [states.columns(p.table_name, p.content) for p in found if p.table_name == table.name]
            except states.StateError as exc:
                raise LedgerError(f"run_evidence of run {run_id} cannot be read ({exc}); run `shoko verify`") from None
        if not found:  # stored before parts existed: the rows it owns, in id order
            after = 0
            while True:
                with self._session(write=False) as session:
                    query = select(*columns).where(table.c.run_id == run_id, table.c.id > after)
                    rows = session.execute(query.order_by(table.c.id).limit(size)).all()
                yield from map(ref, rows)
                if len(rows) < size:
                    return
                after = rows[-1].id
        for ids, micros, _ in decoded:
            for start in range(0, len(ids), size):
                chunk = ids[start : start + size]
                with self._session(write=False) as session:
                    rows = {
                        row.id: row
                        for piece in _chunks(sorted(set(chunk)))
                        for row in session.execute(select(*columns).where(states.among(session, table.c.id, piece)))
                    }
                for n, row_id in enumerate(chunk, start):
                    row = rows.get(row_id)
                    if row is None:
                        missing = f"run_evidence row {row_id} held by run {run_id} is missing"
                        raise LedgerError(f"{missing}; run `shoko verify`")
                    yield ref(row, None if micros is None else states.time_of(micros[n]))

    def evidence_reader(self, run_id: int) -> Callable[[Collection[str]], dict[str, Evidence]]:
        """`evidence_by_sha256` of one run for many batches (a snapshot reads every document it cites, 200 at a
        time): the run's parts are decoded once, for as long as the reader is kept, not once per batch."""
        decoded: dict[bytes, states.Decoded] = {}
        return lambda shas: self.evidence_by_sha256(run_id, shas, decoded)

    def evidence_by_sha256(
        self, run_id: int, shas: Collection[str], decoded: dict[bytes, states.Decoded] | None = None
    ) -> dict[str, Evidence]:
        """The run's evidence records with these SHA-256s, with their documents (the first record of each);
        `decoded`: the run's parts already decoded (`evidence_reader`)."""
        out: dict[str, Evidence] = {}
        wanted = sorted(set(shas))
        with self._session(write=False) as session:
            self._get_run(session, run_id)
            # Only the rows with these documents, whichever run stored them, are read in full.
            ids: set[int] = set()
            for chunk in _chunks(wanted):
                ids.update(
                    session.scalars(select(RunEvidence.id).where(states.among(session, RunEvidence.sha256, chunk)))
                )
            try:
                held = states.held_rows(session, RunEvidence, run_id, only=ids, cache=decoded)
            except states.StateError as exc:
                raise LedgerError(f"run_evidence of run {run_id} cannot be read ({exc}); run `shoko verify`") from None
            if held is None:
                held = [row for row in _held(session, RunEvidence, run_id) if row.id in ids]
            first: dict[str, Any] = {}
            for row in held:
                first.setdefault(row.sha256, row)
            for ev in self._with_contents(session, list(first.values())):
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
            held = self._finding_ids(session, run_id)
        if held is not None:
            for start in range(0, len(held), size):
                ids = list(held[start : start + size])
                with self._session(write=False) as session:
                    rows = states.load_rows(session, RunFinding, ids)
                    if len(rows) != len(set(ids)):
                        raise LedgerError(f"findings of run {run_id} cannot be read (a held row is missing)")
                    yield [_convert(_to_finding, states.StateRow("findings", rows[i])) for i in ids]
            return
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

    def findings_page(
        self, run_id: int, offset: int, limit: int, *, status: str | None = None, requirement: int | None = None
    ) -> tuple[int, list[Finding]]:
        """How many findings the run holds (of `status`, naming No `requirement`), and `limit` of them from
        `offset`, in stored order: what slicing the filtered `findings` gives. Only the page's rows are read whole;
        a filter reads the ids (and requirements) of the rows it matches. A run of 100,000 resources holds 690,000
        findings, which read whole took tens of seconds and gigabytes for each page."""
        with self._session(write=False) as session:
            self._get_run(session, run_id)
            ids = self._finding_ids(session, run_id)
            if ids is None:  # stored before parts: its own rows, read as before
                found = [
                    f
                    for f in self.findings(run_id)
                    if (status is None or str(f.status) == status)
                    and (requirement is None or requirement in f.requirements)
                ]
                return len(found), found[offset : offset + limit]
            if status is not None or requirement is not None:
                matching = self._matching_finding_ids(session, ids, status, requirement)
                ids = array("q", (row_id for row_id in ids if row_id in matching))
            page = list(ids[offset : offset + limit])
            try:
                rows = states.load_rows(session, RunFinding, page)
            except (ValueError, TypeError) as exc:
                raise LedgerError(f"findings of run {run_id} cannot be read ({exc}); run `shoko verify`") from None
            if len(rows) != len(set(page)):
                raise LedgerError(f"findings of run {run_id} cannot be read (a held row is missing)")
            return len(ids), [_convert(_to_finding, states.StateRow("findings", rows[i])) for i in page]

    @staticmethod
    def _finding_ids(session: Session, run_id: int) -> array[int] | None:
        """The finding rows the run holds, by id in stored order; None for a run stored before parts existed (it
        owns its rows)."""
        try:
            return states.row_ids_of(session, run_id, RunFinding.__tablename__)
        except states.StateError as exc:
            raise LedgerError(f"findings of run {run_id} cannot be read ({exc}); run `shoko verify`") from None

    @staticmethod
    def _matching_finding_ids(
        session: Session, ids: Sequence[int], status: str | None, requirement: int | None
    ) -> set[int]:
        """Which of the finding rows `ids` are of `status` and name No `requirement`: one query over the span of
        ids they take (a run holds rows stored by earlier runs), the status compared by the database."""
        if not ids:
            return set()
        table = RunFinding.__table__
        held = set(ids)
        # The requirements (a JSON list) are read only when asked for.
        named = table.c.requirements if requirement is not None else literal(None)
        query = select(table.c.id, named).where(table.c.id.between(min(held), max(held)))
        if status is not None:
            query = query.where(table.c.status == status)
        out = set()
        try:
            for row_id, requirements in session.execute(query):
                if row_id in held and (requirement is None or requirement in (requirements or ())):
                    out.add(row_id)
        except (ValueError, TypeError) as exc:
            raise LedgerError(f"findings cannot be read ({exc}); run `shoko verify`") from None
        return out

    def verdicts(self, run_id: int) -> list[Verdict]:
        with self._session(write=False) as session:
            return [_convert(_to_verdict, row) for row in self._rows(session, RunVerdict, run_id)]

    def findings_of(self, run_ids: Collection[int], check_ids: Collection[str]) -> dict[int, list[Finding]]:
        """The findings of some checks in some runs, per run id (in stored order up to 500 check ids)."""
        out: dict[int, list[Finding]] = {int(r): [] for r in run_ids}
        checks = sorted(set(check_ids))
        wanted = set(checks)
        with self._session(write=False) as session:
            with_parts = set(states.counts(session, sorted(out)))
            for run_id in sorted(with_parts):
                rows = self._check_rows(session, run_id)
                ids = {row_id for check_id in wanted if check_id in rows for row_id in rows[check_id].ids}
                try:
                    held = states.held_rows(session, RunFinding, run_id, only=ids) or []
                except states.StateError as exc:
                    raise LedgerError(f"findings of run {run_id} cannot be read ({exc}); run `shoko verify`") from None
                out[run_id] = [_convert(_to_finding, row) for row in held]
            for runs in _chunks(sorted(set(out) - with_parts)):
                for chunk in _chunks(checks):
                    query = select(RunFinding).where(RunFinding.run_id.in_(runs), RunFinding.check_id.in_(chunk))
                    for row in session.scalars(query.order_by(RunFinding.id)):
                        out[row.run_id].append(_convert(_to_finding, row))
        return out

    def findings_of_resource(self, run_ids: Collection[int], resource_id: str) -> dict[int, list[Finding]]:
        """The findings on one resource (ids compare case-insensitively) in some runs, per run id, in stored order.
        The resource's rows, whichever run stored them, are found by the index on their lower-cased id; each run
        then keeps those it holds. For an id with letters beyond ASCII (which SQLite's lower() leaves as they are)
        every finding of each run is compared instead. (The index misses a stored id spelled with the Kelvin sign,
        U+212A, which Python lowers to an ASCII "k", when it is asked for in ASCII.)"""
        wanted = resource_id.lower()
        out: dict[int, list[Finding]] = {int(r): [] for r in run_ids}
        if not wanted.isascii():
            for run_id in out:
                out[run_id] = [f for f in self.findings(run_id) if f.resource_id.lower() == wanted]
            return out
        with self._session(write=False) as session:
            query = select(RunFinding).where(func.lower(RunFinding.resource_id) == wanted)
            rows = {row.id: row for row in session.scalars(query) if row.resource_id.lower() == wanted}
            with_parts = set(states.counts(session, sorted(out)))
            for run_id in out:
                if run_id in with_parts:
                    held = self._finding_ids(session, run_id) or ()
                    mine = [rows[row_id] for row_id in held if row_id in rows]
                else:
                    mine = sorted((row for row in rows.values() if row.run_id == run_id), key=lambda row: row.id)
                out[run_id] = [_convert(_to_finding, row) for row in mine]
        return out

    def run_findings_of(self, run_id: int, check_ids: Collection[str]) -> list[Finding]:
        """The findings of some checks in one run, in stored order: the same as `findings_of([run_id], ...)`,
        but for a run with parts it reads the rows of those checks within the span of row ids the run holds
        (one pass, no per-id check lookup) and decodes the run's part once. For a whole run's few checks;
        `findings_of` stays the read for one check over many runs."""
        rows = self._held_rows_of_checks(run_id, check_ids, None)
        if rows is None:
            return self.findings_of([run_id], check_ids)[run_id]
        return [_convert(_to_finding, states.StateRow(RunFinding.__tablename__, row)) for row in rows]

    def finding_outcomes_of(self, run_id: int, check_ids: Collection[str]) -> list[FindingOutcome]:
        """What `run_findings_of` gives, reading only each finding's check, status and reasons (what `status`
        shows of a 6.0 run's controls), not its requirement and evidence lists."""
        return self._findings_read_as(FindingOutcome, run_id, check_ids)

    def finding_states_of(self, run_id: int, check_ids: Collection[str]) -> list[FindingState]:
        """What `run_findings_of` gives, reading only each finding's check, resource and status (what the account
        and inventory registers show beside each row: 200,000 findings at 100,000 resources, which as whole
        findings held about 335 MB)."""
        return self._findings_read_as(FindingState, run_id, check_ids)

    def _findings_read_as(self, shape: type[_T], run_id: int, check_ids: Collection[str]) -> list[_T]:
        """The findings of some checks one run holds, in stored order, each made into `shape`: a dataclass whose
        fields are the finding's columns it reads (`status` as a Status), and only those are read."""
        names = [f.name for f in fields(shape)]
        rows = self._held_rows_of_checks(run_id, check_ids, names)
        if rows is None:
            found = self.findings_of([run_id], check_ids)[run_id]
            return [shape(*(getattr(f, name) for name in names)) for f in found]
        try:
            return [shape(*(Status(r[n]) if n == "status" else r[n] for n in names)) for r in rows]
        except (ValueError, TypeError) as exc:
            raise LedgerError(f"findings of run {run_id} cannot be read ({exc}); run `shoko verify`") from None

    def _held_rows_of_checks(
        self, run_id: int, check_ids: Collection[str], names: Sequence[str] | None
    ) -> list[dict[str, Any]] | None:
        """The finding rows (those columns, else all) of some checks a run with parts holds, in its order; None
        for a run without parts. A held row that is missing is left out, as findings_of leaves it."""
        column = RunFinding.__table__.c.check_id
        return self._held_finding_rows(run_id, [column.in_(chunk) for chunk in _chunks(sorted(set(check_ids)))], names)

    def _held_finding_rows(
        self, run_id: int, conditions: Sequence[Any], names: Sequence[str] | None
    ) -> list[dict[str, Any]] | None:
        """The finding rows (those columns, else all) a run with parts holds that meet any of `conditions` (one
        query each, over the span of ids it holds), in its order; None for a run without parts."""
        table = RunFinding.__table__
        columns = [table.c.id, *(table.c[n] for n in names)] if names is not None else [table]
        with self._session(write=False) as session:
            ids = self._finding_ids(session, run_id)
            if ids is None:
                return None
            if not ids:
                return []
            held = set(ids)
            low, high = min(held), max(held)
            rows: dict[int, dict[str, Any]] = {}
            for condition in conditions:
                result = session.execute(select(*columns).where(table.c.id.between(low, high), condition))
                keys = list(result.keys())  # once, not per row
                for values in result:
                    row = dict(zip(keys, values, strict=True))
                    if row["id"] in held:
                        rows[row["id"]] = row
        return [rows[row_id] for row_id in ids if row_id in rows]

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
                    for rid in states.counts(session, unlisted):
                        checks[rid].update(row.check_id for row in _held(session, RunFinding, rid))
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

    def recent_requirement_verdicts(
        self, number: int, *, upto_chain_index: int | None = None, limit: int = 50
    ) -> list[JudgedVerdict]:
        """Requirement `number`'s verdicts in the completed runs that judged it, newest first, at most `limit`,
        from those sealed at or before chain position `upto_chain_index`. Reads that requirement's verdict rows
        only (the runs by their chain index, each run's verdict by its (run, requirement) key)."""
        query = (
            select(
                Run.id,
                Run.chain_index,
                Run.scope,
                Run.finished_at,
                Run.digest,
                RunVerdict.status,
                RunVerdict.reason_ja,
                RunVerdict.reason_en,
            )
            .join(RunVerdict, RunVerdict.run_id == Run.id)
            .where(
                RunVerdict.requirement == number,
                Run.status == RunStatus.COMPLETED.value,
                Run.chain_index.is_not(None),
            )
        )
        if upto_chain_index is not None:
            query = query.where(Run.chain_index <= upto_chain_index)
        with self._session(write=False) as session:
            rows = session.execute(query.order_by(Run.chain_index.desc()).limit(max(0, limit))).all()
        return [
            JudgedVerdict(
                run_id=rid,
                chain_index=index,
                kind="partial" if isinstance(scope, dict) and scope.get("partial") else "full",
                finished_at=finished,
                digest=digest,
                status=status,
                reason_ja=ja,
                reason_en=en,
            )
            for rid, index, scope, finished, digest, status, ja, en in rows
        ]

    def drift_events(self, since: datetime | None = None, run_id: int | None = None) -> list[DriftRecord]:
        """Drift events of completed runs, newest run first (in detection order within a run); `since`:
        runs sealed at or after it; `run_id`: that run only."""
        return self.drift_events_page(since=since, run_id=run_id)[0]

    def drift_events_page(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        run_id: int | None = None,
        kind: str | None = None,
        requirement: int | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[DriftRecord], int]:
        """One page (`limit` from `offset`; None: all) of the drift events of completed runs, newest run first (in
        detection order within a run), and how many there are: `since`/`until`: runs sealed at or after / at or
        before it; `run_id`: that run only; `kind`: that kind; `requirement`: events naming that No."""
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
            if until is not None:
                query = query.where(Run.finished_at <= _aware(until, "until"))
            if kind is not None:
                query = query.where(RunDriftEvent.kind == kind)
            if requirement is not None:
                query = query.where(self._names_requirement(requirement, "drift_events"))
            total = None
            if limit is not None or offset:
                total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
            query = query.order_by(Run.chain_index.desc(), RunDriftEvent.id).offset(max(0, offset))
            if limit is not None:
                query = query.limit(max(0, limit))
            try:
                rows = session.execute(query).all()
            except (ValueError, TypeError) as exc:
                raise LedgerError(f"drift_events cannot be read ({exc}); run `shoko verify`") from None
            records = [
                DriftRecord(row.id, row.run_id, finished_at, _convert(_to_drift_event, row))
                for row, finished_at in rows
            ]
            return records, len(records) if total is None else total

    def check_rows(self, run_id: int) -> dict[str, CheckRows]:
        """Per check id, the finding rows the run holds of it (ids in stored order, as many times as held) and
        whether any is an error: what drift compares before it reads any finding. Kept for the last few sealed
        runs read."""
        with self._session(write=False) as session:
            return self._check_rows(session, run_id)

    def _check_rows(self, session: Session, run_id: int) -> dict[str, CheckRows]:
        with self._cache_lock:
            if run_id in self._checks_cache:
                self._checks_cache.move_to_end(run_id)
                return self._checks_cache[run_id]
        table = RunFinding.__table__
        columns = (table.c.id, table.c.check_id, table.c.status)
        out: dict[str, CheckRows] = {}
        ids = self._finding_ids(session, run_id)
        if ids is None:  # stored before parts existed: the rows it owns
            query = select(*columns).where(table.c.run_id == run_id).order_by(table.c.id)
            for row_id, check_id, status in session.execute(query):
                out.setdefault(check_id, CheckRows()).add(row_id, status == Status.ERROR.value)
        else:
            # Asked in the part's order (a row held twice is asked for twice), not as a sorted list or a set of
            # 700,000 ints made and let go (see _evidence_index).
            placed = _Places(*_span([ids]))  # row id -> its check's number in `names`, and whether an error (+ 1 << 20)
            names: dict[str, int] = {}
            for chunk in _chunks(ids):
                for row_id, check_id, status in session.execute(
                    select(*columns).where(states.among(session, table.c.id, list(chunk)))
                ):
                    placed[row_id] = names.setdefault(check_id, len(names)) | ((status == Status.ERROR.value) << 20)
            by_number = [CheckRows() for _ in names]
            for row_id in ids:
                value = placed.get(row_id)
                if value is not None:  # a held row that is missing is left out, as findings_of leaves it
                    by_number[value & 0xFFFFF].add(row_id, bool(value >> 20))
            out = {check_id: by_number[n] for check_id, n in names.items()}
        if session.scalar(select(Run.chain_index).where(Run.id == run_id)) is not None:  # sealed: never changes
            with self._cache_lock:
                self._checks_cache[run_id] = out
                while len(self._checks_cache) > _CHECKS_CACHED:
                    self._checks_cache.popitem(last=False)
        return out

    def _rows(self, session: Session, model: type[Any], run_id: int) -> Sequence[Any]:
        self._get_run(session, run_id)
        return _held(session, model, run_id)

    # -- integrity --------------------------------------------------------------------------------

    def verify(self, trusted: TrustedKey | None = None, since: Checkpoint | None = None) -> VerifyReport:
        """`trusted`: the key every run signature must have been made with (else each is checked against the
        key stored with it). `since`: check only the runs sealed after this checkpoint (storage/verify.py)."""
        with self._session(write=False) as session:
            return verify(session, trusted, since)

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

    def auth_failures(self, client: str, since: datetime, limit: int) -> list[datetime]:
        """When `client` failed to authenticate after `since`, oldest first, at most `limit` (the API's limiter
        needs no more)."""
        query = (
            select(AuthFailure.failed_at)
            .where(AuthFailure.client == client[:255], AuthFailure.failed_at > _aware(since, "since"))
            .order_by(AuthFailure.failed_at)
            .limit(limit)
        )
        with self._session(write=False) as session:
            return list(session.scalars(query))

    def add_auth_failure(self, client: str, at: datetime, forget_before: datetime) -> None:
        """Note a failed authentication by `client`, and forget every one before `forget_before`."""
        with self._session(write=True) as session:
            session.execute(delete(AuthFailure).where(AuthFailure.failed_at < _aware(forget_before, "forget_before")))
            session.add(AuthFailure(client=client[:255], failed_at=_aware(at, "at")))

    def evidence_record(self, sha256: str, as_of: datetime | None = None) -> tuple[int, Evidence] | None:
        """The newest sealed run's record of a piece of evidence (sealed at or before `as_of`, if given):
        (run id, evidence with its content), or None."""
        with self._session(write=False) as session:
            # The rows with this document, and the earliest sealed position of a run that stored one.
            owners = session.execute(
                select(RunEvidence.id, Run.chain_index)
                .join(Run, Run.id == RunEvidence.run_id)
                .where(RunEvidence.sha256 == sha256, Run.chain_index.is_not(None))
            ).all()
            if not owners:
                return None
            ids = {row_id for row_id, _ in owners}
            query = select(Run.id, Run.chain_index).where(
                Run.chain_index.is_not(None), Run.chain_index >= min(c for _, c in owners)
            )
            if as_of is not None:
                query = query.where(Run.finished_at <= _aware(as_of, "as_of"))
            content = session.scalar(select(EvidenceBlob.content).where(EvidenceBlob.sha256 == sha256))
            # Newest first: the first run that holds one of those rows (by its parts, or by owning it).
            for batch in _chunks(session.execute(query.order_by(Run.chain_index.desc())).all(), 50):
                with_parts = set(states.counts(session, [rid for rid, _ in batch]))
                for rid, _ in batch:
                    if rid in with_parts:
                        held = [r for r in _held(session, RunEvidence, rid) if r.id in ids]
                    else:
                        held = session.scalars(
                            select(RunEvidence)
                            .where(RunEvidence.run_id == rid, RunEvidence.sha256 == sha256)
                            .order_by(RunEvidence.id)
                        ).all()
                    if held:
                        return rid, _convert(_to_evidence, held[0], content)
            return None


class EvidenceWriter:
    """Stores one running run's evidence as it is collected (`Ledger.evidence_writer`): each `add` stores its
    documents and the rows for content the run's predecessor did not hold in one transaction, so the caller can
    drop them; `close` writes the part listing every record the run holds, in `order`. Batches are stored one at a
    time (SQLite has one writer), whichever thread adds them; a batch that cannot be stored raises LedgerError."""

    def __init__(self, ledger: Ledger, run_id: int, order: Callable[[Evidence], bytes] | None) -> None:
        self._ledger, self.run_id, self._order = ledger, run_id, order
        self._lock = threading.Lock()
        # The predecessor's rows by content key, read once: each is taken by at most one record of this run.
        self._known: states.HeldKeys | None = None
        # Per record held until `close`: its place in `order`, row id, its own collection time and request id,
        # content key when the ledger remembers keys (else b"").
        self._entries = states.PendingEntries()
        self._closed = False
        self.stored = 0  # records stored so far

    def add(self, items: Iterable[Evidence]) -> None:
        items = list(items)
        blobs, rows = self._ledger._evidence_rows(self.run_id, items)
        if not rows:
            return
        keys = [self._order(item) for item in items] if self._order is not None else [b""] * len(items)
        with self._lock:
            if self._closed:
                raise LedgerError(f"run {self.run_id}: its evidence part is written; no evidence can be added")
            taken: list[tuple[bytes, int]] = []
            content: list[bytes] = []
            try:
                with self._ledger._session(write=True) as session:
                    run = self._ledger._running(session, self.run_id)
                    self._ledger._insert_blobs(session, blobs)
                    if self._known is None:
                        self._known = self._ledger._predecessor_keys(session, run, RunEvidence)
                    ids = self._ledger._insert_new(session, RunEvidence, rows, self._known, taken, content)
            except BaseException:
                # Not stored: the predecessor's rows it matched are there to match when the batch comes again.
                for key, row_id in reversed(taken):
                    self._known.put_back(key, row_id)  # type: ignore[union-attr]
                raise
            # Content keys are held only for a ledger that remembers them for its next run (Ledger remember_keys),
            # and only up to as many rows as it would keep.
            remember = self.stored + len(rows) <= self._ledger._remember_up_to
            for key, row_id, row, content_key in zip(keys, ids, rows, content, strict=True):
                self._entries.add(key, row_id, row["collected_at"], row["request_id"], content_key if remember else b"")
            self.stored += len(rows)

    def close(self) -> None:
        """Write the run's evidence part (nothing when no record was added); nothing can be added afterwards."""
        with self._lock:
            if self._closed:
                return
            table = RunEvidence.__tablename__
            # Columns, not entries: an entry and its time cost about 110 bytes, 45 MB at 100,000 resources.
            ids, micros, requests = array("q"), array("q"), []
            keys = states.HeldKeys() if self.stored <= self._ledger._remember_up_to else None
            shared: dict[str, str] = {}  # a page's request id, given to each of its records: one text for them all
            for row_id, at, request, content_key in self._entries.merged():
                ids.append(row_id)
                micros.append(at)
                requests.append(request and shared.setdefault(request, request))
                if keys is not None:
                    keys.add(content_key, row_id)
            with self._ledger._session(write=True) as session:
                run = self._ledger._running(session, self.run_id)
                earlier = states.part_count(session, run.id, table)
                states.add_part_columns(session, run.id, table, ids, micros, requests)
            if ids:  # committed: the next run's predecessor keys need not be read back
                self._ledger._remember_keys(table, self.run_id, earlier, keys)
            self._closed = True
            self._entries, self._known = states.PendingEntries(), None


class _Digests:
    """SHA-256s, given and asked as hex, held as their 32 bytes in a HeldKeys (a run at 100,000 resources holds
    399,028 evidence records: 57 MB of hex strings in a set, 38 MB as a set of bytes, about 25 MB so). A value that
    is not hex is never among them."""

    def __init__(self, hexes: Iterable[str]) -> None:
        self._held = states.HeldKeys()
        for digest in map(_unhex, hexes):
            if digest is not None:  # content held by two rows is added twice: still among them, one lookup each
                self._held.add(digest, 0)

    def __contains__(self, sha: object) -> bool:
        # Asked once per citation (over a million a run at 100,000 resources): _unhex's round trip, inlined and
        # done only for a digest that is held. 64 characters that make 32 bytes hold no whitespace.
        if not isinstance(sha, str) or len(sha) != 64:
            return False
        try:
            digest = bytes.fromhex(sha)
        except ValueError:
            return False
        return digest in self._held and sha == sha.lower()


def _unhex(sha: object) -> bytes | None:
    """The 32 bytes of a SHA-256 written as stored (64 lower-case hex digits), else None: fromhex alone would also
    take upper case and spaces, which name no stored record."""
    try:
        digest = bytes.fromhex(sha) if isinstance(sha, str) else None
    except ValueError:
        return None
    return digest if digest is not None and len(digest) == 32 and digest.hex() == sha else None


class FindingsWriter:
    """Stores one running run's findings as they are judged (`Ledger.findings_writer`): each `add` stores them,
    `FINDINGS_BATCH` at a time, each batch in its own short transaction (the run's lease renewal waits for at most
    one), new rows only for content its predecessor did not hold; `close` writes the part listing every finding
    stored, in the order added. Keeps per finding only its row id and content key. A finding that cannot be
    stored raises LedgerError; those stored before it stay listed when the writer is closed."""

    def __init__(self, ledger: Ledger, run_id: int) -> None:
        self._ledger, self.run_id = ledger, run_id
        self._known: states.HeldKeys | None = None  # the predecessor's rows by content key, read once
        self._evidence: _Digests | None = None  # the SHA-256 of every evidence record the run holds, read once
        self._ids = array("q")  # 8 bytes a finding, not a list of int objects (about 690,000 at 100,000 resources)
        # The rows stored by content key, while the ledger would remember them (None past its limit).
        self._keys: states.HeldKeys | None = states.HeldKeys() if ledger._remember else None
        self._counts: Counter[tuple[int, str, str]] = Counter()  # findings stored per (No, check, status)
        self._closed = False

    @property
    def stored(self) -> int:
        return len(self._ids)

    def check(self, items: Sequence[Finding]) -> None:
        """Raise LedgerError if any of `items` could not be stored (without storing any)."""
        with self._ledger._session(write=False) as session:
            self._ledger._get_run(session, self.run_id)
            self._read_evidence(session)
        stored = self._evidence or _Digests(())
        for item in items:  # checked only: `add` builds their rows
            self._ledger._checked_status(self.run_id, item, stored)

    def _read_evidence(self, session: Session) -> None:
        if self._evidence is None:
            try:  # each row once (a finding cites a document, however often the run holds it)
                held = states.held_counts(session, RunEvidence, self.run_id, ("sha256",))
                self._evidence = _Digests(sha for _, (sha,) in held)
            except (ValueError, TypeError) as exc:
                raise LedgerError(
                    f"run_evidence of run {self.run_id} cannot be read ({exc}); run `shoko verify`"
                ) from None

    def add(self, items: Iterable[Finding]) -> None:
        items = list(items)
        for start in range(0, len(items), FINDINGS_BATCH):
            self._store(items[start : start + FINDINGS_BATCH])

    def _store(self, items: Sequence[Finding]) -> None:
        if self._closed:
            raise LedgerError(f"run {self.run_id}: its findings part is written; no finding can be added")
        if not items:
            return
        taken: list[tuple[bytes, int]] = []
        keys: list[bytes] = []
        try:
            with self._ledger._session(write=True) as session:
                run = self._ledger._running(session, self.run_id)
                self._read_evidence(session)
                rows = self._ledger._finding_rows(self.run_id, items, self._evidence or _Digests(()))
                if self._known is None:
                    self._known = self._ledger._predecessor_keys(session, run, RunFinding)
                ids = self._ledger._insert_new(session, RunFinding, rows, self._known, taken, keys)
        except BaseException:
            # Not stored: the predecessor's rows it matched are there to match when the batch comes again.
            for key, row_id in reversed(taken):
                self._known.put_back(key, row_id)  # type: ignore[union-attr]
            raise
        self._ids.extend(ids)
        if len(self._ids) > self._ledger._remember_up_to:
            self._keys = None  # more than the ledger keeps: the next run reads them back
        elif self._keys is not None:  # held only to be remembered for the next run (Ledger remember_keys)
            for key, row_id in zip(keys, ids, strict=True):
                self._keys.add(key, row_id)
        for row in rows:
            for number in row["requirements"]:
                self._counts[(number, row["check_id"], row["status"])] += 1

    def close(self) -> None:
        """Write the run's findings part (nothing when no finding was stored); nothing can be added afterwards."""
        if self._closed:
            return
        table = RunFinding.__tablename__
        with self._ledger._session(write=True) as session:
            run = self._ledger._running(session, self.run_id)
            earlier = states.part_count(session, run.id, table)
            states.add_part_columns(session, run.id, table, self._ids)  # no entry per finding: 690,000 at 100,000
        if self._ids:  # committed: the next run's predecessor keys need not be read back
            self._ledger._remember_keys(table, self.run_id, earlier, self._keys)
        self._ledger._note_finding_counts(self.run_id, len(self._ids), self._counts)
        self._closed = True
        self._ids, self._keys, self._known, self._evidence = array("q"), None, None, None
        self._counts = Counter()


def _copy_rows(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> list[int]:
    """PostgreSQL: insert rows with one COPY, each with an id drawn from the table's sequence beforehand in the
    order given (what INSERT ... RETURNING assigns), and return those ids. The columns' own bind processing
    (JSON, UTC datetimes) gives the values, so what is stored is what an INSERT stores; the table's triggers run
    for every row as they do for an INSERT. A multi-row INSERT binds every value as a parameter of a statement
    rendered per batch, which costs the client more CPU than storing the rows costs the server."""
    import psycopg
    from psycopg import sql

    table = model.__table__
    names = list(rows[0])
    connection = session.connection()
    dialect = connection.dialect
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    drawn = connection.execute(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
        {"table": table.name, "n": len(rows)},
    )
    ids = sorted(int(row_id) for (row_id,) in drawn)  # a sequence gives one session increasing values
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, ["id", *names]))
    )
    dbapi_connection = connection.connection.dbapi_connection
    try:
        with dbapi_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row_id, row in zip(ids, rows, strict=True):
                values = (row[name] for name in names)
                copy.write_row(
                    [row_id, *(value if p is None else p(value) for p, value in zip(processors, values, strict=True))]
                )
    except psycopg.Error as exc:
        raise DBAPIError.instance(f"COPY {table.name}", None, exc, psycopg.Error, dialect=dialect) from exc
    return ids


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


def _held(session: Session, model: type[Base], run_id: int) -> Sequence[Any]:
    """The rows a run holds, in order: from its parts (storage/states.py), or, for a run stored before parts
    existed, the rows it owns. A part or column that cannot be read gives one line, not a traceback."""
    try:
        held = states.held_rows(session, model, run_id) if model in states.STATE_TABLES else None
        if held is not None:
            return held
        table = model.__table__
        return session.scalars(select(model).where(table.c.run_id == run_id).order_by(table.c.id)).all()
    except (ValueError, TypeError) as exc:
        raise LedgerError(f"{model.__tablename__} of run {run_id} cannot be read ({exc}); run `shoko verify`") from None


def seal_contents(
    session: Session, run_id: int, version: int = SEAL_VERSION
) -> tuple[dict[str, list[tuple[int, str]]], dict[str, Any]]:
    """What `hashing.seal_document` is given for a run: per table the [row id, row hash] pairs of rows it stored
    itself, and its parts with a count and digest of the rows they hold. From version 3 the pairs leave out the
    own rows its parts hold, which that digest covers already: a first run's seal no longer lists every row."""
    parts = states.parts(session, run_id)
    state: dict[str, list[Any]] = {}
    rows: dict[str, list[tuple[int, str]]] = {}
    for model in RUN_TABLES:
        table = model.__tablename__
        if model not in states.STATE_TABLES:
            rows[table] = list(states.own_pairs(session, model, run_id))  # JSON lists, as tuples: smaller
            continue
        held = states.OwnHeld(session, model, run_id)
        # Part by part, a few hundred row hashes at a time: the digest is over them all in order (the parts' row
        # ids only: the entries' times are not made).
        row_ids = (i for p in parts if p.table_name == table for i in states.part_row_ids(p.content))
        state[table] = list(states.state_digest(states.state_pairs(session, model, held.marking(row_ids))))
        own = states.own_pairs(session, model, run_id)
        rows[table] = [pair for pair in own if version < 3 or pair[0] not in held]
    listed = [[p.id, p.table_name, p.entries, states.part_sha256(p.content)] for p in parts]
    return rows, {"parts": listed, "state": state}


# Verdicts that state a judgement read from findings, and the finding status each must cite at least one of.
# `error` (nothing could be judged), `manual`, `inherited` and `not_applicable` (the catalog's word) may cite none.
_VERDICT_CITES = {"pass": "pass", "partial": "pass", "attested": "pass", "fail": "fail", "expired": "fail"}


def _check_verdicts_cite_findings(
    session: Session, run_id: int, rows: list[dict[str, Any]], counted: Mapping[tuple[int, str, str], int] | None
) -> None:
    """A verdict that states a judgement must count at least one finding of the status it rests on, and each of
    its counts must be backed by findings this run stored (of its checks, naming its No). `counted`: the findings
    stored per (No, check, status), as the writers that stored them all counted them; else they are read."""
    stored: dict[tuple[int, str, str], int] = dict(counted) if counted is not None else {}
    try:
        for times, (check_id, status, requirements) in (
            states.held_counts(session, RunFinding, run_id, ("check_id", "status", "requirements"))
            if counted is None
            else ()
        ):
            for number in requirements or ():
                key = (int(number), check_id, status)
                stored[key] = stored.get(key, 0) + times
    except (ValueError, TypeError) as exc:
        raise LedgerError(f"findings of run {run_id} cannot be read ({exc}); run `shoko verify`") from None
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


_KIND_NAME = re.compile(KIND_PATTERN)  # compiled once: every evidence record's kind is checked against it


def _kind(kind: Kind) -> str:
    if not isinstance(kind, str) or not _KIND_NAME.fullmatch(kind):
        raise LedgerError(f"fact kind {kind!r} is not a name such as 'storage_account'")
    return str(kind)


def _known_kind(name: str) -> Kind:
    """A stored kind: the built-in family's enum member where there is one, else the declared name."""
    if not _KIND_NAME.fullmatch(name):
        raise ValueError(f"fact kind {name!r} is not a kind name")
    return FactKind(name) if name in FactKind._value2member_map_ else name


def _status(status: Status | str, what: str) -> str:
    try:
        return Status(status).value
    except ValueError:
        raise LedgerError(f"{what}: unknown status {status!r}") from None


def _findings_of_rows(rows: Iterable[Any]) -> list[Finding]:
    """Findings of rows selected from the findings table (plain rows, without the model's table name)."""
    out = []
    for row in rows:
        try:
            out.append(_to_finding(row))
        except (ValueError, TypeError) as exc:
            raise LedgerError(f"findings row {row.id} cannot be read ({exc}); run `shoko verify`") from None
    return out


def _convert(build: Callable[..., _T], row: Any, *more: Any) -> _T:
    # A hand-edited value (unknown status, kind, broken JSON) gives one clear line, not a traceback.
    try:
        return build(row, *more)
    except (ValueError, TypeError) as exc:
        raise LedgerError(f"{row.__tablename__} row {row.id} cannot be read ({exc}); run `shoko verify`") from None


class _SharedStrings:
    """One string object for equal keys and short values across the documents of one read. Documents of a kind
    repeat their keys and most values ("type", "location", "properties", ...); parsed one by one, each holds its
    own copies (100,000 inventory documents: 202 MB parsed apart, 89 MB sharing them). Strings are immutable, so
    what the documents are does not change."""

    LONGEST = 64  # longer values (ids, names with paths) are seldom repeated

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def text(self, value: str) -> str:
        return self._seen.setdefault(value, value)

    def pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen = self._seen
        return {
            seen.setdefault(k, k): seen.setdefault(v, v) if type(v) is str and len(v) <= self.LONGEST else v
            for k, v in pairs
        }


def _to_evidence(row: RunEvidence, content: str | None, shared: _SharedStrings | None = None) -> Evidence:
    if content is None:
        raise ValueError(f"evidence blob {row.sha256} is missing")
    shared = shared or _SharedStrings()
    return Evidence(
        kind=_known_kind(row.kind),
        source=shared.text(row.source),
        scope=shared.text(row.scope),
        resource_id=row.resource_id,
        api_version=shared.text(row.api_version),
        request_id=row.request_id,
        collected_at=row.collected_at,
        content=json.loads(content, object_pairs_hook=shared.pairs),
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
