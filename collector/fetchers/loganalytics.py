"""Logging and monitoring: Log Analytics workspaces, the subscription activity log's export, the alert rules and
action groups that watch the logs, and the management locks that keep log stores from being deleted.

Every call here is one list per subscription:

- Workspaces - List (Microsoft.OperationalInsights/workspaces, api-version 2025-07-01): retention and
  `workspaceCapping` of each workspace.
- Subscription Diagnostic Settings - List (`/subscriptions/{s}/providers/Microsoft.Insights/diagnosticSettings`,
  2021-05-01-preview): where the activity log goes. Stored as one document per subscription, `{"value": [...]}`
  with the subscription's id as resource id, so "no setting at all" is a fact that can be judged.
- Activity Log Alerts - List By Subscription Id (2020-10-01) and Action Groups - List By Subscription Id
  (2023-01-01).
- Scheduled Query Rules - List By Subscription (2022-08-01-preview: the current log search alert shape with
  `scopes`, `enabled` and `actions.actionGroups`; the monitor package's default, 2018-04-16, only has the
  legacy shape).
- Management Locks - List At Subscription Level (`/subscriptions/{s}/providers/Microsoft.Authorization/locks`,
  2020-05-01): every lock in the subscription, at subscription, resource group and resource scope.
"""

from azure.mgmt.loganalytics import LogAnalyticsManagementClient
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.monitor.v2022_08_01_preview import MonitorManagementClient as QueryRulesClient
from azure.mgmt.resource.locks import ManagementLockClient

from collector.fetchers.base import FetchContext, Fetcher, list_raw
from controls.model import FactKind

# One document per subscription: {"value": [the subscription's diagnostic settings]}.
SUBSCRIPTION_DIAGNOSTIC_SETTINGS = "subscription_diagnostic_settings"
ACTIVITY_LOG_ALERT = "activity_log_alert"
ACTION_GROUP = "action_group"
SCHEDULED_QUERY_RULE = "scheduled_query_rule"
MANAGEMENT_LOCK = "management_lock"


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(LogAnalyticsManagementClient, ctx.subscription_id)
    ctx.list_into(FactKind.LOG_ANALYTICS_WORKSPACE, client.workspaces.list)


def _subscription_diagnostic_settings(ctx: FetchContext) -> None:
    monitor = ctx.clients.arm(MonitorManagementClient, ctx.subscription_id)
    capture = list_raw(monitor.subscription_diagnostic_settings.list)
    page = capture.pages[-1] if capture.pages else None
    ctx.record_document(
        SUBSCRIPTION_DIAGNOSTIC_SETTINGS,
        {"value": [doc for doc, _ in capture.documents()]},
        resource_id=ctx.scope,
        api_version=page.api_version if page else "",
        request_id=page.request_id if page else None,
    )


def _activity_log_alerts(ctx: FetchContext) -> None:
    monitor = ctx.clients.arm(MonitorManagementClient, ctx.subscription_id)
    ctx.list_into(ACTIVITY_LOG_ALERT, monitor.activity_log_alerts.list_by_subscription_id)


def _action_groups(ctx: FetchContext) -> None:
    monitor = ctx.clients.arm(MonitorManagementClient, ctx.subscription_id)
    ctx.list_into(ACTION_GROUP, monitor.action_groups.list_by_subscription_id)


def _scheduled_query_rules(ctx: FetchContext) -> None:
    rules = ctx.clients.arm(QueryRulesClient, ctx.subscription_id)
    ctx.list_into(SCHEDULED_QUERY_RULE, rules.scheduled_query_rules.list_by_subscription)


def _locks(ctx: FetchContext) -> None:
    locks = ctx.clients.arm(ManagementLockClient, ctx.subscription_id)
    ctx.list_into(MANAGEMENT_LOCK, locks.management_locks.list_at_subscription_level)


FETCHER = Fetcher(
    "loganalytics.workspaces",
    {FactKind.LOG_ANALYTICS_WORKSPACE: ("microsoft.operationalinsights/workspaces",)},
    tenant_wide=False,
    run=_run,
)
SUBSCRIPTION_DIAGNOSTICS_FETCHER = Fetcher(
    "monitor.subscription_diagnostic_settings",
    {SUBSCRIPTION_DIAGNOSTIC_SETTINGS: ("subscription",)},
    tenant_wide=False,
    run=_subscription_diagnostic_settings,
)
ACTIVITY_LOG_ALERTS_FETCHER = Fetcher(
    "monitor.activity_log_alerts",
    {ACTIVITY_LOG_ALERT: ("microsoft.insights/activitylogalerts",)},
    tenant_wide=False,
    run=_activity_log_alerts,
)
ACTION_GROUPS_FETCHER = Fetcher(
    "monitor.action_groups",
    {ACTION_GROUP: ("microsoft.insights/actiongroups",)},
    tenant_wide=False,
    run=_action_groups,
)
SCHEDULED_QUERY_RULES_FETCHER = Fetcher(
    "monitor.scheduled_query_rules",
    {SCHEDULED_QUERY_RULE: ("microsoft.insights/scheduledqueryrules",)},
    tenant_wide=False,
    run=_scheduled_query_rules,
)
LOCKS_FETCHER = Fetcher(
    "resource.management_locks",
    {MANAGEMENT_LOCK: ("microsoft.authorization/locks",)},
    tenant_wide=False,
    run=_locks,
)
