"""Log Analytics workspaces and log stores: logs are kept long enough, ingestion is not capped, and the stores
cannot be deleted.

A CanNotDelete or ReadOnly lock stops the workspace or storage account itself from being deleted through Azure
Resource Manager; it does not stop a holder of data-plane rights from deleting single blobs, nor a workspace purge
(account-level immutable storage does protect blobs). What it proves is that the log store cannot vanish by one
click or one script, which is the part of tamper and deletion protection Azure can show."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from controls.checks.activity_log import SUBSCRIPTION_DIAGNOSTIC_SETTINGS
from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, error_covering, field, is_within, name_from_id, norm_id, props
from controls.model import Evidence, FactKind, FactSet, Thresholds

# Fact kind (collector/fetchers/loganalytics.py): every management lock in a subscription.
MANAGEMENT_LOCK = "management_lock"


@check(
    id="log-analytics-retention",
    title_ja="Log Analytics ワークスペースの保持期間が閾値以上",
    title_en="Log Analytics workspace retention meets the threshold",
    judges=("microsoft.operationalinsights/workspaces",),
    reads=(FactKind.LOG_ANALYTICS_WORKSPACE,),
    api="Workspaces - List (Microsoft.OperationalInsights/workspaces): properties.retentionInDays, "
    "properties.features.immediatePurgeDataOn30Days",
    rule_ja="retentionInDays が閾値（既定 365 日）以上で、immediatePurgeDataOn30Days が true でなければ合格。"
    "retentionInDays が読めない場合はエラー。",
    rule_en="Passes when retentionInDays is at least the threshold (default 365) and "
    "immediatePurgeDataOn30Days is not true. An unreadable retentionInDays is an error.",
    remediation_ja="ワークスペースの [使用量と推定コスト] > [データ保持] で保持期間を閾値以上にする"
    "（az monitor log-analytics workspace update --retention-time 365）。",
    remediation_en="Raise the workspace's data retention to at least the threshold "
    "(az monitor log-analytics workspace update --retention-time 365).",
    thresholds=("log_analytics_retention_days",),
)
def log_analytics_retention(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    need = thresholds.log_analytics_retention_days
    for ws in facts.of(FactKind.LOG_ANALYTICS_WORKSPACE):
        name = display_name(ws)
        p = props(ws.content)
        days = p.get("retentionInDays")
        if not isinstance(days, int) or isinstance(days, bool):
            yield errored(
                ws.resource_id,
                f"Log Analytics ワークスペース {name} の retentionInDays {days!r} を読めません",
                f"Log Analytics workspace {name} retentionInDays {days!r} is unreadable",
                ws,
            )
        elif days < need:
            yield failed(
                ws.resource_id,
                f"Log Analytics ワークスペース {name} の retentionInDays が {days} です（{need} 日以上が必要）",
                f"Log Analytics workspace {name} retentionInDays is {days} ({need} or more required)",
                ws,
            )
        elif field(p, "features", "immediatePurgeDataOn30Days") is True and need > 30:
            yield failed(
                ws.resource_id,
                f"Log Analytics ワークスペース {name} の immediatePurgeDataOn30Days が true です"
                f"（30 日で消去され {need} 日保持されない）",
                f"Log Analytics workspace {name} immediatePurgeDataOn30Days is true "
                f"(data is purged after 30 days, {need} required)",
                ws,
            )
        else:
            yield passed(
                ws.resource_id,
                f"Log Analytics ワークスペース {name} の retentionInDays は {days} です（{need} 日以上）",
                f"Log Analytics workspace {name} retentionInDays is {days} ({need} or more required)",
                ws,
            )


# ---------------------------------------------------------------- daily cap

# A Log Analytics workspace's resource id (the form of thresholds.log_workspace_capped_allowed).
WORKSPACE_ID_RE = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.operationalinsights/workspaces/[^/]+$",
    re.IGNORECASE,
)


@check(
    id="log-workspace-no-daily-cap",
    title_ja="Log Analytics ワークスペースに日次上限（ログを捨てる設定）がない",
    title_en="Log Analytics workspaces have no daily cap that drops logs",
    judges=("microsoft.operationalinsights/workspaces",),
    reads=(FactKind.LOG_ANALYTICS_WORKSPACE,),
    api="Workspaces - List (Microsoft.OperationalInsights/workspaces): properties.workspaceCapping.dailyQuotaGb, "
    "properties.workspaceCapping.dataIngestionStatus",
    rule_ja="workspaceCapping.dailyQuotaGb が -1（上限なし）なら合格。上限があっても、そのワークスペースの ID が "
    "log_workspace_capped_allowed に載っていれば（運用者が承知の上で設定した上限として）合格。"
    "dataIngestionStatus が OverQuota（上限到達で取り込み停止中）なら常に不合格。dailyQuotaGb が読めない場合はエラー。",
    rule_en="Passes when workspaceCapping.dailyQuotaGb is -1 (no cap), or when the workspace's id is listed in "
    "log_workspace_capped_allowed (a cap set knowingly). A dataIngestionStatus of OverQuota (ingestion stopped "
    "for the day) always fails. An unreadable dailyQuotaGb is an error.",
    remediation_ja="ワークスペースの [使用量と推定コスト] > [日次上限] を無効にする"
    "（az monitor log-analytics workspace update --quota -1）。上限を残す場合は容量監視のアラートを設けたうえで "
    "thresholds.log_workspace_capped_allowed に記載する。",
    remediation_en="Turn the workspace's daily cap off (az monitor log-analytics workspace update --quota -1). To "
    "keep a cap, alert on ingestion nearing it and list the workspace in thresholds.log_workspace_capped_allowed.",
    thresholds=("log_workspace_capped_allowed",),
)
def log_workspace_no_daily_cap(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    allowed = {norm_id(w) for w in thresholds.log_workspace_capped_allowed}
    for ws in facts.of(FactKind.LOG_ANALYTICS_WORKSPACE):
        name = display_name(ws)
        capping = field(props(ws.content), "workspaceCapping")
        quota = field(capping, "dailyQuotaGb")
        status = field(capping, "dataIngestionStatus")
        if not isinstance(quota, int | float) or isinstance(quota, bool):
            yield errored(
                ws.resource_id,
                f"Log Analytics ワークスペース {name} の workspaceCapping.dailyQuotaGb {quota!r} を読めません",
                f"Log Analytics workspace {name} workspaceCapping.dailyQuotaGb {quota!r} is unreadable",
                ws,
            )
            continue
        shown = f"{quota:g}"
        if str(status or "").lower() == "overquota":
            yield failed(
                ws.resource_id,
                f"Log Analytics ワークスペース {name} は日次上限 {shown} GB に達し、dataIngestionStatus が OverQuota "
                "です（ログの取り込みが止まっています）",
                f"Log Analytics workspace {name} reached its daily cap of {shown} GB: dataIngestionStatus is "
                "OverQuota (logs are not being ingested)",
                ws,
            )
        elif quota < 0:
            yield passed(
                ws.resource_id,
                f"Log Analytics ワークスペース {name} の dailyQuotaGb は {shown} です（日次上限なし）",
                f"Log Analytics workspace {name} dailyQuotaGb is {shown} (no daily cap)",
                ws,
            )
        elif norm_id(ws.resource_id) in allowed:
            yield passed(
                ws.resource_id,
                f"Log Analytics ワークスペース {name} の日次上限 {shown} GB は log_workspace_capped_allowed で"
                f"承認されています（dataIngestionStatus {status}）",
                f"Log Analytics workspace {name} daily cap of {shown} GB is accepted in log_workspace_capped_allowed "
                f"(dataIngestionStatus {status})",
                ws,
            )
        else:
            yield failed(
                ws.resource_id,
                f"Log Analytics ワークスペース {name} の dailyQuotaGb が {shown} です（上限到達後はその日のログが"
                "取り込まれません。-1 か log_workspace_capped_allowed への記載が必要）",
                f"Log Analytics workspace {name} dailyQuotaGb is {shown} (logs are dropped for the rest of the day "
                "once it is reached; -1, or a listing in log_workspace_capped_allowed, required)",
                ws,
            )


# ---------------------------------------------------------------- delete locks

_LOCK_SUFFIX = re.compile(r"/providers/microsoft\.authorization/locks/[^/]+$", re.IGNORECASE)
_PROTECTING_LEVELS = ("cannotdelete", "readonly")


def lock_scope(lock_id: str) -> str:
    """Where a lock applies: its id without `/providers/Microsoft.Authorization/locks/{name}`."""
    return _LOCK_SUFFIX.sub("", lock_id.strip())


def _archives(facts: FactSet) -> dict[str, list[Evidence]]:
    """Storage accounts that keep logs: the storageAccountId of a diagnostic setting (a resource's or a
    subscription's) with an enabled log category, and the storageId of a flow log; each with the documents
    naming it."""
    out: dict[str, list[Evidence]] = {}
    named: set[tuple[str, str]] = set()  # (store, SHA-256): one resource's settings may name a store twice

    def add(target: Any, ev: Evidence) -> None:
        if isinstance(target, str) and target.strip():
            store = norm_id(target)
            if (store, ev.sha256) not in named:
                named.add((store, ev.sha256))
                out.setdefault(store, []).append(ev)

    for kind in (FactKind.DIAGNOSTIC_SETTINGS, SUBSCRIPTION_DIAGNOSTIC_SETTINGS):
        for doc in facts.each(kind):
            for setting in doc.content.get("value") or []:
                if any(
                    isinstance(log, dict) and log.get("enabled") is True
                    for log in field(setting, "properties", "logs") or []
                ):
                    add(props(setting).get("storageAccountId"), doc)
    for flow_log in facts.of(FactKind.FLOW_LOG):
        add(props(flow_log.content).get("storageId"), flow_log)
    return out


def _immutability(account: Evidence) -> tuple[str, int] | None:
    """The account-level immutability policy (state Locked / Unlocked, days) when one protects every blob version."""
    imm = field(props(account.content), "immutableStorageWithVersioning")
    state = field(imm, "immutabilityPolicy", "state")
    days = field(imm, "immutabilityPolicy", "immutabilityPeriodSinceCreationInDays")
    enabled = field(imm, "enabled") is True and str(state or "").lower() in ("locked", "unlocked")
    if enabled and isinstance(days, int) and not isinstance(days, bool) and days > 0:
        return str(state), days
    return None


@check(
    id="log-store-delete-locked",
    title_ja="ログの保管先（ワークスペース・ログ保管ストレージ）が削除ロックで守られている",
    title_en="Log stores (workspaces, log archive storage) are protected by a delete lock",
    judges=("microsoft.operationalinsights/workspaces", "microsoft.storage/storageaccounts"),
    reads=(
        FactKind.LOG_ANALYTICS_WORKSPACE,
        FactKind.STORAGE_ACCOUNT,
        MANAGEMENT_LOCK,
        FactKind.DIAGNOSTIC_SETTINGS,
        SUBSCRIPTION_DIAGNOSTIC_SETTINGS,
        FactKind.FLOW_LOG,
    ),
    api="Management Locks - List At Subscription Level (/subscriptions/{s}/providers/Microsoft.Authorization/locks, "
    "one call per subscription): id, properties.level; Workspaces - List; Storage Accounts - List: "
    "properties.immutableStorageWithVersioning.{enabled, immutabilityPolicy.state, "
    "immutabilityPolicy.immutabilityPeriodSinceCreationInDays}; which storage accounts keep logs from the "
    "diagnostic settings (properties.storageAccountId) and flow logs (properties.storageId) collected",
    rule_ja="すべての Log Analytics ワークスペースと、ログ保管用ストレージアカウント（診断設定の storageAccountId "
    "またはフローログの storageId になっているもの）について、その資源・リソースグループ・サブスクリプションの"
    "いずれかに CanNotDelete か ReadOnly の管理ロックがあれば合格。ストレージはアカウント単位の不変ストレージ"
    "（immutableStorageWithVersioning が有効で保持日数のあるポリシー）でも合格。ロックを収集できなかったときは"
    "エラー。コンテナー単位の不変ポリシーは読まない。",
    rule_en="For every Log Analytics workspace, and every storage account that keeps logs (the storageAccountId of a "
    "diagnostic setting or the storageId of a flow log), passes when a CanNotDelete or ReadOnly management lock "
    "sits on the resource, its resource group or its subscription. A storage account also passes with "
    "account-level immutable storage (immutableStorageWithVersioning enabled with a policy of some days). Locks "
    "that could not be collected are an error. Container-level immutability policies are not read.",
    remediation_ja="ワークスペースとログ保管ストレージ（またはそのリソースグループ）に削除ロックを設定する"
    "（az lock create --lock-type CanNotDelete）。ストレージはアカウント単位の不変ポリシーも検討する。",
    remediation_en="Put a CanNotDelete lock on the workspace and the log storage account, or on their resource "
    "group (az lock create --lock-type CanNotDelete); for storage consider an account-level immutability policy.",
)
def log_store_delete_locked(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    locks = facts.of(MANAGEMENT_LOCK)
    archives = _archives(facts)
    # Only the accounts that keep logs, read a subscription at a time: not every storage account of the run at once.
    accounts = {
        e.resource_id.lower(): e for e in facts.each(FactKind.STORAGE_ACCOUNT) if e.resource_id.lower() in archives
    }
    stores: list[tuple[str, str, str, Evidence | None, list[Evidence]]] = [
        (ws.resource_id, f"Log Analytics ワークスペース {display_name(ws)}",
         f"Log Analytics workspace {display_name(ws)}", ws, [])
        for ws in facts.of(FactKind.LOG_ANALYTICS_WORKSPACE)
    ]  # fmt: skip
    for sa_id, sources in archives.items():
        account = accounts.get(sa_id)
        rid = account.resource_id if account else sa_id
        name = display_name(account) if account else name_from_id(sa_id)
        stores.append(
            (rid, f"ログ保管ストレージアカウント {name}", f"log archive storage account {name}", account, sources)
        )
    for rid, ja, en, doc, sources in stores:
        if doc is None:
            err = error_covering(facts, [FactKind.STORAGE_ACCOUNT], rid)
            why_ja = f"収集に失敗: {err.code}" if err else "収集したストレージアカウントにありません"
            why_en = f"collection failed: {err.code}" if err else "not among the storage accounts collected"
            yield errored(
                rid,
                f"ログの送信先 {ja} を判定できません（{why_ja}）",
                f"{en}, a log destination, cannot be judged ({why_en})",
                sources,
            )
            continue
        err = error_covering(facts, [MANAGEMENT_LOCK], rid)
        if err is not None:
            yield errored(
                rid,
                f"{ja} の管理ロックを収集できませんでした（{err.code}）",
                f"{en} management locks could not be collected ({err.code})",
                doc,
                sources,
            )
            continue
        covering = [
            lk for lk in locks
            if is_within(rid, lock_scope(lk.resource_id))
            and str(props(lk.content).get("level") or "").lower() in _PROTECTING_LEVELS
        ]  # fmt: skip
        if covering:
            held = ", ".join(
                f"{display_name(lk)}（{props(lk.content).get('level')}, {lock_scope(lk.resource_id)}）"
                for lk in covering
            )
            held_en = ", ".join(
                f"{display_name(lk)} ({props(lk.content).get('level')} on {lock_scope(lk.resource_id)})"
                for lk in covering
            )
            yield passed(
                rid,
                f"{ja} は管理ロック {held} で削除から守られています",
                f"{en} is protected from deletion by management lock {held_en}",
                doc,
                covering,
                sources,
            )
            continue
        immutable = _immutability(doc) if doc.kind == FactKind.STORAGE_ACCOUNT else None
        if immutable:
            state, days = immutable
            yield passed(
                rid,
                f"{ja} はアカウント単位の不変ストレージ（{state}、作成後 {days} 日）で守られています",
                f"{en} is protected by account-level immutable storage ({state}, {days} days after creation)",
                doc,
                sources,
            )
            continue
        other = [lk for lk in locks if is_within(rid, lock_scope(lk.resource_id))]
        seen_ja = f"（削除を止めないロック: {', '.join(display_name(lk) for lk in other)}）" if other else ""
        seen_en = f" (locks that do not stop deletion: {', '.join(display_name(lk) for lk in other)})" if other else ""
        also_ja = "、不変ストレージもありません" if doc.kind == FactKind.STORAGE_ACCOUNT else ""
        also_en = ", nor immutable storage" if doc.kind == FactKind.STORAGE_ACCOUNT else ""
        yield failed(
            rid,
            f"{ja} には、資源・リソースグループ・サブスクリプションのどこにも CanNotDelete / ReadOnly の管理ロックが"
            f"ありません{also_ja}{seen_ja}",
            f"{en} has no CanNotDelete or ReadOnly management lock on itself, its resource group or its "
            f"subscription{also_en}{seen_en}",
            doc,
            sources,
        )
