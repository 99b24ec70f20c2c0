"""Network security groups: management and database ports must not be reachable from the Internet.

Rules are evaluated the way Azure does for one inbound flow: custom and default rules together in
priority order, the first rule matching the flow decides. A flow is "from the Internet" when its
source could be any public address. TCP is the exposure protocol: RDP also listens on UDP 3389, but a
session cannot be opened over UDP alone, so a Udp-only rule does not count as exposure.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import PortRange, display_name, field, format_ports, parse_port_ranges, props
from controls.model import FactKind, FactSet, Thresholds

_ANY_TOKENS = frozenset({"*", "any", "internet"})
_ANY_DESTINATION = frozenset({"*", "any"})
_TCP = frozenset({"tcp", "*", "any"})


def _whole_internet(token: str) -> bool:
    """`*`, `Any`, the `Internet` service tag, or a /0 prefix (0.0.0.0/0, ::/0)."""
    if token in _ANY_TOKENS:
        return True
    try:
        return ipaddress.ip_network(token, strict=False).prefixlen == 0 and "/" in token
    except ValueError:
        return False


def _every_destination(token: str) -> bool:
    if token in _ANY_DESTINATION:
        return True
    try:
        return ipaddress.ip_network(token, strict=False).prefixlen == 0 and "/" in token
    except ValueError:
        return False


@dataclass(frozen=True)
class _Rule:
    name: str
    priority: int
    allow: bool
    tcp: bool
    ports: list[PortRange]
    sources: frozenset[str]  # lower-cased prefixes / tags, plus "asg:<id>" for application security groups
    destinations: frozenset[str]


def _tokens(p: dict[str, Any], single: str, plural: str, asgs: str) -> frozenset[str]:
    out: set[str] = set()
    one = p.get(single)
    if isinstance(one, str) and one.strip():
        out.add(one.strip().lower())
    for item in p.get(plural) or []:
        if isinstance(item, str) and item.strip():
            out.add(item.strip().lower())
    for asg in p.get(asgs) or []:
        asg_id = field(asg, "id")
        if isinstance(asg_id, str):
            out.add("asg:" + asg_id.lower())
    return frozenset(out)


def _parse_rule(raw: Any) -> _Rule | str | None:
    """An inbound rule, None for an outbound one, or a description of what could not be read."""
    name = str(field(raw, "name") or "?")
    p = props(raw)
    direction = str(p.get("direction") or "").lower()
    if direction == "outbound":
        return None
    access = str(p.get("access") or "").lower()
    protocol = str(p.get("protocol") or "").lower()
    priority = p.get("priority")
    port_tokens = [t for t in [p.get("destinationPortRange"), *(p.get("destinationPortRanges") or [])] if t]
    ports = parse_port_ranges(port_tokens)
    sources = _tokens(p, "sourceAddressPrefix", "sourceAddressPrefixes", "sourceApplicationSecurityGroups")
    destinations = _tokens(
        p, "destinationAddressPrefix", "destinationAddressPrefixes", "destinationApplicationSecurityGroups"
    )
    problems = [
        label
        for label, bad in (
            ("direction", direction != "inbound"),
            ("access", access not in {"allow", "deny"}),
            ("protocol", not protocol),
            ("priority", not isinstance(priority, int) or isinstance(priority, bool)),
            ("destinationPortRange(s)", not ports),
            ("sourceAddressPrefix(es)", not sources),
            ("destinationAddressPrefix(es)", not destinations),
        )
        if bad
    ]
    if problems:
        return f"{name}: {', '.join(problems)}"
    assert ports is not None and isinstance(priority, int)
    return _Rule(name, priority, access == "allow", protocol in _TCP, ports, sources, destinations)


def _exposing_rule(rules: list[_Rule], port: int) -> str | None:
    """Name of the rule that admits TCP from the Internet to `port`, or None when it is denied."""
    denied_destinations: set[str] = set()
    for rule in rules:
        if not rule.tcp or not any(lo <= port <= hi for lo, hi in rule.ports):
            continue
        from_internet = any(_whole_internet(s) for s in rule.sources)
        if not rule.allow:
            # A Deny shadows Internet traffic only when it covers every Internet source; it shadows all
            # later Allows when it covers every destination, otherwise only Allows to the same ones.
            if from_internet:
                if any(_every_destination(d) for d in rule.destinations):
                    return None
                denied_destinations |= rule.destinations
            continue
        if from_internet and not rule.destinations <= denied_destinations:
            return rule.name
    return None


def _exposures(rules: list[_Rule], lo: int, hi: int) -> list[tuple[int, int, str]]:
    """Exposed sub-ranges of [lo, hi] with the rule admitting each (adjacent equal ones merged)."""
    cuts = {lo, hi + 1}
    for rule in rules:
        for a, b in rule.ports:
            cuts.update(x for x in (a, b + 1) if lo < x <= hi)
    edges = sorted(cuts)
    found: list[tuple[int, int, str]] = []
    for start, nxt in itertools.pairwise(edges):
        name = _exposing_rule(rules, start)  # every port of [start, nxt) is matched by the same rules
        if name is None:
            continue
        if found and found[-1][1] == start - 1 and found[-1][2] == name:
            found[-1] = (found[-1][0], nxt - 1, name)
        else:
            found.append((start, nxt - 1, name))
    return found


def _watched_ports(thresholds: Thresholds) -> list[PortRange]:
    ranges = parse_port_ranges(thresholds.exposed_ports)
    if not ranges:
        raise ValueError(f"thresholds.exposed_ports is not a list of ports or ranges: {thresholds.exposed_ports!r}")
    return ranges


@check(
    id="nsg-no-internet-management-ports",
    title_ja="NSG がインターネットから管理・DB ポートへの受信を許可していない",
    title_en="NSG admits no Internet traffic to management or database ports",
    judges=("microsoft.network/networksecuritygroups",),
    reads=(FactKind.NSG,),
    api="Network Security Groups - List All (Microsoft.Network/networkSecurityGroups): "
    "properties.securityRules[] and properties.defaultSecurityRules[] -> properties.{priority, direction, "
    "access, protocol, sourceAddressPrefix(es), sourceApplicationSecurityGroups, destinationPortRange(s), "
    "destinationAddressPrefix(es)}",
    rule_ja="カスタム規則と既定規則を優先度順に Azure と同じく評価し、送信元が Internet（*, Any, Internet, "
    "0.0.0.0/0）の TCP 通信が監視ポートに届く Allow がなければ合格。それより優先度の高い Deny で遮られた "
    "Allow は数えない。UDP のみの規則は露出とみなさない（RDP も TCP が必須）。読めない規則があれば判定不能。",
    rule_en="Custom and default rules are evaluated in priority order as Azure does; passes when no Allow "
    "lets TCP from the Internet (*, Any, Internet, 0.0.0.0/0) reach a watched port. An Allow shadowed by a "
    "higher-priority Deny does not count; Udp-only rules are not exposure (RDP needs TCP too). A rule that "
    "cannot be read makes the NSG an error.",
    remediation_ja="該当規則の送信元を管理用の固定 IP・VPN・Bastion などに限定するか削除し、管理アクセスは "
    "Azure Bastion や Just-In-Time VM アクセスを使う。",
    remediation_en="Restrict the rule's source to known management addresses (VPN, Bastion) or remove it; use "
    "Azure Bastion or just-in-time VM access for administration.",
    thresholds=("exposed_ports",),
)
def nsg_no_internet_management_ports(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    watched = _watched_ports(thresholds)
    watched_text = ", ".join(format_ports(lo, hi) for lo, hi in watched)
    for nsg in facts.of(FactKind.NSG):
        name = display_name(nsg)
        p = props(nsg.content)
        if not isinstance(p.get("securityRules", []), list) or not p.get("defaultSecurityRules"):
            # Every NSG carries Azure's default rules; without them the document was not seen whole.
            yield errored(
                nsg.resource_id,
                f"NSG {name} の文書に defaultSecurityRules / securityRules の配列がなく、規則を判定できません",
                f"NSG {name} document has no defaultSecurityRules / securityRules lists; its rules cannot be judged",
                nsg,
            )
            continue
        rules: list[_Rule] = []
        problems: list[str] = []
        for raw in [*(p.get("securityRules") or []), *(p.get("defaultSecurityRules") or [])]:
            parsed = _parse_rule(raw)
            if isinstance(parsed, _Rule):
                rules.append(parsed)
            elif parsed is not None:
                problems.append(parsed)
        # Azure rejects equal priorities within one NSG; on a tie Allow goes first so nothing is hidden.
        rules.sort(key=lambda r: (r.priority, not r.allow))
        exposed = [e for lo, hi in watched for e in _exposures(rules, lo, hi)]
        if exposed:
            listed = ", ".join(f"{format_ports(lo, hi)}/TCP（規則 {rule}）" for lo, hi, rule in exposed)
            listed_en = ", ".join(f"{format_ports(lo, hi)} (rule {rule})" for lo, hi, rule in exposed)
            yield failed(
                nsg.resource_id,
                f"NSG {name} がインターネットから {listed} への受信を許可しています",
                f"NSG {name} allows inbound TCP from the Internet to {listed_en}",
                nsg,
            )
        elif problems:
            yield errored(
                nsg.resource_id,
                f"NSG {name} の規則を解釈できません（{'; '.join(problems)}）",
                f"NSG {name} has rules that cannot be interpreted ({'; '.join(problems)})",
                nsg,
            )
        else:
            yield passed(
                nsg.resource_id,
                f"NSG {name} はインターネットから {watched_text}/TCP への受信を許可していません",
                f"NSG {name} allows no inbound TCP from the Internet to {watched_text}",
                nsg,
            )
