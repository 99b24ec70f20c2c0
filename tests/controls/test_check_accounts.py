"""Privileged role holders: enabled accounts, no guests, and the number of Global Administrators."""

from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactKind, FactSet, Status, Thresholds
from tests.controls.test_check_roles import DEFINITIONS, OWNER, READER, SUB, assignment

AT = datetime(2026, 11, 22, tzinfo=UTC)
GA = "62e90394-69f5-4237-9190-012177145e10"
GA_ID = "5ceab56a-6280-402f-89c6-2afbf30042ef"
READER_ROLE_ID = "3660295a-9bab-4722-a9b9-f20f48b1b3ef"


def user(oid: str, name: str, *, enabled: object = True, kind: object = "Member") -> Evidence:
    doc = {"id": oid, "displayName": name, "userPrincipalName": f"{name}@aozora.example", "userType": kind,
           "accountEnabled": enabled, "createdDateTime": "2024-03-28T02:11:09Z"}  # fmt: skip
    return Evidence(FactKind.DIRECTORY_PRINCIPAL, "test", "tenant", f"users/{oid}", "v1.0", None, AT, doc)


def sp(oid: str, name: str, *, enabled: object = True) -> Evidence:
    doc = {
        "id": oid,
        "displayName": name,
        "appId": oid,
        "servicePrincipalType": "Application",
        "accountEnabled": enabled,
    }
    return Evidence(FactKind.DIRECTORY_PRINCIPAL, "test", "tenant", f"servicePrincipals/{oid}", "v1.0", None, AT, doc)


def group(oid: str, name: str) -> Evidence:
    doc = {"id": oid, "displayName": name, "securityEnabled": True, "mailEnabled": False}
    return Evidence(FactKind.DIRECTORY_PRINCIPAL, "test", "tenant", f"groups/{oid}", "v1.0", None, AT, doc)


def role(oid: str, name: str, template: str) -> Evidence:
    doc = {"id": oid, "displayName": name, "roleTemplateId": template}
    return Evidence("directory_role", "test", "tenant", f"directoryRoles/{oid}", "v1.0", None, AT, doc)


def members(path: str, *ids: str, page: int = 1) -> Evidence:
    kind = "directory_role_members" if path.startswith("directoryRoles") else "group_members"
    doc = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects(id)",
           "value": [{"@odata.type": "#microsoft.graph.user", "id": i} for i in ids]}  # fmt: skip
    rid = f"{path}/members" + (f"#page{page}" if page > 1 else "")
    return Evidence(kind, "test", "tenant", rid, "v1.0", None, AT, doc)


def run(check: str, *evidence: Evidence, errors=(), thresholds=None) -> dict:
    findings = CHECKS_BY_ID[check].evaluate(
        FactSet([*DEFINITIONS, *evidence], list(errors)), thresholds or Thresholds()
    )
    return {f.resource_id.rsplit("/", 1)[-1][:8]: f for f in findings}


SATO, ITO, VENDOR, BG = "a1", "a2", "a3", "a4"
PEOPLE = [user(SATO, "sato"), user(ITO, "ito", enabled=False), user(VENDOR, "yamamoto", kind="Guest"), user(BG, "bg")]
ADMINS = "g1"


def test_disabled_user_holding_owner_fails_enabled_ones_pass():
    a = [assignment(1, OWNER, SATO), assignment(2, OWNER, ITO, scope=f"{SUB}/resourceGroups/rg-data"),
         assignment(3, READER, ITO)]  # fmt: skip
    f = run("role-holders-enabled", *a, *PEOPLE)
    assert f["00000001"].status == Status.PASS
    assert f["00000002"].status == Status.FAIL
    assert "ito@aozora.example" in f["00000002"].reason_en and "accountEnabled = False" in f["00000002"].reason_en
    assert "無効化されたアカウント" in f["00000002"].reason_ja
    assert "00000003" not in f  # Reader is not privileged
    assert PEOPLE[1].sha256 in f["00000002"].evidence


def test_group_expanded_nested_and_disabled_member_fails():
    inner = "g2"
    ev = [group(ADMINS, "sg-admins"), group(inner, "sg-inner"), members(f"groups/{ADMINS}", SATO, inner),
          members(f"groups/{inner}", ITO), assignment(1, OWNER, ADMINS, ptype="Group")]  # fmt: skip
    f = run("role-holders-enabled", *ev, *PEOPLE)["00000001"]
    assert f.status == Status.FAIL
    assert "via sg-admins > sg-inner" in f.reason_en


def test_group_members_not_collected_is_error_not_pass():
    ev = [group(ADMINS, "sg-admins"), assignment(1, OWNER, ADMINS, ptype="Group")]
    f = run("role-holders-enabled", *ev, *PEOPLE)["00000001"]
    assert f.status == Status.ERROR and "group sg-admins not collected" in f.reason_en


def test_unreadable_account_enabled_and_unknown_principal_are_errors():
    f = run(
        "role-holders-enabled", assignment(1, OWNER, "x9"), assignment(2, OWNER, "x8"), user("x9", "n", enabled=None)
    )
    assert f["00000001"].status == Status.ERROR and "accountEnabled None" in f["00000001"].reason_en
    assert "00000002" not in f  # a deleted principal: privileged-role-principal-exists fails it
    err = CollectionError("directory_principal", "entra.principals", "tenant", "Authorization_RequestDenied",
                          "Insufficient privileges", 403, None, AT)  # fmt: skip
    f = run("role-holders-enabled", assignment(2, OWNER, "x8"), errors=[err])
    assert f["00000002"].status == Status.ERROR and "directory not collected" in f["00000002"].reason_en


def test_disabled_service_principal_in_directory_role_fails():
    ev = [
        role(GA_ID, "Global Administrator", GA),
        members(f"directoryRoles/{GA_ID}", SATO, "s1"),
        sp("s1", "old-app", enabled=False),
    ]
    f = run("role-holders-enabled", *ev, *PEOPLE)[GA_ID[:8]]
    assert f.status == Status.FAIL and "old-app" in f.reason_en and "Global Administrator at Entra ID" in f.reason_en


def test_unprivileged_directory_role_not_judged_and_missing_members_error():
    ev = [
        role(READER_ROLE_ID, "Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451"),
        role(GA_ID, "Global Administrator", GA),
    ]
    f = run("role-holders-enabled", *ev, *PEOPLE)
    assert READER_ROLE_ID[:8] not in f
    assert (
        f[GA_ID[:8]].status == Status.ERROR
        and "members of Global Administrator not collected" in f[GA_ID[:8]].reason_en
    )


def test_guest_in_global_administrator_fails_members_pass():
    ev = [role(GA_ID, "Global Administrator", GA), members(f"directoryRoles/{GA_ID}", SATO, BG, page=1),
          members(f"directoryRoles/{GA_ID}", VENDOR, page=2), assignment(1, OWNER, SATO), assignment(2, OWNER, "s1"),
          sp("s1", "deploy")]  # fmt: skip
    f = run("privileged-roles-no-guests", *ev, *PEOPLE)
    assert f[GA_ID[:8]].status == Status.FAIL
    assert "yamamoto@aozora.example" in f[GA_ID[:8]].reason_en and "ゲストユーザー" in f[GA_ID[:8]].reason_ja
    assert f["00000001"].status == Status.PASS
    assert f["00000002"].status == Status.PASS  # a service principal is no guest


def test_unreadable_user_type_is_error():
    f = run("privileged-roles-no-guests", assignment(1, OWNER, "x9"), user("x9", "n", kind=None))["00000001"]
    assert f.status == Status.ERROR and "userType None" in f.reason_en


def test_global_admin_count_range():
    def ga(*ids: str, **kw):
        ev = [role(GA_ID, "Global Administrator", GA), members(f"directoryRoles/{GA_ID}", *ids)]
        return run("global-admin-count", *ev, *PEOPLE, *[user(f"u{i}", f"u{i}") for i in range(9)], **kw)[GA_ID[:8]]

    assert ga(SATO, BG).status == Status.PASS
    assert "2 holders" in ga(SATO, BG).reason_en
    one = ga(SATO)
    assert one.status == Status.FAIL and "1 holders" in one.reason_en and "2 to 4 required" in one.reason_en
    assert ga(*[f"u{i}" for i in range(5)]).status == Status.FAIL
    assert ga(*[f"u{i}" for i in range(5)], thresholds=Thresholds(global_admin_max=5)).status == Status.PASS


def test_global_admin_counts_group_members_once_and_errors_without_membership():
    ev = [role(GA_ID, "Global Administrator", GA), members(f"directoryRoles/{GA_ID}", SATO, ADMINS),
          group(ADMINS, "sg-admins")]  # fmt: skip
    assert run("global-admin-count", *ev, *PEOPLE)[GA_ID[:8]].status == Status.ERROR
    f = run("global-admin-count", *ev, members(f"groups/{ADMINS}", SATO, BG), *PEOPLE)[GA_ID[:8]]
    assert f.status == Status.PASS and "2 holders" in f.reason_en
    assert run("global-admin-count", role(GA_ID, "Global Administrator", GA), *PEOPLE)[GA_ID[:8]].status == Status.ERROR


def test_global_admin_missing_from_roles_is_error_and_collection_error_reported():
    f = run("global-admin-count", role(READER_ROLE_ID, "Global Reader", "f2ef"))
    assert f["director"].status == Status.ERROR
    err = CollectionError("directory_role", "entra.directory_roles", "tenant", "Authorization_RequestDenied",
                          "Insufficient privileges", 403, None, AT)  # fmt: skip
    # Nothing judged without the roles (never a pass); the engine reports the collection error itself.
    assert run("global-admin-count", errors=[err]) == {}


def eligible(iid: str, principal: str, template: str, end: str | None = None, scope: str = "/") -> Evidence:
    doc = {"id": iid, "principalId": principal, "roleDefinitionId": template, "directoryScopeId": scope,
           "appScopeId": None, "startDateTime": "2026-01-05T00:00:00Z", "endDateTime": end,
           "memberType": "Direct"}  # fmt: skip
    rid = f"roleManagement/directory/roleEligibilityScheduleInstances/{iid}"
    return Evidence("directory_role_eligibility", "test", "tenant", rid, "v1.0", None, AT, doc)


ELIGIBILITY_REFUSED = CollectionError(
    "directory_role_eligibility", "entra.role_eligibility", "tenant", "UnknownError",
    '{"errorCode":"PermissionScopeNotGranted"} (HTTP 403, GET /roleManagement/directory/'
    "roleEligibilityScheduleInstances) (needs Microsoft Graph application permission "
    "RoleEligibilitySchedule.Read.Directory)", 403, None, AT,
)  # fmt: skip
NO_P2 = CollectionError(
    "directory_role_eligibility", "entra.role_eligibility", "tenant", "AadPremiumLicenseRequired",
    "The tenant needs to have Microsoft Entra ID P2 or Microsoft Entra ID Governance license. (HTTP 400, GET "
    "/roleManagement/directory/roleEligibilityScheduleInstances) (needs Microsoft Entra ID P2)", 400, None, AT,
)  # fmt: skip


def test_global_admin_counts_eligible_holders_once_beside_active_ones():
    ev = [role(GA_ID, "Global Administrator", GA), members(f"directoryRoles/{GA_ID}", SATO, BG),
          eligible("e1", SATO, GA), eligible("e2", "u1", GA), eligible("e3", "u2", GA)]  # fmt: skip
    people = [*PEOPLE, user("u1", "u1"), user("u2", "u2")]
    f = run("global-admin-count", *ev, *people)[GA_ID[:8]]
    # sato is active and eligible: counted once, as active; u1 and u2 only eligible.
    assert (
        f.status == Status.PASS and "4 holders (bg@aozora.example, sato@aozora.example; PIM-eligible 2" in f.reason_en
    )
    assert "PIM の資格のある割り当て 2 名" in f.reason_ja
    over = run("global-admin-count", *ev, eligible("e4", "u3", GA), *people, user("u3", "u3"))[GA_ID[:8]]
    assert over.status == Status.FAIL and "5 holders" in over.reason_en


def test_eligibility_not_collected_leaves_directory_roles_unknown_never_pass():
    ev = [role(GA_ID, "Global Administrator", GA), members(f"directoryRoles/{GA_ID}", SATO, BG)]
    f = run("global-admin-count", *ev, *PEOPLE, errors=[ELIGIBILITY_REFUSED])[GA_ID[:8]]
    assert f.status == Status.ERROR and "RoleEligibilitySchedule.Read.Directory" in f.reason_en, f.reason_en
    assert "the PIM-eligible holders of Global Administrator could not be collected" in f.reason_en
    enabled = run("role-holders-enabled", *ev, assignment(1, OWNER, SATO), *PEOPLE, errors=[ELIGIBILITY_REFUSED])
    assert enabled[GA_ID[:8]].status == Status.ERROR
    assert enabled["00000001"].status == Status.PASS  # Azure roles are judged as before
    # Known holders over the limit fail whatever the eligible ones are.
    many = [user(f"u{i}", f"u{i}") for i in range(5)]
    ev = [role(GA_ID, "Global Administrator", GA), members(f"directoryRoles/{GA_ID}", *[f"u{i}" for i in range(5)])]
    assert run("global-admin-count", *ev, *many, errors=[ELIGIBILITY_REFUSED])[GA_ID[:8]].status == Status.FAIL


def test_a_tenant_without_p2_has_no_eligible_holders_so_active_members_are_judged():
    ev = [role(GA_ID, "Global Administrator", GA), members(f"directoryRoles/{GA_ID}", SATO, BG)]
    f = run("global-admin-count", *ev, *PEOPLE, errors=[NO_P2])[GA_ID[:8]]
    assert f.status == Status.PASS and "2 holders" in f.reason_en, f.reason_en


def test_guest_eligible_for_a_role_not_activated_fails_under_the_builtin_name():
    pra = "e8611ab8-c189-46e8-94e1-60213ab1f814"
    f = run("privileged-roles-no-guests", eligible("e1", VENDOR, pra, "2027-01-01T00:00:00Z"), *PEOPLE)
    [finding] = f.values()
    assert finding.resource_id == f"roleManagement/directory/roleDefinitions/{pra}"
    assert finding.status == Status.FAIL and "Privileged Role Administrator" in finding.reason_en
    assert "yamamoto@aozora.example (PIM-eligible)" in finding.reason_en
    # An eligible group is expanded: its disabled member fails role-holders-enabled.
    ev = [eligible("e2", ADMINS, GA), group(ADMINS, "sg-admins"), members(f"groups/{ADMINS}", ITO)]
    [held] = run("role-holders-enabled", *ev, *PEOPLE).values()
    assert held.status == Status.FAIL and "ito@aozora.example (via sg-admins) (PIM-eligible)" in held.reason_en
    # Eligible within an administrative unit only: still a holder, the scope named.
    unit = "/administrativeUnits/1b7a4c2e-0000-4000-8000-000000000001"
    [scoped] = run("role-holders-enabled", eligible("e3", ITO, GA, scope=unit), *PEOPLE).values()
    assert scoped.status == Status.FAIL and f"(PIM-eligible at {unit})" in scoped.reason_en
