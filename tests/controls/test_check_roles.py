from datetime import UTC, datetime

from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactKind, FactSet, Status, Thresholds

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
SUB2 = "/subscriptions/22222222-2222-2222-2222-222222222222"
AT = datetime(2026, 3, 31, tzinfo=UTC)
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
UAA = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
ROLES = {OWNER: "Owner", CONTRIBUTOR: "Contributor", READER: "Reader", UAA: "User Access Administrator"}


def definition(guid: str, sub: str = SUB) -> Evidence:
    rid = f"{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    doc = {
        "id": rid,
        "name": guid,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {"roleName": ROLES[guid], "type": "BuiltInRole"},
    }
    return Evidence(FactKind.ROLE_DEFINITION, "test", sub, rid, "2022-04-01", None, AT, doc)


DEFINITIONS = [definition(g) for g in ROLES]


def assignment(
    n: int,
    role: str,
    principal: str,
    *,
    sub: str = SUB,
    scope: str | None = None,
    ptype: str = "User",
    definition_sub: str | None = None,
) -> Evidence:
    rid = f"{scope or sub}/providers/Microsoft.Authorization/roleAssignments/0000000{n}-0000-0000-0000-000000000000"
    doc = {
        "id": rid,
        "name": rid.rsplit("/", 1)[-1],
        "properties": {
            "roleDefinitionId": f"{definition_sub or sub}/providers/Microsoft.Authorization/roleDefinitions/{role}",
            "principalId": principal,
            "principalType": ptype,
            "scope": scope or sub,
        },
    }
    return Evidence(FactKind.ROLE_ASSIGNMENT, "test", sub, rid, "2022-04-01", None, AT, doc)


def principal(object_id: str, name: str) -> Evidence:
    doc = {
        "id": object_id,
        "@odata.type": "#microsoft.graph.user",
        "displayName": name,
        "userPrincipalName": f"{name}@example.jp",
    }
    return Evidence(FactKind.DIRECTORY_PRINCIPAL, "test", "tenant", object_id, "v1.0", None, AT, doc)


def count(*evidence: Evidence, thresholds=None) -> dict:
    findings = CHECKS_BY_ID["privileged-role-assignments-max"].evaluate(
        FactSet([*DEFINITIONS, *evidence]), thresholds or Thresholds()
    )
    return {f.resource_id: f for f in findings}


def orphans(*evidence: Evidence, errors=(), definitions=DEFINITIONS) -> dict:
    findings = CHECKS_BY_ID["privileged-role-principal-exists"].evaluate(
        FactSet([*definitions, *evidence], list(errors)), Thresholds()
    )
    return {f.resource_id.rsplit("/", 1)[-1][:8]: f for f in findings}


def test_three_privileged_at_subscription_pass():
    a = [
        assignment(1, OWNER, "u1"),
        assignment(2, OWNER, "u2"),
        assignment(3, CONTRIBUTOR, "u3"),
        assignment(4, READER, "u4"),
    ]
    f = count(*a)[SUB]
    assert f.status == Status.PASS
    assert "3 privileged role assignments (Contributor 1, Owner 2; at most 3 allowed)" in f.reason_en
    assert a[0].sha256 in f.evidence and DEFINITIONS[0].sha256 in f.evidence


def test_over_max_fails_with_count_and_limit():
    a = [assignment(i, OWNER if i % 2 else UAA, f"u{i}") for i in range(1, 5)]
    f = count(*a)[SUB]
    assert f.status == Status.FAIL
    assert f"subscription {SUB} has 4 privileged role assignments" in f.reason_en
    assert "上限 3 件" in f.reason_ja
    assert set(f.evidence) >= {x.sha256 for x in a}
    assert count(*a, thresholds=Thresholds(privileged_role_max=4))[SUB].status == Status.PASS


def test_resource_group_scope_not_counted_management_group_scope_counted():
    rg = f"{SUB}/resourceGroups/rg-app"
    mg = "/providers/Microsoft.Management/managementGroups/mg-karte"
    a = [
        assignment(1, OWNER, "u1"),
        assignment(2, OWNER, "u2"),
        assignment(3, OWNER, "u3"),
        assignment(4, OWNER, "u4", scope=rg),
    ]
    assert count(*a)[SUB].status == Status.PASS
    assert count(*a[:3], assignment(5, OWNER, "u5", scope=mg))[SUB].status == Status.FAIL


def test_role_definition_matched_by_guid_case_insensitively():
    a = [assignment(i, OWNER.upper(), f"u{i}", definition_sub=SUB2) for i in range(1, 5)]
    assert count(*a)[SUB].status == Status.FAIL


def test_one_finding_per_subscription():
    a = [assignment(i, OWNER, f"u{i}") for i in range(1, 5)] + [assignment(9, OWNER, "u9", sub=SUB2)]
    findings = count(*a)
    assert findings[SUB].status == Status.FAIL and findings[SUB2].status == Status.PASS


def test_unresolved_role_definition_is_error_unless_already_over():
    unknown = "99999999-9999-9999-9999-999999999999"
    assert count(assignment(1, OWNER, "u1"), assignment(2, unknown, "u2"))[SUB].status == Status.ERROR
    a = [assignment(i, OWNER, f"u{i}") for i in range(1, 5)]
    assert count(*a, assignment(5, unknown, "u5"))[SUB].status == Status.FAIL


def test_deleted_principal_fails_existing_passes():
    alive = principal("aaaaaaaa-0000-0000-0000-000000000001", "sato")
    found = orphans(
        assignment(1, OWNER, alive.resource_id),
        assignment(2, OWNER, "deadbeef-dead", ptype="User"),
        assignment(3, READER, "also-gone"),
        alive,
    )
    assert set(found) == {"00000001", "00000002"}  # the Reader assignment is not privileged
    assert found["00000001"].status == Status.PASS and "sato" in found["00000001"].reason_en
    f = found["00000002"]
    assert f.status == Status.FAIL and "deadbeef-dead" in f.reason_en and "does not exist in Entra ID" in f.reason_en


def test_principal_id_compared_case_insensitively():
    alive = principal("aaaaaaaa-0000-0000-0000-00000000000a", "ito")
    assert orphans(assignment(1, OWNER, alive.resource_id.upper()), alive)["00000001"].status == Status.PASS


def test_directory_not_collected_is_error_not_fail():
    err = CollectionError(
        FactKind.DIRECTORY_PRINCIPAL,
        "graph.principals",
        "tenant",
        "Authorization_RequestDenied",
        "Insufficient privileges",
        403,
        None,
        AT,
    )
    alive = principal("aaaaaaaa-0000-0000-0000-000000000001", "sato")
    found = orphans(assignment(1, OWNER, "gone"), alive, errors=[err])
    assert found["00000001"].status == Status.ERROR and "Authorization_RequestDenied" in found["00000001"].reason_en
    found = orphans(assignment(1, OWNER, "gone"))  # no principals at all and no error recorded
    assert found["00000001"].status == Status.ERROR and "not collected" in found["00000001"].reason_en


def test_same_assignment_seen_from_two_subscriptions_judged_once():
    mg = "/providers/Microsoft.Management/managementGroups/mg-karte"
    alive = principal("aaaaaaaa-0000-0000-0000-000000000001", "sato")
    a1 = assignment(1, OWNER, "gone", scope=mg)
    a2 = assignment(1, OWNER, "gone", scope=mg, sub=SUB2)
    findings = CHECKS_BY_ID["privileged-role-principal-exists"].evaluate(
        FactSet([*DEFINITIONS, a1, a2, alive]), Thresholds()
    )
    assert len(findings) == 1 and findings[0].status == Status.FAIL
