"""`shoko accounts`: who holds a role, from a run's stored evidence — every principal holding an Azure role at
any scope the collector saw (subscription, resource group, resource, and management groups above a
subscription, as Role Assignments - List For Subscription returns them) and every holder of an activated Entra
directory role, groups expanded to their members. The account list an auditor asks for under No 141 and 144.

Last sign-in is not collected (users' signInActivity needs the Microsoft Graph application permission
AuditLog.Read.All); the column says so and no check relies on it. Assignments are those active now (permanent
ones and PIM activations in progress, each said to be permanent, time-bound or a PIM activation from its Role
Assignment Schedule Instance) and Azure PIM-eligible assignments; Entra directory roles list their active
members only (Entra PIM eligibility is not collected).
"""

from __future__ import annotations

from typing import Any

from controls.checks.accounts import (
    DIRECTORY_ROLE,
    GUESTS_CHECK,
    HOLDERS_CHECK,
    Directory,
    Grant,
    collection_of,
)
from controls.checks.helpers import guid_of
from controls.checks.pim import ROLE_ASSIGNMENT_INSTANCE, ROLE_ELIGIBILITY_INSTANCE
from controls.checks.roles import _assignment_id, _definition_guid, _Roles
from controls.model import Evidence, FactKind, FactSet, Finding, Thresholds

SIGN_IN_NOT_COLLECTED = "not collected (needs AuditLog.Read.All)"


def _kind(doc: Evidence | None) -> str:
    if doc is None:
        return "unknown (not in the directory)"
    collection = collection_of(doc)
    if collection == "users":
        return "user"
    if collection == "servicePrincipals":
        kind = str(doc.content.get("servicePrincipalType") or "")
        return "managed identity" if kind.lower() == "managedidentity" else "service principal"
    return collection or "unknown"


def _flags(failed_checks: list[str], doc: dict[str, Any]) -> list[str]:
    """The failed checks of a role grant that this holder is the cause of."""
    flags = []
    if HOLDERS_CHECK in failed_checks and doc.get("accountEnabled") is False:
        flags.append(HOLDERS_CHECK)
    if GUESTS_CHECK in failed_checks and str(doc.get("userType") or "").lower() == "guest":
        flags.append(GUESTS_CHECK)
    return flags


def _how(instance: Evidence | None) -> str:
    """How an active Azure role assignment is held, from its PIM schedule instance."""
    if instance is None:
        return "active (no PIM schedule instance collected)"
    p = instance.content.get("properties") or {}
    kind, end = str(p.get("assignmentType") or ""), p.get("endDateTime")
    if kind.lower() == "activated":
        return f"PIM activation until {end}"
    if kind.lower() == "assigned":
        return f"time-bound until {end}" if end else "permanent"
    return f"active (assignmentType {kind or '?'})"


def _grants(facts: FactSet, thresholds: Thresholds) -> list[tuple[str, bool, str, Grant]]:
    """(source, privileged, how held, grant) for every Azure role assignment, PIM eligibility and directory role."""
    directory = Directory(facts)
    roles = _Roles(facts)
    privileged = roles.privileged(thresholds)
    instances = {str(i.content.get("name") or "").lower(): i for i in facts.of(ROLE_ASSIGNMENT_INSTANCE)}
    out: list[tuple[str, bool, str, Grant]] = []
    seen: set[str] = set()
    for a in facts.of(FactKind.ROLE_ASSIGNMENT):
        if _assignment_id(a) in seen:
            continue
        seen.add(_assignment_id(a))
        guid = _definition_guid(a)
        role = roles.get(guid, a.scope)[0] if guid in roles else guid
        p = a.content.get("properties") or {}
        grant = Grant(str(a.content.get("id") or a.resource_id), role, str(p.get("scope") or a.scope), [a])
        directory.expand(grant, str(p.get("principalId") or ""))
        how = _how(instances.get(str(a.content.get("name") or "").lower()))
        out.append(("Azure RBAC", guid in privileged, how, grant))
    for e in facts.of(ROLE_ELIGIBILITY_INSTANCE):
        p = e.content.get("properties") or {}
        guid = guid_of(p.get("roleDefinitionId"))
        role = roles.get(guid, e.scope)[0] if guid in roles else guid
        grant = Grant(str(e.content.get("id") or e.resource_id), role, str(p.get("scope") or e.scope), [e])
        directory.expand(grant, str(p.get("principalId") or ""))
        end = p.get("endDateTime")
        out.append(("Azure RBAC", guid in privileged, f"PIM eligible until {end}" if end else "PIM eligible", grant))
    wanted = {r.lower() for r in thresholds.privileged_directory_roles}
    for ev in facts.of(DIRECTORY_ROLE):
        name = str(ev.content.get("displayName") or ev.resource_id)
        grant = Grant(ev.resource_id, name, "Entra ID (tenant)", [ev])
        key = ev.resource_id.lower()
        if key not in directory.members:
            grant.unknown.append(directory.missing(key, f"{name} のメンバー", f"the members of {name}"))
        for member, _ in directory.members.get(key, []):
            directory.expand(grant, str(member.get("id") or ""))
        out.append(("Entra ID", name.lower() in wanted, "active member", grant))
    return out


def account_kinds() -> set[str]:
    """The fact kinds the register is built from (what its checks read, and PIM's schedule instances), so a
    reader can load those alone instead of a whole run."""
    from controls.checks import ALL_CHECKS

    reads = {str(k) for c in ALL_CHECKS if c.id in (HOLDERS_CHECK, GUESTS_CHECK) for k in c.reads}
    return (
        reads
        | {str(k) for k in (ROLE_ASSIGNMENT_INSTANCE, ROLE_ELIGIBILITY_INSTANCE, DIRECTORY_ROLE)}
        | {
            str(FactKind.ROLE_ASSIGNMENT),
            str(FactKind.ROLE_DEFINITION),
            str(FactKind.SUBSCRIPTION),
            str(FactKind.DIRECTORY_PRINCIPAL),
        }
    )


def account_rows(evidence: list[Evidence], findings: list[Finding], thresholds: Thresholds) -> list[dict[str, Any]]:
    """One row per (holder, role, scope), sorted by holder then role."""
    facts = FactSet(list(evidence))
    failed: dict[str, list[str]] = {}
    for f in findings:
        if f.check_id in (HOLDERS_CHECK, GUESTS_CHECK) and str(f.status) == "fail":
            failed.setdefault(f.resource_id.lower(), []).append(f.check_id)
    rows = []
    for source, privileged, how, grant in _grants(facts, thresholds):
        for h in grant.holders:
            doc = h.doc.content if h.doc is not None else {}
            rows.append(
                {
                    "principal_id": h.principal_id,
                    "name": doc.get("userPrincipalName") or doc.get("displayName") or h.principal_id,
                    "display_name": doc.get("displayName"),
                    "type": _kind(h.doc),
                    "enabled": doc.get("accountEnabled"),
                    "user_type": doc.get("userType"),
                    "created": doc.get("createdDateTime"),
                    "last_sign_in": SIGN_IN_NOT_COLLECTED,
                    "source": source,
                    "role": grant.role,
                    "privileged": privileged,
                    "scope": grant.where,
                    "via_groups": list(h.via),
                    "assignment": how,
                    "flags": _flags(failed.get(grant.resource_id.lower(), []), doc),
                    "grant_id": grant.resource_id,
                }
            )
        for ja, en in grant.unknown:
            rows.append(
                {
                    "principal_id": None,
                    "name": f"? {en}",
                    "display_name": ja,
                    "type": "unknown",
                    "enabled": None,
                    "user_type": None,
                    "created": None,
                    "last_sign_in": None,
                    "source": source,
                    "role": grant.role,
                    "privileged": privileged,
                    "scope": grant.where,
                    "via_groups": [],
                    "assignment": how,
                    "flags": [],
                    "grant_id": grant.resource_id,
                }
            )
    rows.sort(key=lambda r: (str(r["name"]).lower(), r["source"], r["role"].lower(), r["scope"].lower()))
    return rows


def _yes_no(value: Any, yes: str, no: str) -> str:
    return yes if value is True else no if value is False else "?"


def accounts_text(rows: list[dict[str, Any]]) -> str:
    """A block per holder: who it is, then one line per role it holds and where."""
    lines: list[str] = []
    by_holder: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_holder.setdefault(str(r["principal_id"] or r["name"]), []).append(r)
    for items in by_holder.values():
        r = items[0]
        enabled = _yes_no(r["enabled"], "enabled 有効", "DISABLED 無効")
        guest = {"guest": "GUEST ゲスト", "member": "member メンバー"}.get(str(r["user_type"] or "").lower(), "-")
        lines.append(
            f"{r['name']}  [{r['type']}]  {enabled}  {guest}  created 作成 {r['created'] or '-'}  "
            f"last sign-in 最終サインイン {r['last_sign_in'] or '-'}"
        )
        for x in items:
            via = f"  via {' > '.join(x['via_groups'])}" if x["via_groups"] else ""
            mark = "*" if x["privileged"] else " "
            flags = f"  FAIL {', '.join(x['flags'])}" if x["flags"] else ""
            lines.append(f"  {mark} {x['source']:<10}  {x['role']}  @ {x['scope']}  ({x['assignment']}){via}{flags}")
        lines.append("")
    holders = [items[0] for items in by_holder.values() if items[0]["principal_id"]]
    privileged = sum(1 for items in by_holder.values() if any(x["privileged"] for x in items))
    disabled = sum(1 for r in holders if r["enabled"] is False)
    guests = sum(1 for r in holders if str(r["user_type"] or "").lower() == "guest")
    lines.append(
        f"{len(holders)} principals hold {len(rows)} role grants; {privileged} hold a privileged role (*); "
        f"{disabled} disabled, {guests} guests. Last sign-in: {SIGN_IN_NOT_COLLECTED}. "
        "Entra directory roles: active members only (PIM eligibility for them is not collected)."
    )
    return "\n".join(lines)
