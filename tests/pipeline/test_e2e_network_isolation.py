"""dev-prod-network-isolated, collected through the sandbox by the real SDK clients: subscription tags from
Subscriptions - List, VNets with their embedded peerings from Virtual Networks - List All."""

from controls.model import Status
from tests.estates import DEV, PROD, doc, estate, rid

PROD_VNET = rid("Microsoft.Network/virtualNetworks/vnet-prod", PROD, "rg-net")
DEV_VNET = rid("Microsoft.Network/virtualNetworks/vnet-dev", DEV, "rg-dev")
HUB_VNET = rid("Microsoft.Network/virtualNetworks/vnet-hub", PROD, "rg-net")


def peering(name: str, remote: str) -> dict:
    return {"name": name, "id": "", "type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
            "properties": {"peeringState": "Connected", "remoteVirtualNetwork": {"id": remote},
                           "allowVirtualNetworkAccess": True}}  # fmt: skip


def vnet(resource_id: str, prefix: str, *peerings: dict) -> dict:
    name = resource_id.rsplit("/", 1)[-1]
    sub, rg = resource_id.split("/")[2], resource_id.split("/")[4]
    for p in peerings:
        p["id"] = f"{resource_id}/virtualNetworkPeerings/{p['name']}"
    props = {"addressSpace": {"addressPrefixes": [prefix]}, "subnets": [], "virtualNetworkPeerings": list(peerings)}
    return doc(f"Microsoft.Network/virtualNetworks/{name}", props, subscription=sub, rg=rg)


def test_prod_vnets_peered_only_within_production_pass(judge):
    judged = judge(estate([
        vnet(PROD_VNET, "10.10.0.0/16", peering("to-hub", HUB_VNET)),
        vnet(HUB_VNET, "10.0.0.0/16", peering("to-prod", PROD_VNET)),
        vnet(DEV_VNET, "10.20.0.0/16"),
    ]))  # fmt: skip
    findings = judged.findings("dev-prod-network-isolated")
    # Only VNets in the production subscription are judged.
    assert {rid: f.status for rid, f in findings.items()} == {
        PROD_VNET.lower(): Status.PASS,
        HUB_VNET.lower(): Status.PASS,
    }
    assert "(tag environment=prod)" in findings[PROD_VNET.lower()].reason_en
    assert judged.verdict(67) == Status.PARTIAL


def test_prod_vnet_peered_with_dev_vnet_fails(judge):
    judged = judge(estate([
        vnet(PROD_VNET, "10.10.0.0/16", peering("peer-prod-to-dev", DEV_VNET)),
        vnet(DEV_VNET, "10.20.0.0/16", peering("peer-dev-to-prod", PROD_VNET)),
    ]))  # fmt: skip
    (finding,) = judged.findings("dev-prod-network-isolated").values()
    assert finding.status == Status.FAIL
    assert finding.reason_en == (
        f"virtual network vnet-prod in production subscription sub-1111 ({PROD}) (tag environment=prod): "
        f"peering peer-prod-to-dev (peeringState Connected) links it with virtual network vnet-dev in "
        f"non-production subscription sub-6666 ({DEV}) (tag environment=dev)"
    )
    assert judged.verdict(67) == Status.FAIL


def test_configured_production_list_and_a_peer_outside_the_visible_subscriptions(judge):
    elsewhere = "0f0e0d0c-0b0a-4909-8807-060504030201"
    remote = f"/subscriptions/{elsewhere}/resourceGroups/rg-x/providers/Microsoft.Network/virtualNetworks/vnet-x"
    est = estate([vnet(PROD_VNET, "10.10.0.0/16", peering("to-partner", remote))])
    # By tags, the peer's subscription cannot be read: an error, never a pass.
    (finding,) = judge(est).findings("dev-prod-network-isolated").values()
    assert finding.status == Status.ERROR and elsewhere in finding.reason_en
    # By a configured list, every subscription not on it is non-production.
    judged = judge(est, thresholds={"production_subscriptions": [PROD]})
    (finding,) = judged.findings("dev-prod-network-isolated").values()
    assert finding.status == Status.FAIL and "(not listed in production_subscriptions)" in finding.reason_en


def test_vnet_listing_refused_is_an_error(judge):
    est = estate(
        [vnet(PROD_VNET, "10.10.0.0/16")],
        faults=[{"kind": "forbidden", "subscription": PROD, "resourceType": "Microsoft.Network/virtualNetworks"}],
    )
    judged = judge(est)
    statuses = {f.status for f in judged.findings("dev-prod-network-isolated").values()}
    assert statuses == {Status.ERROR}
    assert judged.verdict(67) == Status.ERROR


def test_a_partial_run_of_virtual_networks_judges_the_check():
    from collector.pipeline import checks_for_kinds

    # The subscription list is collected first in every run, so a partial run of VNets alone can judge it.
    assert "dev-prod-network-isolated" in {c.id for c in checks_for_kinds(["virtual_network"])}
