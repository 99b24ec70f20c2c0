"""Drift events: a run-owned, append-only, row-hashed table, part of each run's seal like findings.

Runs sealed before this revision have no `drift_events` entry in their seal: they hold no drift rows
(storage.models.LATER_RUN_TABLES).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "drift_events"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("check_id", sa.String(128), nullable=True),
        sa.Column("resource_id", sa.Text, nullable=True),
        sa.Column("requirements", sa.JSON, nullable=False),
        sa.Column("status_before", sa.String(16), nullable=True),
        sa.Column("status_after", sa.String(16), nullable=True),
        sa.Column("reason_ja", sa.Text, nullable=False),
        sa.Column("reason_en", sa.Text, nullable=False),
        sa.Column("previous_run", sa.Integer, nullable=True),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_drift_events"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_drift_events_run_id_runs"),
    )
    op.create_index("ix_drift_events_run_id", TABLE, ["run_id"])

    # The same guards as the first schema's run tables (0001): no UPDATE, DELETE or TRUNCATE, and no
    # INSERT into a sealed run.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER shoko_{TABLE}_immutable BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION shoko_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER shoko_{TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION shoko_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER shoko_{TABLE}_sealed_insert BEFORE INSERT ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION shoko_reject_sealed_insert()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER shoko_{TABLE}_no_{operation.lower()} BEFORE {operation} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, 'shoko ledger is append-only: {operation} on {TABLE} "
                "is not allowed'); END"
            )
        op.execute(
            f"CREATE TRIGGER shoko_{TABLE}_sealed_insert BEFORE INSERT ON {TABLE} "
            "WHEN (SELECT status FROM runs WHERE id = NEW.run_id) <> 'running' "
            f"BEGIN SELECT RAISE(ABORT, 'shoko ledger: the run is sealed; no rows can be added to {TABLE}'); END"
        )


def downgrade() -> None:
    # The table's triggers go with it (PostgreSQL and SQLite); the trigger functions belong to 0001.
    op.drop_index("ix_drift_events_run_id", TABLE)
    op.drop_table(TABLE)
