"""Logging and monitoring checks on hand-built evidence: activity log export, alerts on security changes and on
log workspaces, workspace daily caps, and delete locks on log stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactKind, FactSet, Status, Thresholds

GUID = "11111111-1111-1111-1111-111111111111"
SUB = f"/subscriptions/{GUID}"
OTHER = "/subscriptions/99999999-9999-9999-9999-999999999999"
RG = f"{SUB}/resourceGroups/rg-ops"
WS = f"{RG}/providers/Microsoft.OperationalInsights/workspaces/log-karte"
SA = f"{SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stlogs"
AG = f"{RG}/providers/microsoft.insights/actionGroups/ag-ops"
AT = datetime(2026, 11, 22, tzinfo=UTC)


def ev(kind: str, rid: str, doc: dict[str, Any]) -> Evidence:
    return Evidence(kind, "test", SUB, rid, "2020-10-01", None, AT, doc)


def subscription() -> Evidence:
    return ev(FactKind.SUBSCRIPTION, SUB, {"id": SUB, "subscriptionId": GUID, "displayName": "EMR-Prod"})


def sub_settings(*settings: dict[str, Any]) -> Evidence:
    return ev("subscription_diagnostic_settings", SUB, {"value": list(settings)})


def setting(name: str, *categories: str, workspace: str | None = WS, storage: str | None = None,
            group: str | None = None) -> dict[str, Any]:  # fmt: skip
    logs = [{"category": c, "enabled": True} for c in categories]
    if group:
        logs.append({"categoryGroup": group, "enabled": True})
    return {"id": f"{SUB}/providers/microsoft.insights/diagnosticSettings/{name}", "name": name,
            "properties": {"workspaceId": workspace, "storageAccountId": storage, "logs": logs}}  # fmt: skip


def judge(check_id: str, *evidence: Evidence, errors: list[CollectionError] | None = None, **thresholds: Any):
    findings = CHECKS_BY_ID[check_id].evaluate(FactSet(list(evidence), errors or []), Thresholds(**thresholds))
    return {f.resource_id.lower(): f for f in findings}


def error(kind: str, scope: str = SUB) -> CollectionError:
    return CollectionError(kind, "test", scope, "AuthorizationFailed", "denied", 403, None, AT)


# ---------------------------------------------------------------- activity-log-exported

ALL4 = ("Administrative", "Security", "Policy", "Alert")


def test_activity_log_sent_to_workspace_passes():
    f = judge("activity-log-exported", subscription(), sub_settings(setting("to-law", *ALL4)))[SUB]
    assert f.status == Status.PASS
    assert f.reason_en == (
        f"subscription EMR-Prod ({GUID}) diagnostic setting to-law sends the activity log "
        "(Administrative, Security, Policy, Alert) to log-karte"
    )


def test_all_logs_group_and_split_settings_pass():
    assert judge("activity-log-exported", subscription(), sub_settings(setting("all", group="allLogs")))[
        SUB
    ].status == (Status.PASS)
    split = sub_settings(setting("a", "Administrative", "Security"), setting("b", "Policy", "Alert", storage=SA))
    assert judge("activity-log-exported", subscription(), split)[SUB].status == Status.PASS


def test_missing_categories_fail_naming_them():
    f = judge("activity-log-exported", subscription(), sub_settings(setting("to-law", "Administrative")))[SUB]
    assert f.status == Status.FAIL
    assert "categories Security, Policy, Alert are not sent" in f.reason_en and "Security, Policy, Alert" in f.reason_ja


def test_event_hub_only_and_no_setting_fail():
    hub_only = setting("to-hub", *ALL4, workspace=None)
    f = judge("activity-log-exported", subscription(), sub_settings(hub_only))[SUB]
    assert f.status == Status.FAIL and "no diagnostic setting sends" in f.reason_en
    f = judge("activity-log-exported", subscription(), sub_settings())[SUB]
    assert f.status == Status.FAIL and "there is no diagnostic setting" in f.reason_en


def test_disabled_category_does_not_count():
    s = setting("to-law", *ALL4)
    s["properties"]["logs"][1]["enabled"] = False
    assert judge("activity-log-exported", subscription(), sub_settings(s))[SUB].status == Status.FAIL


def test_categories_from_threshold():
    only = sub_settings(setting("to-law", "Administrative"))
    f = judge("activity-log-exported", subscription(), only, activity_log_categories=("Administrative",))[SUB]
    assert f.status == Status.PASS


def test_settings_not_collected_is_error():
    f = judge("activity-log-exported", subscription(), errors=[error("subscription_diagnostic_settings")])[SUB]
    assert f.status == Status.ERROR and "AuthorizationFailed" in f.reason_en
    f = judge("activity-log-exported", subscription())[SUB]
    assert f.status == Status.ERROR and "not collected" in f.reason_en


# ---------------------------------------------------------------- security-change-alerts

OPS = ("Microsoft.Network/networkSecurityGroups/write", "Microsoft.Sql/servers/firewallRules/write")


def action_group(enabled: bool = True, **receivers: list[dict[str, Any]]) -> Evidence:
    if not receivers:
        receivers = {"emailReceivers": [{"name": "ops", "emailAddress": "ops@example.jp", "status": "Enabled"}]}
    props = {"groupShortName": "ops", "enabled": enabled, "smsReceivers": [], **receivers}
    return ev("action_group", AG, {"id": AG, "name": "ag-ops", "type": "Microsoft.Insights/ActionGroups",
                                   "location": "Global", "properties": props})  # fmt: skip


def alert(name: str, *conditions: dict[str, Any], enabled: bool = True, scopes: tuple[str, ...] = (SUB,),
          groups: tuple[str, ...] = (AG,)) -> Evidence:  # fmt: skip
    rid = f"{RG}/providers/microsoft.insights/activityLogAlerts/{name}"
    props = {
        "scopes": list(scopes),
        "condition": {"allOf": list(conditions)},
        "enabled": enabled,
        "actions": {"actionGroups": [{"actionGroupId": g, "webhookProperties": {}} for g in groups]},
    }
    return ev("activity_log_alert", rid, {"id": rid, "name": name, "type": "Microsoft.Insights/ActivityLogAlerts",
                                          "location": "Global", "properties": props})  # fmt: skip


ADMIN = {"field": "category", "equals": "Administrative"}


def op(name: str) -> dict[str, Any]:
    return {"field": "operationName", "equals": name}


def alerts(*evidence: Evidence, **kw: Any):
    return judge("security-change-alerts", subscription(), *evidence, security_alert_operations=OPS, **kw)[SUB]


def test_every_operation_watched_passes():
    f = alerts(action_group(), alert("nsg", ADMIN, op(OPS[0])), alert("sqlfw", ADMIN, op(OPS[1].upper())))
    assert f.status == Status.PASS
    assert "all 2 security-relevant operations are watched by enabled alerts nsg, sqlfw" in f.reason_en


def test_any_of_and_contains_any_conditions_cover_operations():
    any_of = alert("both", ADMIN, {"anyOf": [op(OPS[0]), op(OPS[1])]})
    assert alerts(action_group(), any_of).status == Status.PASS
    contains = alert("both", ADMIN, {"field": "operationName", "containsAny": list(OPS)},
                     {"field": "status", "equals": "Succeeded"})  # fmt: skip
    assert alerts(action_group(), contains).status == Status.PASS


def test_missing_operation_fails_naming_it():
    f = alerts(action_group(), alert("nsg", ADMIN, op(OPS[0])))
    assert f.status == Status.FAIL
    assert f"operations {OPS[1]} are not watched" in f.reason_en


def test_disabled_alert_and_narrowed_alerts_do_not_count():
    f = alerts(action_group(), alert("nsg", ADMIN, op(OPS[0]), enabled=False), alert("sqlfw", ADMIN, op(OPS[1])))
    assert f.status == Status.FAIL and "alert nsg is disabled" in f.reason_en
    narrowed = alert("nsg", ADMIN, op(OPS[0]), {"field": "resourceGroup", "equals": "rg-one"})
    rg_scoped = alert("nsg2", ADMIN, op(OPS[0]), scopes=(RG,))
    f = alerts(action_group(), narrowed, rg_scoped, alert("sqlfw", ADMIN, op(OPS[1])))
    assert f.status == Status.FAIL and OPS[0] in f.reason_en


def test_action_group_must_notify_someone():
    watch = (alert("nsg", ADMIN, op(OPS[0])), alert("sqlfw", ADMIN, op(OPS[1])))
    f = alerts(action_group(enabled=False), *watch)
    assert f.status == Status.FAIL and "action group ag-ops is disabled" in f.reason_en
    unsubscribed = [{"name": "ops", "emailAddress": "ops@example.jp", "status": "Disabled"}]
    f = alerts(action_group(emailReceivers=unsubscribed), *watch)
    assert f.status == Status.FAIL and "has no receiver that is not Disabled" in f.reason_en
    webhook = [{"name": "hook", "serviceUri": "https://hooks.example.jp/x"}]
    assert alerts(action_group(emailReceivers=[], webhookReceivers=webhook), *watch).status == Status.PASS
    f = alerts(*watch)  # the group named does not exist in a collected subscription
    assert f.status == Status.FAIL and "action group ag-ops does not exist" in f.reason_en


def test_action_group_not_collected_is_error():
    watch = (alert("nsg", ADMIN, op(OPS[0])), alert("sqlfw", ADMIN, op(OPS[1])))
    f = alerts(*watch, errors=[error("action_group")])
    assert f.status == Status.ERROR and "could not be collected" in f.reason_en
    elsewhere = f"{OTHER}/resourceGroups/rg/providers/microsoft.insights/actionGroups/ag-x"
    f = alerts(alert("nsg", ADMIN, op(OPS[0]), groups=(elsewhere,)), alert("sqlfw", ADMIN, op(OPS[1]),
               groups=(elsewhere,)))  # fmt: skip
    assert f.status == Status.ERROR and "outside the subscriptions collected" in f.reason_en


def test_alerts_not_collected_is_error_not_fail():
    f = alerts(action_group(), errors=[error("activity_log_alert")])
    assert f.status == Status.ERROR


# ---------------------------------------------------------------- log-query-alerts-enabled


def workspace(quota: Any = -1.0, status: str = "RespectQuota", rid: str = WS) -> Evidence:
    props = {"retentionInDays": 730, "workspaceCapping": {"dailyQuotaGb": quota, "dataIngestionStatus": status}}
    return ev(FactKind.LOG_ANALYTICS_WORKSPACE, rid, {"id": rid, "name": rid.rsplit("/", 1)[-1], "properties": props})


def query_rule(name: str, enabled: bool = True, scopes: tuple[str, ...] = (WS,), groups: tuple[str, ...] = (AG,),
               kind: str = "LogAlert") -> Evidence:  # fmt: skip
    rid = f"{RG}/providers/microsoft.insights/scheduledqueryrules/{name}"
    props = {"enabled": enabled, "scopes": list(scopes), "severity": 2, "evaluationFrequency": "PT5M",
             "criteria": {"allOf": [{"query": "AzureActivity", "operator": "GreaterThan", "threshold": 0}]},
             "actions": {"actionGroups": list(groups)}}  # fmt: skip
    return ev("scheduled_query_rule", rid, {"id": rid, "name": name, "kind": kind, "properties": props})


def resource_settings(target: str, workspace_id: str = WS) -> Evidence:
    return ev(
        FactKind.DIAGNOSTIC_SETTINGS, target, {"value": [setting("send-to-law", "AuditEvent", workspace=workspace_id)]}
    )


def queries(*evidence: Evidence, **kw: Any):
    return judge("log-query-alerts-enabled", subscription(), *evidence, **kw)


def test_audit_workspace_with_enabled_rule_passes():
    found = queries(workspace(), sub_settings(setting("to-law", *ALL4)), action_group(), query_rule("failed-signins"))
    assert found[WS.lower()].status == Status.PASS
    assert "watched by enabled log search alerts failed-signins (action group ag-ops (1 receiver))" in (
        found[WS.lower()].reason_en
    )


def test_rule_scoped_to_the_resource_group_counts():
    found = queries(workspace(), resource_settings(SA), action_group(), query_rule("rg-wide", scopes=(RG,)))
    assert found[WS.lower()].status == Status.PASS


def test_workspace_without_audit_logs_is_not_judged():
    assert queries(workspace(), action_group()) == {}


def test_disabled_or_unnotified_rules_fail():
    base = (workspace(), sub_settings(setting("to-law", *ALL4)), action_group())
    f = queries(*base, query_rule("off", enabled=False), query_rule("silent", groups=()))[WS.lower()]
    assert f.status == Status.FAIL
    assert "rule off is disabled" in f.reason_en and "rule silent: no action group" in f.reason_en
    f = queries(*base, query_rule("metric", kind="LogToMetric"))[WS.lower()]
    assert f.status == Status.FAIL and "no rule has it in scope" in f.reason_en


def test_rules_not_collected_is_error():
    found = queries(workspace(), sub_settings(setting("to-law", *ALL4)), errors=[error("scheduled_query_rule")])
    assert found[WS.lower()].status == Status.ERROR


def test_a_destination_workspace_not_collected_is_an_error_citing_each_setting_that_names_it_once():
    gone = f"{RG}/providers/Microsoft.OperationalInsights/workspaces/log-gone"
    first = resource_settings(SA, gone)
    second = ev(FactKind.DIAGNOSTIC_SETTINGS, f"{SA}2", {"value": [setting("to-gone", "AuditEvent", workspace=gone)]})
    again = Evidence(**{**first.__dict__, "request_id": "read-again"})  # the same document from another page
    found = queries(workspace(), first, again, second, resource_settings(f"{SA}3"), action_group())
    f = found[gone.lower()]
    assert f.status == Status.ERROR and "not among the workspaces collected" in f.reason_en
    assert f.evidence == (first.sha256, second.sha256)
    assert found[WS.lower()].status == Status.FAIL  # the collected one is judged as before


# ---------------------------------------------------------------- log-workspace-no-daily-cap


def cap(ws: Evidence, **kw: Any):
    return judge("log-workspace-no-daily-cap", ws, **kw)[ws.resource_id.lower()]


def test_no_cap_passes_and_cap_fails():
    assert cap(workspace(-1.0)).status == Status.PASS
    f = cap(workspace(5.0))
    assert f.status == Status.FAIL
    assert f.reason_en.startswith("Log Analytics workspace log-karte dailyQuotaGb is 5 (logs are dropped")


def test_cap_accepted_by_threshold_passes_unless_over_quota():
    assert cap(workspace(5.0), log_workspace_capped_allowed=(WS.upper(),)).status == Status.PASS
    f = cap(workspace(5.0, "OverQuota"), log_workspace_capped_allowed=(WS,))
    assert f.status == Status.FAIL and "OverQuota" in f.reason_en


def test_unreadable_cap_is_error():
    assert cap(workspace(None)).status == Status.ERROR
    assert cap(workspace("-1")).status == Status.ERROR


# ---------------------------------------------------------------- log-store-delete-locked


def lock(scope: str, level: str = "CanNotDelete", name: str = "keep") -> Evidence:
    rid = f"{scope}/providers/Microsoft.Authorization/locks/{name}"
    return ev("management_lock", rid, {"id": rid, "name": name, "type": "Microsoft.Authorization/locks",
                                       "properties": {"level": level, "notes": "log store"}})  # fmt: skip


def storage(**props: Any) -> Evidence:
    return ev(FactKind.STORAGE_ACCOUNT, SA, {"id": SA, "name": "stlogs", "type": "Microsoft.Storage/storageAccounts",
                                             "properties": {"minimumTlsVersion": "TLS1_2", **props}})  # fmt: skip


def flow_log(storage_id: str = SA) -> Evidence:
    rid = f"{SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/nw/flowLogs/fl"
    return ev(FactKind.FLOW_LOG, rid, {"id": rid, "name": "fl", "properties": {"storageId": storage_id}})


def locked(*evidence: Evidence, **kw: Any):
    return judge("log-store-delete-locked", *evidence, **kw)


def test_locks_at_resource_group_subscription_or_resource_protect():
    for scope in (WS, RG, SUB):
        f = locked(workspace(), lock(scope, "ReadOnly" if scope == SUB else "CanNotDelete"))[WS.lower()]
        assert f.status == Status.PASS and "protected from deletion by management lock keep" in f.reason_en


def test_workspace_without_lock_fails():
    other_rg = f"{SUB}/resourceGroups/rg-data"
    f = locked(workspace(), lock(other_rg), lock(f"{WS}2"))[WS.lower()]
    assert f.status == Status.FAIL
    assert f.reason_en == (
        "Log Analytics workspace log-karte has no CanNotDelete or ReadOnly management lock on itself, its resource "
        "group or its subscription"
    )


def test_only_log_archives_among_storage_accounts_are_judged():
    assert SA.lower() not in locked(storage(), lock(RG))
    f = locked(storage(), flow_log(), lock(RG))[SA.lower()]
    assert f.status == Status.FAIL and f.reason_en.startswith("log archive storage account stlogs has no")
    assert "nor immutable storage" in f.reason_en
    archive = sub_settings(setting("to-sa", *ALL4, workspace=None, storage=SA))
    assert locked(storage(), archive, lock(f"{SUB}/resourceGroups/rg-data"))[SA.lower()].status == Status.PASS


def test_an_archive_cites_each_document_naming_it_once_in_order():
    # A subscription's settings naming the archive twice, a flow log, and 300 resources' settings (a central
    # archive is common; each cited once, in the order read, however many name it).
    archive = {"workspace": None, "storage": SA}
    twice = sub_settings(setting("a", *ALL4, **archive), setting("b", *ALL4, **archive))
    resources = [
        ev(FactKind.DIAGNOSTIC_SETTINGS, f"{RG}/providers/Microsoft.Web/sites/app{n}",
           {"value": [setting(f"d{n}", "AppServiceHTTPLogs", workspace=None, storage=SA.upper())]})
        for n in range(300)
    ]  # fmt: skip
    f = locked(storage(), twice, flow_log(), *resources, lock(SUB))[SA.lower()]
    assert f.status == Status.PASS
    assert f.evidence[0] == storage().sha256
    cited = [sha for sha in f.evidence if sha not in {storage().sha256, lock(SUB).sha256}]
    assert cited == [e.sha256 for e in (*resources, twice, flow_log())]


def test_account_level_immutability_protects_storage():
    worm = {"enabled": True, "immutabilityPolicy": {"immutabilityPeriodSinceCreationInDays": 365, "state": "Locked"}}
    f = locked(storage(immutableStorageWithVersioning=worm), flow_log())[SA.lower()]
    assert f.status == Status.PASS and "immutable storage (Locked, 365 days" in f.reason_en
    disabled = {"enabled": False}
    assert locked(storage(immutableStorageWithVersioning=disabled), flow_log())[SA.lower()].status == Status.FAIL


def test_locks_not_collected_and_unknown_archive_are_errors():
    f = locked(workspace(), errors=[error("management_lock")])[WS.lower()]
    assert f.status == Status.ERROR and "management locks could not be collected" in f.reason_en
    f = locked(flow_log(f"{OTHER}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/stx"))
    (finding,) = f.values()
    assert finding.status == Status.ERROR and "not among the storage accounts collected" in finding.reason_en
