"""Log Analytics workspaces: logs are kept at least as long as the threshold."""

from __future__ import annotations

from collections.abc import Iterator

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, field, props
from controls.model import FactKind, FactSet, Thresholds


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
