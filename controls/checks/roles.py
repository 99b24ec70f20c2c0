"""Privileged Azure RBAC roles: few holders per subscription, every holder still exists in Entra ID, and
no custom role quietly grants what Owner, User Access Administrator or Contributor grant.

Built-in privileged roles are matched by roleName (thresholds.privileged_roles). A custom role
(`properties.type` CustomRole) is privileged when, after its notActions, its control-plane actions
grant one of:

- `Microsoft.Authorization/roleAssignments/write` or `.../roleDefinitions/write` — its holder can
  assign itself any role, or rewrite the role it holds (User Access Administrator-like; with writes
  everywhere, Owner-like);
- a write on every resource type (`*`, `*/write`, `Microsoft.*`) — Contributor-like, even when the
  notActions take Microsoft.Authorization writes away, exactly as Contributor's do;

and it is assignable at subscription scope or above (a subscription, a management group, the root
"/"), where such a grant covers the whole subscription. dataActions are the data plane and are not
counted here. Action patterns match as Azure matches them: case-insensitively, `*` standing for any
run of characters.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import error_covering, guid_of, norm_id, props, subscription_of
from controls.model import Evidence, FactKind, FactSet, Thresholds

# The operations that let a holder grant itself anything.
_SELF_GRANTING = ("Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleDefinitions/write")
# A write on a resource type no pattern names explicitly: only a pattern that covers every resource
# provider's writes (`*`, `*/write`, `Microsoft.*`) grants it, and only such a notAction takes it away.
_ANY_TYPE_WRITE = "Microsoft.AnyProvider/anyResourceType/write"


def _matches(pattern: str, action: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.strip().split("*"))
    return re.fullmatch(regex, action, re.IGNORECASE) is not None


@dataclass(frozen=True)
class Breadth:
    """Why a custom role is as powerful as a built-in privileged role: the actions entry that grants it."""

    like: str  # the built-in role it amounts to
    action: str  # the entry of properties.permissions[].actions that grants it
    grants: str | None  # the self-granting operation it allows, if any

    @property
    def en(self) -> str:
        if self.like == "Owner":
            return f'actions "{self.action}" grants write on every resource type, including {self.grants} (Owner-like)'
        if self.grants:
            return (
                f'actions "{self.action}" grants {self.grants}, so its holder can give itself any permission '
                "(User Access Administrator-like)"
            )
        return f'actions "{self.action}" grants write on every resource type (Contributor-like)'

    @property
    def ja(self) -> str:
        if self.like == "Owner":
            return (
                f"actions「{self.action}」により {self.grants} を含むすべてのリソース種別への書き込みが可能"
                "（Owner 相当）"
            )
        if self.grants:
            return (
                f"actions「{self.action}」により {self.grants} が可能で、保持者が自身に任意の権限を付与できる"
                "（User Access Administrator 相当）"
            )
        return f"actions「{self.action}」によりすべてのリソース種別への書き込みが可能（Contributor 相当）"


@dataclass(frozen=True)
class CustomRole:
    """What a custom role definition grants at the control plane, or why that cannot be read."""

    name: str
    breadth: Breadth | None  # None: narrow
    reach: str | None  # an assignable scope at subscription level or above, None if only below
    scopes: tuple[str, ...]
    unreadable: str | None = None  # the field that could not be read

    @property
    def privileged(self) -> bool:
        return self.unreadable is None and self.breadth is not None and self.reach is not None

    @property
    def why_en(self) -> str:
        return f"custom role {self.name} counts as privileged: {self.breadth.en if self.breadth else '-'}"

    @property
    def why_ja(self) -> str:
        return f"カスタムロール {self.name} は特権ロールに該当: {self.breadth.ja if self.breadth else '-'}"


def _strings(value: object) -> list[str] | None:
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def _granting(blocks: list[tuple[list[str], list[str]]], action: str) -> str | None:
    """The actions entry that grants `action` in some permission block not excluded by that block's notActions."""
    for actions, not_actions in blocks:
        if any(_matches(n, action) for n in not_actions):
            continue
        granted = next((a for a in actions if _matches(a, action)), None)
        if granted is not None:
            return granted
    return None


def _reaches_subscription(scope: str) -> bool:
    s = norm_id(scope)
    return (
        s in {"", "/"}
        or s.startswith("/providers/microsoft.management/managementgroups/")
        or re.fullmatch(r"/subscriptions/[^/]+", s) is not None
    )


def read_custom_role(definition: Evidence) -> CustomRole | None:
    """The custom role a definition document describes; None for a built-in role."""
    p = props(definition.content)
    if str(p.get("type") or "").lower() != "customrole":
        return None
    name = str(p.get("roleName") or guid_of(str(definition.content.get("id") or definition.resource_id)))
    scopes = _strings(p.get("assignableScopes"))
    permissions = p.get("permissions")
    unreadable = None
    blocks: list[tuple[list[str], list[str]]] = []
    if not isinstance(permissions, list) or not permissions or not all(isinstance(b, dict) for b in permissions):
        unreadable = "permissions"
    else:
        for block in permissions:
            actions = _strings(block.get("actions"))
            # Absent notActions exclude nothing (the reading that errs towards "privileged").
            not_actions = _strings(block.get("notActions", []))
            if actions is None:
                unreadable = "actions"
                break
            if not_actions is None:
                unreadable = "notActions"
                break
            blocks.append((actions, not_actions))
    if unreadable is None and scopes is None:
        unreadable = "assignableScopes"
    if unreadable is not None:
        return CustomRole(name, None, None, tuple(scopes or ()), unreadable)

    self_granting = next(((op, a) for op in _SELF_GRANTING if (a := _granting(blocks, op)) is not None), None)
    any_write = _granting(blocks, _ANY_TYPE_WRITE)
    breadth = None
    if self_granting and any_write:
        breadth = Breadth("Owner", any_write, self_granting[0])
    elif self_granting:
        breadth = Breadth("User Access Administrator", self_granting[1], self_granting[0])
    elif any_write:
        breadth = Breadth("Contributor", any_write, None)
    reach = next((s for s in scopes or () if _reaches_subscription(s)), None)
    return CustomRole(name, breadth, reach, tuple(scopes or ()))


class _Roles:
    """Role definitions by GUID. Each subscription lists its own copy of a definition; the copy collected
    in the assignment's own scope is the evidence cited for it, so that a subscription's finding never
    depends on which subscription happened to be fetched first."""

    def __init__(self, facts: FactSet) -> None:
        self._scoped: dict[tuple[str, str], tuple[str, Evidence]] = {}
        self._any: dict[str, tuple[str, Evidence]] = {}
        self.custom: dict[str, CustomRole] = {}
        for ev in sorted(facts.of(FactKind.ROLE_DEFINITION), key=lambda e: (e.scope.lower(), e.resource_id.lower())):
            guid = guid_of(str(ev.content.get("id") or ev.resource_id))
            name = props(ev.content).get("roleName")
            if guid and isinstance(name, str):
                self._scoped.setdefault((ev.scope.lower(), guid), (name, ev))
                self._any.setdefault(guid, (name, ev))
                if guid not in self.custom and (role := read_custom_role(ev)) is not None:
                    self.custom[guid] = role

    def __contains__(self, guid: str) -> bool:
        return guid in self._any

    def get(self, guid: str, scope: str) -> tuple[str, Evidence]:
        """(roleName, definition evidence), from `scope`'s own listing when it has one."""
        return self._scoped.get((scope.lower(), guid)) or self._any[guid]

    def privileged(self, thresholds: Thresholds) -> set[str]:
        """Built-in roles named in thresholds.privileged_roles, and custom roles as broad as they are."""
        wanted = {r.lower() for r in thresholds.privileged_roles}
        by_name = {guid for guid, (name, _) in self._any.items() if name.lower() in wanted}
        return by_name | {guid for guid, role in self.custom.items() if role.privileged}

    def unreadable(self) -> set[str]:
        """Custom roles whose permissions cannot be read, so whether they are privileged is unknown."""
        return {guid for guid, role in self.custom.items() if role.unreadable}


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
    reads=(FactKind.ROLE_ASSIGNMENT, FactKind.ROLE_DEFINITION, FactKind.SUBSCRIPTION),
    api="Role Assignments - List For Subscription: properties.{roleDefinitionId, principalId, scope}; "
    "Role Definitions - List: id, properties.{roleName, type, assignableScopes, permissions[].{actions, notActions}}",
    rule_ja="サブスクリプションスコープ（およびそれより上の管理グループ・ルート）で有効な特権ロールの割り当て数が "
    "privileged_role_max 以下なら合格。特権ロールは閾値 privileged_roles の組み込みロール（roleName で照合）と、"
    "サブスクリプション以上で割り当て可能で notActions を除いた actions が * ・全リソース種別への書き込み"
    "（*/write 等）・Microsoft.Authorization/roleAssignments/write または roleDefinitions/write を許すカスタム"
    "ロール（Owner・Contributor・User Access Administrator 相当）。ロール定義を解決できない、またはカスタム"
    "ロールの permissions を読み取れない割り当てがあり上限内ならエラー。ロールの割り当てが 1 件もない"
    "サブスクリプション（管理グループ経由を含め必ず誰かが保持する）は一覧が不完全なためエラー。",
    rule_en="Passes when the number of assignments of privileged roles effective at subscription scope "
    "(assigned on the subscription or on a management group / root above it) is at most privileged_role_max. "
    "Privileged roles are the built-in roles in thresholds.privileged_roles (matched by roleName) and custom "
    "roles assignable at subscription scope or above whose actions, after notActions, grant every action, a "
    "write on every resource type (*/write, ...), or Microsoft.Authorization/roleAssignments/write or "
    "roleDefinitions/write (Owner-, Contributor- or User Access Administrator-like). Unresolvable role "
    "definitions, or custom roles whose permissions cannot be read, make it an error unless the limit is "
    "already exceeded. A listed subscription with no role assignment at all (someone always holds it, if only "
    "through a management group) is an error: the listing cannot be complete.",
    remediation_ja="不要な Owner / Contributor / User Access Administrator（および同等のカスタムロール）の割り当てを"
    "削除し、必要な権限はリソースグループ単位や PIM の適時割り当てで付与する。",
    remediation_en="Remove unneeded Owner / Contributor / User Access Administrator assignments (and those of "
    "custom roles as broad); grant what is needed at resource-group scope or just in time with PIM.",
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

    for doc in facts.of(FactKind.SUBSCRIPTION):
        sid = f"/subscriptions/{doc.content.get('subscriptionId') or guid_of(doc.resource_id)}"
        if not any(norm_id(s) == norm_id(sid) for s in by_subscription) and not error_covering(
            facts, [FactKind.ROLE_ASSIGNMENT], sid
        ):
            yield errored(
                sid,
                f"サブスクリプション {sid} のロールの割り当てが 1 件も返されませんでした。管理グループ経由を含め"
                "必ず誰かが保持するため一覧が不完全で、特権ロール数を判定できません",
                f"subscription {sid} returned no role assignment at all; someone always holds a subscription (if only "
                "through a management group), so the listing is incomplete and the privileged role count cannot be "
                "judged",
                doc,
            )
    for sub, assignments in by_subscription.items():
        at_sub = [
            a for a in assignments.values() if _effective_at_subscription(str(props(a.content).get("scope") or ""), sub)
        ]
        held = [a for a in at_sub if _definition_guid(a) in privileged]
        unresolved = sorted({_definition_guid(a) for a in at_sub if _definition_guid(a) not in roles})
        unreadable = sorted({roles.custom[g].name for a in at_sub if (g := _definition_guid(a)) in roles.unreadable()})
        definitions = [roles.get(_definition_guid(a), a.scope)[1] for a in at_sub if _definition_guid(a) in roles]
        per_role = Counter(roles.get(_definition_guid(a), a.scope)[0] for a in held)
        breakdown = ", ".join(f"{role} {n}" for role, n in sorted(per_role.items())) or "-"
        # Custom roles counted, each with the action that makes it privileged.
        custom = [roles.custom[g] for g in dict.fromkeys(_definition_guid(a) for a in held) if g in roles.custom]
        custom.sort(key=lambda r: r.name)
        why_ja = "".join(f"。{r.why_ja}" for r in custom)
        why_en = "".join(f"; {r.why_en}" for r in custom)
        count_ja = f"サブスクリプション {sub} の特権ロール割り当て"
        count_en = f"subscription {sub} has {len(held)} privileged role assignments ({breakdown}; at most {limit}"
        if len(held) > limit:
            yield failed(
                sub,
                f"{count_ja}が {len(held)} 件です（{breakdown}、上限 {limit} 件）{why_ja}",
                f"{count_en} allowed){why_en}",
                held,
                (roles.get(_definition_guid(a), a.scope)[1] for a in held),
            )
        elif unresolved or unreadable:
            problems_ja, problems_en = [], []
            if unresolved:
                problems_ja.append(f"ロール定義 {', '.join(unresolved)} を解決できません")
                problems_en.append(f"role definitions {', '.join(unresolved)} could not be resolved")
            if unreadable:
                problems_ja.append(f"カスタムロール {', '.join(unreadable)} の permissions を読み取れません")
                problems_en.append(f"the permissions of custom roles {', '.join(unreadable)} could not be read")
            yield errored(
                sub,
                f"サブスクリプション {sub} の{'、'.join(problems_ja)}。特権ロール数を判定できません",
                f"subscription {sub}: {'; '.join(problems_en)}; the privileged role count cannot be judged",
                at_sub,
                definitions,
            )
        else:
            yield passed(
                sub,
                f"{count_ja}は {len(held)} 件です（{breakdown}、上限 {limit} 件）{why_ja}",
                f"{count_en} allowed){why_en}",
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
    "Role Definitions - List: properties.{roleName, type, assignableScopes, permissions[].{actions, notActions}}; "
    "Microsoft Graph users, groups, servicePrincipals: id",
    rule_ja="特権ロール（privileged_roles の組み込みロールと、同等に広い権限のカスタムロール）の各割り当ての "
    "principalId が収集した Entra ID のユーザー・グループ・サービスプリンシパル"
    "に存在すれば合格。存在しない（削除済み・外部）なら不合格。ディレクトリを収集できなければエラー。",
    rule_en="Passes when each assignment of a privileged role (the built-in roles in privileged_roles, and custom "
    "roles as broad as they are) has a principalId that is a collected Entra ID user, group or "
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
        custom = roles.custom.get(guid)
        also_ja = f"。{custom.why_ja}" if custom else ""
        also_en = f"; {custom.why_en}" if custom else ""
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
                f"{where} の {role} は Entra ID に存在する {kind} {shown} に割り当てられています{also_ja}",
                f"{role} at {where} is held by {kind} {shown}, which exists in Entra ID{also_en}",
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
                f"{where} の {role} の割り当て先 {principal_id} を確認できません（{why_ja}）{also_ja}",
                f"{role} at {where} is held by {principal_id}, which cannot be verified (directory principals "
                f"{why_en}){also_en}",
                a,
                definition,
            )
        else:
            yield failed(
                rid,
                f"{where} の {role} が Entra ID に存在しない {kind} {principal_id} に割り当てられています"
                f"（削除済みの可能性）{also_ja}",
                f"{role} at {where} is held by {kind} {principal_id}, which does not exist in Entra ID "
                f"(deleted or foreign){also_en}",
                a,
                definition,
            )


@check(
    id="custom-role-no-broad-actions",
    title_ja="カスタムロールに Owner・Contributor・User Access Administrator 相当の権限を持たせない",
    title_en="Custom roles grant nothing as broad as Owner, Contributor or User Access Administrator",
    judges=("microsoft.authorization/roledefinitions",),
    reads=(FactKind.ROLE_DEFINITION,),
    api="Role Definitions - List: id, properties.{roleName, type, assignableScopes, permissions[].{actions, "
    "notActions}}",
    rule_ja="各カスタムロール（properties.type が CustomRole）について、notActions を除いた actions が * "
    "（全操作）、全リソース種別への書き込み（*/write・Microsoft.* 等）、Microsoft.Authorization/roleAssignments/"
    "write または roleDefinitions/write（自身に任意の権限を付与できる）を許し、かつ assignableScopes にサブスク"
    "リプション・管理グループ・ルート (/) を含むなら不合格。それ以外は合格。dataActions（データプレーン）は対象外。"
    "permissions・actions・notActions・assignableScopes を読み取れなければエラー。",
    rule_en="For each custom role (properties.type CustomRole): fails when its actions, after notActions, grant "
    "every action (*), a write on every resource type (*/write, Microsoft.*, ...), or "
    "Microsoft.Authorization/roleAssignments/write or roleDefinitions/write (its holder can give itself any "
    "permission), and its assignableScopes include a subscription, a management group or the root (/); "
    "passes otherwise. dataActions (the data plane) are not judged. Unreadable permissions, actions, "
    "notActions or assignableScopes make it an error.",
    remediation_ja="カスタムロールの actions を業務に必要なリソースプロバイダー・操作に限定する（* や */write を"
    "使わない、Microsoft.Authorization の書き込みを notActions で除外する）。全体の管理が必要な場合は組み込みの"
    "特権ロールを少数の管理者に PIM で割り当て、特権ロール数の上限で管理する。",
    remediation_en="Narrow the custom role's actions to the providers and operations the job needs (no * or "
    "*/write; exclude Microsoft.Authorization writes with notActions). Where full control is really needed, "
    "use a built-in privileged role, held by few administrators just in time with PIM, so the privileged role "
    "limit accounts for it.",
)
def custom_role_no_broad_actions(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    """One finding per custom role: the copies of one definition that several subscriptions list are one role."""
    copies: dict[str, list[Evidence]] = {}
    for ev in sorted(facts.of(FactKind.ROLE_DEFINITION), key=lambda e: (e.scope.lower(), e.resource_id.lower())):
        if read_custom_role(ev) is not None:
            copies.setdefault(guid_of(str(ev.content.get("id") or ev.resource_id)), []).append(ev)
    for evidence in copies.values():
        first = evidence[0]
        role = read_custom_role(first)
        assert role is not None
        rid = str(first.content.get("id") or first.resource_id)
        if role.unreadable:
            yield errored(
                rid,
                f"カスタムロール {role.name} の {role.unreadable} を読み取れず、権限の広さを判定できません",
                f"custom role {role.name} has no readable {role.unreadable}; how broad it is cannot be judged",
                evidence,
            )
        elif role.breadth and role.reach:
            yield failed(
                rid,
                f"カスタムロール {role.name} は {role.reach} で割り当て可能で、{role.breadth.ja}",
                f"custom role {role.name} is assignable at {role.reach} and {role.breadth.en}",
                evidence,
            )
        elif role.breadth:
            scopes = ", ".join(role.scopes) or "-"
            yield passed(
                rid,
                f"カスタムロール {role.name} は {role.breadth.ja}。ただし割り当て可能なのは {scopes} のみで、"
                "サブスクリプション全体には及びません",
                f"custom role {role.name}: {role.breadth.en}, but it is assignable only at {scopes} (below "
                "subscription scope)",
                evidence,
            )
        else:
            yield passed(
                rid,
                f"カスタムロール {role.name} は広範な操作（*、全リソース種別への書き込み、ロールの割り当て・定義の"
                "書き込み）を許可していません",
                f"custom role {role.name} grants no broad action (not every action, no write on every resource "
                "type, no Microsoft.Authorization/roleAssignments/write or roleDefinitions/write)",
                evidence,
            )
