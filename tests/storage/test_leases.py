"""Run leases on both backends: taking and renewing them, reaping runs whose holder is gone as interrupted,
the interrupted seal, what the triggers let a running run change, and the collection lock in one process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from storage import leases, migrate
from storage.leases import LeaseHolder
from storage.ledger import LeaseLost, Ledger, LedgerError, RunStatus

from .helpers import T0, execute, record_run, sample, site_config_evidence

OTHER_HOST = LeaseHolder(host="agent-b.example", pid=4242, token="b" * 32)


def start(ledger: Ledger, at=T0, lease_seconds: int = 10, **scope: object) -> int:
    return ledger.start_run(at, agent_version="v", config_digest="d", scope=dict(scope), lease_seconds=lease_seconds)


def dead_pid() -> int:
    """The pid of a process of this host that has exited (and been waited for)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_is_started_with_a_lease_of_this_process(ledger: Ledger) -> None:
    run_id = start(ledger, lease_seconds=15)
    run = ledger.run(run_id)
    assert run.lease is not None
    assert (run.lease.host, run.lease.pid) == (socket.gethostname(), os.getpid())
    assert run.lease.renewed_at == T0 and run.lease.expires_at == T0 + timedelta(seconds=45)
    assert ledger.running_runs_of_this_process() == [run_id]


def test_renewal_moves_the_lease_by_its_window_and_only_for_its_holder(database_url: str) -> None:
    with Ledger(database_url) as mine, Ledger(database_url, holder=OTHER_HOST) as other:
        run_id = start(mine, lease_seconds=10)
        assert mine.renew_lease(run_id, at=T0 + timedelta(seconds=12)) == T0 + timedelta(seconds=42)
        lease = mine.run(run_id).lease
        assert lease is not None and lease.renewed_at == T0 + timedelta(seconds=12)
        with pytest.raises(LeaseLost, match=f"run {run_id}'s lease is held by .*/{os.getpid()}, not by this process"):
            other.renew_lease(run_id, at=T0 + timedelta(seconds=13))
        mine.complete_run(run_id, T0 + timedelta(seconds=20))
        with pytest.raises(LeaseLost, match=f"run {run_id} is sealed \\(completed\\)"):
            mine.renew_lease(run_id, at=T0 + timedelta(seconds=21))
        # The sealed run keeps its lease as last renewed.
        assert mine.run(run_id).lease == lease


def test_a_run_abandoned_on_another_host_is_sealed_interrupted_with_its_rows(database_url: str) -> None:
    with Ledger(database_url) as ledger, Ledger(database_url, holder=OTHER_HOST) as other:
        first, first_digest = record_run(ledger)
        run_id = start(other, T0 + timedelta(hours=1), lease_seconds=10)
        data = sample(T0 + timedelta(hours=1))
        other.add_evidence(run_id, data.evidence)
        other.add_collection_errors(run_id, data.errors)
        other.renew_lease(run_id, at=T0 + timedelta(hours=1, seconds=10))
        expires = T0 + timedelta(hours=1, seconds=40)

        assert ledger.reap_abandoned(expires) == []  # not yet expired
        assert ledger.run(run_id).status == RunStatus.RUNNING
        (reaped,) = ledger.reap_abandoned(expires + timedelta(seconds=1))

        assert reaped.id == run_id and reaped.status == RunStatus.INTERRUPTED and reaped.sealed
        assert reaped.prev_digest == first_digest and reaped.digest
        assert reaped.finished_at == T0 + timedelta(hours=1, seconds=10)  # last known alive
        assert "lease last renewed at 2026-03-01T10:00:10+00:00 by agent-b.example/4242" in (reaped.error or "")
        assert "expired at 2026-03-01T10:00:40+00:00" in (reaped.error or "") and "中断" in (reaped.error or "")
        assert reaped.counts["evidence"] == 3 and reaped.counts["errors"] == 1
        assert ledger.evidence(run_id) == other.evidence(run_id)
        assert ledger.latest_run() == reaped and ledger.latest_run(completed_only=True) == ledger.run(first)
        assert ledger.reap_abandoned(expires + timedelta(hours=1)) == []  # only once
        report = ledger.verify()
        assert report.ok and report.runs_checked == 2
        assert report.interrupted == (run_id,) and report.running == ()


def test_a_live_holder_on_this_host_keeps_its_run_a_gone_one_does_not(database_url: str) -> None:
    here = socket.gethostname()
    gone = LeaseHolder(host=here, pid=dead_pid(), token="c" * 32)
    restarted = LeaseHolder(host=here, pid=os.getpid(), token="d" * 32)  # an earlier incarnation of this pid
    with (
        Ledger(database_url) as ledger,
        Ledger(database_url, holder=gone) as gone_ledger,
        Ledger(database_url, holder=restarted) as old_ledger,
    ):
        alive = start(ledger, lease_seconds=1)  # this process: alive, although its lease ran out long ago
        dead = start(gone_ledger, lease_seconds=1)
        reused = start(old_ledger, lease_seconds=1)
        reaped = ledger.reap_abandoned(T0 + timedelta(days=1))
        assert [r.id for r in reaped] == [dead, reused]
        assert f"process {gone.pid} on {here} is gone" in (ledger.run(dead).error or "")
        assert ledger.run(alive).status == RunStatus.RUNNING
        report = ledger.verify()
        assert report.ok and report.interrupted == (dead, reused) and report.running == (alive,)


def test_an_interrupted_run_takes_nothing_more_and_is_never_sealed_again(ledger: Ledger, raw: Engine) -> None:
    run_id = start(ledger)
    ledger.add_evidence(run_id, [site_config_evidence()])
    digest = ledger.interrupt_run(run_id, T0 + timedelta(minutes=1), "agent stopped (SIGTERM) after the grace period")
    data = sample()
    before = ledger.run(run_id)
    assert before.status == RunStatus.INTERRUPTED and before.digest == digest
    assert before.error == "agent stopped (SIGTERM) after the grace period"
    attempts = [
        lambda: ledger.add_evidence(run_id, [site_config_evidence()]),
        lambda: ledger.add_collection_errors(run_id, data.errors),
        lambda: ledger.add_findings(run_id, []),
        lambda: ledger.add_verdicts(run_id, [replace(data.verdicts[0], requirement=99)]),
        lambda: ledger.complete_run(run_id, T0 + timedelta(hours=1)),
        lambda: ledger.fail_run(run_id, T0 + timedelta(hours=1), "late"),
        lambda: ledger.interrupt_run(run_id, T0 + timedelta(hours=1), "again"),
    ]
    for attempt in attempts:
        with pytest.raises(LedgerError, match=f"run {run_id} is (already )?sealed"):
            attempt()
    with pytest.raises(LeaseLost):
        ledger.renew_lease(run_id, at=T0 + timedelta(minutes=2))
    # Behind the API's back the database refuses it too.
    for sql in (
        "UPDATE runs SET status = 'completed' WHERE id = :i",
        "UPDATE runs SET lease_expires_at = finished_at WHERE id = :i",
        "DELETE FROM runs WHERE id = :i",
    ):
        with pytest.raises(DBAPIError, match=r"sealed|append-only"):
            execute(raw, sql, i=run_id)
    assert ledger.run(run_id) == before
    assert ledger.reap_abandoned(T0 + timedelta(days=1)) == []
    assert ledger.verify().ok


def test_triggers_let_a_running_run_renew_its_lease_and_nothing_else(ledger: Ledger, raw: Engine) -> None:
    run_id = start(ledger)
    later = T0 + timedelta(minutes=5)
    assert execute(raw, "UPDATE runs SET lease_renewed_at = :t, lease_expires_at = :t WHERE id = :i", t=later, i=run_id)
    refused = [
        "UPDATE runs SET scope = '{\"subscriptions\": []}' WHERE id = :i",
        "UPDATE runs SET agent_version = 'v2' WHERE id = :i",
        "UPDATE runs SET started_at = lease_renewed_at WHERE id = :i",
        "UPDATE runs SET lease_host = 'elsewhere' WHERE id = :i",
        "UPDATE runs SET lease_pid = 1 WHERE id = :i",
        "UPDATE runs SET lease_token = 'stolen' WHERE id = :i",
        "UPDATE runs SET error = 'looks failed' WHERE id = :i",
        "UPDATE runs SET finished_at = lease_renewed_at WHERE id = :i",
        "UPDATE runs SET digest = 'ab' WHERE id = :i",
        "UPDATE runs SET status = 'completed' WHERE id = :i",
        "UPDATE runs SET status = 'interrupted', finished_at = lease_renewed_at WHERE id = :i",
        "UPDATE runs SET status = 'paused', finished_at = lease_renewed_at, chain_index = 1, seal = '{}', "
        "digest = 'ab' WHERE id = :i",
    ]
    for sql in refused:
        with pytest.raises(DBAPIError, match=r"running|sealed whole"):
            execute(raw, sql, i=run_id)
    run = ledger.run(run_id)
    assert run.status == RunStatus.RUNNING and run.lease is not None and run.lease.renewed_at == later
    ledger.complete_run(run_id, later)
    assert ledger.verify().ok


def test_runs_from_before_leases_are_reaped_after_the_upgrade(database_url: str, raw: Engine) -> None:
    with raw.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "0001")
    with raw.begin() as connection:  # what a shoko without leases left behind: a run never sealed
        connection.execute(
            text(
                "INSERT INTO runs (started_at, status, agent_version, config_digest, scope) "
                "VALUES (:t, 'running', 'v0', 'd', '{}')"
            ),
            {"t": T0.replace(tzinfo=None) if raw.dialect.name == "sqlite" else T0},
        )
    with Ledger(database_url) as ledger:  # migrates to the head
        (old,) = ledger.runs()
        assert old.status == RunStatus.RUNNING and old.lease is None
        (reaped,) = ledger.reap_abandoned(T0 + timedelta(minutes=1))
        assert reaped.status == RunStatus.INTERRUPTED and "started without a lease" in (reaped.error or "")
        assert reaped.finished_at == T0
        record_run(ledger, T0 + timedelta(hours=1))
        report = ledger.verify()
        assert report.ok and report.runs_checked == 2 and report.interrupted == (old.id,)


def test_collection_lock_between_two_ledgers_and_within_one_thread(database_url: str) -> None:
    with Ledger(database_url) as first, Ledger(database_url, holder=OTHER_HOST) as second:
        with first.collection_lock() as lock:
            assert lock.acquired and lock.reason == ""
            with first.collection_lock() as again:  # re-entrant: the agent holds it around run_once
                assert again.acquired
            run_id = start(first, T0)
            with second.collection_lock() as refused:
                assert not refused.acquired
                assert refused.holder is not None and refused.holder.id == run_id
                assert refused.reason == (
                    f"another agent holds the collection lock (run {run_id} on {socket.gethostname()}/{os.getpid()} "
                    "since 2026-03-01T09:00:00+00:00)"
                )
            with second.collection_lock("partial") as other_name:
                assert other_name.acquired
            first.complete_run(run_id, T0 + timedelta(minutes=1))
        with second.collection_lock() as lock:
            assert lock.acquired
    with pytest.raises(LedgerError, match="collection lock name"), first.collection_lock("../etc"):
        pass


def test_collection_lock_of_an_in_memory_ledger_is_held_per_thread() -> None:
    with Ledger("sqlite://") as ledger:
        seen: list[bool] = []
        with ledger.collection_lock() as lock:
            assert lock.acquired
            worker = threading.Thread(target=lambda: seen.append(_try(ledger)))
            worker.start()
            worker.join()
        assert seen == [False]
        assert _try(ledger)


def _try(ledger: Ledger) -> bool:
    with ledger.collection_lock() as lock:
        return lock.acquired


def test_process_check_knows_live_zombie_reused_and_exited_processes() -> None:
    me = leases.this_process()
    future = T0 + timedelta(days=3650)  # a run started after every process here: no pid counts as reused
    assert not leases.process_gone(me, T0)
    assert leases.process_gone(replace(me, token="f" * 32), future)  # this pid, another incarnation
    assert not leases.process_gone(LeaseHolder(me.host, os.getppid(), "e" * 32), future)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    holder = LeaseHolder(me.host, child.pid, "e" * 32)
    try:
        # Started after the run did: the pid was reused by another process.
        assert leases.process_gone(holder, T0)
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped: a zombie
        assert leases.process_gone(holder, future)
    finally:
        child.wait()
    assert leases.process_gone(holder, future)


def test_an_abandoned_run_the_database_refuses_to_seal_is_logged_not_skipped_silently(
    ledger: Ledger, database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with Ledger(database_url, holder=OTHER_HOST) as other:
        run_id = start(other, lease_seconds=1)

    def refused(*args: object, **kwargs: object) -> str:
        raise LedgerError("ledger database error: permission denied for table runs")

    monkeypatch.setattr(ledger, "_seal", refused)
    assert ledger.reap_abandoned(T0 + timedelta(minutes=1)) == []
    assert ledger.run(run_id).status == RunStatus.RUNNING
    assert f"run {run_id} is abandoned but could not be sealed interrupted: ledger database error: permission" in (
        caplog.text
    )
