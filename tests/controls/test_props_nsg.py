"""Properties of the NSG exposure check (`nsg-no-internet-management-ports`) on generated rule sets.

The check is compared with a deliberately plain reference model: for every probe flow (a public source
address or a service tag's addresses of one IP version, a watched TCP port, a destination of the same
version) walk the rules in priority order and take the first that matches; the NSG is exposed on a port
when some probe's first match is an Allow. The probe sources are one address per "atom" of the address
space cut by every prefix the generated rules, the trusted sources and the list of non-public ranges can
name, so probing them is probing every address. Plus metamorphic properties: another Deny never makes
exposure worse, renaming rules or reordering the list changes nothing.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from controls.checks import CHECKS_BY_ID
from controls.model import Evidence, FactKind, FactSet, Status, Thresholds
from tests.props import EXAMPLES, PROPERTIES

# Each example judges the NSG two or three times: fewer examples keep the run short.
METAMORPHIC = settings(PROPERTIES, max_examples=max(1, EXAMPLES * 3 // 10))

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
NSG_ID = f"{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/networkSecurityGroups/nsg-gen"
ASG_ID = f"{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/applicationSecurityGroups/asg-web"
CHECK = CHECKS_BY_ID["nsg-no-internet-management-ports"]
WATCHED = (22, 3389, 1433, 3306, 5432, 5985, 5986)  # Thresholds().exposed_ports, port by port

# Sources a rule may name: Internet-wide tokens, halves and slices of the IPv4 space, public and private
# prefixes and addresses of both versions, inside tags, public service tags (in two casings), ASGs.
SOURCES = (
    "*", "Internet", "Any", "0.0.0.0/0", "::/0", "0.0.0.0/1", "128.0.0.0/1", "1.0.0.0/8", "203.0.113.0/24",
    "198.51.100.7", "10.0.0.0/8", "192.168.1.0/24", "100.64.0.0/10", "0.0.0.0/8", "224.0.0.0/4", "2000::/3",
    "2001:db8::/32", "2001:db8::1", "fd00::/8", "VirtualNetwork", "AzureLoadBalancer", "AzureCloud",
    "azurecloud", "Storage", "asg",
)  # fmt: skip
TRUSTED = ((), ("203.0.113.0/24",), ("198.51.100.0/24",), ("2001:db8::/32",), ("1.0.0.0/8", "203.0.113.0/28"))
# Destinations whose relations the check knows exactly: every destination, every one of a version, and
# single addresses. (Named destinations such as VirtualNetwork are only compared with themselves.)
DESTINATIONS = ("*", "0.0.0.0/0", "::/0", "10.0.0.4", "10.0.0.5", "2001:db8:1::4")
MORE_DESTINATIONS = (*DESTINATIONS, "VirtualNetwork", "10.0.0.0/24", "Internet")
PORTS = ("22", "3389", "20-25", "*", "1433", "3306-3310", "5985-5986", "5986", "80", "443", "0-65535", "5432")
PROTOCOLS = ("Tcp", "Udp", "*", "Icmp")

# ---------------------------------------------------------------- generated rule sets


def rule(name: str, priority: int, access: str, protocol: str, sources: list[str], ports: list[str],
         destinations: list[str], direction: str = "Inbound") -> dict[str, Any]:  # fmt: skip
    """A rule document as Network Security Groups - List All returns it, singular fields for one value."""
    p: dict[str, Any] = {"priority": priority, "access": access, "direction": direction, "protocol": protocol,
                         "sourcePortRange": "*"}  # fmt: skip
    prefixes = [s for s in sources if s != "asg"]
    if "asg" in sources:
        p["sourceApplicationSecurityGroups"] = [{"id": ASG_ID}]
    if len(prefixes) == 1:
        p["sourceAddressPrefix"] = prefixes[0]
    elif prefixes:
        p["sourceAddressPrefixes"] = prefixes
    p["destinationPortRange" if len(ports) == 1 else "destinationPortRanges"] = ports[0] if len(ports) == 1 else ports
    key = "destinationAddressPrefix" if len(destinations) == 1 else "destinationAddressPrefixes"
    p[key] = destinations[0] if len(destinations) == 1 else destinations
    return {"name": name, "id": f"{NSG_ID}/securityRules/{name}", "properties": p}


DEFAULTS = [
    rule("AllowVnetInBound", 65000, "Allow", "*", ["VirtualNetwork"], ["*"], ["VirtualNetwork"]),
    rule("AllowAzureLoadBalancerInBound", 65001, "Allow", "*", ["AzureLoadBalancer"], ["*"], ["*"]),
    rule("DenyAllInBound", 65500, "Deny", "*", ["*"], ["*"], ["*"]),
    rule("AllowInternetOutBound", 65001, "Allow", "*", ["*"], ["*"], ["Internet"], direction="Outbound"),
]


@st.composite
def custom_rules(draw: st.DrawFn, destinations: tuple[str, ...] = DESTINATIONS, max_size: int = 7) -> list[dict]:
    priorities = draw(st.lists(st.integers(100, 4096), min_size=0, max_size=max_size, unique=True))
    out = []
    for i, priority in enumerate(priorities):
        out.append(
            rule(
                f"r{i}",
                priority,
                draw(st.sampled_from(("Allow", "Allow", "Deny"))),
                draw(st.sampled_from(PROTOCOLS)),
                draw(st.lists(st.sampled_from(SOURCES), min_size=1, max_size=3, unique=True)),
                draw(st.lists(st.sampled_from(PORTS), min_size=1, max_size=3, unique=True)),
                draw(st.lists(st.sampled_from(destinations), min_size=1, max_size=2, unique=True)),
                draw(st.sampled_from(("Inbound", "Inbound", "Inbound", "Outbound"))),
            )
        )
    return out


def evidence(rules: list[dict]) -> Evidence:
    doc = {"id": NSG_ID, "name": "nsg-gen", "type": "Microsoft.Network/networkSecurityGroups",
           "properties": {"securityRules": rules, "defaultSecurityRules": DEFAULTS}}  # fmt: skip
    at = datetime(2026, 3, 31, tzinfo=UTC)
    return Evidence(FactKind.NSG, "network.nsgs", SUB, NSG_ID, "2024-05-01", None, at, doc)


def judge(rules: list[dict], trusted: tuple[str, ...] = ()):
    [finding] = CHECK.evaluate(FactSet([evidence(rules)]), Thresholds(trusted_sources=trusted))
    return finding


_EXPOSED = re.compile(r"(\d+)(?:-(\d+))? \(rule (\w+), source ")


def exposed_ports(finding) -> dict[int, str]:
    """Watched port -> the rule the check names for it, read from the finding's reason."""
    out: dict[int, str] = {}
    for lo, hi, name in _EXPOSED.findall(finding.reason_en):
        for port in range(int(lo), int(hi or lo) + 1):
            out[port] = name
    return out


# ---------------------------------------------------------------- the reference model

NOT_PUBLIC = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
)]  # fmt: skip
EVERY_SOURCE = {"*", "any", "internet"}
INSIDE = {"virtualnetwork", "azureloadbalancer", "asg"}


def _net(token: str):
    try:
        return ipaddress.ip_network(token, strict=False)
    except ValueError:
        return None


def _cuts() -> dict[int, list]:
    """One address per atom of each version's space: every boundary any listed prefix can draw."""
    nets = NOT_PUBLIC + [n for n in map(_net, SOURCES + tuple(t for ts in TRUSTED for t in ts)) if n is not None]
    out: dict[int, list] = {}
    for version, size in ((4, 2**32), (6, 2**128)):
        points = {0}
        for n in nets:
            if n.version == version:
                points.update(p for p in (int(n.network_address), int(n.broadcast_address) + 1) if p < size)
        cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
        out[version] = [cls(p) for p in sorted(points)]
    return out


ATOMS = _cuts()
TAGS = sorted({s.lower() for s in SOURCES if _net(s) is None} - EVERY_SOURCE - INSIDE)
PROBE_DESTINATIONS = {4: ["10.0.0.4", "10.0.0.5", "10.9.9.9"], 6: ["2001:db8:1::4", "2001:db8:9::9"]}


def is_public(address) -> bool:
    return not any(address in n for n in NOT_PUBLIC if n.version == address.version)


def sources_of(p: dict) -> tuple[str, ...]:
    out = [p["sourceAddressPrefix"]] if "sourceAddressPrefix" in p else list(p.get("sourceAddressPrefixes", []))
    return tuple(out + ["asg"] * len(p.get("sourceApplicationSecurityGroups", [])))


def contains_address(sources: tuple[str, ...], address) -> bool:
    for token in sources:
        net = _net(token)
        if token.lower() in EVERY_SOURCE or (net is not None and net.version == address.version and address in net):
            return True
    return False


@functools.cache  # the same few token lists recur in every example
def contains(sources: tuple[str, ...], probe: tuple) -> bool:
    kind, value, version = probe
    if kind == "address":
        return contains_address(sources, value)
    if any(t.lower() == value for t in sources) or any(t.lower() in EVERY_SOURCE for t in sources):
        return True
    # A tag's addresses of one version lie among the public addresses of that version: covered when all are.
    return all(contains_address(sources, a) for a in ATOMS[version] if is_public(a))


@functools.cache
def reaches(destinations: tuple[str, ...], address: str) -> bool:
    target = ipaddress.ip_address(address)
    for token in destinations:
        net = _net(token)
        if token.lower() in {"*", "any"} or (net is not None and net.version == target.version and target in net):
            return True
    return False


def reference(rules: list[dict], trusted: tuple[str, ...]) -> dict[int, str]:
    """Watched port -> the first Allow (in priority order) that is some probe flow's first match."""
    trusted_nets = [ipaddress.ip_network(t) for t in trusted]
    probes = [("address", a, v) for v in (4, 6) for a in ATOMS[v]
              if is_public(a) and not any(a in n for n in trusted_nets if n.version == v)]  # fmt: skip
    probes += [("tag", t, v) for t in TAGS for v in (4, 6)]
    inbound = sorted((r for r in rules + DEFAULTS if r["properties"]["direction"] == "Inbound"),
                     key=lambda r: r["properties"]["priority"])  # fmt: skip
    table = []  # (priority, name, allow, ports, destinations, sources), the rules' fields as a flow sees them
    for r in inbound:
        p = r["properties"]
        if p["protocol"].lower() not in {"tcp", "*"}:
            continue  # no TCP flow matches it
        ports = [p["destinationPortRange"]] if "destinationPortRange" in p else p["destinationPortRanges"]
        spans = [(0, 65535) if t == "*" else (int(t.split("-")[0]), int(t.split("-")[-1])) for t in ports]
        destinations = ([p["destinationAddressPrefix"]] if "destinationAddressPrefix" in p
                        else p["destinationAddressPrefixes"])  # fmt: skip
        table.append((p["priority"], r["name"], p["access"] == "Allow", spans, tuple(destinations), sources_of(p)))
    out: dict[int, str] = {}
    for port in WATCHED:
        deciders: set[tuple[int, str]] = set()
        for probe in probes:
            for destination in PROBE_DESTINATIONS[probe[2]]:
                for priority, name, allow, spans, destinations, sources in table:
                    if (
                        any(lo <= port <= hi for lo, hi in spans)
                        and reaches(destinations, destination)
                        and contains(sources, probe)
                    ):
                        if allow:
                            deciders.add((priority, name))
                        break
        if deciders:
            out[port] = min(deciders)[1]
    return out


# ---------------------------------------------------------------- properties

IPV6_BEHIND_IPV4_DENY = [
    rule("r0", 100, "Deny", "*", ["*"], ["22"], ["0.0.0.0/0"]),
    rule("r1", 200, "Allow", "Tcp", ["*"], ["22"], ["*"]),
]
TAG_BEHIND_IPV4_DENY = [
    rule("r0", 100, "Deny", "Tcp", ["0.0.0.0/1", "128.0.0.0/1"], ["*"], ["10.0.0.4"]),
    rule("r1", 200, "Allow", "Tcp", ["AzureCloud"], ["3389"], ["10.0.0.4"]),
]


@PROPERTIES
@given(custom_rules(), st.sampled_from(TRUSTED))
@example(IPV6_BEHIND_IPV4_DENY, ())
@example(TAG_BEHIND_IPV4_DENY, ())
@example([rule("r0", 100, "Allow", "Tcp", ["2001:db8::/32"], ["22"], ["10.0.0.4"])], ())
def test_the_check_agrees_with_the_reference_model(rules, trusted):
    finding = judge(rules, trusted)
    expected = reference(rules, trusted)
    assert finding.status == (Status.FAIL if expected else Status.PASS), finding.reason_en
    assert exposed_ports(finding) == expected, finding.reason_en


def test_a_deny_to_every_ipv4_destination_leaves_ipv6_exposed():
    finding = judge(IPV6_BEHIND_IPV4_DENY)
    assert finding.status == Status.FAIL
    assert "22 (rule r1, source every public IPv6 address)" in finding.reason_en
    # A tag's IPv4 part is covered by a Deny of every public IPv4 address to that IPv4 destination.
    assert judge(TAG_BEHIND_IPV4_DENY).status == Status.PASS


@METAMORPHIC
@given(custom_rules(MORE_DESTINATIONS), st.sampled_from(TRUSTED), st.integers(100, 4096), st.data())
def test_another_deny_never_makes_exposure_worse(rules, trusted, priority, data):
    before = judge(rules, trusted)
    if priority in {r["properties"]["priority"] for r in rules}:
        priority = max([r["properties"]["priority"] for r in rules] + [99]) + 1
    deny = rule(
        "extraDeny",
        priority,
        "Deny",
        data.draw(st.sampled_from(PROTOCOLS)),
        data.draw(st.lists(st.sampled_from(SOURCES), min_size=1, max_size=3, unique=True)),
        data.draw(st.lists(st.sampled_from(PORTS), min_size=1, max_size=2, unique=True)),
        data.draw(st.lists(st.sampled_from(MORE_DESTINATIONS), min_size=1, max_size=2, unique=True)),
    )
    after = judge([*rules, deny], trusted)
    assert before.status in (Status.PASS, Status.FAIL) and after.status in (Status.PASS, Status.FAIL)
    assert set(exposed_ports(after)) <= set(exposed_ports(before))
    if before.status == Status.PASS:
        assert after.status == Status.PASS


@METAMORPHIC
@given(custom_rules(MORE_DESTINATIONS), st.sampled_from(TRUSTED), st.randoms(use_true_random=False))
def test_names_and_list_order_do_not_change_the_verdict(rules, trusted, rnd):
    before = judge(rules, trusted)
    shuffled = list(rules)
    rnd.shuffle(shuffled)
    reordered = judge(shuffled, trusted)
    assert (reordered.status, reordered.reason_en, reordered.reason_ja) == (
        before.status,
        before.reason_en,
        before.reason_ja,
    )
    renamed = [{**r, "name": "x" + r["name"][::-1] + "Z"} for r in shuffled]
    after = judge(renamed, trusted)
    assert after.status == before.status
    assert exposed_ports(after) == {port: "x" + name[::-1] + "Z" for port, name in exposed_ports(before).items()}
