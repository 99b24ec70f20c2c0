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
    assert (
        f.reason_en
        == "NSG nsg-web allows inbound TCP from the Internet to 22 (rule AllowSSH, source the whole Internet)"
    )
    assert "22/TCP（規則 AllowSSH、送信元 インターネット全体）" in f.reason_ja


@pytest.mark.parametrize("source", ["*", "Internet", "0.0.0.0/0", "Any", "::/0"])
def test_internet_wide_sources(source):
    assert judge(rule("r", 100, source=source, ports="3389")).status == Status.FAIL


def test_plural_fields_are_read():
    f = judge(rule("Mgmt", 100, source=["203.0.113.5/32", "0.0.0.0/0"], ports=["443", "3389", "5432"]))
    assert f.status == Status.FAIL
    # 0.0.0.0/0 is every public IPv4 address, not IPv6.
    assert "3389 (rule Mgmt, source every public IPv4 address)" in f.reason_en and "5432 (rule Mgmt, " in f.reason_en
    assert "443" not in f.reason_en


def test_star_port_exposes_every_watched_port():
    f = judge(rule("AllowAll", 100, ports="*", protocol="*", source="*"))
    assert f.status == Status.FAIL
    for port in ("22", "3389", "1433", "3306", "5432", "5985-5986"):
        assert f"{port} (rule AllowAll, source the whole Internet)" in f.reason_en


def test_ranges_are_expanded_and_clipped_to_watched_ports():
    f = judge(rule("Range", 100, ports="20-30"))
    assert f.reason_en.endswith("to 22 (rule Range, source the whole Internet)")
    f = judge(rule("WinRM", 100, ports="5986-6000"))
    assert f.status == Status.FAIL and f.reason_en.endswith("to 5986 (rule WinRM, source the whole Internet)")
    f = judge(rule("Wide", 100, ports="5900-5990"))
    assert f.reason_en.endswith("to 5985-5986 (rule Wide, source the whole Internet)")


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
    assert "22 (rule" not in f.reason_en and "3389 (rule AllowAll, " in f.reason_en


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


# ---------------------------------------------------------------- a rule's sources are one set of addresses


def test_split_ipv4_halves_are_every_public_ipv4_address():
    f = judge(rule("Split", 100, source=["0.0.0.0/1", "128.0.0.0/1"]))
    assert f.status == Status.FAIL
    assert f.reason_en.endswith("to 22 (rule Split, source every public IPv4 address)")
    assert "送信元 すべてのパブリック IPv4 アドレス" in f.reason_ja
    # The singular and the plural field together form the union too.
    r = rule("Mixed", 100, source="0.0.0.0/1")
    r["properties"]["sourceAddressPrefixes"] = ["128.0.0.0/1"]
    assert judge(r).reason_en.endswith("(rule Mixed, source every public IPv4 address)")


def test_split_ipv6_halves_are_every_public_ipv6_address():
    f = judge(rule("Split6", 100, source=["::/1", "8000::/1"], ports="3389"))
    assert f.status == Status.FAIL
    assert f.reason_en.endswith("to 3389 (rule Split6, source every public IPv6 address)")


def test_both_families_whole_is_the_whole_internet():
    f = judge(rule("Both", 100, source=["0.0.0.0/0", "::/1", "8000::/1"]))
    assert f.reason_en.endswith("(rule Both, source the whole Internet)")


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("1.0.0.0/8", "1.0.0.0/8"),
        (["20.0.0.0/9", "20.128.0.0/9"], "20.0.0.0/8"),  # a public range split in pieces is named whole
        ("2001:4860::/32", "2001:4860::/32"),
        # One half of IPv4: its public addresses, private and reserved blocks left out.
        ("0.0.0.0/1", "1.0.0.0-9.255.255.255, 11.0.0.0-100.63.255.255, 100.128.0.0-126.255.255.255"),
        (["10.0.0.0/8", "8.8.8.0/24"], "8.8.8.0/24"),  # the private part admits nothing from the Internet
        ("203.0.113.0/24", "203.0.113.0/24"),  # documentation ranges stand in for public addresses
        ("198.51.100.7", "198.51.100.7/32"),
    ],
)
def test_public_prefix_fails_naming_the_admitted_range(source, named):
    f = judge(rule("Wide", 100, source=source))
    assert f.status == Status.FAIL
    assert f.reason_en.endswith(f"to 22 (rule Wide, source {named})"), f.reason_en
    assert f"送信元 {named}" in f.reason_ja


def test_many_admitted_ranges_are_listed_up_to_four_then_counted():
    pieces = [f"{n}.0.0.0/8" for n in (1, 3, 5, 7, 9, 11)]
    f = judge(rule("Scattered", 100, source=pieces))
    assert f.reason_en.endswith("(rule Scattered, source 1.0.0.0/8, 3.0.0.0/8, 5.0.0.0/8, 7.0.0.0/8, … (6 ranges))")
    assert "（計 6 範囲）" in f.reason_ja


@pytest.mark.parametrize(
    "source",
    [
        ["10.0.0.0/8", "192.168.0.0/16"],
        ["172.16.0.0/12", "100.64.0.0/10", "127.0.0.1", "169.254.0.0/16"],
        ["fd00::/8", "fe80::/10", "::1"],
        "VirtualNetwork",
        "AzureLoadBalancer",
    ],
)
def test_private_and_reserved_sources_are_not_the_internet(source):
    assert judge(rule("Inside", 100, source=source, ports=["22", "3389"])).status == Status.PASS


@pytest.mark.parametrize("tag", ["AzureCloud", "AzureCloud.JapanEast", "Storage", "GatewayManager"])
def test_other_service_tags_are_public_exposure_naming_the_tag(tag):
    f = judge(rule("FromTag", 100, source=tag))
    assert f.status == Status.FAIL
    assert f.reason_en.endswith(f"(rule FromTag, source service tag {tag})")
    assert f"サービスタグ {tag}" in f.reason_ja


def test_trusted_public_range_passes_and_the_pass_names_it():
    t = Thresholds(trusted_sources=("203.0.113.8/29",))
    f = judge(rule("Office", 100, source="203.0.113.8/29"), thresholds=t)
    assert f.status == Status.PASS
    assert "rule Office admits only trusted_sources (203.0.113.8/29)" in f.reason_en
    assert "Office" in f.reason_ja and "203.0.113.8/29" in f.reason_ja


def test_trust_covers_only_its_own_addresses():
    t = Thresholds(trusted_sources=("203.0.113.8/29", "2001:db8:1::/48"))
    f = judge(rule("Office", 100, source="203.0.113.0/24"), thresholds=t)
    assert f.status == Status.FAIL
    assert f.reason_en.endswith("(rule Office, source 203.0.113.0/29, 203.0.113.16-203.0.113.255)")
    f = judge(rule("AllowSSH", 100, source="Internet"), thresholds=t)
    assert f.reason_en.endswith("(rule AllowSSH, source the whole Internet outside trusted_sources)")
    assert "trusted_sources 以外のインターネット全体" in f.reason_ja
    # Trust in IPv4 alone: still the whole Internet but the trusted addresses.
    t4 = Thresholds(trusted_sources=("203.0.113.8/29",))
    f = judge(rule("AllowSSH", 100, source="*"), thresholds=t4)
    assert f.reason_en.endswith("(rule AllowSSH, source the whole Internet outside trusted_sources)")
    f = judge(rule("AllowV4", 100, source="0.0.0.0/0"), thresholds=t4)
    assert f.reason_en.endswith("(rule AllowV4, source every public IPv4 address outside trusted_sources)")
    assert "trusted_sources 以外のすべてのパブリック IPv4 アドレス" in f.reason_ja


def test_trusted_sources_do_not_cover_service_tags():
    t = Thresholds(trusted_sources=("20.0.0.0/8",))
    assert judge(rule("FromCloud", 100, source="AzureCloud"), thresholds=t).status == Status.FAIL


def test_bad_trusted_sources_threshold_is_an_error_not_a_pass():
    e = nsg(rule("Office", 100, source="203.0.113.8/29"))
    check = CHECKS_BY_ID["nsg-no-internet-management-ports"]
    with pytest.raises(ValueError, match="trusted_sources"):
        list(check.judge(FactSet([e]), Thresholds(trusted_sources=("203.0.113.8/33",))))


def test_unreadable_source_prefix_is_an_error_naming_it():
    f = judge(rule("Typo", 100, source=["10.0.0.0/8", "10.0.0.0/33"]))
    assert f.status == Status.ERROR
    assert "Typo" in f.reason_en and "10.0.0.0/33" in f.reason_en


def test_denies_together_covering_the_allowed_sources_shadow_it():
    halves = [
        rule("DenyLow", 100, "Deny", source="0.0.0.0/1"),
        rule("DenyHigh", 110, "Deny", source="128.0.0.0/1"),
    ]
    assert judge(*halves, rule("AllowV4", 200, source="0.0.0.0/0")).status == Status.PASS
    # The IPv4 Denies leave IPv6 open to an Allow from the Internet.
    f = judge(*halves, rule("AllowAll", 200, source="Internet"))
    assert f.status == Status.FAIL and f.reason_en.endswith("(rule AllowAll, source every public IPv6 address)")
    # A Deny covering every public part of the Allow's sources shadows it, private parts aside.
    f = judge(rule("DenyOne", 100, "Deny", source="1.0.0.0/8"), rule("AllowLow", 200, source="0.0.0.0/7"))
    assert f.status == Status.PASS


def test_partial_deny_leaves_the_rest_admitted_and_named():
    f = judge(rule("DenyHalf", 100, "Deny", source="1.0.0.0/9"), rule("AllowNet", 200, source="1.0.0.0/8"))
    assert f.status == Status.FAIL and f.reason_en.endswith("(rule AllowNet, source 1.128.0.0/9)")
    f = judge(
        rule("DenyHalf", 100, "Deny", source="0.0.0.0/1"), rule("AllowSplit", 200, source=["0.0.0.0/1", "128.0.0.0/1"])
    )
    assert f.status == Status.FAIL and "(rule AllowSplit, source 128.0.0.0-169.253.255.255, " in f.reason_en


def test_deny_of_a_service_tag_shadows_the_same_tag_or_by_covering_every_public_address():
    allow = rule("AllowCloud", 200, source="AzureCloud")
    assert judge(rule("DenyCloud", 100, "Deny", source="azurecloud"), allow).status == Status.PASS
    assert judge(rule("DenyNet", 100, "Deny", source="Internet"), allow).status == Status.PASS
    both = rule("DenyBoth", 100, "Deny", source=["0.0.0.0/0", "::/0"])
    assert judge(both, allow).status == Status.PASS
    # IPv4 alone does not cover a tag, which may hold IPv6 ranges; nor does a regional part of it.
    assert judge(rule("DenyV4", 100, "Deny", source="0.0.0.0/0"), allow).status == Status.FAIL
    assert judge(rule("DenyEast", 100, "Deny", source="AzureCloud.JapanEast"), allow).status == Status.FAIL


def test_deny_shadowing_is_per_destination():
    deny = rule("DenyVm", 100, "Deny", source=["0.0.0.0/1", "128.0.0.0/1"], destination="10.0.0.4")
    assert judge(deny, rule("AllowVm", 200, source="0.0.0.0/0", destination="10.0.0.4")).status == Status.PASS
    f = judge(deny, rule("AllowTwo", 200, source="0.0.0.0/0", destination=["10.0.0.4", "10.0.0.5"]))
    assert f.status == Status.FAIL and f.reason_en.endswith("(rule AllowTwo, source every public IPv4 address)")
    # Denies to each destination of the Allow, together, shadow it.
    other = rule("DenyVm5", 110, "Deny", source="Internet", destination="10.0.0.5")
    assert (
        judge(deny, other, rule("AllowTwo", 200, source="0.0.0.0/0", destination=["10.0.0.4", "10.0.0.5"])).status
        == Status.PASS
    )
