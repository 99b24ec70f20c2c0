"""Alert outbox and open alerts: mutable delivery state, outside the runs' seals.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _ts("created_at"),
        _ts("next_attempt_at", nullable=True),
        _ts("delivered_at", nullable=True),
        _ts("given_up_at", nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_outbox"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_alert_outbox_run_id_runs"),
        sa.UniqueConstraint("run_id", "channel", name="uq_alert_outbox_run_id"),
    )
    op.create_index("ix_alert_outbox_state_next_attempt_at", "alert_outbox", ["state", "next_attempt_at"])

    op.create_table(
        "alert_open",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("check_id", sa.String(128), nullable=False),
        sa.Column("resource_id", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("requirements", sa.JSON, nullable=False),
        sa.Column("channels", sa.JSON, nullable=False),
        sa.Column("reason_ja", sa.Text, nullable=False),
        sa.Column("reason_en", sa.Text, nullable=False),
        sa.Column("opened_run_id", sa.Integer, nullable=False),
        _ts("opened_at"),
        sa.Column("last_run_id", sa.Integer, nullable=False),
        _ts("notified_at"),
        sa.PrimaryKeyConstraint("key", name="pk_alert_open"),
        sa.ForeignKeyConstraint(["opened_run_id"], ["runs.id"], name="fk_alert_open_opened_run_id_runs"),
        sa.ForeignKeyConstraint(["last_run_id"], ["runs.id"], name="fk_alert_open_last_run_id_runs"),
    )


def downgrade() -> None:
    op.drop_table("alert_open")
    op.drop_index("ix_alert_outbox_state_next_attempt_at", table_name="alert_outbox")
    op.drop_table("alert_outbox")
