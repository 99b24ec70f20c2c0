"""Diagnostic settings: resources that hold or guard medical data send their logs somewhere kept."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, error_covering, field, norm_id, props
from controls.log_targets import (
    ALL_LOGS_ONLY,
    ALTERNATIVE_CATEGORIES,
    AUDIT_CATEGORIES,
    CATEGORY_GROUPS,
    IDS_TYPES,
    MONITORED_TYPES,
    log_settings_target,
)
from controls.model import Evidence, FactKind, FactSet, Thresholds


@dataclass(frozen=True)
class _Monitored:
    resource_id: str  # the resource judged
    rtype: str  # its lower-cased ARM type
    target: str  # where its diagnostic settings are attached (itself, a blob service, a master database)
    label_ja: str
    label_en: str
    sources: tuple[Evidence, ...]  # the inventory documents that told us the resource exists


_LABELS = {  # one entry per type in MONITORED_TYPES
    "microsoft.web/sites": ("App Service", "App Service"),
    "microsoft.web/sites/slots": ("App Service デプロイスロット", "App Service deployment slot"),
    "microsoft.sql/servers": ("SQL サーバー", "SQL server"),
    "microsoft.keyvault/vaults": ("Key Vault", "Key Vault"),
    "microsoft.network/networksecuritygroups": ("NSG", "NSG"),
    "microsoft.storage/storageaccounts": ("ストレージアカウント", "storage account"),
    "microsoft.network/azurefirewalls": ("Azure Firewall", "Azure Firewall"),
    "microsoft.network/applicationgateways": ("Application Gateway", "Application Gateway"),
}
# Listings of the edge devices (collector.fetchers.edge).
AZURE_FIREWALL = "azure_firewall"
APPLICATION_GATEWAY = "application_gateway"
_TYPED = {  # the type of a listing's documents when they do not say (web_site lists sites and slots)
    FactKind.WEB_SITE: "microsoft.web/sites",
    FactKind.SQL_SERVER: "microsoft.sql/servers",
    FactKind.NSG: "microsoft.network/networksecuritygroups",
    FactKind.STORAGE_ACCOUNT: "microsoft.storage/storageaccounts",
    AZURE_FIREWALL: "microsoft.network/azurefirewalls",
    APPLICATION_GATEWAY: "microsoft.network/applicationgateways",
}


_TARGET_LABELS = {  # one entry per type in MONITORED_TYPES
    "microsoft.storage/storageaccounts": ("（BLOB サービス）", " blob service"),
    "microsoft.sql/servers": ("（master データベース）", " (master database)"),
}


def _monitored(facts: FactSet, types: tuple[str, ...]) -> Iterator[_Monitored]:
    """Every monitored resource once, from the typed listings and the generic inventory together, so
    that one failed listing does not silently drop resources the other one saw."""
    found: dict[str, tuple[str, list[Evidence]]] = {}
    for kind, default_type in _TYPED.items():
        for ev in facts.of(kind):
            own = str(ev.content.get("type") or "").lower()
            rtype = own if own in _LABELS else default_type
            found.setdefault(norm_id(ev.resource_id), (rtype, []))[1].append(ev)
    for ev in facts.of(FactKind.RESOURCE):
        rtype = str(ev.content.get("type") or "").lower()
        if rtype in _LABELS:
            found.setdefault(norm_id(ev.resource_id), (rtype, []))[1].append(ev)

    for rtype, sources in found.values():
        if rtype not in types:
            continue
        first = sources[0]
        name = display_name(first)
        ja, en = _LABELS[rtype]
        target = log_settings_target(first.resource_id, rtype)
        suffix_ja, suffix_en = _TARGET_LABELS.get(rtype, ("", ""))
        yield _Monitored(
            first.resource_id, rtype, target, f"{ja} {name}{suffix_ja}", f"{en} {name}{suffix_en}", tuple(sources)
        )


def _enabled_logs(setting: Any) -> list[str]:
    out = []
    for log in field(setting, "properties", "logs") or []:
        if isinstance(log, dict) and log.get("enabled") is True:
            out.append(str(log.get("category") or log.get("categoryGroup") or "?"))
    return out


def _retained(setting: Any) -> list[str]:
    """The destinations that keep logs (Log Analytics, storage); Event Hubs only stream them."""
    p = props(setting)
    return [key for key in ("workspaceId", "storageAccountId") if isinstance(p.get(key), str) and p.get(key)]


@check(
    id="diagnostic-logs-retained",
    title_ja="診断設定でログを Log Analytics またはストレージへ送っている",
    title_en="Diagnostic settings send logs to Log Analytics or storage",
    judges=MONITORED_TYPES,
    per_resource=(FactKind.DIAGNOSTIC_SETTINGS,),
    reads=(
        FactKind.DIAGNOSTIC_SETTINGS,
        FactKind.WEB_SITE,
        FactKind.SQL_SERVER,
        FactKind.RESOURCE,
        FactKind.NSG,
        FactKind.STORAGE_ACCOUNT,
        AZURE_FIREWALL,
        APPLICATION_GATEWAY,
    ),
    api="Diagnostic Settings - List (Microsoft.Insights/diagnosticSettings) on each App Service site and "
    "deployment slot (…/sites/{site}/slots/{slot}), SQL server's master database (…/databases/master), "
    "Key Vault, NSG, storage blob service (…/blobServices/default), Azure Firewall and Application Gateway "
    "(one call per resource): properties.logs[].{category, "
    "categoryGroup, enabled}, properties.workspaceId, properties.storageAccountId. The resources come from "
    "the typed listings and Resources - List (type) together.",
    rule_ja="診断設定が workspaceId か storageAccountId へ、allLogs / audit カテゴリグループ、または種類ごとの"
    "監査カテゴリ（App Service とそのデプロイスロット: AppServiceHTTPLogs と AppServiceAuditLogs、"
    "SQL: SQLSecurityAuditEvents、Key Vault: AuditEvent、NSG: NetworkSecurityGroupEvent、"
    "BLOB: StorageRead/Write/Delete、Azure Firewall: AZFWIdpsSignature・AZFWThreatIntel・AZFWNetworkRule・"
    "AZFWApplicationRule（旧形式の AzureFirewallNetworkRule と AzureFirewallApplicationRule でも可）、"
    "Application Gateway: ApplicationGatewayFirewallLog と ApplicationGatewayAccessLog。この 2 種類は audit "
    "グループでは足りず allLogs が必要）をすべて送っていれば合格。Event Hub のみは保持されないため不合格。"
    "診断設定が収集されていない資源はエラー。",
    rule_en="Passes when the resource's diagnostic settings send to a workspaceId or storageAccountId either the "
    "allLogs / audit category group or every audit category of its type (App Service and its deployment "
    "slots: AppServiceHTTPLogs and AppServiceAuditLogs; SQL: SQLSecurityAuditEvents; Key Vault: AuditEvent; "
    "NSG: NetworkSecurityGroupEvent; blob: StorageRead/Write/Delete; Azure Firewall: AZFWIdpsSignature, "
    "AZFWThreatIntel, AZFWNetworkRule, AZFWApplicationRule, or the legacy AzureFirewallNetworkRule and "
    "AzureFirewallApplicationRule; Application Gateway: ApplicationGatewayFirewallLog and "
    "ApplicationGatewayAccessLog, where only allLogs, not audit, covers these two types). Event Hub only "
    "does not retain logs and fails. A resource whose diagnostic settings were not collected is an error.",
    remediation_ja="資源の [診断設定] で allLogs（Azure Firewall と Application Gateway 以外は audit でも可）"
    "カテゴリグループを Log Analytics ワークスペースかストレージアカウントへ送る設定を追加する。",
    remediation_en="Add a diagnostic setting that sends the allLogs category group (or audit, except for Azure "
    "Firewall and Application Gateway) to a Log Analytics workspace or a storage account.",
    # A resource and its diagnostic settings (child documents of it) lie in one subscription.
    per_subscription=True,
)
def diagnostic_logs_retained(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    yield from _judge(facts, MONITORED_TYPES)


def _judge(facts: FactSet, types: tuple[str, ...]) -> Iterator[Outcome]:
    settings_by_resource = facts.by_id(FactKind.DIAGNOSTIC_SETTINGS)
    for res in _monitored(facts, types):
        diag = settings_by_resource.get(norm_id(res.target))
        if diag is None:
            err = error_covering(facts, [FactKind.DIAGNOSTIC_SETTINGS], res.target)
            why_ja = f"収集に失敗: {err.code}" if err else "収集されていません"
            why_en = f"collection failed: {err.code}" if err else "not collected"
            yield errored(
                res.resource_id,
                f"{res.label_ja} の診断設定を判定できません（{why_ja}）",
                f"{res.label_en} diagnostic settings cannot be judged ({why_en})",
                res.sources,
            )
            continue
        settings = diag.content.get("value")
        if not isinstance(settings, list):
            yield errored(
                res.resource_id,
                f"{res.label_ja} の診断設定の文書に value 配列がありません",
                f"{res.label_en} diagnostic settings document has no value list",
                res.sources,
                diag,
            )
            continue
        retained = [s for s in settings if _enabled_logs(s) and _retained(s)]
        kept = {c.lower() for s in retained for c in _enabled_logs(s)}
        missing = [c for c in AUDIT_CATEGORIES[res.rtype] if c.lower() not in kept]
        alternative = ALTERNATIVE_CATEGORIES.get(res.rtype)
        if alternative and all(c.lower() in kept for c in alternative):
            missing = []
        groups = ("allLogs",) if res.rtype in ALL_LOGS_ONLY else CATEGORY_GROUPS
        if retained and (kept & {g.lower() for g in groups} or not missing):
            names = ", ".join(str(field(s, "name")) for s in retained)
            where = ", ".join(dict.fromkeys(d for s in retained for d in _retained(s)))
            logs = ", ".join(dict.fromkeys(c for s in retained for c in _enabled_logs(s)))
            yield passed(
                res.resource_id,
                f"{res.label_ja} の診断設定 {names} が監査ログ（{logs}）を {where} へ送っています",
                f"{res.label_en} diagnostic setting {names} sends audit logs ({logs}) to {where}",
                res.sources,
                diag,
            )
            continue
        if retained:
            sent = ", ".join(sorted(kept))
            yield failed(
                res.resource_id,
                f"{res.label_ja} の監査ログカテゴリ {', '.join(missing)} が保持先へ送られていません"
                f"（送信中: {sent}。{' か '.join(groups)} グループでも可）",
                f"{res.label_en} audit log categories {', '.join(missing)} are not sent to a retained "
                f"destination (sent: {sent}; the {' or '.join(groups)} group also covers them)",
                res.sources,
                diag,
            )
            continue
        if not settings:
            detail_ja, detail_en = "診断設定がありません", "there are no diagnostic settings"
        else:
            seen_ja, seen_en = [], []
            for s in settings:
                name = field(s, "name") or "?"
                if not _enabled_logs(s):
                    seen_ja.append(f"{name} は有効なログカテゴリなし")
                    seen_en.append(f"{name} has no enabled log category")
                else:
                    seen_ja.append(f"{name} は workspaceId も storageAccountId もなし（Event Hub のみなど）")
                    seen_en.append(f"{name} has neither workspaceId nor storageAccountId (e.g. Event Hub only)")
            detail_ja, detail_en = "; ".join(seen_ja), "; ".join(seen_en)
        yield failed(
            res.resource_id,
            f"{res.label_ja} のログが保持先へ送られていません: {detail_ja}",
            f"{res.label_en} logs are not sent to a retained destination: {detail_en}",
            res.sources,
            diag,
        )


@check(
    id="ids-logs-retained",
    title_ja="Azure Firewall と Application Gateway が侵入検知・WAF ログを保持先へ送っている",
    title_en="Azure Firewalls and Application Gateways keep their intrusion-detection and WAF logs",
    judges=IDS_TYPES,
    per_resource=(FactKind.DIAGNOSTIC_SETTINGS,),
    reads=(FactKind.DIAGNOSTIC_SETTINGS, AZURE_FIREWALL, APPLICATION_GATEWAY, FactKind.RESOURCE),
    api="Diagnostic Settings - List (Microsoft.Insights/diagnosticSettings) on each Azure Firewall and "
    "Application Gateway (one call per resource): properties.logs[].{category, categoryGroup, enabled}, "
    "properties.workspaceId, properties.storageAccountId. The devices come from Azure Firewalls - List All, "
    "Application Gateways - List All and Resources - List together.",
    rule_ja="Azure Firewall は AZFWIdpsSignature（IDPS の検知）・AZFWThreatIntel・AZFWNetworkRule・"
    "AZFWApplicationRule（旧形式なら AzureFirewallNetworkRule と AzureFirewallApplicationRule）、Application "
    "Gateway は ApplicationGatewayFirewallLog（WAF の検知）と ApplicationGatewayAccessLog を、または allLogs "
    "グループを、診断設定で workspaceId か storageAccountId へ送っていれば合格。これらの記録は送信元 IP・宛先・"
    "ポート・一致したシグネチャやルール・処置・時刻を含み、事後調査に使える。Event Hub のみ・カテゴリ不足は不合格。"
    "診断設定が収集されていない機器はエラー。",
    rule_en="Passes when the diagnostic settings send to a workspaceId or storageAccountId either the allLogs group "
    "or, for an Azure Firewall, AZFWIdpsSignature (IDPS hits), AZFWThreatIntel, AZFWNetworkRule and "
    "AZFWApplicationRule (legacy: AzureFirewallNetworkRule and AzureFirewallApplicationRule), and for an "
    "Application Gateway ApplicationGatewayFirewallLog (WAF matches) and ApplicationGatewayAccessLog. These "
    "records carry source IP, destination, port, the matched signature or rule, the action and the time, as "
    "follow-up of an intrusion needs. Event Hub only or missing categories fail. A device whose diagnostic "
    "settings were not collected is an error.",
    remediation_ja="Azure Firewall と Application Gateway の [診断設定] で allLogs カテゴリグループ（またはこの "
    "チェックが挙げるカテゴリ）を Log Analytics ワークスペースへ送る設定を追加する（Azure Firewall はリソース固有"
    "テーブルを選ぶ）。",
    remediation_en="Add a diagnostic setting on each Azure Firewall and Application Gateway that sends the allLogs "
    "category group (or the categories this check names) to a Log Analytics workspace (resource-specific tables "
    "for Azure Firewall).",
    per_subscription=True,  # as diagnostic-logs-retained
)
def ids_logs_retained(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    yield from _judge(facts, IDS_TYPES)
