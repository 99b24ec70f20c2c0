"""The sandbox's Graph refuses what Graph refuses without the permission or the Entra ID edition a read needs,
with Graph's own codes and messages; eligibility schedule instances are served from the estate."""

import json

import pytest

from sandbox import graph
from sandbox.estate import EstateError, estate_from_mapping

TENANT = "c789e719-364a-4a28-aff9-0db8d2f428d5"
SUB = "a8233bec-16ce-49d8-af36-5decabf6c438"
USER = "cd7bbc22-1bce-4dce-b423-986ae30072c1"
GA = "62e90394-69f5-4237-9190-012177145e10"
ELIGIBLE = {"id": "8MYkhImhnkm70CbBdTyW1BbHHAdHgZdDpbqyEFlRzAs-1-e", "principalId": USER, "roleDefinitionId": GA,
            "directoryScopeId": "/", "appScopeId": None, "startDateTime": "2026-01-05T00:00:00Z",
            "endDateTime": None, "memberType": "Direct"}  # fmt: skip
ELIGIBILITY = "roleManagement/directory/roleEligibilityScheduleInstances"


def load(tenant: dict | None = None, **directory):
    d = {"users": [{"id": USER, "userPrincipalName": "sato@clinic.example"}], **directory}
    return estate_from_mapping(
        {"tenant": {"id": TENANT, **(tenant or {})}, "subscriptions": [{"subscriptionId": SUB}], "directory": d}
    )


def refused(tenant: dict, rel: str, query: dict) -> graph.GraphError:
    with pytest.raises(graph.GraphError) as info:
        graph.refuse(load(tenant).tenant, rel, query)
    return info.value


def test_eligibility_instances_are_served_with_select():
    estate = load(roleEligibilityScheduleInstances=[ELIGIBLE])
    graph.refuse(estate.tenant, ELIGIBILITY, {})  # defaults: P2, every permission granted
    result = graph.read(estate.directory, ELIGIBILITY, {"$select": "principalId,roleDefinitionId"})
    assert result.items == [{"principalId": USER, "roleDefinitionId": GA}]


def test_sign_in_activity_needs_audit_log_permission_and_a_premium_tenant():
    query = {"$select": "id,signInActivity"}
    e = refused({"graphPermissions": ["Directory.Read.All"]}, "users", query)
    assert (e.status, e.code) == (403, "Authentication_MSGraphPermissionMissing")
    assert e.message == "Calling principal does not have required MSGraph permissions AuditLog.Read.All"
    e = refused({"license": "Free"}, "users", {"$filter": "signInActivity/lastSignInDateTime le 2026-01-01"})
    assert (e.status, e.code) == (403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant")
    # Without signInActivity, Directory.Read.All is enough; P1 is enough for it.
    graph.refuse(load({"graphPermissions": ["Directory.Read.All"]}).tenant, "users", {"$select": "id"})
    graph.refuse(load({"license": "P1", "graphPermissions": ["AuditLog.Read.All"]}).tenant, "users", query)


def test_eligibility_needs_its_permission_and_p2():
    e = refused({"graphPermissions": ["Directory.Read.All"]}, ELIGIBILITY, {})
    assert (e.status, e.code) == (403, "UnknownError")
    inner = json.loads(e.message)
    assert inner["errorCode"] == "PermissionScopeNotGranted"
    assert "RoleEligibilitySchedule.Read.Directory" in inner["message"]
    e = refused({"license": "P1"}, ELIGIBILITY, {})
    assert (e.status, e.code) == (400, "AadPremiumLicenseRequired")
    graph.refuse(load({"graphPermissions": ["RoleManagement.Read.Directory"]}).tenant, ELIGIBILITY, {})


def test_conditional_access_needs_policy_read_all():
    e = refused({"graphPermissions": ["Directory.Read.All"]}, "identity/conditionalAccess/policies", {})
    assert (e.status, e.code) == (403, "Authorization_RequestDenied")


@pytest.mark.parametrize(
    ("tenant", "directory", "expected"),
    [
        ({"license": "E5"}, {}, "license must be one of Free, P1, P2"),
        ({"graphPermissions": "Directory.Read.All"}, {}, "graphPermissions must be a list"),
        ({}, {"roleEligibilityScheduleInstances": [{**ELIGIBLE, "principalId": "nobody"}]}, "needs a principalId"),
    ],
)
def test_bad_tenant_or_eligibility_is_one_line(tenant, directory, expected):
    with pytest.raises(EstateError) as info:
        load(tenant, **directory)
    assert expected in str(info.value) and "\n" not in str(info.value)
