"""Rules of the passwords, lockout and MFA checks, on Graph documents built directly."""

from datetime import UTC, datetime

from controls.checks import passwords as pw
from controls.model import CollectionError, Evidence, FactSet, Status, Thresholds

AT = datetime(2026, 12, 1, tzinfo=UTC)


def ev(kind: str, content: dict, rid: str = "x") -> Evidence:
    return Evidence(kind, "entra.policies", "tenant", rid, "v1.0", None, AT, content)


def run(fn, *docs: Evidence, errors=(), **th) -> dict:
    return {o.resource_id: o for o in fn(FactSet(list(docs), list(errors)), Thresholds(**th))}


def domain(days, auth="Managed"):
    return ev(pw.DOMAIN, {"id": "c.example", "isVerified": True, "authenticationType": auth,
                          "passwordValidityPeriodInDays": days})  # fmt: skip


def settings(**values):
    return ev(pw.DIRECTORY_SETTING, {"templateId": pw.PASSWORD_RULE_TEMPLATE,
                                     "values": [{"name": k, "value": v} for k, v in values.items()]})  # fmt: skip


def ca(state="enabled", users=None, apps=("All",), controls=("mfa",), operator="OR", **conditions):
    return ev(pw.CONDITIONAL_ACCESS_POLICY, {
        "id": "p", "displayName": "P", "state": state,
        "conditions": {"clientAppTypes": ["all"], "applications": {"includeApplications": list(apps)},
                       "users": users or {"includeUsers": ["All"]}, **conditions},
        "grantControls": {"operator": operator, "builtInControls": list(controls)}})  # fmt: skip


DEFAULTS_OFF = ev(pw.SECURITY_DEFAULTS, {"isEnabled": False})
DEFAULTS_ON = ev(pw.SECURITY_DEFAULTS, {"isEnabled": True})


def test_expiry_within_limit_unset_default_and_never():
    assert run(pw.password_expiry_policy, domain(60))["domains/c.example"].status == Status.PASS
    assert run(pw.password_expiry_policy, domain(None))["domains/c.example"].status == Status.PASS  # 90 default
    never = run(pw.password_expiry_policy, domain(2147483647), DEFAULTS_OFF)["domains/c.example"]
    assert never.status == Status.FAIL and "never" in never.reason_en
    assert run(pw.password_expiry_policy, domain(None), DEFAULTS_OFF, password_max_age_days=60)[
        "domains/c.example"
    ].status == (Status.FAIL)


def test_never_expiring_passes_only_with_unconditional_mfa_for_everyone():
    d = domain(2147483647)
    assert run(pw.password_expiry_policy, d, DEFAULTS_ON)["domains/c.example"].status == Status.PASS
    assert run(pw.password_expiry_policy, d, DEFAULTS_OFF, ca())["domains/c.example"].status == Status.PASS
    weak_policies = [
        ca(state="enabledForReportingButNotEnforced"),
        ca(controls=("mfa", "compliantDevice")),
        ca(locations={"includeLocations": ["All"]}),
        ca(apps=(pw.AZURE_MANAGEMENT_APP,)),
    ]
    for weak in weak_policies:
        assert run(pw.password_expiry_policy, d, DEFAULTS_OFF, weak)["domains/c.example"].status == Status.FAIL
    strict = run(pw.password_expiry_policy, d, ca(), password_expiry_mfa_alternative=False)
    assert strict["domains/c.example"].status == Status.FAIL
    # Policies unreadable: cannot decide.
    denied = CollectionError(pw.CONDITIONAL_ACCESS_POLICY, "entra.policies", "tenant", "Authorization_RequestDenied",
                             "no", 403, None, AT)  # fmt: skip
    assert run(pw.password_expiry_policy, d, errors=[denied])["domains/c.example"].status == Status.ERROR


def test_federated_is_error_unreadable_is_error_unverified_not_judged():
    assert run(pw.password_expiry_policy, domain(30, "Federated"))["domains/c.example"].status == Status.ERROR
    assert run(pw.password_expiry_policy, domain("90"))["domains/c.example"].status == Status.ERROR
    unverified = ev(pw.DOMAIN, {"id": "u.example", "isVerified": False, "authenticationType": "Managed"})
    assert run(pw.password_expiry_policy, unverified) == {}


def test_banned_list():
    assert run(pw.banned_password_protection)["tenant"].status == Status.FAIL  # defaults: no custom list
    on = settings(EnableBannedPasswordCheck="True", BannedPasswordList="clinic\tkarte")
    assert "2 word(s)" in run(pw.banned_password_protection, on)["tenant"].reason_en
    off = settings(EnableBannedPasswordCheck="False", BannedPasswordList="clinic")
    assert run(pw.banned_password_protection, off)["tenant"].status == Status.FAIL
    empty = settings(EnableBannedPasswordCheck="True", BannedPasswordList="")
    assert run(pw.banned_password_protection, empty)["tenant"].status == Status.FAIL
    err = CollectionError(pw.DIRECTORY_SETTING, "entra.policies", "tenant", "x", "y", 500, None, AT)
    assert run(pw.banned_password_protection, errors=[err]) == {}  # the engine reports it


def test_lockout():
    assert run(pw.smart_lockout_configured)["tenant"].status == Status.PASS  # defaults 10 / 60
    assert run(pw.smart_lockout_configured, settings(LockoutThreshold="50"))["tenant"].status == Status.FAIL
    short = run(pw.smart_lockout_configured, settings(LockoutDurationInSeconds="30"))["tenant"]
    assert short.status == Status.FAIL and "LockoutDurationInSeconds 30" in short.reason_en
    assert run(pw.smart_lockout_configured, settings(LockoutThreshold="ten"))["tenant"].status == Status.ERROR
    assert run(pw.smart_lockout_configured, settings(LockoutThreshold="5"), lockout_threshold_max=3)[
        "tenant"
    ].status == (Status.FAIL)


def test_admin_mfa():
    assert run(pw.admin_mfa_required, DEFAULTS_ON)["tenant"].status == Status.PASS
    assert run(pw.admin_mfa_required, DEFAULTS_OFF, ca())["tenant"].status == Status.PASS
    roles_only = ca(users={"includeRoles": list(pw.ADMIN_ROLES)})
    gap = run(pw.admin_mfa_required, DEFAULTS_OFF, roles_only)["tenant"]
    assert gap.status == Status.FAIL and "Azure management" in gap.reason_en and "admin role" not in gap.reason_en
    azure = ca(apps=(pw.AZURE_MANAGEMENT_APP,))
    both = run(pw.admin_mfa_required, DEFAULTS_OFF, roles_only, azure)["tenant"]
    assert both.status == Status.PASS
    excluded = ca(users={"includeUsers": ["All"], "excludeRoles": ["62e90394-69f5-4237-9190-012177145e10"]})
    assert "Global Administrator" in run(pw.admin_mfa_required, DEFAULTS_OFF, excluded)["tenant"].reason_en
    assert run(pw.admin_mfa_required, ca())["tenant"].status == Status.ERROR  # security defaults not collected


def test_users_whose_password_never_expires():
    def user(uid, policies, enabled=True):
        return ev(pw.USER_PASSWORD_POLICY, {"id": uid, "userPrincipalName": f"{uid}@c.example",
                                            "accountEnabled": enabled, "passwordPolicies": policies})  # fmt: skip

    users = [user("u1", "DisablePasswordExpiration"), user("u2", None), user("u3", "DisablePasswordExpiration", False)]
    excluding = ca(users={"includeUsers": ["All"], "excludeUsers": ["u1"]})
    found = run(pw.password_expiry_policy, *users, DEFAULTS_OFF, excluding)
    assert {k: o.status for k, o in found.items()} == {"users/u1": Status.FAIL}
    covered = run(pw.password_expiry_policy, *users, DEFAULTS_OFF, ca())
    assert covered["users/u1"].status == Status.PASS
    assert run(pw.password_expiry_policy, *users, DEFAULTS_ON)["users/u1"].status == Status.PASS
    assert run(pw.password_expiry_policy, *users)["users/u1"].status == Status.ERROR  # policies not collected
    strict = run(pw.password_expiry_policy, *users, DEFAULTS_ON, password_expiry_mfa_alternative=False)
    assert strict["users/u1"].status == Status.FAIL


def test_sign_in_frequency():
    def freq(state="enabled", value=8, unit="hours", interval="timeBased", apps=(pw.AZURE_MANAGEMENT_APP,), **kw):
        doc = ca(state=state, apps=apps, controls=(), **kw)
        session = {"signInFrequency": {"isEnabled": True, "value": value, "type": unit, "frequencyInterval": interval}}
        return ev(pw.CONDITIONAL_ACCESS_POLICY, {**doc.content, "sessionControls": session})

    assert run(pw.ca_sign_in_frequency, freq())["tenant"].status == Status.PASS
    assert run(pw.ca_sign_in_frequency, freq(value=None, unit=None, interval="everyTime"))["tenant"].status == (
        Status.PASS
    )
    long = run(pw.ca_sign_in_frequency, freq(value=1, unit="days"))["tenant"]
    assert long.status == Status.FAIL and "allows more than 12 hours" in long.reason_en
    assert run(pw.ca_sign_in_frequency, freq(value=1, unit="days"), sign_in_frequency_max_hours=24)[
        "tenant"
    ].status == (Status.PASS)
    report_only = run(pw.ca_sign_in_frequency, freq(state="enabledForReportingButNotEnforced"))["tenant"]
    assert report_only.status == Status.FAIL and "enabledForReportingButNotEnforced" in report_only.reason_en
    other_app = run(pw.ca_sign_in_frequency, freq(apps=("00000003-0000-0ff1-ce00-000000000000",)))["tenant"]
    assert other_app.status == Status.FAIL
    assert run(pw.ca_sign_in_frequency, ca())["tenant"].status == Status.FAIL  # MFA only, no session control
    assert run(pw.ca_sign_in_frequency)["tenant"].status == Status.FAIL  # no policies: Entra's 90-day default
