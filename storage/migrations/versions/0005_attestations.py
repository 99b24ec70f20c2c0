"""Attestations: people's statements for what no API shows, with their documents.

Append-only like the run tables: a revocation is a record of its own, never an edit. Records form a hash
chain of their own (each holds the previous record's chain hash; a unique `prev_hash` keeps it one line
even when two writers append at once); documents are kept once per SHA-256 of their bytes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

TABLES = ("attestation_records", "attestation_documents")


def upgrade() -> None:
    op.create_table(
        "attestation_records",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("attestation_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("chain_hash", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attestation_records"),
        sa.UniqueConstraint("prev_hash", name="uq_attestation_records_prev_hash"),
    )
    op.create_index("ix_attestation_records_attestation_id", "attestation_records", ["attestation_id"])
    op.create_table(
        "attestation_documents",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("media_type", sa.String(128), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_attestation_documents"),
    )
    for table in TABLES:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(
                f"CREATE TRIGGER shoko_{table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION shoko_reject_change()"
            )
            op.execute(
                f"CREATE TRIGGER shoko_{table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION shoko_reject_change()"
            )
        else:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER shoko_{table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'shoko ledger is append-only: {operation} on {table} "
                    "is not allowed'); END"
                )


def downgrade() -> None:
    op.drop_index("ix_attestation_records_attestation_id", "attestation_records")
    for table in TABLES:
        op.drop_table(table)
