"""Flow logs: every NSG's traffic is recorded by an enabled flow log kept long enough."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import (
    display_name,
    error_covering,
    field,
    name_from_id,
    norm_id,
    props,
    subscription_of,
    vnet_of_subnet,
)
from controls.model import CollectionError, Evidence, FactKind, FactSet, Thresholds

# NIC documents (Network Interfaces - List All): a family of facts named by its plain kind string.
NETWORK_INTERFACE = "network_interface"


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
    reads=(FactKind.NSG, FactKind.FLOW_LOG, FactKind.NETWORK_WATCHER, NETWORK_INTERFACE),
    # An NSG and the NICs it is associated with share a subscription (Azure requires it); a flow log can be
    # created in another subscription's network watcher, so flow logs are read from the whole run.
    per_subscription=True,
    across=(FactKind.FLOW_LOG,),
    api="Network Security Groups - List All: id, properties.subnets[].id, properties.networkInterfaces[].id; "
    "Network Interfaces - List All: id, properties.ipConfigurations[].properties.subnet.id; "
    "Flow Logs - List (Microsoft.Network/networkWatchers/flowLogs): properties.targetResourceId, "
    "properties.enabled, properties.retentionPolicy.{days, enabled}",
    rule_ja="NSG 自体が有効なフローログの対象であるか、関連付けられたすべてのサブネット（そのサブネットか VNet）と"
    "すべての NIC（その NIC 自体、または NIC の各 IP 構成のサブネットかその VNet）が有効なフローログの対象で、"
    "保持期間が閾値以上なら合格。retentionPolicy が無効または days=0 は無期限保持として合格。"
    "NIC の文書が収集できず所属サブネットが分からない場合はエラー（合格にも不合格にもしない）。",
    rule_en="Passes when an enabled flow log targets the NSG itself, or every subnet it is associated with (via "
    "the subnet or its VNet) and every NIC it is attached to (via the NIC itself, or the subnet of each of the "
    "NIC's IP configurations or that subnet's VNet), and its retention meets the threshold. A disabled "
    "retention policy or 0 days means unlimited retention and passes. A NIC whose document was not collected "
    "(so its subnet is unknown) makes the NSG an error, neither a pass nor a fail.",
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

    nics = facts.by_id(NETWORK_INTERFACE)
    for nsg in facts.each(FactKind.NSG):  # scanned, not held: tens of thousands at 100,000 resources
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

        used: list[Evidence] = []
        uncovered: list[tuple[str, str]] = []
        unresolved: list[tuple[str, str]] = []  # NICs whose subnet is unknown: their document is missing
        subnet_ids = [sid for sid in (field(s, "id") for s in p.get("subnets") or []) if sid]
        nic_ids = [nid for nid in (field(n, "id") for n in p.get("networkInterfaces") or []) if nid]
        for sid in subnet_ids:
            hit = covering(sid, vnet_of_subnet(sid))
            if hit is None:
                uncovered.append((f"サブネット {name_from_id(sid)}", f"subnet {name_from_id(sid)}"))
            else:
                used.append(hit.log)
        for nid in nic_ids:
            nic_name = name_from_id(str(nid))
            hit = covering(nid)  # a flow log on the NIC itself
            if hit is not None:
                used.append(hit.log)
                continue
            nic = nics.get(norm_id(nid))
            if nic is None:  # its subnet is unknown: neither covered nor uncovered
                err = error_covering(facts, [NETWORK_INTERFACE], nid)
                why_ja = f"収集できませんでした（{err.code}）" if err else "収集されていません"
                why_en = f"could not be collected ({err.code})" if err else "was not collected"
                unresolved.append((f"NIC {nic_name} の文書を{why_ja}", f"NIC {nic_name} document {why_en}"))
                continue
            # The NIC's traffic is in the subnet (and VNet) of each of its IP configurations.
            configs = props(nic.content).get("ipConfigurations") or []
            nic_subnets = [s for s in (field(c, "properties", "subnet", "id") for c in configs) if s]
            hits = [covering(s, vnet_of_subnet(s)) for s in nic_subnets]
            if nic_subnets and all(hits):
                used.extend([*(h.log for h in hits if h), nic])
            else:
                uncovered.append((f"NIC {nic_name}", f"NIC {nic_name}"))
        attached = subnet_ids or nic_ids
        if attached and not uncovered and not unresolved:
            names = ", ".join(dict.fromkeys(name_from_id(e.resource_id) for e in used if e.kind == FactKind.FLOW_LOG))
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

        if unresolved and not uncovered:
            yield errored(
                nsg.resource_id,
                f"NSG {name} のフローログを判定できません（{'; '.join(u[0] for u in unresolved)}）",
                f"NSG {name} flow logs cannot be judged ({'; '.join(u[1] for u in unresolved)})",
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
            # Unknown NICs cannot turn an uncovered association into a pass; they are named all the same.
            parts_ja += [u[0] for u in unresolved]
            parts_en += [u[1] for u in unresolved]
        detail_ja, detail_en = "; ".join(parts_ja), "; ".join(parts_en)
        yield failed(
            nsg.resource_id,
            f"NSG {name} の通信がフローログで記録されていません: {detail_ja}",
            f"NSG {name} traffic is not recorded by a qualifying flow log: {detail_en}",
            nsg,
            (j.log for j in seen),
        )
