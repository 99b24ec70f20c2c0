"""Evidence ledger: runs, content-addressed blobs, per-run rows, append-only triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Tables whose rows are never changed or removed once written.
ROW_TABLES = ("run_evidence", "collection_errors", "findings", "verdicts")
IMMUTABLE_TABLES = (*ROW_TABLES, "evidence_blobs")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _run_fk() -> sa.Column:
    return sa.Column("run_id", sa.Integer, nullable=False)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("agent_version", sa.String(64), nullable=False),
        sa.Column("config_digest", sa.String(128), nullable=False),
        sa.Column("scope", sa.JSON, nullable=False),
        sa.Column("chain_index", sa.Integer, nullable=True),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("prev_digest", sa.String(64), nullable=True),
        sa.Column("seal", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("chain_index", name="uq_runs_chain_index"),
    )
    op.create_index("ix_runs_finished_at", "runs", ["finished_at"])

    op.create_table(
        "evidence_blobs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_evidence_blobs"),
    )

    op.create_table(
        "run_evidence",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _run_fk(),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("resource_id", sa.Text, nullable=False),
        sa.Column("api_version", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        _ts("collected_at"),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_evidence"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_evidence_run_id_runs"),
        sa.ForeignKeyConstraint(["sha256"], ["evidence_blobs.sha256"], name="fk_run_evidence_sha256_evidence_blobs"),
    )
    op.create_index("ix_run_evidence_run_id", "run_evidence", ["run_id"])
    op.create_index("ix_run_evidence_sha256", "run_evidence", ["sha256"])

    op.create_table(
        "collection_errors",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _run_fk(),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("code", sa.String(128), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        _ts("occurred_at"),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_collection_errors"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_collection_errors_run_id_runs"),
    )
    op.create_index("ix_collection_errors_run_id", "collection_errors", ["run_id"])

    op.create_table(
        "findings",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _run_fk(),
        sa.Column("check_id", sa.String(128), nullable=False),
        sa.Column("requirements", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resource_id", sa.Text, nullable=False),
        sa.Column("reason_ja", sa.Text, nullable=False),
        sa.Column("reason_en", sa.Text, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_findings"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_findings_run_id_runs"),
    )
    op.create_index("ix_findings_run_id", "findings", ["run_id"])

    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _run_fk(),
        sa.Column("requirement", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason_ja", sa.Text, nullable=False),
        sa.Column("reason_en", sa.Text, nullable=False),
        sa.Column("check_ids", sa.JSON, nullable=False),
        sa.Column("findings_pass", sa.Integer, nullable=False),
        sa.Column("findings_fail", sa.Integer, nullable=False),
        sa.Column("findings_error", sa.Integer, nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_verdicts"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_verdicts_run_id_runs"),
        sa.UniqueConstraint("run_id", "requirement", name="uq_verdicts_run_id"),
    )
    op.create_index("ix_verdicts_run_id", "verdicts", ["run_id"])

    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _postgresql_triggers() -> None:
    op.execute(
        """
        CREATE FUNCTION shoko_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'shoko ledger is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION shoko_reject_sealed_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (SELECT status FROM runs WHERE id = NEW.run_id) <> 'running' THEN
                RAISE EXCEPTION 'shoko ledger: run % is sealed; no rows can be added to %',
                    NEW.run_id, TG_TABLE_NAME;
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION shoko_guard_runs() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'shoko ledger is append-only: DELETE on runs is not allowed';
            END IF;
            IF OLD.status <> 'running' THEN
                RAISE EXCEPTION 'shoko ledger: run % is sealed and cannot be changed', OLD.id;
            END IF;
            RETURN NEW;
        END $$
        """
    )
    for table in IMMUTABLE_TABLES:
        op.execute(
            f"CREATE TRIGGER shoko_{table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION shoko_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER shoko_{table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION shoko_reject_change()"
        )
    for table in ROW_TABLES:
        op.execute(
            f"CREATE TRIGGER shoko_{table}_sealed_insert BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION shoko_reject_sealed_insert()"
        )
    op.execute(
        "CREATE TRIGGER shoko_runs_sealed BEFORE UPDATE OR DELETE ON runs "
        "FOR EACH ROW EXECUTE FUNCTION shoko_guard_runs()"
    )
    op.execute(
        "CREATE TRIGGER shoko_runs_no_truncate BEFORE TRUNCATE ON runs "
        "FOR EACH STATEMENT EXECUTE FUNCTION shoko_reject_change()"
    )


def _sqlite_triggers() -> None:
    # SQLite's RAISE takes a literal message only, hence one trigger per table and operation.
    for table in IMMUTABLE_TABLES:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER shoko_{table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'shoko ledger is append-only: {operation} on {table} "
                "is not allowed'); END"
            )
    for table in ROW_TABLES:
        op.execute(
            f"CREATE TRIGGER shoko_{table}_sealed_insert BEFORE INSERT ON {table} "
            "WHEN (SELECT status FROM runs WHERE id = NEW.run_id) <> 'running' "
            f"BEGIN SELECT RAISE(ABORT, 'shoko ledger: the run is sealed; no rows can be added to {table}'); END"
        )
    op.execute(
        "CREATE TRIGGER shoko_runs_sealed BEFORE UPDATE ON runs WHEN OLD.status <> 'running' "
        "BEGIN SELECT RAISE(ABORT, 'shoko ledger: the run is sealed and cannot be changed'); END"
    )
    op.execute(
        "CREATE TRIGGER shoko_runs_no_delete BEFORE DELETE ON runs "
        "BEGIN SELECT RAISE(ABORT, 'shoko ledger is append-only: DELETE on runs is not allowed'); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in ("shoko_reject_change", "shoko_reject_sealed_insert", "shoko_guard_runs"):
            op.execute(f"DROP FUNCTION {function}() CASCADE")
    # SQLite drops a table's triggers with the table.
    for table in ("verdicts", "findings", "collection_errors", "run_evidence", "evidence_blobs", "runs"):
        op.drop_table(table)
