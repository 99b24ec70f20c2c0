"""A ledger made by real collections of the example estate (through the sandbox and the Azure SDK), and the API
app over it with a token per role and the tokens it must refuse."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import tokens
from api.app import create_app
from collector.attest_cli import import_demo_attestations
from collector.cli import DEMO_ATTESTATIONS
from collector.pipeline import run_once
from collector.settings import Settings
from controls.catalog import load_catalog
from reports.bundle import create_keys
from sandbox.server import Sandbox
from storage.ledger import Ledger, RunRecord
from tests.collector.conftest import EMR
from tests.pipeline.conftest import sandbox_settings

APP_NSG = (
    "/subscriptions/a8233bec-16ce-49d8-af36-5decabf6c438/resourceGroups/rg-emr-prod-net/providers/"
    "Microsoft.Network/networkSecurityGroups/nsg-emr-prod-app"
)
SSH_OPEN = {
    "id": f"{APP_NSG}/securityRules/AllowSshFromAnywhere",
    "name": "AllowSshFromAnywhere",
    "type": "Microsoft.Network/networkSecurityGroups/securityRules",
    "properties": {
        "provisioningState": "Succeeded",
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": "22",
        "sourceAddressPrefix": "*",
        "destinationAddressPrefix": "*",
        "access": "Allow",
        "priority": 120,
        "direction": "Inbound",
        "sourcePortRanges": [],
        "destinationPortRanges": [],
        "sourceAddressPrefixes": [],
        "destinationAddressPrefixes": [],
    },
}


@dataclass(frozen=True)
class Collected:
    url: str
    file: Path
    settings: Settings  # sandbox settings (its endpoints are gone once the fixture returns)
    first: RunRecord
    second: RunRecord  # after an NSG rule opened SSH to the Internet: drift
    key_file: Path


@pytest.fixture(scope="package")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Collected:
    """The demo attestations imported, then two full runs of the example estate, SSH opened in between."""
    folder = tmp_path_factory.mktemp("api")
    db = folder / "shoko.db"
    url = f"sqlite:///{db}"
    catalog = load_catalog()
    with Sandbox.from_file(EMR) as sb, Ledger(url) as ledger:
        import_demo_attestations(ledger, DEMO_ATTESTATIONS)
        settings = sandbox_settings(sb, url)
        first = run_once(settings, ledger, catalog).run
        sb.put_resource(SSH_OPEN)
        second = run_once(settings, ledger, catalog).run
    private, _, _ = create_keys(folder / "keys")
    return Collected(url, db, settings, first, second, private)


def copy_ledger(collected: Collected, to: Path) -> str:
    """A copy of the collected ledger for a test that writes (SQLite's backup: WAL content included)."""
    with sqlite3.connect(collected.file) as src, sqlite3.connect(to) as dst:
        src.backup(dst)
    return f"sqlite:///{to}"


@dataclass
class Api:
    client: TestClient
    ledger: Ledger
    tokens: dict[str, str]  # role or refusal kind → token text

    def get(self, path: str, role: str = "auditor", **kw):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers=auth(self.tokens[role]), **kw)

    def post(self, path: str, role: str = "admin", **kw):  # type: ignore[no-untyped-def]
        return self.client.post(path, headers=auth(self.tokens[role]), **kw)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_api(collected: Collected, url: str, **api_settings) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    api_section = {"auth_failure_limit": 10_000, "signing_key_file": str(collected.key_file), **api_settings}
    settings = replace(collected.settings, api=replace(collected.settings.api, **api_section))
    ledger = Ledger(url)
    made = {}
    for role in ("auditor", "operator", "admin"):
        _, made[role] = tokens.issue(ledger, f"test-{role}", role, timedelta(days=1), "tests")
    long_ago = datetime.now(UTC) - timedelta(days=2)
    _, made["expired"] = tokens.issue(ledger, "test-expired", "admin", timedelta(days=1), "tests", now=long_ago)
    _, made["revoked"] = tokens.issue(ledger, "test-revoked", "admin", timedelta(days=1), "tests")
    ledger.revoke_token("test-revoked", "tests", datetime.now(UTC), {})
    good = made["admin"]
    made["wrong"] = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")  # right id, wrong secret
    made["garbage"] = "not-a-shoko-token"
    app = create_app(settings, ledger=ledger)
    with TestClient(app) as client:
        yield Api(client, ledger, made)
    ledger.close()


@pytest.fixture(scope="package")
def api(collected: Collected, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app over a copy of the collected ledger (tests here only read, but tokens are written)."""
    yield from make_api(collected, copy_ledger(collected, tmp_path_factory.mktemp("api-read") / "shoko.db"))


@pytest.fixture
def writable(collected: Collected, tmp_path: Path) -> Iterator[Api]:
    """The app over a fresh copy of the collected ledger, for tests that write."""
    yield from make_api(collected, copy_ledger(collected, tmp_path / "shoko.db"))
