"""stale-accounts: users holding a role who have not signed in for longer than stale_account_days."""

from datetime import timedelta

from controls.access import cause
from controls.checks import CHECKS_BY_ID
from controls.checks.stale_accounts import last_sign_in
from controls.model import CollectionError, Evidence, FactSet, Status, Thresholds
from tests.controls.test_check_accounts import AT, GA, GA_ID, members, role, user
from tests.controls.test_check_roles import DEFINITIONS, OWNER, READER, assignment

NEVER = "0001-01-01T00:00:00Z"


def ago(days: int) -> str:
    return (AT - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def activity(success: str | None = None, interactive: str = NEVER, other: str = NEVER) -> dict:
    return {"lastSignInDateTime": interactive, "lastSignInRequestId": "", "lastNonInteractiveSignInDateTime": other,
            "lastNonInteractiveSignInRequestId": "", "lastSuccessfulSignInDateTime": success,
            "lastSuccessfulSignInRequestId": ""}  # fmt: skip


def sign_in(oid: str, signin: object, *, created: object = "2024-03-28T02:11:09Z", enabled: bool = True) -> Evidence:
    doc = {"id": oid, "userPrincipalName": f"{oid}@aozora.example", "accountEnabled": enabled, "userType": "Member",
           "createdDateTime": created, "signInActivity": signin}  # fmt: skip
    return Evidence("entra_user_sign_in", "test", "tenant", f"users/{oid}", "v1.0", None, AT, doc)


def run(*evidence: Evidence, errors=(), thresholds=None) -> dict:
    facts = FactSet([*DEFINITIONS, *evidence], list(errors))
    return {f.resource_id: f for f in CHECKS_BY_ID["stale-accounts"].evaluate(facts, thresholds or Thresholds())}


def holders(*oids: str) -> list[Evidence]:
    """Each user holds Owner (or, for the last, Reader: any role counts), with its directory document."""
    out: list[Evidence] = []
    for n, oid in enumerate(oids, 1):
        out += [user(oid, oid), assignment(n, OWNER if n < len(oids) else READER, oid)]
    return out


def test_recent_sign_in_passes_old_one_fails_naming_days_and_roles():
    f = run(*holders("u1", "u2"), sign_in("u1", activity(ago(10))), sign_in("u2", activity(ago(120))))
    assert f["users/u1"].status == Status.PASS and "last signed in 10 days ago" in f["users/u1"].reason_en
    old = f["users/u2"]
    assert old.status == Status.FAIL and "last signed in 120 days ago" in old.reason_en, old.reason_en
    assert "more than 90 days" in old.reason_en and "Reader @ /subscriptions/" in old.reason_en
    assert "120 日前" in old.reason_ja
    limit = run(*holders("u2"), sign_in("u2", activity(ago(120))), thresholds=Thresholds(stale_account_days=180))
    assert limit["users/u2"].status == Status.PASS and "within 180 days" in limit["users/u2"].reason_en


def test_attempts_count_where_no_successful_sign_in_is_recorded():
    # Before December 2023 Graph recorded no lastSuccessfulSignInDateTime: the later attempt counts.
    f = run(*holders("u1"), sign_in("u1", activity(None, interactive=ago(200), other=ago(30))))
    assert f["users/u1"].status == Status.PASS and "30 days ago" in f["users/u1"].reason_en
    assert last_sign_in({"signInActivity": activity(ago(5), interactive=ago(1))}) == AT - timedelta(days=5)


def test_never_signed_in_fails_once_older_than_the_limit():
    f = run(*holders("u1", "u2", "u3"), sign_in("u1", None), sign_in("u2", activity(NEVER), created=ago(20)),
            sign_in("u3", activity(NEVER), created="soon"))  # fmt: skip
    assert f["users/u1"].status == Status.FAIL and "has never signed in and was created" in f["users/u1"].reason_en
    assert f["users/u2"].status == Status.PASS and "created 20 days ago" in f["users/u2"].reason_en
    assert f["users/u3"].status == Status.ERROR and "createdDateTime 'soon'" in f["users/u3"].reason_en


def test_unreadable_or_missing_sign_in_is_error_disabled_and_service_principals_not_judged():
    f = run(*holders("u1", "u2", "u3"), sign_in("u1", {"lastSuccessfulSignInDateTime": "yesterday"}),
            sign_in("u3", activity(ago(400)), enabled=False))  # fmt: skip
    assert f["users/u1"].status == Status.ERROR and "'yesterday' is not a timestamp" in f["users/u1"].reason_en
    assert f["users/u2"].status == Status.ERROR and "not in the sign-in activity listing" in f["users/u2"].reason_en
    assert "users/u3" not in f  # disabled: role-holders-enabled judges it


def test_directory_role_members_are_holders_too():
    ev = [role(GA_ID, "Global Administrator", GA), members(f"directoryRoles/{GA_ID}", "u1"), user("u1", "u1")]
    f = run(*ev, sign_in("u1", activity(ago(95))))
    assert f["users/u1"].status == Status.FAIL and "Global Administrator @ Entra ID" in f["users/u1"].reason_en
    assert run(user("u9", "u9"), sign_in("u9", None)) == {}  # no role, nothing to judge


def test_refused_sign_in_read_is_left_to_the_engine_and_names_the_permission():
    err = CollectionError("entra_user_sign_in", "entra.sign_in_activity", "tenant",
                          "Authentication_MSGraphPermissionMissing", "Calling principal does not have required "
                          "MSGraph permissions AuditLog.Read.All (HTTP 403, GET /users) (needs Microsoft Graph "
                          "application permission AuditLog.Read.All)", None, None, AT)  # fmt: skip
    assert run(*holders("u1"), errors=[err]) == {}
    ja, en = cause(err)
    assert "lacks the Microsoft Graph application permission AuditLog.Read.All" in en and "AuditLog.Read.All" in ja
    licence = CollectionError("entra_user_sign_in", "entra.sign_in_activity", "tenant",
                              "Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Neither tenant is B2C or "
                              "tenant doesn't have premium license (needs Microsoft Entra ID P1 or P2)", None, None,
                              AT)  # fmt: skip
    assert "needs Microsoft Entra ID P1 or P2" in cause(licence)[1]
