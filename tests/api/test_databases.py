"""The read routes on both databases: a ledger on SQLite and on PostgreSQL answers the same way."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from api import tokens
from api.app import create_app
from collector.settings import load_settings
from storage.ledger import Ledger
from tests.api.conftest import auth
from tests.storage.helpers import T0, record_run


def test_reads_answer_from_either_database(database_url):
    with Ledger(database_url) as ledger:
        first, _ = record_run(ledger, T0)
        second, _ = record_run(ledger, T0 + timedelta(hours=1))
        _, token = tokens.issue(ledger, "grc", "auditor", timedelta(days=1), "tests", now=T0)
        app = create_app(load_settings(None, environ={}, overrides={"database": {"url": database_url}}), ledger=ledger)
        with TestClient(app) as client:
            headers = auth(token)
            assert client.get("/api/v1/me", headers=headers).status_code == 401  # made at T0: expired by now
            _, token = tokens.issue(ledger, "grc-now", "auditor", timedelta(days=1), "tests")
            headers = auth(token)
            matrix = client.get("/api/v1/requirements", headers=headers).json()
            assert matrix["run"]["id"] == second and matrix["total"] == 182
            then = client.get(
                "/api/v1/requirements", headers=headers, params={"as_of": (T0 + timedelta(minutes=30)).isoformat()}
            )
            assert then.json()["run"]["id"] == first
            judged = next(r["no"] for r in matrix["items"] if r["findings"])
            newest = client.get(f"/api/v1/requirements/{judged}", headers=headers, params={"history_limit": 1}).json()
            assert [h["run"] for h in newest["history"]] == [second] and newest["history_next"] == second
            older = client.get(
                f"/api/v1/requirements/{judged}", headers=headers, params={"history_before": second}
            ).json()
            assert [h["run"] for h in older["history"]] == [first] and older["history_next"] is None
            findings = client.get("/api/v1/findings", headers=headers).json()
            assert findings["total"] > 0
            sha = findings["items"][0]["evidence"][0]
            record = client.get(f"/api/v1/evidence/{sha}", headers=headers).json()
            assert record["sha256"] == sha and record["run"] == second
            early = client.get(
                f"/api/v1/evidence/{sha}", headers=headers, params={"as_of": (T0 + timedelta(minutes=30)).isoformat()}
            )
            assert early.json()["run"] == first
            runs = client.get("/api/v1/runs", headers=headers).json()
            assert [r["id"] for r in runs["items"]] == [second, first]
            assert client.get(f"/api/v1/runs/{first}", headers=headers).json()["collection_errors"]
            before = client.get("/api/v1/requirements", headers=headers, params={"as_of": "2000-01-01"})
            assert before.status_code == 404
