"""dev-prod-network-isolated: production VNets peered only within production subscriptions."""

from dataclasses import replace
from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.model import Evidence, FactKind, FactSet, Status, Thresholds

PROD = "a8233bec-16ce-49d8-af36-5decabf6c438"
DEV = "91142ddd-0943-48c0-91d5-e66f9c050145"
STG = "3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def ev(kind: str, doc: dict, scope: str = "tenant") -> Evidence:
    return Evidence(kind, "test", scope, doc["id"], "2024-05-01", None, datetime(2026, 3, 31, tzinfo=UTC), doc)


def sub(sid: str, name: str, tags: dict | None = None) -> Evidence:
    doc = {"id": f"/subscriptions/{sid}", "subscriptionId": sid, "displayName": name, "state": "Enabled"}
    if tags is not None:
        doc["tags"] = tags
    return ev(FactKind.SUBSCRIPTION, doc)


def vnet_id(sid: str, name: str) -> str:
    return f"/subscriptions/{sid}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/{name}"


def vnet(sid: str, name: str, *remotes: str | None) -> Evidence:
    peerings = []
    for n, remote in enumerate(remotes):
        p = {"name": f"peer-{n}", "properties": {"peeringState": "Connected"}}
        if remote is not None:
            p["properties"]["remoteVirtualNetwork"] = {"id": remote}
        peerings.append(p)
    props = {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "virtualNetworkPeerings": peerings}
    doc = {"id": vnet_id(sid, name), "name": name, "type": "Microsoft.Network/virtualNetworks", "properties": props}
    return ev("virtual_network", doc, f"/subscriptions/{sid}")


SUBS = [sub(PROD, "EMR-Production", {"environment": "prod"}), sub(DEV, "EMR-Development", {"Environment": "dev"})]


def run(*evidence: Evidence, thresholds: Thresholds | None = None) -> list:
    return CHECKS_BY_ID["dev-prod-network-isolated"].evaluate(FactSet(list(evidence)), thresholds or Thresholds())


def test_prod_vnet_peered_with_dev_vnet_fails_naming_both_vnets_and_subscriptions():
    prod = vnet(PROD, "vnet-prod", vnet_id(DEV, "vnet-dev"))
    [f] = run(*SUBS, prod, vnet(DEV, "vnet-dev", vnet_id(PROD, "vnet-prod")))
    assert f.status == Status.FAIL
    assert f.resource_id == prod.resource_id
    assert f.reason_en == (
        f"virtual network vnet-prod in production subscription EMR-Production ({PROD}) (tag environment=prod): "
        f"peering peer-0 (peeringState Connected) links it with virtual network vnet-dev in non-production "
        f"subscription EMR-Development ({DEV}) (tag environment=dev)"
    )
    assert "vnet-dev" in f.reason_ja and "EMR-Development" in f.reason_ja and "非本番" in f.reason_ja
    assert set(f.evidence) == {prod.sha256, SUBS[0].sha256, SUBS[1].sha256}


def test_dev_vnets_are_not_judged_and_prod_peerings_within_production_pass():
    other_prod = sub(STG, "EMR-DR", {"environment": "Production"})
    prod = vnet(PROD, "vnet-prod", vnet_id(PROD, "vnet-hub"), vnet_id(STG, "vnet-dr"))
    findings = run(*SUBS, other_prod, prod, vnet(DEV, "vnet-dev"))
    assert [(f.resource_id, f.status) for f in findings] == [(prod.resource_id, Status.PASS)]
    assert "all 2 peerings are with virtual networks in production subscriptions" in findings[0].reason_en
    [alone] = run(*SUBS, vnet(PROD, "vnet-alone"))
    assert alone.status == Status.PASS and alone.reason_en.endswith("has no peerings")


def test_untagged_subscription_is_non_production_and_the_reason_says_so():
    untagged = sub(STG, "Sandbox")
    [f] = run(*SUBS, untagged, vnet(PROD, "vnet-prod", vnet_id(STG, "vnet-sbx")))
    assert f.status == Status.FAIL
    assert "no environment tag: treated as non-production" in f.reason_en
    assert "タグ environment がないため非本番として扱う" in f.reason_ja


def test_peering_target_that_cannot_be_read_is_an_error():
    unknown = "0f0e0d0c-0b0a-4909-8807-060504030201"
    [f] = run(*SUBS, vnet(PROD, "vnet-prod", vnet_id(unknown, "vnet-x")))
    assert f.status == Status.ERROR and f"the target's subscription {unknown} was not collected" in f.reason_en
    [g] = run(*SUBS, vnet(PROD, "vnet-prod", None))
    assert g.status == Status.ERROR and "remoteVirtualNetwork.id is missing" in g.reason_en
    # A known crossing still fails, naming what could not be read.
    [h] = run(*SUBS, vnet(PROD, "vnet-prod", None, vnet_id(DEV, "vnet-dev")))
    assert h.status == Status.FAIL and "also unreadable" in h.reason_en


def test_subscription_list_overrides_tags():
    t = replace(Thresholds(), production_subscriptions=(DEV.upper(),))
    # DEV is now production by the list, PROD is not (tags no longer count).
    prod, dev = vnet(PROD, "vnet-prod", vnet_id(DEV, "vnet-dev")), vnet(DEV, "vnet-dev", vnet_id(PROD, "vnet-prod"))
    [f] = run(*SUBS, prod, dev, thresholds=t)
    assert f.resource_id == vnet_id(DEV, "vnet-dev") and f.status == Status.FAIL
    assert "(listed in production_subscriptions)" in f.reason_en
    assert "(not listed in production_subscriptions)" in f.reason_en
    # With the list, an uncollected target subscription is still classified (not listed: non-production).
    [g] = run(vnet(DEV, "vnet-dev", vnet_id(STG, "vnet-x")), thresholds=t)
    assert g.status == Status.FAIL and STG in g.reason_en


def test_tag_values_and_name_are_configurable():
    t = replace(Thresholds(), environment_tag="stage", production_tag_values=("live",))
    subs = [sub(PROD, "P", {"Stage": "LIVE"}), sub(DEV, "D", {"stage": "dev"})]
    [f] = run(*subs, vnet(PROD, "vnet-prod", vnet_id(DEV, "vnet-dev")), thresholds=t)
    assert f.status == Status.FAIL and "tag stage=LIVE" in f.reason_en and "tag stage=dev" in f.reason_en


def test_vnet_whose_own_subscription_was_not_collected_is_an_error():
    [f] = run(vnet(PROD, "vnet-prod"))
    assert f.status == Status.ERROR and f"subscription {PROD} was not collected" in f.reason_en
