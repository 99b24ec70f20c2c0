"""Privileged role holders (No 142, 144, 145), collected through the sandbox by the real SDK and Graph.

Directory roles are listed with `GET /directoryRoles` and their holders with `/directoryRoles/{id}/members`;
groups holding roles are expanded through `/groups/{id}/members`.
"""

from __future__ import annotations

from typing import Any

from controls.model import Status
from tests.estates import DEV, PROD, RG, estate
from tests.pipeline.test_e2e_nsg import assert_finding
from tests.pipeline.test_e2e_roles import (
    ADMINS,
    BREAK_GLASS,
    BUILT_IN,
    CONTRIBUTOR,
    OWNER,
    SATO,
    SUZUKI,
    USER_ACCESS_ADMIN,
    _guid,
    assignment,
    definition,
    group,
    service_principal,
    signed_in,
    user,
)

ENABLED = "role-holders-enabled"
GUESTS = "privileged-roles-no-guests"
GA_COUNT = "global-admin-count"

ITO = "0b9d3b61-2f4e-4c0a-9f61-7d3c2a1b0e58"  # left the company: disabled
VENDOR = "68595f9e-5864-4a78-93e5-04730311d3af"  # maintenance vendor, B2B guest
DEPLOY_SP = "7a8214db-a434-4ad0-9c74-17dec277ef3b"
GA_ID = "5ceab56a-6280-402f-89c6-2afbf30042ef"
GA_TEMPLATE = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN_ID = "cc408e0c-b29c-4daa-8743-70bc7fd38b44"
GLOBAL_READER_ID = "3660295a-9bab-4722-a9b9-f20f48b1b3ef"


def _user(oid: str, upn: str, name: str, **fields: Any) -> dict[str, Any]:
    return {**user(oid, upn, name), "createdDateTime": "2024-03-28T02:11:09Z", **fields}


def _role(oid: str, name: str, template: str, members: list[str]) -> dict[str, Any]:
    return {"id": oid, "deletedDateTime": None, "description": name, "displayName": name, "roleTemplateId": template,
            "members": members}  # fmt: skip


DIRECTORY = {
    "users": [
        _user(SATO, "kenichi.sato@clinic.example", "佐藤 健一 (Kenichi Sato)"),
        _user(SUZUKI, "misaki.suzuki@clinic.example", "鈴木 美咲 (Misaki Suzuki)"),
        _user(BREAK_GLASS, "breakglass01@clinic.example", "Break Glass 01"),
        _user(ITO, "makoto.ito@clinic.example", "伊藤 誠 (Makoto Ito)", accountEnabled=False),
        _user(VENDOR, "t.yamamoto_vendor.example#EXT#@clinic.example", "山本 工 (vendor)", userType="Guest"),
    ],
    "groups": [{**group(ADMINS, "sg-platform-admins"), "members": [SATO, SUZUKI]}],
    "servicePrincipals": [service_principal(DEPLOY_SP, "sp-github-deploy")],
    "directoryRoles": [
        _role(GA_ID, "Global Administrator", "62e90394-69f5-4237-9190-012177145e10", [BREAK_GLASS, SATO, VENDOR]),
        _role(USER_ADMIN_ID, "User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1", [ADMINS]),
        _role(GLOBAL_READER_ID, "Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451", [VENDOR]),
    ],
}
ASSIGNMENTS = [
    assignment(OWNER, BREAK_GLASS, "User"),
    assignment(OWNER, ITO, "User", rg=RG, note="移行作業 / migration work"),
    assignment(CONTRIBUTOR, ADMINS, "Group"),
    assignment(CONTRIBUTOR, DEPLOY_SP, "ServicePrincipal", DEV),
]


PIM = "privileged-assignments-eligible"


def schedule_instance(a: dict[str, Any], kind: str, end: str | None) -> dict[str, Any]:
    """The Role Assignment Schedule Instance (2020-10-01) of an active role assignment."""
    p, sub = a["properties"], a["id"].split("/providers/")[0].split("/resourceGroups/")[0]
    return {"id": f"{sub}/providers/Microsoft.Authorization/roleAssignmentScheduleInstances/{a['name']}",
            "name": a["name"], "type": "Microsoft.Authorization/RoleAssignmentScheduleInstances",
            "properties": {"originRoleAssignmentId": a["id"], "assignmentType": kind, "scope": p["scope"],
                           "roleDefinitionId": p["roleDefinitionId"], "principalId": p["principalId"],
                           "principalType": p["principalType"], "status": "Provisioned", "memberType": "Direct",
                           "startDateTime": "2026-01-05T00:00:00Z", "endDateTime": end,
                           "createdOn": "2026-01-05T00:00:00Z"}}  # fmt: skip


def eligible(role: str, principal: str, subscription: str = PROD) -> dict[str, Any]:
    name = "9d1c0a3e-5b7f-4e21-8c64-2f0a1b3c5d7e"
    return {"id": f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleEligibilityScheduleInstances/"
            f"{name}", "name": name, "type": "Microsoft.Authorization/RoleEligibilityScheduleInstances",
            "properties": {"scope": f"/subscriptions/{subscription}", "principalId": principal, "principalType": "User",
                           "roleDefinitionId": f"/subscriptions/{subscription}/providers/Microsoft.Authorization/"
                           f"roleDefinitions/{role}", "status": "Provisioned", "memberType": "Direct",
                           "startDateTime": "2026-01-05T00:00:00Z", "endDateTime": None}}  # fmt: skip


MFA_APPROVAL = "pim-activation-requires-mfa-and-approval"


def pim_policy(role: str, subscription: str, *, approval: bool = True) -> dict[str, Any]:
    """A Role Management Policy Assignment (2020-10-01) at subscription scope, with the activation rules read."""
    name = f"{_guid('policy', role, subscription)}_{role}"
    sub = f"/subscriptions/{subscription}"
    target = {
        "caller": "EndUser",
        "operations": ["All"],
        "level": "Assignment",
        "targetObjects": None,
        "inheritableSettings": None,
        "enforcedSettings": None,
    }
    rules = [
        {
            "enabledRules": ["MultiFactorAuthentication", "Justification"],
            "id": "Enablement_EndUser_Assignment",
            "ruleType": "RoleManagementPolicyEnablementRule",
            "target": target,
        },
        {
            "isEnabled": False,
            "claimValue": "",
            "id": "AuthenticationContext_EndUser_Assignment",
            "ruleType": "RoleManagementPolicyAuthenticationContextRule",
            "target": target,
        },
        {
            "setting": {
                "isApprovalRequired": approval,
                "isApprovalRequiredForExtension": False,
                "isRequestorJustificationRequired": True,
                "approvalMode": "SingleStage",
                "approvalStages": [
                    {
                        "approvalStageTimeOutInDays": 1,
                        "isApproverJustificationRequired": True,
                        "escalationTimeInMinutes": 0,
                        "isEscalationEnabled": False,
                        "primaryApprovers": [
                            {"id": ADMINS, "description": "sg-platform-admins", "isBackup": False, "userType": "Group"}
                        ],
                        "escalationApprovers": None,
                    }
                ],
            },
            "id": "Approval_EndUser_Assignment",
            "ruleType": "RoleManagementPolicyApprovalRule",
            "target": target,
        },
        {
            "isExpirationRequired": True,
            "maximumDuration": "PT8H",
            "id": "Expiration_EndUser_Assignment",
            "ruleType": "RoleManagementPolicyExpirationRule",
            "target": target,
        },
    ]
    return {"id": f"{sub}/providers/Microsoft.Authorization/roleManagementPolicyAssignments/{name}", "name": name,
            "type": "Microsoft.Authorization/roleManagementPolicyAssignments",
            "properties": {"scope": sub, "roleDefinitionId": f"{sub}/providers/Microsoft.Authorization/"
                           f"roleDefinitions/{role}", "policyId": f"{sub}/providers/Microsoft.Authorization/"
                           f"roleManagementPolicies/{name.split('_')[0]}", "effectiveRules": rules}}  # fmt: skip


# Activating User Access Administrator on prod needs no approval; the rest need MFA and approval.
POLICIES = [pim_policy(OWNER, PROD), pim_policy(USER_ACCESS_ADMIN, PROD, approval=False),
            pim_policy(OWNER, DEV), pim_policy(USER_ACCESS_ADMIN, DEV)]  # fmt: skip

CLASSIC = "classic-administrators-absent"
# Classic Administrators - List (2015-07-01): prod still has a co-administrator; dev lists none.
CLASSIC_ADMINS = [
    {"id": f"/subscriptions/{PROD}/providers/Microsoft.Authorization/classicAdministrators/{name}", "name": name,
     "type": "Microsoft.Authorization/classicAdministrators", "properties": {"emailAddress": email, "role": role}}
    for name, email, role in (("classicadmin01", "it-billing@clinic.example", "AccountAdministrator"),
                              ("classicadmin02", "t.yamamoto@vendor.example", "CoAdministrator"))
]  # fmt: skip

# Every active assignment has its schedule instance: the emergency-access Owner is permanent, the others are not
# judged (Contributor; a resource-group scope; a service principal).
INSTANCES = [schedule_instance(a, "Assigned", None) for a in ASSIGNMENTS] + [eligible(OWNER, SATO)]


def accounts_estate(faults: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    definitions = [definition(g, s) for s in (PROD, DEV) for g in BUILT_IN]
    return estate(
        [*definitions, *ASSIGNMENTS, *INSTANCES, *POLICIES, *CLASSIC_ADMINS], directory=DIRECTORY, faults=faults
    )


def _role_id(oid: str) -> str:
    return f"directoryRoles/{oid}"


def test_disabled_owner_and_guest_global_admin_fail(judge):
    judged = judge(accounts_estate())
    owner_bg, owner_ito, contributors, deployer = ASSIGNMENTS

    assert_finding(judged, ENABLED, owner_ito["id"], Status.FAIL, "Owner", "makoto.ito@clinic.example",
                   "disabled account", "accountEnabled = False")  # fmt: skip
    assert_finding(judged, ENABLED, owner_bg["id"], Status.PASS, "breakglass01@clinic.example")
    # The group is expanded to its members through /groups/{id}/members.
    assert_finding(judged, ENABLED, contributors["id"], Status.PASS, "2 holders", "kenichi.sato", "misaki.suzuki")
    assert_finding(judged, ENABLED, deployer["id"], Status.PASS, "sp-github-deploy")
    assert_finding(judged, ENABLED, _role_id(GA_ID), Status.PASS, "Global Administrator at Entra ID", "3 holders")
    assert _role_id(GLOBAL_READER_ID).lower() not in judged.findings(ENABLED)  # not a privileged directory role

    guest = assert_finding(judged, GUESTS, _role_id(GA_ID), Status.FAIL, "Global Administrator", "a guest user",
                           "t.yamamoto_vendor.example#EXT#@clinic.example", "userType = 'Guest'")  # fmt: skip
    assert "ゲストユーザー" in guest.reason_ja
    assert_finding(judged, GUESTS, _role_id(USER_ADMIN_ID), Status.PASS, "2 holders", "kenichi.sato")
    assert_finding(judged, GUESTS, deployer["id"], Status.PASS)

    assert_finding(judged, GA_COUNT, _role_id(GA_ID), Status.PASS, "3 holders", "2 to 4 required")

    permanent = judged.findings(PIM)[f"/subscriptions/{PROD}"]
    assert permanent.status == Status.FAIL, permanent.reason_en
    assert f"Owner User {BREAK_GLASS}" in permanent.reason_en and "should be PIM-eligible" in permanent.reason_en
    assert judged.findings(PIM)[f"/subscriptions/{DEV}"].status == Status.PASS  # Contributor only

    settings = judged.findings(MFA_APPROVAL)
    prod = settings[f"/subscriptions/{PROD}".lower()]
    assert prod.status == Status.FAIL, prod.reason_en
    assert "activating User Access Administrator needs no approval (isApprovalRequired False)" in prod.reason_en
    assert "Owner" not in prod.reason_en and "承認が不要" in prod.reason_ja
    cited = {e.resource_id for e in judged.facts.evidence if e.sha256 in prod.evidence}
    assert cited == {POLICIES[0]["id"], POLICIES[1]["id"]}
    dev = settings[f"/subscriptions/{DEV}".lower()]
    assert dev.status == Status.PASS and "Owner, User Access Administrator" in dev.reason_en

    classic = judged.findings(CLASSIC)
    co = classic[f"/subscriptions/{PROD}".lower()]
    assert co.status == Status.FAIL and "t.yamamoto@vendor.example (CoAdministrator)" in co.reason_en, co.reason_en
    assert "it-billing" not in co.reason_en
    none = classic[f"/subscriptions/{DEV}".lower()]
    assert none.status == Status.PASS and "no Service Administrator or Co-Administrator" in none.reason_en
    for number in (142, 144):
        assert judged.verdict(number) == Status.FAIL


def test_directory_role_members_forbidden_is_error_never_pass(judge):
    forbidden = [{"kind": "forbidden", "path": f"*/directoryRoles/{GA_ID}/members"},
                 {"kind": "forbidden", "path": f"/subscriptions/{PROD}/providers/Microsoft.Authorization/"
                  "roleAssignmentScheduleInstances"}]  # fmt: skip
    judged = judge(accounts_estate(forbidden))
    # No check passes Global Administrator without its members; each names the failed read.
    for check in (GA_COUNT, ENABLED, GUESTS):
        f = judged.findings(check)[_role_id(GA_ID).lower()]
        assert f.status == Status.ERROR, f.reason_en
        assert "the members of Global Administrator could not be collected" in f.reason_en, f.reason_en
        assert "Authorization_RequestDenied" in f.reason_en, f.reason_en
    # The other role's members were readable.
    assert judged.findings(ENABLED)[_role_id(USER_ADMIN_ID).lower()].status == Status.PASS
    assert judged.verdict(145) == Status.FAIL  # prod's co-administrator fails; the error is reported beside it
    pim = judged.findings(PIM)[f"/subscriptions/{PROD}"]
    assert pim.status == Status.ERROR and "AuthorizationFailed" in pim.reason_en, pim.reason_en


def test_global_admin_limit_from_config(judge):
    judged = judge(accounts_estate(), thresholds={"global_admin_max": 2, "pim_permanent_allowed": [BREAK_GLASS]})
    assert_finding(judged, GA_COUNT, _role_id(GA_ID), Status.FAIL, "3 holders", "2 to 2 required")
    assert judged.verdict(145) == Status.FAIL
    allowed = judged.findings(PIM)[f"/subscriptions/{PROD}"]
    assert allowed.status == Status.PASS and "1 eligible" in allowed.reason_en, allowed.reason_en


STALE = "stale-accounts"
SECURITY_ADMIN = "194ae4cb-b126-40b2-bd5b-6091b380977d"
PRIVILEGED_ROLE_ADMIN = "e8611ab8-c189-46e8-94e1-60213ab1f814"


def entra_eligible(iid: str, principal: str, template: str, end: str | None = None) -> dict[str, Any]:
    """A unifiedRoleEligibilityScheduleInstance as GET /roleManagement/directory/roleEligibilityScheduleInstances
    returns it (Graph v1.0 docs' example)."""
    return {"id": iid, "principalId": principal, "roleDefinitionId": template, "directoryScopeId": "/",
            "appScopeId": None, "startDateTime": "2026-01-05T00:00:00Z", "endDateTime": end, "memberType": "Direct",
            "roleEligibilityScheduleId": "77f71919-62f3-4d0c-9f88-0a0391b665cd"}  # fmt: skip


# Suzuki last signed in 200 days ago and is eligible for Global Administrator; the vendor never signed in;
# Ito (disabled) is eligible for Privileged Role Administrator, a role nobody holds actively (so not in
# /directoryRoles); sg-platform-admins is eligible for Security Administrator.
PIM_DIRECTORY = {
    **DIRECTORY,
    "users": [
        _user(SATO, "kenichi.sato@clinic.example", "佐藤 健一 (Kenichi Sato)"),
        _user(SUZUKI, "misaki.suzuki@clinic.example", "鈴木 美咲 (Misaki Suzuki)",
              signInActivity=signed_in("${now-200d}")),
        _user(BREAK_GLASS, "breakglass01@clinic.example", "Break Glass 01"),
        _user(ITO, "makoto.ito@clinic.example", "伊藤 誠 (Makoto Ito)", accountEnabled=False,
              signInActivity=signed_in("${now-400d}")),
        _user(VENDOR, "t.yamamoto_vendor.example#EXT#@clinic.example", "山本 工 (vendor)", userType="Guest",
              signInActivity=None),
    ],
    "roleEligibilityScheduleInstances": [
        entra_eligible("8MYkhImhnkm70CbBdTyW1BbHHAdHgZdDpbqyEFlRzAs-1-e", SUZUKI, GA_TEMPLATE, "2027-04-10T00:00:00Z"),
        entra_eligible("p3mG0x1RXkq9Yt2bV7cWnA5sLd8fJ4hK6eT0uQ1iZoM-1-e", ITO, PRIVILEGED_ROLE_ADMIN),
        entra_eligible("Qw7eR2tY9uI4oP1aS6dF3gH8jK5lZ0xC2vB7nM4qW9e-1-e", ADMINS, SECURITY_ADMIN),
    ],
}  # fmt: skip


def pim_estate(tenant: dict[str, Any] | None = None) -> dict[str, Any]:
    out = accounts_estate()
    out["directory"] = PIM_DIRECTORY
    out["tenant"].update(tenant or {})
    return out


def test_stale_accounts_and_entra_eligible_holders_are_judged(judge):
    judged = judge(pim_estate())
    stale = judged.findings(STALE)
    assert_finding(judged, STALE, f"users/{SUZUKI}", Status.FAIL, "misaki.suzuki@clinic.example last signed in 200 "
                   "days ago", "more than 90 days", "Contributor", "Global Administrator @ Entra ID (tenant) "
                   "(PIM-eligible)")  # fmt: skip
    assert_finding(judged, STALE, f"users/{VENDOR}", Status.FAIL, "has never signed in", "more than 90 days")
    assert_finding(judged, STALE, f"users/{SATO}", Status.PASS, "last signed in 3 days ago", "within 90 days")
    assert f"users/{ITO}" not in stale  # disabled: role-holders-enabled's finding
    assert not any(k.startswith("serviceprincipals/") for k in stale)
    assert judged.verdict(144) == Status.FAIL

    # Eligible holders are holders: a disabled account eligible for a role no one holds actively fails. Such a
    # role has no /directoryRoles document: the finding cites the eligibility instance and the holder.
    pra = judged.findings(ENABLED)[f"rolemanagement/directory/roledefinitions/{PRIVILEGED_ROLE_ADMIN}"]
    assert pra.status == Status.FAIL, pra.reason_en
    assert "Privileged Role Administrator" in pra.reason_en and "accountEnabled = False" in pra.reason_en
    assert "makoto.ito@clinic.example (PIM-eligible)" in pra.reason_en and "PIM の資格のある割り当て" in pra.reason_ja
    cited = {e.resource_id for e in judged.facts.evidence if e.sha256 in pra.evidence}
    assert cited == {f"users/{ITO}", "roleManagement/directory/roleEligibilityScheduleInstances/"
                     "p3mG0x1RXkq9Yt2bV7cWnA5sLd8fJ4hK6eT0uQ1iZoM-1-e"}  # fmt: skip
    # A group eligible for Security Administrator is expanded to its members.
    security = judged.findings(ENABLED)[f"rolemanagement/directory/roledefinitions/{SECURITY_ADMIN}"]
    assert security.status == Status.PASS and "2 holders" in security.reason_en, security.reason_en
    assert "kenichi.sato" in security.reason_en and "misaki.suzuki" in security.reason_en
    # Global Administrator: 3 active and 1 eligible, counted together.
    assert_finding(judged, GA_COUNT, _role_id(GA_ID), Status.PASS, "4 holders",
                   "PIM-eligible 1: misaki.suzuki@clinic.example", "2 to 4 required")  # fmt: skip
    assert_finding(judged, ENABLED, _role_id(GA_ID), Status.PASS, "4 holders")


def test_sign_ins_and_eligibility_without_the_permissions_are_errors_naming_them(judge):
    judged = judge(pim_estate({"graphPermissions": ["Directory.Read.All", "Policy.Read.All"]}))
    [stale] = judged.findings(STALE).values()
    assert stale.status == Status.ERROR and stale.resource_id == "tenant", stale.reason_en
    assert "Authentication_MSGraphPermissionMissing" in stale.reason_en
    assert "lacks the Microsoft Graph application permission AuditLog.Read.All" in stale.reason_en
    assert "RoleEligibilitySchedule.Read.Directory" in stale.reason_en  # the holders it would judge are unknown too
    for check in (GA_COUNT, ENABLED, GUESTS):
        f = judged.findings(check)["tenant"]
        assert f.status == Status.ERROR and "PermissionScopeNotGranted" in f.reason_en, f.reason_en
        assert "lacks the Microsoft Graph application permission RoleEligibilitySchedule.Read.Directory" in f.reason_en
    ga = judged.findings(GA_COUNT)[_role_id(GA_ID).lower()]
    assert ga.status == Status.ERROR and "the PIM-eligible holders of Global Administrator could not be collected" in (
        ga.reason_en
    )
    # Active members that break a rule still fail; the unknown eligible ones do not hide them.
    assert judged.findings(GUESTS)[_role_id(GA_ID).lower()].status == Status.FAIL


def test_tenant_without_premium_licences_says_which_edition_is_needed(judge):
    judged = judge(pim_estate({"license": "Free"}))
    [stale] = judged.findings(STALE).values()
    assert stale.status == Status.ERROR, stale.reason_en
    assert "Authentication_RequestFromNonPremiumTenantOrB2CTenant" in stale.reason_en
    assert "needs Microsoft Entra ID P1 or P2" in stale.reason_en
    # No P2, no PIM: no one can be eligible, so the active members are judged (the refusal stays on record).
    ga = judged.findings(GA_COUNT)[_role_id(GA_ID).lower()]
    assert ga.status in (Status.PASS, Status.FAIL) and "PIM-eligible" not in ga.reason_en, ga.reason_en
    assert any(e.code == "AadPremiumLicenseRequired" for e in judged.facts.errors), judged.facts.errors
