"""Diagnostic settings (No 128), collected through the sandbox by the real SDK.

Settings are extension resources (`{resource}/providers/microsoft.insights/diagnosticSettings/{name}`)
read per monitored resource: App Service sites, NSGs and Key Vaults on themselves, storage accounts
on their blob service, SQL servers on their master database. Key Vaults have no typed listing: they
are known from the resource inventory (`Resources - List`) only.
"""

from __future__ import annotations

from typing import Any

from controls.model import FactKind, Status
from tests.estates import activity_logged, doc, estate, rid
from tests.pipeline.test_e2e_app_service import site, site_id
from tests.pipeline.test_e2e_nsg import assert_finding, nsg, nsg_id, rule

CHECK = "diagnostic-logs-retained"
WORKSPACE = rid("Microsoft.OperationalInsights/workspaces/log-karte", rg="rg-ops")
ARCHIVE = rid("Microsoft.Storage/storageAccounts/starchive")
EVENT_HUB_RULE = rid("Microsoft.EventHub/namespaces/evhns-siem/authorizationRules/RootManageSharedAccessKey")


def diag(
    resource_id: str,
    name: str,
    *,
    workspace: str | None = None,
    storage: str | None = None,
    event_hub: bool = False,
    groups: tuple[str, ...] = ("audit", "allLogs"),
    categories: tuple[str, ...] = (),
    logs_enabled: bool = True,
) -> dict[str, Any]:
    """A diagnostic setting as `Diagnostic Settings - List` returns it."""
    off = {"enabled": False, "days": 0}
    logs = [{"category": None, "categoryGroup": g, "enabled": logs_enabled, "retentionPolicy": off} for g in groups]
    logs += [
        {"category": c, "categoryGroup": None, "enabled": logs_enabled, "retentionPolicy": off} for c in categories
    ]
    return {
        "id": f"{resource_id}/providers/microsoft.insights/diagnosticSettings/{name}",
        "type": "Microsoft.Insights/diagnosticSettings",
        "name": name,
        "location": None,
        "kind": None,
        "tags": None,
        "properties": {
            "storageAccountId": storage,
            "serviceBusRuleId": None,
            "workspaceId": workspace,
            "eventHubAuthorizationRuleId": EVENT_HUB_RULE if event_hub else None,
            "eventHubName": "evh-audit" if event_hub else None,
            "metrics": [{"category": "AllMetrics", "enabled": True, "retentionPolicy": off}],
            "logs": logs,
            "logAnalyticsDestinationType": None,
        },
        "identity": None,
    }


def key_vault(name: str) -> dict[str, Any]:
    return doc(
        f"Microsoft.KeyVault/vaults/{name}",
        {
            "sku": {"family": "A", "name": "premium"},
            "tenantId": "5b0c1c8e-6a4e-4d3b-9a53-0f1d2c3b4a59",
            "enableRbacAuthorization": True,
            "enableSoftDelete": True,
            "softDeleteRetentionInDays": 90,
            "enablePurgeProtection": True,
            "vaultUri": f"https://{name}.vault.azure.net/",
            "publicNetworkAccess": "Disabled",
            "provisioningState": "Succeeded",
        },
    )


def storage_account(name: str) -> list[dict[str, Any]]:
    """The account and its blob service (where its data-plane logs are configured)."""
    path = f"Microsoft.Storage/storageAccounts/{name}"
    sku = {"name": "Standard_ZRS", "tier": "Standard"}
    return [
        doc(path, {"minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": True}, kind="StorageV2", sku=sku),
        doc(f"{path}/blobServices/default", {"deleteRetentionPolicy": {"enabled": True, "days": 365}}, sku=sku),
    ]


def sql_server(name: str) -> list[dict[str, Any]]:
    """The server, its master database (where server audit logs are configured) and its auditing policy, which
    Azure always has (auditing to Azure Monitor, whose destination is the master database's setting)."""
    path = f"Microsoft.Sql/servers/{name}"
    server = {"version": "12.0", "minimalTlsVersion": "1.2", "publicNetworkAccess": "Disabled", "state": "Ready"}
    master = {"collation": "SQL_Latin1_General_CP1_CI_AS", "status": "Online"}
    return [
        doc(path, server, kind="v12.0"),
        doc(f"{path}/databases/master", master, kind="v12.0,system", sku={"name": "System", "tier": "System"}),
        doc(f"{path}/auditingSettings/Default", {"state": "Enabled", "isAzureMonitorTargetEnabled": True}),
    ]


def workspace() -> dict[str, Any]:
    return doc("Microsoft.OperationalInsights/workspaces/log-karte", {"retentionInDays": 730}, rg="rg-ops")


def kv_id(name: str) -> str:
    return rid(f"Microsoft.KeyVault/vaults/{name}")


def st_id(name: str) -> str:
    return rid(f"Microsoft.Storage/storageAccounts/{name}")


def sql_id(name: str) -> str:
    return rid(f"Microsoft.Sql/servers/{name}")


def _record(judged: Any, resource_id: str) -> Any:
    (record,) = [
        e for e in judged.facts.of(FactKind.DIAGNOSTIC_SETTINGS) if e.resource_id.lower() == resource_id.lower()
    ]
    return record


def test_retained_destinations_pass_and_others_fail(judge):
    resources = [
        workspace(),
        key_vault("kv-law"),
        diag(kv_id("kv-law"), "send-to-law", workspace=WORKSPACE),
        key_vault("kv-eventhub"),
        diag(kv_id("kv-eventhub"), "stream-to-siem", event_hub=True),
        key_vault("kv-none"),
        key_vault("kv-metrics-only"),
        diag(kv_id("kv-metrics-only"), "metrics-to-law", workspace=WORKSPACE, logs_enabled=False),
        *site("app-karte"),
        diag(
            site_id("app-karte"),
            "archive",
            storage=ARCHIVE,
            groups=(),
            categories=("AppServiceHTTPLogs", "AppServiceAuditLogs"),
        ),
        *site("app-http-only"),
        diag(site_id("app-http-only"), "http", workspace=WORKSPACE, groups=(), categories=("AppServiceHTTPLogs",)),
        *storage_account("starchive"),
        diag(f"{ARCHIVE}/blobServices/default", "blob-to-law", workspace=WORKSPACE, groups=("audit",)),
        # Settings on the account itself carry only its metrics; its blob service has none.
        *storage_account("stunlogged"),
        diag(st_id("stunlogged"), "account-metrics", workspace=WORKSPACE, groups=()),
        *sql_server("sql-karte"),
        diag(
            f"{sql_id('sql-karte')}/databases/master",
            "SQLSecurityAuditEvents_1",
            workspace=WORKSPACE,
            groups=(),
            categories=("SQLSecurityAuditEvents",),
        ),
        nsg("nsg-app", rule("AllowHttpsFromInternet", 100, ports="443")),
        diag(nsg_id("nsg-app"), "nsg-to-law", workspace=WORKSPACE, groups=("allLogs",)),
    ]
    judged = judge(estate(resources))

    law = assert_finding(
        judged, CHECK, kv_id("kv-law"), Status.PASS, "Key Vault kv-law", "send-to-law", "audit, allLogs", "workspaceId"
    )
    assert _record(judged, kv_id("kv-law")).sha256 in law.evidence
    # Key Vault is known from the inventory only: its own evidence is the Resources - List document.
    kinds = {e.kind for e in judged.facts.evidence if e.sha256 in law.evidence}
    assert kinds == {FactKind.RESOURCE, FactKind.DIAGNOSTIC_SETTINGS}

    assert_finding(judged, CHECK, kv_id("kv-eventhub"), Status.FAIL, "stream-to-siem has neither workspaceId nor "
                   "storageAccountId")  # fmt: skip
    none = assert_finding(judged, CHECK, kv_id("kv-none"), Status.FAIL, "there are no diagnostic settings")
    assert _record(judged, kv_id("kv-none")).content == {"value": []}
    assert _record(judged, kv_id("kv-none")).sha256 in none.evidence
    assert_finding(judged, CHECK, kv_id("kv-metrics-only"), Status.FAIL, "metrics-to-law has no enabled log category")

    assert_finding(judged, CHECK, site_id("app-karte"), Status.PASS, "AppServiceHTTPLogs", "storageAccountId")
    assert_finding(judged, CHECK, site_id("app-http-only"), Status.FAIL, "AppServiceAuditLogs are not sent")
    blob = assert_finding(judged, CHECK, ARCHIVE, Status.PASS, "starchive blob service", "blob-to-law")
    assert _record(judged, f"{ARCHIVE}/blobServices/default").sha256 in blob.evidence
    assert_finding(
        judged, CHECK, st_id("stunlogged"), Status.FAIL, "stunlogged blob service", "there are no diagnostic settings"
    )
    master = assert_finding(judged, CHECK, sql_id("sql-karte"), Status.PASS, "(master database)", "SQLSecurityAudit")
    assert _record(judged, f"{sql_id('sql-karte')}/databases/master").sha256 in master.evidence
    assert_finding(judged, CHECK, nsg_id("nsg-app"), Status.PASS, "NSG nsg-app", "nsg-to-law")

    vaults = [kv_id(n) for n in ("kv-law", "kv-eventhub", "kv-none", "kv-metrics-only")]
    others = [
        site_id("app-karte"),
        site_id("app-http-only"),
        ARCHIVE,
        st_id("stunlogged"),
        sql_id("sql-karte"),
        nsg_id("nsg-app"),
    ]
    # One finding per monitored resource; the workspace, blob services and databases are not judged.
    assert set(judged.findings(CHECK)) == {i.lower() for i in vaults + others}
    assert judged.verdict(128) == Status.FAIL


def test_every_resource_logging_to_a_workspace_passes(judge):
    resources = [
        workspace(),
        key_vault("kv-karte"),
        diag(kv_id("kv-karte"), "send-to-law", workspace=WORKSPACE),
        *sql_server("sql-karte"),
        diag(f"{sql_id('sql-karte')}/databases/master", "audit-to-law", workspace=WORKSPACE, groups=("audit",)),
        *activity_logged(WORKSPACE),
    ]
    judged = judge(estate(resources))
    assert_finding(judged, CHECK, kv_id("kv-karte"), Status.PASS)
    assert_finding(judged, CHECK, sql_id("sql-karte"), Status.PASS)
    assert judged.verdict(128) == Status.PARTIAL  # application, OS and activity logs are attested


def test_unreadable_settings_are_an_error_not_a_pass(judge):
    resources = [
        key_vault("kv-karte"),
        diag(kv_id("kv-karte"), "send-to-law", workspace=WORKSPACE),
        key_vault("kv-locked"),
        diag(kv_id("kv-locked"), "send-to-law", workspace=WORKSPACE),
        *activity_logged(WORKSPACE),
    ]
    fault = {"kind": "forbidden", "path": "*/vaults/kv-locked/providers/microsoft.insights/diagnosticSettings"}
    judged = judge(estate(resources, faults=[fault]))
    assert_finding(judged, CHECK, kv_id("kv-karte"), Status.PASS)
    locked = judged.findings(CHECK)[kv_id("kv-locked").lower()]
    assert locked.status == Status.ERROR and "AuthorizationFailed" in locked.reason_en
    assert judged.verdict(128) == Status.ERROR


def slot(site_name: str, slot_name: str) -> list[dict[str, Any]]:
    """A deployment slot as `Web Apps - List Slots` returns it (name `site/slot`), with its config/web."""
    path = f"Microsoft.Web/sites/{site_name}/slots/{slot_name}"
    props = {"state": "Running", "httpsOnly": True, "clientCertEnabled": True, "clientCertMode": "Required"}
    name = f"{site_name}/{slot_name}"
    # A slot is a tracked resource with its site's location (`doc` gives only top-level ones a location).
    return [
        {**doc(path, props, kind="app,linux", name=name), "location": "japaneast"},
        doc(f"{path}/config/web", {"minTlsVersion": "1.2"}, name=name),
    ]


def slot_id(site_name: str, slot_name: str) -> str:
    return f"{site_id(site_name)}/slots/{slot_name}"


def test_deployment_slots_are_judged_on_their_own_diagnostic_settings(judge):
    """A slot is reachable on its own host name and keeps its own diagnostic settings (on the slot's id):
    a logged site does not make its unlogged slot pass."""
    audit = ("AppServiceHTTPLogs", "AppServiceAuditLogs")
    resources = [
        workspace(),
        *site("app-karte"),
        diag(site_id("app-karte"), "send-to-law", workspace=WORKSPACE),
        *slot("app-karte", "staging"),
        diag(slot_id("app-karte", "staging"), "send-to-law", workspace=WORKSPACE, groups=(), categories=audit),
        *activity_logged(WORKSPACE),
    ]
    judged = judge(estate(resources))
    staging = assert_finding(judged, CHECK, slot_id("app-karte", "staging"), Status.PASS,
                             "App Service deployment slot app-karte/staging", "send-to-law")  # fmt: skip
    assert _record(judged, slot_id("app-karte", "staging")).sha256 in staging.evidence
    assert_finding(judged, CHECK, site_id("app-karte"), Status.PASS, "App Service app-karte ")
    assert judged.verdict(128) == Status.PARTIAL

    # Failing estate: the same site with a second slot that has no diagnostic settings, and one whose only
    # setting leaves out the audit log.
    resources += [
        *slot("app-karte", "canary"),
        *slot("app-karte", "qa"),
        diag(slot_id("app-karte", "qa"), "http-only", workspace=WORKSPACE, groups=(), categories=audit[:1]),
    ]
    judged = judge(estate(resources))
    assert_finding(judged, CHECK, slot_id("app-karte", "canary"), Status.FAIL, "deployment slot app-karte/canary",
                   "there are no diagnostic settings")  # fmt: skip
    assert_finding(judged, CHECK, slot_id("app-karte", "qa"), Status.FAIL, "AppServiceAuditLogs are not sent")
    assert_finding(judged, CHECK, slot_id("app-karte", "staging"), Status.PASS)
    assert judged.verdict(128) == Status.FAIL
