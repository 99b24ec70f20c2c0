"""Flow logs: every NSG's traffic is recorded by an enabled flow log kept long enough."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, field, name_from_id, norm_id, props, subscription_of, vnet_of_subnet
from controls.model import CollectionError, Evidence, FactKind, FactSet, Thresholds


@dataclass(frozen=True)
class _Judged:
    log: Evidence
    ok: bool
    why_ja: str  # what is wrong with it (empty when ok)
    why_en: str


def _judge_flow_log(log: Evidence, min_days: int) -> _Judged:
    name = display_name(log)
    p = props(log.content)
    if p.get("enabled") is not True:
        value = "未設定" if p.get("enabled") is None else str(p.get("enabled")).lower()
        value_en = "not set" if p.get("enabled") is None else str(p.get("enabled")).lower()
        return _Judged(log, False, f"フローログ {name} の enabled が {value}", f"flow log {name} enabled is {value_en}")
    policy = p.get("retentionPolicy")
    # No policy, a disabled policy, or 0 days: Azure deletes nothing, i.e. unlimited retention.
    if not isinstance(policy, dict) or policy.get("enabled") is not True:
        return _Judged(log, True, "", "")
    days = policy.get("days", 0)
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        return _Judged(
            log,
            False,
            f"フローログ {name} の retentionPolicy.days {days!r} を解釈できない",
            f"flow log {name} retentionPolicy.days {days!r} is unreadable",
        )
    if days == 0 or days >= min_days:
        return _Judged(log, True, "", "")
    return _Judged(
        log,
        False,
        f"フローログ {name} の retentionPolicy.days が {days}（{min_days} 日以上または 0 = 無期限が必要）",
        f"flow log {name} retentionPolicy.days is {days} ({min_days} or more, or 0 = unlimited, required)",
    )


def _flow_log_error(facts: FactSet, nsg_id: str) -> CollectionError | None:
    """A flow-log or network-watcher collection error in the NSG's subscription (flow logs live there)."""
    sub = (subscription_of(nsg_id) or "").lower()
    for err in facts.errors_for([FactKind.FLOW_LOG, FactKind.NETWORK_WATCHER]):
        if not err.scope.startswith("/") or (subscription_of(err.scope) or "").lower() == sub:
            return err
    return None


@check(
    id="nsg-flow-logs-enabled",
    title_ja="NSG の通信がフローログで記録・保持されている",
    title_en="NSG traffic is recorded by flow logs with sufficient retention",
    judges=("microsoft.network/networksecuritygroups",),
    reads=(FactKind.NSG, FactKind.FLOW_LOG, FactKind.NETWORK_WATCHER),
    api="Network Security Groups - List All: id, properties.subnets[].id, properties.networkInterfaces[].id; "
    "Flow Logs - List (Microsoft.Network/networkWatchers/flowLogs): properties.targetResourceId, "
    "properties.enabled, properties.retentionPolicy.{days, enabled}",
    rule_ja="NSG 自体、または関連付けられたすべてのサブネット（そのサブネットか VNet）と NIC が、有効な "
    "フローログの対象で、保持期間が閾値以上なら合格。retentionPolicy が無効または days=0 は無期限保持として合格。",
    rule_en="Passes when an enabled flow log targets the NSG itself, or every subnet (via the subnet or its "
    "VNet) and NIC it is associated with, and its retention meets the threshold. A disabled retention "
    "policy or 0 days means unlimited retention and passes.",
    remediation_ja="Network Watcher で NSG または VNet のフローログを有効にし、保持期間を閾値以上"
    "（または 0 = 無期限）に設定する。",
    remediation_en="Enable an NSG or VNet flow log in Network Watcher and set its retention to at least the "
    "threshold (or 0 for unlimited).",
    thresholds=("flow_log_retention_days",),
)
def nsg_flow_logs(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    min_days = thresholds.flow_log_retention_days
    by_target: dict[str, list[_Judged]] = {}
    for log in facts.of(FactKind.FLOW_LOG):
        target = norm_id(props(log.content).get("targetResourceId"))
        if target:
            by_target.setdefault(target, []).append(_judge_flow_log(log, min_days))

    for nsg in facts.of(FactKind.NSG):
        name = display_name(nsg)
        p = props(nsg.content)
        seen: list[_Judged] = []  # every flow log that was relevant to this NSG

        def covering(*targets: str | None, seen: list[_Judged] = seen) -> _Judged | None:
            """The first qualifying flow log on any of `targets`; remembers the others it saw."""
            found = None
            for t in targets:
                for judged in by_target.get(norm_id(t), []) if t else []:
                    if judged not in seen:
                        seen.append(judged)
                    if judged.ok and found is None:
                        found = judged
            return found

        direct = covering(nsg.resource_id)
        if direct is not None:
            yield passed(
                nsg.resource_id,
                f"NSG {name} はフローログ {name_from_id(direct.log.resource_id)} で記録されています",
                f"NSG {name} is recorded by flow log {name_from_id(direct.log.resource_id)}",
                nsg,
                direct.log,
            )
            continue

        attached = [
            *(
                (("サブネット", "subnet"), sid, vnet_of_subnet(sid))
                for sid in (field(s, "id") for s in p.get("subnets") or [])
                if sid
            ),
            *((("NIC", "NIC"), nid, None) for nid in (field(n, "id") for n in p.get("networkInterfaces") or []) if nid),
        ]
        used: list[Evidence] = []
        uncovered: list[tuple[str, str]] = []
        for label, point, vnet in attached:
            hit = covering(point, vnet)
            if hit is None:
                point_name = name_from_id(str(point))
                uncovered.append((f"{label[0]} {point_name}", f"{label[1]} {point_name}"))
            else:
                used.append(hit.log)
        if attached and not uncovered:
            names = ", ".join(dict.fromkeys(name_from_id(e.resource_id) for e in used))
            yield passed(
                nsg.resource_id,
                f"NSG {name} の関連付け先（サブネット/VNet/NIC）はすべてフローログ {names} で記録されています",
                f"NSG {name} is recorded through flow logs {names} on all its subnets/VNets/NICs",
                nsg,
                used,
            )
            continue

        err = _flow_log_error(facts, nsg.resource_id)
        if err is not None:
            yield errored(
                nsg.resource_id,
                f"NSG {name} のフローログを判定できません（フローログの収集に失敗: {err.code}）",
                f"NSG {name} flow logs cannot be judged (flow log collection failed: {err.code})",
                nsg,
                (j.log for j in seen),
            )
            continue

        parts_ja = [j.why_ja for j in seen if not j.ok]
        parts_en = [j.why_en for j in seen if not j.ok]
        if not attached:
            parts_ja.append("NSG に有効なフローログがなく、サブネットにも NIC にも関連付けられていません")
            parts_en.append("the NSG has no qualifying flow log and is associated with no subnet or NIC")
        else:
            where_ja = ", ".join(u[0] for u in uncovered)
            where_en = ", ".join(u[1] for u in uncovered)
            parts_ja.append(f"NSG にも関連付け先 {where_ja} にも有効なフローログがありません")
            parts_en.append(f"no qualifying flow log on the NSG or on its associated {where_en}")
        detail_ja, detail_en = "; ".join(parts_ja), "; ".join(parts_en)
        yield failed(
            nsg.resource_id,
            f"NSG {name} の通信がフローログで記録されていません: {detail_ja}",
            f"NSG {name} traffic is not recorded by a qualifying flow log: {detail_en}",
            nsg,
            (j.log for j in seen),
        )
