"""Dev/prod separation: production virtual networks are not peered with non-production ones."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, field, name_from_id, props, subscription_of
from controls.model import Evidence, FactKind, FactSet, Thresholds

# Virtual networks as Virtual Networks - List All returns them, peerings embedded (collector.fetchers.network).
VIRTUAL_NETWORK = "virtual_network"


@dataclass(frozen=True)
class Environment:
    """How one subscription was classified, and on what basis (for the reason)."""

    production: bool
    name: str  # "EMR-Production (a8233bec-…)" or the bare id
    basis_ja: str
    basis_en: str
    evidence: Evidence | None


def _tag(tags: Any, key: str) -> str | None:
    """A tag's value; tag names compare case-insensitively in Azure."""
    if not isinstance(tags, dict):
        return None
    for k, v in tags.items():
        if str(k).lower() == key.lower():
            return str(v)
    return None


def classify(subscription_id: str, subscriptions: dict[str, Evidence], t: Thresholds) -> Environment | None:
    """Production or not by the configured rule; None when the rule needs the subscription's tags and its
    document was not collected."""
    doc = subscriptions.get(subscription_id.lower())
    shown = subscription_id
    if doc is not None and doc.content.get("displayName") and doc.content["displayName"] != subscription_id:
        shown = f"{doc.content['displayName']} ({subscription_id})"
    if t.production_subscriptions:
        listed = subscription_id.lower() in {s.strip().lower() for s in t.production_subscriptions}
        basis_ja = "production_subscriptions に記載" + ("" if listed else "なし")
        basis_en = ("" if listed else "not ") + "listed in production_subscriptions"
        return Environment(listed, shown, basis_ja, basis_en, doc)
    if doc is None:
        return None
    value = _tag(doc.content.get("tags"), t.environment_tag)
    key = t.environment_tag
    if value is None:
        return Environment(
            False,
            shown,
            f"タグ {key} がないため非本番として扱う",
            f"no {key} tag: treated as non-production",
            doc,
        )
    production = value.strip().lower() in {v.strip().lower() for v in t.production_tag_values}
    return Environment(production, shown, f"タグ {key}={value}", f"tag {key}={value}", doc)


def _subscription_guid(resource_id: str | None) -> str | None:
    sub = subscription_of(resource_id or "")
    return sub.split("/")[-1] if sub else None


@check(
    id="dev-prod-network-isolated",
    title_ja="本番の仮想ネットワークが非本番サブスクリプションの仮想ネットワークとピアリングされていない",
    title_en="Production virtual networks are not peered with non-production virtual networks",
    judges=("microsoft.network/virtualnetworks",),
    reads=(VIRTUAL_NETWORK, FactKind.SUBSCRIPTION),
    # A peering's target is classified by its subscription's document, read from the whole run.
    per_subscription=True,
    across=(FactKind.SUBSCRIPTION,),
    api="Virtual Networks - List All: properties.virtualNetworkPeerings[].properties.remoteVirtualNetwork.id, "
    "peeringState; Subscriptions - List: subscriptionId, displayName, tags",
    rule_ja="本番サブスクリプション（production_subscriptions に記載、記載がなければ environment_tag の値が "
    "production_tag_values のいずれか）にある仮想ネットワークごとに、どのピアリングの remoteVirtualNetwork.id も"
    "本番サブスクリプションにあれば合格、非本番サブスクリプションにあれば不合格。タグも記載もないサブスクリプションは"
    "非本番として扱う。ピアリング先のサブスクリプションを読めない（id がない、文書が収集されていない）ときはエラー。",
    rule_en="For each virtual network in a production subscription (listed in production_subscriptions, or, when "
    "that list is empty, whose environment_tag value is one of production_tag_values), passes when every "
    "peering's remoteVirtualNetwork.id is in a production subscription and fails when one is in a "
    "non-production subscription. A subscription with neither a listing nor the tag is non-production. A peering "
    "whose target subscription cannot be read (no id, or its subscription document was not collected) is an error.",
    remediation_ja="本番と開発・検証の仮想ネットワーク間のピアリングを削除し（az network vnet peering delete）、"
    "必要な連携は承認済みの経路（成果物のリリースパイプライン等）に限る。",
    remediation_en="Delete the peering between the production and the development or test virtual network "
    "(az network vnet peering delete); keep any needed exchange to an approved path such as a release pipeline.",
    thresholds=("production_subscriptions", "environment_tag", "production_tag_values"),
)
def dev_prod_network_isolated(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    subscriptions = {str(ev.content.get("subscriptionId", "")).lower(): ev for ev in facts.of(FactKind.SUBSCRIPTION)}
    for vnet in facts.of(VIRTUAL_NETWORK):
        name = display_name(vnet)
        sub_id = _subscription_guid(vnet.resource_id)
        own = classify(sub_id, subscriptions, thresholds) if sub_id else None
        if own is None:
            yield errored(
                vnet.resource_id,
                f"仮想ネットワーク {name} のサブスクリプション {sub_id} の文書が収集されておらず、"
                "本番かどうか判定できません",
                f"virtual network {name}: subscription {sub_id} was not collected, so whether it is production "
                "cannot be decided",
                vnet,
            )
            continue
        if not own.production:
            continue
        subject_ja = f"本番サブスクリプション {own.name}（{own.basis_ja}）の仮想ネットワーク {name}"
        subject_en = f"virtual network {name} in production subscription {own.name} ({own.basis_en})"
        peerings = props(vnet.content).get("virtualNetworkPeerings")
        if peerings is None:
            peerings = []
        if not isinstance(peerings, list):
            yield errored(
                vnet.resource_id,
                f"{subject_ja} の virtualNetworkPeerings を解釈できません",
                f"{subject_en}: virtualNetworkPeerings is not a list",
                vnet,
            )
            continue
        used: list[Evidence | None] = [vnet, own.evidence]
        crossing_ja: list[str] = []
        crossing_en: list[str] = []
        unreadable_ja: list[str] = []
        unreadable_en: list[str] = []
        for peering in peerings:
            pname = str(field(peering, "name") or "?")
            state = field(peering, "properties", "peeringState") or "?"
            remote = field(peering, "properties", "remoteVirtualNetwork", "id")
            remote_sub = _subscription_guid(remote if isinstance(remote, str) else None)
            target = classify(remote_sub, subscriptions, thresholds) if remote_sub else None
            if target is None:
                why_ja = (
                    "remoteVirtualNetwork.id がありません"
                    if not remote_sub
                    else f"ピアリング先のサブスクリプション {remote_sub} の文書が収集されていません"
                )
                why_en = (
                    "remoteVirtualNetwork.id is missing"
                    if not remote_sub
                    else f"the target's subscription {remote_sub} was not collected"
                )
                unreadable_ja.append(f"ピアリング {pname}: {why_ja}")
                unreadable_en.append(f"peering {pname}: {why_en}")
                continue
            used.append(target.evidence)
            if not target.production:
                rname = name_from_id(str(remote))
                crossing_ja.append(
                    f"ピアリング {pname}（peeringState {state}）で非本番サブスクリプション {target.name}"
                    f"（{target.basis_ja}）の仮想ネットワーク {rname} と接続"
                )
                crossing_en.append(
                    f"peering {pname} (peeringState {state}) links it with virtual network {rname} in "
                    f"non-production subscription {target.name} ({target.basis_en})"
                )
        if crossing_en:
            also_ja = f"。ほかに判定できないピアリング: {'; '.join(unreadable_ja)}" if unreadable_ja else ""
            also_en = f"; also unreadable: {'; '.join(unreadable_en)}" if unreadable_en else ""
            yield failed(
                vnet.resource_id,
                f"{subject_ja} が{'; '.join(crossing_ja)}しています{also_ja}",
                f"{subject_en}: {'; '.join(crossing_en)}{also_en}",
                *used,
            )
        elif unreadable_en:
            yield errored(
                vnet.resource_id,
                f"{subject_ja} のピアリング先を判定できません（{'; '.join(unreadable_ja)}）",
                f"{subject_en}: peering target cannot be read ({'; '.join(unreadable_en)})",
                *used,
            )
        elif peerings:
            yield passed(
                vnet.resource_id,
                f"{subject_ja} のピアリング {len(peerings)} 件はすべて本番サブスクリプションの仮想ネットワーク宛てです",
                f"{subject_en}: all {len(peerings)} peerings are with virtual networks in production subscriptions",
                *used,
            )
        else:
            yield passed(
                vnet.resource_id,
                f"{subject_ja} にピアリングはありません",
                f"{subject_en} has no peerings",
                *used,
            )
