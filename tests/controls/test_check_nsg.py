from datetime import UTC, datetime

import pytest

from controls.checks import CHECKS_BY_ID
from controls.model import Evidence, FactKind, FactSet, Status, Thresholds

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
NSG_ID = f"{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/networkSecurityGroups/nsg-web"


def rule(
    name: str,
    priority: int,
    access: str = "Allow",
    *,
    direction: str = "Inbound",
    protocol: str = "Tcp",
    source: str | list[str] | None = "Internet",
    ports: str | list[str] = "22",
    destination: str | list[str] = "*",
) -> dict:
    p = {"priority": priority, "access": access, "direction": direction, "protocol": protocol, "sourcePortRange": "*"}
    if isinstance(source, list):
        p["sourceAddressPrefixes"] = source
    elif source is not None:
        p["sourceAddressPrefix"] = source
    if isinstance(ports, list):
        p["destinationPortRanges"] = ports
    else:
        p["destinationPortRange"] = ports
    if isinstance(destination, list):
        p["destinationAddressPrefixes"] = destination
    else:
        p["destinationAddressPrefix"] = destination
    return {"name": name, "id": f"{NSG_ID}/securityRules/{name}", "properties": p}


DEFAULTS = [
    rule("AllowVnetInBound", 65000, source="VirtualNetwork", ports="*", protocol="*", destination="VirtualNetwork"),
    rule("AllowAzureLoadBalancerInBound", 65001, source="AzureLoadBalancer", ports="*", protocol="*"),
    rule("DenyAllInBound", 65500, "Deny", source="*", ports="*", protocol="*"),
    rule(
        "AllowInternetOutBound",
        65001,
        direction="Outbound",
        source="*",
        ports="*",
        protocol="*",
        destination="Internet",
    ),
]


def nsg(*rules: dict) -> Evidence:
    doc = {
        "id": NSG_ID,
        "name": "nsg-web",
        "type": "Microsoft.Network/networkSecurityGroups",
        "properties": {"securityRules": list(rules), "defaultSecurityRules": DEFAULTS},
    }
    return Evidence(FactKind.NSG, "test", SUB, NSG_ID, "2024-05-01", None, datetime(2026, 3, 31, tzinfo=UTC), doc)


def judge(*rules: dict, thresholds: Thresholds | None = None):
    e = nsg(*rules)
    [f] = CHECKS_BY_ID["nsg-no-internet-management-ports"].evaluate(FactSet([e]), thresholds or Thresholds())
    assert f.resource_id == NSG_ID and f.evidence == (e.sha256,)
    return f


def test_default_rules_only_pass():
    f = judge()
    assert f.status == Status.PASS
    assert "22, 3389, 1433, 3306, 5432, 5985-5986" in f.reason_en


def test_allow_ssh_from_internet_fails_naming_port_and_rule():
    f = judge(rule("AllowSSH", 100))
    assert f.status == Status.FAIL
    assert f.reason_en == "NSG nsg-web allows inbound TCP from the Internet to 22 (rule AllowSSH)"
    assert "22/TCP（規則 AllowSSH）" in f.reason_ja


@pytest.mark.parametrize("source", ["*", "Internet", "0.0.0.0/0", "Any", "::/0"])
def test_internet_wide_sources(source):
    assert judge(rule("r", 100, source=source, ports="3389")).status == Status.FAIL


def test_plural_fields_are_read():
    f = judge(rule("Mgmt", 100, source=["203.0.113.5/32", "0.0.0.0/0"], ports=["443", "3389", "5432"]))
    assert f.status == Status.FAIL
    assert "3389 (rule Mgmt)" in f.reason_en and "5432 (rule Mgmt)" in f.reason_en
    assert "443" not in f.reason_en


def test_star_port_exposes_every_watched_port():
    f = judge(rule("AllowAll", 100, ports="*", protocol="*", source="*"))
    assert f.status == Status.FAIL
    for port in ("22", "3389", "1433", "3306", "5432", "5985-5986"):
        assert f"{port} (rule AllowAll)" in f.reason_en


def test_ranges_are_expanded_and_clipped_to_watched_ports():
    f = judge(rule("Range", 100, ports="20-30"))
    assert f.reason_en.endswith("to 22 (rule Range)")
    f = judge(rule("WinRM", 100, ports="5986-6000"))
    assert f.status == Status.FAIL and f.reason_en.endswith("to 5986 (rule WinRM)")
    f = judge(rule("Wide", 100, ports="5900-5990"))
    assert f.reason_en.endswith("to 5985-5986 (rule Wide)")


def test_higher_priority_deny_shadows_later_allow():
    f = judge(rule("DenySSH", 100, "Deny", source="*"), rule("AllowSSH", 200))
    assert f.status == Status.PASS
    # Priority decides, not list order.
    f = judge(rule("AllowSSH", 200), rule("DenySSH", 100, "Deny", source="Internet"))
    assert f.status == Status.PASS


def test_lower_priority_deny_does_not_shadow():
    f = judge(rule("AllowSSH", 100), rule("DenySSH", 200, "Deny", source="*"))
    assert f.status == Status.FAIL and "AllowSSH" in f.reason_en


def test_partial_deny_does_not_shadow_internet_allow():
    f = judge(rule("DenyOne", 100, "Deny", source="198.51.100.0/24"), rule("AllowSSH", 200))
    assert f.status == Status.FAIL


def test_deny_on_some_ports_only_shadows_those():
    f = judge(rule("Deny22", 100, "Deny", source="*", ports="22"), rule("AllowAll", 200, ports="*"))
    assert f.status == Status.FAIL
    assert "22 (rule" not in f.reason_en and "3389 (rule AllowAll)" in f.reason_en


def test_deny_to_one_destination_shadows_only_that_destination():
    deny = rule("DenyVm", 100, "Deny", source="*", destination="10.0.0.4")
    assert judge(deny, rule("AllowVm", 200, destination="10.0.0.4")).status == Status.PASS
    assert judge(deny, rule("AllowAny", 200, destination="*")).status == Status.FAIL


def test_udp_only_rule_is_not_tcp_exposure():
    assert judge(rule("RdpUdp", 100, protocol="Udp", ports="3389")).status == Status.PASS
    assert judge(rule("RdpAny", 100, protocol="*", ports="3389")).status == Status.FAIL
    # A Udp-only Deny does not shadow a TCP Allow.
    f = judge(rule("DenyUdp", 100, "Deny", protocol="Udp", source="*", ports="3389"), rule("Rdp", 200, ports="3389"))
    assert f.status == Status.FAIL


def test_documentation_range_source_is_not_internet():
    assert judge(rule("Office", 100, source="203.0.113.0/24", ports="22")).status == Status.PASS


def test_outbound_allow_and_unwatched_ports_pass():
    assert judge(rule("Out", 100, direction="Outbound", source="*", ports="*")).status == Status.PASS
    assert judge(rule("Https", 100, ports=["80", "443"])).status == Status.PASS


def test_application_security_group_source_is_not_internet():
    r = rule("FromAsg", 100, source=None)
    r["properties"]["sourceApplicationSecurityGroups"] = [{"id": f"{SUB}/x/applicationSecurityGroups/asg-admin"}]
    assert judge(r).status == Status.PASS


def test_unreadable_rule_is_error_not_pass():
    broken = rule("Broken", 100)
    del broken["properties"]["destinationPortRange"]
    f = judge(broken)
    assert f.status == Status.ERROR and "Broken" in f.reason_en


def test_exposed_ports_come_from_thresholds():
    t = Thresholds(exposed_ports=("8080",))
    assert judge(rule("AllowSSH", 100), thresholds=t).status == Status.PASS
    assert judge(rule("Alt", 100, ports="8000-8100"), thresholds=t).status == Status.FAIL


def test_no_nsgs_no_findings():
    assert CHECKS_BY_ID["nsg-no-internet-management-ports"].evaluate(FactSet(), Thresholds()) == []


@pytest.mark.parametrize(
    "properties",
    [{}, {"securityRules": []}, {"securityRules": None, "defaultSecurityRules": DEFAULTS}],
    ids=["no-properties", "no-default-rules", "rules-not-a-list"],
)
def test_nsg_document_without_its_rule_lists_is_an_error_not_a_pass(properties):
    doc = {"id": NSG_ID, "name": "nsg-web", "type": "Microsoft.Network/networkSecurityGroups"}
    if properties:
        doc["properties"] = properties
    e = Evidence(FactKind.NSG, "test", SUB, NSG_ID, "2024-05-01", None, datetime(2026, 3, 31, tzinfo=UTC), doc)
    [f] = CHECKS_BY_ID["nsg-no-internet-management-ports"].evaluate(FactSet([e]), Thresholds())
    assert f.status == Status.ERROR and "defaultSecurityRules" in f.reason_en
