"""Evidence redactions: which JSON paths of each stored document were blanked, and by which rule.

A run_evidence row stored before this revision holds NULL, and its row hash was computed without the column
(storage.models.LATER_COLUMNS); every row stored from now on carries a list, hashed with the row. Adding a
nullable column changes no existing row, so the append-only triggers stay as they are.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("run_evidence", sa.Column("redactions", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("run_evidence", "redactions")
