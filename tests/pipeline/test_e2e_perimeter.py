"""Perimeter and exposure, collected through the sandbox by the real SDK clients: VNets (subnets, peerings),
NICs, route tables, Azure Bastion hosts, Defender for Cloud JIT policies, and VMs from the inventory."""

from controls.model import Status
from tests.estates import DEV, PROD, doc, estate, rid

PERIMETER = (
    "subnet-nsg-attached",
    "vm-nsg-covered",
    "vm-no-public-ip",
    "vnet-private-address-space",
    "egress-through-firewall",
    "management-access-via-bastion-or-jit",
)


def vnet(
    name: str,
    prefix: str,
    subnets: list[tuple[str, str | None, str | None]],
    *,
    sub: str = PROD,
    peers: tuple[str, ...] = (),
) -> dict:
    vid = rid(f"Microsoft.Network/virtualNetworks/{name}", sub)
    body = []
    for sname, nsg, table in subnets:
        p: dict = {"addressPrefix": prefix.replace("0.0/16", "1.0/24")}
        if nsg:
            p["networkSecurityGroup"] = {"id": rid(f"Microsoft.Network/networkSecurityGroups/{nsg}", sub)}
        if table:
            p["routeTable"] = {"id": rid(f"Microsoft.Network/routeTables/{table}", sub)}
        body.append(
            {
                "name": sname,
                "id": f"{vid}/subnets/{sname}",
                "type": "Microsoft.Network/virtualNetworks/subnets",
                "properties": p,
            }
        )
    peerings = [
        {
            "name": f"to-{p.rsplit('/', 1)[-1]}",
            "id": f"{vid}/virtualNetworkPeerings/to-{p.rsplit('/', 1)[-1]}",
            "properties": {"peeringState": "Connected", "remoteVirtualNetwork": {"id": p}},
        }
        for p in peers
    ]
    props = {"addressSpace": {"addressPrefixes": [prefix]}, "subnets": body, "virtualNetworkPeerings": peerings}
    return doc(f"Microsoft.Network/virtualNetworks/{name}", props, subscription=sub)


def route_table(name: str, hop: str, *, sub: str = PROD) -> dict:
    route = {
        "name": "default",
        "properties": {
            "addressPrefix": "0.0.0.0/0",
            "nextHopType": hop,
            **({"nextHopIpAddress": "10.0.0.4"} if hop == "VirtualAppliance" else {}),
        },
    }
    return doc(f"Microsoft.Network/routeTables/{name}", {"routes": [route]}, subscription=sub)


def machine(name: str, subnet_id: str, *, sub: str = PROD, pip: bool = False) -> list[dict]:
    vm = doc(f"Microsoft.Compute/virtualMachines/{name}", {}, subscription=sub)
    cfg: dict = {"privateIPAddress": "10.0.1.4", "subnet": {"id": subnet_id}}
    if pip:
        cfg["publicIPAddress"] = {"id": rid(f"Microsoft.Network/publicIPAddresses/pip-{name}", sub)}
    nic_id = rid(f"Microsoft.Network/networkInterfaces/nic-{name}", sub)
    nic = doc(
        f"Microsoft.Network/networkInterfaces/nic-{name}",
        {
            "ipConfigurations": [
                {"name": "ipconfig1", "id": f"{nic_id}/ipConfigurations/ipconfig1", "properties": cfg}
            ],
            "virtualMachine": {"id": vm["id"]},
        },
        subscription=sub,
    )
    return [vm, nic]


def bastion(name: str, vnet_id: str) -> dict:
    cfg = {"name": "IpConf", "properties": {"subnet": {"id": f"{vnet_id}/subnets/AzureBastionSubnet"}}}
    return doc(f"Microsoft.Network/bastionHosts/{name}", {"ipConfigurations": [cfg]}, sku={"name": "Standard"})


def jit_policy(vm_id: str, *, sub: str) -> dict:
    policy = doc(
        "Microsoft.Security/locations/japaneast/jitNetworkAccessPolicies/default",
        {
            "virtualMachines": [
                {
                    "id": vm_id,
                    "ports": [
                        {
                            "number": 22,
                            "protocol": "*",
                            "allowedSourceAddressPrefix": "*",
                            "maxRequestAccessDuration": "PT3H",
                        }
                    ],
                }
            ],
            "provisioningState": "Succeeded",
        },
        subscription=sub,
        kind="Basic",
    )
    policy["location"] = "japaneast"
    return policy


HUB = rid("Microsoft.Network/virtualNetworks/vnet-hub")
APP = rid("Microsoft.Network/virtualNetworks/vnet-app")
DEV_NET = rid("Microsoft.Network/virtualNetworks/vnet-dev", DEV)


def good_estate(**kw) -> dict:
    return estate(
        [
            vnet(
                "vnet-hub",
                "10.0.0.0/16",
                [("AzureBastionSubnet", None, None), ("AzureFirewallSubnet", None, None)],
                peers=(APP,),
            ),
            vnet("vnet-app", "10.10.0.0/16", [("snet-app", "nsg-app", "rt-fw")], peers=(HUB,)),
            route_table("rt-fw", "VirtualAppliance"),
            bastion("bas-hub", HUB),
            *machine("vm-app", f"{APP}/subnets/snet-app"),
            # Development: not routed through the firewall (out of scope), reached by JIT, public IP allow-listed.
            vnet("vnet-dev", "172.16.0.0/16", [("snet-dev", "nsg-dev", None)], sub=DEV),
            *machine("vm-dev", f"{DEV_NET}/subnets/snet-dev", sub=DEV, pip=True),
            jit_policy(rid("Microsoft.Compute/virtualMachines/vm-dev", DEV), sub=DEV),
        ],
        **kw,
    )


def test_a_compliant_estate_passes_every_perimeter_check(judge):
    judged = judge(good_estate(), thresholds={"public_ip_allowed_vms": ["vm-dev"]})
    vm_dev = rid("Microsoft.Compute/virtualMachines/vm-dev", DEV).lower()
    for check_id in PERIMETER:
        findings = judged.findings(check_id)
        assert findings and {f.status for f in findings.values()} == {Status.PASS}, (check_id, findings)
    assert set(judged.findings("egress-through-firewall")) == {HUB.lower(), APP.lower()}
    assert (
        "just-in-time policy default (ports 22)"
        in judged.findings("management-access-via-bastion-or-jit")[vm_dev].reason_en
    )
    assert (
        "Azure Bastion bas-hub (Standard, vnet-hub)"
        in judged.findings("management-access-via-bastion-or-jit")[
            rid("Microsoft.Compute/virtualMachines/vm-app").lower()
        ].reason_en
    )
    assert judged.verdict(94) == Status.PARTIAL and judged.verdict(87) == Status.PARTIAL


def test_an_exposed_estate_fails_with_reasons(judge):
    judged = judge(
        estate(
            [
                vnet("vnet-app", "20.40.0.0/16", [("snet-app", None, None), ("snet-mgmt", "nsg-mgmt", "rt-out")]),
                route_table("rt-out", "Internet"),
                *machine("vm-jump", f"{APP}/subnets/snet-app", pip=True),
            ]
        )
    )
    statuses = {c: {f.status for f in judged.findings(c).values()} for c in PERIMETER}
    assert statuses == {c: {Status.FAIL} for c in PERIMETER}
    jump = rid("Microsoft.Compute/virtualMachines/vm-jump").lower()
    assert judged.findings("vm-no-public-ip")[jump].reason_en.startswith(
        "virtual machine vm-jump has a public IP address (NIC nic-vm-jump ipconfig1: pip-vm-jump"
    )
    egress = judged.findings("egress-through-firewall")[APP.lower()].reason_en
    assert "snet-app (no route table" in egress and "rt-out sends 0.0.0.0/0 to nextHopType Internet" in egress
    assert (
        "20.40.0.0/16 is outside private ranges" in judged.findings("vnet-private-address-space")[APP.lower()].reason_en
    )
    for number in (86, 87, 94, 148):
        assert judged.verdict(number) == Status.FAIL, number


def test_refused_route_tables_and_bastion_hosts_are_errors_never_passes(judge):
    faults = [
        {"kind": "forbidden", "subscription": PROD, "resourceType": t}
        for t in ("Microsoft.Network/routeTables", "Microsoft.Network/bastionHosts")
    ]
    judged = judge(good_estate(faults=faults), thresholds={"public_ip_allowed_vms": ["vm-dev"]})
    egress = judged.findings("egress-through-firewall")
    assert egress[APP.lower()].status == Status.ERROR
    assert "route table rt-fw could not be listed: AuthorizationFailed" in egress[APP.lower()].reason_en
    assert egress[HUB.lower()].status == Status.PASS  # only platform subnets: no route table is read
    access = judged.findings("management-access-via-bastion-or-jit")
    vm_app = access[rid("Microsoft.Compute/virtualMachines/vm-app").lower()]
    assert (
        vm_app.status == Status.ERROR and "bastion_host could not be listed (AuthorizationFailed)" in vm_app.reason_en
    )
    # The engine also reports each refused listing once for its scope.
    assert access[f"/subscriptions/{PROD}"].status == Status.ERROR
    # The development VM is still decided by its JIT policy, which was read.
    vm_dev = rid("Microsoft.Compute/virtualMachines/vm-dev", DEV).lower()
    assert judged.findings("management-access-via-bastion-or-jit")[vm_dev].status == Status.PASS
    assert judged.verdict(94) == Status.ERROR
