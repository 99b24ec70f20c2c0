"""`shoko agent` with `api.with_agent`: the API answers beside the agent's work, over its ledger, and "collect now"
queues the agent's own full run."""

from __future__ import annotations

import socket
from datetime import timedelta

import httpx

from api import tokens
from sandbox.server import Sandbox
from storage.actions import COLLECT_NOW
from storage.ledger import Ledger
from tests.agent.test_agent_e2e import _estate, agent, completed, config, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_agent_serves_the_api_and_queues_a_collection_asked_for(tmp_path):
    url = f"sqlite:///{tmp_path}/shoko.db"
    with Ledger(url) as ledger:
        _, operator = tokens.issue(ledger, "ops", "operator", timedelta(hours=1), "tests")
    port = _free_port()
    settings = {**config(url, schedule="every 1h"), "api": {"with_agent": True, "listen_port": port}}
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {operator}"}
    with Sandbox.from_dict(_estate()) as sb, agent(tmp_path, sb, settings) as process:
        first = wait_for("the first (made-up) run", lambda: completed(url))[0]
        runs = wait_for("the API", lambda: _get(f"{base}/api/v1/runs", headers))
        assert runs["items"][0]["id"] == first.id
        assert httpx.get(f"{base}/api/v1/runs").status_code == 401
        asked = httpx.post(f"{base}/api/v1/collections", headers=headers)
        assert asked.status_code == 202, asked.text
        assert asked.json()["detail"] == "collection queued; it appears in GET /api/v1/runs"
        second = wait_for("the run asked for", lambda: completed(url, after=first.id))[0]
        assert _get(f"{base}/api/v1/requirements", headers)["run"]["id"] == second.id
        assert process.stop() == 0
    with Ledger(url) as ledger:
        assert [(a.action, a.actor) for a in ledger.actions(COLLECT_NOW)] == [(COLLECT_NOW, "ops")]


def _get(url: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    try:
        response = httpx.get(url, headers=headers, timeout=5)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None
