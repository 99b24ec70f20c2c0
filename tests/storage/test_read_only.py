"""Read-only opens (status, explain, verify, runs, snapshot export, the API): nothing is created, migrated or
changed, on SQLite and PostgreSQL; a database without a ledger is refused with one line, exit 2."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from collector.cli import main
from storage import migrate
from storage.ledger import Ledger, LedgerError, NoLedger
from tests.storage.helpers import T0, record_run


def _tables(url: str) -> list[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return sorted(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def _execute(url: str, *statements: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def test_an_empty_database_is_not_migrated_by_a_read(database_url, monkeypatch, capsys):
    if database_url.startswith("sqlite"):
        open(database_url.removeprefix("sqlite:///"), "wb").close()  # an empty file
    with pytest.raises(NoLedger, match="is empty: no shoko ledger yet"):
        Ledger(database_url, read_only=True)
    monkeypatch.setenv("SHOKO_DATABASE_URL", database_url)
    for argv in (["verify"], ["status"], ["runs"], ["explain", "86"]):
        assert main(argv) == 2, argv
        assert "is empty: no shoko ledger yet" in capsys.readouterr().err
    assert _tables(database_url) == []


def test_a_foreign_database_is_refused_and_left_alone(database_url, monkeypatch, capsys):
    _execute(database_url, "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT)")
    with pytest.raises(NoLedger, match=r"not a shoko ledger \(it holds tables patients\): refused"):
        Ledger(database_url, read_only=True)
    # Writers refuse it too: shoko never adds its tables beside another application's.
    with pytest.raises(LedgerError, match="not a shoko ledger"):
        Ledger(database_url)
    monkeypatch.setenv("SHOKO_DATABASE_URL", database_url)
    assert main(["status"]) == 2
    assert "not a shoko ledger" in capsys.readouterr().err
    assert _tables(database_url) == ["patients"]


def test_an_older_schema_asks_for_migrate_and_migrate_upgrades_it(database_url, monkeypatch, capsys):
    Ledger(database_url).close()
    head = migrate.head_revision()
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.begin() as connection:
        config = migrate.alembic_config(connection)
        from alembic import command

        command.downgrade(config, "-1")
    engine.dispose()
    with pytest.raises(NoLedger, match=rf"older than this shoko's {head}: run `shoko migrate`"):
        Ledger(database_url, read_only=True)
    monkeypatch.setenv("SHOKO_DATABASE_URL", database_url)
    assert main(["migrate"]) == 0
    assert f"is at schema {head}" in capsys.readouterr().out
    Ledger(database_url, read_only=True).close()


def test_a_read_only_ledger_refuses_writes(database_url):
    with Ledger(database_url) as ledger:
        record_run(ledger, T0)
    with Ledger(database_url, read_only=True) as ledger:
        assert len(ledger.runs()) == 1
        with pytest.raises(Exception, match=r"(?i)read.?only"):
            ledger.start_run(T0, agent_version="v", config_digest="d", scope={})
    with Ledger(database_url, read_only=True) as ledger:
        assert len(ledger.runs()) == 1


def test_verify_with_no_sealed_run_says_so(database_url, monkeypatch, capsys):
    Ledger(database_url).close()
    monkeypatch.setenv("SHOKO_DATABASE_URL", database_url)
    assert main(["verify"]) == 2
    captured = capsys.readouterr()
    assert "no sealed run in" in captured.err and "nothing to verify" in captured.err
    assert "intact" not in captured.out


def test_expect_digest_takes_the_digest_as_printed(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path}/shoko.db"
    with Ledger(url) as ledger:
        run, _ = record_run(ledger, T0)
        digest = ledger.run(run).digest
    monkeypatch.setenv("SHOKO_DATABASE_URL", url)
    for given in (digest, digest[:16], digest[:16].upper()):
        assert main(["verify", "--expect-digest", given]) == 0, given
        capsys.readouterr()
    other = ("0" if digest[0] != "0" else "1") + digest[1:16]
    assert main(["verify", "--expect-digest", other]) == 1
    assert "TAMPERED: no run with digest" in capsys.readouterr().err
    for malformed in ("abc", "not-a-digest-at-all!", digest + "00"):
        assert main(["verify", "--expect-digest", malformed]) == 2, malformed
        assert "expected a run digest as shoko prints it" in capsys.readouterr().err
