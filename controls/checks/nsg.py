"""Network security groups: management and database ports must not be reachable from the Internet.

Rules are evaluated the way Azure does for one inbound flow: custom and default rules together in
priority order, the first rule matching the flow decides. TCP is the exposure protocol: RDP also
listens on UDP 3389, but a session cannot be opened over UDP alone, so a Udp-only rule does not count
as exposure.

"From the Internet" is judged on a rule's sources as one set: the union of `sourceAddressPrefix`,
`sourceAddressPrefixes` and `sourceApplicationSecurityGroups`, IPv4 and IPv6 alike. A rule admits the
Internet when that union holds any *public* address outside `thresholds.trusted_sources`, so
0.0.0.0/1 + 128.0.0.0/1 is every public IPv4 address, and 1.0.0.0/8 or a single public /24 is exposure
as much as `*`. Public means every address outside this explicit list (not `ipaddress.is_global`, whose
table changes between Python releases, so a stored verdict could not be reproduced):

- IPv4: 0.0.0.0/8 (this network), 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918), 100.64.0.0/10
  (RFC 6598 shared / CGNAT), 127.0.0.0/8 (loopback), 169.254.0.0/16 (link-local), 224.0.0.0/4
  (multicast) and 240.0.0.0/4 (reserved, broadcast) — none can be a source on the Internet;
- IPv6: ::/128, ::1/128, fc00::/7 (unique local), fe80::/10 (link-local), ff00::/8 (multicast).

Documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are public here:
they stand in for real public addresses in examples, and a rule naming them is judged like one.

Tags: `*`, `Any` and `Internet` are every public address. `VirtualNetwork` (the VNet, its peers and
connected on-premises space) and `AzureLoadBalancer` (the platform's health probe) are not the Internet,
nor are application security groups (NICs inside the VNet). Every other service tag (`AzureCloud`,
`Storage`, `GatewayManager`, regional forms such as `AzureCloud.JapanEast` ...) names public ranges
shared with other tenants, so it is exposure, named in the reason; trusted_sources does not cover tags.
A source that is neither an address, a prefix nor a tag makes the rule unreadable (error, never pass).

A higher-priority Deny shadows an Allow only for what it covers: for each destination of the Allow, the
Denies to that destination (or to every destination) before it are subtracted from its admitted public
sources, and whatever remains is exposure. A flow's source and destination are of one IP version: an Allow
to an IPv4 prefix admits only IPv4 sources, and a Deny to 0.0.0.0/0 (every IPv4 destination) stops only IPv4
sources, ::/0 only IPv6 ones (a tag's part of that version). Several Denies together may cover an Allow (0.0.0.0/1 and
128.0.0.0/1, then ::/0); a Deny covering part of it leaves the rest admitted and named. A service tag
is covered only by a Deny of the same tag or, version by version, one covering every public address of it.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import PortRange, display_name, field, format_ports, parse_port_ranges, props
from controls.model import FactKind, FactSet, Thresholds

_ANY_TOKENS = frozenset({"*", "any", "internet"})
_INSIDE_TAGS = frozenset({"virtualnetwork", "azureloadbalancer"})
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")
_ANY_DESTINATION = frozenset({"*", "any"})
_TCP = frozenset({"tcp", "*", "any"})
_LISTED_RANGES = 4  # admitted ranges named in a reason; more are counted

# ---------------------------------------------------------------- address sets

Span = tuple[int, int]  # first and last address, as integers
Spans = tuple[Span, ...]  # sorted, disjoint, not adjacent


def _merge(spans: Iterable[Span]) -> Spans:
    out: list[Span] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _minus(spans: Spans, remove: Spans) -> Spans:
    out: list[Span] = []
    for lo, hi in spans:
        for rlo, rhi in remove:
            if rhi < lo or rlo > hi:
                continue
            if rlo > lo:
                out.append((lo, rlo - 1))
            lo = rhi + 1
            if lo > hi:
                break
        if lo <= hi:
            out.append((lo, hi))
    return tuple(out)


def _span(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Span:
    return int(net.network_address), int(net.broadcast_address)


_NOT_PUBLIC = {
    4: ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4"),
    6: ("::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8"),
}  # fmt: skip
_NOT_PUBLIC_SPANS = {v: _merge(_span(ipaddress.ip_network(n)) for n in nets) for v, nets in _NOT_PUBLIC.items()}
_PUBLIC = {v: _minus(((0, 2 ** (32 if v == 4 else 128) - 1),), _NOT_PUBLIC_SPANS[v]) for v in (4, 6)}


@dataclass(frozen=True)
class _Addrs:
    """A set of source addresses per IP version, plus public service tags (as written in the rule) per IP
    version: a tag names ranges of both versions, and a Deny may cover one version of it and not the other."""

    v4: Spans = ()
    v6: Spans = ()
    tags4: frozenset[str] = frozenset()
    tags6: frozenset[str] = frozenset()

    @property
    def tags(self) -> frozenset[str]:
        return self.tags4 | self.tags6

    def spans(self, version: int) -> Spans:
        return self.v4 if version == 4 else self.v6

    def empty(self) -> bool:
        return not (self.v4 or self.v6 or self.tags4 or self.tags6)

    def union(self, other: _Addrs) -> _Addrs:
        return _Addrs(
            _merge(self.v4 + other.v4), _merge(self.v6 + other.v6), self.tags4 | other.tags4, self.tags6 | other.tags6
        )

    def public(self) -> _Addrs:
        return _Addrs(
            _minus(self.v4, _NOT_PUBLIC_SPANS[4]), _minus(self.v6, _NOT_PUBLIC_SPANS[6]), self.tags4, self.tags6
        )

    def only(self, version: int | None) -> _Addrs:
        """The part of one IP version (everything when None)."""
        if version == 4:
            return _Addrs(v4=self.v4, tags4=self.tags4)
        if version == 6:
            return _Addrs(v6=self.v6, tags6=self.tags6)
        return self

    def covers_every_public_address(self) -> bool:
        return not _minus(_PUBLIC[4], self.v4) and not _minus(_PUBLIC[6], self.v6)

    def minus(self, other: _Addrs) -> _Addrs:
        def tags_left(tags: frozenset[str], version: int) -> frozenset[str]:
            if not _minus(_PUBLIC[version], other.spans(version)):
                return frozenset()  # every public address of that version, so every tag's part of it
            covered = {t.lower() for t in (other.tags4 if version == 4 else other.tags6)}
            return frozenset(t for t in tags if t.lower() not in covered)

        return _Addrs(
            _minus(self.v4, other.v4), _minus(self.v6, other.v6), tags_left(self.tags4, 4), tags_left(self.tags6, 6)
        )


_EVERY_PUBLIC = _Addrs(_PUBLIC[4], _PUBLIC[6])


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


def _addrs_of(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> _Addrs:
    return _Addrs(v4=(_span(net),)) if net.version == 4 else _Addrs(v6=(_span(net),))


def _source(token: str) -> _Addrs:
    """The addresses one source token stands for; ValueError when it is not an address, prefix or tag."""
    low = token.lower()
    if low.startswith("asg:") or low in _INSIDE_TAGS:
        return _Addrs()
    if low in _ANY_TOKENS:
        return _EVERY_PUBLIC
    try:
        return _addrs_of(_network(token))
    except ValueError:
        if _TAG.fullmatch(token):
            return _Addrs(tags4=frozenset({token}), tags6=frozenset({token}))
        raise


def parse_trusted_source(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """One `thresholds.trusted_sources` entry: an IPv4 or IPv6 CIDR (a bare address is a /32 or /128)."""
    try:
        net = _network(text)
    except ValueError:
        raise ValueError("is not an IPv4 or IPv6 CIDR such as 203.0.113.8/29") from None
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise ValueError(f"has host bits set (the network is {net})") from None
    if net.prefixlen == 0:
        raise ValueError("would trust every address and switch the check off")
    return net


def _trusted(thresholds: Thresholds) -> _Addrs:
    out = _Addrs()
    for entry in thresholds.trusted_sources:
        try:
            out = out.union(_addrs_of(parse_trusted_source(entry)))
        except ValueError as exc:
            raise ValueError(f"thresholds.trusted_sources: {entry!r} {exc}") from None
    return out


def _range_text(version: int, lo: int, hi: int) -> str:
    """A CIDR when the range is exactly one, else first-last."""
    cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    first, last = cls(lo), cls(hi)
    nets = list(ipaddress.summarize_address_range(first, last))
    return str(nets[0]) if len(nets) == 1 else f"{first}-{last}"


def _describe(admitted: _Addrs, trusted: _Addrs) -> tuple[str, str]:
    """What a set of public sources is, in Japanese and English: the whole Internet, every public address
    of one version (outside trusted_sources), or its ranges (the first few, then a count) and tags."""

    def state(version: int) -> str:
        spans = admitted.spans(version)
        if not spans:
            return "none"
        if spans == _PUBLIC[version]:
            return "all"
        if trusted.spans(version) and spans == _minus(_PUBLIC[version], trusted.spans(version)):
            return "all-but-trusted"
        return "some"

    states = {v: state(v) for v in (4, 6)}
    if states[4] == states[6] == "all":
        return "インターネット全体", "the whole Internet"
    if states[4] == states[6] == "all-but-trusted" or {states[4], states[6]} == {"all", "all-but-trusted"}:
        return "trusted_sources 以外のインターネット全体", "the whole Internet outside trusted_sources"
    ja: list[str] = []
    en: list[str] = []
    total = sum(len(admitted.spans(v)) for v in (4, 6) if states[v] == "some")
    listed = 0
    for v in (4, 6):
        if states[v] == "all":
            ja.append(f"すべてのパブリック IPv{v} アドレス")
            en.append(f"every public IPv{v} address")
        elif states[v] == "all-but-trusted":
            ja.append(f"trusted_sources 以外のすべてのパブリック IPv{v} アドレス")
            en.append(f"every public IPv{v} address outside trusted_sources")
        elif states[v] == "some":
            for lo, hi in admitted.spans(v):
                if listed < _LISTED_RANGES:
                    text = _range_text(v, lo, hi)
                    ja.append(text)
                    en.append(text)
                elif listed == _LISTED_RANGES:
                    ja.append(f"…（計 {total} 範囲）")
                    en.append(f"… ({total} ranges)")
                listed += 1
    for tag in sorted(admitted.tags, key=str.lower):
        ja.append(f"サービスタグ {tag}")
        en.append(f"service tag {tag}")
    return ", ".join(ja), ", ".join(en)


def _destination_version(token: str) -> int | None:
    """4 or 6 for an address or prefix (a flow's source and destination are of one IP version), None for `*`,
    a tag or an application security group."""
    if token.startswith("asg:"):
        return None
    try:
        return ipaddress.ip_network(token, strict=False).version
    except ValueError:
        return None


@dataclass(frozen=True)
class _Rule:
    name: str
    priority: int
    allow: bool
    tcp: bool
    ports: list[PortRange]
    sources: _Addrs  # every address and public tag the sources name (private ones too: a Deny covers them)
    destinations: frozenset[str]  # lower-cased prefixes / tags, plus "asg:<id>" for application security groups

    @property
    def public_sources(self) -> _Addrs:
        return self.sources.public()


def _tokens(p: dict[str, Any], single: str, plural: str, asgs: str) -> list[str]:
    out: list[str] = []
    one = p.get(single)
    if isinstance(one, str) and one.strip():
        out.append(one.strip())
    for item in p.get(plural) or []:
        if isinstance(item, str) and item.strip():
            out.append(item.strip())
    for asg in p.get(asgs) or []:
        asg_id = field(asg, "id")
        if isinstance(asg_id, str):
            out.append("asg:" + asg_id)
    return out


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
    source_tokens = _tokens(p, "sourceAddressPrefix", "sourceAddressPrefixes", "sourceApplicationSecurityGroups")
    sources = _Addrs()
    unreadable: list[str] = []
    for token in source_tokens:
        try:
            sources = sources.union(_source(token))
        except ValueError:
            unreadable.append(token)
    destinations = frozenset(
        t.lower()
        for t in _tokens(
            p, "destinationAddressPrefix", "destinationAddressPrefixes", "destinationApplicationSecurityGroups"
        )
    )
    problems = [
        label
        for label, bad in (
            ("direction", direction != "inbound"),
            ("access", access not in {"allow", "deny"}),
            ("protocol", not protocol),
            ("priority", not isinstance(priority, int) or isinstance(priority, bool)),
            ("destinationPortRange(s)", not ports),
            ("sourceAddressPrefix(es)", not source_tokens),
            (f"sourceAddressPrefix(es) {', '.join(unreadable)}", bool(unreadable)),
            ("destinationAddressPrefix(es)", not destinations),
        )
        if bad
    ]
    if problems:
        return f"{name}: {', '.join(problems)}"
    assert ports is not None and isinstance(priority, int)
    return _Rule(name, priority, access == "allow", protocol in _TCP, ports, sources, destinations)


def _on_port(rule: _Rule, port: int) -> bool:
    return rule.tcp and any(lo <= port <= hi for lo, hi in rule.ports)


def _every_destination_versions(token: str) -> frozenset[int]:
    """The IP versions of which a destination names every address: both for `*` / Any, 4 for 0.0.0.0/0,
    6 for ::/0, none otherwise."""
    if token in _ANY_DESTINATION:
        return frozenset({4, 6})
    try:
        net = ipaddress.ip_network(token, strict=False)
    except ValueError:
        return frozenset()
    return frozenset({net.version}) if net.prefixlen == 0 and "/" in token else frozenset()


def _denied_to(deny: _Rule, destination: str) -> _Addrs:
    """The sources a Deny stops on their way to `destination`: all of them when it names that destination or
    every destination; with 0.0.0.0/0 or ::/0 only its sources of that IP version, since a flow's source and
    destination are of one version."""
    versions: frozenset[int] = frozenset().union(*(_every_destination_versions(t) for t in deny.destinations))
    if destination in deny.destinations or versions == {4, 6}:
        return deny.sources
    out = _Addrs()
    for version in versions:
        out = out.union(deny.sources.only(version))
    return out


def _exposing_rule(rules: list[_Rule], port: int, trusted: _Addrs) -> tuple[str, _Addrs] | None:
    """The rule admitting TCP from the Internet to `port` and the public sources it admits, or None.

    For each destination of an Allow, its untrusted public sources of that destination's IP version (both for
    `*`, tags and ASGs) less what the Denies before it stop on the way there are admitted."""
    denies: list[_Rule] = []
    for rule in rules:
        if not _on_port(rule, port):
            continue
        if not rule.allow:
            denies.append(rule)
            continue
        exposed = rule.public_sources.minus(trusted)
        if exposed.empty():
            continue
        admitted = _Addrs()
        for destination in sorted(rule.destinations):
            left = exposed.only(_destination_version(destination))
            for deny in denies:
                left = left.minus(_denied_to(deny, destination))
            admitted = admitted.union(left)
        if not admitted.empty():
            return rule.name, admitted
    return None


def _trusted_only(rules: list[_Rule], watched: list[PortRange], trusted: _Addrs) -> list[tuple[str, _Addrs]]:
    """Allows to a watched port whose public sources all lie in trusted_sources, with those sources."""
    out: list[tuple[str, _Addrs]] = []
    for rule in rules:
        public = rule.public_sources
        if (
            rule.allow
            and rule.tcp
            and not public.empty()
            and public.minus(trusted).empty()
            and any(lo <= whi and wlo <= hi for lo, hi in rule.ports for wlo, whi in watched)
        ):
            out.append((rule.name, public))
    return out


def _exposures(rules: list[_Rule], lo: int, hi: int, trusted: _Addrs) -> list[tuple[int, int, str, _Addrs]]:
    """Exposed sub-ranges of [lo, hi] with the rule and sources admitting each (adjacent equal ones merged)."""
    cuts = {lo, hi + 1}
    for rule in rules:
        for a, b in rule.ports:
            cuts.update(x for x in (a, b + 1) if lo < x <= hi)
    edges = sorted(cuts)
    found: list[tuple[int, int, str, _Addrs]] = []
    for start, nxt in itertools.pairwise(edges):
        hit = _exposing_rule(rules, start, trusted)  # every port of [start, nxt) is matched by the same rules
        if hit is None:
            continue
        name, admitted = hit
        if found and found[-1][1] == start - 1 and found[-1][2:] == (name, admitted):
            found[-1] = (found[-1][0], nxt - 1, name, admitted)
        else:
            found.append((start, nxt - 1, name, admitted))
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
    per_subscription=True,  # one document at a time
    api="Network Security Groups - List All (Microsoft.Network/networkSecurityGroups): "
    "properties.securityRules[] and properties.defaultSecurityRules[] -> properties.{priority, direction, "
    "access, protocol, sourceAddressPrefix(es), sourceApplicationSecurityGroups, destinationPortRange(s), "
    "destinationAddressPrefix(es)}",
    rule_ja="カスタム規則と既定規則を優先度順に Azure と同じく評価し、インターネットからの TCP 通信が監視ポートに"
    "届く Allow がなければ合格。規則の送信元は sourceAddressPrefix・sourceAddressPrefixes・ASG の和集合として "
    "IPv4/IPv6 とも判定し、パブリックアドレス（RFC 1918・100.64.0.0/10・ループバック・リンクローカル・"
    "マルチキャスト・予約・fc00::/7 など明示した非公開範囲以外すべて。文書用範囲も含む）を trusted_sources の"
    "外に一つでも含めばインターネットとみなす（0.0.0.0/1 + 128.0.0.0/1 や 1.0.0.0/8、小さな /24 も）。"
    "*, Any, Internet はすべてのパブリックアドレス。VirtualNetwork・AzureLoadBalancer・ASG はインターネットでは"
    "なく、その他のサービスタグ（AzureCloud など）は公開範囲として露出とする。優先度の高い Deny は、"
    "その宛先について覆う送信元の分だけ Allow を遮る（一部だけ覆う Deny では残りが露出。通信の送信元と宛先は同じ "
    "IP バージョンのため、宛先 0.0.0.0/0 の Deny は IPv4 の送信元だけを遮る）。UDP のみの規則は"
    "露出とみなさない（RDP も TCP が必須）。読めない規則があれば判定不能。",
    rule_en="Custom and default rules are evaluated in priority order as Azure does; passes when no Allow "
    "lets TCP from the Internet reach a watched port. A rule's sources are one set, the union of "
    "sourceAddressPrefix, sourceAddressPrefixes and its ASGs, IPv4 and IPv6; it admits the Internet when that "
    "set holds any public address outside trusted_sources (public: everything but an explicit list of private "
    "and reserved ranges — RFC 1918, 100.64.0.0/10, loopback, link-local, multicast, reserved, fc00::/7 ...; "
    "documentation ranges count as public), so 0.0.0.0/1 + 128.0.0.0/1, 1.0.0.0/8 or a single public /24 "
    "fail. *, Any and Internet are every public address; VirtualNetwork, AzureLoadBalancer and ASGs are not the "
    "Internet; any other service tag (AzureCloud ...) is public ranges and counts as exposure. A higher-priority "
    "Deny shadows an Allow only for the sources it covers on that destination (a partial Deny leaves the rest "
    "exposed; a flow's source and destination are of one IP version, so a Deny to 0.0.0.0/0 stops IPv4 sources "
    "only); Udp-only rules are not exposure (RDP needs TCP too). A rule that cannot be read makes the NSG "
    "an error.",
    remediation_ja="該当規則の送信元を管理用の固定 IP・VPN・Bastion などに限定するか削除し、管理アクセスは "
    "Azure Bastion や Just-In-Time VM アクセスを使う。自組織が管理する固定のパブリック範囲（拠点の固定 IP など）"
    "であれば、その CIDR を thresholds.trusted_sources に登録する。",
    remediation_en="Restrict the rule's source to known management addresses (VPN, Bastion) or remove it; use "
    "Azure Bastion or just-in-time VM access for administration. A fixed public range you control (a site's "
    "static addresses) may be listed, as CIDRs, in thresholds.trusted_sources.",
    thresholds=("exposed_ports", "trusted_sources"),
)
def nsg_no_internet_management_ports(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    watched = _watched_ports(thresholds)
    trusted = _trusted(thresholds)
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
        exposed = [e for lo, hi in watched for e in _exposures(rules, lo, hi, trusted)]
        if exposed:
            ja_parts, en_parts = [], []
            for lo, hi, rule, admitted in exposed:
                source_ja, source_en = _describe(admitted, trusted)
                ja_parts.append(f"{format_ports(lo, hi)}/TCP（規則 {rule}、送信元 {source_ja}）")
                en_parts.append(f"{format_ports(lo, hi)} (rule {rule}, source {source_en})")
            yield failed(
                nsg.resource_id,
                f"NSG {name} がインターネットから {', '.join(ja_parts)} への受信を許可しています",
                f"NSG {name} allows inbound TCP from the Internet to {', '.join(en_parts)}",
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
            vouched = [(rule, _describe(public, trusted)) for rule, public in _trusted_only(rules, watched, trusted)]
            note_ja = "".join(f"。規則 {rule} は trusted_sources（{ja}）のみを許可" for rule, (ja, _) in vouched)
            note_en = "".join(f"; rule {rule} admits only trusted_sources ({en})" for rule, (_, en) in vouched)
            yield passed(
                nsg.resource_id,
                f"NSG {name} はインターネットから {watched_text}/TCP への受信を許可していません{note_ja}",
                f"NSG {name} allows no inbound TCP from the Internet to {watched_text}{note_en}",
                nsg,
            )
