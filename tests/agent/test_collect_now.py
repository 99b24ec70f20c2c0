""" "Collect now" beside agent replicas (`agent.replicas` on PostgreSQL, the API served by the agent): it joins the
shared run while that run still collects, and starts a new shared run once the last one is sealed, saying which."""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from api import tokens
from sandbox.server import Sandbox
from storage.ledger import Ledger
from tests.agent.test_agent_e2e import _estate, agent, completed, config, runs_in, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _shared(url: str) -> set[int]:
    """The runs that have work items: runs shared by replicas."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return {int(r) for r in connection.execute(text("SELECT DISTINCT run_id FROM run_work")).scalars()}
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_collect_now_with_replicas_joins_a_collecting_run_then_starts_a_new_one(tmp_path, database_url):
    with Ledger(database_url) as ledger:
        _, operator = tokens.issue(ledger, "ops", "operator", timedelta(hours=1), "tests")
    port = _free_port()
    settings = config(database_url, schedule="every 1h", replicas=True)
    settings["api"] = {"with_agent": True, "listen_port": port}
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {operator}"}
    with Sandbox.from_dict(_estate()) as sb:
        slow = sb.faults.add("latency", path="*/networkSecurityGroups", delay=3)
        with agent(tmp_path, sb, settings) as process:
            # The replica's first run (none before it) is collecting: "collect now" joins it, starts no other.
            first = wait_for(
                "a shared run collecting", lambda: [r for r in runs_in(database_url) if r.status == "running"]
            )
            wait_for("the API", lambda: _status(f"{base}/api/v1/runs", headers) == 200)
            asked = httpx.post(f"{base}/api/v1/collections", headers=headers, timeout=10)
            assert asked.status_code == 202, asked.text
            detail = asked.json()["detail"]
            assert f"run {first[0].id}, shared by the agent replicas, is still collecting" in detail
            assert "this replica takes part in it instead of starting another" in detail
            done = wait_for("the first run sealed", lambda: completed(database_url), timeout=60)
            assert [r.id for r in done] == [first[0].id]
            sb.faults.remove(slow)
            # Sealed, and the schedule's next slot an hour away: "collect now" starts a new shared run at once.
            asked = httpx.post(f"{base}/api/v1/collections", headers=headers, timeout=10)
            assert asked.status_code == 202, asked.text
            assert asked.json()["detail"].startswith("a new run shared by the agent replicas starts now")
            second = wait_for("the run asked for", lambda: completed(database_url, after=first[0].id), timeout=60)
            time.sleep(2)  # nothing more follows: the join asked for no run of its own
            assert process.stop() == 0
    runs = runs_in(database_url)
    assert [r.id for r in runs] == [first[0].id, second[0].id] and {r.status for r in runs} == {"completed"}
    assert _shared(database_url) == {first[0].id, second[0].id}


def _status(url: str, headers: dict[str, str]) -> int | None:
    try:
        return httpx.get(url, headers=headers, timeout=5).status_code
    except httpx.HTTPError:
        return None
