"""Leases and the collection lock across real processes, on SQLite and PostgreSQL: a collector killed with
SIGKILL leaves a run the next start seals interrupted; while one process collects, another starts nothing;
run_once renews its lease while it works (tests/storage/test_collection_lock.py races processes for the lock)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

import collector.pipeline as pipeline
from collector.pipeline import run_once
from collector.settings import load_settings
from storage.ledger import CollectionLocked, Ledger, LedgerError, RunStatus
from tests.estates import estate, storage_account
from tests.pipeline.conftest import sandbox_settings, serving
from tests.storage.helpers import sample

ROOT = Path(__file__).resolve().parents[2]
SMALL = estate(storage_account("stleases", {"minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": True}))

# Holds a run of its own, with evidence and a collection error stored, and the collection lock, until killed.
# It never renews its lease (1 s periods, so it expires 3 s after the start).
KILLED_CHILD = """
import sys, time
from datetime import UTC, datetime
from storage.ledger import Ledger
from tests.storage.helpers import sample

ledger = Ledger(sys.argv[1])
with ledger.collection_lock() as lock:
    assert lock.acquired
    started = datetime.now(UTC)
    run_id = ledger.start_run(started, agent_version="child", config_digest="d", scope={}, lease_seconds=1)
    data = sample(started)
    ledger.add_evidence(run_id, data.evidence)
    ledger.add_collection_errors(run_id, data.errors)
    print(run_id, flush=True)
    time.sleep(600)
"""

# Takes the collection lock, starts a run, and completes it when told to (a line on stdin).
HOLDING_CHILD = """
import sys
from datetime import UTC, datetime
from storage.ledger import Ledger

with Ledger(sys.argv[1]) as ledger, ledger.collection_lock() as lock:
    assert lock.acquired
    run_id = ledger.start_run(datetime.now(UTC), agent_version="child", config_digest="d", scope={})
    print(run_id, flush=True)
    sys.stdin.readline()
    ledger.complete_run(run_id, datetime.now(UTC))
"""


def child(script: str, url: str) -> tuple[subprocess.Popen[str], int]:
    """Start a child Python running `script` against `url`; returns it and the run id it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, url], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        pytest.fail(f"child exited before starting its run (exit code {proc.wait()})")
    return proc, int(line)


def run_once_when_lock_is_free(settings, ledger, catalog):  # type: ignore[no-untyped-def]
    """The server drops a killed client's advisory lock once it sees the connection close: try until then."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return run_once(settings, ledger, catalog)
        except CollectionLocked:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_run_killed_by_sigkill_is_sealed_interrupted_at_the_next_start(database_url, catalog):
    proc, killed = child(KILLED_CHILD, database_url)
    try:
        with Ledger(database_url) as ledger:
            lease = ledger.run(killed).lease
            assert lease is not None and lease.pid == proc.pid
            # Long expired by then, but its holder is a live process of this host: not abandoned.
            assert ledger.reap_abandoned(lease.expires_at + timedelta(hours=1)) == []
            assert ledger.run(killed).status == RunStatus.RUNNING
            before = ledger.evidence(killed)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Gone, but its lease has not expired yet: wait for that (at most 3 s), then start the next run.
    time.sleep(max(0.0, (lease.expires_at - datetime.now(UTC)).total_seconds()) + 0.1)

    with serving(SMALL) as sb, Ledger(database_url) as ledger:
        outcome = run_once_when_lock_is_free(sandbox_settings(sb, database_url), ledger, catalog)
        interrupted = ledger.run(killed)
        after = ledger.evidence(killed)
        report = ledger.verify()
        new_evidence = ledger.run(outcome.run.id).counts["evidence"]

    assert interrupted.status == RunStatus.INTERRUPTED and interrupted.sealed
    assert f"process {proc.pid} on {socket.gethostname()} is gone" in (interrupted.error or "")
    assert interrupted.counts["evidence"] == len(sample().evidence) and interrupted.counts["errors"] == 1
    assert after == before  # nothing lost, nothing added
    assert outcome.run.status == RunStatus.COMPLETED and outcome.run.prev_digest == interrupted.digest
    assert report.ok and report.runs_checked == 2 and report.interrupted == (killed,) and report.running == ()
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT run_id, count(*) FROM run_evidence GROUP BY run_id")).all()
    finally:
        engine.dispose()
    assert dict(rows) == {killed: len(before), outcome.run.id: new_evidence}  # no row lost or duplicated


def test_while_another_process_collects_no_run_is_started(database_url, catalog):
    proc, held = child(HOLDING_CHILD, database_url)
    settings = load_settings(None, environ={}, overrides={"database": {"url": database_url}})
    try:
        with Ledger(database_url) as ledger:
            with ledger.collection_lock() as lock:
                assert not lock.acquired and lock.holder is not None and lock.holder.id == held
            with pytest.raises(CollectionLocked) as caught:
                run_once(settings, ledger, catalog)
            assert str(caught.value) == (
                f"another agent holds the collection lock (run {held} on {socket.gethostname()}/{proc.pid} since "
                f"{ledger.run(held).started_at.isoformat(timespec='seconds')}); this run is skipped"
            )
            assert [r.id for r in ledger.runs()] == [held]
    finally:
        assert proc.stdin is not None
        proc.stdin.write("done\n")
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    with Ledger(database_url) as ledger, ledger.collection_lock() as lock:
        assert lock.acquired
        assert ledger.run(held).status == RunStatus.COMPLETED


def test_run_once_renews_its_lease_while_it_works(database_url, catalog, monkeypatch):
    real_gather = pipeline.gather
    with serving(SMALL) as sb, Ledger(database_url) as ledger:

        def collect_after_a_renewal(settings, sink, credential=None, plan=None):  # type: ignore[no-untyped-def]
            (run_id,) = ledger.running_runs_of_this_process()
            first = ledger.run(run_id).lease
            deadline = time.monotonic() + 30
            while ledger.run(run_id).lease == first:
                assert time.monotonic() < deadline, "the lease was never renewed"
                time.sleep(0.05)
            real_gather(settings, sink, credential, plan)

        monkeypatch.setattr(pipeline, "gather", collect_after_a_renewal)
        settings = sandbox_settings(sb, database_url, agent={"lease_seconds": 1})
        with ledger.collection_lock() as lock:  # as the agent does: run_once takes the lock again, re-entrantly
            assert lock.acquired
            run = run_once(settings, ledger, catalog).run
    assert run.status == RunStatus.COMPLETED
    assert run.lease is not None and run.lease.renewed_at > run.started_at


def test_a_run_interrupted_while_it_works_stays_interrupted(database_url, catalog, monkeypatch):
    real_gather = pipeline.gather
    reason = "agent stopped (SIGTERM) and the run did not finish within 0s"
    stored_before: list[int] = []
    with serving(SMALL) as sb, Ledger(database_url) as ledger:

        def collect_then_shutdown(settings, sink, credential=None, plan=None):  # type: ignore[no-untyped-def]
            real_gather(settings, sink, credential, plan)
            sink.flush()  # what the run collected is stored as it comes, before the shutdown
            for run_id in ledger.running_runs_of_this_process():
                stored_before.append(len(ledger.evidence(run_id)))
                ledger.interrupt_run(run_id, datetime.now(UTC), reason)

        monkeypatch.setattr(pipeline, "gather", collect_then_shutdown)
        with pytest.raises(LedgerError, match=r"is sealed \(interrupted\); nothing can be added"):
            run_once(sandbox_settings(sb, database_url), ledger, catalog)
        (run,) = ledger.runs()
        report = ledger.verify()
    # Nothing was added after the run was sealed: no part, no collection error, no finding.
    assert run.status == RunStatus.INTERRUPTED and run.error == reason
    assert stored_before and run.counts["evidence"] == stored_before[0] and run.counts["findings"] == 0
    assert report.ok and report.interrupted == (run.id,)
