"""Just-in-time privilege: the roles in thresholds.pim_required_roles (Owner, User Access Administrator by default)
are held by people only as PIM-eligible assignments, activated when needed, never permanently.

Role Assignment Schedule Instances list every role assignment active now, PIM-managed or not: `assignmentType`
is "Activated" for a PIM activation, "Assigned" for a direct assignment, which is permanent when it has no
`endDateTime`. Each role assignment of such a role to a user or group at subscription scope (or above) must
appear there; one that does not is an error, never a pass.
"""

from __future__ import annotations

from collections.abc import Iterator

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import error_covering, guid_of, name_from_id, norm_id, props, subscription_of
from controls.checks.roles import _assignment_id, _effective_at_subscription
from controls.model import Evidence, FactKind, FactSet, Thresholds

# Fact kinds of collector/fetchers/authorization.py.
ROLE_ASSIGNMENT_INSTANCE = "role_assignment_schedule_instance"
ROLE_ELIGIBILITY_INSTANCE = "role_eligibility_schedule_instance"
_PEOPLE = ("user", "group")  # service principals and managed identities cannot activate a PIM role


def _required(facts: FactSet, thresholds: Thresholds) -> dict[str, str]:
    """GUID -> roleName of the roles that must be held just in time."""
    wanted = {r.lower() for r in thresholds.pim_required_roles}
    out: dict[str, str] = {}
    for ev in facts.of(FactKind.ROLE_DEFINITION):
        name = props(ev.content).get("roleName")
        if isinstance(name, str) and name.lower() in wanted:
            out[guid_of(str(ev.content.get("id") or ev.resource_id))] = name
    return out


@check(
    id="privileged-assignments-eligible",
    title_ja="Owner・User Access Administrator を常時割り当てにしない（PIM の資格のある割り当て）",
    title_en="Owner and User Access Administrator are held just in time through PIM, not permanently",
    judges=("subscription",),
    reads=(FactKind.ROLE_ASSIGNMENT, FactKind.ROLE_DEFINITION, ROLE_ASSIGNMENT_INSTANCE, ROLE_ELIGIBILITY_INSTANCE),
    api="Role Assignment Schedule Instances - List For Scope (2020-10-01): properties.{roleDefinitionId, principalId, "
    "principalType, scope, assignmentType, endDateTime, originRoleAssignmentId}; Role Eligibility Schedule "
    "Instances - List For Scope: properties.{roleDefinitionId, principalId, scope}; Role Assignments - List For "
    "Subscription; Role Definitions - List: properties.roleName",
    rule_ja="サブスクリプション（およびそれより上）で有効な pim_required_roles のロールについて、ユーザー・グループへの"
    "割り当てがすべて PIM のアクティブ化（assignmentType = Activated）か期限付き（endDateTime あり）なら合格。"
    "assignmentType = Assigned で endDateTime のない常時割り当てがあれば不合格（pim_permanent_allowed の緊急アクセス"
    "用アカウントを除く）。ロールの割り当てに対応するスケジュールインスタンスがない、または assignmentType を読み取れ"
    "なければエラー。サービスプリンシパル・マネージド ID はアクティブ化できないため対象外。",
    rule_en="For the roles in pim_required_roles effective at subscription scope (assigned on it or above): passes "
    "when "
    "every assignment to a user or group is a PIM activation (assignmentType Activated) or time-bound (has an "
    "endDateTime); fails on a permanent one (assignmentType Assigned, no endDateTime), except the emergency-access "
    "principals in pim_permanent_allowed. A role assignment with no schedule instance, or an unreadable "
    "assignmentType, is an error. Service principals and managed identities cannot activate and are not judged.",
    remediation_ja="Privileged Identity Management で常時割り当てを資格のある割り当て（eligible）に変換し、"
    "アクティブ化に MFA・承認・理由を求める。緊急アクセス用アカウントは pim_permanent_allowed に登録する。",
    remediation_en="In Privileged Identity Management, convert permanent assignments to eligible ones, with MFA, "
    "approval and a justification on activation; list emergency-access accounts in pim_permanent_allowed.",
    thresholds=("pim_required_roles", "pim_permanent_allowed"),
)
def privileged_assignments_eligible(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    required = _required(facts, thresholds)
    allowed = {p.lower() for p in thresholds.pim_permanent_allowed}
    by_sub: dict[str, dict[str, list[Evidence]]] = {}
    for kind in (FactKind.ROLE_ASSIGNMENT, ROLE_ASSIGNMENT_INSTANCE, ROLE_ELIGIBILITY_INSTANCE):
        for ev in facts.of(kind):
            sub = subscription_of(ev.scope) or ev.scope
            by_sub.setdefault(sub, {}).setdefault(kind, []).append(ev)

    def relevant(ev: Evidence, sub: str) -> bool:
        p = props(ev.content)
        return (
            guid_of(p.get("roleDefinitionId")) in required
            and _effective_at_subscription(str(p.get("scope") or ""), sub)
            and str(p.get("principalType") or "").lower() in _PEOPLE
        )

    for sub, kinds in by_sub.items():
        if error_covering(facts, [ROLE_ASSIGNMENT_INSTANCE, FactKind.ROLE_ASSIGNMENT], sub):
            continue  # the engine reports the failed read for this subscription
        instances = [ev for ev in kinds.get(ROLE_ASSIGNMENT_INSTANCE, []) if relevant(ev, sub)]
        eligible = [ev for ev in kinds.get(ROLE_ELIGIBILITY_INSTANCE, []) if relevant(ev, sub)]
        seen: set[str] = set()
        assignments = []
        for a in kinds.get(FactKind.ROLE_ASSIGNMENT, []):
            if relevant(a, sub) and _assignment_id(a) not in seen:
                seen.add(_assignment_id(a))
                assignments.append(a)
        covered = {name_from_id(norm_id(str(props(i.content).get("originRoleAssignmentId") or ""))) for i in instances}
        covered |= {str(i.content.get("name") or "").lower() for i in instances}
        missing = [a for a in assignments if str(a.content.get("name") or _assignment_id(a).rsplit("/", 1)[-1]).lower()
                   not in covered]  # fmt: skip
        permanent, unreadable, just_in_time = [], [], []
        for i in instances:
            p = props(i.content)
            kind = p.get("assignmentType")
            if not isinstance(kind, str) or kind.lower() not in ("assigned", "activated"):
                unreadable.append(i)
            elif kind.lower() == "assigned" and not p.get("endDateTime"):
                if str(p.get("principalId") or "").lower() not in allowed:
                    permanent.append(i)
                else:
                    just_in_time.append(i)
            else:
                just_in_time.append(i)

        def who(i: Evidence) -> str:
            p = props(i.content)
            principal = (p.get("expandedProperties") or {}).get("principal") or {}
            name = principal.get("displayName") or p.get("principalId")
            return f"{required.get(guid_of(p.get('roleDefinitionId')), '?')} {p.get('principalType')} {name}"

        roles = ", ".join(sorted(set(required.values()))) or "-"
        if permanent:
            listed = "; ".join(who(i) for i in permanent)
            yield failed(
                sub,
                f"サブスクリプション {sub} で {roles} が常時割り当て（assignmentType Assigned、endDateTime なし）に"
                f"なっています: {listed}。PIM の資格のある割り当てにする必要があります",
                f"subscription {sub} has permanent assignments of {roles} (assignmentType Assigned, no endDateTime): "
                f"{listed}; they should be PIM-eligible",
                permanent,
            )
        elif missing or unreadable:
            problems_ja, problems_en = [], []
            if missing:
                ids = ", ".join(str(a.content.get("name") or a.resource_id) for a in missing)
                problems_ja.append(f"ロール割り当て {ids} のスケジュールインスタンスがありません")
                problems_en.append(f"role assignments {ids} have no schedule instance")
            if unreadable:
                ids = ", ".join(str(i.content.get("name") or i.resource_id) for i in unreadable)
                problems_ja.append(f"スケジュールインスタンス {ids} の assignmentType を読み取れません")
                problems_en.append(f"schedule instances {ids} have no readable assignmentType")
            yield errored(
                sub,
                f"サブスクリプション {sub} の {roles} が常時割り当てか判定できません: {'、'.join(problems_ja)}",
                f"subscription {sub}: whether {roles} are held permanently cannot be judged: {'; '.join(problems_en)}",
                missing,
                unreadable,
            )
        else:
            yield passed(
                sub,
                f"サブスクリプション {sub} の {roles} に常時割り当てはありません"
                f"（有効な割り当て {len(just_in_time)} 件は"
                f"アクティブ化・期限付き・緊急アクセス用、資格のある割り当て {len(eligible)} 件）",
                f"subscription {sub} has no permanent assignment of {roles} ({len(just_in_time)} active ones are PIM "
                f"activations, time-bound or emergency access; {len(eligible)} eligible)",
                just_in_time,
                eligible,
                assignments,
            )


ROLE_POLICY_ASSIGNMENT = "role_management_policy_assignment"


def _rule(rules: list, rule_id: str) -> dict | None:
    return next((r for r in rules if isinstance(r, dict) and str(r.get("id") or "").lower() == rule_id.lower()), None)


@check(
    id="pim-activation-requires-mfa-and-approval",
    title_ja="PIM での Owner・User Access Administrator のアクティブ化に MFA と承認を要求する",
    title_en="Activating Owner or User Access Administrator in PIM requires MFA and approval",
    judges=("subscription",),
    reads=(FactKind.ROLE_DEFINITION, ROLE_POLICY_ASSIGNMENT),
    api="Role Management Policy Assignments - List For Scope (2020-10-01): properties.{scope, roleDefinitionId, "
    "effectiveRules[id Enablement_EndUser_Assignment].enabledRules, effectiveRules[id "
    "AuthenticationContext_EndUser_Assignment].isEnabled, effectiveRules[id Approval_EndUser_Assignment]"
    ".setting.isApprovalRequired}; Role Definitions - List: properties.roleName",
    rule_ja="サブスクリプションごとに pim_required_roles の各ロールの PIM 設定（サブスクリプションスコープのロール管理"
    "ポリシー割り当ての effectiveRules）で、アクティブ化（EndUser・Assignment）に MFA（enabledRules に "
    "MultiFactorAuthentication、または認証コンテキストが有効）と承認（isApprovalRequired = true）を求めていれば合格。"
    "どちらかがなければ不合格。ロールのポリシー割り当てがない、または effectiveRules を読み取れなければエラー。",
    rule_en="For each subscription and each role in pim_required_roles, the PIM settings (the effectiveRules of the "
    "role management policy assignment at subscription scope) pass when activation (EndUser, Assignment) requires MFA "
    "(MultiFactorAuthentication in enabledRules, or an enabled authentication context) and approval "
    "(isApprovalRequired true); fail when either is missing. No policy assignment for the role, or unreadable "
    "effectiveRules, is an error.",
    remediation_ja="Privileged Identity Management → Azure リソース → サブスクリプション → 設定 で Owner・User Access "
    "Administrator を編集し、「アクティブ化で必要: Azure MFA」と「アクティブ化には承認が必要」を有効にして"
    "承認者を指定する。",
    remediation_en="In Privileged Identity Management > Azure resources > the subscription > Settings, edit Owner and "
    "User Access Administrator: require Azure MFA on activation and require approval to activate, naming approvers.",
    thresholds=("pim_required_roles",),
)
def pim_activation_requires_mfa_and_approval(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    required = _required(facts, thresholds)
    subs: dict[str, list[Evidence]] = {}
    for ev in facts.of(FactKind.ROLE_DEFINITION):
        subs.setdefault(subscription_of(ev.scope) or ev.scope, [])
    for ev in facts.of(ROLE_POLICY_ASSIGNMENT):
        subs.setdefault(subscription_of(ev.scope) or ev.scope, []).append(ev)
    for sub, policies in subs.items():
        if error_covering(facts, [ROLE_POLICY_ASSIGNMENT], sub) or not sub.lower().startswith("/subscriptions/"):
            continue
        at_sub = {
            guid_of(props(p.content).get("roleDefinitionId")): p
            for p in policies
            if norm_id(str(props(p.content).get("scope") or "")) == norm_id(sub)
        }
        bad_ja, bad_en, unknown, cited, good = [], [], [], [], []
        for guid, name in sorted(required.items(), key=lambda kv: kv[1]):
            policy = at_sub.get(guid)
            if policy is None:
                unknown.append(f"{name}: no policy assignment")
                continue
            cited.append(policy)
            rules = props(policy.content).get("effectiveRules")
            if not isinstance(rules, list):
                unknown.append(f"{name}: effectiveRules {rules!r}")
                continue
            enablement = _rule(rules, "Enablement_EndUser_Assignment")
            context = _rule(rules, "AuthenticationContext_EndUser_Assignment")
            approval = _rule(rules, "Approval_EndUser_Assignment")
            enabled = enablement.get("enabledRules") if enablement else None
            setting = approval.get("setting") if approval else None
            if not isinstance(enabled, list) or not isinstance(setting, dict):
                unknown.append(f"{name}: Enablement_EndUser_Assignment / Approval_EndUser_Assignment not readable")
                continue
            mfa = "MultiFactorAuthentication" in enabled or bool(context and context.get("isEnabled") is True)
            approved = setting.get("isApprovalRequired") is True
            if not mfa:
                bad_ja.append(f"{name} のアクティブ化に MFA が不要（enabledRules {enabled}）")
                bad_en.append(f"activating {name} needs no MFA (enabledRules {enabled})")
            if not approved:
                bad_ja.append(
                    f"{name} のアクティブ化に承認が不要（isApprovalRequired {setting.get('isApprovalRequired')}）"
                )
                bad_en.append(f"activating {name} needs no approval (isApprovalRequired "
                              f"{setting.get('isApprovalRequired')!r})")  # fmt: skip
            if mfa and approved:
                good.append(name)
        if bad_en:
            yield failed(
                sub,
                f"サブスクリプション {sub} の PIM 設定で、{'、'.join(bad_ja)}",
                f"subscription {sub} PIM settings: {'; '.join(bad_en)}",
                cited,
            )
        elif unknown:
            yield errored(
                sub,
                f"サブスクリプション {sub} の PIM 設定を判定できません: {'; '.join(unknown)}",
                f"subscription {sub}: the PIM settings cannot be judged: {'; '.join(unknown)}",
                cited,
            )
        elif good:
            yield passed(
                sub,
                f"サブスクリプション {sub} の PIM 設定で {', '.join(good)} のアクティブ化に MFA と承認が必要です",
                f"subscription {sub} PIM settings require MFA and approval to activate {', '.join(good)}",
                cited,
            )


CLASSIC_ADMINISTRATOR = "classic_administrator"
_CLASSIC_PRIVILEGED = ("serviceadministrator", "coadministrator")


@check(
    id="classic-administrators-absent",
    title_ja="クラシック管理者（サービス管理者・共同管理者）を置かない",
    title_en="No classic Service Administrator or Co-Administrator",
    judges=("subscription",),
    reads=(FactKind.SUBSCRIPTION, CLASSIC_ADMINISTRATOR),
    api="Classic Administrators - List (2015-07-01, one call per subscription): properties.{emailAddress, role}",
    rule_ja="サブスクリプションのクラシック管理者の一覧に role が ServiceAdministrator または CoAdministrator の"
    "エントリがなければ合格（AccountAdministrator は課金の役割で対象外）。あれば不合格。これらは Azure RBAC と PIM の"
    "外で Owner 相当の権限を持つ。一覧を収集できなければエラー。",
    rule_en="Passes when the subscription's classic administrators include no entry whose role is ServiceAdministrator "
    "or CoAdministrator (AccountAdministrator, a billing role, is not judged); fails otherwise: these hold "
    "Owner-equivalent access outside Azure RBAC and PIM. A listing that could not be collected is an error.",
    remediation_ja="Azure portal のサブスクリプション → アクセス制御 (IAM) → クラシック管理者 で共同管理者を削除し、"
    "必要な権限は Azure RBAC（PIM の資格のある割り当て）で付与する。",
    remediation_en="Remove co-administrators under the subscription > Access control (IAM) > Classic administrators, "
    "and grant what is needed with Azure RBAC (PIM-eligible assignments).",
)
def classic_administrators_absent(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    admins: dict[str, list[Evidence]] = {}
    for ev in facts.of(CLASSIC_ADMINISTRATOR):
        admins.setdefault(norm_id(subscription_of(ev.scope) or ev.scope), []).append(ev)
    for sub in facts.of(FactKind.SUBSCRIPTION):
        sid = f"/subscriptions/{sub.content.get('subscriptionId') or name_from_id(sub.resource_id)}"
        if error_covering(facts, [CLASSIC_ADMINISTRATOR], sid):
            continue  # the engine reports the failed read for this subscription
        listed = admins.get(norm_id(sid), [])
        unreadable = [a for a in listed if not isinstance(props(a.content).get("role"), str)]
        held = [
            a
            for a in listed
            if any(r.strip().lower() in _CLASSIC_PRIVILEGED for r in str(props(a.content).get("role") or "").split(";"))
        ]
        if held:
            who = ", ".join(f"{props(a.content).get('emailAddress')} ({props(a.content).get('role')})" for a in held)
            yield failed(
                sid,
                f"サブスクリプション {sid} にクラシック管理者がいます: {who}",
                f"subscription {sid} has classic administrators: {who}",
                held,
            )
        elif unreadable:
            yield errored(
                sid,
                f"サブスクリプション {sid} のクラシック管理者 {len(unreadable)} 件の role を読み取れません",
                f"subscription {sid}: the role of {len(unreadable)} classic administrators cannot be read",
                unreadable,
            )
        else:
            others = f"（{len(listed)} 件はアカウント管理者のみ）" if listed else ""
            others_en = f" ({len(listed)} listed, Account Administrator only)" if listed else ""
            yield passed(
                sid,
                f"サブスクリプション {sid} にサービス管理者・共同管理者はいません{others}",
                f"subscription {sid} has no Service Administrator or Co-Administrator{others_en}",
                sub,
                listed,
            )
