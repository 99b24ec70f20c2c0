"""Owner and User Access Administrator held just in time: PIM schedule instances per subscription."""

from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactSet, Status, Thresholds
from tests.controls.test_check_roles import CONTRIBUTOR, DEFINITIONS, OWNER, SUB, UAA, assignment

AT = datetime(2026, 11, 22, tzinfo=UTC)
DEFS = f"{SUB}/providers/Microsoft.Authorization/roleDefinitions"
CHECK = "privileged-assignments-eligible"
BG = "3753fb1d-be94-4ac6-ab97-0b2acdf70e34"


def instance(n: int, role: str, principal: str, kind: object = "Assigned", *, end: str | None = None,
             ptype: str = "User", scope: str = SUB) -> Evidence:  # fmt: skip
    name = f"0000000{n}-0000-0000-0000-000000000000"
    rid = f"{SUB}/providers/Microsoft.Authorization/RoleAssignmentScheduleInstances/{name}"
    doc = {"id": rid, "name": name, "type": "Microsoft.Authorization/RoleAssignmentScheduleInstances",
           "properties": {"scope": scope, "roleDefinitionId": f"{DEFS}/{role}", "principalId": principal,
                          "principalType": ptype, "assignmentType": kind,
                          "status": "Provisioned", "memberType": "Direct", "startDateTime": "2026-01-05T00:00:00Z",
                          "endDateTime": end, "originRoleAssignmentId": f"{scope}/providers/Microsoft.Authorization/"
                          f"roleAssignments/{name}",
                          "expandedProperties": {"principal": {"id": principal, "displayName": f"user {principal}",
                                                               "type": ptype}}}}  # fmt: skip
    return Evidence("role_assignment_schedule_instance", "test", SUB, rid, "2020-10-01", None, AT, doc)


def eligibility(n: int, role: str, principal: str) -> Evidence:
    rid = f"{SUB}/providers/Microsoft.Authorization/RoleEligibilityScheduleInstances/e000000{n}"
    doc = {"id": rid, "name": f"e000000{n}", "properties": {"scope": SUB, "principalId": principal,
           "roleDefinitionId": f"{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}",
           "principalType": "User", "status": "Provisioned", "memberType": "Direct"}}  # fmt: skip
    return Evidence("role_eligibility_schedule_instance", "test", SUB, rid, "2020-10-01", None, AT, doc)


def judge(*evidence: Evidence, errors=(), thresholds=None):
    findings = CHECKS_BY_ID[CHECK].evaluate(
        FactSet([*DEFINITIONS, *evidence], list(errors)), thresholds or Thresholds()
    )
    return {f.resource_id: f for f in findings}


def test_permanent_owner_fails_activation_and_time_bound_pass():
    ev = [assignment(1, OWNER, "u1"), instance(1, OWNER, "u1"), assignment(2, UAA, "u2"),
          instance(2, UAA, "u2", "Activated", end="2026-11-22T08:00:00Z")]  # fmt: skip
    f = judge(*ev)[SUB]
    assert f.status == Status.FAIL
    assert (
        "permanent assignments of Owner, User Access Administrator" in f.reason_en
        and "Owner User user u1" in f.reason_en
    )
    assert "u2" not in f.reason_en and "常時割り当て" in f.reason_ja
    assert ev[1].sha256 in f.evidence

    ok = [assignment(2, UAA, "u2"), instance(2, UAA, "u2", "Activated", end="2026-11-22T08:00:00Z"),
          assignment(3, OWNER, "u3"), instance(3, OWNER, "u3", end="2026-12-31T00:00:00Z"),
          eligibility(1, OWNER, "u4")]  # fmt: skip
    f = judge(*ok)[SUB]
    assert f.status == Status.PASS and "2 active ones" in f.reason_en and "1 eligible" in f.reason_en


def test_emergency_access_allowed_service_principals_and_other_roles_not_judged():
    ev = [assignment(1, OWNER, BG), instance(1, OWNER, BG), assignment(2, OWNER, "sp", ptype="ServicePrincipal"),
          instance(2, OWNER, "sp", ptype="ServicePrincipal"), assignment(3, CONTRIBUTOR, "u3"),
          instance(3, CONTRIBUTOR, "u3"), assignment(4, OWNER, "u4", scope=f"{SUB}/resourceGroups/rg"),
          instance(4, OWNER, "u4", scope=f"{SUB}/resourceGroups/rg")]  # fmt: skip
    assert judge(*ev)[SUB].status == Status.FAIL  # the emergency-access account, unless allowed
    f = judge(*ev, thresholds=Thresholds(pim_permanent_allowed=(BG,)))[SUB]
    assert f.status == Status.PASS, f.reason_en


def test_assignment_without_instance_or_unreadable_type_is_error():
    f = judge(assignment(1, OWNER, "u1"))[SUB]
    assert f.status == Status.ERROR and "have no schedule instance" in f.reason_en
    f = judge(assignment(1, OWNER, "u1"), instance(1, OWNER, "u1", None))[SUB]
    assert f.status == Status.ERROR and "no readable assignmentType" in f.reason_en


def test_instances_not_collected_leaves_the_error_to_the_engine():
    err = CollectionError("role_assignment_schedule_instance", "authorization.pim", SUB, "AuthorizationFailed",
                          "denied", 403, None, AT)  # fmt: skip
    assert judge(assignment(1, OWNER, "u1"), errors=[err]) == {}


MFA_CHECK = "pim-activation-requires-mfa-and-approval"


def policy(role: str, *, mfa: bool = True, approval: object = True, context: bool = False, scope: str = SUB,
           rules: object = None) -> Evidence:  # fmt: skip
    name = f"pol-{role[:8]}_{role}"
    rid = f"{SUB}/providers/Microsoft.Authorization/roleManagementPolicyAssignments/{name}"
    target = {"caller": "EndUser", "operations": ["All"], "level": "Assignment"}
    effective = [
        {"id": "Enablement_EndUser_Assignment", "ruleType": "RoleManagementPolicyEnablementRule", "target": target,
         "enabledRules": ["Justification", *(["MultiFactorAuthentication"] if mfa else [])]},
        {"id": "AuthenticationContext_EndUser_Assignment", "ruleType": "RoleManagementPolicyAuthenticationContextRule",
         "target": target, "isEnabled": context, "claimValue": "c1" if context else ""},
        {"id": "Approval_EndUser_Assignment", "ruleType": "RoleManagementPolicyApprovalRule", "target": target,
         "setting": {"isApprovalRequired": approval, "approvalMode": "SingleStage"}},
    ]  # fmt: skip
    doc = {"id": rid, "name": name, "type": "Microsoft.Authorization/RoleManagementPolicyAssignment",
           "properties": {"scope": scope, "roleDefinitionId": f"{DEFS}/{role}",
                          "effectiveRules": effective if rules is None else rules}}  # fmt: skip
    return Evidence("role_management_policy_assignment", "test", SUB, rid, "2020-10-01", None, AT, doc)


def settings(*evidence: Evidence, thresholds=None):
    check = CHECKS_BY_ID[MFA_CHECK]
    return {f.resource_id: f for f in check.evaluate(FactSet([*DEFINITIONS, *evidence]), thresholds or Thresholds())}


def test_activation_with_mfa_and_approval_passes_either_missing_fails():
    assert settings(policy(OWNER), policy(UAA))[SUB].status == Status.PASS
    assert settings(policy(OWNER), policy(UAA, mfa=False, context=True))[SUB].status == Status.PASS
    f = settings(policy(OWNER, approval=False), policy(UAA, mfa=False))[SUB]
    assert f.status == Status.FAIL
    assert "activating Owner needs no approval (isApprovalRequired False)" in f.reason_en
    assert "activating User Access Administrator needs no MFA" in f.reason_en and "承認が不要" in f.reason_ja


def test_missing_or_unreadable_policy_is_error():
    f = settings(policy(OWNER))[SUB]
    assert f.status == Status.ERROR and "User Access Administrator: no policy assignment" in f.reason_en
    f = settings(policy(OWNER, rules="?"), policy(UAA))[SUB]
    assert f.status == Status.ERROR and "Owner: effectiveRules '?'" in f.reason_en
    f = settings(policy(OWNER, approval=None, rules=[]), policy(UAA))[SUB]
    assert f.status == Status.ERROR and "not readable" in f.reason_en
    # A policy assigned at a resource group does not stand for the subscription's.
    f = settings(policy(OWNER), policy(UAA, scope=f"{SUB}/resourceGroups/rg"))[SUB]
    assert f.status == Status.ERROR


CLASSIC = "classic-administrators-absent"


def subscription(sub: str = SUB) -> Evidence:
    guid = sub.rsplit("/", 1)[-1]
    doc = {"id": sub, "subscriptionId": guid, "displayName": "emr-prod", "state": "Enabled"}
    return Evidence("subscription", "test", "tenant", sub, "2022-12-01", None, AT, doc)


def classic(n: int, role: object, email: str = "admin@aozora.example") -> Evidence:
    rid = f"{SUB}/providers/Microsoft.Authorization/classicAdministrators/classicadmin{n}"
    doc = {"id": rid, "name": f"classicadmin{n}", "type": "Microsoft.Authorization/classicAdministrators",
           "properties": {"emailAddress": email, "role": role}}  # fmt: skip
    return Evidence("classic_administrator", "test", SUB, rid, "2015-07-01", None, AT, doc)


def classic_findings(*evidence: Evidence, errors=()):
    findings = CHECKS_BY_ID[CLASSIC].evaluate(FactSet([subscription(), *evidence], list(errors)), Thresholds())
    return {f.resource_id: f for f in findings}


def test_co_administrator_fails_account_administrator_and_none_pass():
    f = classic_findings(classic(1, "AccountAdministrator"), classic(2, "CoAdministrator", "vendor@hokusei.example"))
    assert f[SUB].status == Status.FAIL and "vendor@hokusei.example (CoAdministrator)" in f[SUB].reason_en
    f = classic_findings(classic(1, "ServiceAdministrator;AccountAdministrator"))
    assert f[SUB].status == Status.FAIL
    assert classic_findings(classic(1, "AccountAdministrator"))[SUB].status == Status.PASS
    assert classic_findings()[SUB].status == Status.PASS


def test_unreadable_role_is_error_and_failed_listing_left_to_the_engine():
    assert classic_findings(classic(1, None))[SUB].status == Status.ERROR
    err = CollectionError("classic_administrator", "authorization.classic_administrators", SUB, "AuthorizationFailed",
                          "denied", 403, None, AT)  # fmt: skip
    assert classic_findings(errors=[err]) == {}
