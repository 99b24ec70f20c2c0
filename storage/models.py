"""SQLAlchemy models of the evidence ledger.

The schema itself is created by the Alembic migrations in `storage/migrations/`; these models are the
typed view the ledger code uses (a test keeps the two in step).

Every row of a run-owned table carries `row_hash`, the SHA-256 of its content computed at insert time
(see `storage.hashing`), so `Ledger.verify()` can name the exact row that was altered later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends.

    SQLite keeps no offset, so values are normalised to UTC before they are written and marked UTC
    when read back; naive datetimes are refused because their zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; the ledger needs timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    # Named constraints so later migrations (SQLite batch mode included) can address them.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))  # running | completed | failed | interrupted
    error: Mapped[str | None] = mapped_column(Text)
    agent_version: Mapped[str] = mapped_column(String(64))
    config_digest: Mapped[str] = mapped_column(String(128))
    scope: Mapped[dict[str, Any]]
    # Position in the hash chain (1, 2, ...), given when the run is sealed; seal order, not id order.
    chain_index: Mapped[int | None] = mapped_column(Integer, unique=True)
    digest: Mapped[str | None] = mapped_column(String(64))
    prev_digest: Mapped[str | None] = mapped_column(String(64))
    # The canonical JSON document whose SHA-256 is `digest`: run metadata, every row id and row hash the run stored,
    # and (seal version 2) its parts and the count and digest of the rows it holds (storage/hashing.py).
    seal: Mapped[str | None] = deferred(mapped_column(Text))
    # The lease of the process collecting the run (storage.leases): renewed while it runs, kept as last
    # renewed once sealed. Not part of the seal; the database refuses any change but a renewal.
    lease_host: Mapped[str | None] = mapped_column(String(255))
    lease_pid: Mapped[int | None] = mapped_column(Integer)
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_renewed_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_runs_finished_at", "finished_at"),)


class EvidenceBlob(Base):
    """One raw document, stored once per distinct content; `content` is its canonical JSON text."""

    __tablename__ = "evidence_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)


class RunEvidence(Base):
    __tablename__ = "run_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(Text)
    resource_id: Mapped[str] = mapped_column(Text)
    api_version: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    collected_at: Mapped[datetime]
    sha256: Mapped[str] = mapped_column(ForeignKey("evidence_blobs.sha256"), index=True)
    # What was blanked out of the document before it was stored: [{"path": "$.properties...", "rule": id}, ...]
    # (collector/redaction.yaml). NULL only on rows stored before the column existed (see LATER_COLUMNS).
    redactions: Mapped[list[Any] | None]
    row_hash: Mapped[str] = mapped_column(String(64))


class RunCollectionError(Base):
    __tablename__ = "collection_errors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime]
    row_hash: Mapped[str] = mapped_column(String(64))


class RunFinding(Base):
    __tablename__ = "findings"
    # A few checks' findings within the span of ids a run holds (Ledger.finding_outcomes_of).
    __table_args__ = (Index("ix_findings_check_id_id", "check_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    check_id: Mapped[str] = mapped_column(String(128))
    requirements: Mapped[list[Any]]  # [int, ...]
    status: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[str] = mapped_column(Text)
    reason_ja: Mapped[str] = mapped_column(Text)
    reason_en: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[Any]]  # [sha256, ...] of the evidence judged
    row_hash: Mapped[str] = mapped_column(String(64))


# The findings on one resource, in any case (Ledger.findings_of_resource: a resource's page and history).
Index("ix_findings_resource_id_lower", func.lower(RunFinding.resource_id))


class RunVerdict(Base):
    __tablename__ = "verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    requirement: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    reason_ja: Mapped[str] = mapped_column(Text)
    reason_en: Mapped[str] = mapped_column(Text)
    check_ids: Mapped[list[Any]]
    findings_pass: Mapped[int] = mapped_column(Integer)
    findings_fail: Mapped[int] = mapped_column(Integer)
    findings_error: Mapped[int] = mapped_column(Integer)
    row_hash: Mapped[str] = mapped_column(String(64))

    # One verdict per requirement number per run; one requirement's verdicts across runs (its history) by index.
    __table_args__ = (
        UniqueConstraint("run_id", "requirement"),
        Index("ix_verdicts_requirement_run_id", "requirement", "run_id"),
    )


class RunDriftEvent(Base):
    """One change since the last completed run that judged the same check / requirement (alerts/drift.py)."""

    __tablename__ = "drift_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # controls.model.DriftKind
    check_id: Mapped[str | None] = mapped_column(String(128))  # None for a verdict change
    resource_id: Mapped[str | None] = mapped_column(Text)  # None for a verdict change
    requirements: Mapped[list[Any]]  # [int, ...]
    status_before: Mapped[str | None] = mapped_column(String(16))  # None: nothing before
    status_after: Mapped[str | None] = mapped_column(String(16))  # None: gone
    reason_ja: Mapped[str] = mapped_column(Text)
    reason_en: Mapped[str] = mapped_column(Text)
    previous_run: Mapped[int | None] = mapped_column(Integer)  # the run the "before" was seen in
    row_hash: Mapped[str] = mapped_column(String(64))


# The run-owned tables in the order they are sealed and verified.
RUN_TABLES: tuple[type[Base], ...] = (RunEvidence, RunCollectionError, RunFinding, RunVerdict, RunDriftEvent)
# Run-owned tables added after the first schema: a run sealed before such a table existed has no entry
# for it in its seal, which means it holds no rows there (the seal document itself is hashed).
LATER_RUN_TABLES: frozenset[str] = frozenset({"drift_events"})
# Columns added to a run-owned table after its first schema: a row stored before holds NULL there, and its row
# hash was computed without the column, so a NULL leaves it out of the hashed row (any value, even [], is hashed).
LATER_COLUMNS: dict[str, frozenset[str]] = {"run_evidence": frozenset({"redactions"})}


class RunState(Base):
    """One part of a run's evidence or findings as references to stored rows (storage/states.py): the row ids in
    order and, for evidence, the run's own collection time and request id of each. A run sealed with parts holds
    exactly what its parts list; a run without any (stored before parts existed) holds the rows it owns.
    Append-only; each part's SHA-256 is in the run's seal."""

    __tablename__ = "run_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    table_name: Mapped[str] = mapped_column(String(32))  # run_evidence | findings
    entries: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)  # zlib of canonical JSON


class RunSignature(Base):
    """A sealed run's digest signed with the installation's Ed25519 key (storage/signatures.py): written with the
    seal, in the same transaction; runs sealed before signing was configured have none. Append-only."""

    __tablename__ = "run_signatures"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))  # the run's digest as signed
    algorithm: Mapped[str] = mapped_column(String(16))  # ed25519
    public_key: Mapped[str] = mapped_column(String(64))  # the raw 32-byte public key, base64
    key_fingerprint: Mapped[str] = mapped_column(String(95))  # as `shoko keys create` prints it
    signature: Mapped[str] = mapped_column(String(128))  # base64 of the 64-byte signature
    signed_at: Mapped[datetime]


class AlertOutbox(Base):
    """One alert message for one channel, written before it is sent (alerts/outbox.py).

    Not part of any run's seal: its delivery state changes (pending → delivered or given_up).
    """

    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    channel: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | given_up
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]  # also the claim of a send in flight
    delivered_at: Mapped[datetime | None]
    given_up_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    # One message per channel per run: enqueueing a run twice adds nothing.
    __table_args__ = (
        UniqueConstraint("run_id", "channel"),
        Index("ix_alert_outbox_state_next_attempt_at", "state", "next_attempt_at"),
    )


class OpenAlert(Base):
    """A (check, resource) alerted as failing or erroring and not yet resolved; mutable, deleted when it clears."""

    __tablename__ = "alert_open"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of check id + lower-cased resource id
    check_id: Mapped[str] = mapped_column(String(128))
    resource_id: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # the status last announced: fail | error
    severity: Mapped[str] = mapped_column(String(16))
    requirements: Mapped[list[Any]]
    channels: Mapped[list[Any]]  # the channels it was sent to; its reminders and resolve go there
    reason_ja: Mapped[str] = mapped_column(Text)
    reason_en: Mapped[str] = mapped_column(Text)
    opened_run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    opened_at: Mapped[datetime]
    last_run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    notified_at: Mapped[datetime]


class AttestationRecord(Base):
    """One attestation added or revoked (controls/attestations.py); append-only, chained by `prev_hash`."""

    __tablename__ = "attestation_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    attestation_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))  # add | revoke
    content: Mapped[str] = mapped_column(Text)  # canonical JSON of the record
    content_sha256: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)  # "" for the first record
    chain_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of prev_hash + "\n" + content_sha256
    recorded_at: Mapped[datetime]


class AttestationDocument(Base):
    """A document attached to attestations, kept once per SHA-256 of its bytes."""

    __tablename__ = "attestation_documents"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ApiToken(Base):
    """A bearer token of the read API (api/tokens.py): only the SHA-256 of its secret is kept.

    State, not a record: `last_used_at` moves and a revocation is set once. Creating and revoking a token are
    also recorded, with who did it, in the chained `api_actions`."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # public part of the token, e.g. "k3v9q2..."
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # auditor | operator | admin
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(255))
    last_used_at: Mapped[datetime | None]


class ApiAction(Base):
    """One write made through the API or the token commands (a token created or revoked, an attestation added
    or revoked, a drift event acknowledged, a collection requested), with who made it; append-only, chained by
    `prev_hash` like the attestation records."""

    __tablename__ = "api_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    subject: Mapped[str] = mapped_column(String(255))  # what it was done to: a token id, attestation id, event id
    actor: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)  # canonical JSON of the record
    content_sha256: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)  # "" for the first record
    chain_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of prev_hash + "\n" + content_sha256
    recorded_at: Mapped[datetime]


class AuthFailure(Base):
    """One failed authentication at the API, by client address. Every process and replica serving the API over
    the same database reads and adds these, so api.auth_failure_limit holds across them. State, not a record:
    rows older than the failure window are deleted as new ones are added."""

    __tablename__ = "api_auth_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(255))
    failed_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_api_auth_failures_client_failed_at", "client", "failed_at"),
        Index("ix_api_auth_failures_failed_at", "failed_at"),
    )


class RunWork(Base):
    """One work item of a run shared by agent replicas (collector/shared_work.py): a subscription, "tenant" (the
    tenant-wide facts) or "judge". State, not a record: it changes as replicas claim, renew and finish it."""

    __tablename__ = "run_work"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    item: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending | claimed | done | failed
    # The starting replica's collection settings (collector.shared_work.work_digest): a replica whose own differ
    # does not join the run.
    settings_digest: Mapped[str] = mapped_column(String(64))
    holder: Mapped[str | None] = mapped_column(String(255))  # host/pid of the replica holding the claim
    holder_token: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer)
    finished_at: Mapped[datetime | None]
