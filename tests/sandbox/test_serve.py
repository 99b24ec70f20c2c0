"""`python -m sandbox.serve serve ...` as a process, and estate changes while the sandbox runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.resource.subscriptions import SubscriptionClient
from azure.mgmt.storage import StorageManagementClient

from sandbox.admin import SandboxAdmin
from sandbox.server import Sandbox, SandboxInfo
from tests.sandbox.conftest import ESTATE
from tests.sandbox.sdk import client_for

ROOT = Path(__file__).resolve().parents[2]


def test_serve_writes_info_file_and_answers_the_sdk(tmp_path: Path) -> None:
    info_file = tmp_path / "sandbox.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.serve",
            "serve",
            "--estate",
            str(ESTATE),
            "--info-file",
            str(info_file),
            "--page-size",
            "1",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not info_file.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "serve did not write its info file"
            time.sleep(0.05)
        info = json.loads(info_file.read_text(encoding="utf-8"))
        assert set(info) == {
            "base_url",
            "authority",
            "tenant_id",
            "client_id",
            "client_secret",
            "ca_bundle",
            "graph_base_url",
            "subscriptions",
            "admin_token",
            "web_client_secrets",  # the sign-in applications' secrets for this run (appId -> secret)
        }
        assert list(info["web_client_secrets"]) == ["5f57f493-9719-4067-82a0-99a6577277e4"]  # shoko-dashboard
        assert info["graph_base_url"] == info["base_url"] + "/v1.0"
        assert info_file.stat().st_mode & 0o777 == 0o600  # it holds the client secret
        stdout_line = proc.stdout.readline() if proc.stdout else ""
        assert json.loads(stdout_line) == info
        client = client_for(SandboxInfo(**info), SubscriptionClient)
        assert [s.subscription_id for s in client.subscriptions.list()] == info["subscriptions"]  # two pages of 1
        assert SandboxAdmin.from_info(info).estate()["tenant"]["id"] == info["tenant_id"]  # its admin endpoint
        ca_dir = Path(info["ca_bundle"]).parent
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert not info_file.exists() and not ca_dir.exists()  # secret and CA do not outlive the run


def _client(sb: Sandbox, sub: str, cls: Any) -> Any:
    return client_for(sb.info, cls, sub)


def test_estate_changes_while_running() -> None:
    tenant, sub = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    account = {
        "id": f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1",
        "name": "st1",
        "type": "Microsoft.Storage/storageAccounts",
        "location": "japaneast",
        "kind": "StorageV2",
        "sku": {"name": "Standard_LRS"},
        "properties": {"minimumTlsVersion": "TLS1_2"},
    }
    with Sandbox.from_dict(
        {"tenant": {"id": tenant}, "subscriptions": [{"subscriptionId": sub}], "resources": [account]}
    ) as sb:
        storage = _client(sb, sub, StorageManagementClient)
        assert [a.minimum_tls_version for a in storage.storage_accounts.list()] == ["TLS1_2"]
        sb.put_resource({**account, "properties": {"minimumTlsVersion": "TLS1_0"}})  # drift
        assert [a.minimum_tls_version for a in storage.storage_accounts.list()] == ["TLS1_0"]
        sb.delete_resource(account["id"])
        assert list(storage.storage_accounts.list()) == []


def test_info_requires_a_running_sandbox() -> None:
    sb = Sandbox.from_file(ESTATE)
    with pytest.raises(RuntimeError, match="not running"):
        _ = sb.info
    with sb:
        assert sb.info.base_url.startswith("https://127.0.0.1:")
    with pytest.raises(RuntimeError, match="not running"):
        _ = sb.info


def test_request_log_marks_survive_clear_and_the_limit() -> None:
    from sandbox.server import RequestLog, RequestRecord

    def rec(n: int) -> RequestRecord:
        return RequestRecord("GET", f"/p{n}", "", 200, "arm", None, str(n), float(n), 0.1)

    log = RequestLog(limit=3)
    for n in range(2):
        log.append(rec(n))
    mark = log.mark()
    for n in range(2, 6):
        log.append(rec(n))
    assert [r.path for r in log] == ["/p3", "/p4", "/p5"]  # oldest dropped
    assert [r.path for r in log.since(mark)] == ["/p3", "/p4", "/p5"]
    mark = log.mark()
    log.clear()
    log.append(rec(6))
    assert [r.path for r in log.since(mark)] == ["/p6"] and len(log) == 1
