"""Privileged Azure RBAC roles: few holders per subscription, and every holder still exists in Entra ID."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import guid_of, norm_id, props, subscription_of
from controls.model import Evidence, FactKind, FactSet, Thresholds


class _Roles:
    """Role definitions by GUID. Each subscription lists its own copy of a definition; the copy collected
    in the assignment's own scope is the evidence cited for it, so that a subscription's finding never
    depends on which subscription happened to be fetched first."""

    def __init__(self, facts: FactSet) -> None:
        self._scoped: dict[tuple[str, str], tuple[str, Evidence]] = {}
        self._any: dict[str, tuple[str, Evidence]] = {}
        for ev in sorted(facts.of(FactKind.ROLE_DEFINITION), key=lambda e: (e.scope.lower(), e.resource_id.lower())):
            guid = guid_of(str(ev.content.get("id") or ev.resource_id))
            name = props(ev.content).get("roleName")
            if guid and isinstance(name, str):
                self._scoped.setdefault((ev.scope.lower(), guid), (name, ev))
                self._any.setdefault(guid, (name, ev))

    def __contains__(self, guid: str) -> bool:
        return guid in self._any

    def get(self, guid: str, scope: str) -> tuple[str, Evidence]:
        """(roleName, definition evidence), from `scope`'s own listing when it has one."""
        return self._scoped.get((scope.lower(), guid)) or self._any[guid]

    def privileged(self, thresholds: Thresholds) -> set[str]:
        wanted = {r.lower() for r in thresholds.privileged_roles}
        return {guid for guid, (name, _) in self._any.items() if name.lower() in wanted}


def _definition_guid(assignment: Evidence) -> str:
    return guid_of(props(assignment.content).get("roleDefinitionId"))


def _assignment_id(assignment: Evidence) -> str:
    return norm_id(str(assignment.content.get("id") or assignment.resource_id))


def _effective_at_subscription(assignment_scope: str, subscription: str) -> bool:
    """Assigned on the subscription itself, or above it (management group, root) and so inherited by it."""
    s = norm_id(assignment_scope)
    return s == norm_id(subscription) or s in {"", "/"} or s.startswith("/providers/microsoft.management/")


@check(
    id="privileged-role-assignments-max",
    title_ja="サブスクリプション単位の特権ロール割り当てが上限以下",
    title_en="Privileged role assignments per subscription stay within the limit",
    judges=("subscription",),
    reads=(FactKind.ROLE_ASSIGNMENT, FactKind.ROLE_DEFINITION),
    api="Role Assignments - List For Subscription: properties.{roleDefinitionId, principalId, scope}; "
    "Role Definitions - List: id, properties.roleName",
    rule_ja="サブスクリプションスコープ（およびそれより上の管理グループ・ルート）で有効な特権ロール（閾値の "
    "privileged_roles、roleName で照合）の割り当て数が privileged_role_max 以下なら合格。ロール定義を解決"
    "できない割り当てがあり上限内ならエラー。",
    rule_en="Passes when the number of assignments of privileged roles (thresholds.privileged_roles, matched "
    "by roleName) effective at subscription scope (assigned on the subscription or on a management group / "
    "root above it) is at most privileged_role_max. Unresolvable role definitions make it an error unless "
    "the limit is already exceeded.",
    remediation_ja="不要な Owner / Contributor / User Access Administrator の割り当てを削除し、必要な権限は "
    "リソースグループ単位や PIM の適時割り当てで付与する。",
    remediation_en="Remove unneeded Owner / Contributor / User Access Administrator assignments; grant what "
    "is needed at resource-group scope or just in time with PIM.",
    thresholds=("privileged_roles", "privileged_role_max"),
)
def privileged_role_assignments_max(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    roles = _Roles(facts)
    privileged = roles.privileged(thresholds)
    limit = thresholds.privileged_role_max
    by_subscription: dict[str, dict[str, Evidence]] = {}
    for a in facts.of(FactKind.ROLE_ASSIGNMENT):
        sub = subscription_of(a.scope) or a.scope
        by_subscription.setdefault(sub, {}).setdefault(_assignment_id(a), a)

    for sub, assignments in by_subscription.items():
        at_sub = [
            a for a in assignments.values() if _effective_at_subscription(str(props(a.content).get("scope") or ""), sub)
        ]
        held = [a for a in at_sub if _definition_guid(a) in privileged]
        unresolved = sorted({_definition_guid(a) for a in at_sub if _definition_guid(a) not in roles})
        definitions = [roles.get(_definition_guid(a), a.scope)[1] for a in at_sub if _definition_guid(a) in roles]
        per_role = Counter(roles.get(_definition_guid(a), a.scope)[0] for a in held)
        breakdown = ", ".join(f"{role} {n}" for role, n in sorted(per_role.items())) or "-"
        count_ja = f"サブスクリプション {sub} の特権ロール割り当て"
        count_en = f"subscription {sub} has {len(held)} privileged role assignments ({breakdown}; at most {limit}"
        if len(held) > limit:
            yield failed(
                sub,
                f"{count_ja}が {len(held)} 件です（{breakdown}、上限 {limit} 件）",
                f"{count_en} allowed)",
                held,
                (roles.get(_definition_guid(a), a.scope)[1] for a in held),
            )
        elif unresolved:
            yield errored(
                sub,
                f"サブスクリプション {sub} のロール定義 {', '.join(unresolved)} を解決できず"
                "特権ロール数を判定できません",
                f"subscription {sub} role definitions {', '.join(unresolved)} could not be resolved; the privileged "
                "role count cannot be judged",
                at_sub,
                definitions,
            )
        else:
            yield passed(
                sub,
                f"{count_ja}は {len(held)} 件です（{breakdown}、上限 {limit} 件）",
                f"{count_en} allowed)",
                at_sub,
                definitions,
            )


@check(
    id="privileged-role-principal-exists",
    title_ja="特権ロールの割り当て先が Entra ID に存在する",
    title_en="Privileged roles are held only by principals that exist in Entra ID",
    judges=("microsoft.authorization/roleassignments",),
    reads=(FactKind.ROLE_ASSIGNMENT, FactKind.ROLE_DEFINITION, FactKind.DIRECTORY_PRINCIPAL),
    api="Role Assignments - List For Subscription: properties.{roleDefinitionId, principalId, principalType}; "
    "Role Definitions - List: properties.roleName; Microsoft Graph users, groups, servicePrincipals: id",
    rule_ja="特権ロールの各割り当ての principalId が収集した Entra ID のユーザー・グループ・サービスプリンシパル"
    "に存在すれば合格。存在しない（削除済み・外部）なら不合格。ディレクトリを収集できなければエラー。",
    rule_en="Passes when each privileged assignment's principalId is a collected Entra ID user, group or "
    "service principal; a missing (deleted or foreign) principal fails. If the directory could not be "
    "collected the assignment is an error.",
    remediation_ja="削除済みプリンシパルへの割り当て（「不明な ID」と表示）をアクセス制御 (IAM) から削除する。",
    remediation_en='Remove assignments to deleted principals (shown as "Identity not found") from Access '
    "control (IAM).",
    thresholds=("privileged_roles",),
)
def privileged_role_principal_exists(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    roles = _Roles(facts)
    privileged = roles.privileged(thresholds)
    principals = {
        str(ev.content.get("id") or ev.resource_id).lower(): ev for ev in facts.of(FactKind.DIRECTORY_PRINCIPAL)
    }
    directory_error = next(iter(facts.errors_for([FactKind.DIRECTORY_PRINCIPAL])), None)
    seen: set[str] = set()
    for a in facts.of(FactKind.ROLE_ASSIGNMENT):
        guid = _definition_guid(a)
        if guid not in privileged or _assignment_id(a) in seen:
            continue
        seen.add(_assignment_id(a))
        role, definition = roles.get(guid, a.scope)
        p = props(a.content)
        principal_id = str(p.get("principalId") or "")
        kind = str(p.get("principalType") or "?")
        where = str(p.get("scope") or a.scope)
        rid = str(a.content.get("id") or a.resource_id)
        principal = principals.get(principal_id.lower())
        if principal is not None:
            shown = principal.content.get("displayName") or principal.content.get("userPrincipalName") or principal_id
            yield passed(
                rid,
                f"{where} の {role} は Entra ID に存在する {kind} {shown} に割り当てられています",
                f"{role} at {where} is held by {kind} {shown}, which exists in Entra ID",
                a,
                definition,
                principal,
            )
        elif directory_error is not None or not principals:
            why_ja = (
                f"Entra ID の収集に失敗: {directory_error.code}"
                if directory_error
                else "Entra ID のプリンシパルが収集されていません"
            )
            why_en = f"collection failed: {directory_error.code}" if directory_error else "not collected"
            yield errored(
                rid,
                f"{where} の {role} の割り当て先 {principal_id} を確認できません（{why_ja}）",
                f"{role} at {where} is held by {principal_id}, which cannot be verified (directory principals "
                f"{why_en})",
                a,
                definition,
            )
        else:
            yield failed(
                rid,
                f"{where} の {role} が Entra ID に存在しない {kind} {principal_id} に割り当てられています"
                "（削除済みの可能性）",
                f"{role} at {where} is held by {kind} {principal_id}, which does not exist in Entra ID "
                "(deleted or foreign)",
                a,
                definition,
            )
