"""Entra ID passwords, smart lockout and multi-factor authentication for administrators.

Read through Microsoft Graph v1.0 (collector.fetchers.entra_policies):

- domains' `passwordValidityPeriodInDays` (unset: Graph's documented default of 90 days; 2147483647:
  passwords never expire);
- the tenant's directory setting from the "Password Rule Settings" template (`/groupSettings`, template
  5cf42378-d67d-4f36-ba46-e8b86229381d). When the tenant has none, Entra applies the template's defaults:
  EnableBannedPasswordCheck True with an empty BannedPasswordList (only Microsoft's global banned list
  applies), LockoutThreshold 10, LockoutDurationInSeconds 60;
- Conditional Access policies and the security defaults policy (both need Policy.Read.All).

A Conditional Access policy "requires MFA" here only when it is enabled (not report-only), its grant
controls require MFA (`builtInControls` contains `mfa`, or an `authenticationStrength` is set; with
operator OR, that must be the only control) and no condition narrows when it applies (locations,
platforms, device filters, risk levels, client-app types other than all). Users excluded by id (e.g.
emergency-access accounts) are allowed and named in the finding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.model import Evidence, FactSet, Thresholds

DOMAIN = "entra_domain"
USER_PASSWORD_POLICY = "entra_user_password_policy"
DIRECTORY_SETTING = "entra_directory_setting"
CONDITIONAL_ACCESS_POLICY = "conditional_access_policy"
SECURITY_DEFAULTS = "security_defaults_policy"

TENANT = "tenant"
PASSWORD_RULE_TEMPLATE = "5cf42378-d67d-4f36-ba46-e8b86229381d"
NEVER_EXPIRES = 2147483647
GRAPH_DEFAULT_VALIDITY_DAYS = 90
DEFAULT_LOCKOUT_THRESHOLD = 10
DEFAULT_LOCKOUT_DURATION = 60
AZURE_MANAGEMENT_APP = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
# Directory roles whose holders administer the tenant (role template ids; Microsoft's "Require MFA for
# administrators" template covers these among others).
ADMIN_ROLES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
}


def _low(values: Any) -> set[str]:
    return {str(v).lower() for v in values} if isinstance(values, list) else set()


def _narrowed(conditions: dict[str, Any]) -> bool:
    """True when a condition limits when the policy applies (so MFA is not required every time)."""
    if any(conditions.get(k) for k in ("locations", "platforms", "devices", "clientApplications")):
        return True
    if any(conditions.get(k) for k in ("userRiskLevels", "signInRiskLevels", "servicePrincipalRiskLevels")):
        return True
    apps = _low(conditions.get("clientAppTypes"))
    return bool(apps) and "all" not in apps and not {"browser", "mobileappsanddesktopclients"} <= apps


def _requires_mfa(policy: dict[str, Any]) -> bool:
    grant = policy.get("grantControls")
    if not isinstance(grant, dict):
        return False
    controls = _low(grant.get("builtInControls"))
    strength = grant.get("authenticationStrength")
    mfa = "mfa" in controls or bool(strength)
    count = len(controls) + (1 if strength else 0)
    return mfa and "block" not in controls and (str(grant.get("operator", "")).upper() == "AND" or count == 1)


@dataclass(frozen=True, eq=False)
class MfaPolicy:
    """An enabled, unconditional Conditional Access policy that requires MFA, and whom and what it covers."""

    ev: Evidence
    name: str
    all_users: bool
    roles: frozenset[str]
    excluded_roles: frozenset[str]
    all_apps: bool
    apps: frozenset[str]
    excluded_apps: frozenset[str]
    excluded_user_ids: frozenset[str]
    excluded_groups: int

    @property
    def excluded_users(self) -> int:
        return len(self.excluded_user_ids)

    def covers_role(self, role: str) -> bool:
        return self.all_apps and (self.all_users or role in self.roles) and role not in self.excluded_roles

    def covers_everyone(self) -> bool:
        return self.all_users and self.all_apps and not self.excluded_roles

    def covers_azure_management(self) -> bool:
        return (
            self.all_users
            and (self.all_apps or AZURE_MANAGEMENT_APP in self.apps)
            and AZURE_MANAGEMENT_APP not in self.excluded_apps
            and not self.excluded_roles
        )

    @property
    def label(self) -> str:
        extra = ""
        if self.excluded_users or self.excluded_groups:
            extra = f" (excludes {self.excluded_users} user(s), {self.excluded_groups} group(s))"
        return f"'{self.name}'{extra}"

    @property
    def label_ja(self) -> str:
        extra = ""
        if self.excluded_users or self.excluded_groups:
            extra = f"（除外: ユーザー {self.excluded_users} 件、グループ {self.excluded_groups} 件）"
        return f"「{self.name}」{extra}"


def _mfa_policies(facts: FactSet) -> list[MfaPolicy]:
    out = []
    for ev in facts.of(CONDITIONAL_ACCESS_POLICY):
        p = ev.content
        conditions = p.get("conditions") if isinstance(p.get("conditions"), dict) else {}
        if str(p.get("state", "")) != "enabled" or not _requires_mfa(p) or _narrowed(conditions):
            continue
        users = conditions.get("users") if isinstance(conditions.get("users"), dict) else {}
        apps = conditions.get("applications") if isinstance(conditions.get("applications"), dict) else {}
        out.append(
            MfaPolicy(
                ev=ev,
                name=str(p.get("displayName") or p.get("id") or ev.resource_id),
                all_users="all" in _low(users.get("includeUsers")),
                roles=frozenset(_low(users.get("includeRoles"))),
                excluded_roles=frozenset(_low(users.get("excludeRoles"))),
                all_apps="all" in _low(apps.get("includeApplications")),
                apps=frozenset(_low(apps.get("includeApplications"))),
                excluded_apps=frozenset(_low(apps.get("excludeApplications"))),
                excluded_user_ids=frozenset(_low(users.get("excludeUsers"))),
                excluded_groups=len(users.get("excludeGroups") or []),
            )
        )
    return out


@dataclass(frozen=True, eq=False)
class MfaState:
    """What the tenant's sign-in policies say about MFA, or why that could not be read."""

    security_defaults: Evidence | None
    defaults_on: bool
    policies: list[MfaPolicy]
    unreadable: bool  # a policy read failed (the engine reports the collection error itself)

    @property
    def evidence(self) -> list[Evidence]:
        return ([self.security_defaults] if self.security_defaults else []) + [p.ev for p in self.policies]


def _mfa_state(facts: FactSet) -> MfaState:
    sd = next(iter(facts.of(SECURITY_DEFAULTS)), None)
    unreadable = bool(facts.errors_for([CONDITIONAL_ACCESS_POLICY, SECURITY_DEFAULTS])) or sd is None
    on = sd is not None and sd.content.get("isEnabled") is True
    return MfaState(sd, on, _mfa_policies(facts), unreadable)


# ---------------------------------------------------------------------------- password expiry


@check(
    id="password-expiry-policy",
    title_ja="Entra ID パスワードの有効期限",
    title_en="Entra ID password expiry",
    judges=("directory/domains", "directory/users"),
    reads=(DOMAIN, USER_PASSWORD_POLICY, CONDITIONAL_ACCESS_POLICY, SECURITY_DEFAULTS),
    api="Microsoft Graph v1.0 GET /domains (passwordValidityPeriodInDays, authenticationType, isVerified), "
    "GET /users (passwordPolicies, accountEnabled); "
    "when passwords do not expire, GET /identity/conditionalAccess/policies and "
    "/policies/identitySecurityDefaultsEnforcementPolicy (Policy.Read.All)",
    rule_ja="検証済みのクラウド管理ドメインごとに、パスワード有効期限"
    "（passwordValidityPeriodInDays、未設定は 90 日）が password_max_age_days 以下なら合格。"
    "期限がそれを超える（無期限を含む）場合は、password_expiry_mfa_alternative "
    "が true で、全ユーザー・全アプリに多要素認証を要求する有効な条件付きアクセスポリシーまたはセキュリティの既定値が"
    "あれば合格（厚生労働省ガイドライン第 6.0 版は定期変更の強制より多要素認証を推奨）。フェデレーションドメインは "
    "ID プロバイダー側の設定のためエラー。未検証ドメインはサインインに使えないため判定しない。"
    "有効なユーザーで passwordPolicies に DisablePasswordExpiration があるものは、同じ多要素認証の代替"
    "（そのユーザーを ID で除外していないポリシー）がなければ不合格（グループ除外は展開しない）。",
    rule_en="Each verified cloud-managed domain passes when its password validity "
    "(passwordValidityPeriodInDays, unset = 90 days) is at most password_max_age_days. A longer validity "
    "(including never) passes only when password_expiry_mfa_alternative is true and an enabled Conditional "
    "Access policy requires MFA of all users for all applications, or security defaults are on (MHLW "
    "guideline 6.0 prefers MFA to forced periodic change). A federated domain is an error: its identity "
    "provider sets the policy. Unverified domains, which no one can sign in with, are not judged. An enabled "
    "user whose passwordPolicies contains DisablePasswordExpiration fails unless the same MFA alternative "
    "holds and its policy does not exclude that user by id (group exclusions are not expanded).",
    remediation_ja="Microsoft 365 管理センターの［設定］→［組織設定］→［パスワードの有効期限ポリシー］で有効期限を"
    "設定するか、全ユーザーに多要素認証を要求する条件付きアクセスポリシーを有効にしてください。",
    remediation_en="Set a password expiry in the Microsoft 365 admin center (Settings > Org settings > Password "
    "expiration policy), or enable a Conditional Access policy requiring MFA for all users and all apps.",
    thresholds=("password_max_age_days", "password_expiry_mfa_alternative"),
)
def password_expiry_policy(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    yield from _domain_expiry(facts, thresholds)
    yield from _users_never_expiring(facts, thresholds)


def _users_never_expiring(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    mfa: MfaState | None = None
    for ev in facts.of(USER_PASSWORD_POLICY):
        u = ev.content
        policies = {p.strip().lower() for p in str(u.get("passwordPolicies") or "").split(",")}
        if u.get("accountEnabled") is False or "disablepasswordexpiration" not in policies:
            continue
        uid = str(u.get("id") or "")
        name = str(u.get("userPrincipalName") or uid)
        rid = f"users/{uid}"
        base_ja = f"ユーザー {name} は passwordPolicies に DisablePasswordExpiration があり、パスワードが無期限です"
        base_en = f"User {name} has DisablePasswordExpiration in passwordPolicies: the password never expires"
        if not thresholds.password_expiry_mfa_alternative:
            yield failed(rid, f"{base_ja}。", f"{base_en}.", ev)
            continue
        mfa = mfa or _mfa_state(facts)
        covering = [p for p in mfa.policies if p.covers_everyone() and uid.lower() not in p.excluded_user_ids]
        if mfa.defaults_on:
            yield passed(
                rid,
                f"{base_ja}が、セキュリティの既定値により多要素認証が要求されます。",
                f"{base_en}, but security defaults require MFA.",
                ev,
                mfa.security_defaults,
            )
        elif covering:
            yield passed(
                rid,
                f"{base_ja}が、条件付きアクセスポリシー{covering[0].label_ja}により多要素認証が要求されます。",
                f"{base_en}, but Conditional Access policy {covering[0].label} requires MFA of this user.",
                ev,
                covering[0].ev,
            )
        elif mfa.unreadable:
            yield errored(
                rid,
                f"{base_ja}。多要素認証の要求を確認する条件付きアクセスポリシーまたはセキュリティの既定値を"
                "読み取れませんでした（Policy.Read.All が必要）。",
                f"{base_en}, and the Conditional Access policies or security defaults that could show MFA is "
                "required could not be read (needs Policy.Read.All).",
                ev,
                mfa.evidence,
            )
        else:
            yield failed(
                rid,
                f"{base_ja}。このユーザーを除外せず全アプリに多要素認証を無条件に要求する有効なポリシーもありません。",
                f"{base_en}, and no enabled policy requires MFA of this user (not excluded) for all applications "
                "without conditions.",
                ev,
                mfa.evidence,
            )


def _domain_expiry(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    mfa: MfaState | None = None
    limit = thresholds.password_max_age_days
    for ev in facts.of(DOMAIN):
        d = ev.content
        name = str(d.get("id") or ev.resource_id)
        rid = f"domains/{name}"
        if d.get("isVerified") is not True:
            continue
        if str(d.get("authenticationType") or "").lower() != "managed":
            yield errored(
                rid,
                f"ドメイン {name} の認証方式は {d.get('authenticationType')} で、"
                "パスワード有効期限はフェデレーション先の ID プロバイダーが決めるため、ここでは判定できません。",
                f"Domain {name} uses {d.get('authenticationType')} authentication: its password expiry is set by "
                "the federated identity provider and cannot be judged here.",
                ev,
            )
            continue
        raw = d.get("passwordValidityPeriodInDays")
        days = GRAPH_DEFAULT_VALIDITY_DAYS if raw is None else raw
        if isinstance(days, bool) or not isinstance(days, int):
            yield errored(
                rid,
                f"ドメイン {name} の passwordValidityPeriodInDays が読み取れない値 {raw!r} です。",
                f"Domain {name} has an unreadable passwordValidityPeriodInDays {raw!r}.",
                ev,
            )
            continue
        set_ja = "未設定（既定 90 日）" if raw is None else ("無期限" if days >= NEVER_EXPIRES else f"{days} 日")
        set_en = "not set (default 90 days)" if raw is None else ("never" if days >= NEVER_EXPIRES else f"{days} days")
        if days <= limit:
            yield passed(
                rid,
                f"ドメイン {name} のパスワード有効期限は {set_ja} で、{limit} 日以内です。",
                f"Domain {name} passwords expire after {set_en}, within {limit} days.",
                ev,
            )
            continue
        base_ja = f"ドメイン {name} のパスワード有効期限は {set_ja} で、{limit} 日を超えています"
        base_en = f"Domain {name} passwords expire after {set_en}, more than {limit} days"
        if not thresholds.password_expiry_mfa_alternative:
            yield failed(rid, f"{base_ja}。", f"{base_en}.", ev)
            continue
        mfa = mfa or _mfa_state(facts)
        everyone = [p for p in mfa.policies if p.covers_everyone()]
        if mfa.defaults_on:
            yield passed(
                rid,
                f"{base_ja}が、セキュリティの既定値が有効で全ユーザーに多要素認証が要求されます。",
                f"{base_en}, but security defaults are on, so every user must use MFA.",
                ev,
                mfa.security_defaults,
            )
        elif everyone:
            yield passed(
                rid,
                f"{base_ja}が、条件付きアクセスポリシー{everyone[0].label_ja}が全ユーザー・全アプリに多要素認証を"
                "要求しています。",
                f"{base_en}, but Conditional Access policy {everyone[0].label} requires MFA of all users for all "
                "applications.",
                ev,
                everyone[0].ev,
            )
        elif mfa.unreadable:
            yield errored(
                rid,
                f"{base_ja}。全ユーザーへの多要素認証の要求を確認するための条件付きアクセスポリシーまたは"
                "セキュリティの既定値を読み取れませんでした（Policy.Read.All が必要）。",
                f"{base_en}, and the Conditional Access policies or security defaults that could show MFA is "
                "required of every user could not be read (needs Policy.Read.All).",
                ev,
                mfa.evidence,
            )
        else:
            yield failed(
                rid,
                f"{base_ja}。全ユーザー・全アプリに多要素認証を無条件に要求する有効な条件付きアクセスポリシーも、"
                "セキュリティの既定値もありません。",
                f"{base_en}, and neither an enabled Conditional Access policy requiring MFA of all users for all "
                "applications without conditions nor security defaults is in place.",
                ev,
                mfa.evidence,
            )


# ---------------------------------------------------------------------------- directory settings


def _password_rules(facts: FactSet) -> tuple[Evidence | None, dict[str, str]]:
    for ev in facts.of(DIRECTORY_SETTING):
        doc = ev.content
        if (
            str(doc.get("templateId") or "").lower() == PASSWORD_RULE_TEMPLATE
            or str(doc.get("displayName") or "") == "Password Rule Settings"
        ):
            values = doc.get("values") if isinstance(doc.get("values"), list) else []
            return ev, {str(v.get("name")): v.get("value") for v in values if isinstance(v, dict) and v.get("name")}
    return None, {}


@check(
    id="banned-password-protection",
    title_ja="Entra ID の禁止パスワードリスト",
    title_en="Entra ID custom banned-password list",
    judges=(TENANT,),
    reads=(DIRECTORY_SETTING,),
    api="Microsoft Graph v1.0 GET /groupSettings, setting from template Password Rule Settings "
    "(EnableBannedPasswordCheck, BannedPasswordList)",
    rule_ja="Password Rule Settings の EnableBannedPasswordCheck が True で、BannedPasswordList に組織固有の語が 1 つ"
    "以上あれば合格。設定がないテナントは既定値（True・リスト空：Microsoft のグローバル禁止リストと固定の複雑性要件"
    "のみ）で判定し不合格。",
    rule_en="Passes when Password Rule Settings has EnableBannedPasswordCheck True and at least one "
    "organisation-specific word in BannedPasswordList. A tenant without the setting is judged on Entra's "
    "defaults (True with an empty list: only Microsoft's global banned list and fixed complexity) and fails.",
    remediation_ja="Entra 管理センターの［保護］→［認証方法］→［パスワード保護］で「カスタムリストの適用」を"
    "はいにし、病院名・製品名など組織固有の禁止語を登録してください。",
    remediation_en="In the Entra admin center, Protection > Authentication methods > Password protection, set "
    '"Enforce custom list" to Yes and add organisation-specific words (hospital, product names).',
)
def banned_password_protection(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    if facts.errors_for([DIRECTORY_SETTING]):
        return  # the engine reports the collection error
    ev, values = _password_rules(facts)
    enabled = str(values.get("EnableBannedPasswordCheck", "True")).strip().lower() == "true"
    raw_list = values.get("BannedPasswordList") or ""
    words = [w for w in str(raw_list).replace(",", "\t").split("\t") if w.strip()]
    if ev is None:
        yield failed(
            TENANT,
            "テナントに Password Rule Settings のディレクトリ設定がなく、既定値（カスタム禁止パスワードリストなし）"
            "です。Microsoft のグローバル禁止リストと固定の複雑性要件だけが適用されます。",
            "The tenant has no Password Rule Settings directory setting, so Entra's defaults apply: no custom "
            "banned-password list, only Microsoft's global banned list and fixed complexity.",
            facts.of(DIRECTORY_SETTING),  # the listing that lacks it
        )
    elif not enabled:
        yield failed(
            TENANT,
            f"Password Rule Settings の EnableBannedPasswordCheck が {values.get('EnableBannedPasswordCheck')} で、"
            "カスタム禁止パスワードリストが適用されていません（True が必要）。",
            f"Password Rule Settings has EnableBannedPasswordCheck {values.get('EnableBannedPasswordCheck')}: the "
            "custom banned-password list is not enforced (True required).",
            ev,
        )
    elif not words:
        yield failed(
            TENANT,
            "Password Rule Settings の EnableBannedPasswordCheck は True ですが、BannedPasswordList が空です"
            "（組織固有の禁止語が 1 つ以上必要）。",
            "Password Rule Settings has EnableBannedPasswordCheck True but an empty BannedPasswordList (at least "
            "one organisation-specific word required).",
            ev,
        )
    else:
        yield passed(
            TENANT,
            f"Password Rule Settings でカスタム禁止パスワードリスト（{len(words)} 語）が適用されています。",
            f"Password Rule Settings enforces a custom banned-password list of {len(words)} word(s).",
            ev,
        )


def _int_value(values: dict[str, str], name: str, default: int) -> int | None:
    raw = values.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        return int(str(raw).strip())
    except ValueError:
        return None


@check(
    id="smart-lockout-configured",
    title_ja="Entra ID スマートロックアウト",
    title_en="Entra ID smart lockout",
    judges=(TENANT,),
    reads=(DIRECTORY_SETTING,),
    api="Microsoft Graph v1.0 GET /groupSettings, setting from template Password Rule Settings "
    "(LockoutThreshold, LockoutDurationInSeconds)",
    rule_ja="LockoutThreshold（サインイン失敗回数、未設定は既定 10）が lockout_threshold_max 以下で、"
    "LockoutDurationInSeconds（最初のロック秒数、未設定は既定 60）が lockout_duration_min_seconds 以上なら合格。",
    rule_en="Passes when LockoutThreshold (failed sign-ins, unset = default 10) is at most lockout_threshold_max "
    "and LockoutDurationInSeconds (first lockout, unset = default 60) is at least lockout_duration_min_seconds.",
    remediation_ja="Entra 管理センターの［保護］→［認証方法］→［パスワード保護］で「ロックアウトのしきい値」と"
    "「ロックアウト期間 (秒)」を基準内に設定してください。",
    remediation_en="In the Entra admin center, Protection > Authentication methods > Password protection, set "
    '"Lockout threshold" and "Lockout duration in seconds" within the limits.',
    thresholds=("lockout_threshold_max", "lockout_duration_min_seconds"),
)
def smart_lockout_configured(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    if facts.errors_for([DIRECTORY_SETTING]):
        return  # the engine reports the collection error
    ev, values = _password_rules(facts)
    seen = ev if ev is not None else facts.of(DIRECTORY_SETTING)  # no such setting: the listing that lacks it
    threshold = _int_value(values, "LockoutThreshold", DEFAULT_LOCKOUT_THRESHOLD)
    duration = _int_value(values, "LockoutDurationInSeconds", DEFAULT_LOCKOUT_DURATION)
    source_ja = "Password Rule Settings " if ev is not None else "既定値（Password Rule Settings なし）"
    source_en = "Password Rule Settings" if ev is not None else "Entra's defaults (no Password Rule Settings)"
    if threshold is None or duration is None:
        yield errored(
            TENANT,
            f"Password Rule Settings の LockoutThreshold {values.get('LockoutThreshold')!r} または "
            f"LockoutDurationInSeconds {values.get('LockoutDurationInSeconds')!r} が整数として読み取れません。",
            f"Password Rule Settings has an unreadable LockoutThreshold {values.get('LockoutThreshold')!r} or "
            f"LockoutDurationInSeconds {values.get('LockoutDurationInSeconds')!r}.",
            ev,
        )
        return
    problems_ja, problems_en = [], []
    if threshold > thresholds.lockout_threshold_max or threshold < 1:
        problems_ja.append(f"LockoutThreshold が {threshold} 回（{thresholds.lockout_threshold_max} 回以下が必要）")
        problems_en.append(f"LockoutThreshold {threshold} (at most {thresholds.lockout_threshold_max} required)")
    if duration < thresholds.lockout_duration_min_seconds:
        problems_ja.append(
            f"LockoutDurationInSeconds が {duration} 秒（{thresholds.lockout_duration_min_seconds} 秒以上が必要）"
        )
        problems_en.append(
            f"LockoutDurationInSeconds {duration} (at least {thresholds.lockout_duration_min_seconds} required)"
        )
    if problems_en:
        yield failed(
            TENANT,
            f"{source_ja}のスマートロックアウトが緩すぎます: {'、'.join(problems_ja)}。",
            f"Smart lockout in {source_en} is too lenient: {'; '.join(problems_en)}.",
            seen,
        )
    else:
        yield passed(
            TENANT,
            f"{source_ja}により、サインインに {threshold} 回失敗すると {duration} 秒以上ロックされます。",
            f"{source_en}: {threshold} failed sign-ins lock the account for {duration} seconds or more.",
            seen,
        )


# ---------------------------------------------------------------------------- MFA for administrators


@check(
    id="admin-mfa-required",
    title_ja="管理者ロールと Azure 管理への多要素認証の要求",
    title_en="MFA required for admin roles and Azure management",
    judges=(TENANT,),
    reads=(CONDITIONAL_ACCESS_POLICY, SECURITY_DEFAULTS),
    api="Microsoft Graph v1.0 GET /identity/conditionalAccess/policies (state, conditions, grantControls) and "
    "/policies/identitySecurityDefaultsEnforcementPolicy (isEnabled); Policy.Read.All",
    rule_ja="セキュリティの既定値が有効、または有効な（レポート専用でない）無条件の条件付きアクセスポリシーが、"
    "主要な管理者ロール（全体管理者、特権ロール管理者など 8 ロール）すべてに全アプリで、かつ全ユーザーの Azure 管理"
    "（アプリ 797f4846-ba00-4fd7-ba43-dac1f8f63013 または全アプリ）に多要素認証を要求していれば合格。",
    rule_en="Passes when security defaults are on, or enabled (not report-only) unconditional Conditional "
    "Access policies require MFA for all applications of every major admin role (Global Administrator, "
    "Privileged Role Administrator and 6 more) and for all users of Azure management (app "
    "797f4846-ba00-4fd7-ba43-dac1f8f63013, or all applications).",
    remediation_ja="条件付きアクセスのテンプレート「管理者に多要素認証を要求する」と「Azure 管理に多要素認証を"
    "要求する」を有効（オン）で作成してください。",
    remediation_en='Create the Conditional Access templates "Require multifactor authentication for admins" and '
    '"Require multifactor authentication for Azure management" with state On.',
)
def admin_mfa_required(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    if facts.errors_for([CONDITIONAL_ACCESS_POLICY, SECURITY_DEFAULTS]):
        return  # the engine reports the collection error (e.g. Policy.Read.All missing)
    mfa = _mfa_state(facts)
    if mfa.defaults_on:
        yield passed(
            TENANT,
            "セキュリティの既定値が有効で、管理者ロールと Azure 管理へのサインインに多要素認証が要求されます。",
            "Security defaults are on: admin roles and Azure management sign-ins require MFA.",
            mfa.security_defaults,
        )
        return
    if mfa.security_defaults is None:
        yield errored(
            TENANT,
            "セキュリティの既定値ポリシー（identitySecurityDefaultsEnforcementPolicy）が収集されていません。",
            "The security defaults policy (identitySecurityDefaultsEnforcementPolicy) was not collected.",
        )
        return
    missing_roles = [name for rid, name in ADMIN_ROLES.items() if not any(p.covers_role(rid) for p in mfa.policies)]
    azure = [p for p in mfa.policies if p.covers_azure_management()]
    role_policies = [p for p in mfa.policies if any(p.covers_role(r) for r in ADMIN_ROLES)]
    report_only = sorted(
        str(ev.content.get("displayName") or ev.resource_id)
        for ev in facts.of(CONDITIONAL_ACCESS_POLICY)
        if str(ev.content.get("state", "")) == "enabledForReportingButNotEnforced" and _requires_mfa(ev.content)
    )
    note_ja = f" レポート専用のポリシー: {'、'.join(report_only)}。" if report_only else ""
    note_en = f" Report-only (not enforced): {', '.join(report_only)}." if report_only else ""
    if missing_roles or not azure:
        gaps_ja, gaps_en = [], []
        if missing_roles:
            gaps_ja.append(f"管理者ロール {', '.join(missing_roles)} に多要素認証を要求する有効なポリシーがありません")
            gaps_en.append(f"no enabled policy requires MFA of admin role(s) {', '.join(missing_roles)}")
        if not azure:
            gaps_ja.append("全ユーザーの Azure 管理へのサインインに多要素認証を要求する有効なポリシーがありません")
            gaps_en.append("no enabled policy requires MFA of all users for Azure management")
        yield failed(
            TENANT,
            f"セキュリティの既定値は無効で、{'。'.join(gaps_ja)}。{note_ja}",
            f"Security defaults are off and {'; '.join(gaps_en)}.{note_en}",
            mfa.evidence,
            [ev for ev in facts.of(CONDITIONAL_ACCESS_POLICY)],
        )
        return
    used = list(dict.fromkeys([*role_policies, *azure]))
    yield passed(
        TENANT,
        f"条件付きアクセスポリシー {'、'.join(p.label_ja for p in used)} が、管理者ロール {len(ADMIN_ROLES)} 種と "
        f"Azure 管理へのサインインに多要素認証を要求しています。{note_ja}",
        f"Conditional Access policies {', '.join(p.label for p in used)} require MFA of the {len(ADMIN_ROLES)} admin "
        f"roles and for Azure management sign-ins.{note_en}",
        [p.ev for p in used],
        mfa.security_defaults,
    )


# ---------------------------------------------------------------------------- sign-in frequency


def _frequency_hours(policy: dict[str, Any]) -> tuple[int | None, str, str]:
    """(hours, as written ja, en) of an enabled sign-in frequency control; hours None when there is none."""
    control = policy.get("sessionControls", {}) or {}
    freq = control.get("signInFrequency") if isinstance(control, dict) else None
    if not isinstance(freq, dict) or freq.get("isEnabled") is not True:
        return None, "サインイン頻度なし", "no sign-in frequency"
    if freq.get("frequencyInterval") == "everyTime":
        return 0, "毎回", "every time"
    value, unit = freq.get("value"), str(freq.get("type") or "")
    if isinstance(value, bool) or not isinstance(value, int) or unit not in ("hours", "days"):
        return None, f"読み取れないサインイン頻度 {value!r} {unit}", f"unreadable sign-in frequency {value!r} {unit}"
    ja = f"{value} {'日' if unit == 'days' else '時間'}ごと"
    return value * (24 if unit == "days" else 1), ja, f"every {value} {unit}"


@check(
    id="ca-sign-in-frequency",
    title_ja="Azure 管理へのサインイン頻度（セッションの有効期間）",
    title_en="Sign-in frequency for Azure management sessions",
    judges=(TENANT,),
    reads=(CONDITIONAL_ACCESS_POLICY,),
    api="Microsoft Graph v1.0 GET /identity/conditionalAccess/policies (state, conditions, "
    "sessionControls.signInFrequency); Policy.Read.All",
    rule_ja="有効な（レポート専用でない）無条件の条件付きアクセスポリシーが、全ユーザーの Azure 管理（アプリ "
    "797f4846-ba00-4fd7-ba43-dac1f8f63013 または全アプリ）へのサインインに、sign_in_frequency_max_hours 時間以内"
    "（または毎回）の再認証をサインイン頻度で要求していれば合格。設定がなければ Entra の既定（最長 90 日の継続"
    "セッション）で不合格。",
    rule_en="Passes when an enabled (not report-only) unconditional Conditional Access policy requires every "
    "user's Azure management sign-ins (app 797f4846-ba00-4fd7-ba43-dac1f8f63013, or all applications) to "
    "re-authenticate within sign_in_frequency_max_hours (or every time) through its sign-in frequency "
    "session control. Without one Entra's default (a rolling session of up to 90 days) applies and it fails.",
    remediation_ja="条件付きアクセスで、対象を全ユーザー・Microsoft Azure Management とし、セッション制御の"
    "「サインインの頻度」を基準時間以内に設定したポリシーを有効（オン）にしてください。",
    remediation_en="Enable a Conditional Access policy for all users and Microsoft Azure Management whose "
    'session control "Sign-in frequency" is within the limit.',
    thresholds=("sign_in_frequency_max_hours",),
)
def ca_sign_in_frequency(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    if facts.errors_for([CONDITIONAL_ACCESS_POLICY]):
        return  # the engine reports the collection error (e.g. Policy.Read.All missing)
    limit = thresholds.sign_in_frequency_max_hours
    docs = list(facts.of(CONDITIONAL_ACCESS_POLICY))
    good: list[tuple[Evidence, str, str]] = []
    near_ja: list[str] = []
    near_en: list[str] = []
    for ev in docs:
        p = ev.content
        conditions = p.get("conditions") if isinstance(p.get("conditions"), dict) else {}
        users = conditions.get("users") if isinstance(conditions.get("users"), dict) else {}
        apps = conditions.get("applications") if isinstance(conditions.get("applications"), dict) else {}
        included = _low(apps.get("includeApplications"))
        targets = (
            "all" in _low(users.get("includeUsers"))
            and not users.get("excludeRoles")
            and ("all" in included or AZURE_MANAGEMENT_APP in included)
            and AZURE_MANAGEMENT_APP not in _low(apps.get("excludeApplications"))
            and not _narrowed(conditions)
        )
        hours, shown_ja, shown_en = _frequency_hours(p)
        if not targets or hours is None:
            continue
        name = str(p.get("displayName") or p.get("id") or ev.resource_id)
        excluded = len(users.get("excludeUsers") or []) + len(users.get("excludeGroups") or [])
        label_ja = f"「{name}」（{shown_ja}{f'、除外 {excluded} 件' if excluded else ''}）"
        label_en = f"'{name}' ({shown_en}{f', excludes {excluded} user(s)/group(s)' if excluded else ''})"
        if str(p.get("state", "")) != "enabled":
            near_ja.append(f"{label_ja} は state {p.get('state')}")
            near_en.append(f"{label_en} is {p.get('state')}")
        elif hours > limit:
            near_ja.append(f"{label_ja} は {limit} 時間を超える")
            near_en.append(f"{label_en} allows more than {limit} hours")
        else:
            good.append((ev, label_ja, label_en))
    if good:
        ev, label_ja, label_en = good[0]
        yield passed(
            TENANT,
            f"条件付きアクセスポリシー{label_ja}により、Azure 管理へのサインインは {limit} 時間以内に再認証が"
            "要求されます。",
            f"Conditional Access policy {label_en} makes Azure management sign-ins re-authenticate within {limit} "
            "hours.",
            ev,
        )
        return
    detail_ja = f"（{'、'.join(near_ja)}）" if near_ja else ""
    detail_en = f" ({'; '.join(near_en)})" if near_en else ""
    yield failed(
        TENANT,
        f"全ユーザーの Azure 管理へのサインインに {limit} 時間以内の再認証を要求する有効な条件付きアクセスポリシーが"
        f"ありません{detail_ja}。Entra の既定では最長 90 日のセッションが継続します。",
        f"No enabled Conditional Access policy makes every user's Azure management sign-ins re-authenticate within "
        f"{limit} hours{detail_en}; by Entra's default a session lasts up to 90 days.",
        docs,
    )
