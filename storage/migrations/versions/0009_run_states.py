"""Run states: a run's evidence and findings as references to stored rows, so an unchanged row is stored once.

A run stores a new `run_evidence` / `findings` row only for content that its predecessor of the same scope did
not hold; `run_states` lists, per part (one per insert), the row ids that make up the run's evidence or findings in
order, and for evidence the run's own collection time and request id of each (what changes every run even when
the document does not). The list is zlib-compressed canonical JSON (storage/states.py). Runs stored before this
revision have no parts: their state is still the rows they own. No existing row is changed.

Append-only like the run tables: no update or delete, and no part added to a sealed run.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "run_states"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("table_name", sa.String(32), nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_states"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_states_run_id_runs"),
    )
    op.create_index("ix_run_states_run_id", TABLE, ["run_id"])
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
    op.drop_table(TABLE)
