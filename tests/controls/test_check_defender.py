"""Defender for Cloud and VM agents: plans, file integrity monitoring, security contacts, endpoint protection and
the Azure Monitor Agent, judged from evidence built here."""

from dataclasses import replace
from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactKind, FactSet, Status, Thresholds

PROD = "a8233bec-16ce-49d8-af36-5decabf6c438"
DEV = "91142ddd-0943-48c0-91d5-e66f9c050145"
AT = datetime(2026, 11, 22, tzinfo=UTC)
PLANS = ("VirtualMachines", "AppServices", "SqlServers", "StorageAccounts", "KeyVaults", "Arm")


def ev(kind: str, doc: dict, resource_id: str | None = None, scope: str | None = None) -> Evidence:
    rid = resource_id or doc["id"]
    scope = scope or "/".join(rid.split("/")[:3])  # listed in the subscription of its id
    return Evidence(kind, "test", scope, rid, "2024-01-01", None, AT, doc)


def sub(sid: str, name: str) -> Evidence:
    doc = {"id": f"/subscriptions/{sid}", "subscriptionId": sid, "displayName": name, "state": "Enabled"}
    return ev(FactKind.SUBSCRIPTION, doc)


SUBS = [sub(PROD, "EMR-Production"), sub(DEV, "EMR-Development")]


def pricing(sid: str, name: str, tier: str = "Standard", **extra) -> Evidence:
    doc = {
        "id": f"/subscriptions/{sid}/providers/Microsoft.Security/pricings/{name}",
        "name": name,
        "type": "Microsoft.Security/pricings",
        "properties": {"pricingTier": tier, "freeTrialRemainingTime": "PT0S", **extra},
    }
    return ev("defender_pricing", doc)


def all_plans(sid: str, **tiers: str) -> list[Evidence]:
    return [pricing(sid, p, tiers.get(p, "Standard")) for p in PLANS]


def error(kind: str, scope: str, code: str = "MissingSubscriptionRegistration", status: int = 409) -> CollectionError:
    return CollectionError(kind, "test", scope, code, "The subscription is not registered to use namespace "
                           "'Microsoft.Security'.", status, None, AT)  # fmt: skip


def run(check_id: str, *evidence: Evidence, errors=(), thresholds: Thresholds | None = None) -> dict:
    facts = FactSet(list(evidence), list(errors))
    return {f.resource_id: f for f in CHECKS_BY_ID[check_id].evaluate(facts, thresholds or Thresholds())}


# ---------------------------------------------------------------- defender-plans-enabled


def test_plans_on_standard_pass_and_a_free_plan_fails_naming_it():
    found = run("defender-plans-enabled", *SUBS, *all_plans(PROD), *all_plans(DEV, KeyVaults="Free", Arm="Free"))
    ok, bad = found[f"/subscriptions/{PROD}"], found[f"/subscriptions/{DEV}"]
    assert ok.status == Status.PASS and "all on the Standard tier" in ok.reason_en
    assert bad.status == Status.FAIL
    assert bad.reason_en == (
        f"subscription EMR-Development ({DEV}): Defender plans KeyVaults (Free), Arm (Free) are not on the Standard "
        "tier (required: VirtualMachines, AppServices, SqlServers, StorageAccounts, KeyVaults, Arm)"
    )
    assert "KeyVaults（Free）、Arm（Free）" in bad.reason_ja


def test_plan_names_compare_case_insensitively_and_a_missing_plan_is_an_error():
    t = Thresholds(defender_required_plans=("virtualmachines", "CosmosDbs"))
    found = run("defender-plans-enabled", SUBS[0], *all_plans(PROD), thresholds=t)
    f = found[f"/subscriptions/{PROD}"]
    assert f.status == Status.ERROR and "has no CosmosDbs" in f.reason_en


def test_a_missing_plan_beside_a_free_one_still_fails():
    t = Thresholds(defender_required_plans=("AppServices", "CosmosDbs"))
    f = run("defender-plans-enabled", SUBS[0], *all_plans(PROD, AppServices="Free"), thresholds=t)[
        f"/subscriptions/{PROD}"
    ]
    assert f.status == Status.FAIL and "(not listed: CosmosDbs)" in f.reason_en


def test_documents_belong_to_the_subscription_they_were_listed_in():
    # A plan document whose own id names another subscription still counts for the subscription listed.
    moved = [replace(p, scope=f"/subscriptions/{PROD}", resource_id=p.resource_id.replace(PROD, DEV))
             for p in all_plans(PROD)]  # fmt: skip
    found = run("defender-plans-enabled", *SUBS, *moved, *all_plans(DEV, Arm="Free"))
    assert found[f"/subscriptions/{PROD}"].status == Status.PASS
    assert found[f"/subscriptions/{DEV}"].status == Status.FAIL


def test_no_pricings_and_no_error_is_an_error_never_a_pass():
    f = run("defender-plans-enabled", SUBS[0])[f"/subscriptions/{PROD}"]
    assert f.status == Status.ERROR


def test_provider_not_registered_is_an_error_naming_the_code():
    found = run(
        "defender-plans-enabled", *SUBS, *all_plans(DEV), errors=[error("defender_pricing", f"/subscriptions/{PROD}")]
    )
    f = found[f"/subscriptions/{PROD}"]
    assert f.status == Status.ERROR
    assert "MissingSubscriptionRegistration (HTTP 409)" in f.reason_en and "Microsoft.Security" in f.reason_en
    assert found[f"/subscriptions/{DEV}"].status == Status.PASS


# ---------------------------------------------------------------- defender-servers-fim-enabled


def vm_plan(sid: str, sub_plan: str | None = "P2", fim: object = "True") -> Evidence:
    extensions = [{"name": "AgentlessVmScanning", "isEnabled": "True"}]
    if fim is not None:
        extensions.append({"name": "FileIntegrityMonitoring", "isEnabled": fim})
    extra = {"extensions": extensions}
    if sub_plan is not None:
        extra["subPlan"] = sub_plan
    return pricing(sid, "VirtualMachines", **extra)


def test_fim_on_plan_2_passes():
    f = run("defender-servers-fim-enabled", SUBS[0], vm_plan(PROD))[f"/subscriptions/{PROD}"]
    assert f.status == Status.PASS
    assert "pricingTier Standard, subPlan P2, FileIntegrityMonitoring isEnabled True" in f.reason_en


def test_fim_off_plan_1_or_free_fails():
    for doc, shown in [
        (vm_plan(PROD, fim="False"), "FileIntegrityMonitoring isEnabled False"),
        (vm_plan(PROD, sub_plan="P1", fim=None), "subPlan P1, FileIntegrityMonitoring not listed"),
        (pricing(PROD, "VirtualMachines", "Free"), "pricingTier Free, subPlan not set"),
    ]:
        f = run("defender-servers-fim-enabled", SUBS[0], doc)[f"/subscriptions/{PROD}"]
        assert f.status == Status.FAIL and shown in f.reason_en, f.reason_en


def test_fim_without_the_servers_plan_listed_or_collected_is_an_error():
    f = run("defender-servers-fim-enabled", SUBS[0], pricing(PROD, "Arm"))[f"/subscriptions/{PROD}"]
    assert f.status == Status.ERROR and "no VirtualMachines plan" in f.reason_en
    err = error("defender_pricing", f"/subscriptions/{PROD}", "AuthorizationFailed", 403)
    f = run("defender-servers-fim-enabled", SUBS[0], errors=[err])[f"/subscriptions/{PROD}"]
    assert f.status == Status.ERROR and "AuthorizationFailed (HTTP 403)" in f.reason_en


# ---------------------------------------------------------------- defender-security-contacts


def contact(sid: str, emails: str = "soc@aozora.example", state: str = "On", severity: str | None = "High") -> Evidence:
    alerts = {"state": state}
    if severity is not None:
        alerts["minimalSeverity"] = severity
    doc = {
        "id": f"/subscriptions/{sid}/providers/Microsoft.Security/securityContacts/default",
        "name": "default",
        "type": "Microsoft.Security/securityContacts",
        "properties": {"emails": emails, "alertNotifications": alerts, "notificationsByRole": {"state": "On",
                       "roles": ["Owner"]}},
    }  # fmt: skip
    return ev("security_contact", doc)


def test_contact_mailed_high_or_lower_passes():
    for severity in ("High", "Medium", "low"):
        f = run("defender-security-contacts", SUBS[0], contact(PROD, "a@x.example;b@x.example", severity=severity))
        f = f[f"/subscriptions/{PROD}"]
        assert f.status == Status.PASS, severity
        assert f"severity {severity} and above to a@x.example, b@x.example" in f.reason_en


def test_no_contact_no_email_or_notifications_off_fail():
    assert run("defender-security-contacts", SUBS[0])[f"/subscriptions/{PROD}"].status == Status.FAIL
    f = run("defender-security-contacts", SUBS[0], contact(PROD, emails=""))[f"/subscriptions/{PROD}"]
    assert f.status == Status.FAIL and "default (no email address)" in f.reason_en
    f = run("defender-security-contacts", SUBS[0], contact(PROD, state="Off"))[f"/subscriptions/{PROD}"]
    assert f.status == Status.FAIL and "default (alert notifications off)" in f.reason_en
    f = run("defender-security-contacts", SUBS[0], contact(PROD, severity=None))[f"/subscriptions/{PROD}"]
    assert f.status == Status.FAIL and "minimalSeverity not set" in f.reason_en


def test_unknown_severity_is_an_error_and_the_newer_shape_is_read():
    f = run("defender-security-contacts", SUBS[0], contact(PROD, severity="Critical"))[f"/subscriptions/{PROD}"]
    assert f.status == Status.ERROR and "Critical" in f.reason_en
    newer = contact(PROD)
    sources = [
        {"sourceType": "Alert", "minimalSeverity": "Medium"},
        {"sourceType": "AttackPath", "minimalRiskLevel": "Critical"},
    ]
    properties = {"emails": "soc@x.example", "isEnabled": True, "notificationsSources": sources}
    content = {**newer.content, "properties": properties}
    f = run("defender-security-contacts", SUBS[0], replace(newer, content=content, sha256=""))
    assert f[f"/subscriptions/{PROD}"].status == Status.PASS


def test_contacts_not_collected_is_an_error():
    f = run("defender-security-contacts", SUBS[0], errors=[error("security_contact", f"/subscriptions/{PROD}")])
    assert f[f"/subscriptions/{PROD}"].status == Status.ERROR


# ---------------------------------------------------------------- endpoint protection and the monitor agent

VM = f"/subscriptions/{PROD}/resourceGroups/rg-ops/providers/Microsoft.Compute/virtualMachines/vm1"


def vm() -> Evidence:
    doc = {"id": VM, "name": "vm1", "type": "Microsoft.Compute/virtualMachines", "location": "japaneast",
           "properties": {"storageProfile": {"osDisk": {"osType": "Linux"}}}}  # fmt: skip
    return ev("virtual_machine", doc)


def ext(publisher: str, type_: str, state: str = "Succeeded") -> dict:
    return {"id": f"{VM}/extensions/{type_}", "name": type_, "type": "Microsoft.Compute/virtualMachines/extensions",
            "properties": {"publisher": publisher, "type": type_, "typeHandlerVersion": "1.0",
                           "provisioningState": state}}  # fmt: skip


MDE = ext("Microsoft.Azure.AzureDefenderForServers", "MDE.Linux")
AMA = ext("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent")
DCRA = {"id": f"{VM}/providers/Microsoft.Insights/dataCollectionRuleAssociations/dcr-assoc",
        "name": "dcr-assoc", "type": "Microsoft.Insights/dataCollectionRuleAssociations",
        "properties": {"dataCollectionRuleId": f"/subscriptions/{PROD}/resourceGroups/rg-mon/providers/"
                       "Microsoft.Insights/dataCollectionRules/dcr-linux-syslog"}}  # fmt: skip


def per_vm(kind: str, *items: dict) -> Evidence:
    return ev(kind, {"value": list(items)}, VM)


def test_endpoint_protection_succeeded_passes_missing_or_failed_fails():
    f = run("endpoint-protection-installed", vm(), per_vm("vm_extensions", AMA, MDE))[VM]
    assert f.status == Status.PASS and "MDE.Linux (Succeeded)" in f.reason_en
    antimalware = ext("Microsoft.Azure.Security", "IaaSAntimalware")
    assert run("endpoint-protection-installed", vm(), per_vm("vm_extensions", antimalware))[VM].status == Status.PASS
    f = run("endpoint-protection-installed", vm(), per_vm("vm_extensions", AMA))[VM]
    assert f.status == Status.FAIL and "extensions installed: AzureMonitorLinuxAgent (Succeeded)" in f.reason_en
    broken = ext("Microsoft.Azure.AzureDefenderForServers", "MDE.Linux", "Failed")
    f = run("endpoint-protection-installed", vm(), per_vm("vm_extensions", broken))[VM]
    assert f.status == Status.FAIL and "MDE.Linux (Failed) is not provisioned" in f.reason_en
    # The same type from another publisher is not endpoint protection.
    fake = ext("Contoso.Tools", "MDE.Linux")
    assert run("endpoint-protection-installed", vm(), per_vm("vm_extensions", fake))[VM].status == Status.FAIL


def test_extensions_not_collected_are_an_error():
    f = run("endpoint-protection-installed", vm())[VM]
    assert f.status == Status.ERROR and "not collected" in f.reason_en
    err = error("vm_extensions", VM, "AuthorizationFailed", 403)
    f = run("endpoint-protection-installed", vm(), errors=[err])[VM]
    assert f.status == Status.ERROR and "AuthorizationFailed (HTTP 403)" in f.reason_en
    f = run("endpoint-protection-installed", vm(), ev("vm_extensions", {"value": None}, VM))[VM]
    assert f.status == Status.ERROR


def test_vm_logs_need_the_agent_and_a_rule():
    f = run("vm-logs-collected", vm(), per_vm("vm_extensions", AMA, MDE), per_vm("dcr_associations", DCRA))[VM]
    assert f.status == Status.PASS and "dcr-linux-syslog" in f.reason_en
    f = run("vm-logs-collected", vm(), per_vm("vm_extensions", MDE), per_vm("dcr_associations"))[VM]
    assert f.status == Status.FAIL
    assert f.reason_en == (
        "virtual machine vm1: its logs are not collected: no Azure Monitor Agent; no data collection rule association"
    )
    endpoint_only = {**DCRA, "properties": {"dataCollectionEndpointId": "/subscriptions/x/dce"}}
    f = run("vm-logs-collected", vm(), per_vm("vm_extensions", AMA), per_vm("dcr_associations", endpoint_only))[VM]
    assert f.status == Status.FAIL and f.reason_en.endswith("no data collection rule association")


def test_vm_logs_associations_not_collected_are_an_error():
    f = run("vm-logs-collected", vm(), per_vm("vm_extensions", AMA))[VM]
    assert f.status == Status.ERROR and "data collection rule associations" in f.reason_en


# ---------------------------------------------------------------- Defender recommendations on VMs

EDR = "dc5357d0-3858-4d17-a1a3-072840bff5be"
VA = "ffff0522-1e88-47fc-8382-2a80ba848f5d"
FINDINGS = "1195afff-c881-495e-9bc5-1486211ae03f"


def assessment(key: str, code: str, resource: str = VM, **status) -> Evidence:
    doc = {
        "id": f"{resource}/providers/Microsoft.Security/assessments/{key}",
        "name": key,
        "type": "Microsoft.Security/assessments",
        "properties": {"resourceDetails": {"source": "Azure", "id": resource}, "displayName": key,
                       "status": {"code": code, **status}},
    }  # fmt: skip
    return ev("security_assessment", doc)


def finding(n: int, severity: str = "High", code: str = "Unhealthy", resource: str = VM) -> Evidence:
    doc = {
        "id": f"{resource}/providers/Microsoft.Security/assessments/{FINDINGS}/subAssessments/0000000{n}",
        "name": f"0000000{n}",
        "type": "Microsoft.Security/assessments/subAssessments",
        "properties": {"displayName": f"openssl {n}", "id": f"CVE-2026-000{n}",
                       "status": {"code": code, "severity": severity},
                       "additionalData": {"cve": [{"title": f"CVE-2026-000{n}"}]}},
    }  # fmt: skip
    return ev("security_sub_assessment", doc)


def test_edr_healthy_passes_unhealthy_or_not_applicable_fails_missing_errors():
    assert run("endpoint-protection-healthy", vm(), assessment(EDR, "Healthy"))[VM].status == Status.PASS
    f = run("endpoint-protection-healthy", vm(), assessment(EDR, "Unhealthy", cause="SignatureOutOfDate"))[VM]
    assert f.status == Status.FAIL and "endpoint protection is Unhealthy (SignatureOutOfDate)" in f.reason_en
    assert run("endpoint-protection-healthy", vm(), assessment(EDR, "NotApplicable"))[VM].status == Status.FAIL
    # An assessment of another VM, or another key, is not this VM's.
    other = assessment(EDR, "Healthy", resource=VM + "x")
    f = run("endpoint-protection-healthy", vm(), other, assessment(VA, "Healthy"))[VM]
    assert f.status == Status.ERROR and EDR in f.reason_en
    err = error("security_assessment", f"/subscriptions/{PROD}")
    f = run("endpoint-protection-healthy", vm(), errors=[err])[VM]
    assert f.status == Status.ERROR and "MissingSubscriptionRegistration" in f.reason_en
    assert run("endpoint-protection-healthy", vm(), assessment(EDR, "Pending"))[VM].status == Status.ERROR


def test_vulnerability_findings_within_the_limit_pass():
    base = (vm(), assessment(VA, "Healthy"))
    f = run("vulnerability-findings-high-max", *base, assessment(FINDINGS, "Healthy"))[VM]
    assert f.status == Status.PASS and "no open findings" in f.reason_en
    medium = finding(1, "Medium")
    f = run("vulnerability-findings-high-max", *base, assessment(FINDINGS, "Unhealthy"), medium)[VM]
    assert f.status == Status.PASS and "has 0 open High-severity findings (at most 0 allowed)" in f.reason_en
    t = Thresholds(vulnerability_high_findings_max=1)
    f = run("vulnerability-findings-high-max", *base, assessment(FINDINGS, "Unhealthy"), finding(1), thresholds=t)
    assert f[VM].status == Status.PASS


def test_vulnerability_findings_over_the_limit_or_no_scanner_fail():
    base = (vm(), assessment(VA, "Healthy"), assessment(FINDINGS, "Unhealthy"))
    resolved = finding(3, code="Healthy")
    f = run("vulnerability-findings-high-max", *base, finding(1), finding(2), resolved)[VM]
    assert f.status == Status.FAIL
    assert f.reason_en == (
        "virtual machine vm1 has 2 open High-severity vulnerability findings (at most 0 allowed): "
        "openssl 1 (CVE-2026-0001), openssl 2 (CVE-2026-0002)"
    )
    f = run("vulnerability-findings-high-max", vm(), assessment(VA, "Unhealthy", cause="NoVaSolution"))[VM]
    assert f.status == Status.FAIL and "is not scanned for vulnerabilities" in f.reason_en


def test_vulnerability_findings_missing_assessments_or_findings_are_errors():
    assert run("vulnerability-findings-high-max", vm())[VM].status == Status.ERROR
    f = run("vulnerability-findings-high-max", vm(), assessment(VA, "Healthy"))[VM]
    assert f.status == Status.ERROR and FINDINGS in f.reason_en
    err = error("security_sub_assessment", f"/subscriptions/{PROD}", "InternalServerError", 500)
    base = (vm(), assessment(VA, "Healthy"), assessment(FINDINGS, "Unhealthy"))
    f = run("vulnerability-findings-high-max", *base, errors=[err])[VM]
    assert f.status == Status.ERROR and "InternalServerError (HTTP 500)" in f.reason_en
