"""Defender for Cloud and VM agents, collected through the sandbox by the real SDK clients: Pricings - List and
Security Contacts - List per subscription, Virtual Machines - List All, and per VM its extensions and data
collection rule associations."""

import pytest

from controls.model import Status
from tests.estates import DEV, PROD, doc, estate, rid

PLANS = ("VirtualMachines", "AppServices", "SqlServers", "StorageAccounts", "KeyVaults", "Arm")
VM_OK = rid("Microsoft.Compute/virtualMachines/vm-ok", PROD, "rg-ops")
VM_BARE = rid("Microsoft.Compute/virtualMachines/vm-bare", DEV, "rg-dev")


def pricings(sub: str, *, free: tuple[str, ...] = (), servers_sub_plan: str = "P2", fim: str = "True") -> list[dict]:
    out = []
    for plan in PLANS:
        props = {"pricingTier": "Free" if plan in free else "Standard", "freeTrialRemainingTime": "PT0S"}
        if plan == "VirtualMachines":
            props["subPlan"] = servers_sub_plan
            props["extensions"] = [
                {"name": "AgentlessVmScanning", "isEnabled": "True"},
                {"name": "FileIntegrityMonitoring", "isEnabled": fim},
            ]
        out.append({"id": f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/{plan}", "name": plan,
                    "type": "Microsoft.Security/pricings", "properties": props})  # fmt: skip
    return out


def contact(sub: str, state: str = "On") -> dict:
    return {"id": f"/subscriptions/{sub}/providers/Microsoft.Security/securityContacts/default", "name": "default",
            "type": "Microsoft.Security/securityContacts",
            "properties": {"emails": "soc@clinic.example", "phone": "",
                           "alertNotifications": {"state": state, "minimalSeverity": "High"},
                           "notificationsByRole": {"state": "On", "roles": ["Owner"]}}}  # fmt: skip


def vm(resource_id: str, *extensions: tuple[str, str], rule: bool = False) -> list[dict]:
    sub, rg, name = resource_id.split("/")[2], resource_id.split("/")[4], resource_id.rsplit("/", 1)[-1]
    props = {"vmId": "00000000-0000-4000-8000-000000000001", "provisioningState": "Succeeded",
             "storageProfile": {"osDisk": {"osType": "Linux"}}}  # fmt: skip
    docs = [doc(f"Microsoft.Compute/virtualMachines/{name}", props, subscription=sub, rg=rg)]
    for publisher, type_ in extensions:
        docs.append(doc(f"Microsoft.Compute/virtualMachines/{name}/extensions/{type_}", {
            "publisher": publisher, "type": type_, "typeHandlerVersion": "1.0", "autoUpgradeMinorVersion": True,
            "provisioningState": "Succeeded"}, subscription=sub, rg=rg, location="japaneast"))  # fmt: skip
    if rule:
        dcr = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Insights/dataCollectionRules/dcr-syslog"
        association = f"{resource_id}/providers/Microsoft.Insights/dataCollectionRuleAssociations/dcr-syslog-assoc"
        docs.append({"id": association,
                     "name": "dcr-syslog-assoc", "type": "Microsoft.Insights/dataCollectionRuleAssociations",
                     "properties": {"dataCollectionRuleId": dcr, "provisioningState": "Succeeded"}})  # fmt: skip
    return docs


EDR = "dc5357d0-3858-4d17-a1a3-072840bff5be"
VA = "ffff0522-1e88-47fc-8382-2a80ba848f5d"
FINDINGS = "1195afff-c881-495e-9bc5-1486211ae03f"


def assessments(resource_id: str, *, edr: str, va: str, findings: str | None, severities: tuple[str, ...] = ()) -> list:
    out = []
    for key, code in ((EDR, edr), (VA, va), (FINDINGS, findings)):
        if code is not None:
            out.append({"id": f"{resource_id}/providers/Microsoft.Security/assessments/{key}", "name": key,
                        "type": "Microsoft.Security/assessments",
                        "properties": {"resourceDetails": {"source": "Azure", "id": resource_id},
                                       "displayName": key, "status": {"code": code}}})  # fmt: skip
    for n, severity in enumerate(severities):
        out.append({"id": f"{resource_id}/providers/Microsoft.Security/assessments/{FINDINGS}/subAssessments/{n:08d}",
                    "name": f"{n:08d}", "type": "Microsoft.Security/assessments/subAssessments",
                    "properties": {"displayName": f"finding {n}", "id": f"QID-{n}",
                                   "status": {"code": "Unhealthy", "severity": severity}}})  # fmt: skip
    return out


MDE = ("Microsoft.Azure.AzureDefenderForServers", "MDE.Linux")
AMA = ("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent")


def both_subscriptions() -> list[dict]:
    return [
        *pricings(PROD),
        contact(PROD),
        *vm(VM_OK, MDE, AMA, rule=True),
        *assessments(VM_OK, edr="Healthy", va="Healthy", findings="Unhealthy", severities=("Medium", "Low")),
        *pricings(DEV, free=("KeyVaults",), servers_sub_plan="P1", fim="False"),
        contact(DEV, state="Off"),
        *vm(VM_BARE, AMA),
        *assessments(VM_BARE, edr="NotApplicable", va="Unhealthy", findings=None),
    ]


def test_defender_and_vm_agents_pass_in_prod_and_fail_in_dev(judge):
    judged = judge(estate(both_subscriptions()))
    assert judged.facts.errors == []
    p, d = f"/subscriptions/{PROD}", f"/subscriptions/{DEV}"
    for check_id in ("defender-plans-enabled", "defender-servers-fim-enabled", "defender-security-contacts"):
        found = judged.findings(check_id)
        assert found[p.lower()].status == Status.PASS, (check_id, found[p.lower()].reason_en)
        assert found[d.lower()].status == Status.FAIL, (check_id, found[d.lower()].reason_en)
    assert "KeyVaults (Free)" in judged.findings("defender-plans-enabled")[d.lower()].reason_en
    assert "subPlan P1" in judged.findings("defender-servers-fim-enabled")[d.lower()].reason_en
    assert "alert notifications off" in judged.findings("defender-security-contacts")[d.lower()].reason_en
    checks = ("endpoint-protection-installed", "vm-logs-collected", "endpoint-protection-healthy",
              "vulnerability-findings-high-max")  # fmt: skip
    for check_id in checks:
        found = judged.findings(check_id)
        assert found[VM_OK.lower()].status == Status.PASS, found[VM_OK.lower()].reason_en
        assert found[VM_BARE.lower()].status == Status.FAIL, found[VM_BARE.lower()].reason_en
    assert judged.findings("vm-logs-collected")[VM_BARE.lower()].reason_en.endswith(
        "no data collection rule association"
    )
    for number in (61, 62, 72, 73, 74, 92, 118):
        assert judged.verdict(number) == Status.FAIL


def test_defender_not_registered_and_a_refused_extension_listing_are_errors(judge):
    faults = [
        {"kind": "not_registered", "subscription": PROD, "resourceType": "Microsoft.Security"},
        {"kind": "forbidden", "resourceType": "Microsoft.Compute/virtualMachines/extensions"},
        # Resource Graph refused too: the collector falls back to the per-VM ARM reads, which are refused.
        {"kind": "forbidden", "path": "/providers/Microsoft.ResourceGraph/*"},
    ]
    docs = [*pricings(PROD), contact(PROD), *vm(VM_OK, MDE, AMA, rule=True)]
    docs += assessments(VM_OK, edr="Healthy", va="Healthy", findings="Healthy")
    judged = judge(estate(docs, faults=faults, subscriptions=(PROD,)))
    p = f"/subscriptions/{PROD}".lower()
    for check_id in ("defender-plans-enabled", "defender-servers-fim-enabled", "defender-security-contacts"):
        finding = judged.findings(check_id)[p]
        assert finding.status == Status.ERROR
        assert "MissingSubscriptionRegistration (HTTP 409)" in finding.reason_en
        assert "not registered to use namespace 'Microsoft.Security'" in finding.reason_en
    for check_id in ("endpoint-protection-installed", "vm-logs-collected"):
        finding = judged.findings(check_id)[VM_OK.lower()]
        assert finding.status == Status.ERROR and "AuthorizationFailed (HTTP 403)" in finding.reason_en
    for check_id in ("endpoint-protection-healthy", "vulnerability-findings-high-max"):
        finding = judged.findings(check_id)[VM_OK.lower()]
        assert finding.status == Status.ERROR and "MissingSubscriptionRegistration (HTTP 409)" in finding.reason_en
    for number in (62, 72, 73, 74, 92):
        assert judged.verdict(number) == Status.ERROR


def test_an_unregistered_provider_is_never_registered_on_the_collectors_behalf():
    """azure-mgmt-core would POST .../providers/Microsoft.Security/register on a 409 and retry: a write. The
    collector's clients refuse it, so the read fails as Azure answered and nothing is changed."""
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.security import SecurityCenter

    from collector.azure_clients import ClientFactory, make_credential
    from sandbox.server import Sandbox
    from tests.pipeline.conftest import sandbox_settings

    faults = [{"kind": "not_registered", "subscription": PROD, "resourceType": "Microsoft.Security"}]
    with Sandbox.from_dict(estate([contact(PROD)], faults=faults, subscriptions=(PROD,))) as sb:
        settings = sandbox_settings(sb)
        client = ClientFactory(make_credential(settings.azure), settings.azure, settings.collection).arm(
            SecurityCenter, PROD
        )
        with pytest.raises(HttpResponseError) as info:
            list(client.pricings.list(f"subscriptions/{PROD}"))
        methods = [(r.method, r.path) for r in sb.requests.snapshot() if r.api == "arm"]
    assert info.value.status_code == 409 and info.value.error.code == "MissingSubscriptionRegistration"
    assert all(method == "GET" for method, _ in methods), methods
