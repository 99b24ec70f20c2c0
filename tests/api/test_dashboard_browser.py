"""The dashboard in a real browser (Playwright driving Debian's Chromium, scripts/bootstrap-browser): sign in
through the sandbox's Entra sign-in page, read the matrix, follow a failure to its raw evidence, download and
verify a snapshot; as an admin attest a manual requirement (with a document) and see it turn `attested` after
"collect now", then acknowledge that drift on the timeline.
Screenshots go to test-artifacts/ (git-ignored)."""

from __future__ import annotations

import json
import re
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest

from api.app import create_app
from api.oidc import OidcClient
from api.server import ApiServer
from api.session import SessionCodec
from api.signin import SignIn, secure_cookies
from collector.pipeline import run_once
from collector.settings import OidcSettings
from controls.catalog import load_catalog
from reports.bundle import create_keys, verify_bundle
from sandbox.server import Sandbox
from storage.ledger import Ledger
from tests.collector.conftest import EMR
from tests.pipeline.conftest import sandbox_settings

playwright = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DASHBOARD = "5f57f493-9719-4067-82a0-99a6577277e4"
TENANT = "c789e719-364a-4a28-aff9-0db8d2f428d5"
AUDITOR = ("yuki.tanaka@aozora-medical.example", "Sandbox-Auditor-2026")
ADMIN = ("kenichi.sato@aozora-medical.example", "Sandbox-Admin-2026")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign_in(page, base: str, login: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/requirements")  # no session: to /signin, then the sandbox's Entra sign-in page
    page.fill("#login", login[0])
    page.fill("#passwd", login[1])
    page.click("#signin")
    page.wait_for_url(f"{base}/requirements")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="scripts/bootstrap-browser installs Debian's Chromium")
def test_auditor_and_admin_in_the_browser(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    url = f"sqlite:///{tmp_path / 'shoko.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    catalog = load_catalog()
    private, _, fingerprint = create_keys(tmp_path / "keys")
    with Sandbox.from_file(EMR) as sb, Ledger(url) as ledger:
        settings = sandbox_settings(sb, url)
        run_once(settings, ledger, catalog)
        oidc = OidcSettings(
            enabled=True,
            tenant_id=TENANT,
            client_id=DASHBOARD,
            authority=sb.info.authority,
            redirect_uri=f"{base}/auth/callback",
            ca_bundle=sb.info.ca_bundle,
        )
        api = replace(settings.api, listen_host="127.0.0.1", listen_port=port, signing_key_file=str(private))
        settings = replace(settings, api=replace(api, oidc=oidc))
        signin = SignIn(
            OidcClient(oidc, sb.info.web_client_secrets[DASHBOARD]),
            SessionCodec("browser-test-session-key-0123456789abcdef", 3600),
            secure_cookies(oidc.redirect_uri),  # http://127.0.0.1: Secure relaxed (api/signin.py)
        )
        server = ApiServer(create_app(settings, ledger=ledger, catalog=catalog, signin=signin), settings)
        server.start()
        try:
            with playwright.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
                try:
                    auditor_steps(browser, base, tmp_path, fingerprint)
                    admin_steps(browser, base, ledger)
                finally:
                    browser.close()
        finally:
            server.stop()


def auditor_steps(browser, base: str, tmp_path: Path, fingerprint: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(ignore_https_errors=True, accept_downloads=True, locale="ja-JP")
    page = context.new_page()
    sign_in(page, base, AUDITOR)
    assert page.locator("h1").inner_text() == "準拠マトリクス"
    page.screenshot(path=str(ARTIFACTS / "matrix-ja.png"), full_page=True)
    page.select_option("#f-status", "fail")
    page.click("#apply")
    rows = page.locator("table.matrix tbody tr")
    assert rows.count() > 0 and rows.count() == page.locator("tr.row-fail").count()
    rows.first.locator("a").first.click()
    assert re.search(r"/requirements/\d+", page.url)
    assert page.locator("tbody tr").first.get_attribute("class") == "row-fail"  # failures first
    page.screenshot(path=str(ARTIFACTS / "requirement-ja.png"), full_page=True)
    href = page.locator("a.evidence").first.get_attribute("href")
    assert href and href.endswith("/raw")
    raw = page.request.get(base + href)
    assert raw.status == 200 and isinstance(json.loads(raw.text()), dict)
    page.goto(f"{base}/requirements")
    with page.expect_download() as waited:
        page.click("#export")
    zip_path = tmp_path / waited.value.suggested_filename
    waited.value.save_as(zip_path)
    verified = verify_bundle(zip_path, expected_fingerprint=fingerprint)
    assert verified is not None
    assert page.locator("#collect").count() == 0  # auditors cannot collect
    context.close()


def admin_steps(browser, base: str, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    sign_in(page, base, ADMIN)
    page.goto(f"{base}/requirements?status=manual")
    no = int(page.locator("table.matrix tbody tr a").first.inner_text().removeprefix("No "))
    page.goto(f"{base}/requirements/{no}")
    page.fill("#a-owner", "情報システム部")
    page.fill("#a-until", "2030-03-31")
    page.fill("#a-ja", "年次の確認を実施した。")
    page.fill("#a-en", "Reviewed this year.")
    page.set_input_files(
        "#a-docs", files=[{"name": "review.txt", "mimeType": "text/plain", "buffer": "年次確認の記録\n".encode()}]
    )
    page.click("#attest")
    assert page.locator("p.notice").count() == 1
    assert ledger.attestations()[-1].documents[0].name == "review.txt"  # uploaded through the form (multipart)
    runs = len(ledger.runs())
    page.goto(f"{base}/runs")
    page.click("#collect")  # a new attestation counts from the next run's evaluation
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        done = [r for r in ledger.runs()[runs:] if r.sealed]
        if done:
            break
        time.sleep(1)
    assert done and str(done[0].status) == "completed"
    page.goto(f"{base}/requirements/{no}")
    assert "確認済 attested" in page.locator("main p").first.inner_text()
    # The attested verdict is a drift event; acknowledge it from the timeline's form.
    event = next(d for d in ledger.drift_events(run_id=done[0].id) if no in d.event.requirements)
    page.goto(f"{base}/drift")
    page.fill(f"#ack-{event.id}", "attested by the annual review")
    page.locator(f"#drift-{event.id} button").click()
    assert "確認済み: " in page.locator(f"#drift-{event.id}").inner_text()
    context.close()
