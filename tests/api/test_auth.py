"""Who may call what: every route refuses missing, wrong, expired and revoked tokens alike (401, no data), roles
are checked (403), failing clients are slowed down (429), tokens are kept only as hashes, and every response
carries the security headers."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import UNAUTHENTICATED
from storage.ledger import Ledger
from tests.api.conftest import auth, make_api

SAMPLE_PARAMS = {
    "no": "86",
    "sha256": "0" * 64,
    "run_id": "1",
    "event_id": "1",
    "attestation_id": "ATT-X",
    "token_id": "no-such-token",
}
# The least role each route needs; every other route needs auditor (any valid token). /healthz needs none.
NEEDS = {
    ("GET", "/api/v1/tokens"): "admin",
    ("POST", "/api/v1/tokens"): "admin",
    ("POST", "/api/v1/tokens/{token_id}/revoke"): "admin",
    ("POST", "/api/v1/attestations"): "admin",
    ("POST", "/api/v1/attestations/{attestation_id}/revoke"): "admin",
    ("POST", "/api/v1/drift/{event_id}/acknowledge"): "operator",
    ("POST", "/api/v1/collections"): "operator",
}
ROLES = ("auditor", "operator", "admin")


def routes(app) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """(method, path template, a concrete path) of every route the app serves (app.routes, with the routes of
    included routers, which FastAPI keeps inside them, flattened)."""
    found = []
    for route in iter_route_contexts(app.routes):
        if route.path is None or not route.methods:
            continue
        if not route.path.startswith(("/api/", "/openapi.json", "/healthz")):
            continue  # the dashboard's pages and sign-in: tests/api/test_dashboard.py
        concrete = re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMS[m.group(1)], route.path)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, route.path, concrete))
    return found


def test_the_route_list_is_what_this_file_expects(api):
    served = routes(api.client.app)
    assert ("GET", "/healthz", "/healthz") in served and ("GET", "/openapi.json", "/openapi.json") in served
    assert len(served) >= 20
    assert set(NEEDS) <= {(m, p) for m, p, _ in served}


@pytest.mark.parametrize("kind", ["missing", "wrong", "garbage", "expired", "revoked", "basic"])
def test_every_route_but_healthz_refuses_a_bad_token_with_no_data(api, kind):
    special = {"missing": {}, "basic": {"Authorization": "Basic dGVzdDp0ZXN0"}}
    headers = special[kind] if kind in special else auth(api.tokens[kind])
    checked = 0
    for method, path, concrete in routes(api.client.app):
        if path == "/healthz":
            continue
        response = api.client.request(method, concrete, headers=headers, json={} if method == "POST" else None)
        assert response.status_code == 401, (method, path, kind, response.text)
        assert response.json() == {"detail": UNAUTHENTICATED}, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
        checked += 1
    assert checked >= 19


def test_healthz_needs_no_token(api):
    response = api.client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_what_it_may_and_is_refused_the_rest(writable, role):
    api = writable  # a permitted write (e.g. an acknowledgement with no note) really writes
    for method, path, concrete in routes(api.client.app):
        if path in ("/healthz", "/api/v1/snapshot") or (method, path) == ("POST", "/api/v1/collections"):
            continue  # snapshots and collections do real work: test_reads and test_writes cover them
        needed = NEEDS.get((method, path), "auditor")
        # An empty body: most permitted writes are refused as 422; what is permitted is not 401 or 403.
        response = api.client.request(
            method, concrete, headers=auth(api.tokens[role]), json={} if method == "POST" else None
        )
        if ROLES.index(role) < ROLES.index(needed):
            assert response.status_code == 403, (role, method, path, response.text)
            assert response.json() == {"detail": f"forbidden: this needs the {needed} role"}
        else:
            assert response.status_code not in (401, 403), (role, method, path, response.text)


def test_an_auditor_cannot_create_tokens_or_attestations_and_nothing_is_written(api):
    before = (len(api.ledger.tokens()), len(api.ledger.attestations()), len(api.ledger.actions()))
    body = {"name": "sneaky", "role": "admin", "expires_days": 30}
    assert api.post("/api/v1/tokens", "auditor", json=body).status_code == 403
    attestation = {
        "requirements": "2",
        "owner": "x",
        "valid_until": "2099-01-01",
        "statement_ja": "x",
        "statement_en": "x",
    }
    assert api.post("/api/v1/attestations", "auditor", json=attestation).status_code == 403
    assert api.post("/api/v1/attestations", "operator", json=attestation).status_code == 403
    assert api.post("/api/v1/collections", "auditor").status_code == 403
    assert (len(api.ledger.tokens()), len(api.ledger.attestations()), len(api.ledger.actions())) == before


def test_me_names_the_token_and_its_role(api):
    assert api.get("/api/v1/me", "operator").json() == {"name": "test-operator", "role": "operator", "via": "token"}


def test_failed_authentications_are_limited_per_client(collected, tmp_path):
    from tests.api.conftest import copy_ledger

    for limited in make_api(collected, copy_ledger(collected, tmp_path / "l.db"), auth_failure_limit=3):
        client = limited.client
        assert client.get("/api/v1/me", headers=auth(limited.tokens["auditor"])).status_code == 200  # not counted
        for _ in range(3):
            assert client.get("/api/v1/me", headers=auth(limited.tokens["wrong"])).status_code == 401
        refused = client.get("/api/v1/me", headers=auth(limited.tokens["auditor"]))
        assert refused.status_code == 429
        assert refused.json() == {"detail": "too many failed authentications from this address; try again later"}
        assert 1 <= int(refused.headers["retry-after"]) <= 301
        assert client.get("/healthz").status_code == 200  # health needs no authentication


def test_tokens_are_stored_only_as_hashes_and_last_use_is_recorded(api, collected):
    token = api.tokens["operator"]
    token_id, secret = token.split("_")[1], token.split("_", 2)[2]
    assert api.get("/api/v1/me", "operator").status_code == 200
    record = api.ledger.token(token_id)
    assert record is not None and record.last_used_at is not None
    assert record.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    from sqlalchemy import text

    with api.ledger.engine.connect() as connection:
        dump = " ".join(str(row) for row in connection.execute(text("SELECT * FROM api_tokens")))
        dump += " ".join(str(row) for row in connection.execute(text("SELECT * FROM api_actions")))
    assert secret not in dump and token not in dump


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/requirements", "/api/v1/requirements/999", "/api/v1/nothing"])
def test_every_response_carries_the_security_headers_and_no_cors(api, path):
    response = api.client.get(path, headers={**auth(api.tokens["auditor"]), "Origin": "https://evil.example"})
    h = response.headers
    assert "script-src 'self'" in h["content-security-policy"] and "'unsafe-inline'" not in h["content-security-policy"]
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "DENY"
    assert h["cache-control"] == "no-store"
    assert "strict-transport-security" not in h  # plain HTTP, api.hsts off
    assert "access-control-allow-origin" not in h
    preflight = api.client.options(
        "/api/v1/requirements",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_hsts_over_tls_or_when_configured(api, collected, tmp_path):
    from fastapi.testclient import TestClient

    from tests.api.conftest import copy_ledger

    with TestClient(api.client.app, base_url="https://testserver") as tls:
        assert tls.get("/healthz").headers["strict-transport-security"].startswith("max-age=31536000")
    for configured in make_api(collected, copy_ledger(collected, tmp_path / "h.db"), hsts=True):
        assert "max-age=" in configured.client.get("/healthz").headers["strict-transport-security"]


def test_the_failure_limit_is_shared_by_every_process_over_one_database(collected, tmp_path):
    """Two apps over one database, as two replicas: failures at one are refused at the other too."""
    from tests.api.conftest import copy_ledger

    url = copy_ledger(collected, tmp_path / "shared.db")
    made = make_api(collected, url, auth_failure_limit=3)
    first = next(made)
    replica = Ledger(url)
    try:
        with TestClient(create_app(first.client.app.state.settings, ledger=replica)) as second:
            for client in (first.client, first.client, second):
                assert client.get("/api/v1/me", headers=auth(first.tokens["wrong"])).status_code == 401
            for client in (first.client, second):
                refused = client.get("/api/v1/me", headers=auth(first.tokens["auditor"]))
                assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 301
        # Only addresses are counted; a failure older than the window is forgotten as new ones are noted.
        now = datetime.now(UTC)
        assert len(replica.auth_failures("testclient", now - timedelta(seconds=300), 10)) == 3
        replica.add_auth_failure("elsewhere", now, now + timedelta(seconds=1))
        assert replica.auth_failures("testclient", now - timedelta(seconds=300), 10) == []
        assert first.client.get("/api/v1/me", headers=auth(first.tokens["auditor"])).status_code == 200
    finally:
        replica.close()
        made.close()


def test_a_failure_limiter_whose_database_fails_answers_503_with_no_data(collected, tmp_path, caplog):
    """The failed-sign-in table unreadable (dropped here, as a broken database would refuse it): every request
    that needs authentication gets 503 and one line, never a 500 and never data; a log line says why."""
    import logging
    import sqlite3

    from api.auth import LIMITER_UNAVAILABLE
    from tests.api.conftest import copy_ledger

    url = copy_ledger(collected, tmp_path / "broken.db")
    for broken in make_api(collected, url):
        with sqlite3.connect(tmp_path / "broken.db") as db:
            db.execute("DROP TABLE api_auth_failures")
        client = broken.client
        with caplog.at_level(logging.ERROR, logger="shoko.api"):
            for token in ("auditor", "wrong"):
                refused = client.get("/api/v1/requirements/86", headers=auth(broken.tokens[token]))
                assert refused.status_code == 503
                assert refused.json() == {"detail": LIMITER_UNAVAILABLE}
                assert refused.headers["retry-after"] == "30"
        assert any("failure limiter's database failed" in r.getMessage() for r in caplog.records)
        assert broken.tokens["auditor"] not in caplog.text
        assert client.get("/healthz").status_code == 200
