"""Several writers at once: every seal gets its own chain position and shared blobs are stored once."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from storage.ledger import Ledger, _write_ahead_log

from .helpers import NSG_ID, T0, nsg_evidence, sample


def test_concurrent_runs_seal_into_one_unbroken_chain(database_url: str, raw: Engine) -> None:
    writers = 6
    ledgers = [Ledger(database_url) for _ in range(writers)]
    try:
        run_ids = [
            led.start_run(T0 + timedelta(seconds=i), agent_version="v", config_digest="d", scope={"writer": i})
            for i, led in enumerate(ledgers)
        ]

        def one_run(i: int) -> str:
            led, run_id = ledgers[i], run_ids[i]
            data = sample(T0)  # identical documents in every run: the blobs race to be inserted
            led.add_evidence(run_id, [*data.evidence, nsg_evidence(f"{NSG_ID}-{i}")])
            led.add_findings(run_id, data.findings)
            led.add_verdicts(run_id, data.verdicts)
            return led.complete_run(run_id, T0 + timedelta(minutes=10))

        with ThreadPoolExecutor(max_workers=writers) as pool:
            digests = list(pool.map(one_run, range(writers)))
    finally:
        for led in ledgers:
            led.close()

    with raw.connect() as connection:
        chain = connection.execute(text("SELECT chain_index, digest, prev_digest FROM runs ORDER BY chain_index")).all()
        blobs = connection.execute(text("SELECT count(*) FROM evidence_blobs")).scalar_one()
    assert [row.chain_index for row in chain] == list(range(1, writers + 1))
    assert [row.prev_digest for row in chain] == [None] + [row.digest for row in chain[:-1]]
    assert sorted(row.digest for row in chain) == sorted(digests)
    assert blobs == 2 + writers  # shared nsg + site config, and one own document per run
    with Ledger(database_url) as ledger:
        report = ledger.verify()
        assert report.ok and report.runs_checked == writers
        assert all(ledger.run(r).counts["evidence"] == 4 for r in run_ids)


def test_a_new_ledger_file_switched_to_wal_while_another_connection_writes_waits_instead_of_failing(
    tmp_path: Path,
) -> None:
    # Processes starting together on a new ledger: one is migrating (a write transaction) while another connects.
    # SQLite refuses that one's switch to WAL at once ("database is locked"), without waiting its busy timeout.
    path = tmp_path / "shoko.db"
    writer = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")
    other = sqlite3.connect(path, timeout=30, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("PRAGMA journal_mode = WAL")  # what each connection did before
    threading.Timer(0.3, writer.execute, ("COMMIT",)).start()
    _write_ahead_log(other.cursor(), wait=10)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    # A lock that is never let go: it gives up when its wait is over, with SQLite's own error.
    stuck = sqlite3.connect(tmp_path / "stuck.db", timeout=30, isolation_level=None)
    stuck.execute("CREATE TABLE t (x)")
    late = sqlite3.connect(tmp_path / "stuck.db", timeout=30, isolation_level=None)
    stuck.execute("BEGIN IMMEDIATE")
    stuck.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _write_ahead_log(late.cursor(), wait=0.3)
    for connection in (writer, other, stuck, late):
        connection.close()
