"""The ledger's database failing under a run: PostgreSQL restarted or down mid-run (a cluster of the test's own),
a SQLite database that can grow no further (disk full). Azure is the sandbox, collected by the real SDK.

Whatever the database does, no run is sealed `completed` unless it is whole, nothing stored before is lost or
altered (`verify` passes, the earlier run's evidence is unchanged), and the failure shows in the log and in
`shoko_runs_total{outcome}`."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from agent.metrics import METRICS
from agent.service import Agent
from collector.cli import main
from collector.settings import Settings
from sandbox.server import Sandbox
from storage.ledger import Ledger, LedgerError, RunRecord, RunStatus
from tests.faults.conftest import ESTATE, SQL_LIST
from tests.faults.own_postgres import Cluster, own_postgres
from tests.pipeline.conftest import sandbox_settings

# The SQL server listings answer 6 s late: the run spends that long collecting, whatever the machine's load, while
# the database is idle.
SLOW = dict(kind="latency", path=SQL_LIST, delay=6)


def _runs_total() -> dict[str, float]:
    """shoko_runs_total of full runs, by outcome."""
    out: dict[str, float] = {}
    for family in METRICS.registry.collect():
        if family.name == "shoko_runs":
            for s in family.samples:
                if s.name.endswith("_total") and s.labels["kind"] == "full":
                    out[s.labels["outcome"]] = s.value
    return out


def _settings(sb: Sandbox, url: str) -> Settings:
    # A lease renewed every second: a database outage of over a second is met by a renewal.
    return sandbox_settings(sb, url, agent={"lease_seconds": 1})


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with own_postgres() as c:
        yield c


def _wait_for_running_run(url: str, after: int, seconds: float = 30) -> int:
    """The id of the run started after run `after`, once it is in the database."""
    end = time.monotonic() + seconds
    with Ledger(url) as ledger:
        while time.monotonic() < end:
            started = [r.id for r in ledger.runs() if r.id > after]
            if started:
                return started[0]
            time.sleep(0.05)
    raise AssertionError("the run did not start")


def _run_in_thread(agent: Agent) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["outcome"] = agent.run_job(agent.jobs[0])
        except Exception as exc:  # what the agent's worker would log
            result["error"] = exc

    thread = threading.Thread(target=work, name="faulted-run")
    thread.start()
    return thread, result


def _clean_run(agent: Agent) -> tuple[RunRecord, list[str]]:
    assert agent.jobs[0].is_full
    outcome = agent.run_job(agent.jobs[0])
    assert outcome is not None and outcome.run.status == RunStatus.COMPLETED
    return outcome.run, sorted(e.sha256 for e in agent.ledger.evidence(outcome.run.id))


def _assert_intact(url: str, clean: RunRecord, evidence: list[str], runs: int) -> None:
    with Ledger(url) as ledger:
        report = ledger.verify()
        assert report.ok and report.runs_checked == runs and report.running == (), report
        assert ledger.run(clean.id).digest == clean.digest
        assert sorted(e.sha256 for e in ledger.evidence(clean.id)) == evidence, "the clean run's evidence changed"


def test_postgresql_restarted_while_a_run_collects(cluster, caplog):
    """The server restarts while the run collects: the pool's pre-ping reconnects and the run is complete; the
    lease renewals the outage refused are logged."""
    url = cluster.create_database("restart")
    with Sandbox.from_dict(ESTATE) as sb:
        agent = Agent(_settings(sb, url))
        try:
            clean, evidence = _clean_run(agent)
            sb.faults.add(**SLOW)
            before = _runs_total()
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="shoko"):
                thread, result = _run_in_thread(agent)
                faulted = _wait_for_running_run(url, clean.id)
                time.sleep(0.5)
                cluster.stop()
                time.sleep(1.5)  # longer than a lease period: a renewal meets the outage
                cluster.start()
                assert thread.is_alive(), "the run ended before the server came back: slow the sandbox more"
                thread.join(60)
            assert not thread.is_alive()
        finally:
            agent.ledger.close()
    assert "error" not in result, result
    run = result["outcome"].run
    assert run.id == faulted and run.status == RunStatus.COMPLETED and run.counts == clean.counts
    assert f"run {faulted}: lease not renewed" in caplog.text
    assert _runs_total().get("completed", 0) == before.get("completed", 0) + 1
    _assert_intact(url, clean, evidence, runs=2)


def test_postgresql_down_when_a_run_stores_it_fails_the_run_and_the_next_start_seals_it(cluster, caplog):
    """The server is down when the run stores what it collected: the run fails with one line naming the database
    (and cannot even be sealed failed); once the server is back the next run seals it interrupted."""
    url = cluster.create_database("down")
    with Sandbox.from_dict(ESTATE) as sb:
        agent = Agent(_settings(sb, url))
        try:
            clean, evidence = _clean_run(agent)
            slow = sb.faults.add(**SLOW)
            before = _runs_total()
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="shoko"):
                thread, result = _run_in_thread(agent)
                faulted = _wait_for_running_run(url, clean.id)
                cluster.stop()
                thread.join(60)
                assert not thread.is_alive()
                cluster.start()
                sb.faults.remove(slow)
                following = agent.run_job(agent.jobs[0])
        finally:
            agent.ledger.close()
    error = result.get("error")
    assert isinstance(error, LedgerError) and f"ledger database error ({url})" in str(error), result
    assert "\n" not in str(error) and "127.0.0.1" in str(error)
    assert f"run {faulted} could not be sealed failed: ledger database error ({url})" in caplog.text
    assert _runs_total().get("failed", 0) == before.get("failed", 0) + 1
    assert following is not None and following.run.status == RunStatus.COMPLETED
    with Ledger(url) as ledger:
        sealed = ledger.run(faulted)
    assert sealed.status == RunStatus.INTERRUPTED and "could not seal the run" in (sealed.error or "")
    assert f"run {faulted} sealed interrupted" in caplog.text
    _assert_intact(url, clean, evidence, runs=3)


@contextmanager
def _database_full(path: Path, spare_pages: int = 0) -> Iterator[None]:
    """SQLite connections opened meanwhile may not grow the database at `path` past its current pages (+ spare):
    a write needing more fails as on a full disk, SQLITE_FULL "database or disk is full"."""
    con = sqlite3.connect(path)
    limit = con.execute("PRAGMA page_count").fetchone()[0] + spare_pages
    con.close()

    def cap(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute(f"PRAGMA max_page_count = {limit}")

    event.listen(Engine, "connect", cap)
    try:
        yield
    finally:
        event.remove(Engine, "connect", cap)


def test_sqlite_disk_full_fails_the_run_in_one_line_and_keeps_what_was_stored(tmp_path, monkeypatch, capsys, caplog):
    path = tmp_path / "full.db"
    url = f"sqlite:///{path}"
    info = tmp_path / "sandbox.json"
    monkeypatch.setenv("SHOKO_DATABASE_URL", url)
    with Sandbox.from_dict(ESTATE) as sb:
        info.write_text(json.dumps(sb.info.to_dict()), encoding="utf-8")
        collect = ["collect", "--sandbox-info", str(info)]
        assert main(collect) == 0
        with Ledger(url) as ledger:
            (clean,) = ledger.runs()
            evidence = sorted(e.sha256 for e in ledger.evidence(clean.id))
        before = _runs_total()
        capsys.readouterr()
        with _database_full(path, 2), caplog.at_level(logging.INFO, logger="shoko"):
            assert main(collect) == 1
        err = capsys.readouterr().err.strip().splitlines()
        with Ledger(url) as ledger:
            faulted = ledger.runs()[-1]
            assert faulted.id > clean.id and faulted.status != RunStatus.COMPLETED
        assert main(collect) == 0  # room again: the next run is complete and seals a run left running
    assert err[-1] == f"shoko: ledger database error ({url}): database or disk is full", err
    assert "database or disk is full" in caplog.text
    with Ledger(url) as ledger:
        runs = ledger.runs()
        report = ledger.verify()
        assert sorted(e.sha256 for e in ledger.evidence(clean.id)) == evidence
    assert report.ok and report.running == ()
    assert [r.status for r in runs] == [RunStatus.COMPLETED, runs[1].status, RunStatus.COMPLETED]
    assert runs[1].status in (RunStatus.FAILED, RunStatus.INTERRUPTED) and runs[0].digest == clean.digest
    if runs[1].status == RunStatus.INTERRUPTED:  # the seal as failed needed room too
        assert (
            f"run {runs[1].id} could not be sealed failed: ledger database error ({url}): database or disk is full"
            in (caplog.text)
        )
        assert "could not seal the run" in (runs[1].error or "")
    else:
        assert "database or disk is full" in (runs[1].error or "")
    assert _runs_total() == before  # a `shoko collect` is no agent: no run metrics, the exit code tells
