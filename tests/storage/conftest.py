"""A ledger on each backend (via the shared `database_url` fixture) and a raw engine for tampering."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from storage.ledger import Ledger


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    led = Ledger(database_url)
    try:
        yield led
    finally:
        led.close()


@pytest.fixture
def raw(database_url: str) -> Iterator[Engine]:
    """A plain engine for hand-written SQL that goes around the ledger API."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()
