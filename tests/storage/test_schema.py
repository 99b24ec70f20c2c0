"""The shipped migrations, the models and opening a ledger on good and bad URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from storage import migrate
from storage.ledger import Ledger, LedgerError
from storage.models import Base

from .helpers import execute, record_run


def test_migrations_create_exactly_the_models_schema(ledger: Ledger, raw: Engine) -> None:
    with raw.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert migrate.current_revision(connection) == migrate.head_revision()
        tables = set(inspect(connection).get_table_names())
    assert tables >= {"runs", "evidence_blobs", "run_evidence", "collection_errors", "findings", "verdicts"}


def test_a_resources_findings_are_looked_up_by_the_index_on_their_lower_cased_id(ledger: Ledger, raw: Engine) -> None:
    """SQLite's reflection skips expression indexes, so compare_metadata above does not see this one there."""
    query = "SELECT id FROM findings WHERE lower(resource_id) = 'x'"
    with raw.connect() as connection:
        if raw.dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in connection.execute(text(f"EXPLAIN QUERY PLAN {query}")))
            assert "USING INDEX ix_findings_resource_id_lower" in plan, plan
        else:
            found = connection.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
                                       {"n": "ix_findings_resource_id_lower"}).scalar_one()  # fmt: skip
            assert "lower(resource_id)" in found


def test_downgrade_to_nothing_and_upgrade_again(database_url: str, raw: Engine) -> None:
    Ledger(database_url).close()
    with raw.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "base")
    with raw.connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    with Ledger(database_url) as ledger:
        record_run(ledger)
        assert ledger.verify().ok


def test_a_database_from_a_newer_shoko_is_refused(database_url: str, raw: Engine) -> None:
    Ledger(database_url).close()
    execute(raw, "UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(LedgerError, match="schema revision 9999 is unknown to this shoko"):
        Ledger(database_url)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_plain_postgresql_urls_use_psycopg(database_url: str) -> None:
    url = make_url(database_url)
    with Ledger(url.set(drivername="postgresql").render_as_string(hide_password=False)) as ledger:
        assert ledger.engine.dialect.driver == "psycopg"
        assert ledger.verify().ok


def test_sqlite_file_and_its_folder_are_created(tmp_path: Path) -> None:
    path = tmp_path / "data" / "nested" / "shoko.db"
    with Ledger(f"sqlite:///{path}") as ledger:
        run_id, _ = record_run(ledger)
    assert path.is_file()
    with Ledger(f"sqlite:///{path}") as ledger, ledger.engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert ledger.run(run_id).counts["findings"] == 2


def test_unreachable_postgresql_gives_one_line_without_the_password() -> None:
    with pytest.raises(LedgerError) as caught:
        Ledger("postgresql+psycopg://shoko:s3cret-pw@127.0.0.1:1/shoko?connect_timeout=3")
    message = str(caught.value)
    assert "cannot open ledger database" in message and "127.0.0.1:1" in message
    assert "s3cret-pw" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [("not a url", "not a database URL"), ("mysql://u@h/db", "unsupported database 'mysql'")],
)
def test_bad_urls_are_refused(url: str, expected: str) -> None:
    with pytest.raises(LedgerError, match=expected):
        Ledger(url)
