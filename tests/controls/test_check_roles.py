from datetime import UTC, datetime

import pytest

from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactKind, FactSet, Finding, Status, Thresholds

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


# --- custom roles ---------------------------------------------------------------------------------

CUSTOM = "custom-role-no-broad-actions"
MG = "/providers/Microsoft.Management/managementGroups/mg-karte"
OPERATOR = "4f0c2a6e-7d51-4b8e-9a3c-1e2d3f405162"
CUSTOM_GUID = "c0ffee00-0000-4000-8000-00000000000{}"
AUTH_WRITES = ["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
               "Microsoft.Authorization/elevateAccess/Action"]  # fmt: skip
VM_OPERATOR = ["Microsoft.Compute/virtualMachines/read", "Microsoft.Compute/virtualMachines/start/action",
               "Microsoft.Compute/virtualMachines/restart/action",
               "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Insights/alertRules/*",
               "Microsoft.Authorization/*/read", "Microsoft.Support/*"]  # fmt: skip


def custom(
    guid: str,
    name: str,
    actions: list[str] | None = None,
    not_actions: list[str] | None = None,
    *,
    scopes: list[str] | None = None,
    data_actions: list[str] | None = None,
    sub: str = SUB,
    role_type: str = "CustomRole",
    permissions: object = None,
) -> Evidence:
    """A custom role definition as `Role Definitions - List` returns it (2022-04-01)."""
    rid = f"{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    if permissions is None:
        permissions = [
            {"actions": actions or [], "notActions": not_actions or [], "dataActions": data_actions or [],
             "notDataActions": []}
        ]  # fmt: skip
    doc = {
        "id": rid,
        "name": guid,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": name,
            "type": role_type,
            "description": f"{name} (test)",
            "assignableScopes": [SUB] if scopes is None else scopes,
            "permissions": permissions,
            "createdOn": "2025-05-01T02:03:04.5678901Z",
            "updatedOn": "2025-05-01T02:03:04.5678901Z",
            "createdBy": "aaaaaaaa-0000-0000-0000-000000000001",
            "updatedBy": "aaaaaaaa-0000-0000-0000-000000000001",
        },
    }
    return Evidence(FactKind.ROLE_DEFINITION, "test", sub, rid, "2022-04-01", None, AT, doc)


def count_with(definitions: list[Evidence], *assignments: Evidence) -> Finding:
    findings = CHECKS_BY_ID["privileged-role-assignments-max"].evaluate(
        FactSet([*DEFINITIONS, *definitions, *assignments]), Thresholds()
    )
    return {f.resource_id: f for f in findings}[SUB]


def judge_custom(*definitions: Evidence, errors=()) -> dict[str, Finding]:
    findings = CHECKS_BY_ID[CUSTOM].evaluate(FactSet([*DEFINITIONS, *definitions], list(errors)), Thresholds())
    return {f.resource_id.rsplit("/", 1)[-1]: f for f in findings}


TWO_OWNERS = [assignment(1, OWNER, "u1"), assignment(2, OWNER, "u2")]


@pytest.mark.parametrize(
    ("actions", "not_actions", "action", "like"),
    [
        (["*"], [], '"*"', "Owner-like"),
        (["*"], AUTH_WRITES, '"*"', "Contributor-like"),
        (["*/write", "*/read"], [], '"*/write"', "Owner-like"),
        (["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"], [], '"Microsoft.Authorization/*"',
         "User Access Administrator-like"),
        (["*/read", "microsoft.authorization/ROLEASSIGNMENTS/WRITE"], [],
         '"microsoft.authorization/ROLEASSIGNMENTS/WRITE"', "User Access Administrator-like"),
        (["Microsoft.Authorization/roleDefinitions/write"], [], '"Microsoft.Authorization/roleDefinitions/write"',
         "User Access Administrator-like"),
        (["*"], ["Microsoft.Compute/*"], '"*"', "Owner-like"),  # excluding one provider leaves the rest
    ],
)  # fmt: skip
def test_broad_custom_role_at_subscription_counts_like_builtin_privileged(actions, not_actions, action, like):
    role = custom(OPERATOR, "EMR Operator", actions, not_actions)
    f = count_with([role], *TWO_OWNERS, assignment(3, OPERATOR, "u3"), assignment(4, READER, "u4"))
    assert f.status == Status.PASS, f.reason_en
    assert "3 privileged role assignments (EMR Operator 1, Owner 2; at most 3 allowed)" in f.reason_en
    assert "custom role EMR Operator" in f.reason_en and action in f.reason_en and like in f.reason_en
    assert "EMR Operator" in f.reason_ja and action.replace('"', "") in f.reason_ja
    assert role.sha256 in f.evidence

    over = count_with([role], *TWO_OWNERS, assignment(3, OPERATOR, "u3"), assignment(5, CONTRIBUTOR, "u5"))
    assert over.status == Status.FAIL
    assert "4 privileged role assignments (Contributor 1, EMR Operator 1, Owner 2; at most 3 allowed)" in over.reason_en
    assert "custom role EMR Operator" in over.reason_en and action in over.reason_en
    assert role.sha256 in over.evidence


@pytest.mark.parametrize(
    ("actions", "not_actions", "data_actions"),
    [
        (VM_OPERATOR, [], []),
        (["*/read"], [], []),
        (["Microsoft.Storage/storageAccounts/blobServices/containers/read"], [], ["*"]),  # data plane only
        (["Microsoft.Authorization/*"], ["Microsoft.Authorization/*/write", "Microsoft.Authorization/*/delete"], []),
        (["*"], ["*/write", "*/delete", "*/action"], []),  # effectively a reader
        (["Microsoft.Compute/*", "Microsoft.Network/*"], [], []),  # broad in two providers, not everywhere
    ],
)  # fmt: skip
def test_narrow_custom_role_is_not_privileged(actions, not_actions, data_actions):
    role = custom(OPERATOR, "EMR VM Operator", actions, not_actions, data_actions=data_actions)
    a = [*TWO_OWNERS, assignment(3, OPERATOR, "u3"), assignment(4, OPERATOR, "u4")]
    f = count_with([role], *a)
    assert f.status == Status.PASS and "2 privileged role assignments (Owner 2;" in f.reason_en
    assert "custom role" not in f.reason_en
    assert orphans(assignment(5, OPERATOR, "gone"), definitions=[*DEFINITIONS, role]) == {}
    assert judge_custom(role)[OPERATOR].status == Status.PASS


def test_broad_custom_role_assignable_only_below_subscription_is_not_counted():
    rg = f"{SUB}/resourceGroups/rg-app"
    role = custom(OPERATOR, "RG Owner", ["*"], scopes=[rg])
    f = count_with([role], *TWO_OWNERS, assignment(3, OPERATOR, "u3", scope=rg), assignment(4, OPERATOR, "u4"))
    assert f.status == Status.PASS and "2 privileged role assignments" in f.reason_en
    found = judge_custom(role)[OPERATOR]
    assert found.status == Status.PASS and f"assignable only at {rg}" in found.reason_en


@pytest.mark.parametrize("scope", ["/", MG, SUB2])
def test_assignable_at_root_management_group_or_any_subscription_reaches_subscription_scope(scope):
    role = custom(OPERATOR, "Platform Operator", ["*"], scopes=[f"{SUB}/resourceGroups/rg-app", scope])
    found = judge_custom(role)[OPERATOR]
    assert found.status == Status.FAIL and f"assignable at {scope}" in found.reason_en


def test_custom_role_principal_check_names_the_role_and_why():
    alive = principal("aaaaaaaa-0000-0000-0000-000000000001", "sato")
    role = custom(OPERATOR, "EMR Operator", ["*"], AUTH_WRITES)
    found = orphans(
        assignment(1, OPERATOR, alive.resource_id), assignment(2, OPERATOR, "gone"), alive,
        definitions=[*DEFINITIONS, role],
    )  # fmt: skip
    assert found["00000001"].status == Status.PASS
    f = found["00000002"]
    assert f.status == Status.FAIL and "does not exist in Entra ID" in f.reason_en
    why = 'custom role EMR Operator counts as privileged: actions "*" grants write on every resource type'
    assert why in f.reason_en
    assert "Contributor-like" in f.reason_en and "EMR Operator" in f.reason_ja
    assert role.sha256 in f.evidence


def test_custom_role_with_unreadable_permissions_is_an_error_unless_already_over():
    broken = custom(OPERATOR, "EMR Operator", permissions=None)
    broken.content["properties"]["permissions"] = "see portal"
    f = count_with([broken], *TWO_OWNERS, assignment(3, OPERATOR, "u3"))
    assert f.status == Status.ERROR and "EMR Operator" in f.reason_en and "permissions" in f.reason_en
    over = count_with([broken], *TWO_OWNERS, assignment(3, OWNER, "u3"), assignment(4, OWNER, "u4"),
                      assignment(5, OPERATOR, "u5"))  # fmt: skip
    assert over.status == Status.FAIL


# --- custom-role-no-broad-actions -----------------------------------------------------------------


def test_one_finding_per_custom_role_pass_narrow_fail_broad():
    narrow = custom(CUSTOM_GUID.format(1), "EMR VM Operator", VM_OPERATOR)
    owner_like = custom(CUSTOM_GUID.format(2), "EMR Break Glass", ["*"])
    contributor_like = custom(CUSTOM_GUID.format(3), "EMR Operator", ["*"], AUTH_WRITES, scopes=[SUB, SUB2])
    contributor_copy = custom(CUSTOM_GUID.format(3), "EMR Operator", ["*"], AUTH_WRITES, scopes=[SUB, SUB2],
                              sub=SUB2)  # fmt: skip
    uaa_like = custom(CUSTOM_GUID.format(4), "Access Desk", ["*/read", "Microsoft.Authorization/*"],
                      role_type="customRole")  # fmt: skip
    found = judge_custom(narrow, owner_like, contributor_like, contributor_copy, uaa_like)
    # Built-in roles are not judged; the definition listed by two subscriptions is one finding.
    assert set(found) == {CUSTOM_GUID.format(n) for n in (1, 2, 3, 4)}

    ok = found[CUSTOM_GUID.format(1)]
    assert ok.status == Status.PASS and "EMR VM Operator" in ok.reason_en and "no broad action" in ok.reason_en
    assert ok.evidence == (narrow.sha256,)

    f = found[CUSTOM_GUID.format(2)]
    assert f.status == Status.FAIL
    assert f'custom role EMR Break Glass is assignable at {SUB} and actions "*"' in f.reason_en
    assert "Microsoft.Authorization/roleAssignments/write (Owner-like)" in f.reason_en
    assert "EMR Break Glass" in f.reason_ja and "Owner 相当" in f.reason_ja

    f = found[CUSTOM_GUID.format(3)]
    assert f.status == Status.FAIL and "write on every resource type (Contributor-like)" in f.reason_en
    assert f.resource_id == contributor_like.resource_id
    assert set(f.evidence) == {contributor_like.sha256, contributor_copy.sha256}

    f = found[CUSTOM_GUID.format(4)]
    assert f.status == Status.FAIL and '"Microsoft.Authorization/*"' in f.reason_en
    assert "User Access Administrator-like" in f.reason_en and "User Access Administrator 相当" in f.reason_ja
    for f in found.values():
        assert f.reason_ja.strip() and f.reason_ja != f.reason_en


@pytest.mark.parametrize(
    ("permissions", "scopes", "why"),
    [
        ("see portal", [SUB], "permissions"),
        ([], [SUB], "permissions"),
        ([{"notActions": []}], [SUB], "actions"),
        ([{"actions": "*"}], [SUB], "actions"),
        ([{"actions": ["*"], "notActions": "Microsoft.Authorization/*/Write"}], [SUB], "notActions"),
        (["*"], [SUB], "permissions"),
        ([{"actions": ["*/read"], "notActions": []}], None, "assignableScopes"),
    ],
)
def test_custom_role_with_unreadable_permissions_is_an_error(permissions, scopes, why):
    role = custom(OPERATOR, "EMR Operator", permissions=permissions, scopes=scopes or [])
    if scopes is None:
        del role.content["properties"]["assignableScopes"]
    f = judge_custom(role)[OPERATOR]
    assert f.status == Status.ERROR, f.reason_en
    assert why in f.reason_en and "EMR Operator" in f.reason_en and why in f.reason_ja


def test_missing_not_actions_excludes_nothing():
    role = custom(OPERATOR, "EMR Operator", permissions=[{"actions": ["*"]}])
    assert judge_custom(role)[OPERATOR].status == Status.FAIL


def test_no_custom_roles_no_findings():
    assert judge_custom() == {}


def test_listed_subscription_with_no_role_assignment_is_an_error_not_a_pass():
    sub_doc = Evidence(
        FactKind.SUBSCRIPTION, "test", "tenant", SUB2, "2022-12-01", None, AT,
        {"id": SUB2, "subscriptionId": SUB2.rsplit("/", 1)[-1], "displayName": "empty"},
    )  # fmt: skip
    found = count(assignment(1, OWNER, "u1"), sub_doc)
    assert found[SUB].status == Status.PASS
    assert found[SUB2].status == Status.ERROR and "returned no role assignment at all" in found[SUB2].reason_en
