"""Edge protection, collected through the sandbox by the real SDK clients: Azure Firewalls and firewall policies,
Application Gateways and their WAF policies, Front Door WAF policies, public IPs traced to their virtual networks,
and the devices' diagnostic settings."""

from controls.model import Status
from tests.estates import PROD, doc, estate, rid

NET = "Microsoft.Network"
HUB_SUBNET = rid(f"{NET}/virtualNetworks/vnet-hub/subnets/snet-agw")
FW_SUBNET = rid(f"{NET}/virtualNetworks/vnet-hub/subnets/AzureFirewallSubnet")
APP_SUBNET = rid(f"{NET}/virtualNetworks/vnet-app/subnets/snet-app")
CFG = "azureFirewallIpConfigurations/ipconfig1"
WORKSPACE = rid("Microsoft.OperationalInsights/workspaces/log-hub")


def firewall(name: str, policy: str) -> list[dict]:
    pip = f"pip-{name}"
    fw = doc(f"{NET}/azureFirewalls/{name}", {
        "sku": {"name": "AZFW_VNet", "tier": "Premium"}, "threatIntelMode": "Alert",
        "firewallPolicy": {"id": rid(f"{NET}/firewallPolicies/{policy}")},
        "ipConfigurations": [{"name": "ipconfig1", "id": rid(f"{NET}/azureFirewalls/{name}/{CFG}"),
                              "properties": {"subnet": {"id": FW_SUBNET},
                                             "publicIPAddress": {"id": rid(f"{NET}/publicIPAddresses/{pip}")}}}],
    })  # fmt: skip
    return [fw, public_ip(pip, f"{fw['id']}/{CFG}")]


def firewall_policy(name: str, mode: str) -> dict:
    return doc(f"{NET}/firewallPolicies/{name}", {"sku": {"tier": "Premium"}, "threatIntelMode": "Deny",
               "intrusionDetection": {"mode": mode}, "firewalls": []})  # fmt: skip


def gateway(name: str, policy: str, ssl_policy: str) -> list[dict]:
    gid = rid(f"{NET}/applicationGateways/{name}")
    gw = doc(f"{NET}/applicationGateways/{name}", {
        "sku": {"name": "WAF_v2", "tier": "WAF_v2", "capacity": 2},
        "sslPolicy": {"policyType": "Predefined", "policyName": ssl_policy},
        "firewallPolicy": {"id": rid(f"{NET}/ApplicationGatewayWebApplicationFirewallPolicies/{policy}")},
        "gatewayIPConfigurations": [{"name": "gw", "id": f"{gid}/gatewayIPConfigurations/gw",
                                     "properties": {"subnet": {"id": HUB_SUBNET}}}],
        "frontendIPConfigurations": [{"name": "fe", "id": f"{gid}/frontendIPConfigurations/fe", "properties": {
            "publicIPAddress": {"id": rid(f"{NET}/publicIPAddresses/pip-{name}")}}}]})  # fmt: skip
    return [gw, public_ip(f"pip-{name}", f"{gid}/frontendIPConfigurations/fe")]


def waf_policy(name: str, mode: str, rule_set: tuple[str, str]) -> dict:
    return doc(f"{NET}/ApplicationGatewayWebApplicationFirewallPolicies/{name}", {
        "policySettings": {"state": "Enabled", "mode": mode, "requestBodyCheck": True},
        "managedRules": {"managedRuleSets": [{"ruleSetType": rule_set[0], "ruleSetVersion": rule_set[1]}]},
    })  # fmt: skip


def public_ip(name: str, attached: str, mode: str = "VirtualNetworkInherited") -> dict:
    return doc(f"{NET}/publicIPAddresses/{name}", {"ipAddress": "20.0.0.1", "publicIPAllocationMethod": "Static",
               "ipConfiguration": {"id": attached}, "ddosSettings": {"protectionMode": mode}},
               sku={"name": "Standard", "tier": "Regional"})  # fmt: skip


def vnet(name: str, protected: bool) -> dict:
    props: dict = {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "enableDdosProtection": protected}
    if protected:
        props["ddosProtectionPlan"] = {"id": rid(f"{NET}/ddosProtectionPlans/ddos-plan")}
    return doc(f"{NET}/virtualNetworks/{name}", props)


def diagnostics(resource: dict, *categories: str) -> dict:
    logs = [{"category": c, "enabled": True} for c in categories] or [{"categoryGroup": "allLogs", "enabled": True}]
    return {"id": f"{resource['id']}/providers/microsoft.insights/diagnosticSettings/to-law", "name": "to-law",
            "type": "Microsoft.Insights/diagnosticSettings",
            "properties": {"workspaceId": WORKSPACE, "logs": logs}}  # fmt: skip


def edge_estate(*, failing: bool = True, **kw) -> dict:
    """Compliant devices, and with `failing` a second device of each kind that is not."""
    fw_ok, fw_alert = firewall("afw-ok", "afwp-deny"), firewall("afw-alert", "afwp-alert")
    agw_ok = gateway("agw-ok", "waf-prevent", "AppGwSslPolicy20220101S")
    agw_old = gateway("agw-old", "waf-detect", "AppGwSslPolicy20150501")
    nic = doc(f"{NET}/networkInterfaces/nic-vm", {"ipConfigurations": [{
        "name": "ipconfig1", "id": rid(f"{NET}/networkInterfaces/nic-vm/ipConfigurations/ipconfig1"),
        "properties": {"subnet": {"id": APP_SUBNET}}}]})  # fmt: skip
    front_door = doc(f"{NET}/FrontDoorWebApplicationFirewallPolicies/fdwafok", {
        "policySettings": {"enabledState": "Enabled", "mode": "Prevention"},
        "managedRules": {"managedRuleSets": [{"ruleSetType": "Microsoft_DefaultRuleSet", "ruleSetVersion": "2.1"}]}},
        location="Global", sku={"name": "Premium_AzureFrontDoor"})  # fmt: skip
    good = [
        *fw_ok, firewall_policy("afwp-deny", "Deny"), *agw_ok,
        waf_policy("waf-prevent", "Prevention", ("Microsoft_DefaultRuleSet", "2.1")), front_door,
        vnet("vnet-hub", True), diagnostics(fw_ok[0]), diagnostics(agw_ok[0]),
    ]  # fmt: skip
    bad = [
        *fw_alert, firewall_policy("afwp-alert", "Alert"), *agw_old,
        waf_policy("waf-detect", "Detection", ("OWASP", "3.1")), vnet("vnet-app", False), nic,
        public_ip("pip-vm", f"{nic['id']}/ipConfigurations/ipconfig1"),
        diagnostics(agw_old[0], "ApplicationGatewayAccessLog"),
    ]  # fmt: skip
    return estate(good + (bad if failing else []), **kw)


def test_edge_devices_pass_and_fail_on_their_settings(judge):
    judged = judge(edge_estate())

    def status(check_id: str) -> dict:
        return {r.rsplit("/", 1)[-1]: f.status for r, f in judged.findings(check_id).items()}

    assert status("firewall-idps-deny") == {"afw-ok": Status.PASS, "afw-alert": Status.FAIL}
    assert status("waf-prevention-mode") == {"agw-ok": Status.PASS, "agw-old": Status.FAIL, "fdwafok": Status.PASS}
    assert status("waf-managed-ruleset-current") == {
        "waf-prevent": Status.PASS, "waf-detect": Status.FAIL, "fdwafok": Status.PASS}  # fmt: skip
    assert status("app-gateway-tls-policy") == {"agw-ok": Status.PASS, "agw-old": Status.FAIL}
    assert status("ddos-protection-public-endpoints") == {
        "pip-afw-ok": Status.PASS, "pip-afw-alert": Status.PASS, "pip-agw-ok": Status.PASS,
        "pip-agw-old": Status.PASS, "pip-vm": Status.FAIL}  # fmt: skip
    assert status("ids-logs-retained") == {
        "afw-ok": Status.PASS, "afw-alert": Status.FAIL, "agw-ok": Status.PASS, "agw-old": Status.FAIL}  # fmt: skip
    old = judged.findings("waf-prevention-mode")[rid(f"{NET}/applicationGateways/agw-old").lower()]
    assert "WAF policy waf-detect has state Enabled and mode Detection" in old.reason_en
    assert {n: judged.verdict(n) for n in (90, 91, 93)} == dict.fromkeys((90, 91, 93), Status.FAIL)
    assert judged.verdict(123) == Status.FAIL


def test_a_refused_firewall_listing_is_an_error_never_a_pass(judge):
    faults = [{"kind": "forbidden", "subscription": PROD, "resourceType": "Microsoft.Network/azureFirewalls"}]
    judged = judge(edge_estate(failing=False, faults=faults))
    assert {f.status for f in judged.findings("firewall-idps-deny").values()} == {Status.ERROR}
    # Everything else at the boundary passes: the firewall that could not be read makes it an error.
    assert judged.findings("waf-prevention-mode") and all(
        f.status == Status.PASS for f in judged.findings("waf-prevention-mode").values())  # fmt: skip
    assert judged.verdict(90) == Status.ERROR
    # The other devices are still judged on their own listings.
    agw = judged.findings("app-gateway-tls-policy")
    assert agw[rid(f"{NET}/applicationGateways/agw-ok").lower()].status == Status.PASS
