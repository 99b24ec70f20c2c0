"""Microsoft Defender for Cloud, per subscription: the Defender plans (pricings) and the security contacts.

- Pricings - List (azure-mgmt-security 7.0, api-version 2024-01-01) on scope `subscriptions/{id}`: one document
  per plan (`VirtualMachines`, `AppServices`, `SqlServers`, ...) with properties.pricingTier (Free / Standard),
  subPlan (P1 / P2 for servers) and extensions[] ({name, isEnabled: "True" / "False"}), e.g.
  FileIntegrityMonitoring. The listing is one response, not paged.
- Security Contacts - List (api-version 2020-01-01-preview): properties.emails (";"-separated),
  alertNotifications {state, minimalSeverity}, notificationsByRole {state, roles}.

A subscription that never registered the Microsoft.Security provider answers 409
MissingSubscriptionRegistration: recorded as a collection error of the kind, which the checks report as an
error for that subscription, never as a pass.
"""

from azure.mgmt.security import SecurityCenter

from collector.fetchers.base import FetchContext, Fetcher, RawCapture

DEFENDER_PRICING = "defender_pricing"
SECURITY_CONTACT = "security_contact"


def _pricings(ctx: FetchContext) -> None:
    client = ctx.clients.arm(SecurityCenter, ctx.subscription_id)
    capture = RawCapture()
    client.pricings.list(f"subscriptions/{ctx.subscription_id}", raw_response_hook=capture)
    ctx.record(DEFENDER_PRICING, capture)


def _contacts(ctx: FetchContext) -> None:
    client = ctx.clients.arm(SecurityCenter, ctx.subscription_id)
    ctx.list_into(SECURITY_CONTACT, client.security_contacts.list)


PRICING_FETCHER = Fetcher(
    "security.pricings", {DEFENDER_PRICING: ("microsoft.security/pricings",)}, tenant_wide=False, run=_pricings
)
CONTACT_FETCHER = Fetcher(
    "security.security_contacts",
    {SECURITY_CONTACT: ("microsoft.security/securitycontacts",)},
    tenant_wide=False,
    run=_contacts,
)
