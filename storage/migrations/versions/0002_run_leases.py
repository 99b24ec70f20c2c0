"""Run leases: who holds a running run and until when; the `interrupted` seal.

A running run may now change in exactly two ways: its lease is renewed (lease_renewed_at /
lease_expires_at, nothing else), or it is sealed — completed, failed or interrupted — with its finish
time, chain position, seal and digest in one UPDATE. Its identity (id, start, agent version, config
digest, scope) and its lease holder never change; a sealed run never changes at all.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

LEASE_COLUMNS = ("lease_host", "lease_pid", "lease_token", "lease_renewed_at", "lease_expires_at")
SEALED_STATUSES = "('completed', 'failed', 'interrupted')"
# Columns of a running run that never change (its identity and its lease holder).
_FIXED = ("id", "started_at", "agent_version", "config_digest", "lease_host", "lease_pid", "lease_token")
# Columns only a seal sets; a lease renewal leaves them alone.
_SEAL_ONLY = ("finished_at", "error", "chain_index", "digest", "prev_digest", "seal")
_SQLITE_TRIGGERS = ("shoko_runs_running_fixed", "shoko_runs_renewal_only", "shoko_runs_seal_whole")


def upgrade() -> None:
    op.add_column("runs", sa.Column("lease_host", sa.String(255), nullable=True))
    op.add_column("runs", sa.Column("lease_pid", sa.Integer, nullable=True))
    op.add_column("runs", sa.Column("lease_token", sa.String(64), nullable=True))
    op.add_column("runs", sa.Column("lease_renewed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("runs", sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_guard(upgrade=True)
    else:
        _sqlite_triggers()


def _changed(columns: tuple[str, ...], op_: str) -> str:
    return " OR ".join(f"NEW.{c} {op_} OLD.{c}" for c in columns)


def _postgresql_guard(upgrade: bool) -> None:
    if not upgrade:
        op.execute(
            """
            CREATE OR REPLACE FUNCTION shoko_guard_runs() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    RAISE EXCEPTION 'shoko ledger is append-only: DELETE on runs is not allowed';
                END IF;
                IF OLD.status <> 'running' THEN
                    RAISE EXCEPTION 'shoko ledger: run % is sealed and cannot be changed', OLD.id;
                END IF;
                RETURN NEW;
            END $$
            """
        )
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION shoko_guard_runs() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'shoko ledger is append-only: DELETE on runs is not allowed';
            END IF;
            IF OLD.status <> 'running' THEN
                RAISE EXCEPTION 'shoko ledger: run % is sealed and cannot be changed', OLD.id;
            END IF;
            IF {_changed(_FIXED, "IS DISTINCT FROM")} OR NEW.scope::text IS DISTINCT FROM OLD.scope::text THEN
                RAISE EXCEPTION 'shoko ledger: run % is running; its identity and lease holder cannot be changed',
                    OLD.id;
            END IF;
            IF NEW.status = 'running' THEN
                IF {_changed(_SEAL_ONLY, "IS DISTINCT FROM")} THEN
                    RAISE EXCEPTION 'shoko ledger: run % is running; only its lease can be renewed', OLD.id;
                END IF;
            ELSIF NEW.status NOT IN {SEALED_STATUSES} OR NEW.finished_at IS NULL OR NEW.chain_index IS NULL
                    OR NEW.seal IS NULL OR NEW.digest IS NULL THEN
                RAISE EXCEPTION 'shoko ledger: run % must be sealed whole (status, finish, chain position, seal)',
                    OLD.id;
            END IF;
            RETURN NEW;
        END $$
        """
    )


def _sqlite_triggers() -> None:
    # shoko_runs_sealed (0001) still refuses any UPDATE of a sealed run.
    op.execute(
        "CREATE TRIGGER shoko_runs_running_fixed BEFORE UPDATE ON runs "
        f"WHEN OLD.status = 'running' AND ({_changed((*_FIXED, 'scope'), 'IS NOT')}) "
        "BEGIN SELECT RAISE(ABORT, 'shoko ledger: a running run''s identity and lease holder cannot be changed'); END"
    )
    op.execute(
        "CREATE TRIGGER shoko_runs_renewal_only BEFORE UPDATE ON runs "
        f"WHEN OLD.status = 'running' AND NEW.status = 'running' AND ({_changed(_SEAL_ONLY, 'IS NOT')}) "
        "BEGIN SELECT RAISE(ABORT, 'shoko ledger: a running run''s lease is all that can be renewed'); END"
    )
    op.execute(
        "CREATE TRIGGER shoko_runs_seal_whole BEFORE UPDATE ON runs "
        "WHEN OLD.status = 'running' AND NEW.status <> 'running' AND ("
        f"NEW.status NOT IN {SEALED_STATUSES} OR NEW.finished_at IS NULL OR NEW.chain_index IS NULL "
        "OR NEW.seal IS NULL OR NEW.digest IS NULL) "
        "BEGIN SELECT RAISE(ABORT, 'shoko ledger: a run must be sealed whole (status, finish, chain position, seal)'); "
        "END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_guard(upgrade=False)
    else:
        for trigger in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {trigger}")
    for column in reversed(LEASE_COLUMNS):
        op.execute(f"ALTER TABLE runs DROP COLUMN {column}")
