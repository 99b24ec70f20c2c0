"""NSG exposure of management and database ports, collected through the sandbox by the real SDK.

The NSG documents are shaped as `Network Security Groups - List All` returns them: custom rules in
`securityRules`, the six rules Azure adds in `defaultSecurityRules`, the singular and plural
prefix/port fields side by side (the unused one empty), and `subnets` / `networkInterfaces` references.
"""

from __future__ import annotations

import uuid
from typing import Any

from controls.model import Finding, Status
from tests.estates import DEV, PROD, RG, estate, rid

CHECK = "nsg-no-internet-management-ports"
WATCHED = "22, 3389, 1433, 3306, 5432, 5985-5986"


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def nsg_id(name: str, subscription: str = PROD, rg: str = RG) -> str:
    return rid(f"Microsoft.Network/networkSecurityGroups/{name}", subscription, rg)


def rule(
    name: str,
    priority: int,
    access: str = "Allow",
    *,
    protocol: str = "Tcp",
    source: str | list[str] = "Internet",
    ports: str | list[str] = "22",
    destination: str | list[str] = "*",
    direction: str = "Inbound",
    description: str | None = None,
) -> dict[str, Any]:
    """One rule's name and properties; a list for `source`/`ports`/`destination` uses the plural field,
    and, as ARM returns it, the singular field is then absent and the other plural list is empty."""
    p: dict[str, Any] = {"provisioningState": "Succeeded"}
    if description:
        p["description"] = description
    p.update({"protocol": protocol, "sourcePortRange": "*"})
    if isinstance(ports, str):
        p["destinationPortRange"] = ports
    if isinstance(source, str):
        p["sourceAddressPrefix"] = source
    if isinstance(destination, str):
        p["destinationAddressPrefix"] = destination
    p.update({"access": access, "priority": priority, "direction": direction, "sourcePortRanges": []})
    p["destinationPortRanges"] = ports if isinstance(ports, list) else []
    p["sourceAddressPrefixes"] = source if isinstance(source, list) else []
    p["destinationAddressPrefixes"] = destination if isinstance(destination, list) else []
    return {"name": name, "properties": p}


# The six rules Azure puts in every NSG (priorities 65000-65500, not editable).
DEFAULT_RULES = (
    rule("AllowVnetInBound", 65000, protocol="*", source="VirtualNetwork", ports="*", destination="VirtualNetwork",
         description="Allow inbound traffic from all VMs in VNET"),
    rule("AllowAzureLoadBalancerInBound", 65001, protocol="*", source="AzureLoadBalancer", ports="*",
         description="Allow inbound traffic from azure load balancer"),
    rule("DenyAllInBound", 65500, "Deny", protocol="*", source="*", ports="*",
         description="Deny all inbound traffic"),
    rule("AllowVnetOutBound", 65000, protocol="*", source="VirtualNetwork", ports="*", destination="VirtualNetwork",
         direction="Outbound", description="Allow outbound traffic from all VMs to all VMs in VNET"),
    rule("AllowInternetOutBound", 65001, protocol="*", source="*", ports="*", destination="Internet",
         direction="Outbound", description="Allow outbound traffic from all VMs to Internet"),
    rule("DenyAllOutBound", 65500, "Deny", protocol="*", source="*", ports="*", direction="Outbound",
         description="Deny all outbound traffic"),
)  # fmt: skip


def nsg(
    name: str,
    *rules: dict[str, Any],
    subnets: tuple[str, ...] = (),
    nics: tuple[str, ...] = (),
    subscription: str = PROD,
    rg: str = RG,
) -> dict[str, Any]:
    """An NSG document with its rules (ids, etags and types filled in) and association references."""
    nid = nsg_id(name, subscription, rg)

    def embed(collection: str, r: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": r["name"],
            "id": f"{nid}/{collection}/{r['name']}",
            "etag": f'W/"{_guid(nid, collection, r["name"])}"',
            "type": f"Microsoft.Network/networkSecurityGroups/{collection}",
            "properties": r["properties"],
        }

    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "resourceGuid": _guid(nid),
        "securityRules": [embed("securityRules", r) for r in rules],
        "defaultSecurityRules": [embed("defaultSecurityRules", r) for r in DEFAULT_RULES],
    }
    if subnets:
        props["subnets"] = [{"id": s} for s in subnets]
    if nics:
        props["networkInterfaces"] = [{"id": n} for n in nics]
    return {
        "id": nid,
        "name": name,
        "type": "Microsoft.Network/networkSecurityGroups",
        "etag": f'W/"{_guid(nid, "etag")}"',
        "location": "japaneast",
        "tags": {"system": "emr"},
        "properties": props,
    }


def assert_finding(judged: Any, check_id: str, resource_id: str, status: Status, *needles: str) -> Finding:
    """The finding of `check_id` on `resource_id`: its status, the field/value words its English reason
    must name, a distinct Japanese reason, and evidence hashes that resolve to collected records, one
    of them the judged resource's own document."""
    finding = judged.findings(check_id)[resource_id.lower()]
    assert finding.status == status, finding.reason_en
    for needle in needles:
        assert needle in finding.reason_en, (needle, finding.reason_en)
    assert finding.reason_ja.strip() and finding.reason_ja != finding.reason_en
    records = [e for e in judged.facts.evidence if e.sha256 in finding.evidence]
    assert {e.sha256 for e in records} == set(finding.evidence), "every hash names a collected record"
    assert any(e.resource_id.lower() == resource_id.lower() for e in records), finding.evidence
    return finding


def test_internet_exposures_fail_naming_port_and_rule(judge):
    cases = {
        # name: (rules, words the reason must contain, words it must not)
        "nsg-plural-ports": (
            [rule("AllowWebAndRdp", 100, ports=["443", "3389"])],
            ["3389 (rule AllowWebAndRdp, source the whole Internet)"],
            ["443"],
        ),
        "nsg-plural-sources": (
            [rule("AllowSshPartners", 100, source=["10.20.0.0/16", "0.0.0.0/0"])],
            ["22 (rule AllowSshPartners, source every public IPv4 address)"],
            ["3389"],
        ),
        "nsg-any-port": (
            [rule("AllowAllInbound", 100, protocol="*", source="*", ports="*")],
            [f"{p} (rule AllowAllInbound, source the whole Internet)" for p in WATCHED.split(", ")],
            [],
        ),
        "nsg-port-range": (
            [rule("AllowRdpRange", 100, ports="3380-3390")],
            ["3389 (rule AllowRdpRange, source the whole Internet)"],
            ["22 (rule"],
        ),
        # Half of the watched 5985-5986 range: only 5986 is named.
        "nsg-winrm-https": (
            [rule("AllowWinRmHttps", 100, ports="5986")],
            ["5986 (rule AllowWinRmHttps, source the whole Internet)"],
            ["5985"],
        ),
        "nsg-source-internet": (
            [rule("AllowSsh", 100, source="Internet")],
            ["22 (rule AllowSsh, source the whole Internet)"],
            [],
        ),
        "nsg-source-star": (
            [rule("AllowSql", 100, source="*", ports="1433")],
            ["1433 (rule AllowSql, source the whole Internet)"],
            [],
        ),
        "nsg-source-zero": (
            [rule("AllowPostgres", 100, source="0.0.0.0/0", ports="5432")],
            ["5432 (rule AllowPostgres, source every public IPv4 address)"],
            [],
        ),
        # Allow at a higher priority (lower number) than the Deny: the Allow decides.
        "nsg-allow-before-deny": (
            [rule("AllowRdpFirst", 100, ports="3389"), rule("DenyRdpLater", 200, "Deny", ports="3389")],
            ["3389 (rule AllowRdpFirst, source the whole Internet)"],
            [],
        ),
        # The Deny covers 22 only: the later plural Allow still exposes 3389.
        "nsg-partial-deny": (
            [rule("DenySsh", 100, "Deny", ports="22"), rule("AllowMgmt", 200, ports=["22", "3389"])],
            ["3389 (rule AllowMgmt, source the whole Internet)"],
            ["22 (rule"],
        ),
        # A Deny for one host does not shadow an Allow to every address.
        "nsg-deny-one-host": (
            [
                rule("DenySshJump", 100, "Deny", destination="10.0.1.4"),
                rule("AllowSshAll", 200, destination="*"),
            ],
            ["22 (rule AllowSshAll, source the whole Internet)"],
            [],
        ),
    }
    docs = [nsg(name, *rules) for name, (rules, _, _) in cases.items()]
    judged = judge(estate(docs))

    assert set(judged.findings(CHECK)) == {nsg_id(name).lower() for name in cases}
    for name, (_, needles, absent) in cases.items():
        finding = assert_finding(judged, CHECK, nsg_id(name), Status.FAIL, f"NSG {name}", *needles)
        for word in absent:
            assert word not in finding.reason_en, (name, finding.reason_en)
        assert finding.requirements == (86, 87, 148)  # the numbers the METI catalog maps the check to
    # The Japanese reason names the port and the rule too.
    ja = judged.findings(CHECK)[nsg_id("nsg-port-range").lower()].reason_ja
    assert "3389/TCP" in ja and "AllowRdpRange" in ja
    for number in (86, 87, 148):
        assert judged.verdict(number) == Status.FAIL


def test_shadowed_udp_private_and_https_rules_pass(judge):
    cases = {
        "nsg-deny-shadows-allow": [
            rule("DenySshFromInternet", 100, "Deny", ports="22"),
            rule("AllowSshLegacy", 200, ports="22"),
        ],
        "nsg-udp-only": [rule("AllowRdpUdp", 100, protocol="Udp", ports="3389")],
        "nsg-plural-private": [
            rule("AllowMgmtFromSites", 100, source=["10.0.0.0/8", "172.16.0.0/12"], ports=["22", "3389"]),
        ],
        "nsg-vnet-only": [rule("AllowSqlFromVnet", 100, source="VirtualNetwork", ports="1433")],
        "nsg-https-only": [rule("AllowHttpsFromInternet", 100, ports=["443"], destination="10.10.1.0/24")],
    }
    docs = [nsg(name, *rules) for name, rules in cases.items()]
    docs.append(nsg("nsg-dev-defaults", subscription=DEV, rg="rg-dev"))  # default rules only, other subscription
    judged = judge(estate(docs))

    ids = {name: nsg_id(name) for name in cases} | {"nsg-dev-defaults": nsg_id("nsg-dev-defaults", DEV, "rg-dev")}
    assert set(judged.findings(CHECK)) == {i.lower() for i in ids.values()}
    for name, resource_id in ids.items():
        assert_finding(judged, CHECK, resource_id, Status.PASS, f"NSG {name}", "allows no inbound TCP", WATCHED)
    assert judged.verdict(148) == Status.PARTIAL and judged.verdict(87) == Status.PARTIAL


def test_one_exposed_nsg_fails_the_requirements_among_compliant_ones(judge):
    exposed = nsg("nsg-jump", rule("AllowRdpInbound", 300, source="*", ports="3389"))
    compliant = nsg("nsg-app", rule("AllowHttpsFromInternet", 100, ports="443"))
    judged = judge(estate([exposed, compliant]))
    assert_finding(
        judged, CHECK, nsg_id("nsg-jump"), Status.FAIL, "3389 (rule AllowRdpInbound, source the whole Internet)"
    )
    assert_finding(judged, CHECK, nsg_id("nsg-app"), Status.PASS)
    verdict = judged.result.verdict(148)
    # The two NSGs, and the tenant's MFA for admins (security defaults on), which No 148 also reads.
    assert verdict.status == Status.FAIL and verdict.findings_fail == 1 and verdict.findings_pass == 2
    assert "nsg-jump" in verdict.reason_en


# ---------------------------------------------------------------- a rule's sources judged as one set

OFFICE = "203.0.113.8/29"  # the configured trusted source: a hospital site's public addresses


def test_source_unions_reaching_the_internet_fail_naming_the_admitted_range(judge):
    cases = {
        # name: (rules, words the reason must contain)
        "nsg-split-v4": (
            [rule("AllowSshSplit", 100, source=["0.0.0.0/1", "128.0.0.0/1"])],
            "22 (rule AllowSshSplit, source every public IPv4 address outside trusted_sources)",
        ),
        "nsg-split-v6": (
            [rule("AllowRdpSplitV6", 100, source=["::/1", "8000::/1"], ports="3389")],
            "3389 (rule AllowRdpSplitV6, source every public IPv6 address)",
        ),
        "nsg-public-slash8": (
            [rule("AllowPostgresPartner", 100, source="1.0.0.0/8", ports="5432")],
            "5432 (rule AllowPostgresPartner, source 1.0.0.0/8)",
        ),
        "nsg-public-pieces": (
            [rule("AllowSqlPieces", 100, source=["20.0.0.0/9", "20.128.0.0/9", "10.0.0.0/8"], ports="1433")],
            "1433 (rule AllowSqlPieces, source 20.0.0.0/8)",
        ),
        # Wider than the trusted /29: the rest of the /24 is named.
        "nsg-office-wider": (
            [rule("AllowSshOffice", 100, source="203.0.113.0/24")],
            "22 (rule AllowSshOffice, source 203.0.113.0/29, 203.0.113.16-203.0.113.255)",
        ),
        "nsg-service-tag": (
            [rule("AllowSshAzureCloud", 100, source="AzureCloud")],
            "22 (rule AllowSshAzureCloud, source service tag AzureCloud)",
        ),
        # The Deny covers the lower half only; the upper half's public addresses still reach 22.
        "nsg-deny-half": (
            [
                rule("DenySshLowHalf", 100, "Deny", source="0.0.0.0/1"),
                rule("AllowSshSplit", 200, source=["0.0.0.0/1", "128.0.0.0/1"]),
            ],
            "22 (rule AllowSshSplit, source 128.0.0.0-169.253.255.255, ",
        ),
    }
    judged = judge(estate([nsg(name, *rules) for name, (rules, _) in cases.items()]),
                   thresholds={"trusted_sources": [OFFICE]})  # fmt: skip

    assert set(judged.findings(CHECK)) == {nsg_id(name).lower() for name in cases}
    for name, (_, needle) in cases.items():
        assert_finding(judged, CHECK, nsg_id(name), Status.FAIL, f"NSG {name}", needle)
    ja = judged.findings(CHECK)[nsg_id("nsg-public-slash8").lower()].reason_ja
    assert "5432/TCP（規則 AllowPostgresPartner、送信元 1.0.0.0/8）" in ja
    ja = judged.findings(CHECK)[nsg_id("nsg-split-v6").lower()].reason_ja
    assert "送信元 すべてのパブリック IPv6 アドレス" in ja
    for number in (86, 148):
        assert judged.verdict(number) == Status.FAIL


def test_private_trusted_and_fully_denied_source_unions_pass(judge):
    cases = {
        "nsg-private-union": [
            rule("AllowMgmtFromSites", 100, source=["10.0.0.0/8", "192.168.0.0/16"], ports=["22", "3389"])
        ],
        "nsg-private-v6": [rule("AllowSshUla", 100, source=["fd00::/8", "fe80::/10"])],
        "nsg-trusted-office": [rule("AllowSshOffice", 100, source=OFFICE)],
        "nsg-trusted-mixed": [
            rule("AllowRdpSites", 100, source=["10.0.0.0/8", OFFICE, "2001:db8:1::/64"], ports="3389")
        ],
        # Three Denies together cover every public address; the Allow after them admits nothing.
        "nsg-denied-union": [
            rule("DenySshLow", 100, "Deny", source="0.0.0.0/1"),
            rule("DenySshHigh", 110, "Deny", source="128.0.0.0/1"),
            rule("DenySshV6", 120, "Deny", source="::/0"),
            rule("AllowSshLegacy", 200, source="Internet"),
        ],
        "nsg-inside-tags": [
            rule("AllowSqlFromVnet", 100, source="VirtualNetwork", ports="1433"),
            rule("AllowProbe", 110, source="AzureLoadBalancer", ports="22"),
        ],
    }
    judged = judge(estate([nsg(name, *rules) for name, rules in cases.items()]),
                   thresholds={"trusted_sources": [OFFICE, "2001:db8:1::/48"]})  # fmt: skip

    assert set(judged.findings(CHECK)) == {nsg_id(name).lower() for name in cases}
    for name in cases:
        assert_finding(judged, CHECK, nsg_id(name), Status.PASS, f"NSG {name}", "allows no inbound TCP", WATCHED)
    office = judged.findings(CHECK)[nsg_id("nsg-trusted-office").lower()]
    assert f"rule AllowSshOffice admits only trusted_sources ({OFFICE})" in office.reason_en
    assert "AllowSshOffice" in office.reason_ja and OFFICE in office.reason_ja
    mixed = judged.findings(CHECK)[nsg_id("nsg-trusted-mixed").lower()].reason_en
    assert f"rule AllowRdpSites admits only trusted_sources ({OFFICE}, 2001:db8:1::/64)" in mixed
    assert "trusted" not in judged.findings(CHECK)[nsg_id("nsg-private-union").lower()].reason_en
    assert judged.verdict(148) == Status.PARTIAL and judged.verdict(87) == Status.PARTIAL
