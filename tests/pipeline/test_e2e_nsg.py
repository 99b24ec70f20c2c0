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
            ["3389 (rule AllowWebAndRdp)"],
            ["443"],
        ),
        "nsg-plural-sources": (
            [rule("AllowSshPartners", 100, source=["10.20.0.0/16", "0.0.0.0/0"])],
            ["22 (rule AllowSshPartners)"],
            ["3389"],
        ),
        "nsg-any-port": (
            [rule("AllowAllInbound", 100, protocol="*", source="*", ports="*")],
            [f"{p} (rule AllowAllInbound)" for p in WATCHED.split(", ")],
            [],
        ),
        "nsg-port-range": (
            [rule("AllowRdpRange", 100, ports="3380-3390")],
            ["3389 (rule AllowRdpRange)"],
            ["22 (rule"],
        ),
        # Half of the watched 5985-5986 range: only 5986 is named.
        "nsg-winrm-https": ([rule("AllowWinRmHttps", 100, ports="5986")], ["5986 (rule AllowWinRmHttps)"], ["5985"]),
        "nsg-source-internet": ([rule("AllowSsh", 100, source="Internet")], ["22 (rule AllowSsh)"], []),
        "nsg-source-star": ([rule("AllowSql", 100, source="*", ports="1433")], ["1433 (rule AllowSql)"], []),
        "nsg-source-zero": (
            [rule("AllowPostgres", 100, source="0.0.0.0/0", ports="5432")],
            ["5432 (rule AllowPostgres)"],
            [],
        ),
        # Allow at a higher priority (lower number) than the Deny: the Allow decides.
        "nsg-allow-before-deny": (
            [rule("AllowRdpFirst", 100, ports="3389"), rule("DenyRdpLater", 200, "Deny", ports="3389")],
            ["3389 (rule AllowRdpFirst)"],
            [],
        ),
        # The Deny covers 22 only: the later plural Allow still exposes 3389.
        "nsg-partial-deny": (
            [rule("DenySsh", 100, "Deny", ports="22"), rule("AllowMgmt", 200, ports=["22", "3389"])],
            ["3389 (rule AllowMgmt)"],
            ["22 (rule"],
        ),
        # A Deny for one host does not shadow an Allow to every address.
        "nsg-deny-one-host": (
            [
                rule("DenySshJump", 100, "Deny", destination="10.0.1.4"),
                rule("AllowSshAll", 200, destination="*"),
            ],
            ["22 (rule AllowSshAll)"],
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


def test_shadowed_udp_trusted_and_https_rules_pass(judge):
    cases = {
        "nsg-deny-shadows-allow": [
            rule("DenySshFromInternet", 100, "Deny", ports="22"),
            rule("AllowSshLegacy", 200, ports="22"),
        ],
        "nsg-udp-only": [rule("AllowRdpUdp", 100, protocol="Udp", ports="3389")],
        "nsg-trusted-source": [rule("AllowSshOffice", 100, source="203.0.113.0/24")],
        "nsg-plural-private": [
            rule("AllowMgmtFromSites", 100, source=["10.0.0.0/8", "203.0.113.0/24"], ports=["22", "3389"]),
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
    assert judged.verdict(148) == Status.PARTIAL and judged.verdict(87) == Status.MANUAL


def test_one_exposed_nsg_fails_the_requirements_among_compliant_ones(judge):
    exposed = nsg("nsg-jump", rule("AllowRdpInbound", 300, source="*", ports="3389"))
    compliant = nsg("nsg-app", rule("AllowHttpsFromInternet", 100, ports="443"))
    judged = judge(estate([exposed, compliant]))
    assert_finding(judged, CHECK, nsg_id("nsg-jump"), Status.FAIL, "3389 (rule AllowRdpInbound)")
    assert_finding(judged, CHECK, nsg_id("nsg-app"), Status.PASS)
    verdict = judged.result.verdict(148)
    assert verdict.status == Status.FAIL and verdict.findings_fail == 1 and verdict.findings_pass == 1
    assert "nsg-jump" in verdict.reason_en
