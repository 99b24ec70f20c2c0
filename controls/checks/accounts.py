"""Who holds privileged roles: Azure RBAC roles (thresholds.privileged_roles, and custom roles as broad) at any
scope, and Entra ID directory roles (thresholds.privileged_directory_roles), with groups expanded to their
members (nested groups too).

A holder must be an enabled account (role-holders-enabled) and a member of the tenant rather than a guest
(privileged-roles-no-guests); Global Administrator is held by at least two and at most a few accounts
(global-admin-count).

A directory role's holders are its active members (permanent assignments and PIM activations in progress,
as /directoryRoles/{id}/members lists them) and its PIM-eligible holders (Entra PIM role eligibility schedule
instances): an eligible account can make itself a holder at any time, so a disabled or guest account eligible
for a privileged role fails like a member, and Global Administrators are counted active and eligible together.
Eligibility that could not be read (no RoleEligibilitySchedule.Read.Directory) leaves every directory role's
holders unknown: an error, never a pass. A tenant without Entra ID P2 has no PIM, so no one can be eligible there:
its refusal (AadPremiumLicenseRequired, kept among the run's collection errors) leaves the active members as the
holders, and the roles are judged on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from controls.access import cause, lacks_licence
from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import guid_of
from controls.checks.pim import ROLE_ASSIGNMENT_INSTANCE, ROLE_ELIGIBILITY_INSTANCE
from controls.checks.roles import _assignment_id, _definition_guid, _Roles
from controls.model import Evidence, FactKind, FactSet, Thresholds

# Fact kinds of collector/fetchers/entra.py.
DIRECTORY_ROLE = "directory_role"
DIRECTORY_ROLE_MEMBERS = "directory_role_members"
GROUP_MEMBERS = "group_members"
DIRECTORY_ROLE_ELIGIBILITY = "directory_role_eligibility"  # collector/fetchers/entra_pim.py
HOLDERS_CHECK = "role-holders-enabled"
GUESTS_CHECK = "privileged-roles-no-guests"
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"  # roleTemplateId, the same in every tenant
# Template ids of built-in directory roles (the same in every tenant, "Microsoft Entra built-in roles"), to name
# a role someone is only eligible for when the tenant has not activated it (it is then absent from
# /directoryRoles): the privileged_directory_roles defaults.
BUILTIN_DIRECTORY_ROLES = {
    GLOBAL_ADMINISTRATOR: "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
    "c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
}

_READS = (
    FactKind.ROLE_ASSIGNMENT,
    FactKind.ROLE_DEFINITION,
    FactKind.DIRECTORY_PRINCIPAL,
    DIRECTORY_ROLE,
    DIRECTORY_ROLE_MEMBERS,
    GROUP_MEMBERS,
    DIRECTORY_ROLE_ELIGIBILITY,
)
_JUDGES = ("microsoft.authorization/roleassignments", "directory/directoryroles")
_API = (
    "Role Assignments - List For Subscription: properties.{roleDefinitionId, principalId, principalType, scope}; "
    "Role Definitions - List: properties.{roleName, type, assignableScopes, permissions}; Microsoft Graph "
    "GET /directoryRoles (id, displayName, roleTemplateId) and /directoryRoles/{id}/members (one call per role), "
    "/groups/{id}/members (one call per security group), /users (id, displayName, userPrincipalName, userType, "
    "accountEnabled), /servicePrincipals (id, displayName, accountEnabled), "
    "/roleManagement/directory/roleEligibilityScheduleInstances (principalId, roleDefinitionId, directoryScopeId, "
    "endDateTime; RoleEligibilitySchedule.Read.Directory, Entra ID P2)"
)


_ODATA_COLLECTIONS = {
    "#microsoft.graph.user": "users",
    "#microsoft.graph.group": "groups",
    "#microsoft.graph.serviceprincipal": "servicePrincipals",
}


def collection_of(principal: Evidence) -> str:
    """users, groups or servicePrincipals: from the resource id the fetcher gives ('users/{id}')."""
    head, sep, _ = principal.resource_id.partition("/")
    if sep:
        return head
    return _ODATA_COLLECTIONS.get(str(principal.content.get("@odata.type") or "").lower(), "")


def _members_key(path: str) -> str:
    """'directoryRoles/{id}' or 'groups/{id}' (lower case) from a members page's resource id."""
    return path.split("#", 1)[0].removesuffix("/members").lower()


@dataclass
class Holder:
    """One account that holds a role, directly or through groups."""

    principal_id: str
    via: tuple[str, ...]  # display names of the groups it holds the role through, outermost first
    doc: Evidence | None  # its directory document, None when not found
    eligible: bool = False  # PIM-eligible for the role (Entra), not an active member
    until: str | None = None  # when that eligibility ends (None: no end)
    scope: str | None = None  # an eligibility's directoryScopeId when narrower than the tenant ("/")


@dataclass
class Grant:
    """A privileged role held somewhere: the finding's resource, and every account that holds it."""

    resource_id: str
    role: str
    where: str  # scope, or "Entra ID"
    evidence: list[Evidence]
    holders: list[Holder] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (ja, en): holders that could not be listed
    role_id: str = ""  # the role's GUID (a directory role: its template id)


class Directory:
    def __init__(self, facts: FactSet) -> None:
        self.principals: dict[str, tuple[str, Evidence]] = {}
        for ev in facts.of(FactKind.DIRECTORY_PRINCIPAL):
            self.principals[str(ev.content.get("id") or "").lower()] = (collection_of(ev), ev)
        self.members: dict[str, list[tuple[dict, Evidence]]] = {}
        for kind in (DIRECTORY_ROLE_MEMBERS, GROUP_MEMBERS):
            for ev in sorted(facts.of(kind), key=lambda e: e.resource_id):
                page = ev.content.get("value")
                entries = self.members.setdefault(_members_key(ev.resource_id), [])
                if isinstance(page, list):
                    entries += [(m, ev) for m in page if isinstance(m, dict)]
        # Members listings that failed, by 'directoryRoles/{id}' / 'groups/{id}': the cause, (ja, en).
        self.member_errors = {
            e.scope.lower(): cause(e) for e in facts.errors_for([DIRECTORY_ROLE_MEMBERS, GROUP_MEMBERS])
        }

    def missing(self, key: str, ja: str, en: str) -> tuple[str, str]:
        """Why the members of `key` are unknown: the collection error when there is one."""
        why = self.member_errors.get(key.lower())
        if why:
            return f"{ja}を収集できません（{why[0]}）", f"{en} could not be collected ({why[1]})"
        return f"{ja}が収集されていません", f"{en} not collected"

    def name(self, principal_id: str) -> str:
        found = self.principals.get(principal_id.lower())
        if not found:
            return principal_id
        c = found[1].content
        return str(c.get("userPrincipalName") or c.get("displayName") or principal_id)

    def expand(
        self,
        grant: Grant,
        principal_id: str,
        via: tuple[str, ...] = (),
        eligible: bool = False,
        until: str | None = None,
        scope: str | None = None,
    ) -> None:
        """Add `principal_id` to the grant's holders, or, for a group, its members (recursively)."""
        found = self.principals.get(principal_id.lower())
        is_group = found is not None and found[0] == "groups"
        if not is_group:
            grant.holders.append(Holder(principal_id, via, found[1] if found else None, eligible, until, scope))
            return
        name = self.name(principal_id)
        if name in via:  # a cycle of nested groups
            return
        grant.evidence.append(found[1])
        key = f"groups/{principal_id}".lower()
        if key not in self.members:
            grant.unknown.append(self.missing(key, f"グループ {name} のメンバー", f"the members of group {name}"))
            return
        for member, ev in self.members[key]:
            grant.evidence.append(ev)
            self.expand(grant, str(member.get("id") or ""), (*via, name), eligible, until, scope)


def _grants(facts: FactSet, thresholds: Thresholds) -> Iterator[Grant]:
    """Every privileged Azure role assignment, and every privileged directory role, with its holders."""
    directory = Directory(facts)
    roles = _Roles(facts)
    privileged = roles.privileged(thresholds)
    seen: set[str] = set()
    for a in facts.of(FactKind.ROLE_ASSIGNMENT):
        guid = _definition_guid(a)
        if guid not in privileged or _assignment_id(a) in seen:
            continue
        seen.add(_assignment_id(a))
        role, definition = roles.get(guid, a.scope)
        p = a.content.get("properties") or {}
        grant = Grant(str(a.content.get("id") or a.resource_id), role, str(p.get("scope") or a.scope), [a, definition])
        directory.expand(grant, str(p.get("principalId") or ""))
        yield grant
    wanted = {r.lower() for r in thresholds.privileged_directory_roles}
    yield from directory_role_grants(facts, directory, wanted)


def directory_role_grants(facts: FactSet, directory: Directory, wanted: set[str] | None = None) -> Iterator[Grant]:
    """Each Entra directory role (those named in `wanted`, lower case; None: all) with its holders: the active
    members /directoryRoles/{id}/members lists, and the PIM-eligible principals, groups expanded. A role someone
    is only eligible for, not activated in the tenant, is named from BUILTIN_DIRECTORY_ROLES (else its id)."""
    roles: dict[str, tuple[str, Evidence | None]] = {}
    for ev in facts.of(DIRECTORY_ROLE):
        template = str(ev.content.get("roleTemplateId") or ev.resource_id).lower()
        roles[template] = (str(ev.content.get("displayName") or ev.resource_id), ev)
    eligible: dict[str, list[Evidence]] = {}
    for ev in facts.of(DIRECTORY_ROLE_ELIGIBILITY):
        template = guid_of(ev.content.get("roleDefinitionId"))
        eligible.setdefault(template, []).append(ev)
        roles.setdefault(template, (BUILTIN_DIRECTORY_ROLES.get(template, template), None))
    # A tenant without Entra ID P2 has no PIM: no one can be eligible, so its active members are all the holders.
    errors = [e for e in facts.errors_for([DIRECTORY_ROLE_ELIGIBILITY]) if not lacks_licence(e, "P2")]
    why = cause(errors[0]) if errors else None
    for template, (name, role) in roles.items():
        if wanted is not None and name.lower() not in wanted:
            continue
        rid = role.resource_id if role is not None else f"roleManagement/directory/roleDefinitions/{template}"
        grant = Grant(rid, name, "Entra ID", [role] if role is not None else [], role_id=template)
        if role is not None:
            key = rid.lower()
            if key not in directory.members:
                grant.unknown.append(directory.missing(key, f"{name} のメンバー", f"the members of {name}"))
            for member, page in directory.members.get(key, []):
                grant.evidence.append(page)
                directory.expand(grant, str(member.get("id") or ""))
        for instance in eligible.get(template, []):
            c = instance.content
            grant.evidence.append(instance)
            end, scope = c.get("endDateTime"), str(c.get("directoryScopeId") or "/")
            directory.expand(
                grant,
                str(c.get("principalId") or ""),
                eligible=True,
                until=str(end) if end else None,
                scope=None if scope == "/" else scope,
            )
        if why:
            grant.unknown.append(
                (
                    f"{name} の PIM の資格のある保持者を収集できません（{why[0]}）",
                    f"the PIM-eligible holders of {name} could not be collected ({why[1]})",
                )
            )
        yield grant


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


@dataclass
class HeldRole:
    """A role held somewhere, privileged or not, with how it is held and by whom."""

    source: str  # "Azure RBAC" or "Entra ID"
    privileged: bool
    how: str  # for the whole grant; a directory role's eligible holders say so themselves (Holder.eligible)
    grant: Grant


def all_role_grants(facts: FactSet, thresholds: Thresholds) -> list[HeldRole]:
    """Every Azure role assignment active now and every Azure PIM eligibility, at any scope collected, and every
    Entra directory role with its active and PIM-eligible holders: the account inventory's rows."""
    directory = Directory(facts)
    roles = _Roles(facts)
    privileged = roles.privileged(thresholds)
    instances = {str(i.content.get("name") or "").lower(): i for i in facts.of(ROLE_ASSIGNMENT_INSTANCE)}
    out: list[HeldRole] = []
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
        out.append(HeldRole("Azure RBAC", guid in privileged, how, grant))
    for e in facts.of(ROLE_ELIGIBILITY_INSTANCE):
        p = e.content.get("properties") or {}
        guid = guid_of(p.get("roleDefinitionId"))
        role = roles.get(guid, e.scope)[0] if guid in roles else guid
        grant = Grant(str(e.content.get("id") or e.resource_id), role, str(p.get("scope") or e.scope), [e])
        directory.expand(grant, str(p.get("principalId") or ""), eligible=True)
        end = p.get("endDateTime")
        how = f"PIM eligible until {end}" if end else "PIM eligible"
        out.append(HeldRole("Azure RBAC", guid in privileged, how, grant))
    wanted = {r.lower() for r in thresholds.privileged_directory_roles}
    for grant in directory_role_grants(facts, directory):
        grant.where = "Entra ID (tenant)"
        out.append(HeldRole("Entra ID", grant.role.lower() in wanted, "active member", grant))
    return out


def _who(holder: Holder, directory_name: str) -> str:
    via = f" (via {' > '.join(holder.via)})" if holder.via else ""
    scope = f" at {holder.scope}" if holder.scope else ""
    return f"{directory_name}{via}{f' (PIM-eligible{scope})' if holder.eligible else ''}"


def _who_ja(holder: Holder, directory_name: str) -> str:
    via = f"（グループ {' > '.join(holder.via)} 経由）" if holder.via else ""
    scope = f"、スコープ {holder.scope}" if holder.scope else ""
    return f"{directory_name}{via}{f'（PIM の資格のある割り当て{scope}）' if holder.eligible else ''}"


def _label(holder: Holder) -> str:
    if holder.doc is None:
        return holder.principal_id
    c = holder.doc.content
    return str(c.get("userPrincipalName") or c.get("displayName") or holder.principal_id)


def _judge_holders(
    facts: FactSet,
    thresholds: Thresholds,
    field_name: str,
    applies: str,  # the collection the field is read from: "users" or "" for users and service principals
    bad: Callable[[object], bool],  # value -> True when non-compliant
    valid: Callable[[object], bool],  # value -> True when readable
    what_ja: str,
    what_en: str,
    ok_ja: str,
    ok_en: str,
) -> Iterator[Outcome]:
    directory_failed = bool(facts.errors_for([FactKind.DIRECTORY_PRINCIPAL]))
    for grant in _grants(facts, thresholds):
        offenders, unreadable, gone = [], [], []
        for h in grant.holders:
            if h.doc is None:
                # With the directory collected, a principal it does not know was deleted: that is
                # privileged-role-principal-exists's finding, not a holder to judge here.
                if directory_failed:
                    unreadable.append(f"{h.principal_id} (directory not collected)")
                else:
                    gone.append(h)
                continue
            collection = collection_of(h.doc)
            if collection not in ("users", "servicePrincipals") or (applies and collection != applies):
                continue
            value = h.doc.content.get(field_name)
            if not valid(value):
                unreadable.append(f"{_label(h)} ({field_name} {value!r})")
            elif bad(value):
                offenders.append(h)
        judged = [h for h in grant.holders if h.doc is not None]
        if gone and not judged and not unreadable and not grant.unknown:
            continue  # only deleted principals: privileged-role-principal-exists fails it
        holders = [h.doc for h in judged]
        evidence = (grant.evidence, holders)
        where_ja = f"{grant.where} の {grant.role} "
        where_en = f"{grant.role} at {grant.where}"
        if offenders:
            value = offenders[0].doc.content.get(field_name) if offenders[0].doc else None
            ja = "、".join(_who_ja(h, _label(h)) for h in offenders)
            en = ", ".join(_who(h, _label(h)) for h in offenders)
            yield failed(
                grant.resource_id,
                f"{where_ja}を{what_ja}が保持しています: {ja}（{field_name} = {value}）",
                f"{where_en} is held by {what_en}: {en} ({field_name} = {value!r})",
                *evidence,
            )
        elif unreadable or grant.unknown:
            problems_ja = unreadable + [ja for ja, _ in grant.unknown]
            problems_en = unreadable + [en for _, en in grant.unknown]
            yield errored(
                grant.resource_id,
                f"{where_ja}の保持者を確認できません: {'、'.join(problems_ja)}",
                f"the holders of {where_en} cannot all be verified: {'; '.join(problems_en)}",
                *evidence,
            )
        elif not grant.holders:
            yield passed(
                grant.resource_id,
                f"{where_ja}に有効な保持者はいません（メンバーのいないグループ等）",
                f"{where_en} has no holder (an empty group, for example)",
                *evidence,
            )
        else:
            names = ", ".join(_label(h) for h in judged)
            also_ja = f"（削除済みのプリンシパル {len(gone)} 件を除く）" if gone else ""
            also_en = f" (besides {len(gone)} deleted principals)" if gone else ""
            yield passed(
                grant.resource_id,
                f"{where_ja}の保持者 {len(judged)} 件はすべて{ok_ja}: {names}{also_ja}",
                f"all {len(judged)} holders of {where_en} are {ok_en}: {names}{also_en}",
                *evidence,
            )


@check(
    id=HOLDERS_CHECK,
    title_ja="特権ロールの保持者が無効化されたアカウントでない",
    title_en="No disabled account holds a privileged role",
    judges=_JUDGES,
    reads=_READS,
    api=_API,
    rule_ja="Azure の特権ロール（privileged_roles と同等に広いカスタムロール、全スコープ）の各割り当てと、Entra ID の"
    "特権ディレクトリロール（privileged_directory_roles）ごとに、保持者（グループはメンバーに展開、ディレクトリ"
    "ロールは有効なメンバーと PIM の資格のある保持者）のユーザー・"
    "サービスプリンシパルがすべて accountEnabled = true なら合格。false の保持者がいれば不合格。保持者の "
    "accountEnabled やグループのメンバー、PIM の資格のある割り当て（RoleEligibilitySchedule.Read.Directory が必要。"
    "Entra ID P2 のないテナントには PIM がなく、有効なメンバーのみで判定）を読み取れなければエラー。"
    "収集したディレクトリにないプリンシパル（削除済み）は privileged-role-principal-exists が判定する。",
    rule_en="For each assignment of a privileged Azure role (privileged_roles and custom roles as broad, at any "
    "scope) and each privileged Entra directory role (privileged_directory_roles): passes when every holding user "
    "and service principal (groups expanded to their members; for a directory role, its active members and its "
    "PIM-eligible holders) has accountEnabled true; fails when one has accountEnabled false. An unreadable "
    "accountEnabled, group membership or PIM eligibility (needs RoleEligibilitySchedule.Read.Directory; a tenant "
    "without Entra ID P2 has no PIM and is judged on active members) is an error. A principal the collected "
    "directory does not know (deleted) is judged by privileged-role-principal-exists.",
    remediation_ja="退職・異動等で無効化したアカウントのロール割り当て（アクセス制御 (IAM)、Entra ID の "
    "ロールと管理者）とグループのメンバーシップを削除する。アカウントの無効化と同時に権限を外す手順にする。",
    remediation_en="Remove the role assignments (Access control (IAM); Entra ID Roles and administrators) and group "
    "memberships of disabled accounts, and make removing privileges part of disabling an account.",
    thresholds=("privileged_roles", "privileged_directory_roles"),
)
def role_holders_enabled(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    yield from _judge_holders(
        facts,
        thresholds,
        "accountEnabled",
        "",
        lambda v: v is False,
        lambda v: isinstance(v, bool),
        "無効化されたアカウント",
        "a disabled account",
        "有効なアカウント",
        "enabled accounts",
    )


@check(
    id=GUESTS_CHECK,
    title_ja="特権ロールをゲストユーザーに付与しない",
    title_en="No guest user holds a privileged role",
    judges=_JUDGES,
    reads=_READS,
    api=_API,
    rule_ja="Azure の特権ロール（privileged_roles と同等に広いカスタムロール、全スコープ）の各割り当てと、Entra ID の"
    "特権ディレクトリロール（privileged_directory_roles）ごとに、保持者（グループはメンバーに展開、ディレクトリ"
    "ロールは有効なメンバーと PIM の資格のある保持者）のユーザーが"
    "すべて userType = Member なら合格。Guest（外部・B2B ゲスト）がいれば不合格。userType やグループのメンバー、"
    "PIM の資格のある割り当てを読み取れなければエラー。"
    "収集したディレクトリにないプリンシパル（削除済み）は privileged-role-principal-exists が判定する。",
    rule_en="For each assignment of a privileged Azure role (privileged_roles and custom roles as broad, at any "
    "scope) and each privileged Entra directory role (privileged_directory_roles): passes when every holding user "
    "(groups expanded to their members; for a directory role, its active members and its PIM-eligible holders) has "
    "userType Member; fails when one is a Guest (an external or B2B account). An unreadable userType, group "
    "membership or PIM eligibility is an error. A principal the collected directory does not "
    "know (deleted) is judged by privileged-role-principal-exists.",
    remediation_ja="ゲストのロール割り当てを削除する。保守ベンダー等に特権が必要な場合は、テナント内に本人専用の"
    "メンバーアカウントを発行し、PIM の資格のある割り当て・期限付きで付与する。",
    remediation_en="Remove guests' privileged assignments. Where a maintenance vendor really needs privileges, "
    "issue a named member account in the tenant and grant them time-bound and eligible through PIM.",
    thresholds=("privileged_roles", "privileged_directory_roles"),
)
def privileged_roles_no_guests(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    yield from _judge_holders(
        facts,
        thresholds,
        "userType",
        "users",
        lambda v: str(v).lower() == "guest",
        lambda v: isinstance(v, str) and v.lower() in ("guest", "member"),
        "ゲストユーザー",
        "a guest user",
        "メンバーユーザーまたはサービスプリンシパル",
        "member users or service principals",
    )


@check(
    id="global-admin-count",
    title_ja="グローバル管理者は 2 名以上・上限以下",
    title_en="Global Administrators number at least two and at most the limit",
    judges=("directory/directoryroles",),
    reads=(
        FactKind.DIRECTORY_PRINCIPAL,
        DIRECTORY_ROLE,
        DIRECTORY_ROLE_MEMBERS,
        GROUP_MEMBERS,
        DIRECTORY_ROLE_ELIGIBILITY,
    ),
    api="Microsoft Graph GET /directoryRoles (id, displayName, roleTemplateId), /directoryRoles/{id}/members (one "
    "call per role), /groups/{id}/members (one call per security group), /users, /servicePrincipals (id), "
    "/roleManagement/directory/roleEligibilityScheduleInstances (principalId, roleDefinitionId; "
    "RoleEligibilitySchedule.Read.Directory, Entra ID P2)",
    rule_ja="Global Administrator（roleTemplateId 62e90394-…）の有効なメンバーと PIM の資格のある保持者（グループは"
    "メンバーに展開、重複は 1 件）が global_admin_min 以上 global_admin_max 以下なら合格。範囲外なら不合格。"
    "資格のある保持者はいつでも自らアクティブ化できるため数に含める。ロールやメンバー、メンバーのグループ、"
    "PIM の資格のある割り当て（RoleEligibilitySchedule.Read.Directory が必要。Entra ID P2 のないテナントは有効な"
    "メンバーのみ）を収集できなければエラー（上限を超えることが分かっていれば不合格）。",
    rule_en="Passes when the active members and PIM-eligible holders of Global Administrator (roleTemplateId "
    "62e90394-...; groups expanded, each account counted once) number at least global_admin_min and at most "
    "global_admin_max; fails outside that range. Eligible holders count: they can activate the role themselves at "
    "any time. A role, membership, member group or the PIM eligibility (needs RoleEligibilitySchedule.Read.Directory; "
    "a tenant without Entra ID P2 has none) that was not collected is an error (a fail when the known holders "
    "already exceed the maximum).",
    remediation_ja="日常の管理は最小権限のロール（ユーザー管理者等）で行い、グローバル管理者は緊急アクセス用を含む"
    "少数に限定する（PIM の資格のある割り当てにする）。1 名だけの場合は緊急アクセス用アカウントを追加する。",
    remediation_en="Do daily administration with least-privileged roles (User Administrator and the like) and keep "
    "Global Administrator to a few accounts including an emergency-access one, eligible through PIM; with only "
    "one, add an emergency-access account.",
    thresholds=("global_admin_min", "global_admin_max"),
)
def global_admin_count(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    directory = Directory(facts)
    grant = next((g for g in directory_role_grants(facts, directory) if g.role_id == GLOBAL_ADMINISTRATOR), None)
    if grant is None:
        if facts.of(DIRECTORY_ROLE) and not facts.errors_for([DIRECTORY_ROLE]):
            yield errored(
                "directoryRoles",
                "ディレクトリロールの一覧に Global Administrator（roleTemplateId "
                f"{GLOBAL_ADMINISTRATOR}）がありません。メンバーを数えられません",
                f"the directory roles listed include no Global Administrator (roleTemplateId {GLOBAL_ADMINISTRATOR}); "
                "its members cannot be counted",
                facts.of(DIRECTORY_ROLE),
            )
        return
    accounts: dict[str, Holder] = {}
    for h in grant.holders:  # an account both active and eligible counts once, as active
        if h.principal_id.lower() not in accounts or not h.eligible:
            accounts[h.principal_id.lower()] = h
    eligible = sorted(_label(h) for h in accounts.values() if h.eligible)
    names = ", ".join(sorted(_label(h) for h in accounts.values() if not h.eligible)) or "-"
    low, high = thresholds.global_admin_min, thresholds.global_admin_max
    evidence = (grant.evidence, [h.doc for h in accounts.values() if h.doc is not None])
    also_ja = f"、PIM の資格のある割り当て {len(eligible)} 名: {', '.join(eligible)}" if eligible else ""
    also_en = f"; PIM-eligible {len(eligible)}: {', '.join(eligible)}" if eligible else ""
    counted_ja = f"グローバル管理者は {len(accounts)} 名です（{names}{also_ja}、{low}〜{high} 名であること）"
    counted_en = f"Global Administrator has {len(accounts)} holders ({names}{also_en}; {low} to {high} required)"
    if len(accounts) > high:
        yield failed(grant.resource_id, counted_ja, counted_en, *evidence)
    elif grant.unknown:
        yield errored(
            grant.resource_id,
            f"グローバル管理者の保持者を数えられません: {'、'.join(ja for ja, _ in grant.unknown)}",
            f"the holders of Global Administrator cannot be counted: {'; '.join(en for _, en in grant.unknown)}",
            *evidence,
        )
    elif len(accounts) < low:
        yield failed(grant.resource_id, counted_ja, counted_en, *evidence)
    else:
        yield passed(grant.resource_id, counted_ja, counted_en, *evidence)
