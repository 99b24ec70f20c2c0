"""An index of findings by check and id: the findings of a few checks a run holds (the MHLW 6.0 controls `status`
shows) are read from the index within the span of ids the run holds, instead of every finding in that span, which
on a long history is most of the table.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_findings_check_id_id"


def upgrade() -> None:
    op.create_index(INDEX, "findings", ["check_id", "id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="findings")
