"""API tokens and the record of writes made through the API.

`api_tokens` is state (a token's last use moves, a revocation is set once); only the SHA-256 of each token's
secret is kept. `api_actions` is a record: append-only like the attestation records, hash-chained the same way
(each row holds the previous row's chain hash; a unique `prev_hash` keeps it one line under concurrent writers).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(255), nullable=False),
        _ts("expires_at"),
        _ts("revoked_at", nullable=True),
        sa.Column("revoked_by", sa.String(255), nullable=True),
        _ts("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
    )
    op.create_table(
        "api_actions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("chain_hash", sa.String(64), nullable=False),
        _ts("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_api_actions"),
        sa.UniqueConstraint("prev_hash", name="uq_api_actions_prev_hash"),
    )
    op.create_index("ix_api_actions_action", "api_actions", ["action"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER shoko_api_actions_immutable BEFORE UPDATE OR DELETE ON api_actions "
            "FOR EACH ROW EXECUTE FUNCTION shoko_reject_change()"
        )
        op.execute(
            "CREATE TRIGGER shoko_api_actions_no_truncate BEFORE TRUNCATE ON api_actions "
            "FOR EACH STATEMENT EXECUTE FUNCTION shoko_reject_change()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER shoko_api_actions_no_{operation.lower()} BEFORE {operation} ON api_actions "
                f"BEGIN SELECT RAISE(ABORT, 'shoko ledger is append-only: {operation} on api_actions "
                "is not allowed'); END"
            )


def downgrade() -> None:
    op.drop_index("ix_api_actions_action", "api_actions")
    op.drop_table("api_actions")
    op.drop_table("api_tokens")
