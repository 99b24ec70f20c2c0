"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

DEFAULT_POSTGRES_URL = "postgresql+psycopg://shoko:shoko@127.0.0.1:5432/shoko_test"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a new database on the test PostgreSQL server.

    The PostgreSQL server comes from SHOKO_TEST_POSTGRES_URL (an admin connection whose role may
    CREATE DATABASE). If it cannot be reached the test fails: CI must prove PostgreSQL, not skip it.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/shoko.db"
        return
    admin_url = make_url(os.environ.get("SHOKO_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    if admin_url.drivername == "postgresql":
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    name = f"shoko_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(
        admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 5}
    )
    reason = None
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except DBAPIError as exc:
        admin.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
    if reason is not None:
        pytest.fail(
            f"PostgreSQL test server {admin_url.render_as_string(hide_password=True)} is not usable ({reason}). "
            "Run scripts/bootstrap-postgres (or `make bootstrap-postgres`), or point SHOKO_TEST_POSTGRES_URL "
            "at a server whose role has CREATEDB.",
            pytrace=False,
        )
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(admin, name)
        admin.dispose()


def _drop_database(admin, name: str, attempts: int = 20) -> None:
    """Drop a test database. FORCE ends connections a test leaked; a server process the test role may not
    end (e.g. a background worker that just connected) makes the drop fail for a moment, so retry."""
    for attempt in range(attempts):
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.25)
