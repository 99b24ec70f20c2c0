"""Microsoft Defender for Cloud, per subscription: the Defender plans (pricings) and the security contacts.

- Pricings - List (azure-mgmt-security 7.0, api-version 2024-01-01) on scope `subscriptions/{id}`: one document
  per plan (`VirtualMachines`, `AppServices`, `SqlServers`, ...) with properties.pricingTier (Free / Standard),
  subPlan (P1 / P2 for servers) and extensions[] ({name, isEnabled: "True" / "False"}), e.g.
  FileIntegrityMonitoring. The listing is one response, not paged.
- Security Contacts - List (api-version 2020-01-01-preview): properties.emails (";"-separated),
  alertNotifications {state, minimalSeverity}, notificationsByRole {state, roles}.
- Assessments - List (api-version 2021-06-01) on scope `subscriptions/{id}`: every recommendation's status on
  every resource of the subscription (properties.status.code Healthy / Unhealthy / NotApplicable, cause,
  description). Only the recommendations the VM checks judge are kept (controls.defender_assessments).
- Sub Assessments - List All (api-version 2019-01-01-preview) on the same scope: one document per finding
  (properties.status.severity); only those of the vulnerability-findings recommendation are kept.

A subscription that never registered the Microsoft.Security provider answers 409
MissingSubscriptionRegistration: recorded as a collection error of the kind, which the checks report as an
error for that subscription, never as a pass.
"""

from azure.mgmt.security import SecurityCenter

from collector.fetchers.base import FetchContext, Fetcher, RawCapture, list_raw
from controls.defender_assessments import KEPT_ASSESSMENTS, VA_FINDINGS, assessment_key_of

DEFENDER_PRICING = "defender_pricing"
SECURITY_CONTACT = "security_contact"
SECURITY_ASSESSMENT = "security_assessment"
SECURITY_SUB_ASSESSMENT = "security_sub_assessment"


def _pricings(ctx: FetchContext) -> None:
    client = ctx.clients.arm(SecurityCenter, ctx.subscription_id)
    capture = RawCapture()
    client.pricings.list(f"subscriptions/{ctx.subscription_id}", raw_response_hook=capture)
    ctx.record(DEFENDER_PRICING, capture)


def _contacts(ctx: FetchContext) -> None:
    client = ctx.clients.arm(SecurityCenter, ctx.subscription_id)
    ctx.list_into(SECURITY_CONTACT, client.security_contacts.list)


def _keep(ctx: FetchContext, kind: str, capture: RawCapture, keys: frozenset[str]) -> None:
    for doc, page in capture.documents():
        rid = str(doc.get("id", ""))
        if assessment_key_of(rid) in keys:
            ctx.record_document(kind, doc, resource_id=rid, api_version=page.api_version, request_id=page.request_id)


def _assessments(ctx: FetchContext) -> None:
    client = ctx.clients.arm(SecurityCenter, ctx.subscription_id)
    scope = f"subscriptions/{ctx.subscription_id}"
    _keep(ctx, SECURITY_ASSESSMENT, list_raw(client.assessments.list, scope), KEPT_ASSESSMENTS)
    try:
        findings = list_raw(client.sub_assessments.list_all, scope)
    except Exception as exc:  # the assessments above stay judged; only the findings are missing
        ctx.sink.error(SECURITY_SUB_ASSESSMENT, ctx.fetcher.name, ctx.scope, exc)
        return
    _keep(ctx, SECURITY_SUB_ASSESSMENT, findings, frozenset({VA_FINDINGS}))


PRICING_FETCHER = Fetcher(
    "security.pricings", {DEFENDER_PRICING: ("microsoft.security/pricings",)}, tenant_wide=False, run=_pricings
)
CONTACT_FETCHER = Fetcher(
    "security.security_contacts",
    {SECURITY_CONTACT: ("microsoft.security/securitycontacts",)},
    tenant_wide=False,
    run=_contacts,
)
ASSESSMENT_FETCHER = Fetcher(
    "security.assessments",
    {
        SECURITY_ASSESSMENT: ("microsoft.security/assessments",),
        SECURITY_SUB_ASSESSMENT: ("microsoft.security/assessments/subassessments",),
    },
    tenant_wide=False,
    run=_assessments,
)
