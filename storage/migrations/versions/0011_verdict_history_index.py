"""An index of verdicts by requirement No and run: one requirement's verdict in every run (its history, the
dashboard's requirement page) is read from the index instead of every run's verdicts.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_verdicts_requirement_run_id"


def upgrade() -> None:
    op.create_index(INDEX, "verdicts", ["requirement", "run_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="verdicts")
