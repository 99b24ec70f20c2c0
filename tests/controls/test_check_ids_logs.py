"""ids-logs-retained: Azure Firewall IDPS / threat-intelligence logs and Application Gateway WAF logs kept; the
same devices are judged by diagnostic-logs-retained for No 128."""

from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.model import Evidence, FactKind, FactSet, Status, Thresholds

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
FW = f"{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/azureFirewalls/afw-hub"
FW_LEGACY = f"{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/azureFirewalls/afw-legacy"
AGW = f"{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/applicationGateways/agw-web"
AGW_AUDIT = f"{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/applicationGateways/agw-audit"
AGW_HUB = f"{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/applicationGateways/agw-hub"
WORKSPACE = f"{SUB}/resourceGroups/rg-log/providers/Microsoft.OperationalInsights/workspaces/log-hub"


def ev(kind: str, doc: dict, resource_id: str | None = None) -> Evidence:
    at = datetime(2026, 11, 22, tzinfo=UTC)
    return Evidence(kind, "test", SUB, resource_id or doc["id"], "2021-05-01-preview", None, at, doc)


def device(kind: str, rid: str) -> Evidence:
    return ev(kind, {"id": rid, "name": rid.rsplit("/", 1)[-1], "properties": {}})


def diag(rid: str, *categories: str, group: str | None = None, workspace: str | None = WORKSPACE) -> Evidence:
    logs = [{"category": c, "enabled": True} for c in categories]
    if group:
        logs.append({"categoryGroup": group, "enabled": True})
    props = {"logs": logs, **({"workspaceId": workspace} if workspace else {"eventHubName": "ids"})}
    return ev(FactKind.DIAGNOSTIC_SETTINGS, {"value": [{"name": "to-law", "properties": props}]}, rid)


def run(check_id: str, *evidence: Evidence) -> dict:
    findings = CHECKS_BY_ID[check_id].evaluate(FactSet(list(evidence)), Thresholds())
    return {f.resource_id.rsplit("/", 1)[-1]: f for f in findings}


FACTS = [
    device("azure_firewall", FW),
    diag(FW, "AZFWIdpsSignature", "AZFWThreatIntel", "AZFWNetworkRule", "AZFWApplicationRule"),
    device("azure_firewall", FW_LEGACY),
    diag(FW_LEGACY, "AzureFirewallNetworkRule", "AzureFirewallApplicationRule"),
    device("application_gateway", AGW),
    diag(AGW, "ApplicationGatewayAccessLog"),
    device("application_gateway", AGW_AUDIT),
    diag(AGW_AUDIT, group="audit"),
    device("application_gateway", AGW_HUB),
    diag(AGW_HUB, group="allLogs", workspace=None),
    # Other monitored types are not judged by ids-logs-retained.
    ev(FactKind.NSG, {"id": f"{SUB}/resourceGroups/r/providers/Microsoft.Network/networkSecurityGroups/nsg"}),
]


def test_ids_and_waf_categories_or_all_logs_to_a_retained_destination():
    findings = run("ids-logs-retained", *FACTS)
    assert {n: f.status for n, f in findings.items()} == {
        "afw-hub": Status.PASS,
        "afw-legacy": Status.PASS,
        "agw-web": Status.FAIL,
        "agw-audit": Status.FAIL,
        "agw-hub": Status.FAIL,
    }
    assert findings["agw-web"].reason_en == (
        "Application Gateway agw-web audit log categories ApplicationGatewayFirewallLog are not sent to a retained "
        "destination (sent: applicationgatewayaccesslog; the allLogs group also covers them)"
    )
    # The audit group does not hold a gateway's WAF log.
    assert "ApplicationGatewayFirewallLog, ApplicationGatewayAccessLog are not sent" in findings["agw-audit"].reason_en
    assert "Event Hub only" in findings["agw-hub"].reason_en


def test_the_devices_are_also_audit_log_sources_and_a_missing_document_is_an_error():
    findings = run("diagnostic-logs-retained", *FACTS)
    assert findings["afw-hub"].status == Status.PASS and findings["agw-web"].status == Status.FAIL
    assert findings["nsg"].status == Status.ERROR  # its settings are not in FACTS
    [f] = run("ids-logs-retained", device("azure_firewall", FW)).values()
    assert f.status == Status.ERROR and "not collected" in f.reason_en
