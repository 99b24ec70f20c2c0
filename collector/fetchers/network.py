"""Network security groups (with their rules), network interfaces, virtual networks (with their peerings), and
network watchers with their flow logs."""

from azure.mgmt.network import NetworkManagementClient

from collector.fetchers.base import FetchContext, Fetcher, resource_group_of
from controls.model import FactKind

# NICs: which subnet each ipConfiguration sits in, so an NSG attached to a NIC can be traced to the
# subnet and VNet a flow log may target. A family of its own, named by a plain kind string.
NETWORK_INTERFACE = "network_interface"
# Virtual networks: Virtual Networks - List All returns each VNet with its peerings embedded as
# properties.virtualNetworkPeerings[] (properties.remoteVirtualNetwork.id, peeringState), so one listing
# shows which VNets are linked across subscriptions.
VIRTUAL_NETWORK = "virtual_network"


def _nsgs(ctx: FetchContext) -> None:
    client = ctx.clients.arm(NetworkManagementClient, ctx.subscription_id)
    ctx.list_into(FactKind.NSG, client.network_security_groups.list_all)


def _nics(ctx: FetchContext) -> None:
    client = ctx.clients.arm(NetworkManagementClient, ctx.subscription_id)
    ctx.list_into(NETWORK_INTERFACE, client.network_interfaces.list_all)


def _vnets(ctx: FetchContext) -> None:
    client = ctx.clients.arm(NetworkManagementClient, ctx.subscription_id)
    ctx.list_into(VIRTUAL_NETWORK, client.virtual_networks.list_all)


def _flow_logs(ctx: FetchContext) -> None:
    client = ctx.clients.arm(NetworkManagementClient, ctx.subscription_id)
    watchers = ctx.list_into(FactKind.NETWORK_WATCHER, client.network_watchers.list_all)
    for watcher in watchers:
        try:
            ctx.list_into(FactKind.FLOW_LOG, client.flow_logs.list, resource_group_of(watcher["id"]), watcher["name"])
        except Exception as exc:  # one watcher's failure must not hide the others' flow logs
            ctx.sink.error(FactKind.FLOW_LOG, ctx.fetcher.name, watcher["id"], exc)


NSG_FETCHER = Fetcher(
    "network.security_groups",
    {FactKind.NSG: ("microsoft.network/networksecuritygroups",)},
    tenant_wide=False,
    run=_nsgs,
)
NIC_FETCHER = Fetcher(
    "network.interfaces",
    {NETWORK_INTERFACE: ("microsoft.network/networkinterfaces",)},
    tenant_wide=False,
    run=_nics,
)
VNET_FETCHER = Fetcher(
    "network.virtual_networks",
    {VIRTUAL_NETWORK: ("microsoft.network/virtualnetworks",)},
    tenant_wide=False,
    run=_vnets,
)
FLOW_LOG_FETCHER = Fetcher(
    "network.flow_logs",
    {
        FactKind.NETWORK_WATCHER: ("microsoft.network/networkwatchers",),
        FactKind.FLOW_LOG: ("microsoft.network/networkwatchers/flowlogs",),
    },
    tenant_wide=False,
    run=_flow_logs,
)
