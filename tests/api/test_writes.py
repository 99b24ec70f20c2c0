"""Writes: attestations and tokens by admins, drift acknowledgements and "collect now" by operators — each recorded
in the ledger's hash-chained record of API writes with who made it; and `shoko token create | list | revoke`."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from collector.cli import main
from sandbox.server import Sandbox
from storage.actions import ATTESTATION_ADD, ATTESTATION_REVOKE, COLLECT_NOW, DRIFT_ACKNOWLEDGE, TOKEN_CREATE
from tests.api.conftest import EMR, auth, make_api
from tests.pipeline.conftest import sandbox_settings

ATTESTATION = {
    "id": "ATT-API-001",
    "requirements": "2,3",
    "owner": "情報システム部 山田",
    "attested_on": "2026-01-05",
    "valid_until": "2099-12-31",
    "statement_ja": "規程を承認済み",
    "statement_en": "Policy approved",
}


def test_an_admin_records_and_revokes_an_attestation_with_who_did_it(writable):
    created = writable.post("/api/v1/attestations", json=ATTESTATION)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["id"], body["requirements"], body["state"], body["recorded_by"]) == (
        "ATT-API-001",
        [2, 3],
        "valid",
        "test-admin",
    )
    again = writable.post("/api/v1/attestations", json=ATTESTATION)
    assert again.status_code == 409 and "already recorded" in again.json()["detail"]
    bad = writable.post("/api/v1/attestations", json={**ATTESTATION, "id": "ATT-API-002", "requirements": "999"})
    assert bad.status_code == 422 and "999" in bad.json()["detail"]

    revoked = writable.post("/api/v1/attestations/ATT-API-001/revoke", json={"reason": "superseded"})
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert revoked.json()["revoked"]["by"] == "test-admin" and revoked.json()["revoked"]["reason"] == "superseded"
    assert writable.post("/api/v1/attestations/ATT-API-001/revoke", json={"reason": "x"}).status_code == 409
    assert writable.post("/api/v1/attestations/ATT-NONE/revoke", json={"reason": "x"}).status_code == 404

    listed = writable.get("/api/v1/attestations", params={"all": True, "limit": 500}).json()["items"]
    assert next(a for a in listed if a["id"] == "ATT-API-001")["state"] == "revoked"
    records = [
        (a.action, a.subject, a.actor, a.content["role"], a.content["via"]) for a in writable.ledger.actions()[-2:]
    ]
    assert records == [
        (ATTESTATION_ADD, "ATT-API-001", "test-admin", "admin", "token"),
        (ATTESTATION_REVOKE, "ATT-API-001", "test-admin", "admin", "token"),
    ]
    report = writable.ledger.verify()
    assert report.ok and report.actions_checked == len(writable.ledger.actions())


def test_an_admin_makes_a_token_that_works_once_shown_and_revokes_it(writable):
    made = writable.post("/api/v1/tokens", json={"name": "grc-export", "role": "auditor", "expires_days": 30})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert made.json()["state"] == "active" and made.json()["created_by"] == "test-admin"
    me = writable.client.get("/api/v1/me", headers=auth(token))
    assert me.json() == {"name": "grc-export", "role": "auditor", "via": "token"}
    assert writable.client.get("/api/v1/tokens", headers=auth(token)).status_code == 403
    listed = writable.get("/api/v1/tokens", "admin").json()["items"]
    assert "token" not in next(t for t in listed if t["name"] == "grc-export")
    dup = writable.post("/api/v1/tokens", json={"name": "grc-export", "role": "admin", "expires_days": 1})
    assert dup.status_code == 409
    gone = writable.post(f"/api/v1/tokens/{made.json()['id']}/revoke")
    assert gone.status_code == 200 and gone.json()["state"] == "revoked" and gone.json()["revoked_by"] == "test-admin"
    assert writable.client.get("/api/v1/me", headers=auth(token)).status_code == 401
    created = [a for a in writable.ledger.actions(TOKEN_CREATE) if a.content["name"] == "grc-export"]
    assert [(a.actor, a.content["role"]) for a in created] == [("test-admin", "auditor")]


def test_an_operator_acknowledges_a_drift_event_once(writable):
    event = writable.get("/api/v1/drift", params={"kind": "new_failure"}).json()["items"][0]
    assert writable.post(f"/api/v1/drift/{event['id']}/acknowledge", "auditor", json={}).status_code == 403
    done = writable.post(f"/api/v1/drift/{event['id']}/acknowledge", "operator", json={"note": "jump host, closing"})
    assert done.status_code == 200, done.text
    assert (done.json()["action"], done.json()["actor"]) == (DRIFT_ACKNOWLEDGE, "test-operator")
    again = writable.post(f"/api/v1/drift/{event['id']}/acknowledge", "admin", json={})
    assert again.status_code == 409 and "test-operator" in again.json()["detail"]
    assert writable.post("/api/v1/drift/999999/acknowledge", "operator", json={}).status_code == 404
    listed = writable.get("/api/v1/drift", params={"kind": "new_failure", "limit": 500}).json()["items"]
    ack = next(d for d in listed if d["id"] == event["id"])["acknowledged"]
    assert ack["by"] == "test-operator" and ack["note"] == "jump host, closing"


def test_an_operator_starts_a_collection_that_is_sealed_in_the_ledger(collected, tmp_path):
    from tests.api.conftest import copy_ledger

    url = copy_ledger(collected, tmp_path / "c.db")
    with Sandbox.from_file(EMR) as sb:
        live = replace(collected, settings=sandbox_settings(sb, url))
        for operator in make_api(live, url):
            started = operator.post("/api/v1/collections", "operator")
            assert started.status_code == 202, started.text
            assert started.json()["actor"] == "test-operator"
            busy = operator.post("/api/v1/collections", "admin")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                runs = operator.get("/api/v1/runs").json()["items"]
                if runs[0]["id"] > collected.second.id and runs[0]["status"] != "running":
                    break
                time.sleep(0.5)
            assert runs[0]["status"] == "completed" and runs[0]["kind"] == "full"
            assert operator.get("/api/v1/requirements").json()["run"]["id"] == runs[0]["id"]
            assert [(a.action, a.actor) for a in operator.ledger.actions(COLLECT_NOW)] == [
                (COLLECT_NOW, "test-operator")
            ]
    # A second request while the first ran was refused, or (had it finished already) started another run.
    assert busy.status_code in (202, 409)


def test_token_commands_print_the_token_once_and_list_without_it(collected, tmp_path, monkeypatch, capsys):
    from tests.api.conftest import copy_ledger

    monkeypatch.setenv("SHOKO_DATABASE_URL", copy_ledger(collected, tmp_path / "t.db"))
    monkeypatch.setenv("SHOKO_ACTOR", "ops-suzuki")
    assert main(["token", "create", "--name", "grc", "--role", "auditor", "--expires", "30d"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("shoko_") and "shown only now" in err and "expires" in err
    assert main(["token", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(t["name"], t["role"], t["state"], t["created_by"]) for t in listed] == [
        ("grc", "auditor", "active", "ops-suzuki")
    ]
    assert token not in json.dumps(listed) and token.split("_", 2)[2] not in json.dumps(listed)
    assert main(["token", "revoke", "grc"]) == 0
    assert "revoked: grc" in capsys.readouterr().out
    assert main(["token", "list"]) == 0
    table = capsys.readouterr().out
    assert "last_used" in table and "revoked" in table.splitlines()[1]
    assert main(["token", "revoke", "grc"]) == 1
    assert "already revoked" in capsys.readouterr().err
    assert main(["token", "create", "--name", "x", "--role", "admin", "--expires", "forever"]) == 2
    assert capsys.readouterr().err.strip() == "shoko: --expires: 'forever' is not a duration such as 30d, 12h or 90m"
    assert main(["verify"]) == 0
    assert "2 API write record(s)" in capsys.readouterr().out
