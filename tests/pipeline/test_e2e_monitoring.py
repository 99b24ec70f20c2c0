"""Logging and monitoring checks, collected through the sandbox by the real SDK clients: subscription diagnostic
settings, activity log alerts, action groups, scheduled query rules (2022-08-01-preview), management locks at
every scope of a subscription, workspaces and storage accounts."""

from __future__ import annotations

from typing import Any

from controls.model import Status
from tests.estates import DEV, PROD, RG, doc, estate, rid, storage_account

WS = rid("Microsoft.OperationalInsights/workspaces/log-prod", PROD, "rg-ops")
WS_DEV = rid("Microsoft.OperationalInsights/workspaces/log-dev", DEV, "rg-dev")
SA = rid("Microsoft.Storage/storageAccounts/stlogs", PROD)  # in the default group, rg-test
AG = rid("microsoft.insights/actionGroups/ag-ops", PROD, "rg-ops")
OPERATIONS = ["Microsoft.Network/networkSecurityGroups/write", "Microsoft.Authorization/policyAssignments/write"]
THRESHOLDS = {"security_alert_operations": OPERATIONS}


def resource_group(sub: str, name: str) -> dict[str, Any]:
    return {"id": f"/subscriptions/{sub}/resourceGroups/{name}", "name": name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": "japaneast", "properties": {"provisioningState": "Succeeded"}}  # fmt: skip


def workspace(resource_id: str, quota: float = -1.0) -> dict[str, Any]:
    sub, rg, name = resource_id.split("/")[2], resource_id.split("/")[4], resource_id.rsplit("/", 1)[-1]
    props = {"retentionInDays": 730, "sku": {"name": "PerGB2018"},
             "workspaceCapping": {"dailyQuotaGb": quota, "dataIngestionStatus": "RespectQuota"}}  # fmt: skip
    return doc(f"Microsoft.OperationalInsights/workspaces/{name}", props, subscription=sub, rg=rg)


def activity_log_setting(sub: str, *categories: str, storage: str | None = None, workspace_id: str = WS) -> dict:
    return {"id": f"/subscriptions/{sub}/providers/Microsoft.Insights/diagnosticSettings/activity-to-law",
            "name": "activity-to-law", "type": "Microsoft.Insights/diagnosticSettings",
            "properties": {"workspaceId": workspace_id, "storageAccountId": storage,
                           "logs": [{"category": c, "enabled": True} for c in categories]}}  # fmt: skip


def lock(scope: str, name: str, level: str = "CanNotDelete") -> dict[str, Any]:
    return {"id": f"{scope}/providers/Microsoft.Authorization/locks/{name}", "name": name,
            "type": "Microsoft.Authorization/locks", "properties": {"level": level, "notes": "logs"}}  # fmt: skip


def action_group() -> dict[str, Any]:
    return doc("microsoft.insights/actionGroups/ag-ops", {
        "groupShortName": "ops", "enabled": True,
        "emailReceivers": [{"name": "ops", "emailAddress": "ops@clinic.example", "useCommonAlertSchema": True,
                            "status": "Enabled"}],
        "smsReceivers": [], "webhookReceivers": []}, rg="rg-ops", location="Global")  # fmt: skip


def activity_alert(sub: str, name: str, operation: str) -> dict[str, Any]:
    return doc(f"microsoft.insights/activityLogAlerts/{name}", {
        "scopes": [f"/subscriptions/{sub}"], "enabled": True,
        "condition": {"allOf": [{"field": "category", "equals": "Administrative"},
                                {"field": "operationName", "equals": operation}]},
        "actions": {"actionGroups": [{"actionGroupId": AG, "webhookProperties": {}}]}},
        subscription=sub, rg="rg-ops" if sub == PROD else "rg-dev", location="Global")  # fmt: skip


def query_rule(name: str, scope: str) -> dict[str, Any]:
    return doc(f"microsoft.insights/scheduledqueryrules/{name}", {
        "enabled": True, "severity": 2, "evaluationFrequency": "PT5M", "windowSize": "PT5M", "scopes": [scope],
        "criteria": {"allOf": [{"query": "AzureActivity | where OperationNameValue endswith 'DELETE'",
                                "timeAggregation": "Count", "operator": "GreaterThan", "threshold": 0}]},
        "actions": {"actionGroups": [AG]}}, rg="rg-ops", kind="LogAlert")  # fmt: skip


def base(dev: bool = True) -> list[dict[str, Any]]:
    return [d for d in [
        resource_group(PROD, "rg-ops"), resource_group(PROD, RG), resource_group(DEV, "rg-dev"),
        workspace(WS), workspace(WS_DEV, quota=2.0), *storage_account("stlogs", {"minimumTlsVersion": "TLS1_2"}),
        action_group(),
    ] if dev or DEV not in d["id"]]  # fmt: skip


def test_monitored_estate_passes_and_gaps_fail(judge):
    est = estate([
        *base(),
        # PROD: everything in place. The workspace lock sits on the workspace itself, the archive's on its group.
        activity_log_setting(PROD, "Administrative", "Security", "Policy", "Alert", storage=SA),
        lock(WS, "keep-law"), lock(f"/subscriptions/{PROD}/resourceGroups/{RG}", "keep-data"),
        activity_alert(PROD, "nsg-write", OPERATIONS[0]), activity_alert(PROD, "policy-write", OPERATIONS[1]),
        query_rule("deletes", WS),
        # DEV: only Administrative exported, one operation unwatched, the capped workspace neither locked nor
        # watched (it receives the dev activity log).
        activity_log_setting(DEV, "Administrative", workspace_id=WS_DEV),
        activity_alert(DEV, "nsg-write", OPERATIONS[0]),
    ])  # fmt: skip
    judged = judge(est, thresholds=THRESHOLDS)
    assert judged.facts.errors == []

    exported = judged.findings("activity-log-exported")
    assert exported[f"/subscriptions/{PROD}"].status == Status.PASS
    assert "sends the activity log (Administrative, Security, Policy, Alert) to log-prod, stlogs" in (
        exported[f"/subscriptions/{PROD}"].reason_en
    )
    assert exported[f"/subscriptions/{DEV}"].status == Status.FAIL

    alerts = judged.findings("security-change-alerts")
    assert alerts[f"/subscriptions/{PROD}"].status == Status.PASS
    assert alerts[f"/subscriptions/{DEV}"].status == Status.FAIL
    assert OPERATIONS[1] in alerts[f"/subscriptions/{DEV}"].reason_en

    queries = judged.findings("log-query-alerts-enabled")
    assert {k: f.status for k, f in queries.items()} == {WS.lower(): Status.PASS, WS_DEV.lower(): Status.FAIL}

    caps = judged.findings("log-workspace-no-daily-cap")
    assert {k: f.status for k, f in caps.items()} == {WS.lower(): Status.PASS, WS_DEV.lower(): Status.FAIL}

    # Locks at resource and resource-group scope come from the one subscription-level listing.
    locked = judged.findings("log-store-delete-locked")
    assert {k: f.status for k, f in locked.items()} == {
        WS.lower(): Status.PASS, SA.lower(): Status.PASS, WS_DEV.lower(): Status.FAIL,
    }  # fmt: skip
    assert "keep-law" in locked[WS.lower()].reason_en and "keep-data" in locked[SA.lower()].reason_en

    for number in (117, 128, 129, 132, 147):
        assert judged.verdict(number) == Status.FAIL, number


def test_refused_listings_are_errors_never_passes(judge):
    est = estate(
        [
            *base(dev=False),
            activity_log_setting(PROD, "Administrative", "Security", "Policy", "Alert", storage=SA),
            lock(f"/subscriptions/{PROD}", "keep-all"),
            activity_alert(PROD, "nsg-write", OPERATIONS[0]), activity_alert(PROD, "policy-write", OPERATIONS[1]),
        ],
        faults=[
            {"kind": "forbidden", "subscription": PROD, "resourceType": "Microsoft.Insights/diagnosticSettings"},
            {"kind": "forbidden", "subscription": PROD, "resourceType": "Microsoft.Authorization/locks"},
            {"kind": "forbidden", "subscription": PROD, "resourceType": "Microsoft.Insights/actionGroups"},
        ],
        subscriptions=(PROD,),
    )  # fmt: skip
    judged = judge(est, thresholds=THRESHOLDS)
    sub = f"/subscriptions/{PROD}"
    assert judged.findings("activity-log-exported")[sub].status == Status.ERROR
    assert judged.findings("security-change-alerts")[sub].status == Status.ERROR
    locked = judged.findings("log-store-delete-locked")
    assert locked[WS.lower()].status == Status.ERROR and locked[sub].status == Status.ERROR
    for number in (117, 129, 132, 147):
        assert judged.verdict(number) == Status.ERROR, number
