"""Accounts nobody uses: a user who holds a role (Azure RBAC at any scope, active or PIM-eligible, or an Entra
directory role, active or PIM-eligible; groups expanded to their members) and has not signed in for more than
thresholds.stale_account_days — or never has, and was created longer ago than that — is an ID left behind
(a departed or moved person, a one-off vendor account).

Last sign-in is Graph's user.signInActivity (AuditLog.Read.All, Entra ID P1/P2): lastSuccessfulSignInDateTime,
the last successful sign-in, interactive or not; where Graph has none (it was not recorded before December
2023) the later of lastSignInDateTime and lastNonInteractiveSignInDateTime, the last attempts. Graph writes
0001-01-01T00:00:00Z for "never". The age is counted from when the sign-in listing was collected, so a
verdict re-judged from stored evidence does not change. Disabled accounts are role-holders-enabled's to judge;
service principals and managed identities have no user sign-in activity and are not judged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from controls.checks.accounts import (
    DIRECTORY_ROLE,
    DIRECTORY_ROLE_ELIGIBILITY,
    DIRECTORY_ROLE_MEMBERS,
    GROUP_MEMBERS,
    all_role_grants,
    collection_of,
)
from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import observed_at, parse_time
from controls.checks.pim import ROLE_ELIGIBILITY_INSTANCE
from controls.model import Evidence, FactKind, FactSet, Thresholds

USER_SIGN_IN = "entra_user_sign_in"  # collector/fetchers/entra_sign_ins.py
STALE_CHECK = "stale-accounts"
_NEVER = datetime(1, 1, 2).date()  # Graph's 0001-01-01T00:00:00Z: no sign-in recorded


def _when(activity: dict[str, Any], name: str) -> datetime | None:
    value = activity.get(name)
    if value is None or value == "":
        return None
    at = parse_time(value)
    if at is None:
        raise ValueError(f"signInActivity.{name} {value!r} is not a timestamp")
    return None if at.date() < _NEVER else at


def last_sign_in(user: dict[str, Any]) -> datetime | None:
    """The user's last sign-in from its signInActivity (see the module), None when it never signed in; raises
    ValueError when signInActivity is there but not readable."""
    activity = user.get("signInActivity")
    if activity is None:
        return None
    if not isinstance(activity, dict):
        raise ValueError(f"signInActivity {activity!r} is not an object")
    success = _when(activity, "lastSuccessfulSignInDateTime")
    if success is not None:
        return success
    attempts = [_when(activity, n) for n in ("lastSignInDateTime", "lastNonInteractiveSignInDateTime")]
    return max((t for t in attempts if t is not None), default=None)


@check(
    id=STALE_CHECK,
    title_ja="ロールを持つアカウントが長期間未使用でない",
    title_en="No account holding a role has gone unused",
    judges=("directory/users",),
    reads=(
        FactKind.ROLE_ASSIGNMENT,
        FactKind.ROLE_DEFINITION,
        FactKind.DIRECTORY_PRINCIPAL,
        DIRECTORY_ROLE,
        DIRECTORY_ROLE_MEMBERS,
        GROUP_MEMBERS,
        DIRECTORY_ROLE_ELIGIBILITY,
        ROLE_ELIGIBILITY_INSTANCE,
        USER_SIGN_IN,
    ),
    api="Microsoft Graph GET /users?$select=id,userPrincipalName,accountEnabled,userType,createdDateTime,"
    "signInActivity (AuditLog.Read.All, Entra ID P1/P2): signInActivity.{lastSuccessfulSignInDateTime, "
    "lastSignInDateTime, lastNonInteractiveSignInDateTime}, createdDateTime; who holds a role: Role Assignments - "
    "List For Subscription, Role Eligibility Schedule Instances - List For Scope, /directoryRoles/{id}/members, "
    "/roleManagement/directory/roleEligibilityScheduleInstances, /groups/{id}/members",
    rule_ja="Azure のロール（全スコープ、有効な割り当てと PIM の資格のある割り当て）または Entra ID のディレクトリ"
    "ロール（メンバーと PIM の資格のある保持者）を持つ有効なユーザー（グループはメンバーに展開）ごとに、最終サインイン"
    "（lastSuccessfulSignInDateTime、なければ lastSignInDateTime と lastNonInteractiveSignInDateTime の新しい方）が"
    "収集時点から stale_account_days 日以内なら合格。それより古ければ不合格。一度もサインインしていないアカウントは"
    "作成（createdDateTime）から stale_account_days 日を過ぎていれば不合格。サインイン情報（AuditLog.Read.All と "
    "Entra ID P1/P2 が必要）や日時を読み取れなければエラー。無効なアカウントは role-holders-enabled が判定する。",
    rule_en="For each enabled user holding an Azure role (any scope, active or PIM-eligible) or an Entra directory "
    "role (member or PIM-eligible; groups expanded to their members): passes when the last sign-in "
    "(lastSuccessfulSignInDateTime, else the later of lastSignInDateTime and lastNonInteractiveSignInDateTime) is "
    "at most stale_account_days before collection; fails when older, or when the account never signed in and was "
    "created (createdDateTime) more than stale_account_days before. Sign-in activity that could not be read "
    "(needs AuditLog.Read.All and Entra ID P1/P2) or an unreadable timestamp is an error. Disabled accounts are "
    "judged by role-holders-enabled.",
    remediation_ja="使われていないアカウントの要否を所管部署に確認し、不要なら無効化してロール割り当て・グループの"
    "メンバーシップを外す。必要な特権は PIM の資格のある割り当てにし、アクセスレビューで定期的に棚卸しする。",
    remediation_en="Ask the account's owner whether it is still needed; if not, disable it and remove its role "
    "assignments and group memberships. Hold privileges that are still needed as PIM-eligible assignments, and "
    "review them periodically with access reviews.",
    thresholds=("stale_account_days",),
)
def stale_accounts(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    if facts.errors_for([USER_SIGN_IN]):
        return  # the engine reports the refused read, naming the permission or licence it needs
    sign_ins = {str(ev.content.get("id") or "").lower(): ev for ev in facts.of(USER_SIGN_IN)}
    held: dict[str, tuple[Evidence, list[str], list[Evidence]]] = {}
    for role in all_role_grants(facts, thresholds):
        grant = role.grant
        for h in grant.holders:
            if h.doc is None or collection_of(h.doc) != "users":
                continue
            doc, what, evidence = held.setdefault(h.principal_id.lower(), (h.doc, [], []))
            label = f"{grant.role} @ {grant.where}{' (PIM-eligible)' if h.eligible else ''}"
            if label not in what:
                what.append(label)
            evidence += grant.evidence[:1]
    days = thresholds.stale_account_days
    for key, (doc, what, evidence) in sorted(held.items(), key=lambda kv: kv[0]):
        name = str(doc.content.get("userPrincipalName") or doc.content.get("displayName") or key)
        rid = f"users/{doc.content.get('id') or key}"
        roles = "; ".join(what[:5]) + (f"; +{len(what) - 5}" if len(what) > 5 else "")
        sign_in = sign_ins.get(key)
        if sign_in is None:
            yield errored(
                rid,
                f"ロールを持つユーザー {name} がサインイン情報の一覧にありません（ロール: {roles}）",
                f"user {name} holds roles but is not in the sign-in activity listing (roles: {roles})",
                doc,
                evidence,
            )
            continue
        user = sign_in.content
        if user.get("accountEnabled") is False or doc.content.get("accountEnabled") is False:
            continue
        now = observed_at(sign_in)
        try:
            last = last_sign_in(user)
        except ValueError as exc:
            yield errored(rid, f"{name} の最終サインインを読み取れません（{exc}）",
                          f"the last sign-in of {name} cannot be read ({exc})", sign_in, evidence)  # fmt: skip
            continue
        if last is not None:
            age = (now - last).days
            seen_ja = f"{name} の最終サインインは {age} 日前（{last:%Y-%m-%d}）"
            seen_en = f"{name} last signed in {age} days ago ({last:%Y-%m-%d})"
            if age > days:
                yield failed(rid, f"{seen_ja}で、{days} 日を超えています（ロール: {roles}）",
                             f"{seen_en}, more than {days} days (roles: {roles})", sign_in, evidence)  # fmt: skip
            else:
                yield passed(rid, f"{seen_ja}で、{days} 日以内です", f"{seen_en}, within {days} days", sign_in)
            continue
        created = parse_time(user.get("createdDateTime") or doc.content.get("createdDateTime"))
        if created is None:
            yield errored(
                rid,
                f"{name} はサインインの記録がなく、作成日時（createdDateTime {user.get('createdDateTime')!r}）を"
                "読み取れません",
                f"{name} has no sign-in recorded and its createdDateTime {user.get('createdDateTime')!r} cannot be "
                "read",
                sign_in,
                evidence,
            )
            continue
        age = (now - created).days
        if age > days:
            yield failed(
                rid,
                f"{name} は一度もサインインしておらず、作成から {age} 日（{days} 日超）経っています（ロール: {roles}）",
                f"{name} has never signed in and was created {age} days ago, more than {days} days (roles: {roles})",
                sign_in,
                evidence,
            )
        else:
            yield passed(
                rid,
                f"{name} はまだサインインしていませんが、作成から {age} 日（{days} 日以内）です",
                f"{name} has not signed in yet but was created {age} days ago, within {days} days",
                sign_in,
            )
