"""`shoko runs`, and what `status` and `verify` say about interrupted, abandoned and running runs; read commands
never create or change a database."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime, timedelta

import pytest

from collector.cli import main
from storage.leases import LeaseHolder
from storage.ledger import Ledger
from tests.storage.helpers import T0, record_run, sample

GONE = LeaseHolder(host="agent-b.example", pid=4242, token="b" * 32)


@pytest.fixture
def ledger_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/shoko.db"
    monkeypatch.setenv("SHOKO_DATABASE_URL", url)
    return url


def fill(url: str) -> tuple[int, int, int, int]:
    """A completed full run, a partial run abandoned on another host, a failed run, and one still running
    here with a live lease."""
    with Ledger(url) as ledger, Ledger(url, holder=GONE) as other:
        completed, _ = record_run(ledger, T0)
        partial = other.start_run(
            T0 + timedelta(hours=1),
            agent_version="v",
            config_digest="d",
            scope={"partial": True, "kinds": ["network_security_group"]},
            lease_seconds=5,
        )
        other.add_evidence(partial, sample().evidence[:1])
        failed, _ = record_run(ledger, T0 + timedelta(hours=2), fail="ServiceRequestError: ARM unreachable")
        running = ledger.start_run(datetime.now(UTC), agent_version="v", config_digest="d", scope={})
    return completed, partial, failed, running


def test_runs_lists_every_run_with_kind_outcome_duration_and_counts(ledger_url, capsys):
    completed, partial, failed, running = fill(ledger_url)
    assert main(["runs", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert sorted(rows) == [completed, partial, failed, running]
    assert rows[completed] | {"lease": None} == {
        "id": completed,
        "kind": "full",
        "kinds": None,
        "status": "completed",
        "started_at": "2026-03-01T09:00:00.123456+00:00",
        "finished_at": "2026-03-01T09:05:00.123456+00:00",
        "duration_seconds": 300.0,
        "evidence": 3,
        "findings": 2,
        "verdicts": 2,
        "collection_errors": 1,
        "error": None,
        "abandoned": None,
        "digest": rows[completed]["digest"],
        "lease": None,
    }
    assert rows[completed]["lease"]["pid"] == os.getpid()
    # The abandoned partial run is named as such; sealing it is the next collection's job, not a read's.
    assert rows[partial]["kind"] == "partial" and rows[partial]["kinds"] == ["network_security_group"]
    assert rows[partial]["status"] == "running" and rows[partial]["finished_at"] is None
    assert rows[partial]["evidence"] == 1 and "agent-b.example/4242" in rows[partial]["abandoned"]
    assert rows[running]["abandoned"] is None
    assert rows[failed]["status"] == "failed" and rows[failed]["error"] == "ServiceRequestError: ARM unreachable"
    assert rows[running]["status"] == "running" and rows[running]["finished_at"] is None
    assert rows[running]["lease"]["host"] == socket.gethostname()

    assert main(["runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["run", "kind", "status", "started"]
    by_id = {int(line.split()[0]): line for line in lines[1:]}
    assert "full" in by_id[completed] and "completed" in by_id[completed] and "5m00s" in by_id[completed]
    assert "partial:network_security_group" in by_id[partial]
    assert "abandoned (the next collection seals it interrupted): interrupted: lease" in by_id[partial]
    assert "ARM unreachable" in by_id[failed]
    assert f"lease held by {socket.gethostname()}/{os.getpid()}" in by_id[running]


def test_status_and_verify_mention_abandoned_and_running_runs(ledger_url, capsys):
    _completed, partial, failed, running = fill(ledger_url)
    assert main(["verify"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"ok: 2 run(s) verified, hash chain intact; latest run {failed} digest ")
    assert out[1].startswith(f"run {partial} (partial (network_security_group)) is abandoned, unsealed since ")
    assert "(the next collection seals it interrupted): interrupted: lease last renewed" in out[1]
    assert out[2].startswith(f"run {running} (full) is still running since ")
    assert f"lease held by {socket.gethostname()}/{os.getpid()}, renewed " in out[2]
    assert len(out) == 3

    assert main(["status", "--lang", "en"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"run {failed} failed" in out[-3]  # the latest full run's summary
    tail = out[-2:]
    assert tail[0].startswith(f"run {partial} (partial (network_security_group)) is abandoned")
    assert tail[1].startswith(f"run {running} (full) is still running")
    assert main(["status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["status"], bool(r["abandoned"])) for r in data["interrupted_or_running"]] == [
        (partial, "running", True),
        (running, "running", False),
    ]

    # A writer (the next collection) seals it; then it reads as interrupted, at its last renewal.
    with Ledger(ledger_url) as ledger:
        assert [r.id for r in ledger.reap_abandoned(datetime.now(UTC))] == [partial]
    assert main(["verify"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"ok: 3 run(s) verified, hash chain intact; latest run {partial} digest ")
    assert out[1].startswith(f"run {partial} (partial (network_security_group)) was interrupted: interrupted: lease")


def test_read_commands_change_nothing(ledger_url, tmp_path, capsys):
    fill(ledger_url)
    db = tmp_path / "shoko.db"
    before = db.read_bytes(), sorted(p.name for p in tmp_path.iterdir())
    for argv in (["runs"], ["status"], ["verify"], ["explain", "86"], ["drift"], ["history", "86"]):
        main(argv)
        capsys.readouterr()
        assert (db.read_bytes(), sorted(p.name for p in tmp_path.iterdir())) == before, argv


def test_read_commands_do_not_create_a_database(tmp_path, monkeypatch, capsys):
    path = tmp_path / "nothing-here" / "shoko.db"
    monkeypatch.setenv("SHOKO_DATABASE_URL", f"sqlite:///{path}")
    for argv in (["runs"], ["runs", "--json"], ["status"], ["verify"], ["explain", "86"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err == f"shoko: no ledger database at {path} (no completed run yet: run `shoko collect` first)"
    assert not path.parent.exists()


def test_runs_on_an_empty_ledger(ledger_url, capsys):
    Ledger(ledger_url).close()
    assert main(["runs"]) == 0
    assert capsys.readouterr().out.strip() == "no runs yet"
    assert main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_collect_while_another_process_holds_the_lock_starts_nothing(ledger_url, capsys):
    with Ledger(ledger_url, holder=GONE) as other, other.collection_lock() as lock:
        assert lock.acquired
        held = other.start_run(datetime.now(UTC), agent_version="v", config_digest="d", scope={})
        assert main(["collect"]) == 1
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith(f"shoko: another agent holds the collection lock (run {held} on agent-b.example/4242 ")
        assert err.endswith("; this run is skipped")
        assert [r.id for r in other.runs()] == [held]


def test_a_stalled_run_of_a_live_process_is_named_with_its_expired_lease(ledger_url, capsys):
    with Ledger(ledger_url) as ledger:
        record_run(ledger, T0 - timedelta(hours=1))
        stalled = ledger.start_run(T0, agent_version="v", config_digest="d", scope={}, lease_seconds=1)
    assert main(["verify"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith(f"run {stalled} (full) is still running since 2026-03-01T09:00:00.123456+00:00: ")
    assert f"{socket.gethostname()}/{os.getpid()}, last renewed 2026-03-01T09:00:00.123456+00:00, expired " in out[1]
    assert "its process still runs on this host" in out[1]
