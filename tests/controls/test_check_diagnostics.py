from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactKind, FactSet, Status, Thresholds

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
AT = datetime(2026, 3, 31, tzinfo=UTC)
SITE = f"{SUB}/resourceGroups/rg-app/providers/Microsoft.Web/sites/app-karte"
ACCOUNT = f"{SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stkarte"
VAULT = f"{SUB}/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/kv-karte"
WORKSPACE = f"{SUB}/resourceGroups/rg-log/providers/Microsoft.OperationalInsights/workspaces/log-karte"
HUB_RULE = f"{SUB}/resourceGroups/rg-log/providers/Microsoft.EventHub/namespaces/eh/authorizationrules/send"


def ev(kind: FactKind, doc: dict, resource_id: str | None = None) -> Evidence:
    return Evidence(kind, "test", SUB, resource_id or doc["id"], "2021-05-01-preview", None, AT, doc)


def setting(name: str, *, workspace=None, storage=None, hub=None, logs=None) -> dict:
    props = {
        "logs": logs if logs is not None else [{"categoryGroup": "allLogs", "enabled": True}],
        "metrics": [{"category": "AllMetrics", "enabled": True}],
    }
    if workspace:
        props["workspaceId"] = workspace
    if storage:
        props["storageAccountId"] = storage
    if hub:
        props["eventHubAuthorizationRuleId"] = hub
        props["eventHubName"] = "logs"
    return {"id": f"x/providers/microsoft.insights/diagnosticSettings/{name}", "name": name, "properties": props}


def diag(resource_id: str, *settings: dict) -> Evidence:
    return ev(FactKind.DIAGNOSTIC_SETTINGS, {"value": list(settings)}, resource_id)


def site() -> Evidence:
    return ev(FactKind.WEB_SITE, {"id": SITE, "name": "app-karte", "properties": {}})


def run(*evidence: Evidence, errors=()) -> dict:
    findings = CHECKS_BY_ID["diagnostic-logs-retained"].evaluate(FactSet(list(evidence), list(errors)), Thresholds())
    return {f.resource_id: f for f in findings}


def test_logs_to_workspace_pass_with_evidence():
    s, d = site(), diag(SITE, setting("to-law", workspace=WORKSPACE))
    f = run(s, d)[SITE]
    assert f.status == Status.PASS and set(f.evidence) == {s.sha256, d.sha256}
    assert "to-law" in f.reason_en and "workspaceId" in f.reason_en


def test_logs_to_storage_pass_with_every_audit_category_of_the_type():
    logs = [{"category": "AppServiceHTTPLogs", "enabled": True}, {"category": "AppServiceAuditLogs", "enabled": True}]
    assert run(site(), diag(SITE, setting("to-st", storage=ACCOUNT, logs=logs)))[SITE].status == Status.PASS


def test_audit_categories_may_be_split_across_settings_but_none_may_be_missing():
    http = [{"category": "AppServiceHTTPLogs", "enabled": True}]
    audit = [{"category": "AppServiceAuditLogs", "enabled": True}]
    only_http = run(site(), diag(SITE, setting("http", workspace=WORKSPACE, logs=http)))[SITE]
    assert only_http.status == Status.FAIL and "AppServiceAuditLogs" in only_http.reason_en
    split = diag(SITE, setting("http", workspace=WORKSPACE, logs=http), setting("audit", storage=ACCOUNT, logs=audit))
    assert run(site(), split)[SITE].status == Status.PASS
    audit_group = [{"categoryGroup": "audit", "enabled": True}]
    assert run(site(), diag(SITE, setting("grp", workspace=WORKSPACE, logs=audit_group)))[SITE].status == Status.PASS


def test_event_hub_only_fails():
    f = run(site(), diag(SITE, setting("to-hub", hub=HUB_RULE)))[SITE]
    assert f.status == Status.FAIL and "neither workspaceId nor storageAccountId" in f.reason_en


def test_metrics_only_or_disabled_logs_fail():
    f = run(site(), diag(SITE, setting("metrics", workspace=WORKSPACE, logs=[])))[SITE]
    assert f.status == Status.FAIL and "no enabled log category" in f.reason_en
    off = [{"categoryGroup": "allLogs", "enabled": False}]
    assert run(site(), diag(SITE, setting("off", workspace=WORKSPACE, logs=off)))[SITE].status == Status.FAIL


def test_no_settings_fail_and_one_good_setting_is_enough():
    f = run(site(), diag(SITE))[SITE]
    assert f.status == Status.FAIL and "no diagnostic settings" in f.reason_en
    two = diag(SITE, setting("to-hub", hub=HUB_RULE), setting("to-law", workspace=WORKSPACE))
    assert run(site(), two)[SITE].status == Status.PASS


def test_missing_diagnostic_evidence_is_error_not_pass():
    f = run(site())[SITE]
    assert f.status == Status.ERROR and "not collected" in f.reason_en
    err = CollectionError(
        FactKind.DIAGNOSTIC_SETTINGS, "monitor.diagnostic_settings", SUB, "AuthorizationFailed", "denied", 403, None, AT
    )
    f = run(site(), errors=[err])[SITE]
    assert f.status == Status.ERROR and "AuthorizationFailed" in f.reason_en


def test_storage_is_judged_on_its_blob_service():
    account = ev(FactKind.STORAGE_ACCOUNT, {"id": ACCOUNT, "name": "stkarte", "properties": {}})
    blob = f"{ACCOUNT}/blobServices/default"
    account_level = diag(ACCOUNT, setting("metrics-only", workspace=WORKSPACE, logs=[]))
    f = run(account, account_level, diag(blob, setting("blob", workspace=WORKSPACE)))[ACCOUNT]
    assert f.status == Status.PASS and "blob service" in f.reason_en
    # The account-level setting (metrics only) does not stand in for the blob service.
    assert run(account, account_level)[ACCOUNT].status == Status.ERROR


def test_key_vaults_come_from_the_inventory_other_resources_are_ignored():
    vault = ev(FactKind.RESOURCE, {"id": VAULT, "name": "kv-karte", "type": "Microsoft.KeyVault/vaults"})
    disk = ev(FactKind.RESOURCE, {"id": f"{SUB}/x/disks/d1", "name": "d1", "type": "Microsoft.Compute/disks"})
    findings = run(
        vault,
        disk,
        diag(VAULT, setting("audit", workspace=WORKSPACE, logs=[{"categoryGroup": "audit", "enabled": True}])),
    )
    assert list(findings) == [VAULT] and findings[VAULT].status == Status.PASS


def test_sql_and_nsg_are_monitored():
    sql = ev(FactKind.SQL_SERVER, {"id": f"{SUB}/x/providers/Microsoft.Sql/servers/sql1", "name": "sql1"})
    nsg = ev(FactKind.NSG, {"id": f"{SUB}/x/providers/Microsoft.Network/networkSecurityGroups/n1", "name": "n1"})
    # SQL server-level logs are configured on the master database, not the server resource.
    assert run(sql, nsg, diag(sql.resource_id, setting("a", workspace=WORKSPACE)))[sql.resource_id].status == (
        Status.ERROR
    )
    master = sql.resource_id.upper() + "/databases/master"
    findings = run(sql, nsg, diag(master, setting("a", workspace=WORKSPACE)))
    assert findings[sql.resource_id].status == Status.PASS
    assert findings[nsg.resource_id].status == Status.ERROR


def test_nothing_monitored_no_findings():
    assert run() == {}


def test_resource_seen_only_in_the_inventory_is_still_judged_and_listed_once():
    listed = ev(FactKind.RESOURCE, {"id": SITE, "name": "app-karte", "type": "Microsoft.Web/sites"})
    assert run(listed)[SITE].status == Status.ERROR  # its diagnostic settings were not collected
    typed, d = site(), diag(SITE, setting("to-law", workspace=WORKSPACE))
    findings = CHECKS_BY_ID["diagnostic-logs-retained"].evaluate(FactSet([typed, listed, d]), Thresholds())
    assert len(findings) == 1 and findings[0].status == Status.PASS
    assert set(findings[0].evidence) == {typed.sha256, listed.sha256, d.sha256}
