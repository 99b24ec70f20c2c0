"""The append-only evidence ledger.

A run is opened with `start_run`, receives inserts only (evidence, collection errors, findings,
verdicts), and is sealed once by `complete_run` or `fail_run`: the seal hashes the run's metadata and
every row hash, and links to the previous sealed run's digest. `verify` re-checks all of it.

SQLite file by default, PostgreSQL by URL; the schema is created or migrated when the ledger opens.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Self, TypeVar

from sqlalchemy import Engine, create_engine, event, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session, undefer
from sqlalchemy.pool import StaticPool

from controls.model import (
    KIND_PATTERN,
    CollectionError,
    Evidence,
    FactKind,
    Finding,
    Kind,
    Status,
    Verdict,
    canonical_json,
)

from . import migrate
from .hashing import blob_sha256, row_hash, seal_document
from .models import (
    RUN_TABLES,
    Base,
    EvidenceBlob,
    Run,
    RunCollectionError,
    RunEvidence,
    RunFinding,
    RunVerdict,
)
from .verify import VerifyReport, verify

__all__ = ["Ledger", "LedgerError", "RunRecord", "RunStatus", "VerifyReport"]

_T = TypeVar("_T")
_CHUNK = 500  # rows per executemany / IN (...) list
_SEAL_ATTEMPTS = 5
_SEAL_LOCK_KEY = 0x73686F6B6F01  # PostgreSQL advisory lock taken while a run is being sealed


class LedgerError(Exception):
    """A ledger operation that cannot be done. The message is one line for people."""


class _Conflict(LedgerError):
    """A uniqueness constraint refused the write (a concurrent seal, a duplicate verdict)."""


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


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

    @property
    def sealed(self) -> bool:
        return self.status != RunStatus.RUNNING


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


def _aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise LedgerError(f"{what} must be a timezone-aware datetime (UTC), got {value!r}")
    return value.astimezone(UTC)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Ledger:
    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        self._url = _normalise_url(url)
        self.url = self._url.render_as_string(hide_password=True)
        self.engine = self._create_engine(echo)
        # SQLite: write transactions take the write lock up front (BEGIN IMMEDIATE), so a check such as
        # "is this run still running?" cannot go stale before the insert that depends on it.
        self._writer = self.engine.execution_options(shoko_write=True)
        self._reader = self.engine
        if self.engine.dialect.name == "postgresql":
            # One consistent snapshot for multi-query reads such as verify().
            self._reader = self.engine.execution_options(isolation_level="REPEATABLE READ")
        try:
            with self._writer.begin() as connection:
                migrate.upgrade(connection)
        except migrate.SchemaError as exc:
            self.engine.dispose()
            raise LedgerError(str(exc)) from None
        except DBAPIError as exc:
            self.engine.dispose()
            raise LedgerError(f"cannot open ledger database {self.url}: {_first_line(exc)}") from None

    def _create_engine(self, echo: bool) -> Engine:
        url = self._url
        if url.get_backend_name() != "sqlite":
            return create_engine(url, echo=echo, pool_pre_ping=True)
        memory = url.database in (None, "", ":memory:")
        if not memory:
            Path(url.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30, "check_same_thread": False},
            **({"poolclass": StaticPool} if memory else {}),
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event below emits BEGIN
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            if not memory:
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

    def start_run(self, started_at: datetime, *, agent_version: str, config_digest: str, scope: dict[str, Any]) -> int:
        started_at = _aware(started_at, "started_at")
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
            )
            session.add(run)
            session.flush()
            return run.id

    def _running(self, session: Session, run_id: int) -> Run:
        # FOR SHARE on PostgreSQL: a concurrent seal waits until these inserts are committed.
        run = session.scalar(select(Run).where(Run.id == run_id).with_for_update(read=True))
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
                self._insert_rows(session, RunVerdict, rows)
        except _Conflict:
            raise LedgerError(f"run {run_id} already has a verdict for one of these requirements") from None

    def complete_run(self, run_id: int, finished_at: datetime) -> str:
        return self._seal(run_id, finished_at, RunStatus.COMPLETED, None)

    def fail_run(self, run_id: int, finished_at: datetime, error: str) -> str:
        return self._seal(run_id, finished_at, RunStatus.FAILED, error)

    def _seal(self, run_id: int, finished_at: datetime, status: RunStatus, error: str | None) -> str:
        finished_at = _aware(finished_at, "finished_at")
        conflict: _Conflict | None = None
        for _attempt in range(_SEAL_ATTEMPTS):
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
                    return run.digest
            except _Conflict as exc:
                # Most likely another run took this chain position at the same moment: re-read the tail.
                conflict = exc
        raise LedgerError(f"run {run_id} could not be sealed: {conflict}")

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

    def _sealed_query(self, completed_only: bool) -> Any:
        wanted = ("completed",) if completed_only else ("completed", "failed")
        return select(Run).where(Run.status.in_(wanted), Run.chain_index.is_not(None))

    def latest_run(self, *, completed_only: bool = False) -> RunRecord | None:
        """The most recently sealed run (completed or failed; only completed if asked)."""
        with self._session(write=False) as session:
            run = session.scalar(self._sealed_query(completed_only).order_by(Run.chain_index.desc()).limit(1))
            return self._records(session, [run])[0] if run else None

    def run_as_of(self, ts: datetime, *, completed_only: bool = False) -> RunRecord | None:
        """The run that was current at `ts`: the latest one sealed (finished) at or before it."""
        ts = _aware(ts, "ts")
        with self._session(write=False) as session:
            run = session.scalar(
                self._sealed_query(completed_only)
                .where(Run.finished_at <= ts)
                .order_by(Run.finished_at.desc(), Run.chain_index.desc())
                .limit(1)
            )
            return self._records(session, [run])[0] if run else None

    def evidence(self, run_id: int) -> list[Evidence]:
        with self._session(write=False) as session:
            rows = self._rows(session, RunEvidence, run_id)
            contents: dict[str, str] = {}
            for chunk in _chunks(sorted({row.sha256 for row in rows})):
                query = select(EvidenceBlob.sha256, EvidenceBlob.content).where(EvidenceBlob.sha256.in_(chunk))
                contents.update({sha: content for sha, content in session.execute(query)})
            return [_convert(_to_evidence, row, contents.get(row.sha256)) for row in rows]

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

    def verdicts(self, run_id: int) -> list[Verdict]:
        with self._session(write=False) as session:
            return [_convert(_to_verdict, row) for row in self._rows(session, RunVerdict, run_id)]

    def _rows(self, session: Session, model: type[Any], run_id: int) -> Sequence[Any]:
        self._get_run(session, run_id)
        try:
            return session.scalars(select(model).where(model.run_id == run_id).order_by(model.id)).all()
        except (ValueError, TypeError) as exc:
            raise LedgerError(
                f"{model.__tablename__} of run {run_id} cannot be read ({exc}); run `shoko verify`"
            ) from None

    # -- integrity --------------------------------------------------------------------------------

    def verify(self) -> VerifyReport:
        with self._session(write=False) as session:
            return verify(session)


def _row_hashes(session: Session, model: type[Base], run_id: int) -> list[list[Any]]:
    table = model.__table__
    query = select(table.c.id, table.c.row_hash).where(table.c.run_id == run_id).order_by(table.c.id)
    return [[row_id, digest] for row_id, digest in session.execute(query)]


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
