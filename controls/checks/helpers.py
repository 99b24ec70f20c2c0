"""Small pure helpers shared by the check families: ARM ids, nested fields, TLS versions, ports."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from controls.checks.base import Outcome, errored, failed, passed
from controls.model import CollectionError, Evidence, FactKind, FactSet

# ---------------------------------------------------------------- ARM documents and ids


def field(doc: Any, *path: str) -> Any:
    """`doc[p0][p1]...`, or None as soon as a step is missing or not a mapping."""
    cur = doc
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def props(doc: Any) -> dict[str, Any]:
    """The ARM `properties` object of a document ({} when absent)."""
    p = field(doc, "properties")
    return p if isinstance(p, dict) else {}


def name_from_id(resource_id: str) -> str:
    """Last segment of an ARM id: `.../storageAccounts/stlogs` -> `stlogs`."""
    return resource_id.rstrip("/").rsplit("/", 1)[-1] or resource_id


def display_name(ev: Evidence) -> str:
    """The name a person knows a resource by: its document's `name`, else the last segment of its id."""
    return str(ev.content.get("name") or name_from_id(ev.resource_id))


def norm_id(resource_id: str | None) -> str:
    """ARM ids compare case-insensitively and without a trailing slash."""
    return (resource_id or "").strip().rstrip("/").lower()


def subscription_of(resource_id: str) -> str | None:
    """`/subscriptions/{s}` of an ARM id (original casing), or None when the id has none."""
    m = re.match(r"^(/subscriptions/[^/]+)", (resource_id or "").strip(), re.IGNORECASE)
    return m.group(1) if m else None


def inventory_of_type(facts: FactSet, rtype: str) -> list[Evidence]:
    """The generic inventory's (Resources - List) documents of one lower-cased ARM type, in `FactSet.each` order:
    read once per fact set however many checks ask (FactSet.index), holding those documents, not the inventory."""

    def build(f: FactSet) -> list[Evidence]:
        return [e for e in f.each(FactKind.RESOURCE) if str(e.content.get("type") or "").lower() == rtype]

    return list(facts.index(f"inventory:{rtype}", build))


def is_within(resource_id: str, scope: str) -> bool:
    """True when `resource_id` is `scope` or lies beneath it (path-segment aware)."""
    rid, sc = norm_id(resource_id), norm_id(scope)
    return bool(sc) and (rid == sc or rid.startswith(sc + "/"))


def parse_time(value: Any) -> datetime | None:
    """An ARM / Graph timestamp as an aware UTC datetime, or None when absent or not a timestamp.

    Azure writes up to seven fractional digits (`2024-06-17T05:27:18.8843301Z`) and sometimes no zone
    (read as UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    m = re.match(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(.*)$", text)
    if not m:
        return None
    head, fraction, zone = m.groups()
    try:
        at = datetime.fromisoformat(head + (fraction or "")[:7] + zone)
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def observed_at(ev: Evidence) -> datetime:
    """The moment a time-based rule judges against: when the evidence was collected, so a verdict says
    what was true when Azure was asked, and re-judging stored evidence gives the same answer."""
    at = ev.collected_at
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def vnet_of_subnet(subnet_id: str) -> str | None:
    """`.../virtualNetworks/{v}/subnets/{s}` -> `.../virtualNetworks/{v}`."""
    m = re.match(r"^(.*/virtualnetworks/[^/]+)/subnets/[^/]+$", norm_id(subnet_id))
    return m.group(1) if m else None


def guid_of(definition_id: str | None) -> str:
    """Trailing GUID of a role definition id, lower-cased (built-in GUIDs are the same in every scope)."""
    return name_from_id(norm_id(definition_id))


def error_covering(facts: FactSet, kinds: Iterable[FactKind], resource_id: str) -> CollectionError | None:
    """A collection error of `kinds` whose scope contains `resource_id` (a non-ARM scope such as
    "tenant" covers everything), i.e. the reason a document about that resource may be missing."""
    for err in facts.errors_for(kinds):
        if not err.scope.startswith("/") or is_within(resource_id, err.scope):
            return err
    return None


# ---------------------------------------------------------------- TLS versions

# ASCII digits only: "１.２" or other scripts' digits are not a value Azure writes.
_TLS_RE = re.compile(r"(?:tls)?\s*v?(\d+)[._](\d+)", re.IGNORECASE | re.ASCII)
_TLS_COMPACT_RE = re.compile(r"tls(\d)(\d)", re.IGNORECASE | re.ASCII)
# Values that mean "no minimum": the service accepts any protocol version.
NO_MINIMUM = frozenset({"", "none"})


def tls_version(value: Any) -> tuple[int, int] | None:
    """Parse "1.2" (App Service, SQL, Redis), "TLS1_2" (Storage), "TLSv1.2" / "TLSv1_2" or the compact "Tls12"
    (Cosmos DB) into (1, 2); None when unrecognised."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    m = _TLS_RE.fullmatch(text) or _TLS_COMPACT_RE.fullmatch(text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def shown(value: Any) -> tuple[str, str]:
    """A field value as written in a reason, in Japanese and English."""
    if value is None:
        return "未設定", "not set"
    if isinstance(value, bool):
        text = "true" if value else "false"
        return text, text
    return str(value), str(value)


# ---------------------------------------------------------------- ports

PortRange = tuple[int, int]


def parse_port_ranges(tokens: Iterable[Any]) -> list[PortRange] | None:
    """ "*", "22", "20-30" (and lists of them) -> inclusive ranges; None when any token is malformed."""
    out: list[PortRange] = []
    for token in tokens:
        text = str(token).strip().lower()
        if text in {"*", "any"}:
            out.append((0, 65535))
            continue
        m = re.match(r"^(\d+)\s*(?:-\s*(\d+))?$", text)
        if not m:
            return None
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if lo > hi or hi > 65535:
            return None
        out.append((lo, hi))
    return out


def format_ports(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


def min_tls_outcome(
    resource_id: str,
    subject_ja: str,
    subject_en: str,
    field_name: str,
    value: Any,
    required: str,
    *evidence: Any,
) -> Outcome:
    """Judge a "minimum TLS version" field against `required` (e.g. "1.2", "TLS1_2").

    Newer versions pass; older versions, "None"/missing (the service accepts any version) fail; a
    value that cannot be parsed is an error rather than a guess. A pass below TLS 1.3 is marked short of
    the "tls1.3" bar, for profiles that ask for 1.3."""
    ja, en = shown(value)
    version, minimum = tls_version(value), tls_version(required)
    assert minimum is not None, required
    if version is not None and version >= minimum:
        outcome = passed(
            resource_id,
            f"{subject_ja} の {field_name} は {ja} です（{required} 以上）",
            f"{subject_en} {field_name} is {en} ({required} or newer required)",
            *evidence,
        )
        return replace(outcome, short_of=("tls1.3",)) if version < (1, 3) else outcome
    if version is not None or value is None or str(value).strip().lower() in NO_MINIMUM:
        return failed(
            resource_id,
            f"{subject_ja} の {field_name} が {ja} です（{required} 以上が必要）",
            f"{subject_en} {field_name} is {en} ({required} or newer required)",
            *evidence,
        )
    return errored(
        resource_id,
        f"{subject_ja} の {field_name} の値 {ja} を解釈できません",
        f"{subject_en} {field_name} has an unrecognised value {en}",
        *evidence,
    )
