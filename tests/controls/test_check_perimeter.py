"""Perimeter and exposure: subnets and VMs behind NSGs, no public IPs, private address space, egress through a
firewall, management through Azure Bastion or just-in-time access."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactKind, FactSet, Status, Thresholds

PROD = "a8233bec-16ce-49d8-af36-5decabf6c438"
DEV = "91142ddd-0943-48c0-91d5-e66f9c050145"
AT = datetime(2026, 11, 22, tzinfo=UTC)


def rid(path: str, sub: str = PROD, rg: str = "rg-net") -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{path}"


def ev(kind: str, doc: dict, scope: str = f"/subscriptions/{PROD}") -> Evidence:
    return Evidence(kind, "test", scope, doc["id"], "2024-05-01", None, AT, doc)


def subscription(sid: str, env: str) -> Evidence:
    doc = {
        "id": f"/subscriptions/{sid}",
        "subscriptionId": sid,
        "displayName": f"sub-{env}",
        "tags": {"environment": env},
    }
    return ev(FactKind.SUBSCRIPTION, doc, "tenant")


SUBS = [subscription(PROD, "prod"), subscription(DEV, "dev")]


def subnet(vnet_id: str, name: str, nsg: str | None = None, table: str | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"addressPrefix": "10.0.1.0/24"}
    if nsg:
        p["networkSecurityGroup"] = {"id": rid(f"Microsoft.Network/networkSecurityGroups/{nsg}")}
    if table:
        p["routeTable"] = {"id": rid(f"Microsoft.Network/routeTables/{table}")}
    return {"name": name, "id": f"{vnet_id}/subnets/{name}", "properties": p}


def vnet(
    name: str, subnets: list | None, *, sub: str = PROD, prefixes: list | None = None, peers: tuple[str, ...] = ()
) -> Evidence:
    vid = rid(f"Microsoft.Network/virtualNetworks/{name}", sub)
    props: dict[str, Any] = {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"] if prefixes is None else prefixes}}
    if subnets is not None:
        props["subnets"] = [subnet(vid, *s) if isinstance(s, tuple) else s for s in subnets]
    props["virtualNetworkPeerings"] = [
        {"name": f"p{i}", "properties": {"peeringState": "Connected", "remoteVirtualNetwork": {"id": p}}}
        for i, p in enumerate(peers)
    ]
    return ev(
        "virtual_network",
        {"id": vid, "name": name, "type": "Microsoft.Network/virtualNetworks", "properties": props},
        f"/subscriptions/{sub}",
    )


def vnet_id(name: str, sub: str = PROD) -> str:
    return rid(f"Microsoft.Network/virtualNetworks/{name}", sub)


def vm(name: str, sub: str = PROD) -> Evidence:
    doc = {
        "id": rid(f"Microsoft.Compute/virtualMachines/{name}", sub, "rg-ops"),
        "name": name,
        "type": "Microsoft.Compute/virtualMachines",
        "location": "japaneast",
    }
    return ev(FactKind.RESOURCE, doc, f"/subscriptions/{sub}")


def nic(
    name: str, machine: Evidence | None, subnet_id: str, *, nsg: str | None = None, pip: str | None = None
) -> Evidence:
    cfg: dict[str, Any] = {"subnet": {"id": subnet_id}, "privateIPAddress": "10.0.1.4"}
    if pip:
        cfg["publicIPAddress"] = {"id": rid(f"Microsoft.Network/publicIPAddresses/{pip}", rg="rg-ops")}
    props: dict[str, Any] = {"ipConfigurations": [{"name": "ipconfig1", "properties": cfg}]}
    if machine is not None:
        props["virtualMachine"] = {"id": machine.resource_id}
    if nsg:
        props["networkSecurityGroup"] = {"id": rid(f"Microsoft.Network/networkSecurityGroups/{nsg}")}
    doc = {"id": rid(f"Microsoft.Network/networkInterfaces/{name}", rg="rg-ops"), "name": name, "properties": props}
    return ev("network_interface", doc)


def route_table(name: str, *routes: tuple[str, str]) -> Evidence:
    tid = rid(f"Microsoft.Network/routeTables/{name}")
    body = [
        {
            "name": f"r{i}",
            "properties": {
                "addressPrefix": prefix,
                "nextHopType": hop,
                **({"nextHopIpAddress": "10.0.0.4"} if hop == "VirtualAppliance" else {}),
            },
        }
        for i, (prefix, hop) in enumerate(routes)
    ]
    return ev("route_table", {"id": tid, "name": name, "properties": {"routes": body}})


def bastion(name: str, vnet_name: str, sku: str = "Standard") -> Evidence:
    bid = rid(f"Microsoft.Network/bastionHosts/{name}")
    cfg = {"name": "IpConf", "properties": {"subnet": {"id": f"{vnet_id(vnet_name)}/subnets/AzureBastionSubnet"}}}
    return ev(
        "bastion_host", {"id": bid, "name": name, "sku": {"name": sku}, "properties": {"ipConfigurations": [cfg]}}
    )


def jit(*machines: Evidence) -> Evidence:
    pid = rid("Microsoft.Security/locations/japaneast/jitNetworkAccessPolicies/default", rg="rg-ops")
    vms = [{"id": m.resource_id, "ports": [{"number": 22}, {"number": 3389}]} for m in machines]
    return ev("jit_network_access_policy", {"id": pid, "name": "default", "properties": {"virtualMachines": vms}})


def run(check_id: str, *evidence: Evidence, thresholds: Thresholds | None = None, errors=()) -> list:
    facts = FactSet(list(evidence), list(errors))
    return CHECKS_BY_ID[check_id].evaluate(facts, thresholds or Thresholds())


def forbidden(kind: str, sub: str = PROD) -> CollectionError:
    return CollectionError(
        kind=kind,
        source="test",
        scope=f"/subscriptions/{sub}",
        code="AuthorizationFailed",
        message="denied",
        status_code=403,
        request_id=None,
        occurred_at=AT,
    )


# ---------------------------------------------------------------- subnet-nsg-attached


def test_subnet_without_nsg_fails_and_platform_subnets_are_exempt():
    bad = vnet("vnet-a", [("snet-app", "nsg-app"), ("snet-data", None), ("GatewaySubnet",), ("AzureBastionSubnet",)])
    [f] = run("subnet-nsg-attached", bad)
    assert f.status == Status.FAIL and f.resource_id == bad.resource_id
    assert "subnet(s) snet-data have no network security group" in f.reason_en
    assert "platform subnets GatewaySubnet, AzureBastionSubnet are exempt" in f.reason_en
    assert "snet-data" in f.reason_ja and "NSG" in f.reason_ja
    good = vnet("vnet-b", [("snet-app", "nsg-app"), ("AzureFirewallSubnet",)])
    [g] = run("subnet-nsg-attached", good)
    assert g.status == Status.PASS and "all 1 subnet(s) have a network security group" in g.reason_en
    [e] = run("subnet-nsg-attached", vnet("vnet-c", []))
    assert e.status == Status.PASS and "has no subnet that needs" in e.reason_en


def test_subnets_missing_from_the_document_is_an_error():
    [f] = run("subnet-nsg-attached", vnet("vnet-a", None))
    assert f.status == Status.ERROR and "properties.subnets is missing" in f.reason_en


# ---------------------------------------------------------------- vm-nsg-covered


def test_vm_filtered_by_its_nic_or_its_subnet_passes_and_neither_fails():
    net = vnet("vnet-a", [("snet-app", "nsg-app"), ("snet-bare", None)])
    by_subnet, by_nic, bare = vm("vm-1"), vm("vm-2"), vm("vm-3")
    evidence = [
        net,
        by_subnet,
        by_nic,
        bare,
        nic("nic-1", by_subnet, f"{net.resource_id}/subnets/snet-app"),
        nic("nic-2", by_nic, f"{net.resource_id}/subnets/snet-bare", nsg="nsg-nic"),
        nic("nic-3", bare, f"{net.resource_id}/subnets/snet-bare"),
        nic("nic-pe", None, f"{net.resource_id}/subnets/snet-bare"),  # a private endpoint's NIC: not a VM's
    ]
    found = {f.resource_id: f for f in run("vm-nsg-covered", *evidence)}
    assert {r: f.status for r, f in found.items()} == {
        by_subnet.resource_id: Status.PASS,
        by_nic.resource_id: Status.PASS,
        bare.resource_id: Status.FAIL,
    }
    assert "subnet NSG nsg-app" in found[by_subnet.resource_id].reason_en
    assert "NIC nic-3 ipconfig1 (subnet snet-bare) has no network security group" in found[bare.resource_id].reason_en


def test_vm_without_nic_or_with_unknown_subnet_is_an_error():
    machine = vm("vm-1")
    [f] = run("vm-nsg-covered", machine, errors=[forbidden("network_interface")])
    assert f.status == Status.ERROR and "AuthorizationFailed" in f.reason_en
    unknown = nic("nic-1", machine, vnet_id("vnet-gone") + "/subnets/snet-x")
    [g] = run("vm-nsg-covered", machine, unknown)
    assert g.status == Status.ERROR and "snet-x not found among the virtual networks read" in g.reason_en


# ---------------------------------------------------------------- vm-no-public-ip


def test_public_ip_fails_unless_the_vm_is_allow_listed():
    machine, other = vm("vm-jump"), vm("vm-batch")
    sid = vnet_id("vnet-a") + "/subnets/snet-app"
    evidence = [machine, other, nic("nic-jump", machine, sid, pip="pip-jump"), nic("nic-batch", other, sid)]
    found = {f.resource_id: f for f in run("vm-no-public-ip", *evidence)}
    assert found[other.resource_id].status == Status.PASS
    bad = found[machine.resource_id]
    assert bad.status == Status.FAIL
    assert bad.reason_en == (
        "virtual machine vm-jump has a public IP address (NIC nic-jump ipconfig1: pip-jump; not allowed for a VM "
        "missing from public_ip_allowed_vms)"
    )
    for entry in ("VM-JUMP", machine.resource_id.upper()):
        t = replace(Thresholds(), public_ip_allowed_vms=(entry,))
        allowed = {f.resource_id: f for f in run("vm-no-public-ip", *evidence, thresholds=t)}[machine.resource_id]
        assert allowed.status == Status.PASS and f"allowed as {entry} in public_ip_allowed_vms" in allowed.reason_en
    [e] = run("vm-no-public-ip", machine)
    assert e.status == Status.ERROR


# ---------------------------------------------------------------- vnet-private-address-space


def test_public_address_space_fails_private_and_shared_space_pass():
    [ok] = run("vnet-private-address-space", vnet("v1", [], prefixes=["10.10.0.0/16", "100.64.0.0/24", "fd00::/48"]))
    assert ok.status == Status.PASS
    [bad] = run("vnet-private-address-space", vnet("v2", [], prefixes=["10.0.0.0/16", "20.0.0.0/16", "172.32.0.0/16"]))
    assert bad.status == Status.FAIL and "address space 20.0.0.0/16, 172.32.0.0/16 is outside" in bad.reason_en
    [err] = run("vnet-private-address-space", vnet("v3", [], prefixes=["10.0.0.0/16", "not-a-prefix"]))
    assert err.status == Status.ERROR and "not-a-prefix" in err.reason_en
    [none] = run("vnet-private-address-space", vnet("v4", [], prefixes=[]))
    assert none.status == Status.ERROR


# ---------------------------------------------------------------- egress-through-firewall


def test_production_subnets_must_route_the_default_route_to_an_appliance():
    fw = route_table("rt-fw", ("10.20.0.0/16", "VnetLocal"), ("0.0.0.0/0", "VirtualAppliance"))
    direct = route_table("rt-direct", ("0.0.0.0/0", "Internet"))
    partial = route_table("rt-partial", ("10.20.0.0/16", "VirtualAppliance"))
    good = vnet("vnet-good", [("snet-app", "nsg", "rt-fw"), ("AzureFirewallSubnet",)])
    bad = vnet(
        "vnet-bad",
        [
            ("snet-a", "nsg", "rt-fw"),
            ("snet-b", "nsg"),
            ("snet-c", "nsg", "rt-direct"),
            ("snet-d", "nsg", "rt-partial"),
        ],
    )
    dev = vnet("vnet-dev", [("snet-x", "nsg")], sub=DEV)
    found = {f.resource_id: f for f in run("egress-through-firewall", *SUBS, fw, direct, partial, good, bad, dev)}
    assert set(found) == {good.resource_id, bad.resource_id}  # development VNets are out of scope
    assert found[good.resource_id].status == Status.PASS
    assert "snet-app → VirtualAppliance 10.0.0.4" in found[good.resource_id].reason_en
    f = found[bad.resource_id]
    assert f.status == Status.FAIL
    assert "snet-b (no route table: 0.0.0.0/0 goes straight to the Internet by default)" in f.reason_en
    assert "snet-c (route table rt-direct sends 0.0.0.0/0 to nextHopType Internet)" in f.reason_en
    assert "snet-d (route table rt-partial has no 0.0.0.0/0 route)" in f.reason_en
    assert "snet-a" not in f.reason_en.split("send Internet-bound")[0].split(":", 1)[1]
    assert "(tag environment=prod)" in f.reason_en


def test_egress_scope_all_judges_every_vnet_and_unread_route_tables_are_errors():
    dev = vnet("vnet-dev", [("snet-x", "nsg", "rt-missing")], sub=DEV)
    t = replace(Thresholds(), egress_firewall_scope="all")
    [f] = run("egress-through-firewall", dev, thresholds=t)
    assert f.status == Status.ERROR and "route table rt-missing not found among those listed" in f.reason_en
    [g] = run("egress-through-firewall", dev, thresholds=t, errors=[forbidden("route_table")])  # the table is in PROD
    assert g.status == Status.ERROR and "could not be listed: AuthorizationFailed" in g.reason_en
    # Without the subscription list the production rule cannot be applied.
    [h] = run("egress-through-firewall", vnet("vnet-p", [("snet-a", "nsg")]))
    assert h.status == Status.ERROR and "was not collected" in h.reason_en


def test_forced_tunnel_and_dropped_default_route_pass():
    tunnel = route_table("rt-tunnel", ("0.0.0.0/0", "VirtualNetworkGateway"))
    drop = route_table("rt-drop", ("0.0.0.0/0", "None"))
    net = vnet("vnet-a", [("snet-a", "nsg", "rt-tunnel"), ("snet-b", "nsg", "rt-drop")])
    [f] = run("egress-through-firewall", *SUBS, tunnel, drop, net)
    assert f.status == Status.PASS and "VirtualNetworkGateway" in f.reason_en and "snet-b → None" in f.reason_en


# ---------------------------------------------------------------- management-access-via-bastion-or-jit


def test_bastion_in_the_vnet_or_a_peered_hub_or_jit_passes():
    spoke = vnet("vnet-spoke", [("snet-app", "nsg")], peers=(vnet_id("vnet-hub"),))
    hub = vnet("vnet-hub", [("AzureBastionSubnet",)])
    lonely = vnet("vnet-lonely", [("snet-app", "nsg")])
    in_spoke, in_hub, with_jit, alone = vm("vm-spoke"), vm("vm-hub"), vm("vm-jit"), vm("vm-alone")
    evidence = [
        spoke,
        hub,
        lonely,
        bastion("bas-hub", "vnet-hub"),
        jit(with_jit),
        in_spoke,
        nic("nic-spoke", in_spoke, f"{spoke.resource_id}/subnets/snet-app"),
        in_hub,
        nic("nic-hub", in_hub, f"{hub.resource_id}/subnets/snet-vm"),
        with_jit,
        nic("nic-jit", with_jit, f"{lonely.resource_id}/subnets/snet-app", pip="pip-jit"),
        alone,
        nic("nic-alone", alone, f"{lonely.resource_id}/subnets/snet-app"),
    ]
    found = {f.resource_id: f for f in run("management-access-via-bastion-or-jit", *evidence)}
    assert found[in_spoke.resource_id].status == Status.PASS
    assert "reachable through Azure Bastion bas-hub (Standard, vnet-hub)" in found[in_spoke.resource_id].reason_en
    assert found[in_hub.resource_id].status == Status.PASS
    assert found[with_jit.resource_id].status == Status.PASS
    assert "just-in-time policy default (ports 22, 3389)" in found[with_jit.resource_id].reason_en
    assert found[alone.resource_id].status == Status.FAIL
    assert "no Azure Bastion in its virtual network vnet-lonely" in found[alone.resource_id].reason_en


def test_public_ip_beside_a_bastion_fails_and_a_developer_bastion_does_not_reach_peers():
    spoke = vnet("vnet-spoke", [("snet-app", "nsg")], peers=(vnet_id("vnet-hub"),))
    hub = vnet("vnet-hub", [("AzureBastionSubnet",)])
    jump, peered = vm("vm-jump"), vm("vm-peered")
    evidence = [
        spoke,
        hub,
        jump,
        peered,
        nic("nic-jump", jump, f"{hub.resource_id}/subnets/snet-mgmt", pip="pip-jump"),
        nic("nic-peered", peered, f"{spoke.resource_id}/subnets/snet-app"),
    ]
    found = {
        f.resource_id: f
        for f in run("management-access-via-bastion-or-jit", *evidence, bastion("bas-hub", "vnet-hub", sku="Developer"))
    }
    assert found[jump.resource_id].status == Status.FAIL
    assert "reachable directly on its public IP (NIC nic-jump ipconfig1: pip-jump) even with Azure Bastion" in (
        found[jump.resource_id].reason_en
    )
    assert found[peered.resource_id].status == Status.FAIL  # the Developer SKU serves its own VNet only


def test_unreadable_bastions_or_jit_policies_are_errors_not_failures():
    net = vnet("vnet-a", [("snet-app", "nsg")])
    machine = vm("vm-1")
    evidence = [net, machine, nic("nic-1", machine, f"{net.resource_id}/subnets/snet-app")]
    for kind in ("bastion_host", "jit_network_access_policy", "virtual_network"):
        [f] = run("management-access-via-bastion-or-jit", *evidence, errors=[forbidden(kind)])
        assert f.status == Status.ERROR and f"{kind} could not be listed (AuthorizationFailed)" in f.reason_en
    # A JIT policy that was read still decides, whatever else failed.
    [g] = run("management-access-via-bastion-or-jit", *evidence, jit(machine), errors=[forbidden("bastion_host")])
    assert g.status == Status.PASS
