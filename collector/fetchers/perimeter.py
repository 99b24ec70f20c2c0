"""Perimeter facts: route tables (where subnets send traffic), Azure Bastion hosts and Defender for Cloud
just-in-time VM access policies (how management ports are reached). One list call per subscription each.

- Route Tables - List All (GET /subscriptions/{s}/providers/Microsoft.Network/routeTables): each table with
  its routes embedded as properties.routes[] (addressPrefix, nextHopType, nextHopIpAddress).
- Bastion Hosts - List (GET /subscriptions/{s}/providers/Microsoft.Network/bastionHosts): each host's SKU and
  the subnet it sits in (properties.ipConfigurations[].properties.subnet.id, AzureBastionSubnet of its VNet), or
  properties.virtualNetwork.id for the Developer SKU, which has no subnet of its own.
- Jit Network Access Policies - List (GET /subscriptions/{s}/providers/Microsoft.Security/
  jitNetworkAccessPolicies, api-version 2020-01-01): each policy's properties.virtualMachines[] (id, ports).
"""

from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.security import SecurityCenter

from collector.fetchers.base import FetchContext, Fetcher

ROUTE_TABLE = "route_table"
BASTION_HOST = "bastion_host"
JIT_POLICY = "jit_network_access_policy"


def _route_tables(ctx: FetchContext) -> None:
    client = ctx.clients.arm(NetworkManagementClient, ctx.subscription_id)
    ctx.list_into(ROUTE_TABLE, client.route_tables.list_all)


def _bastion_hosts(ctx: FetchContext) -> None:
    client = ctx.clients.arm(NetworkManagementClient, ctx.subscription_id)
    ctx.list_into(BASTION_HOST, client.bastion_hosts.list)


def _jit_policies(ctx: FetchContext) -> None:
    client = ctx.clients.arm(SecurityCenter, ctx.subscription_id)
    ctx.list_into(JIT_POLICY, client.jit_network_access_policies.list)


ROUTE_TABLE_FETCHER = Fetcher(
    "network.route_tables",
    {ROUTE_TABLE: ("microsoft.network/routetables",)},
    tenant_wide=False,
    run=_route_tables,
)
BASTION_FETCHER = Fetcher(
    "network.bastion_hosts",
    {BASTION_HOST: ("microsoft.network/bastionhosts",)},
    tenant_wide=False,
    run=_bastion_hosts,
)
JIT_FETCHER = Fetcher(
    "security.jit_network_access_policies",
    {JIT_POLICY: ("microsoft.security/locations/jitnetworkaccesspolicies",)},
    tenant_wide=False,
    run=_jit_policies,
)
