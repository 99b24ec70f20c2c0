"""`shoko accounts`: who holds a role, from a run's stored evidence — every principal holding an Azure role at
any scope the collector saw (subscription, resource group, resource, and management groups above a
subscription, as Role Assignments - List For Subscription returns them) and every holder of an activated Entra
directory role, groups expanded to their members. The account list an auditor asks for under No 141 and 144.

Last sign-in is users' signInActivity (collected for the stale-accounts check; it needs the Microsoft Graph
application permission AuditLog.Read.All and Entra ID P1/P2): when the read was refused the column says why,
when it was not collected it says so, and service principals have none. Assignments are those active now
(permanent ones and PIM activations in progress, each said to be permanent, time-bound or a PIM activation from
its Role Assignment Schedule Instance) and PIM-eligible ones, Azure and Entra alike; an eligible holder is marked
"PIM eligible", never counted as a permanent one. A group holding a role is expanded to its members
(transitively), each row naming the group path ("via sg-a > sg-b").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from controls.access import cause
from controls.checks.accounts import GUESTS_CHECK, HOLDERS_CHECK, HeldRole, Holder, all_role_grants, collection_of
from controls.checks.pim import ROLE_ASSIGNMENT_INSTANCE, ROLE_ELIGIBILITY_INSTANCE
from controls.checks.stale_accounts import STALE_CHECK, USER_SIGN_IN, last_sign_in
from controls.model import CollectionError, Evidence, FactKind, FactSet, Finding, Thresholds

SIGN_IN_NOT_COLLECTED = "not collected"


def _sign_ins(facts: FactSet) -> tuple[dict[str, str], str]:
    """Last sign-in per user id (lower case), and what to show for a user without one."""
    errors = facts.errors_for([USER_SIGN_IN])
    if errors:
        return {}, f"unreadable ({cause(errors[0])[1]})"
    docs = facts.of(USER_SIGN_IN)
    if not docs:
        return {}, SIGN_IN_NOT_COLLECTED
    out = {}
    for ev in docs:
        try:
            at = last_sign_in(ev.content)
        except ValueError as exc:
            out[str(ev.content.get("id") or "").lower()] = f"unreadable ({exc})"
            continue
        out[str(ev.content.get("id") or "").lower()] = at.strftime("%Y-%m-%dT%H:%M:%SZ") if at else "never"
    return out, "not in the sign-in listing"


def _assignment(held: HeldRole, h: Holder) -> str:
    if h.eligible and held.source == "Entra ID":
        scope = f" at directory scope {h.scope}" if h.scope else ""
        return (f"PIM eligible until {h.until}" if h.until else "PIM eligible (no end date)") + scope
    return held.how


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


def account_kinds() -> set[str]:
    """The fact kinds the register is built from (what its checks read: role assignments and definitions, PIM's
    schedule instances, the directory, sign-ins), so a reader can load those alone instead of a whole run."""
    from controls.checks import ALL_CHECKS

    return {str(k) for c in ALL_CHECKS if c.id in (HOLDERS_CHECK, GUESTS_CHECK, STALE_CHECK) for k in c.reads} | {
        str(k) for k in (ROLE_ASSIGNMENT_INSTANCE, ROLE_ELIGIBILITY_INSTANCE, FactKind.SUBSCRIPTION)
    }


def run_accounts(ledger: Any, run_id: int, thresholds: Thresholds) -> list[dict[str, Any]]:
    """The register of one stored run, read from what it is built from (account_kinds, the findings of its three
    checks and the collection errors) rather than the run's every record and finding (400,000 documents and
    690,000 findings at 100,000 resources)."""
    findings = ledger.finding_states_of(run_id, [HOLDERS_CHECK, GUESTS_CHECK, STALE_CHECK])
    return account_rows(
        ledger.evidence(run_id, kinds=account_kinds()), findings, thresholds, ledger.collection_errors(run_id)
    )


def account_rows(
    evidence: list[Evidence],
    findings: Iterable[Finding] | Iterable[Any],
    thresholds: Thresholds,
    errors: list[CollectionError] | None = None,
) -> list[dict[str, Any]]:
    """One row per (holder, role, scope), sorted by holder then role; `findings`: the run's, or what is read of
    them (check_id, resource_id, status); `errors` are the run's collection errors (a refused sign-in read shows
    as such)."""
    facts = FactSet(list(evidence), list(errors or []))
    failed: dict[str, list[str]] = {}
    for f in findings:
        if f.check_id in (HOLDERS_CHECK, GUESTS_CHECK) and str(f.status) == "fail":
            failed.setdefault(f.resource_id.lower(), []).append(f.check_id)
    stale = {f.resource_id.lower() for f in findings if f.check_id == STALE_CHECK and str(f.status) == "fail"}
    sign_ins, otherwise = _sign_ins(facts)
    rows = []
    for held in all_role_grants(facts, thresholds):
        grant = held.grant
        for h in grant.holders:
            doc = h.doc.content if h.doc is not None else {}
            is_user = h.doc is not None and collection_of(h.doc) == "users"
            rows.append(
                {
                    "principal_id": h.principal_id,
                    "name": doc.get("userPrincipalName") or doc.get("displayName") or h.principal_id,
                    "display_name": doc.get("displayName"),
                    "type": _kind(h.doc),
                    "enabled": doc.get("accountEnabled"),
                    "user_type": doc.get("userType"),
                    "created": doc.get("createdDateTime"),
                    "last_sign_in": sign_ins.get(h.principal_id.lower(), otherwise) if is_user else None,
                    "source": held.source,
                    "role": grant.role,
                    "privileged": held.privileged,
                    "scope": grant.where,
                    "via_groups": list(h.via),
                    "assignment": _assignment(held, h),
                    "eligible": h.eligible,
                    "flags": _flags(failed.get(grant.resource_id.lower(), []), doc)
                    + ([STALE_CHECK] if is_user and f"users/{h.principal_id}".lower() in stale else []),
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
                    "source": held.source,
                    "role": grant.role,
                    "privileged": held.privileged,
                    "scope": grant.where,
                    "via_groups": [],
                    "assignment": held.how,
                    "eligible": None,
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
    eligible = sum(1 for r in rows if r["eligible"])
    lines.append(
        f"{len(holders)} principals hold {len(rows)} role grants; {privileged} hold a privileged role (*); "
        f"{disabled} disabled, {guests} guests; {eligible} grants are PIM-eligible (not active until activated)."
    )
    return "\n".join(lines)
