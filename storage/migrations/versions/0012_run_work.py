"""A run's work items, for agent replicas that share one run (collector/shared_work.py): one row per subscription,
one for the tenant-wide facts and one for judging, each claimed by one replica at a time under a lease.

State, not part of the ledger's record: not chained, not protected by the append-only triggers (a row changes as it
is claimed, renewed and finished). What the work stored is sealed with the run as usual.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "run_work"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("item", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("settings_digest", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(255), nullable=True),
        sa.Column("holder_token", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_work_run_id_runs"),
        sa.PrimaryKeyConstraint("run_id", "item", name="pk_run_work"),
    )
    op.create_index("ix_run_work_state", TABLE, ["state"])


def downgrade() -> None:
    op.drop_index("ix_run_work_state", TABLE)
    op.drop_table(TABLE)
