"""Perimeter and exposure: every subnet and VM is filtered by an NSG, VMs carry no public IP, virtual networks
use private address space, production subnets send Internet-bound traffic through a firewall, and VMs are
managed only through Azure Bastion or just-in-time access.

VMs are the ones the inventory (Resources - List) lists; a VM's network interfaces are those whose
properties.virtualMachine.id names it (Network Interfaces - List All), so a VM is judged on every NIC Azure
reports attached to it, and a VM with none found is an error, never a pass.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import (
    display_name,
    error_covering,
    field,
    inventory_of_type,
    name_from_id,
    norm_id,
    props,
    subscription_of,
    vnet_of_subnet,
)
from controls.checks.network_isolation import classify
from controls.model import Evidence, FactKind, FactSet, Thresholds

# Plain kind strings, the same as in collector.fetchers.network and collector.fetchers.perimeter.
NETWORK_INTERFACE = "network_interface"
VIRTUAL_NETWORK = "virtual_network"
ROUTE_TABLE = "route_table"
BASTION_HOST = "bastion_host"
JIT_POLICY = "jit_network_access_policy"

VM_TYPE = "microsoft.compute/virtualmachines"

# Subnets Azure reserves for its own gateways and appliances, by the names Azure requires for them. None may
# take an NSG or a 0.0.0.0/0 route to an appliance as a workload subnet does, so the subnet checks skip them
# and say so. Sources (Microsoft Learn):
# - GatewaySubnet: "About VPN Gateway configuration settings", Gateway subnet: network security groups on
#   the gateway subnet are not supported; ExpressRoute gateways share the subnet.
# - AzureFirewallSubnet, AzureFirewallManagementSubnet: "Azure Firewall FAQ": NSGs are not supported (the
#   firewall is itself the filter); its management subnet needs a direct 0.0.0.0/0 route to the Internet.
# - RouteServerSubnet: "Azure Route Server FAQ": the subnet does not support NSGs or route tables.
# - AzureBastionSubnet: "Working with NSG access and Azure Bastion": an NSG is optional there (need not, not
#   must not); Bastion is a managed PaaS reached on 443 and does not support user-defined routes. Exempted
#   here; an NSG attached to it is still judged by nsg-no-internet-management-ports.
PLATFORM_SUBNETS = {
    "gatewaysubnet": "GatewaySubnet",
    "azurefirewallsubnet": "AzureFirewallSubnet",
    "azurefirewallmanagementsubnet": "AzureFirewallManagementSubnet",
    "routeserversubnet": "RouteServerSubnet",
    "azurebastionsubnet": "AzureBastionSubnet",
}

# Address space that is not routed on the Internet: RFC 1918 and RFC 6598 (shared address space, which
# Azure accepts in a VNet); IPv6 unique local addresses (RFC 4193).
PRIVATE_RANGES = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)

# nextHopType values of a 0.0.0.0/0 route that keep Internet-bound traffic from leaving directly:
# VirtualAppliance (a firewall or NVA, nextHopIpAddress), VirtualNetworkGateway (forced tunnelling to the
# on-premises firewall), None (dropped).
_EGRESS_CONTROLLED = {
    "virtualappliance": "VirtualAppliance",
    "virtualnetworkgateway": "VirtualNetworkGateway",
    "none": "None",
}


# ---------------------------------------------------------------- shared lookups


def _vms(facts: FactSet) -> list[Evidence]:
    return inventory_of_type(facts, VM_TYPE)


def _nics_by_vm(facts: FactSet) -> dict[str, list[Evidence]]:
    out: dict[str, list[Evidence]] = {}
    for nic in facts.of(NETWORK_INTERFACE):
        vm = field(nic.content, "properties", "virtualMachine", "id")
        if isinstance(vm, str) and vm:
            out.setdefault(norm_id(vm), []).append(nic)
    return out


def _subnets(facts: FactSet) -> dict[str, tuple[Evidence, dict[str, Any]]]:
    """Subnet id -> (its VNet document, the subnet as embedded there)."""
    out: dict[str, tuple[Evidence, dict[str, Any]]] = {}
    for vnet in facts.of(VIRTUAL_NETWORK):
        subnets = props(vnet.content).get("subnets")
        for s in subnets if isinstance(subnets, list) else []:
            if isinstance(s, dict) and isinstance(s.get("id"), str):
                out[norm_id(s["id"])] = (vnet, s)
    return out


def _ip_configurations(nic: Evidence) -> list[dict[str, Any]]:
    configs = props(nic.content).get("ipConfigurations")
    return [c for c in configs if isinstance(c, dict)] if isinstance(configs, list) else []


def _missing_nics(facts: FactSet, vm: Evidence) -> Outcome:
    """A VM with no NIC found: an error naming why, when the NIC listing failed."""
    name = display_name(vm)
    err = error_covering(facts, [NETWORK_INTERFACE], vm.resource_id)
    cause_ja = f"（ネットワークインターフェイスの取得に失敗: {err.code}）" if err else ""
    cause_en = f" (network interfaces could not be listed: {err.code})" if err else ""
    return errored(
        vm.resource_id,
        f"仮想マシン {name} に接続されたネットワークインターフェイスが見つからず、判定できません{cause_ja}",
        f"virtual machine {name}: no network interface naming it was found, so it cannot be judged{cause_en}",
        vm,
    )


def _vnet_subject(vnet: Evidence) -> tuple[str, str]:
    name = display_name(vnet)
    return f"仮想ネットワーク {name}", f"virtual network {name}"


def _vnet_subnets(vnet: Evidence) -> list[dict[str, Any]] | None:
    subnets = props(vnet.content).get("subnets")
    if not isinstance(subnets, list):
        return None
    return [s for s in subnets if isinstance(s, dict)]


def _platform_note(skipped: list[str]) -> tuple[str, str]:
    if not skipped:
        return "", ""
    names = ", ".join(skipped)
    return f"（Azure 基盤用サブネット {names} は対象外）", f" (platform subnets {names} are exempt)"


# ---------------------------------------------------------------- subnet-nsg-attached


@check(
    id="subnet-nsg-attached",
    title_ja="すべてのサブネットに NSG が関連付けられている",
    title_en="Every subnet has a network security group",
    judges=("microsoft.network/virtualnetworks",),
    reads=(VIRTUAL_NETWORK,),
    per_subscription=True,  # each judged on its own document alone
    api="Virtual Networks - List All: properties.subnets[].name, "
    "properties.subnets[].properties.networkSecurityGroup.id",
    rule_ja="仮想ネットワークごとに、Azure 基盤用サブネット（GatewaySubnet、AzureFirewallSubnet、"
    "AzureFirewallManagementSubnet、RouteServerSubnet、AzureBastionSubnet: NSG を付けられない、または不要）を除く"
    "すべてのサブネットに networkSecurityGroup.id があれば合格、ないサブネットが1つでもあれば不合格。subnets を"
    "読めない文書はエラー。",
    rule_en="For each virtual network, passes when every subnet other than Azure's platform subnets "
    "(GatewaySubnet, AzureFirewallSubnet, AzureFirewallManagementSubnet, RouteServerSubnet, AzureBastionSubnet: "
    "an NSG is unsupported or not needed there) has a networkSecurityGroup.id; fails when one has none. A "
    "document whose subnets cannot be read is an error.",
    remediation_ja="サブネットに業務上必要な通信だけを許可する NSG を関連付ける（az network vnet subnet update "
    "--network-security-group）。",
    remediation_en="Associate an NSG allowing only the traffic the service needs with the subnet "
    "(az network vnet subnet update --network-security-group).",
)
def subnet_nsg_attached(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for vnet in facts.of(VIRTUAL_NETWORK):
        subject_ja, subject_en = _vnet_subject(vnet)
        subnets = _vnet_subnets(vnet)
        if subnets is None:
            yield errored(
                vnet.resource_id,
                f"{subject_ja} の subnets を読めません",
                f"{subject_en}: properties.subnets is missing or not a list",
                vnet,
            )
            continue
        skipped, bare, covered = [], [], 0
        for s in subnets:
            name = str(s.get("name") or name_from_id(str(s.get("id", ""))))
            if name.lower() in PLATFORM_SUBNETS:
                skipped.append(name)
            elif field(s, "properties", "networkSecurityGroup", "id"):
                covered += 1
            else:
                bare.append(name)
        note_ja, note_en = _platform_note(skipped)
        if bare:
            yield failed(
                vnet.resource_id,
                f"{subject_ja} のサブネット {', '.join(bare)} に NSG が関連付けられていません"
                f"（networkSecurityGroup 未設定。すべてのサブネットに必要）{note_ja}",
                f"{subject_en}: subnet(s) {', '.join(bare)} have no network security group "
                f"(networkSecurityGroup not set; every subnet needs one){note_en}",
                vnet,
            )
        elif covered:
            yield passed(
                vnet.resource_id,
                f"{subject_ja} のサブネット {covered} 件すべてに NSG が関連付けられています{note_ja}",
                f"{subject_en}: all {covered} subnet(s) have a network security group{note_en}",
                vnet,
            )
        else:
            yield passed(
                vnet.resource_id,
                f"{subject_ja} には NSG を必要とするサブネットがありません{note_ja}",
                f"{subject_en} has no subnet that needs a network security group{note_en}",
                vnet,
            )


# ---------------------------------------------------------------- vm-nsg-covered


@check(
    id="vm-nsg-covered",
    title_ja="仮想マシンのすべての NIC が NSG で保護されている",
    title_en="Every network interface of a virtual machine is filtered by an NSG",
    judges=(VM_TYPE,),
    reads=(FactKind.RESOURCE, NETWORK_INTERFACE, VIRTUAL_NETWORK),
    api="Resources - List: virtual machines; Network Interfaces - List All: properties.virtualMachine.id, "
    "properties.networkSecurityGroup.id, properties.ipConfigurations[].properties.subnet.id; Virtual Networks - "
    "List All: properties.subnets[].properties.networkSecurityGroup.id",
    rule_ja="仮想マシンごとに、接続された各 NIC の各 IP 構成が NIC 自身の NSG かその IP 構成のサブネットの NSG の"
    "どちらかで保護されていれば合格、どちらもない IP 構成があれば不合格。NIC が見つからない、または NIC に NSG がなく"
    "サブネットの文書が見つからないときはエラー。",
    rule_en="For each virtual machine, passes when every IP configuration of every attached NIC is filtered by "
    "the NIC's own NSG or by its subnet's NSG; fails when one has neither. No NIC found, or a NIC without an "
    "NSG whose subnet document is not found, is an error.",
    remediation_ja="NIC またはそのサブネットに NSG を関連付ける（サブネット単位が推奨）。",
    remediation_en="Associate an NSG with the NIC or, preferably, with its subnet.",
    # Azure keeps a VM, its NICs and their virtual network in one subscription.
    per_subscription=True,
)
def vm_nsg_covered(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    nics_by_vm, subnets = _nics_by_vm(facts), _subnets(facts)
    for vm in _vms(facts):
        nics = nics_by_vm.get(norm_id(vm.resource_id))
        if not nics:
            yield _missing_nics(facts, vm)
            continue
        name = display_name(vm)
        used: list[Evidence] = [vm, *nics]
        open_ja, open_en, unknown_ja, unknown_en, via = [], [], [], [], []
        for nic in nics:
            nic_name = display_name(nic)
            nic_nsg = field(nic.content, "properties", "networkSecurityGroup", "id")
            for cfg in _ip_configurations(nic):
                cfg_name = str(cfg.get("name") or "?")
                subnet_id = field(cfg, "properties", "subnet", "id")
                found = subnets.get(norm_id(subnet_id)) if isinstance(subnet_id, str) else None
                if found:
                    used.append(found[0])
                subnet_nsg = field(found[1], "properties", "networkSecurityGroup", "id") if found else None
                if nic_nsg:
                    via.append(f"{nic_name}: NSG {name_from_id(str(nic_nsg))}")
                elif subnet_nsg:
                    via.append(f"{nic_name}: subnet NSG {name_from_id(str(subnet_nsg))}")
                elif found:
                    sname = name_from_id(str(subnet_id))
                    open_ja.append(f"NIC {nic_name} の {cfg_name}（サブネット {sname}）")
                    open_en.append(f"NIC {nic_name} {cfg_name} (subnet {sname})")
                else:
                    where = name_from_id(str(subnet_id)) if subnet_id else "（なし）"
                    unknown_ja.append(f"NIC {nic_name} の {cfg_name}（サブネット {where} の文書が見つからない）")
                    unknown_en.append(
                        f"NIC {nic_name} {cfg_name} (subnet {name_from_id(str(subnet_id)) if subnet_id else 'none'}"
                        " not found among the virtual networks read)"
                    )
        if open_en:
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} の {', '.join(open_ja)} は NIC にもサブネットにも NSG がありません"
                "（どちらかに必要）",
                f"virtual machine {name}: {', '.join(open_en)} has no network security group on the NIC or its "
                "subnet (one of them is required)",
                *used,
            )
        elif unknown_en or not via:
            what_ja = ", ".join(unknown_ja) or "IP 構成がない"
            what_en = ", ".join(unknown_en) or "no ipConfigurations"
            yield errored(
                vm.resource_id,
                f"仮想マシン {name} の NSG による保護を判定できません: {what_ja}",
                f"virtual machine {name}: NSG filtering cannot be decided: {what_en}",
                *used,
            )
        else:
            yield passed(
                vm.resource_id,
                f"仮想マシン {name} のすべての IP 構成が NSG で保護されています（{'; '.join(dict.fromkeys(via))}）",
                f"virtual machine {name}: every IP configuration is filtered by an NSG "
                f"({'; '.join(dict.fromkeys(via))})",
                *used,
            )


# ---------------------------------------------------------------- vm-no-public-ip


def _public_ips(nics: list[Evidence]) -> list[tuple[str, str, str]]:
    """(NIC name, ipConfiguration name, public IP name) of every ipConfiguration holding a public IP."""
    out = []
    for nic in nics:
        for cfg in _ip_configurations(nic):
            pip = field(cfg, "properties", "publicIPAddress", "id")
            if pip:
                out.append((display_name(nic), str(cfg.get("name") or "?"), name_from_id(str(pip))))
    return out


def _allowed(vm: Evidence, allowed: tuple[str, ...]) -> str | None:
    name = display_name(vm).lower()
    for entry in allowed:
        e = entry.strip()
        if (e.startswith("/") and norm_id(e) == norm_id(vm.resource_id)) or e.lower() == name:
            return e
    return None


@check(
    id="vm-no-public-ip",
    title_ja="仮想マシンにパブリック IP アドレスがない",
    title_en="Virtual machines have no public IP address",
    judges=(VM_TYPE,),
    reads=(FactKind.RESOURCE, NETWORK_INTERFACE),
    api="Resources - List: virtual machines; Network Interfaces - List All: properties.virtualMachine.id, "
    "properties.ipConfigurations[].properties.publicIPAddress.id",
    rule_ja="仮想マシンごとに、接続されたどの NIC の IP 構成にも publicIPAddress がなければ合格。あれば、"
    "public_ip_allowed_vms に名前または ID が記載された仮想マシンは合格（理由に記載）、それ以外は不合格。"
    "NIC が見つからないときはエラー。",
    rule_en="For each virtual machine, passes when no IP configuration of an attached NIC has a "
    "publicIPAddress. If one has, a VM listed by name or id in public_ip_allowed_vms passes (the reason says "
    "so) and any other fails. No NIC found is an error.",
    remediation_ja="パブリック IP の関連付けを解除し（az network nic ip-config update --remove publicIpAddress）、"
    "管理アクセスは Azure Bastion または JIT に、公開が必要なサービスはロードバランサーや Application Gateway に"
    "移す。",
    remediation_en="Dissociate the public IP (az network nic ip-config update --remove publicIpAddress); reach "
    "the VM through Azure Bastion or just-in-time access, and publish services through a load balancer or "
    "Application Gateway instead.",
    thresholds=("public_ip_allowed_vms",),
    per_subscription=True,  # a VM and its NICs lie in one subscription
)
def vm_no_public_ip(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    nics_by_vm = _nics_by_vm(facts)
    for vm in _vms(facts):
        nics = nics_by_vm.get(norm_id(vm.resource_id))
        if not nics:
            yield _missing_nics(facts, vm)
            continue
        name = display_name(vm)
        public = _public_ips(nics)
        listed = "; ".join(f"NIC {n} {c}: {p}" for n, c, p in public)
        listed_ja = "; ".join(f"NIC {n} の {c}: {p}" for n, c, p in public)
        if not public:
            yield passed(
                vm.resource_id,
                f"仮想マシン {name} の NIC {len(nics)} 件にパブリック IP アドレスはありません",
                f"virtual machine {name}: none of its {len(nics)} network interface(s) has a public IP address",
                vm,
                *nics,
            )
        elif entry := _allowed(vm, thresholds.public_ip_allowed_vms):
            yield passed(
                vm.resource_id,
                f"仮想マシン {name} にパブリック IP アドレスがあります（{listed_ja}）が、public_ip_allowed_vms に "
                f"{entry} として記載され許可されています",
                f"virtual machine {name} has a public IP address ({listed}), allowed as {entry} in "
                "public_ip_allowed_vms",
                vm,
                *nics,
            )
        else:
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} にパブリック IP アドレスが関連付けられています（{listed_ja}。"
                "public_ip_allowed_vms に記載のない仮想マシンには不可）",
                f"virtual machine {name} has a public IP address ({listed}; not allowed for a VM missing from "
                "public_ip_allowed_vms)",
                vm,
                *nics,
            )


# ---------------------------------------------------------------- vnet-private-address-space


@check(
    id="vnet-private-address-space",
    title_ja="仮想ネットワークのアドレス空間がプライベートアドレスである",
    title_en="Virtual networks use private address space",
    judges=("microsoft.network/virtualnetworks",),
    reads=(VIRTUAL_NETWORK,),
    per_subscription=True,  # each judged on its own document alone
    api="Virtual Networks - List All: properties.addressSpace.addressPrefixes",
    rule_ja="仮想ネットワークごとに、addressSpace.addressPrefixes のすべてが RFC 1918（10.0.0.0/8、172.16.0.0/12、"
    "192.168.0.0/16）、RFC 6598（100.64.0.0/10）または IPv6 ユニークローカル（fc00::/7）の範囲内なら合格、"
    "範囲外のプレフィックスがあれば不合格。プレフィックスがない、または解釈できないときはエラー。",
    rule_en="For each virtual network, passes when every addressSpace.addressPrefixes entry lies within RFC 1918 "
    "(10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), RFC 6598 (100.64.0.0/10) or IPv6 unique local space "
    "(fc00::/7); fails when one lies outside. No prefixes, or one that cannot be parsed, is an error.",
    remediation_ja="パブリックアドレスを使うアドレス空間をプライベート範囲に付け替える（サブネットと接続の再作成が"
    "必要）。他者のアドレスを VNet 内に経路として持たない。",
    remediation_en="Re-address the virtual network into private ranges (subnets and connections must be "
    "recreated), so it holds no routes for addresses that belong to others.",
)
def vnet_private_address_space(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for vnet in facts.of(VIRTUAL_NETWORK):
        subject_ja, subject_en = _vnet_subject(vnet)
        prefixes = field(vnet.content, "properties", "addressSpace", "addressPrefixes")
        if not isinstance(prefixes, list) or not prefixes:
            yield errored(
                vnet.resource_id,
                f"{subject_ja} の addressSpace.addressPrefixes がありません",
                f"{subject_en}: addressSpace.addressPrefixes is missing or empty",
                vnet,
            )
            continue
        public, bad = [], []
        for p in prefixes:
            try:
                net = ipaddress.ip_network(str(p).strip(), strict=False)
            except ValueError:
                bad.append(str(p))
                continue
            if not any(net.version == r.version and net.subnet_of(r) for r in PRIVATE_RANGES):  # type: ignore[arg-type]
                public.append(str(p))
        shown = ", ".join(str(p) for p in prefixes)
        if public:
            yield failed(
                vnet.resource_id,
                f"{subject_ja} のアドレス空間 {', '.join(public)} がプライベートアドレス範囲外です"
                "（RFC 1918 / RFC 6598 / fc00::/7 の範囲内が必要）",
                f"{subject_en}: address space {', '.join(public)} is outside private ranges "
                "(RFC 1918, RFC 6598 or fc00::/7 required)",
                vnet,
            )
        elif bad:
            yield errored(
                vnet.resource_id,
                f"{subject_ja} のアドレス空間 {', '.join(bad)} を解釈できません",
                f"{subject_en}: address prefix(es) {', '.join(bad)} cannot be parsed",
                vnet,
            )
        else:
            yield passed(
                vnet.resource_id,
                f"{subject_ja} のアドレス空間 {shown} はすべてプライベートアドレスです",
                f"{subject_en}: address space {shown} is all private",
                vnet,
            )


# ---------------------------------------------------------------- egress-through-firewall


def _default_route(table: Evidence) -> dict[str, Any] | None:
    routes = props(table.content).get("routes")
    for r in routes if isinstance(routes, list) else []:
        if str(field(r, "properties", "addressPrefix") or "").strip() == "0.0.0.0/0":
            return r if isinstance(r, dict) else None
    return None


@check(
    id="egress-through-firewall",
    title_ja="本番のサブネットがインターネット向け通信をファイアウォール経由で送る",
    title_en="Production subnets send Internet-bound traffic through a firewall",
    judges=("microsoft.network/virtualnetworks",),
    reads=(VIRTUAL_NETWORK, ROUTE_TABLE, FactKind.SUBSCRIPTION),
    api="Virtual Networks - List All: properties.subnets[].properties.routeTable.id; Route Tables - List All: "
    "properties.routes[].properties.{addressPrefix, nextHopType, nextHopIpAddress}; Subscriptions - List: tags",
    # A virtual network is classified by its own subscription's document; its route tables are read from the
    # whole run (few, and a subnet's table is taken by id wherever it lies).
    per_subscription=True,
    across=(ROUTE_TABLE,),
    rule_ja="egress_firewall_scope が production なら本番サブスクリプション（dev-prod-network-isolated と同じ分類）、"
    "all ならすべての仮想ネットワークについて、Azure 基盤用サブネットを除く各サブネットのルートテーブルに "
    "0.0.0.0/0 のルートがあり、nextHopType が VirtualAppliance（ファイアウォール等）、VirtualNetworkGateway"
    "（強制トンネリング）、None（破棄）のいずれかなら合格。ルートテーブルがない、0.0.0.0/0 がない、または "
    "Internet 等へ直接出すサブネットがあれば不合格。参照先のルートテーブルが収集されていないときはエラー。NSG の送信"
    "規則や次ホップの装置の設定は読まない。",
    rule_en="For every virtual network in scope (egress_firewall_scope: production — in production subscriptions, "
    "classified as for dev-prod-network-isolated — or all), passes when each subnet other than Azure's platform "
    "subnets has a route table whose 0.0.0.0/0 route has nextHopType VirtualAppliance (a firewall or other "
    "appliance), VirtualNetworkGateway (forced tunnelling) or None (dropped); fails when a subnet has no route "
    "table, no 0.0.0.0/0 route, or one that leaves directly (Internet). A route table that was not collected "
    "is an error. NSG outbound rules and the next hop's own rules are not read.",
    remediation_ja="サブネットに 0.0.0.0/0 → VirtualAppliance（Azure Firewall のプライベート IP）のルートを持つ"
    "ルートテーブルを関連付け、ファイアウォールで許可する宛先を医療機関と合意したサービスに限る。",
    remediation_en="Associate a route table sending 0.0.0.0/0 to VirtualAppliance (the Azure Firewall's private "
    "IP) with the subnet, and allow on the firewall only the destinations agreed with the client institutions.",
    thresholds=("egress_firewall_scope", "production_subscriptions", "environment_tag", "production_tag_values"),
)
def egress_through_firewall(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    subscriptions = {str(ev.content.get("subscriptionId", "")).lower(): ev for ev in facts.of(FactKind.SUBSCRIPTION)}
    tables = facts.by_id(ROUTE_TABLE)
    for vnet in facts.of(VIRTUAL_NETWORK):
        subject_ja, subject_en = _vnet_subject(vnet)
        used: list[Evidence | None] = [vnet]
        if thresholds.egress_firewall_scope != "all":
            sub = (subscription_of(vnet.resource_id) or "").split("/")[-1]
            env = classify(sub, subscriptions, thresholds)
            if env is None:
                yield errored(
                    vnet.resource_id,
                    f"{subject_ja} のサブスクリプション {sub} の文書が収集されておらず、本番かどうか判定できません",
                    f"{subject_en}: subscription {sub} was not collected, so whether it is production cannot be "
                    "decided",
                    vnet,
                )
                continue
            if not env.production:
                continue
            used.append(env.evidence)
            subject_ja = f"本番サブスクリプション {env.name}（{env.basis_ja}）の{subject_ja}"
            subject_en = f"{subject_en} in production subscription {env.name} ({env.basis_en})"
        subnets = _vnet_subnets(vnet)
        if subnets is None:
            yield errored(
                vnet.resource_id,
                f"{subject_ja} の subnets を読めません",
                f"{subject_en}: properties.subnets is missing or not a list",
                *used,
            )
            continue
        skipped, good, bad_ja, bad_en, unknown_ja, unknown_en = [], [], [], [], [], []
        for s in subnets:
            name = str(s.get("name") or name_from_id(str(s.get("id", ""))))
            if name.lower() in PLATFORM_SUBNETS:
                skipped.append(name)
                continue
            table_id = field(s, "properties", "routeTable", "id")
            if not table_id:
                bad_ja.append(f"{name}（ルートテーブルなし: 0.0.0.0/0 は既定でインターネットへ直接出る）")
                bad_en.append(f"{name} (no route table: 0.0.0.0/0 goes straight to the Internet by default)")
                continue
            table = tables.get(norm_id(str(table_id)))
            tname = name_from_id(str(table_id))
            if table is None:
                err = error_covering(facts, [ROUTE_TABLE], str(table_id))
                cause_ja = f"取得に失敗: {err.code}" if err else "収集した中に見つからない"
                cause_en = f"could not be listed: {err.code}" if err else "not found among those listed"
                unknown_ja.append(f"{name}（ルートテーブル {tname} が{cause_ja}）")
                unknown_en.append(f"{name} (route table {tname} {cause_en})")
                continue
            used.append(table)
            route = _default_route(table)
            if route is None:
                bad_ja.append(f"{name}（ルートテーブル {tname} に 0.0.0.0/0 のルートがない）")
                bad_en.append(f"{name} (route table {tname} has no 0.0.0.0/0 route)")
                continue
            hop = str(field(route, "properties", "nextHopType") or "")
            hop_ip = field(route, "properties", "nextHopIpAddress")
            if hop.lower() in _EGRESS_CONTROLLED:
                at = f" {hop_ip}" if hop_ip else ""
                good.append(f"{name} → {_EGRESS_CONTROLLED[hop.lower()]}{at}")
            else:
                shown = hop or "未設定"
                bad_ja.append(f"{name}（ルートテーブル {tname} の 0.0.0.0/0 の nextHopType が {shown}）")
                bad_en.append(f"{name} (route table {tname} sends 0.0.0.0/0 to nextHopType {hop or 'not set'})")
        note_ja, note_en = _platform_note(skipped)
        needed_ja = "（0.0.0.0/0 を VirtualAppliance 等へ送るルートテーブルが必要）"
        needed_en = " (a route table sending 0.0.0.0/0 to a VirtualAppliance or gateway is required)"
        if bad_en:
            also_ja = f"。ほかに判定できないサブネット: {'; '.join(unknown_ja)}" if unknown_ja else ""
            also_en = f"; also undecided: {'; '.join(unknown_en)}" if unknown_en else ""
            yield failed(
                vnet.resource_id,
                f"{subject_ja} のサブネット {'; '.join(bad_ja)} はインターネット向け通信を直接送出します"
                f"{needed_ja}{also_ja}{note_ja}",
                f"{subject_en}: subnet(s) {'; '.join(bad_en)} send Internet-bound traffic out directly"
                f"{needed_en}{also_en}{note_en}",
                *used,
            )
        elif unknown_en:
            yield errored(
                vnet.resource_id,
                f"{subject_ja} の経路を判定できません: {'; '.join(unknown_ja)}",
                f"{subject_en}: routing cannot be decided: {'; '.join(unknown_en)}",
                *used,
            )
        elif good:
            yield passed(
                vnet.resource_id,
                f"{subject_ja} のサブネットはすべて 0.0.0.0/0 を制御された次ホップへ送ります（{'; '.join(good)}）"
                f"{note_ja}",
                f"{subject_en}: every subnet sends 0.0.0.0/0 to a controlled next hop ({'; '.join(good)}){note_en}",
                *used,
            )
        else:
            yield passed(
                vnet.resource_id,
                f"{subject_ja} には経路制御の対象となるサブネットがありません{note_ja}",
                f"{subject_en} has no subnet whose egress needs routing{note_en}",
                *used,
            )


# ---------------------------------------------------------------- management-access-via-bastion-or-jit


@dataclass
class _Bastion:
    doc: Evidence
    vnet: str  # normalised VNet id
    sku: str


def _bastions(facts: FactSet) -> list[_Bastion]:
    out = []
    for b in facts.of(BASTION_HOST):
        sku = str(field(b.content, "sku", "name") or "Basic")
        vnets = {
            vnet_of_subnet(str(field(c, "properties", "subnet", "id") or ""))
            for c in props(b.content).get("ipConfigurations") or []
            if isinstance(c, dict)
        }
        developer = field(b.content, "properties", "virtualNetwork", "id")
        if developer:
            vnets.add(norm_id(str(developer)))
        out.extend(_Bastion(b, v, sku) for v in vnets if v)
    return out


def _connected_peers(vnet: Evidence | None) -> set[str]:
    peers = props(vnet.content).get("virtualNetworkPeerings") if vnet else None
    out: set[str] = set()
    for p in peers if isinstance(peers, list) else []:
        remote = field(p, "properties", "remoteVirtualNetwork", "id")
        if remote and str(field(p, "properties", "peeringState") or "").lower() == "connected":
            out.add(norm_id(str(remote)))
    return out


@dataclass
class _Jit:
    doc: Evidence
    ports: list[str] = dc_field(default_factory=list)


def _jit_by_vm(facts: FactSet) -> dict[str, _Jit]:
    """Each VM's just-in-time policy (the first listing it), by normalised VM id."""
    out: dict[str, _Jit] = {}
    for policy in facts.of(JIT_POLICY):
        for entry in props(policy.content).get("virtualMachines") or []:
            if isinstance(entry, dict) and entry.get("id"):
                ports = [str(p.get("number")) for p in entry.get("ports") or [] if isinstance(p, dict)]
                out.setdefault(norm_id(entry.get("id")), _Jit(policy, ports))
    return out


@check(
    id="management-access-via-bastion-or-jit",
    title_ja="仮想マシンの管理アクセスが Azure Bastion または JIT 経由に限られている",
    title_en="Virtual machines are managed only through Azure Bastion or just-in-time access",
    judges=(VM_TYPE,),
    reads=(FactKind.RESOURCE, NETWORK_INTERFACE, VIRTUAL_NETWORK, BASTION_HOST, JIT_POLICY),
    api="Resources - List: virtual machines; Network Interfaces - List All: properties.virtualMachine.id, "
    "ipConfigurations[].properties.{subnet.id, publicIPAddress.id}; Virtual Networks - List All: "
    "virtualNetworkPeerings[].properties.{remoteVirtualNetwork.id, peeringState}; Bastion Hosts - List: sku.name, "
    "properties.ipConfigurations[].properties.subnet.id, properties.virtualNetwork.id; Jit Network Access Policies "
    "- List (2020-01-01): properties.virtualMachines[].{id, ports[].number}",
    # A VM, its NICs and their virtual networks share a subscription (Azure requires it); the Bastion host of a
    # peered hub and a just-in-time policy may lie in another.
    per_subscription=True,
    across=(BASTION_HOST, JIT_POLICY),
    rule_ja="仮想マシンごとに、(1) Defender for Cloud の JIT ポリシーの virtualMachines に含まれていれば合格"
    "（管理ポートは承認された申請の間だけ開く）。(2) そうでなければ、NIC にパブリック IP がなく、NIC のサブネットの"
    "仮想ネットワーク、またはそれと Connected でピアリングされた仮想ネットワーク（Developer SKU を除く）に Azure "
    "Bastion があれば合格。パブリック IP がある（Bastion を迂回できる）か、Bastion も JIT もなければ不合格。NIC が"
    "見つからない、または Bastion・JIT・仮想ネットワークの取得に失敗して合格を示せないときはエラー。JIT が NSG に作る"
    "拒否規則そのものは読まない（開いた管理ポートは nsg-no-internet-management-ports が判定する）。",
    rule_en="For each virtual machine: (1) passes when a Defender for Cloud just-in-time policy lists it in "
    "virtualMachines (management ports open only for an approved request); (2) otherwise passes when no NIC "
    "has a public IP and the VNet of a NIC's subnet, or a VNet peered with it in state Connected (not for the "
    "Developer SKU), hosts an Azure Bastion. Fails when a NIC has a public IP (a path around Bastion) or there "
    "is neither Bastion nor JIT. No NIC found, or Bastion hosts, JIT policies or virtual networks that could not "
    "be listed when no pass can be shown, is an error. The deny rules JIT writes into NSGs are not re-read here "
    "(an open management port is judged by nsg-no-internet-management-ports).",
    remediation_ja="VNet（またはハブ VNet）に Azure Bastion を配置して VM のパブリック IP を外すか、Defender for "
    "Cloud で JIT VM アクセスを有効にする。",
    remediation_en="Deploy Azure Bastion in the VNet (or a peered hub) and remove the VM's public IP, or enable "
    "just-in-time VM access in Defender for Cloud.",
)
def management_access_via_bastion_or_jit(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    nics_by_vm = _nics_by_vm(facts)
    vnets = facts.by_id(VIRTUAL_NETWORK)
    bastions = _bastions(facts)
    jit_by_vm = _jit_by_vm(facts)
    for vm in _vms(facts):
        nics = nics_by_vm.get(norm_id(vm.resource_id))
        if not nics:
            yield _missing_nics(facts, vm)
            continue
        name = display_name(vm)
        jit = jit_by_vm.get(norm_id(vm.resource_id))
        if jit is not None:
            ports = ", ".join(jit.ports) or "なし"
            yield passed(
                vm.resource_id,
                f"仮想マシン {name} は JIT ポリシー {display_name(jit.doc)} の対象です（ポート {ports}）",
                f"virtual machine {name} is covered by just-in-time policy {display_name(jit.doc)} "
                f"(ports {', '.join(jit.ports) or 'none'})",
                vm,
                jit.doc,
            )
            continue
        used: list[Evidence | None] = [vm, *nics]
        own_vnets: set[str] = set()
        for nic in nics:
            for cfg in _ip_configurations(nic):
                subnet_id = field(cfg, "properties", "subnet", "id")
                v = vnet_of_subnet(str(subnet_id)) if subnet_id else None
                if v:
                    own_vnets.add(v)
        reach: list[_Bastion] = []
        for v in sorted(own_vnets):
            doc = vnets.get(v)
            used.append(doc)
            peers = _connected_peers(doc)
            for b in bastions:
                if b.vnet == v or (b.vnet in peers and b.sku.lower() != "developer"):
                    reach.append(b)
        public = _public_ips(nics)
        not_seen = error_covering(facts, [BASTION_HOST, JIT_POLICY, VIRTUAL_NETWORK], vm.resource_id)
        if reach and not public:
            shown = ", ".join(f"{display_name(b.doc)} ({b.sku}, {name_from_id(b.vnet)})" for b in reach)
            yield passed(
                vm.resource_id,
                f"仮想マシン {name} にパブリック IP はなく、Azure Bastion {shown} から到達できます",
                f"virtual machine {name} has no public IP and is reachable through Azure Bastion {shown}",
                *used,
                *(b.doc for b in reach),
            )
        elif public:
            listed = "; ".join(f"NIC {n} {c}: {p}" for n, c, p in public)
            via_ja = "Azure Bastion があっても" if reach else "Azure Bastion も JIT ポリシーもなく、"
            via_en = "even with Azure Bastion in reach" if reach else "with neither Azure Bastion nor a JIT policy"
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} はパブリック IP（{listed}）で直接到達でき、{via_ja}管理アクセスが踏み台経由に"
                "限られていません（JIT ポリシーの対象でもありません）",
                f"virtual machine {name} is reachable directly on its public IP ({listed}) {via_en}, and no "
                "just-in-time policy covers it: management access is not limited to the bastion",
                *used,
                *(b.doc for b in reach),
            )
        elif not_seen is not None:
            yield errored(
                vm.resource_id,
                f"仮想マシン {name}: {not_seen.kind} を取得できず（{not_seen.code}）、Azure Bastion または JIT による"
                "管理経路を判定できません",
                f"virtual machine {name}: {not_seen.kind} could not be listed ({not_seen.code}), so whether Azure "
                "Bastion or just-in-time access covers it cannot be decided",
                *used,
            )
        else:
            where = ", ".join(name_from_id(v) for v in sorted(own_vnets)) or "?"
            yield failed(
                vm.resource_id,
                f"仮想マシン {name} の仮想ネットワーク {where} にもピアリング先にも Azure Bastion がなく、JIT "
                "ポリシーの対象でもありません（どちらかが必要）",
                f"virtual machine {name}: no Azure Bastion in its virtual network {where} or a peered one, and no "
                "just-in-time policy covers it (one of them is required)",
                *used,
            )
