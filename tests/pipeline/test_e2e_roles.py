"""Privileged Azure RBAC roles (No 141, 145), collected through the sandbox by the real SDK and Graph.

Role definitions are the built-in ones with their real GUIDs, and custom roles (`type: CustomRole`,
their own GUIDs and assignable scopes), listed per subscription at
`/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid}`; assignments are listed
with `Role Assignments - List For Subscription`; principals come from Graph users, groups and
service principals.
"""

from __future__ import annotations

import uuid
from typing import Any

from controls.model import FactKind, Finding, Status
from tests.estates import DEV, PROD, RG, TENANT, estate
from tests.pipeline.test_e2e_nsg import assert_finding

MAX = "privileged-role-assignments-max"
EXISTS = "privileged-role-principal-exists"
CUSTOM = "custom-role-no-broad-actions"

OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
USER_ACCESS_ADMIN = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
BUILT_IN = {
    OWNER: ("Owner", "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
            ["*"], []),
    CONTRIBUTOR: ("Contributor", "Grants full access to manage all resources, but does not allow you to assign roles "
                  "in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
                  ["*"], ["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
                          "Microsoft.Authorization/elevateAccess/Action"]),
    USER_ACCESS_ADMIN: ("User Access Administrator", "Lets you manage user access to Azure resources.",
                        ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"], []),
    READER: ("Reader", "View all resources, but does not allow you to make any changes.", ["*/read"], []),
}  # fmt: skip

# Entra objects
SATO = "cd7bbc22-1bce-4dce-b423-986ae30072c1"  # platform lead
SUZUKI = "d215b67b-0e90-4c57-b0d7-da1d5e78ef06"  # DBA
BREAK_GLASS = "3753fb1d-be94-4ac6-ab97-0b2acdf70e34"
ADMINS = "fadc7a3d-9a5c-4a52-b631-f7762216e170"  # group
DEVELOPERS = "7185ddbf-e658-4744-8ab7-c35344a02f64"  # group
DEPLOY_SP = "7a8214db-a434-4ad0-9c74-17dec277ef3b"
COLLECTOR_SP = "951133e6-1b9a-4eef-8fe6-28ae9101d018"
DELETED = "a73ef494-5037-4a33-b008-0ee340e01126"  # in no directory collection


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def sub_id(subscription: str) -> str:
    return f"/subscriptions/{subscription}"


def _role_document(guid: str, subscription: str, properties: dict[str, Any], actions: Any, not_actions: Any) -> dict:
    """A role definition as `Role Definitions - List` returns it in `subscription`."""
    permissions = [{"actions": actions, "notActions": not_actions, "dataActions": [], "notDataActions": []}]
    return {
        "id": f"{sub_id(subscription)}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": guid,
        "properties": {**properties, "permissions": permissions},
    }


def definition(guid: str, subscription: str) -> dict[str, Any]:
    name, description, actions, not_actions = BUILT_IN[guid]
    built_in = {"roleName": name, "type": "BuiltInRole", "description": description, "assignableScopes": ["/"],
                "createdOn": "2015-02-02T21:55:09.8806423Z", "updatedOn": "2021-11-11T20:13:47.8628684Z",
                "createdBy": None, "updatedBy": None}  # fmt: skip
    return _role_document(guid, subscription, built_in, actions, not_actions)


def assignment(
    role: str, principal: str, kind: str, subscription: str = PROD, rg: str | None = None, note: str | None = None
) -> dict[str, Any]:
    scope = sub_id(subscription) + (f"/resourceGroups/{rg}" if rg else "")
    guid = _guid(scope, role, principal)
    return {
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}",
        "type": "Microsoft.Authorization/roleAssignments",
        "name": guid,
        "properties": {
            "roleDefinitionId": f"{sub_id(subscription)}/providers/Microsoft.Authorization/roleDefinitions/{role}",
            "principalId": principal,
            "principalType": kind,
            "scope": scope,
            "condition": None,
            "conditionVersion": None,
            "createdOn": "2024-04-01T00:52:11.4406912Z",
            "updatedOn": "2024-04-01T00:52:11.4406912Z",
            "createdBy": SATO,
            "updatedBy": SATO,
            "delegatedManagedIdentityResourceId": None,
            "description": note,
        },
    }


def user(oid: str, upn: str, name: str) -> dict[str, Any]:
    """A user in use: created in 2024, signed in three days ago (signInActivity as Graph returns it)."""
    return {"id": oid, "displayName": name, "userPrincipalName": upn, "mail": upn, "businessPhones": [],
            "givenName": None, "surname": None, "jobTitle": None, "mobilePhone": None, "officeLocation": None,
            "preferredLanguage": "ja-JP", "accountEnabled": True, "userType": "Member",
            "createdDateTime": "2024-03-28T02:11:09Z", "signInActivity": signed_in("${now-3d}")}  # fmt: skip


def signed_in(at: str | None, attempt: str | None = None) -> dict[str, Any] | None:
    """signInActivity with the last successful sign-in `at` (None: never; Graph's 0001-01-01 then)."""
    never = "0001-01-01T00:00:00Z"
    return {"lastSignInDateTime": attempt or at or never, "lastSignInRequestId": "",
            "lastNonInteractiveSignInDateTime": never, "lastNonInteractiveSignInRequestId": "",
            "lastSuccessfulSignInDateTime": at or never, "lastSuccessfulSignInRequestId": ""}  # fmt: skip


def group(oid: str, name: str) -> dict[str, Any]:
    return {"id": oid, "displayName": name, "mailNickname": name, "mailEnabled": False, "securityEnabled": True,
            "groupTypes": [], "description": None}  # fmt: skip


def service_principal(oid: str, name: str) -> dict[str, Any]:
    app = _guid("app", name)
    return {"id": oid, "appId": app, "displayName": name, "appDisplayName": name, "accountEnabled": True,
            "servicePrincipalType": "Application", "servicePrincipalNames": [app], "appOwnerOrganizationId": TENANT,
            "keyCredentials": [], "passwordCredentials": []}  # fmt: skip


DIRECTORY = {
    "users": [
        user(SATO, "kenichi.sato@clinic.example", "佐藤 健一 (Kenichi Sato)"),
        user(SUZUKI, "misaki.suzuki@clinic.example", "鈴木 美咲 (Misaki Suzuki)"),
        user(BREAK_GLASS, "breakglass01@clinic.example", "Break Glass 01"),
    ],
    "groups": [group(ADMINS, "sg-platform-admins"), group(DEVELOPERS, "sg-developers")],
    "servicePrincipals": [
        service_principal(DEPLOY_SP, "sp-github-deploy"),
        service_principal(COLLECTOR_SP, "shoko-evidence-collector"),
    ],
}


# Custom roles: GUID -> (roleName, description, actions, notActions, assignable subscriptions)
EMR_OPERATOR = "0b6f3d52-8c1e-4f7a-9d2b-5e4c3a2f1d09"
VM_OPERATOR = "6a1d7e0c-2b9f-4c35-8e41-7f0a9b3c5d26"
CUSTOM_ROLES = {
    EMR_OPERATOR: ("EMR Operator", "電子カルテ基盤の運用担当 / EMR platform operations",
                   ["*"], ["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
                           "Microsoft.Authorization/elevateAccess/Action"], [PROD]),
    VM_OPERATOR: ("EMR VM Operator", "仮想マシンの起動・再起動と監視 / start, restart and monitor VMs",
                  ["Microsoft.Compute/virtualMachines/read", "Microsoft.Compute/virtualMachines/start/action",
                   "Microsoft.Compute/virtualMachines/restart/action",
                   "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Insights/alertRules/*",
                   "Microsoft.Support/*"], [], [PROD, DEV]),
}  # fmt: skip


def custom_definition(guid: str, subscription: str) -> dict[str, Any]:
    """A custom role as `Role Definitions - List` returns it in each subscription it is assignable in."""
    name, description, actions, not_actions, scopes = CUSTOM_ROLES[guid]
    custom = {"roleName": name, "type": "CustomRole", "description": description,
              "assignableScopes": [sub_id(s) for s in scopes], "createdOn": "2025-02-10T03:14:27.1180533Z",
              "updatedOn": "2025-02-10T03:14:27.1180533Z", "createdBy": SATO, "updatedBy": SATO}  # fmt: skip
    return _role_document(guid, subscription, custom, actions, not_actions)


def role_estate(assignments: list[dict[str, Any]], custom: tuple[str, ...] = ()) -> dict[str, Any]:
    definitions = [definition(g, s) for s in (PROD, DEV) for g in BUILT_IN]
    definitions += [custom_definition(g, s) for g in custom for s in CUSTOM_ROLES[g][4]]
    return estate([*definitions, *assignments], directory=DIRECTORY)


def assert_count(judged: Any, subscription: str, status: Status, *needles: str) -> Finding:
    """The per-subscription count finding: status, reason, and evidence made of that subscription's
    assignment records and the role definitions they point at."""
    finding = judged.findings(MAX)[sub_id(subscription).lower()]
    assert finding.status == status, finding.reason_en
    for needle in needles:
        assert needle in finding.reason_en, (needle, finding.reason_en)
    assert finding.reason_ja.strip() and finding.reason_ja != finding.reason_en
    records = [e for e in judged.facts.evidence if e.sha256 in finding.evidence]
    assert {e.sha256 for e in records} == set(finding.evidence)
    assignments = [e for e in records if e.kind == FactKind.ROLE_ASSIGNMENT]
    definitions = [e for e in records if e.kind == FactKind.ROLE_DEFINITION]
    assert assignments and len(assignments) + len(definitions) == len(records)
    assert all(e.resource_id.lower().startswith(sub_id(subscription).lower() + "/") for e in assignments)
    used = {e.content["properties"]["roleDefinitionId"].rsplit("/", 1)[-1] for e in assignments}
    assert {e.content["name"] for e in definitions} == used
    # The definitions cited are the subscription's own copies, not another subscription's.
    assert all(e.scope.lower() == sub_id(subscription).lower() for e in definitions)
    return finding


def test_deleted_owner_and_too_many_privileged_assignments_fail(judge):
    deleted_owner = assignment(OWNER, DELETED, "User", note="移行作業 / migration work")
    prod = [
        assignment(OWNER, BREAK_GLASS, "User", note="緊急アクセス用 / emergency access"),
        deleted_owner,
        assignment(CONTRIBUTOR, DEVELOPERS, "Group"),
        assignment(READER, COLLECTOR_SP, "ServicePrincipal", note="証跡収集 / evidence collector"),
        assignment(CONTRIBUTOR, ADMINS, "Group", rg=RG),  # resource-group scope: not counted
    ]
    dev = [
        assignment(OWNER, SATO, "User", DEV),
        assignment(OWNER, SUZUKI, "User", DEV),
        assignment(USER_ACCESS_ADMIN, DEPLOY_SP, "ServicePrincipal", DEV),
        assignment(CONTRIBUTOR, ADMINS, "Group", DEV),
        assignment(READER, COLLECTOR_SP, "ServicePrincipal", DEV),
    ]
    judged = judge(role_estate(prod + dev))

    # Owner held by a principal Graph does not know.
    gone = assert_finding(
        judged, EXISTS, deleted_owner["id"], Status.FAIL, "Owner", DELETED, "does not exist in Entra ID"
    )
    assert DELETED in gone.reason_ja
    held = assert_finding(judged, EXISTS, prod[0]["id"], Status.PASS, "Owner", "Break Glass 01", "exists in Entra ID")
    principal = [e for e in judged.facts.of(FactKind.DIRECTORY_PRINCIPAL) if e.sha256 in held.evidence]
    assert [e.resource_id for e in principal] == [f"users/{BREAK_GLASS}"]
    assert_finding(judged, EXISTS, prod[2]["id"], Status.PASS, "Contributor", "sg-developers")
    assert_finding(judged, EXISTS, prod[4]["id"], Status.PASS, f"{sub_id(PROD)}/resourceGroups/{RG}")
    assert_finding(judged, EXISTS, dev[2]["id"], Status.PASS, "User Access Administrator", "sp-github-deploy")
    # Readers are not privileged: no finding about them.
    judged_ids = set(judged.findings(EXISTS))
    assert prod[3]["id"].lower() not in judged_ids and dev[4]["id"].lower() not in judged_ids
    assert len(judged_ids) == 8

    # Prod: three at subscription scope (the deleted one counts), the RG-scope Contributor does not.
    assert_count(judged, PROD, Status.PASS, "3 privileged role assignments", "Contributor 1, Owner 2", "at most 3")
    over = assert_count(judged, DEV, Status.FAIL, "4 privileged role assignments",
                        "Contributor 1, Owner 2, User Access Administrator 1", "at most 3")  # fmt: skip
    dev_assignments = {e.resource_id.lower() for e in judged.facts.evidence if e.sha256 in over.evidence}
    assert {a["id"].lower() for a in dev[:4]} <= dev_assignments
    assert dev[4]["id"].lower() not in dev_assignments  # the Reader is not one of the counted
    for number in (141, 145):
        assert judged.verdict(number) == Status.FAIL


def test_few_privileged_assignments_to_existing_principals_pass(judge):
    prod = [
        assignment(OWNER, BREAK_GLASS, "User"),
        assignment(USER_ACCESS_ADMIN, SATO, "User"),
        assignment(READER, COLLECTOR_SP, "ServicePrincipal"),
        assignment(CONTRIBUTOR, DEVELOPERS, "Group", rg=RG),
    ]
    dev = [assignment(OWNER, SATO, "User", DEV), assignment(CONTRIBUTOR, DEVELOPERS, "Group", DEV)]
    judged = judge(role_estate(prod + dev))
    assert_count(judged, PROD, Status.PASS, "2 privileged role assignments", "Owner 1, User Access Administrator 1")
    assert_count(judged, DEV, Status.PASS, "2 privileged role assignments")
    for a in (prod[0], prod[1], prod[3], *dev):
        assert_finding(judged, EXISTS, a["id"], Status.PASS, "exists in Entra ID")
    assert judged.verdict(145) == Status.PARTIAL and judged.verdict(141) == Status.MANUAL
    assert judged.verdict(142) == Status.PARTIAL and judged.verdict(144) == Status.PARTIAL


def test_privileged_role_limit_comes_from_config(judge):
    prod = [assignment(OWNER, BREAK_GLASS, "User"), assignment(OWNER, SATO, "User")]
    judged = judge(role_estate(prod), thresholds={"privileged_role_max": 1})
    assert_count(judged, PROD, Status.FAIL, "2 privileged role assignments", "Owner 2", "at most 1")
    assert judged.verdict(145) == Status.FAIL


def test_broad_custom_role_counts_as_privileged_and_is_flagged(judge):
    operator = assignment(EMR_OPERATOR, SUZUKI, "User", note="日常運用 / day-to-day operations")
    vm_operator = assignment(VM_OPERATOR, DEVELOPERS, "Group", rg=RG)
    prod = [
        assignment(OWNER, BREAK_GLASS, "User"),
        assignment(OWNER, SATO, "User"),
        assignment(CONTRIBUTOR, DEVELOPERS, "Group"),
        operator,
        vm_operator,
        assignment(READER, COLLECTOR_SP, "ServicePrincipal"),
    ]
    judged = judge(role_estate(prod, custom=(EMR_OPERATOR, VM_OPERATOR)))

    # The SDK's listing of each subscription's role definitions carries the custom roles, raw.
    listed = {(e.scope.lower(), e.content["name"]) for e in judged.facts.of(FactKind.ROLE_DEFINITION)
              if e.content["properties"]["type"] == "CustomRole"}  # fmt: skip
    assert listed == {(sub_id(PROD).lower(), EMR_OPERATOR), (sub_id(PROD).lower(), VM_OPERATOR),
                      (sub_id(DEV).lower(), VM_OPERATOR)}  # fmt: skip

    # The custom role's assignment at subscription scope is the fourth privileged one.
    over = assert_count(judged, PROD, Status.FAIL, "4 privileged role assignments",
                        "Contributor 1, EMR Operator 1, Owner 2", "at most 3",
                        'custom role EMR Operator counts as privileged: actions "*" grants write on every resource '
                        "type (Contributor-like)")  # fmt: skip
    assert "EMR Operator" in over.reason_ja and "Contributor 相当" in over.reason_ja
    assert operator["id"].lower() in {e.resource_id.lower() for e in judged.facts.evidence if e.sha256 in over.evidence}
    # The holder is judged like a built-in privileged role's; the narrow custom role is not privileged.
    assert_finding(judged, EXISTS, operator["id"], Status.PASS, "EMR Operator", "鈴木 美咲", "exists in Entra ID",
                   "custom role EMR Operator counts as privileged")  # fmt: skip
    assert vm_operator["id"].lower() not in judged.findings(EXISTS)

    # One finding per custom role definition: the broad one fails, the narrow one (listed twice) passes.
    defs = judged.findings(CUSTOM)
    broad_id = custom_definition(EMR_OPERATOR, PROD)["id"]
    narrow_id = custom_definition(VM_OPERATOR, PROD)["id"]
    assert set(defs) == {broad_id.lower(), narrow_id.lower()}
    broad = assert_finding(judged, CUSTOM, broad_id, Status.FAIL, "custom role EMR Operator",
                           f"assignable at {sub_id(PROD)}", 'actions "*"', "Contributor-like")  # fmt: skip
    assert "Contributor 相当" in broad.reason_ja
    narrow = assert_finding(judged, CUSTOM, narrow_id, Status.PASS, "EMR VM Operator", "no broad action")
    copies = [e for e in judged.facts.of(FactKind.ROLE_DEFINITION) if e.sha256 in narrow.evidence]
    assert {e.scope.lower() for e in copies} == {sub_id(PROD).lower(), sub_id(DEV).lower()}
    for number in (141, 145):
        assert judged.verdict(number) == Status.FAIL


def test_narrow_custom_roles_leave_privileged_count_and_pass(judge):
    prod = [
        assignment(OWNER, BREAK_GLASS, "User"),
        assignment(VM_OPERATOR, DEVELOPERS, "Group"),  # subscription scope, but not privileged
        assignment(VM_OPERATOR, ADMINS, "Group"),
    ]
    dev = [assignment(OWNER, SATO, "User", DEV), assignment(VM_OPERATOR, DEVELOPERS, "Group", DEV)]
    judged = judge(role_estate(prod + dev, custom=(VM_OPERATOR,)))
    assert_count(judged, PROD, Status.PASS, "1 privileged role assignments (Owner 1; at most 3")
    assert "custom role" not in judged.findings(MAX)[sub_id(PROD).lower()].reason_en
    assert {f.status for f in judged.findings(CUSTOM).values()} == {Status.PASS}
    assert len(judged.findings(CUSTOM)) == 1
    assert judged.verdict(145) == Status.PARTIAL and judged.verdict(141) == Status.MANUAL
