"""The read routes over a ledger of two real collections: the matrix with its filters and pages, one
requirement with its findings, evidence and history, raw evidence, findings by resource, runs, drift, the
registers, attestations and the signed snapshot; `as_of` picks the run, and before the ledger began is a 404."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from reports.bundle import verify_bundle
from tests.api.conftest import APP_NSG

NSG_CHECK = "nsg-no-internet-management-ports"


def test_the_matrix_answers_from_the_latest_full_run_with_counts(api, collected):
    body = api.get("/api/v1/requirements", params={"limit": 500}).json()
    assert body["run"]["id"] == collected.second.id and body["run"]["status"] == "completed"
    assert body["total"] == 182 and len(body["items"]) == 182
    assert [r["no"] for r in body["items"]] == list(range(1, 183))
    assert sum(body["counts"].values()) == 182
    assert body["counts"]["fail"] == sum(1 for r in body["items"] if r["status"] == "fail") > 0
    row86 = next(r for r in body["items"] if r["no"] == 86)
    assert row86["status"] == "fail" and NSG_CHECK in row86["checks"]


def test_the_matrix_filters_by_status_section_responsibility_and_check(api):
    every = api.get("/api/v1/requirements", params={"limit": 500}).json()["items"]
    failing = api.get("/api/v1/requirements", params={"status": "fail", "limit": 500}).json()
    assert failing["items"] and {r["status"] for r in failing["items"]} == {"fail"}
    assert failing["total"] == len([r for r in every if r["status"] == "fail"])
    assert sum(failing["counts"].values()) == 182  # the counts are of every status, for the filter buttons
    section = api.get("/api/v1/requirements", params={"section": "2.6", "limit": 500}).json()["items"]
    assert section and all(r["section"] == "2.6" or r["section"].startswith("2.6.") for r in section)
    azure = api.get("/api/v1/requirements", params={"responsibility": "azure", "limit": 500}).json()["items"]
    assert azure and {r["responsibility"] for r in azure} == {"azure"}
    nsg = api.get("/api/v1/requirements", params={"check": NSG_CHECK}).json()["items"]
    assert {86, 148} <= {r["no"] for r in nsg}
    assert api.get("/api/v1/requirements", params={"status": "broken"}).status_code == 422


def test_pages_cover_every_row_once_and_the_page_size_is_bounded(api):
    pages = [api.get("/api/v1/requirements", params={"limit": 50, "offset": o}).json() for o in (0, 50, 100, 150)]
    numbers = [r["no"] for p in pages for r in p["items"]]
    assert numbers == list(range(1, 183)) and {p["total"] for p in pages} == {182}
    assert [len(p["items"]) for p in pages] == [50, 50, 50, 32]
    beyond = api.get("/api/v1/requirements", params={"offset": 500}).json()
    assert beyond["items"] == [] and beyond["total"] == 182
    too_big = api.get("/api/v1/requirements", params={"limit": 501})
    assert too_big.status_code == 422
    assert too_big.json() == {"detail": "limit: at most 500 rows per page (api.max_page_size), got 501"}
    negative = api.get("/api/v1/findings", params={"offset": -1})
    assert negative.status_code == 422 and negative.json()["detail"].startswith("query parameter 'offset'")
    for path in ("/api/v1/findings", "/api/v1/runs", "/api/v1/drift", "/api/v1/accounts", "/api/v1/inventory",
                 "/api/v1/attestations"):  # fmt: skip
        one = api.get(path, params={"limit": 1}).json()
        assert len(one["items"]) <= 1 and one["total"] >= len(one["items"]) and one["limit"] == 1, path


def test_as_of_picks_the_run_completed_by_then_and_before_the_ledger_began_is_404(api, collected):
    first, second = collected.first, collected.second
    between = first.finished_at.isoformat()
    assert api.get("/api/v1/requirements", params={"as_of": between}).json()["run"]["id"] == first.id
    today = second.finished_at.date().isoformat()  # a date alone: the end of that day (UTC)
    assert api.get("/api/v1/requirements", params={"as_of": today}).json()["run"]["id"] == second.id
    before = (first.started_at - timedelta(days=1)).isoformat()
    for path in ("/api/v1/requirements", "/api/v1/requirements/86", "/api/v1/findings", "/api/v1/accounts",
                 "/api/v1/inventory", "/api/v1/snapshot"):  # fmt: skip
        response = api.get(path, params={"as_of": before})
        assert response.status_code == 404, path
        assert response.json()["detail"].startswith("no completed full run at or before "), path
        assert "before the ledger began" in response.json()["detail"]
    far = api.get("/api/v1/requirements", params={"as_of": "9999-12-31"})
    assert far.status_code == 200 and far.json()["run"]["id"] == second.id
    early = api.get("/api/v1/requirements", params={"as_of": "0001-01-01T00:00+09:00"})
    assert early.status_code == 422 and "out of range" in early.json()["detail"]
    bad = api.get("/api/v1/requirements", params={"as_of": "last tuesday"})
    assert bad.status_code == 422 and "is not a date or time" in bad.json()["detail"]
    assert "\n" not in bad.json()["detail"]


def test_one_requirement_has_its_findings_failures_first_evidence_and_history(api, collected):
    body = api.get("/api/v1/requirements/86").json()
    assert body["no"] == 86 and body["status"] == "fail" and body["run"]["id"] == collected.second.id
    statuses = [f["status"] for f in body["findings"]]
    assert statuses == sorted(statuses, key={"fail": 0, "error": 1, "pass": 2}.__getitem__)
    ssh = next(f for f in body["findings"] if f["check"] == NSG_CHECK and f["resource_id"].lower() == APP_NSG.lower())
    assert ssh["status"] == "fail" and "22" in ssh["reason_en"]
    assert ssh["evidence"] and all(len(e["sha256"]) == 64 and e["api_version"] for e in ssh["evidence"])
    # Its status history: the verdict of each run that judged it, newest first, each with the one before.
    history = [(h["run"], h["before"], h["after"], h["changed"]) for h in body["history"]]
    assert history[0][0] == collected.second.id and history[-1][0] == collected.first.id
    assert history[-1][1] is None and history[-1][3] is True  # its first judgement
    assert history[0][1] == history[1][2] and body["history_next"] is None
    then = api.get("/api/v1/requirements/86", params={"as_of": collected.first.finished_at.isoformat()}).json()
    assert [h["run"] for h in then["history"]] == [collected.first.id]
    missing = api.get("/api/v1/requirements/183")
    assert missing.status_code == 404 and missing.json() == {
        "detail": "no requirement No 183 (the catalog has No 1–182)"
    }


def test_evidence_is_served_as_stored_and_hashes_to_its_name(api):
    body = api.get("/api/v1/requirements/86").json()
    sha = next(e["sha256"] for f in body["findings"] for e in f["evidence"] if e["kind"] == "network_security_group")
    record = api.get(f"/api/v1/evidence/{sha}").json()
    assert record["sha256"] == sha and record["kind"] == "network_security_group"
    assert record["content"]["type"] == "Microsoft.Network/networkSecurityGroups"
    raw = api.get(f"/api/v1/evidence/{sha}/raw")
    assert raw.headers["content-type"] == "application/json"
    assert hashlib.sha256(raw.content).hexdigest() == sha
    assert api.get(f"/api/v1/evidence/{'f' * 64}").status_code == 404
    assert api.get("/api/v1/evidence/not-a-hash").status_code == 422


def test_findings_by_resource_change_between_the_runs(api, collected):
    now = api.get("/api/v1/findings", params={"resource_id": APP_NSG.upper(), "check": NSG_CHECK}).json()
    assert now["run"]["id"] == collected.second.id
    assert [f["status"] for f in now["items"]] == ["fail"]
    then = api.get(
        "/api/v1/findings",
        params={"resource_id": APP_NSG, "check": NSG_CHECK, "as_of": collected.first.finished_at.isoformat()},
    ).json()
    assert [f["status"] for f in then["items"]] == ["pass"]
    failing = api.get("/api/v1/findings", params={"status": "fail", "requirement": 86, "limit": 500}).json()
    assert failing["items"] and all(f["status"] == "fail" and 86 in f["requirements"] for f in failing["items"])
    # One check's findings (read alone) are the run's findings of that check, in the same order.
    every = api.get("/api/v1/findings", params={"limit": 500}).json()["items"]
    nsg = api.get("/api/v1/findings", params={"check": NSG_CHECK, "limit": 500}).json()["items"]
    assert len(every) < 500 and nsg and nsg == [f for f in every if f["check_id"] == NSG_CHECK]
    one = api.get("/api/v1/findings", params={"resource_id": APP_NSG.lower(), "limit": 500}).json()["items"]
    assert one and one == [f for f in every if f["resource_id"].lower() == APP_NSG.lower()]


def test_runs_newest_first_with_duration_and_collection_errors(api, collected):
    body = api.get("/api/v1/runs").json()
    assert [r["id"] for r in body["items"]] == [collected.second.id, collected.first.id] and body["total"] == 2
    assert all(r["status"] == "completed" and r["duration_seconds"] > 0 and r["evidence"] > 0 for r in body["items"])
    detail = api.get(f"/api/v1/runs/{collected.first.id}").json()
    assert detail["run"]["id"] == collected.first.id
    assert len(detail["collection_errors"]) == detail["run"]["collection_errors"]
    assert api.get("/api/v1/runs/999").status_code == 404
    early = api.get("/api/v1/runs", params={"as_of": collected.first.finished_at.isoformat()}).json()
    assert [r["id"] for r in early["items"]] == [collected.first.id]


def test_drift_lists_what_the_second_run_found(api, collected):
    body = api.get("/api/v1/drift", params={"limit": 500}).json()
    ssh = [
        d for d in body["items"] if d["check_id"] == NSG_CHECK and (d["resource_id"] or "").lower() == APP_NSG.lower()
    ]
    assert [(d["run"], d["kind"], d["before"], d["after"]) for d in ssh] == [
        (collected.second.id, "new_failure", "pass", "fail")
    ]
    assert ssh[0]["acknowledged"] is None
    assert api.get("/api/v1/drift", params={"as_of": collected.first.finished_at.isoformat()}).json()["total"] == 0
    assert api.get("/api/v1/drift", params={"kind": "new_failure"}).json()["total"] >= 1
    assert api.get("/api/v1/drift", params={"run": 999}).status_code == 404


def test_the_registers_of_accounts_and_resources(api):
    accounts = api.get("/api/v1/accounts", params={"limit": 500}).json()
    assert accounts["total"] > 0 and all(a["role"] for a in accounts["items"])
    privileged = api.get("/api/v1/accounts", params={"privileged": True, "limit": 500}).json()
    assert 0 < privileged["total"] <= accounts["total"] and all(a["privileged"] for a in privileged["items"])
    resources = api.get("/api/v1/inventory", params={"limit": 500}).json()
    assert resources["total"] > 10
    nsg = api.get("/api/v1/inventory", params={"type": "microsoft.network/networksecuritygroups"}).json()
    assert APP_NSG.lower() in {r["id"].lower() for r in nsg["items"]}


def test_attestations_as_recorded_and_as_they_stood(api, collected):
    body = api.get("/api/v1/attestations", params={"limit": 500}).json()
    recorded = api.ledger.attestations()
    assert body["total"] == len([a for a in recorded if a.revoked is None]) > 0
    assert {a["state"] for a in body["items"]} >= {"valid", "expired"}
    before = (collected.first.started_at - timedelta(days=1)).isoformat()
    assert api.get("/api/v1/attestations", params={"as_of": before}).json()["total"] == 0


def test_a_snapshot_download_is_a_signed_bundle_that_verifies(api, collected, tmp_path):
    response = api.get("/api/v1/snapshot", params={"requirements": "86,148", "lang": "both"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert f"run{collected.second.id}" in response.headers["content-disposition"]
    bundle = tmp_path / "snap.zip"
    bundle.write_bytes(response.content)
    verified = verify_bundle(bundle)
    assert verified.ok, verified.problem
    assert [r["id"] for r in verified.manifest["runs"]] == [collected.second.id]
    assert api.get("/api/v1/snapshot", params={"requirements": "0"}).status_code == 422


def test_a_snapshot_without_a_signing_key_says_so(collected, tmp_path, monkeypatch):
    from tests.api.conftest import copy_ledger, make_api

    monkeypatch.delenv("SHOKO_SIGNING_KEY_FILE", raising=False)
    monkeypatch.delenv("SHOKO_SIGNING_KEY", raising=False)
    for unsigned in make_api(collected, copy_ledger(collected, tmp_path / "k.db"), signing_key_file=None):
        response = unsigned.get("/api/v1/snapshot")
        assert response.status_code == 503
        assert response.json()["detail"].startswith("snapshot signing is not configured: no signing key")


def test_requirement_history_is_paged_newest_first(api, collected):
    newest = api.get("/api/v1/requirements/86", params={"history_limit": 1}).json()
    assert [h["run"] for h in newest["history"]] == [collected.second.id]
    assert newest["history_next"] == collected.second.id
    older = api.get(
        "/api/v1/requirements/86", params={"history_limit": 1, "history_before": newest["history_next"]}
    ).json()
    assert [h["run"] for h in older["history"]] == [collected.first.id] and older["history_next"] is None
    assert newest["history"][0]["before"] == older["history"][0]["after"]  # read past the page's end
    assert older["history"][0]["before"] is None
    assert older["run"]["id"] == collected.second.id  # the verdict itself is still the latest
    assert api.get("/api/v1/requirements/86", params={"history_before": 2**31 - 1}).status_code == 404
    for bad in ({"history_limit": 0}, {"history_limit": 501}, {"history_before": 0}):
        assert api.get("/api/v1/requirements/86", params=bad).status_code == 422, bad
    # The ledger reads that requirement's verdicts only, newest first, bounded.
    rows = api.ledger.recent_requirement_verdicts(86, limit=1)
    assert [r.run_id for r in rows] == [collected.second.id] and rows[0].kind == "full"
    assert api.ledger.recent_requirement_verdicts(86, upto_chain_index=collected.first.chain_index, limit=50)[
        0
    ].run_id == (collected.first.id)


def test_a_requirements_findings_are_paged_with_the_count_per_status(api, collected):
    """Pages of No 86's findings (in each run: the second holds most of the first run's rows by reference) cover
    the whole ordered list once; the counts are of them all, whatever the filters; status and resource filter."""
    from collections import Counter

    for as_of in (None, collected.first.finished_at.isoformat()):
        params = {"as_of": as_of} if as_of else {}
        whole = api.get("/api/v1/requirements/86", params={**params, "limit": 500}).json()
        every = whole["findings"]
        assert len(every) == whole["total"] > 6 and whole["limit"] == 500 and whole["offset"] == 0
        assert whole["counts"] == dict(Counter(f["status"] for f in every))
        paged = []
        for offset in range(0, len(every), 4):
            page = api.get("/api/v1/requirements/86", params={**params, "limit": 4, "offset": offset}).json()
            assert page["total"] == len(every) and page["counts"] == whole["counts"] and page["offset"] == offset
            paged += page["findings"]
        assert paged == every
        for status in ("fail", "pass", "error"):
            only = api.get("/api/v1/requirements/86", params={**params, "status": status, "limit": 500}).json()
            assert only["findings"] == [f for f in every if f["status"] == status]
            assert only["total"] == whole["counts"].get(status, 0) and only["counts"] == whole["counts"]
        named = api.get("/api/v1/requirements/86", params={**params, "resource": "NSG-EMR-PROD", "limit": 500}).json()
        assert named["findings"] == [f for f in every if "nsg-emr-prod" in f["resource_id"].lower()]
        assert 0 < named["total"] < len(every)
    default = api.get("/api/v1/requirements/86").json()
    assert default["limit"] == 50 and len(default["findings"]) == min(50, default["total"])
    for bad in ({"limit": 0}, {"offset": -1}, {"status": "partial"}, {"limit": 501}, {"limit": 10**9}):
        assert api.get("/api/v1/requirements/86", params=bad).status_code == 422, bad
