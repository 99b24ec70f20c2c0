"""Edge protection checks: firewall IDPS, WAF mode and rule sets, Application Gateway TLS, DDoS protection."""

from dataclasses import replace
from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.checks.edge import weak_cipher
from controls.model import Evidence, FactKind, FactSet, Status, Thresholds

PROD = "a8233bec-16ce-49d8-af36-5decabf6c438"
DEV = "91142ddd-0943-48c0-91d5-e66f9c050145"
NET = "Microsoft.Network"


def rid(path: str, sub: str = PROD, rg: str = "rg-edge") -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{NET}/{path}"


def ev(kind: str, doc: dict, scope: str = f"/subscriptions/{PROD}") -> Evidence:
    return Evidence(kind, "test", scope, doc["id"], "2025-05-01", None, datetime(2026, 11, 22, tzinfo=UTC), doc)


def res(kind: str, path: str, properties: dict, sub: str = PROD, **extra) -> Evidence:
    rtype = f"{NET}/" + "/".join(path.split("/")[0::2])
    doc = {"id": rid(path, sub), "name": path.rsplit("/", 1)[-1], "type": rtype, "properties": properties, **extra}
    return ev(kind, doc, f"/subscriptions/{sub}")


def run(check_id: str, *evidence: Evidence, thresholds: Thresholds | None = None) -> dict:
    findings = CHECKS_BY_ID[check_id].evaluate(FactSet(list(evidence)), thresholds or Thresholds())
    return {f.resource_id.rsplit("/", 1)[-1]: f for f in findings}


# ---------------------------------------------------------------- firewall-idps-deny


def firewall(name: str, tier: str = "Premium", policy: str | None = "afwp") -> Evidence:
    p: dict = {"sku": {"name": "AZFW_VNet", "tier": tier}, "threatIntelMode": "Alert"}
    if policy:
        p["firewallPolicy"] = {"id": rid(f"firewallPolicies/{policy}")}
    return res("azure_firewall", f"azureFirewalls/{name}", p)


def fw_policy(name: str, mode: str | None = "Deny", intel: str | None = "Deny", tier: str = "Premium") -> Evidence:
    p: dict = {"sku": {"tier": tier}}
    if mode is not None:
        p["intrusionDetection"] = {"mode": mode, "configuration": {"signatureOverrides": []}}
    if intel is not None:
        p["threatIntelMode"] = intel
    return res("firewall_policy", f"firewallPolicies/{name}", p)


def test_premium_firewall_with_idps_deny_passes_and_alert_only_when_accepted():
    f = run("firewall-idps-deny", firewall("afw-ok"), fw_policy("afwp"))["afw-ok"]
    assert f.status == Status.PASS
    assert f.reason_en == (
        "Azure Firewall afw-ok uses Premium firewall policy afwp with IDPS mode Deny and threat intelligence Deny"
    )
    alert = [firewall("afw-a", policy="afwp-alert"), fw_policy("afwp-alert", mode="Alert")]
    f = run("firewall-idps-deny", *alert)["afw-a"]
    assert f.status == Status.FAIL
    assert "intrusionDetection.mode is Alert (accepted: Deny)" in f.reason_en and "許容: Deny" in f.reason_ja
    t = replace(Thresholds(), idps_accepted_modes=("Alert", "Deny"))
    assert run("firewall-idps-deny", *alert, thresholds=t)["afw-a"].status == Status.PASS


def test_firewall_fails_without_premium_policy_idps_or_threat_intel():
    findings = run(
        "firewall-idps-deny",
        firewall("afw-std", tier="Standard"),
        firewall("afw-classic", policy=None),
        firewall("afw-off", policy="p-off"),
        fw_policy("p-off", mode=None, intel="Off"),
        firewall("afw-stdpol", policy="p-std"),
        fw_policy("p-std", tier="Standard"),
    )
    assert {n: f.status for n, f in findings.items()} == dict.fromkeys(
        ["afw-std", "afw-classic", "afw-off", "afw-stdpol"], Status.FAIL
    )
    assert "SKU tier Standard; IDPS requires Premium" in findings["afw-std"].reason_en
    assert "has no firewallPolicy" in findings["afw-classic"].reason_en
    assert findings["afw-off"].reason_en == (
        "Azure Firewall afw-off firewall policy p-off: intrusionDetection.mode is not set (accepted: Deny); "
        "threatIntelMode is Off"
    )
    assert "policy SKU tier is Standard" in findings["afw-stdpol"].reason_en


def test_firewall_policy_not_collected_or_threat_intel_unreadable_is_an_error():
    findings = run("firewall-idps-deny", firewall("afw-x", policy="gone"), firewall("afw-y", policy="p"),
                   fw_policy("p", intel=None))  # fmt: skip
    assert findings["afw-x"].status == Status.ERROR and "gone was not collected" in findings["afw-x"].reason_en
    assert findings["afw-y"].status == Status.ERROR and "threatIntelMode is missing" in findings["afw-y"].reason_en


# ---------------------------------------------------------------- waf-prevention-mode


def waf_policy(name: str, state: str = "Enabled", mode: str = "Prevention", sets: list | None = None) -> Evidence:
    managed = {"managedRuleSets": sets if sets is not None else [{"ruleSetType": "OWASP", "ruleSetVersion": "3.2"}]}
    p = {"policySettings": {"state": state, "mode": mode}, "managedRules": managed}
    return res("app_gateway_waf_policy", f"ApplicationGatewayWebApplicationFirewallPolicies/{name}", p)


def fd_policy(name: str, state: str = "Enabled", mode: str = "Prevention", sets: list | None = None) -> Evidence:
    drs = [{"ruleSetType": "Microsoft_DefaultRuleSet", "ruleSetVersion": "2.1", "ruleSetAction": "Block"}]
    managed = {"managedRuleSets": sets if sets is not None else drs}
    p = {"policySettings": {"enabledState": state, "mode": mode}, "managedRules": managed}
    return res("front_door_waf_policy", f"FrontDoorWebApplicationFirewallPolicies/{name}", p,
               sku={"name": "Premium_AzureFrontDoor"})  # fmt: skip


def gateway(name: str, policy: str | None = None, ssl: dict | None = None, tier: str = "WAF_v2", **more) -> Evidence:
    strict = {"policyType": "Predefined", "policyName": "AppGwSslPolicy20220101S"}
    p: dict = {"sku": {"name": tier, "tier": tier}, "sslPolicy": strict if ssl is None else ssl, **more}
    if policy:
        p["firewallPolicy"] = {"id": rid(f"ApplicationGatewayWebApplicationFirewallPolicies/{policy}")}
    return res("application_gateway", f"applicationGateways/{name}", p)


def test_gateway_waf_policy_in_prevention_passes_detection_fails_and_a_listener_policy_counts():
    listener = {"name": "l1", "properties": {"firewallPolicy": {"id": rid(
        "ApplicationGatewayWebApplicationFirewallPolicies/waf-detect")}}}  # fmt: skip
    findings = run(
        "waf-prevention-mode",
        gateway("agw-ok", "waf-prev"),
        gateway("agw-mixed", "waf-prev", httpListeners=[listener]),
        waf_policy("waf-prev"),
        waf_policy("waf-detect", mode="Detection"),
    )
    assert findings["agw-ok"].status == Status.PASS
    assert findings["agw-ok"].reason_en == (
        "Application Gateway agw-ok applies WAF policy waf-prev, Enabled in Prevention mode"
    )
    assert findings["agw-mixed"].status == Status.FAIL
    assert "WAF policy waf-detect has state Enabled and mode Detection" in findings["agw-mixed"].reason_en


def test_gateway_without_waf_fails_legacy_config_is_judged_and_missing_policy_is_an_error():
    legacy_ok = {"enabled": True, "firewallMode": "Prevention", "ruleSetType": "OWASP", "ruleSetVersion": "3.2"}
    legacy_bad = {**legacy_ok, "firewallMode": "Detection"}
    findings = run(
        "waf-prevention-mode",
        gateway("agw-std", tier="Standard_v2"),
        gateway("agw-legacy", webApplicationFirewallConfiguration=legacy_ok),
        gateway("agw-legacy-det", webApplicationFirewallConfiguration=legacy_bad),
        gateway("agw-gone", "not-collected"),
    )
    assert findings["agw-std"].status == Status.FAIL
    assert "(SKU tier Standard_v2) has neither a WAF policy nor a WAF configuration" in findings["agw-std"].reason_en
    assert findings["agw-legacy"].status == Status.PASS
    assert findings["agw-legacy-det"].status == Status.FAIL
    assert "firewallMode Detection" in findings["agw-legacy-det"].reason_en
    assert findings["agw-gone"].status == Status.ERROR and "not-collected was not collected" in findings[
        "agw-gone"].reason_en  # fmt: skip


def test_front_door_policies_are_judged_each():
    findings = run("waf-prevention-mode", fd_policy("fdwaf-ok"), fd_policy("fdwaf-off", state="Disabled"))
    assert findings["fdwaf-ok"].status == Status.PASS
    assert findings["fdwaf-off"].status == Status.FAIL
    assert "enabledState Disabled and mode Prevention" in findings["fdwaf-off"].reason_en


# ---------------------------------------------------------------- waf-managed-ruleset-current


def test_current_rule_sets_pass_and_old_ones_fail():
    findings = run(
        "waf-managed-ruleset-current",
        waf_policy("drs21", sets=[{"ruleSetType": "Microsoft_DefaultRuleSet", "ruleSetVersion": "2.1"},
                                  {"ruleSetType": "Microsoft_BotManagerRuleSet", "ruleSetVersion": "1.1"}]),
        waf_policy("owasp32"),
        waf_policy("owasp31", sets=[{"ruleSetType": "OWASP", "ruleSetVersion": "3.1"}]),
        waf_policy("none", sets=[]),
        fd_policy("fd21"),
        fd_policy("fd-legacy", sets=[{"ruleSetType": "DefaultRuleSet", "ruleSetVersion": "1.0"}]),
        fd_policy("fd20", sets=[{"ruleSetType": "Microsoft_DefaultRuleSet", "ruleSetVersion": "2.0"}]),
    )  # fmt: skip
    status = {n: f.status for n, f in findings.items()}
    assert status == {"drs21": Status.PASS, "owasp32": Status.PASS, "owasp31": Status.FAIL, "none": Status.FAIL,
                      "fd21": Status.PASS, "fd-legacy": Status.FAIL, "fd20": Status.FAIL}  # fmt: skip
    assert findings["owasp31"].reason_en == (
        "Application Gateway WAF policy owasp31 uses an outdated managed rule set: OWASP 3.1 (current is 3.2 or newer)"
    )
    assert "superseded; move to Microsoft_DefaultRuleSet" in findings["fd-legacy"].reason_en
    assert "has no managed rule set" in findings["none"].reason_en
    assert "reviewed 2026-12-01" in findings["drs21"].reason_en


def test_unknown_rule_set_type_or_version_is_an_error_unless_another_set_is_outdated():
    findings = run(
        "waf-managed-ruleset-current",
        waf_policy("unknown", sets=[{"ruleSetType": "Contoso_Rules", "ruleSetVersion": "9.0"}]),
        waf_policy("preview", sets=[{"ruleSetType": "OWASP", "ruleSetVersion": "3.2-preview"}]),
        waf_policy("both", sets=[{"ruleSetType": "Contoso_Rules", "ruleSetVersion": "1"},
                                 {"ruleSetType": "OWASP", "ruleSetVersion": "3.0"}]),
    )  # fmt: skip
    assert findings["unknown"].status == Status.ERROR and "not in the table" in findings["unknown"].reason_en
    assert findings["preview"].status == Status.ERROR and "version unreadable" in findings["preview"].reason_en
    assert findings["both"].status == Status.FAIL and "also unjudged: Contoso_Rules 1" in findings["both"].reason_en


# ---------------------------------------------------------------- app-gateway-tls-policy


def test_tls_policies():
    findings = run(
        "app-gateway-tls-policy",
        gateway("pre-s"),
        gateway("pre-2015", ssl={"policyType": "Predefined", "policyName": "AppGwSslPolicy20150501"}),
        gateway("none", ssl={}),
        gateway("custom-ok", ssl={"policyType": "CustomV2", "minProtocolVersion": "TLSv1_2",
                                  "cipherSuites": ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                                                   "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"]}),
        gateway("custom-weak", ssl={"policyType": "Custom", "minProtocolVersion": "TLSv1_2",
                                    "cipherSuites": ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                                                     "TLS_RSA_WITH_AES_256_GCM_SHA384",
                                                     "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"]}),
        gateway("custom-11", ssl={"policyType": "Custom", "minProtocolVersion": "TLSv1_1"}),
        gateway("old-form", ssl={"disabledSslProtocols": ["TLSv1_0", "TLSv1_1"]}),
        gateway("old-form-10", ssl={"disabledSslProtocols": ["TLSv1_0"]}),
    )  # fmt: skip
    status = {n: f.status for n, f in findings.items()}
    assert status == {"pre-s": Status.PASS, "pre-2015": Status.FAIL, "none": Status.FAIL, "custom-ok": Status.PASS,
                      "custom-weak": Status.FAIL, "custom-11": Status.FAIL, "old-form": Status.PASS,
                      "old-form-10": Status.FAIL}  # fmt: skip
    assert findings["pre-2015"].reason_en.startswith(
        "Application Gateway pre-2015 TLS policy predefined policy AppGwSslPolicy20150501 allows TLS 1.0/1.1"
    )
    assert "AppGwSslPolicy20150501" in findings["none"].reason_en and "sslPolicy がなく" in findings["none"].reason_ja
    assert findings["custom-weak"].reason_en.endswith(
        "allows weak cipher suites: TLS_RSA_WITH_AES_256_GCM_SHA384 (no forward secrecy), "
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA (SHA-1 MAC)"
    )
    assert "all 2 listed cipher suites have forward secrecy" in findings["custom-ok"].reason_en


def test_weak_cipher_rules():
    assert weak_cipher("TLS_AES_256_GCM_SHA384") is None
    assert weak_cipher("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256") is None
    assert weak_cipher("TLS_RSA_WITH_3DES_EDE_CBC_SHA") == "obsolete cipher"


# ---------------------------------------------------------------- ddos-protection-public-endpoints

SUBS = [
    ev(FactKind.SUBSCRIPTION, {"id": f"/subscriptions/{PROD}", "subscriptionId": PROD, "displayName": "EMR-Production",
                               "tags": {"environment": "prod"}}, "tenant"),
    ev(FactKind.SUBSCRIPTION, {"id": f"/subscriptions/{DEV}", "subscriptionId": DEV, "displayName": "EMR-Development",
                               "tags": {"environment": "dev"}}, "tenant"),
]  # fmt: skip


def pip(name: str, attached: str | None, mode: str | None = "VirtualNetworkInherited", sub: str = PROD) -> Evidence:
    p: dict = {"ipAddress": "20.0.0.1"}
    if mode is not None:
        p["ddosSettings"] = {"protectionMode": mode}
    if attached:
        p["ipConfiguration"] = {"id": attached}
    return res("public_ip_address", f"publicIPAddresses/{name}", p, sub)


def vnet(name: str, protected: bool) -> Evidence:
    p: dict = {"enableDdosProtection": protected}
    if protected:
        p["ddosProtectionPlan"] = {"id": rid("ddosProtectionPlans/ddos-plan")}
    return res("virtual_network", f"virtualNetworks/{name}", p)


def subnet(vnet_name: str, name: str = "snet") -> dict:
    return {"id": rid(f"virtualNetworks/{vnet_name}/subnets/{name}")}


def nic(name: str, vnet_name: str) -> Evidence:
    cfg = {"name": "ipconfig1", "id": rid(f"networkInterfaces/{name}/ipConfigurations/ipconfig1"),
           "properties": {"subnet": subnet(vnet_name)}}  # fmt: skip
    return res("network_interface", f"networkInterfaces/{name}", {"ipConfigurations": [cfg]})


def test_ip_protection_or_a_protected_vnet_passes_and_an_unprotected_vnet_fails():
    agw = gateway("agw", "w", gatewayIPConfigurations=[{"name": "g", "properties": {"subnet": subnet("vnet-hub")}}])
    fw = res("azure_firewall", "azureFirewalls/afw", {"ipConfigurations": [
        {"name": "c", "properties": {"subnet": subnet("vnet-hub", "AzureFirewallSubnet")}}]})  # fmt: skip
    findings = run(
        "ddos-protection-public-endpoints",
        *SUBS,
        vnet("vnet-hub", True),
        vnet("vnet-spoke", False),
        nic("nic-vm", "vnet-spoke"),
        agw,
        fw,
        pip("pip-ip-protected", rid("networkInterfaces/nic-vm/ipConfigurations/ipconfig1"), mode="Enabled"),
        pip("pip-agw", rid("applicationGateways/agw/frontendIPConfigurations/fe")),
        pip("pip-afw", rid("azureFirewalls/afw/azureFirewallIpConfigurations/c"), mode=None),
        pip("pip-vm", rid("networkInterfaces/nic-vm/ipConfigurations/ipconfig1")),
        pip("pip-off", rid("networkInterfaces/nic-vm/ipConfigurations/ipconfig1"), mode="Disabled"),
        pip("pip-spare", None),
        pip("pip-dev", rid("networkInterfaces/nic-vm/ipConfigurations/ipconfig1", DEV), sub=DEV),
    )
    status = {n: f.status for n, f in findings.items()}
    # Only production subscriptions are judged.
    assert status == {"pip-ip-protected": Status.PASS, "pip-agw": Status.PASS, "pip-afw": Status.PASS,
                      "pip-vm": Status.FAIL, "pip-off": Status.FAIL, "pip-spare": Status.PASS}  # fmt: skip
    assert findings["pip-agw"].reason_en == (
        f"public IP pip-agw in production subscription EMR-Production ({PROD}) (VirtualNetworkInherited, attached "
        "to Application Gateway agw) is covered by DDoS Network Protection of virtual network vnet-hub (ddos-plan)"
    )
    assert "VirtualNetworkInherited (unset)" in findings["pip-afw"].reason_en
    assert findings["pip-vm"].reason_en.endswith(
        "(VirtualNetworkInherited, attached to NIC nic-vm) is not covered by DDoS Protection: virtual network "
        "vnet-spoke has enableDdosProtection false and no ddosProtectionPlan"
    )
    assert "attached to nothing" in findings["pip-spare"].reason_en


def test_untraceable_public_ips_are_errors():
    findings = run(
        "ddos-protection-public-endpoints",
        *SUBS,
        nic("nic-novnet", "vnet-gone"),
        pip("pip-lb", rid("loadBalancers/lb/frontendIPConfigurations/fe")),
        pip("pip-nic-gone", rid("networkInterfaces/nic-gone/ipConfigurations/ipconfig1")),
        pip("pip-vnet-gone", rid("networkInterfaces/nic-novnet/ipConfigurations/ipconfig1")),
        pip("pip-odd", None, mode="Sometimes"),
    )
    assert {f.status for f in findings.values()} == {Status.ERROR}
    assert "microsoft.network/loadbalancers" in findings["pip-lb"].reason_en
    assert "the NIC nic-gone it is attached to was not collected" in findings["pip-nic-gone"].reason_en
    assert "virtual network vnet-gone behind NIC nic-novnet was not collected" in findings["pip-vnet-gone"].reason_en
    assert "Sometimes is not a known value" in findings["pip-odd"].reason_en
    # Without the subscription list, production cannot be decided.
    [f] = run("ddos-protection-public-endpoints", pip("pip-x", None)).values()
    assert f.status == Status.ERROR and "was not collected" in f.reason_en


def test_an_ssl_profile_with_a_weak_policy_fails_the_gateway():
    weak = {"name": "prof-legacy", "properties": {"sslPolicy": {"policyType": "Predefined",
                                                               "policyName": "AppGwSslPolicy20170401"}}}  # fmt: skip
    strong = {"name": "prof-mtls", "properties": {"sslPolicy": {"policyType": "Predefined",
                                                               "policyName": "AppGwSslPolicy20220101"}}}  # fmt: skip
    inherits = {"name": "prof-inherit", "properties": {"clientAuthConfiguration": {"verifyClientCertIssuerDN": True}}}
    findings = run(
        "app-gateway-tls-policy",
        gateway("agw-profiles", sslProfiles=[strong, inherits, weak]),
        gateway("agw-strong-profile", sslProfiles=[strong]),
    )
    assert findings["agw-profiles"].status == Status.FAIL
    assert findings["agw-profiles"].reason_en.startswith(
        "SSL profile prof-legacy TLS policy predefined policy AppGwSslPolicy20170401 allows TLS 1.0/1.1"
    )
    assert findings["agw-strong-profile"].status == Status.PASS
    assert "SSL profile prof-mtls TLS policy predefined policy AppGwSslPolicy20220101" in findings[
        "agw-strong-profile"].reason_en  # fmt: skip


def test_a_child_firewall_policy_inherits_idps_from_its_parent():
    child = fw_policy("afwp-child", mode=None)
    child.content["properties"]["basePolicy"] = {"id": rid("firewallPolicies/afwp-parent")}
    findings = run("firewall-idps-deny", firewall("afw-c", policy="afwp-child"), child, fw_policy("afwp-parent"))
    assert findings["afw-c"].status == Status.PASS
    assert len(findings["afw-c"].evidence) == 3
    [f] = run("firewall-idps-deny", firewall("afw-c", policy="afwp-child"), child).values()
    assert f.status == Status.ERROR and "parent policy afwp-parent, which was not collected" in f.reason_en


def test_a_nat_gateway_address_is_outbound_only_and_passes():
    nat = pip("pip-nat", None)
    nat.content["properties"]["natGateway"] = {"id": rid("natGateways/ng-emr")}
    [f] = run("ddos-protection-public-endpoints", *SUBS, nat).values()
    assert f.status == Status.PASS and "outbound-only address of NAT gateway ng-emr" in f.reason_en
