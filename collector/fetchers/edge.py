"""Edge protection: Azure Firewalls and their firewall policies (IDPS, threat intelligence), Application
Gateways (TLS policy, WAF link, subnets), Application Gateway and Front Door WAF policies (mode, managed rule
sets), and public IP addresses (DDoS settings, what each one is attached to).

Every kind is one subscription-wide listing, each returning the judged fields embedded:
Azure Firewalls - List All, Firewall Policies - List All, Application Gateways - List All,
Web Application Firewall Policies - List All, Public IP Addresses - List All (azure-mgmt-network), and
Policies - List By Subscription for Front Door WAF policies (azure-mgmt-frontdoor). No per-resource calls.
The SDKs call api-version 2026-03-01 (network) and 2025-10-01 (Front Door); the fields read are the same in
the REST specification's 2025-05-01 examples (AzureFirewallListBySubscription, FirewallPolicyGet,
ApplicationGatewayListAll, PublicIpAddressListAll) and WAF policy definitions (policySettings, managedRules).
"""

from collections.abc import Callable

from azure.mgmt.frontdoor import FrontDoorManagementClient
from azure.mgmt.network import NetworkManagementClient

from collector.fetchers.base import FetchContext, Fetcher

# Azure Firewalls: sku.tier, properties.firewallPolicy.id, ipConfigurations[] (subnet, publicIPAddress).
AZURE_FIREWALL = "azure_firewall"
# Firewall policies: sku.tier, properties.intrusionDetection.mode, properties.threatIntelMode.
FIREWALL_POLICY = "firewall_policy"
# Application Gateways: sku, sslPolicy, firewallPolicy, webApplicationFirewallConfiguration,
# gatewayIPConfigurations[].subnet, httpListeners[].firewallPolicy.
APPLICATION_GATEWAY = "application_gateway"
# Application Gateway WAF policies: policySettings.{state, mode}, managedRules.managedRuleSets[].
APP_GATEWAY_WAF_POLICY = "app_gateway_waf_policy"
# Front Door WAF policies: policySettings.{enabledState, mode}, managedRules.managedRuleSets[].
FRONT_DOOR_WAF_POLICY = "front_door_waf_policy"
# Public IP addresses: properties.ipConfiguration.id (what it is attached to), properties.ddosSettings.
PUBLIC_IP_ADDRESS = "public_ip_address"


def _network(ctx: FetchContext) -> NetworkManagementClient:
    return ctx.clients.arm(NetworkManagementClient, ctx.subscription_id)


def _lister(kind: str, operations: str) -> Callable[[FetchContext], None]:
    """A run that lists one kind through `NetworkManagementClient.<operations>.list_all`."""

    def run(ctx: FetchContext) -> None:
        ctx.list_into(kind, getattr(_network(ctx), operations).list_all)

    return run


def _front_door_waf(ctx: FetchContext) -> None:
    client = ctx.clients.arm(FrontDoorManagementClient, ctx.subscription_id)
    ctx.list_into(FRONT_DOOR_WAF_POLICY, client.policies.list_by_subscription)


# One fetcher per listing, so a refused listing marks only its own kind as not collected.
FIREWALL_FETCHER = Fetcher(
    "network.firewalls",
    {AZURE_FIREWALL: ("microsoft.network/azurefirewalls",)},
    tenant_wide=False,
    run=_lister(AZURE_FIREWALL, "azure_firewalls"),
)
FIREWALL_POLICY_FETCHER = Fetcher(
    "network.firewall_policies",
    {FIREWALL_POLICY: ("microsoft.network/firewallpolicies",)},
    tenant_wide=False,
    run=_lister(FIREWALL_POLICY, "firewall_policies"),
)
APP_GATEWAY_FETCHER = Fetcher(
    "network.application_gateways",
    {APPLICATION_GATEWAY: ("microsoft.network/applicationgateways",)},
    tenant_wide=False,
    run=_lister(APPLICATION_GATEWAY, "application_gateways"),
)
APP_GATEWAY_WAF_FETCHER = Fetcher(
    "network.app_gateway_waf_policies",
    {APP_GATEWAY_WAF_POLICY: ("microsoft.network/applicationgatewaywebapplicationfirewallpolicies",)},
    tenant_wide=False,
    run=_lister(APP_GATEWAY_WAF_POLICY, "web_application_firewall_policies"),
)
FRONT_DOOR_WAF_FETCHER = Fetcher(
    "frontdoor.waf_policies",
    {FRONT_DOOR_WAF_POLICY: ("microsoft.network/frontdoorwebapplicationfirewallpolicies",)},
    tenant_wide=False,
    run=_front_door_waf,
)
PUBLIC_IP_FETCHER = Fetcher(
    "network.public_ip_addresses",
    {PUBLIC_IP_ADDRESS: ("microsoft.network/publicipaddresses",)},
    tenant_wide=False,
    run=_lister(PUBLIC_IP_ADDRESS, "public_ip_addresses"),
)
