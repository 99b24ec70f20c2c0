"""Bring a ledger database to the current schema with Alembic, without any alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant: serialises concurrent first opens of one PostgreSQL database.
_PG_LOCK_KEY = 0x73686F6B6F  # "shoko"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to this version of shoko."""


class NotALedger(SchemaError):
    """The database holds no shoko ledger that may be used as it is (empty, foreign, or not yet migrated)."""


def _foreign_tables(connection: Connection) -> list[str]:
    return sorted(name for name in inspect(connection).get_table_names() if name != "alembic_version")


def require_current(connection: Connection, where: str) -> None:
    """For read-only opens: the database must already be a ledger at this shoko's schema; nothing is changed."""
    current, head = current_revision(connection), head_revision()
    if current is None:
        tables = _foreign_tables(connection)
        if not tables:
            raise NotALedger(f"{where} is empty: no shoko ledger yet (no completed run: run `shoko collect` first)")
        raise NotALedger(f"{where} is not a shoko ledger (it holds {_some(tables)}): refused, nothing was changed")
    if current == head:
        return
    script = ScriptDirectory.from_config(alembic_config())
    try:
        script.get_revision(current)
    except CommandError:
        raise SchemaError(
            f"database schema revision {current} is unknown to this shoko (latest known: {head}); "
            "use the shoko version that created it"
        ) from None
    raise NotALedger(
        f"{where} has ledger schema {current}, older than this shoko's {head}: run `shoko migrate` to upgrade it "
        "(read commands never change the database)"
    )


def _some(tables: list[str]) -> str:
    shown = ", ".join(tables[:3])
    return f"tables {shown}" + (f" and {len(tables) - 3} more" if len(tables) > 3 else "")


def upgrade(connection: Connection) -> None:
    """Apply every pending migration inside the caller's transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    config = alembic_config(connection)
    script = ScriptDirectory.from_config(config)
    current, head = current_revision(connection), script.get_current_head()
    if current == head:
        return
    if current is None and (tables := _foreign_tables(connection)):
        raise NotALedger(f"the database is not a shoko ledger (it holds {_some(tables)}): refused, nothing was changed")
    if current is not None:
        try:
            script.get_revision(current)
        except CommandError:
            raise SchemaError(
                f"database schema revision {current} is unknown to this shoko (latest known: {head}); "
                "use the shoko version that created it"
            ) from None
    command.upgrade(config, "head")
