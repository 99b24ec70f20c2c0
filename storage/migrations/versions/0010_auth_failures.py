"""Failed API authentications, by client address, shared by every process and replica serving the API.

State, not part of the ledger's record: not chained, not protected by the append-only triggers; rows older
than the failure window are deleted as new ones are added.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "api_auth_failures"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("client", sa.String(255), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_auth_failures"),
    )
    op.create_index("ix_api_auth_failures_client_failed_at", TABLE, ["client", "failed_at"])
    op.create_index("ix_api_auth_failures_failed_at", TABLE, ["failed_at"])


def downgrade() -> None:
    op.drop_index("ix_api_auth_failures_failed_at", TABLE)
    op.drop_index("ix_api_auth_failures_client_failed_at", TABLE)
    op.drop_table(TABLE)
