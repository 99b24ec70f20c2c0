"""The dashboard's pages over a collected ledger: sign-in required, role gates, CSRF, escaping, headers."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import data
from api.app import create_app
from api.dashboard import _back
from api.oidc import OidcClient, SignedInUser
from api.session import SESSION_COOKIE, SessionCodec
from api.signin import SignIn, secure_cookies
from collector.accounts_view import run_accounts
from collector.settings import OidcSettings
from storage.actions import ATTESTATION_ADD, DRIFT_ACKNOWLEDGE
from storage.ledger import Ledger

from .conftest import Collected, copy_ledger

KEY = "k" * 40
OIDC = OidcSettings(
    enabled=True,
    tenant_id="c789e719-364a-4a28-aff9-0db8d2f428d5",
    client_id="5f57f493-9719-4067-82a0-99a6577277e4",
    redirect_uri="https://testserver/auth/callback",
)


def user(role: str, name: str | None = None) -> SignedInUser:
    return SignedInUser("oid-" + role, OIDC.tenant_id or "", name or f"{role} person", f"{role}@example.jp", role, ())


@pytest.fixture
def site(collected: Collected, tmp_path: Path) -> Iterator[tuple[TestClient, SignIn, Ledger]]:
    ledger = Ledger(copy_ledger(collected, tmp_path / "shoko.db"))
    settings = replace(
        collected.settings, api=replace(collected.settings.api, signing_key_file=str(collected.key_file))
    )
    signin = SignIn(OidcClient(OIDC, "unused-secret"), SessionCodec(KEY, 3600), secure=True)
    app = create_app(settings, ledger=ledger, signin=signin)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client, signin, ledger
    ledger.close()


def sign_in(client: TestClient, signin: SignIn, role: str, name: str | None = None) -> str:
    session, value = signin.sessions.issue(user(role, name))
    client.cookies.set(SESSION_COOKIE, value)
    return signin.sessions.csrf_token(session)


def test_pages_need_a_sign_in_and_the_api_still_answers_401(site) -> None:
    client, _, _ = site
    page = client.get("/requirements?status=fail")
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=%2Frequirements%3Fstatus%3Dfail"
    assert client.get("/requirements/86").status_code == 303
    api = client.get("/api/v1/requirements")
    assert api.status_code == 401 and api.json()["detail"].startswith("authentication required")


def test_matrix_in_japanese_with_filters_counts_and_headers(site) -> None:
    client, signin, _ = site
    sign_in(client, signin, "auditor")
    page = client.get("/requirements")
    assert page.status_code == 200 and '<html lang="ja">' in page.text
    assert "準拠マトリクス" in page.text and "不適合 fail" in page.text
    assert page.text.count('href="/requirements/') == 182
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "<script" not in page.text
    assert " style=" not in page.text and "<style" not in page.text  # the CSP allows only the stylesheet
    failing = client.get("/requirements?status=fail")
    rows = re.findall(r'<tr class="row-(\w+)">', failing.text)
    assert rows and set(rows) == {"fail"}
    english = client.get("/requirements?lang=en")
    assert '<html lang="en">' in english.text and "Compliance matrix" in english.text
    assert "shoko_lang=en" in english.headers["set-cookie"]
    assert '<html lang="en">' in client.get("/requirements").text  # remembered
    css = client.get("/static/shoko.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


def test_requirement_page_lists_failures_first_with_raw_evidence_links(site) -> None:
    client, signin, ledger = site
    sign_in(client, signin, "auditor")
    page = client.get("/requirements/86")
    assert page.status_code == 200
    statuses = re.findall(r'<tr class="row-(\w+)">', page.text)
    assert statuses[0] == "fail"
    link = re.search(r'href="(/api/v1/evidence/[0-9a-f]{64}/raw)"', page.text)
    assert link
    raw = client.get(link.group(1))  # the session opens the API's raw JSON too
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("application/json")
    assert client.get("/requirements/999").status_code == 404
    # Its status history, newest first, with a plain link back from an older page.
    runs = [r.id for r in ledger.runs()]
    history = page.text[page.text.index('id="hist-h"') :]
    assert re.findall(r'<a href="/runs/(\d+)">', history) == [str(r) for r in runs[::-1]]
    older = client.get(f"/requirements/86?history_before={runs[-1]}")
    history = older.text[older.text.index('id="hist-h"') :]
    assert re.findall(r'<a href="/runs/(\d+)">', history) == [str(runs[0])] and 'href="/requirements/86"' in history


def test_role_gates_and_csrf(site) -> None:
    client, signin, ledger = site
    csrf = sign_in(client, signin, "auditor")
    assert client.post("/collect", data={"csrf": csrf}).status_code == 403
    form = {"requirements": "1", "owner": "x", "valid_until": "2030-01-01", "statement_ja": "a", "statement_en": "b"}
    assert client.post("/attestations", data={**form, "csrf": csrf}).status_code == 403
    page = client.get("/attestations")
    assert 'action="/attestations"' not in page.text  # no form for auditors
    before = len(ledger.attestations())
    csrf = sign_in(client, signin, "admin")
    assert client.post("/attestations", data={**form, "csrf": "wrong"}).status_code == 403
    assert client.post("/attestations", data=form).status_code == 403
    other = SessionCodec(KEY, 3600).csrf_token(signin.sessions.issue(user("admin"))[0])
    assert client.post("/attestations", data={**form, "csrf": other}).status_code == 403  # another session's
    assert len(ledger.attestations()) == before
    done = client.post("/attestations", data={**form, "csrf": csrf})
    assert done.status_code == 303 and len(ledger.attestations()) == before + 1
    assert ledger.attestations()[-1].recorded_by == "admin@example.jp"
    assert ledger.actions(ATTESTATION_ADD)[-1].actor == "admin@example.jp"
    assert client.post("/signout", data={"csrf": "wrong"}).status_code == 403


def test_hostile_strings_are_escaped(site) -> None:
    client, signin, _ = site
    hostile = '<script>alert("x")</script>'
    csrf = sign_in(client, signin, "admin", name=hostile)
    form = {
        "requirements": "1",
        "owner": hostile,
        "valid_until": "2030-01-01",
        "statement_ja": hostile,
        "statement_en": hostile,
        "csrf": csrf,
    }
    assert client.post("/attestations", data=form).status_code == 303
    page = client.get("/attestations")
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    resource = client.get("/resources", params={"id": hostile})
    assert resource.status_code == 200 and "<script>" not in resource.text
    assert "<script>" not in client.get("/requirements", params={"as_of": hostile}).text


def test_session_cookies_are_secure_except_on_loopback_http() -> None:
    assert secure_cookies("https://shoko.example.jp/auth/callback")
    assert secure_cookies("http://shoko.example.jp/auth/callback")
    assert not secure_cookies("http://127.0.0.1:8080/auth/callback")


def test_operators_acknowledge_drift_from_the_timeline_and_auditors_see_no_form(site) -> None:
    client, signin, ledger = site
    events = ledger.drift_events()
    assert events
    event = events[0].id
    csrf = sign_in(client, signin, "auditor")
    page = client.get("/drift")
    assert page.status_code == 200 and f'action="/drift/{event}/acknowledge"' not in page.text
    assert "未確認" in page.text  # the state is shown even without the form
    assert client.post(f"/drift/{event}/acknowledge", data={"csrf": csrf}).status_code == 403
    csrf = sign_in(client, signin, "operator")
    page = client.get("/drift")
    assert f'action="/drift/{event}/acknowledge"' in page.text and 'name="csrf"' in page.text
    assert client.post(f"/drift/{event}/acknowledge", data={"note": "x"}).status_code == 403  # no CSRF token
    assert client.post(f"/drift/{event}/acknowledge", data={"csrf": "wrong"}).status_code == 403
    assert not ledger.actions(DRIFT_ACKNOWLEDGE)
    done = client.post(
        f"/drift/{event}/acknowledge",
        data={"csrf": csrf, "note": "NSG change approved in CAB-42", "back": "/drift?lang=en"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/drift?lang=en"
    (action,) = ledger.actions(DRIFT_ACKNOWLEDGE)
    assert action.subject == str(event) and action.actor == "operator@example.jp"
    assert action.content["role"] == "operator" and action.content["via"] == "session"
    assert action.content["note"] == "NSG change approved in CAB-42"
    page = client.get("/drift?lang=en")
    row = page.text[page.text.index(f'id="drift-{event}"') :].split("</tr>")[0]
    assert "Acknowledged: operator@example.jp" in row and "CAB-42" in row and "<form" not in row
    again = client.post(f"/drift/{event}/acknowledge", data={"csrf": csrf})
    assert again.status_code == 409 and len(ledger.actions(DRIFT_ACKNOWLEDGE)) == 1
    assert client.post("/drift/999999/acknowledge", data={"csrf": csrf}).status_code == 404
    # The form never sends the browser to another site.
    assert [_back(b, "/drift") for b in ("//evil.example/", "https://evil.example/", "/\\evil", "/runs")] == [
        "/drift",
        "/drift",
        "/drift",
        "/runs",
    ]
    # The API's list shows the same acknowledgement.
    api_row = next(d for d in data.drift_rows(ledger, None) if d["id"] == event)
    assert api_row["acknowledged"]["by"] == "operator@example.jp"


def test_lists_are_paged_with_plain_previous_and_next_links(site) -> None:
    client, signin, ledger = site
    sign_in(client, signin, "auditor")
    runs = ledger.runs()
    first = client.get("/runs?limit=1")
    assert first.status_code == 200 and "<script" not in first.text
    assert re.findall(r'<a href="/runs/(\d+)">', first.text) == [str(runs[-1].id)]  # newest first
    assert f"1–1 / {len(runs)}" in first.text and 'rel="prev"' not in first.text
    older = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert older and "offset=1" in older.group(1) and "limit=1" in older.group(1)
    second = client.get(older.group(1).replace("&amp;", "&"))
    assert re.findall(r'<a href="/runs/(\d+)">', second.text) == [str(runs[-2].id)]
    assert 'rel="prev"' in second.text
    total = len(ledger.drift_events())
    drift = client.get("/drift?limit=2&offset=1")
    assert drift.text.count('<tr id="drift-') == min(2, total - 1) and f"/ {total}" in drift.text
    assert client.get("/drift").text.count('<tr id="drift-') == min(total, 50)  # bounded by default
    for path in ("/accounts", "/inventory", "/attestations"):
        assert 'class="pager"' in client.get(path + "?limit=1").text, path
    # The accounts page is a page of the run's register (api/register_pages.py): its rows and the count of them all.
    holders = run_accounts(ledger, runs[-1].id, client.app.state.settings.thresholds)
    accounts = client.get("/accounts?limit=2&offset=3").text
    assert f"4–5 / {len(holders)}" in accounts
    assert re.findall(r'<td class="rid">([^<]+)</td>', accounts) == [html.escape(r["scope"]) for r in holders[3:5]]
    assert client.get("/runs?limit=100000").status_code == 422  # at most api.max_page_size
    assert client.get("/runs?offset=-1").status_code == 422
    assert client.get("/runs?limit=abc").status_code == 422


def _resources(html: str) -> list[str]:
    """The resource ids of a requirement page's findings table, in order."""
    return re.findall(r'<td class="rid"><a href="[^"]+">([^<]+)</a>', html)


def test_requirement_page_counts_findings_and_pages_them_with_plain_links(site) -> None:
    client, signin, _ = site
    sign_in(client, signin, "auditor")
    body = client.get("/api/v1/requirements/86", params={"limit": 500}).json()
    counts, every = body["counts"], body["findings"]
    page = client.get("/requirements/86?limit=2")
    assert page.status_code == 200 and "<script" not in page.text
    assert "状況ごとの検出結果" in page.text and "リソース ID (一部)" in page.text
    for status, n in counts.items():  # each count links to the findings of that status
        assert re.search(rf'href="/requirements/86\?limit=2&amp;status={status}">.*?<strong>{n}</strong>', page.text)
    assert _resources(page.text) == [f["resource_id"] for f in every[:2]]
    assert f"1–2 / {len(every)}" in page.text and 'rel="prev"' not in page.text
    after = re.search(r'<a rel="next" href="([^"]+)"', page.text)
    assert after and "offset=2" in after.group(1)
    second = client.get(after.group(1).replace("&amp;", "&"))
    assert _resources(second.text) == [f["resource_id"] for f in every[2:4]] and 'rel="prev"' in second.text
    passing = client.get("/requirements/86?status=pass&lang=en")
    assert "Findings per status" in passing.text and 'option value="pass" selected' in passing.text
    assert _resources(passing.text) == [f["resource_id"] for f in every if f["status"] == "pass"][:50]
    named = client.get("/requirements/86?resource=NSG-EMR-PROD")
    wanted = [f["resource_id"] for f in every if "nsg-emr-prod" in f["resource_id"].lower()]
    assert _resources(named.text) == wanted[:50]
    nothing = client.get("/requirements/86?resource=no-such-resource&lang=ja")
    assert "条件に合う検出結果はありません" in nothing.text and "<strong>" in nothing.text  # counts still shown
    assert client.get("/requirements/86?status=partial").status_code == 422
    assert client.get("/requirements/86?limit=100000").status_code == 422
