"""The subscription activity log and the alerts that watch the logs.

- activity-log-exported: each subscription sends its activity log (who changed what in Azure, with caller and
  source address) to a Log Analytics workspace or a storage account, where it is kept; ARM itself keeps it only
  90 days.
- security-change-alerts: each subscription has enabled activity log alerts, with a working action group, on the
  security-relevant operations (NSG, SQL firewall, policy assignment and Key Vault changes by default).
- log-query-alerts-enabled: each workspace that receives audit logs is watched by at least one enabled log search
  alert (scheduled query rule) with a working action group.

An action group works when it is enabled and has at least one receiver that is not Disabled (an email or SMS
receiver whose address unsubscribed is Disabled). Alerts show that the logs are watched and someone is told; they
do not show that anybody reads the logs or acts on the alerts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import (
    display_name,
    error_covering,
    field,
    is_within,
    name_from_id,
    norm_id,
    props,
    subscription_of,
)
from controls.model import Evidence, FactKind, FactSet, Status, Thresholds

# Fact kinds (collector/fetchers/loganalytics.py).
SUBSCRIPTION_DIAGNOSTIC_SETTINGS = "subscription_diagnostic_settings"
ACTIVITY_LOG_ALERT = "activity_log_alert"
ACTION_GROUP = "action_group"
SCHEDULED_QUERY_RULE = "scheduled_query_rule"

# The activity log's categories (Subscription Diagnostic Settings categories).
ACTIVITY_LOG_CATEGORIES = (
    "Administrative",
    "Security",
    "ServiceHealth",
    "Alert",
    "Recommendation",
    "Policy",
    "Autoscale",
    "ResourceHealth",
)
# An operation name as the activity log writes it: Microsoft.Network/networkSecurityGroups/write.
OPERATION_RE = re.compile(r"^Microsoft\.[A-Za-z0-9.]+(/[A-Za-z0-9]+)+/(write|delete|action)$", re.IGNORECASE)
_ALL_LOGS = "alllogs"


def _sub_label(sub: Evidence) -> tuple[str, str]:
    """How a subscription is named in a reason: its display name and GUID."""
    name = str(sub.content.get("displayName") or "")
    guid = str(sub.content.get("subscriptionId") or name_from_id(sub.resource_id))
    if not name:
        return f"サブスクリプション {guid}", f"subscription {guid}"
    return f"サブスクリプション {name}（{guid}）", f"subscription {name} ({guid})"


def _subscription_id(sub: Evidence) -> str:
    guid = str(sub.content.get("subscriptionId") or name_from_id(sub.resource_id))
    return f"/subscriptions/{guid}"


def _enabled_logs(setting: Any) -> list[str]:
    out = []
    for log in field(setting, "properties", "logs") or []:
        if isinstance(log, dict) and log.get("enabled") is True:
            out.append(str(log.get("category") or log.get("categoryGroup") or "?"))
    return out


def _destinations(setting: Any) -> list[str]:
    """The destinations that keep logs (Log Analytics, storage); an Event Hub only streams them."""
    p = props(setting)
    return [str(p[key]) for key in ("workspaceId", "storageAccountId") if isinstance(p.get(key), str) and p.get(key)]


# ---------------------------------------------------------------- activity-log-exported


@check(
    id="activity-log-exported",
    title_ja="サブスクリプションのアクティビティログを Log Analytics またはストレージへ送っている",
    title_en="Each subscription's activity log is sent to Log Analytics or storage",
    judges=("subscription",),
    reads=(SUBSCRIPTION_DIAGNOSTIC_SETTINGS, FactKind.SUBSCRIPTION),
    api="Subscription Diagnostic Settings - List (/subscriptions/{s}/providers/Microsoft.Insights/"
    "diagnosticSettings, one call per subscription): properties.logs[].{category, categoryGroup, enabled}, "
    "properties.workspaceId, properties.storageAccountId; Subscriptions - List: subscriptionId, displayName",
    rule_ja="サブスクリプションの診断設定が workspaceId か storageAccountId へ、activity_log_categories のカテゴリ"
    "（既定 Administrative, Security, Policy, Alert）をすべて（または allLogs グループを）有効にして送っていれば合格。"
    "Event Hub のみの設定は保持されないため数えない。診断設定を収集できなかったサブスクリプションはエラー。",
    rule_en="Passes when the subscription's diagnostic settings send every category of activity_log_categories "
    "(default Administrative, Security, Policy, Alert), or the allLogs group, enabled to a workspaceId or "
    "storageAccountId. A setting that only streams to an Event Hub keeps nothing and does not count. A subscription "
    "whose diagnostic settings could not be collected is an error.",
    remediation_ja="サブスクリプションの [アクティビティログ] > [診断設定をエクスポート] で、必要なカテゴリを "
    "Log Analytics ワークスペースとログ保管用ストレージアカウントへ送る設定を追加する"
    "（az monitor diagnostic-settings subscription create）。",
    remediation_en="Under the subscription's Activity log > Export Activity Logs, add a diagnostic setting sending "
    "the required categories to a Log Analytics workspace and the log storage account "
    "(az monitor diagnostic-settings subscription create).",
    thresholds=("activity_log_categories",),
)
def activity_log_exported(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    need = list(thresholds.activity_log_categories)
    settings_by_sub = facts.by_id(SUBSCRIPTION_DIAGNOSTIC_SETTINGS)
    for sub in facts.of(FactKind.SUBSCRIPTION):
        sid = _subscription_id(sub)
        ja, en = _sub_label(sub)
        doc = settings_by_sub.get(norm_id(sid))
        if doc is None:
            err = error_covering(facts, [SUBSCRIPTION_DIAGNOSTIC_SETTINGS], sid)
            why_ja = f"収集に失敗: {err.code}" if err else "収集されていません"
            why_en = f"collection failed: {err.code}" if err else "not collected"
            yield errored(
                sid,
                f"{ja} のアクティビティログの診断設定を判定できません（{why_ja}）",
                f"{en} activity log diagnostic settings cannot be judged ({why_en})",
                sub,
            )
            continue
        settings = doc.content.get("value")
        if not isinstance(settings, list):
            yield errored(
                sid,
                f"{ja} の診断設定の文書に value 配列がありません",
                f"{en} diagnostic settings document has no value list",
                sub,
                doc,
            )
            continue
        retained = [s for s in settings if _enabled_logs(s) and _destinations(s)]
        sent = {c.lower() for s in retained for c in _enabled_logs(s)}
        missing = [c for c in need if c.lower() not in sent and _ALL_LOGS not in sent]
        if retained and not missing:
            names = ", ".join(str(field(s, "name") or "?") for s in retained)
            where = ", ".join(name_from_id(d) for d in dict.fromkeys(d for s in retained for d in _destinations(s)))
            cats = ", ".join(dict.fromkeys(c for s in retained for c in _enabled_logs(s)))
            yield passed(
                sid,
                f"{ja} の診断設定 {names} がアクティビティログ（{cats}）を {where} へ送っています",
                f"{en} diagnostic setting {names} sends the activity log ({cats}) to {where}",
                sub,
                doc,
            )
            continue
        if not settings:
            detail_ja, detail_en = "診断設定がありません", "there is no diagnostic setting"
        elif not retained:
            detail_ja = "どの診断設定も有効なカテゴリを workspaceId か storageAccountId へ送っていません"
            detail_en = "no diagnostic setting sends an enabled category to a workspaceId or storageAccountId"
        else:
            shown = ", ".join(dict.fromkeys(c for s in retained for c in _enabled_logs(s)))
            detail_ja = f"カテゴリ {', '.join(missing)} が保持先へ送られていません（送信中: {shown}）"
            detail_en = f"categories {', '.join(missing)} are not sent to a retained destination (sent: {shown})"
        yield failed(
            sid,
            f"{ja} のアクティビティログが保持されていません: {detail_ja}（必要: {', '.join(need)}）",
            f"{en} activity log is not kept: {detail_en} (required: {', '.join(need)})",
            sub,
            doc,
        )


# ---------------------------------------------------------------- action groups


@dataclass(frozen=True)
class _Group:
    state: str  # "ok", "bad" (it does not notify anyone), "unknown" (it was not collected)
    ja: str
    en: str
    evidence: Evidence | None


def _receivers(group: Evidence) -> int:
    count = 0
    for key, value in props(group.content).items():
        if key.endswith("Receivers") and isinstance(value, list):
            count += sum(1 for r in value if isinstance(r, dict) and str(r.get("status", "")).lower() != "disabled")
    return count


def _action_group(group_id: Any, groups: dict[str, Evidence], facts: FactSet) -> _Group:
    gid = str(group_id or "")
    name = name_from_id(gid) if gid else "?"
    ev = groups.get(norm_id(gid))
    if ev is None:
        err = error_covering(facts, [ACTION_GROUP], gid) if gid.startswith("/") else None
        subs = {norm_id(_subscription_id(s)) for s in facts.of(FactKind.SUBSCRIPTION)}
        if err is not None:
            return _Group(
                "unknown",
                f"アクショングループ {name} を収集できませんでした（{err.code}）",
                f"action group {name} could not be collected ({err.code})",
                None,
            )
        if norm_id(subscription_of(gid)) not in subs:
            return _Group(
                "unknown",
                f"アクショングループ {name} は収集したサブスクリプションの外にあります",
                f"action group {name} is outside the subscriptions collected",
                None,
            )
        return _Group("bad", f"アクショングループ {name} が存在しません", f"action group {name} does not exist", None)
    name = display_name(ev)
    if props(ev.content).get("enabled") is not True:
        return _Group(
            "bad",
            f"アクショングループ {name} が無効です（enabled {props(ev.content).get('enabled')!r}）",
            f"action group {name} is disabled (enabled {props(ev.content).get('enabled')!r})",
            ev,
        )
    count = _receivers(ev)
    if count == 0:
        return _Group(
            "bad",
            f"アクショングループ {name} に有効な通知先がありません",
            f"action group {name} has no receiver that is not Disabled",
            ev,
        )
    plural = "receiver" if count == 1 else "receivers"
    return _Group("ok", f"アクショングループ {name}（通知先 {count}）", f"action group {name} ({count} {plural})", ev)


def _best_group(ids: list[Any], groups: dict[str, Evidence], facts: FactSet) -> tuple[_Group | None, list[_Group]]:
    """The first working action group of `ids`, and every one looked at."""
    seen = [_action_group(i, groups, facts) for i in ids]
    return next((g for g in seen if g.state == "ok"), None), seen


def _groups_by_id(facts: FactSet) -> dict[str, Evidence]:
    return {norm_id(e.resource_id): e for e in facts.of(ACTION_GROUP)}


# ---------------------------------------------------------------- security-change-alerts

# Conditions on these fields filter an event's outcome, not which operations are watched.
_OUTCOME_FIELDS = frozenset({"status", "substatus", "level"})


def _values(leaf: dict[str, Any]) -> list[str] | None:
    if isinstance(leaf.get("equals"), str):
        return [leaf["equals"]]
    if isinstance(leaf.get("containsAny"), list):
        return [str(v) for v in leaf["containsAny"]]
    return None


def _leaf_admits(leaf: Any, operation: str) -> bool:
    """Whether a leaf condition lets an Administrative event of `operation` through, whatever its outcome."""
    if not isinstance(leaf, dict):
        return False
    name = str(leaf.get("field") or "").lower()
    values = _values(leaf)
    if values is None:
        return False
    low = [v.strip().lower() for v in values]
    op = operation.lower()
    if name == "category":
        return "administrative" in low
    if name == "operationname":
        return op in low
    if name == "resourcetype":
        return op.rsplit("/", 1)[0] in low
    if name == "resourceprovider":
        return op.split("/", 1)[0] in low
    return name in _OUTCOME_FIELDS


def _watches(alert: Evidence, operation: str) -> bool:
    conditions = field(props(alert.content), "condition", "allOf")
    if not isinstance(conditions, list) or not conditions:
        return False
    for item in conditions:
        if isinstance(item, dict) and isinstance(item.get("anyOf"), list):
            if not any(_leaf_admits(leaf, operation) for leaf in item["anyOf"]):
                return False
        elif not _leaf_admits(item, operation):
            return False
    return True


def _scoped_to(alert: Evidence, subscription: str) -> bool:
    scopes = props(alert.content).get("scopes")
    return isinstance(scopes, list) and any(norm_id("/" + str(s).lstrip("/")) == norm_id(subscription) for s in scopes)


@check(
    id="security-change-alerts",
    title_ja="セキュリティに関わる変更をアクティビティログアラートで通知している",
    title_en="Security-relevant changes raise activity log alerts",
    judges=("subscription",),
    reads=(ACTIVITY_LOG_ALERT, ACTION_GROUP, FactKind.SUBSCRIPTION),
    api="Activity Log Alerts - List By Subscription Id (Microsoft.Insights/activityLogAlerts): properties.enabled, "
    "scopes, condition.allOf[].{field, equals, containsAny, anyOf}, actions.actionGroups[].actionGroupId; "
    "Action Groups - List By Subscription Id (Microsoft.Insights/actionGroups): properties.enabled, "
    "properties.*Receivers[].status",
    rule_ja="security_alert_operations の操作（既定: NSG とそのルール、SQL ファイアウォールルール、ポリシー割り当て、"
    "Key Vault の書き込み・削除）それぞれについて、サブスクリプション全体を scopes に持ち、enabled が true で、"
    "条件がその操作の Administrative イベントを通す（category・operationName・resourceType・resourceProvider と "
    "status・level 以外の条件で絞り込まない）アクティビティログアラートがあり、その actionGroups のどれかが有効で"
    "無効（Disabled）でない通知先を 1 つ以上持てば合格。"
    "アラートまたはアクショングループを収集できなかったときはエラー。",
    rule_en="Passes when, for every operation of security_alert_operations (default: NSG and NSG rule, SQL firewall "
    "rule, policy assignment and Key Vault writes and deletes), an activity log alert that is enabled, has the "
    "whole subscription in its scopes and whose condition admits the operation's Administrative events (no "
    "narrowing beyond category, operationName, resourceType, resourceProvider, status and level) names an action "
    "group that is enabled and has a receiver that is not Disabled. Alerts or action groups that could not be "
    "collected are an error.",
    remediation_ja="Azure Monitor の [アラート] > [アラートルールの作成] で、サブスクリプションを対象に各操作"
    "（例: Microsoft.Network/networkSecurityGroups/write）のアクティビティログアラートを作り、運用担当のメールを"
    "通知先に持つアクショングループを割り当てる（az monitor activity-log alert create）。",
    remediation_en="In Azure Monitor > Alerts > Create alert rule, scope an activity log alert to the subscription "
    "for each operation (e.g. Microsoft.Network/networkSecurityGroups/write) and attach an action group that "
    "notifies the operations team (az monitor activity-log alert create).",
    thresholds=("security_alert_operations",),
)
def security_change_alerts(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    operations = list(thresholds.security_alert_operations)
    groups = _groups_by_id(facts)
    alerts = facts.of(ACTIVITY_LOG_ALERT)
    for sub in facts.of(FactKind.SUBSCRIPTION):
        sid = _subscription_id(sub)
        ja, en = _sub_label(sub)
        err = error_covering(facts, [ACTIVITY_LOG_ALERT], sid)
        if err is not None:
            yield errored(
                sid,
                f"{ja} のアクティビティログアラートを収集できませんでした（{err.code}）",
                f"{en} activity log alerts could not be collected ({err.code})",
                sub,
            )
            continue
        used: list[Evidence] = [sub]
        watched: dict[str, list[str]] = {}
        unknown: dict[str, list[str]] = {}
        notes_ja: dict[str, str] = {}
        notes_en: dict[str, str] = {}
        for alert in (a for a in alerts if _scoped_to(a, sid)):
            name = display_name(alert)
            ops = [op for op in operations if _watches(alert, op)]
            if not ops:
                continue
            used.append(alert)
            if props(alert.content).get("enabled") is not True:
                notes_ja[name] = f"アラート {name} は無効です"
                notes_en[name] = f"alert {name} is disabled"
                continue
            ids = [field(g, "actionGroupId") for g in field(props(alert.content), "actions", "actionGroups") or []]
            ok, seen = _best_group(ids, groups, facts)
            used += [g.evidence for g in seen if g.evidence is not None]
            if ok is not None:
                for op in ops:
                    watched.setdefault(op, []).append(name)
                continue
            if not seen:
                notes_ja[name] = f"アラート {name} にアクショングループがありません"
                notes_en[name] = f"alert {name} has no action group"
            else:
                notes_ja[name] = f"アラート {name}: " + "; ".join(g.ja for g in seen)
                notes_en[name] = f"alert {name}: " + "; ".join(g.en for g in seen)
            if any(g.state == "unknown" for g in seen):
                for op in ops:
                    unknown.setdefault(op, []).append(name)
        missing = [op for op in operations if op not in watched]
        if not missing:
            names = ", ".join(dict.fromkeys(n for op in operations for n in watched[op]))
            yield passed(
                sid,
                f"{ja} のセキュリティ関連操作 {len(operations)} 件すべてを有効なアラート {names} が"
                "通知先付きで監視しています",
                f"{en}: all {len(operations)} security-relevant operations are watched by enabled alerts {names} "
                "with a working action group",
                used,
            )
            continue
        note_ja = f"。{'; '.join(notes_ja.values())}" if notes_ja else ""
        note_en = f"; {'; '.join(notes_en.values())}" if notes_en else ""
        if all(op in unknown for op in missing):
            yield errored(
                sid,
                f"{ja} の操作 {', '.join(missing)} を監視するアラートの通知先を判定できません{note_ja}",
                f"{en}: the action groups of the alerts watching {', '.join(missing)} cannot be judged{note_en}",
                used,
            )
            continue
        yield failed(
            sid,
            f"{ja} の操作 {', '.join(missing)} を、有効で通知先のあるアクティビティログアラートが監視していません"
            f"{note_ja}",
            f"{en}: operations {', '.join(missing)} are not watched by an enabled activity log alert with a working "
            f"action group{note_en}",
            used,
        )


# ---------------------------------------------------------------- log-query-alerts-enabled


def audit_workspaces(facts: FactSet) -> dict[str, dict[str, None]]:
    """Workspaces that receive audit logs: the workspaceId of any diagnostic setting (a resource's or a
    subscription's) with an enabled log category, each with the SHA-256s of the settings documents that name it
    (in order, once each). The documents are scanned, not kept: at 100,000 resources tens of thousands of them
    name a few dozen workspaces."""
    out: dict[str, dict[str, None]] = {}
    for kind in (FactKind.DIAGNOSTIC_SETTINGS, SUBSCRIPTION_DIAGNOSTIC_SETTINGS):
        for doc in facts.each(kind):
            for setting in doc.content.get("value") or []:
                ws = props(setting).get("workspaceId")
                if isinstance(ws, str) and ws and _enabled_logs(setting):
                    out.setdefault(norm_id(ws), {})[doc.sha256] = None
    return out


@check(
    id="log-query-alerts-enabled",
    title_ja="監査ログを受けるワークスペースをログ検索アラートで監視している",
    title_en="Workspaces receiving audit logs are watched by log search alerts",
    judges=("microsoft.operationalinsights/workspaces",),
    reads=(
        FactKind.LOG_ANALYTICS_WORKSPACE,
        SCHEDULED_QUERY_RULE,
        ACTION_GROUP,
        FactKind.DIAGNOSTIC_SETTINGS,
        SUBSCRIPTION_DIAGNOSTIC_SETTINGS,
    ),
    api="Scheduled Query Rules - List By Subscription (Microsoft.Insights/scheduledQueryRules, 2022-08-01-preview): "
    "kind, properties.enabled, scopes, actions.actionGroups; Action Groups - List By Subscription Id: "
    "properties.enabled, properties.*Receivers[].status; Workspaces - List; which workspaces receive audit logs "
    "from the diagnostic settings collected (resources' and subscriptions': properties.workspaceId)",
    rule_ja="診断設定（リソースまたはサブスクリプション）がログを送っているワークスペースごとに、そのワークスペース"
    "（またはそれを含むリソースグループ・サブスクリプション）を scopes に持ち enabled が true のログ検索アラート"
    "（kind が LogToMetric でないもの）があり、その actionGroups のどれかが有効で無効（Disabled）でない通知先を "
    "1 つ以上持てば合格。どの診断設定の送信先でもないワークスペースは判定しない。アラートやアクショングループを"
    "収集できなかったときはエラー。アラートはログの監視を示すが、人による点検そのものは示さない。",
    rule_en="For each workspace a diagnostic setting (a resource's or a subscription's) sends logs to, passes when "
    "an enabled log search alert (scheduled query rule whose kind is not LogToMetric) has the workspace, or a "
    "resource group or subscription containing it, in its scopes and names an action group that is enabled and "
    "has a receiver that is not Disabled. Workspaces no diagnostic setting sends to are not judged. Rules or "
    "action groups that could not be collected are an error. An alert shows the logs are watched, not that a "
    "person reviews them.",
    remediation_ja="ワークスペースの [アラート] でログ検索アラートルールを作成し（例: 失敗したサインインや NSG "
    "変更の検出クエリ）、運用担当へ通知するアクショングループを割り当てる（az monitor scheduled-query create）。",
    remediation_en="Create a log search alert rule on the workspace (e.g. a query for failed sign-ins or NSG "
    "changes) and attach an action group that notifies the operations team (az monitor scheduled-query create).",
)
def log_query_alerts_enabled(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    groups = _groups_by_id(facts)
    rules = facts.of(SCHEDULED_QUERY_RULE)
    workspaces = facts.by_id(FactKind.LOG_ANALYTICS_WORKSPACE)
    for ws_id, sources in audit_workspaces(facts).items():
        ws = workspaces.get(ws_id)
        if ws is None:
            err = error_covering(facts, [FactKind.LOG_ANALYTICS_WORKSPACE], ws_id)
            why_ja = f"収集に失敗: {err.code}" if err else "収集したワークスペースにありません"
            why_en = f"collection failed: {err.code}" if err else "not among the workspaces collected"
            yield Outcome(
                Status.ERROR,
                ws_id,
                f"診断設定の送信先ワークスペース {name_from_id(ws_id)} を判定できません（{why_ja}）",
                f"workspace {name_from_id(ws_id)}, a diagnostic setting destination, cannot be judged ({why_en})",
                tuple(sources),  # the settings that name it
            )
            continue
        name = display_name(ws)
        err = error_covering(facts, [SCHEDULED_QUERY_RULE], ws.resource_id)
        if err is not None:
            yield errored(
                ws.resource_id,
                f"ワークスペース {name} のログ検索アラートを収集できませんでした（{err.code}）",
                f"workspace {name} log search alerts could not be collected ({err.code})",
                ws,
            )
            continue
        used: list[Evidence] = [ws]
        working: list[tuple[str, _Group]] = []
        notes_ja: list[str] = []
        notes_en: list[str] = []
        any_unknown = False
        for rule in rules:
            p = props(rule.content)
            scopes = p.get("scopes") if isinstance(p.get("scopes"), list) else []
            if str(rule.content.get("kind") or "").lower() == "logtometric":
                continue
            if not any(isinstance(s, str) and is_within(ws.resource_id, s) for s in scopes):
                continue
            rname = display_name(rule)
            used.append(rule)
            if p.get("enabled") is not True:
                notes_ja.append(f"ルール {rname} は無効です")
                notes_en.append(f"rule {rname} is disabled")
                continue
            ok, seen = _best_group(list(field(p, "actions", "actionGroups") or []), groups, facts)
            used += [g.evidence for g in seen if g.evidence is not None]
            if ok is not None:
                working.append((rname, ok))
                continue
            any_unknown = any_unknown or any(g.state == "unknown" for g in seen)
            notes_ja.append(f"ルール {rname}: " + ("; ".join(g.ja for g in seen) or "アクショングループがありません"))
            notes_en.append(f"rule {rname}: " + ("; ".join(g.en for g in seen) or "no action group"))
        if working:
            yield passed(
                ws.resource_id,
                f"ワークスペース {name} は有効なログ検索アラート {', '.join(f'{r}（{g.ja}）' for r, g in working)} "
                "で監視されています",
                f"workspace {name} is watched by enabled log search alerts "
                f"{', '.join(f'{r} ({g.en})' for r, g in working)}",
                used,
            )
            continue
        note_ja = f"（{'; '.join(notes_ja)}）" if notes_ja else "（対象のルールがありません）"
        note_en = f" ({'; '.join(notes_en)})" if notes_en else " (no rule has it in scope)"
        if any_unknown:
            yield errored(
                ws.resource_id,
                f"ワークスペース {name} のログ検索アラートの通知先を判定できません{note_ja}",
                f"workspace {name}: the action groups of its log search alerts cannot be judged{note_en}",
                used,
            )
            continue
        yield failed(
            ws.resource_id,
            f"監査ログを受けるワークスペース {name} を、有効で通知先のあるログ検索アラートが監視していません{note_ja}",
            f"workspace {name}, which receives audit logs, is not watched by an enabled log search alert with a "
            f"working action group{note_en}",
            used,
        )
