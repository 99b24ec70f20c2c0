"""Run signatures: each sealed run's digest signed with the installation's Ed25519 key.

A table of its own, keyed by run, written in the same transaction as the seal it signs (the seal cannot
cover a signature of itself). Append-only like the run tables. Runs sealed before signing was configured
have no row.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "run_signatures"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("key_fingerprint", sa.String(95), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_run_signatures"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_signatures_run_id_runs"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER shoko_{TABLE}_immutable BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION shoko_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER shoko_{TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION shoko_reject_change()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER shoko_{TABLE}_no_{operation.lower()} BEFORE {operation} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, 'shoko ledger is append-only: {operation} on {TABLE} "
                "is not allowed'); END"
            )


def downgrade() -> None:
    op.drop_table(TABLE)
