"""The example estate seeded with fake secrets everywhere Azure's responses can carry them, collected through the
sandbox by the real SDK: no secret reaches the database, the logs, the CLI's outputs, a snapshot bundle or an
alert, every blanked value is recorded with its evidence, and no verdict moves."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from alerts.outbox import enqueue
from collector.cli import main
from collector.pipeline import run_once
from collector.settings import load_settings
from controls.model import Status
from sandbox.estate import read_data
from sandbox.server import Sandbox
from storage.ledger import Ledger
from tests.pipeline.conftest import sandbox_settings
from tests.pipeline.test_run_once import EMR, EXPECTED_FAIL, EXPECTED_PARTIAL

PROD = "/subscriptions/a8233bec-16ce-49d8-af36-5decabf6c438/resourceGroups"
SITE = f"{PROD}/rg-emr-prod-app/providers/Microsoft.Web/sites/app-emr-web-prod"
SQL_AUDIT = f"{PROD}/rg-emr-prod-data/providers/Microsoft.Sql/servers/sql-emr-prod-je/auditingSettings/Default"
REDIS = f"{PROD}/rg-emr-prod-data/providers/Microsoft.Cache/Redis/redis-emr-session-prod-je"
PSQL = f"{PROD}/rg-emr-prod-data/providers/Microsoft.DBforPostgreSQL/flexibleServers/psql-emr-appt-prod-je"
VM = f"{PROD}/rg-emr-prod-ops/providers/Microsoft.Compute/virtualMachines/vm-emr-jump-prod"
ACTION_GROUP = f"{PROD}/rg-emr-prod-ops/providers/microsoft.insights/actionGroups/ag-emr-ops"
STORAGE = f"{PROD}/rg-emr-prod-data/providers/Microsoft.Storage/storageAccounts/stemrlogsprodje"


def fake(n: int) -> str:
    return f"FakeSecret{n:02d}x7Qm"


# A bare storage-account key: 86 base64 characters and ==.
BARE_KEY = "FakeKey15" + "A" * 77 + "=="
SECRETS = [fake(n) for n in range(1, 17) if n != 15] + [BARE_KEY]


def _site_config(n: int) -> dict[str, Any]:
    return {
        "appSettings": [{"name": "PAYMENT_API_KEY", "value": fake(n)}],
        "connectionStrings": [
            {
                "name": "emr-db",
                "connectionString": f"Server=tcp:sql-emr-prod-je.database.windows.net,1433;Database=emr;"
                f"User ID=emr_app;Password={fake(n + 1)};Encrypt=True",
                "type": "SQLAzure",
            }
        ],
        "azureStorageAccounts": {
            "scans": {
                "type": "AzureBlob",
                "accountName": "stemrscans",
                "shareName": "scans",
                "accessKey": fake(n + 2),
                "mountPath": "/scans",
                "state": "Ok",
            }
        },
    }


def seeded_estate() -> dict[str, Any]:
    """The example estate with a fake secret in every place listed in the module docstring; each place is a
    field the real API's schema has (Azure withholds most on read, which is exactly what must not be relied on)."""
    data = read_data(EMR)
    docs = {d["id"]: d for d in data["resources"]}
    docs[SITE]["properties"]["siteConfig"].update(_site_config(1))  # Web Apps - Get: siteConfig
    docs[f"{SITE}/config/web"]["properties"].update(_site_config(4))  # Web Apps - Get Configuration
    docs[SQL_AUDIT]["properties"]["storageAccountAccessKey"] = fake(7)
    docs[REDIS]["properties"]["accessKeys"] = {"primaryKey": fake(8), "secondaryKey": fake(9)}
    docs[PSQL]["properties"]["administratorLoginPassword"] = fake(10)
    docs[VM]["properties"]["osProfile"] |= {"adminPassword": fake(11), "customData": fake(12)}
    docs[VM]["tags"]["dbPassword"] = fake(16)
    docs[ACTION_GROUP]["properties"]["webhookReceivers"] = [
        {
            "name": "logic-app-ticket",
            "serviceUri": "https://prod-07.japaneast.logic.azure.com/workflows/0a1b/triggers/manual/paths/invoke"
            f"?api-version=2016-10-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={fake(13)}",
            "useCommonAlertSchema": True,
            "useAadAuth": False,
            "status": "Enabled",
        }
    ]
    docs[STORAGE]["tags"] |= {
        "backup-url": f"https://stemrlogsprodje.blob.core.windows.net/backup?sv=2022-11-02&sp=rl&sig={fake(14)}",
        "legacy-conn": f"DefaultEndpointsProtocol=https;AccountName=stemrlogsprodje;AccountKey={fake(6)}x;"
        "EndpointSuffix=core.windows.net",
        "kv-fallback": BARE_KEY,
    }
    return data


# Where each secret must have been blanked: (resource id the evidence is about, JSON path, rule).
EXPECTED_REDACTIONS = {
    (SITE, "$.properties.siteConfig.appSettings[0].value", "app-setting-value"),
    (SITE, "$.properties.siteConfig.connectionStrings[0].connectionString", "connection-string"),
    (SITE, "$.properties.siteConfig.azureStorageAccounts.scans.accessKey", "access-key"),
    (f"{SITE}/config/web", "$.properties.appSettings[0].value", "app-setting-value"),
    (SQL_AUDIT, "$.properties.storageAccountAccessKey", "access-key"),
    (REDIS, "$.properties.accessKeys.primaryKey", "key-list"),
    (PSQL, "$.properties.administratorLoginPassword", "password"),
    (VM, "$.properties.osProfile.adminPassword", "password"),
    (VM, "$.properties.osProfile.customData", "custom-data"),
    (VM, "$.tags.dbPassword", "password"),
    (ACTION_GROUP, "$.properties.webhookReceivers[0].serviceUri", "sas-signature"),
    (STORAGE, "$.tags.backup-url", "sas-signature"),
    (STORAGE, "$.tags.legacy-conn", "connection-string-secret"),
    (STORAGE, "$.tags.kv-fallback", "storage-account-key"),
}


def _leaks(where: str, text: str) -> list[str]:
    return [f"{where}: {s}" for s in SECRETS if s in text]


def _bundle_leaks(path: Path) -> list[str]:
    found: list[str] = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            data = z.read(name)
            if name.endswith(".xlsx"):  # the workbook's XML parts, unzipped
                with zipfile.ZipFile(io.BytesIO(data)) as inner:
                    for part in inner.namelist():
                        found += _leaks(f"{name}/{part}", inner.read(part).decode("utf-8", "replace"))
            found += _leaks(name, data.decode("utf-8", "replace"))
    return found


def test_fake_secrets_never_leave_the_fetchers(tmp_path, monkeypatch, caplog, capsys, catalog):
    db = tmp_path / "shoko.db"
    url = f"sqlite:///{db}"
    caplog.set_level("DEBUG")
    config = tmp_path / "agent.yaml"
    channel = {"name": "soc", "type": "webhook", "url_env": "T_WEBHOOK_URL", "hmac_key_env": "T_HMAC"}
    config.write_text(yaml.safe_dump({"database": {"url": url}, "alerts": {"channels": [channel]}}), encoding="utf-8")
    estate = seeded_estate()
    with Sandbox.from_dict(estate) as sb, Ledger(url) as ledger:
        first = run_once(sandbox_settings(sb, url), ledger, catalog).run.id
        evidence = ledger.evidence(first)
        verdicts = ledger.verdicts(first)
        seeded = {resource for resource, _, _ in EXPECTED_REDACTIONS}
        # The requirements judged on a seeded resource: their explanations quote its evidence records.
        explained = sorted({n for f in ledger.findings(first) if f.resource_id in seeded for n in f.requirements})
        # The site carrying secrets starts accepting plain HTTP: a second run alerts about it.
        site = next(d for d in estate["resources"] if d["id"] == SITE)
        site["properties"]["httpsOnly"] = False
        sb.put_resource(site)
        second = run_once(sandbox_settings(sb, url), ledger, catalog)
        assert any(e.resource_id == SITE for e in second.drift)
        settings = load_settings(config, environ={})
        assert enqueue(ledger, second.run.id, second.drift, settings, catalog, datetime.now(UTC)) == 1
        assert ledger.verify().ok

    # The secrets were there to be collected, and each was blanked and recorded.
    recorded = {(ev.resource_id, r.path, r.rule) for ev in evidence for r in ev.redactions}
    assert recorded >= EXPECTED_REDACTIONS
    # No verdict moved: the example estate's own outcome.
    assert {v.requirement for v in verdicts if v.status == Status.FAIL} == EXPECTED_FAIL
    assert {v.requirement for v in verdicts if v.status == Status.PARTIAL} == EXPECTED_PARTIAL

    # CLI outputs: status, the explanations citing seeded evidence (JSON and text), a snapshot of everything.
    monkeypatch.setenv("SHOKO_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    assert main(["status", "--json"]) in (0, 1)
    assert len(explained) >= 5
    for number in explained:
        assert main(["explain", str(number), "--json"]) in (0, 1)
        assert main(["explain", str(number)]) in (0, 1)
    assert main(["keys", "create", "--out", str(tmp_path / "keys")]) == 0
    bundle = tmp_path / "snap.zip"
    key = str(tmp_path / "keys" / "shoko-signing.key")
    assert main(["snapshot", "export", "--out", str(bundle), "--lang", "both", "--key", key]) == 0
    out = capsys.readouterr()
    assert "secret value(s) blanked before storing" in out.out

    leaks = _leaks("stdout", out.out) + _leaks("stderr", out.err) + _leaks("logs", caplog.text)
    leaks += _bundle_leaks(bundle)
    # Every table and every byte of the database files (alert payloads are in alert_outbox).
    for path in tmp_path.glob("shoko.db*"):
        leaks += _leaks(path.name, path.read_bytes().decode("utf-8", "replace"))
    with Ledger(url) as ledger, ledger.engine.connect() as connection:
        tables = connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars().all()
        assert {"run_evidence", "evidence_blobs", "alert_outbox", "findings"} <= set(tables)
        for table in tables:
            rows = connection.exec_driver_sql(f'SELECT * FROM "{table}"').all()
            leaks += _leaks(table, json.dumps([list(map(str, r)) for r in rows], ensure_ascii=False))
    assert leaks == []
