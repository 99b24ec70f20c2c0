"""Processes racing for the collection lock, on SQLite (flock) and PostgreSQL (advisory lock): in every round
exactly one collects, and no two runs overlap."""

from __future__ import annotations

import itertools
import multiprocessing
import os
from datetime import UTC, datetime

from storage.ledger import Ledger, RunStatus

from .helpers import NSG_ID, nsg_evidence


def _contend(url: str, rounds: int, start, tried, out) -> None:  # type: ignore[no-untyped-def]
    """One of several processes: each round all try the lock at once; the winner holds it (and its run
    open) until every process has tried."""
    with Ledger(url) as ledger:
        for number in range(rounds):
            start.wait()
            with ledger.collection_lock() as lock:
                run_id = None
                if lock.acquired:
                    run_id = ledger.start_run(datetime.now(UTC), agent_version="w", config_digest="d", scope={})
                    ledger.add_evidence(run_id, [nsg_evidence(f"{NSG_ID}-{number}")])
                tried.wait()
                if run_id is not None:
                    ledger.complete_run(run_id, datetime.now(UTC))
            out.put((number, os.getpid(), run_id))


def test_processes_racing_for_the_lock_never_collect_at_the_same_time(database_url):
    workers, rounds = 4, 3
    ctx = multiprocessing.get_context("spawn")
    start, tried, out = ctx.Barrier(workers, timeout=120), ctx.Barrier(workers, timeout=120), ctx.Queue()
    procs = [ctx.Process(target=_contend, args=(database_url, rounds, start, tried, out)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=180) for _ in range(workers * rounds)]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    for number in range(rounds):
        winners = [run_id for n, _pid, run_id in results if n == number and run_id is not None]
        assert len(winners) == 1, f"round {number}: {len(winners)} processes collected at once"
    with Ledger(database_url) as ledger:
        runs = ledger.runs()
        assert ledger.verify().ok
    assert len(runs) == rounds and all(r.status == RunStatus.COMPLETED for r in runs)
    spans = sorted((r.started_at, r.finished_at) for r in runs)
    assert all(done <= nxt for (_s, done), (nxt, _f) in itertools.pairwise(spans))
