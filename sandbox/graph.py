"""Microsoft Graph v1.0 reads over the estate's `directory:` section.

Served: /users, /groups, /servicePrincipals, /applications, /directoryRoles, /domains, /organization,
/identity/conditionalAccess/policies, /groupSettings, each `{collection}/{id}`, `/groups/{id}/members`,
`/directoryRoles/{id}/members`, `/policies/authorizationPolicy`,
`/policies/identitySecurityDefaultsEnforcementPolicy`, `/roleManagement/directory/roleEligibilityScheduleInstances`,
and the app role assignments: `/servicePrincipals/{id}/appRoleAssignedTo` (who holds the application's roles) and
`/users/{id}/appRoleAssignments`, `/groups/{id}/appRoleAssignments` (what a principal holds directly).

Like Graph, `/users` returns only the default property set unless `$select` names more; properties such
as `accountEnabled`, `userType`, `createdDateTime` and `signInActivity` must be selected.

Reads that need more than Directory.Read.All are refused as Graph refuses them when the estate's tenant lacks
the permission (`tenant.graphPermissions`) or the Entra ID edition (`tenant.license`), see `refuse`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.arm import FilterError, dotted, filter_docs
from sandbox.estate import (
    DIRECTORY_COLLECTIONS,
    DIRECTORY_SINGLETONS,
    MEMBER_COLLECTIONS,
    ODATA_TYPES,
    Directory,
    Tenant,
)

# Graph's default properties for a user when no $select is given.
USER_DEFAULT_PROPERTIES = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
_SUPPORTED_OPTIONS = {"$select", "$top", "$filter", "$count", "$skiptoken"}


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self, request_id: str, date: str) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {"date": date, "request-id": request_id, "client-request-id": request_id},
            }
        }


@dataclass(frozen=True)
class GraphResult:
    """Either one object or a list to page; `context` is the `@odata.context` fragment."""

    context: str
    item: dict[str, Any] | None = None
    items: list[dict[str, Any]] | None = None


def check_options(query: Mapping[str, str]) -> None:
    for key in query:
        if key.startswith("$") and key.lower() not in _SUPPORTED_OPTIONS:
            raise GraphError(400, "Request_UnsupportedQuery", f"The sandbox does not support the {key} query option.")


# Application permissions any of which grants a read (least privileged first), as Microsoft Graph's
# permission tables list them.
_ELIGIBILITY_PERMISSIONS = (
    "RoleEligibilitySchedule.Read.Directory",
    "RoleManagement.Read.Directory",
    "RoleEligibilitySchedule.ReadWrite.Directory",
    "RoleManagement.ReadWrite.Directory",
)
_POLICY_PERMISSIONS = ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess")


def _granted(tenant: Tenant, *permissions: str) -> bool:
    if tenant.graph_permissions is None:
        return True
    held = {p.lower() for p in tenant.graph_permissions}
    return any(p.lower() in held for p in permissions)


def refuse(tenant: Tenant, rel: str, query: Mapping[str, str]) -> None:
    """Raise the error Graph answers when the client lacks the permission or the tenant the edition a read
    needs. The codes and messages are Graph's own:

    - `signInActivity` on /users (`$select` or `$filter`): without an Entra ID P1/P2 licence, 403
      Authentication_RequestFromNonPremiumTenantOrB2CTenant; without AuditLog.Read.All, 403
      Authentication_MSGraphPermissionMissing.
    - /roleManagement/directory/roleEligibility*: without one of _ELIGIBILITY_PERMISSIONS, 403 UnknownError
      whose message is the PIM service's JSON (errorCode PermissionScopeNotGranted); without Entra ID P2,
      400 AadPremiumLicenseRequired.
    - /identity/conditionalAccess/policies and the security-defaults policy without Policy.Read.All: 403
      Authorization_RequestDenied.
    """
    low = "/".join(s for s in rel.strip("/").split("/") if s).lower()
    asked = f"{query.get('$select') or ''},{query.get('$filter') or ''}".lower()
    if (low == "users" or low.startswith("users/")) and "signinactivity" in asked:
        if tenant.license == "Free":
            raise GraphError(
                403,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license",
            )
        if not _granted(tenant, "AuditLog.Read.All"):
            raise GraphError(
                403,
                "Authentication_MSGraphPermissionMissing",
                "Calling principal does not have required MSGraph permissions AuditLog.Read.All",
            )
    if low.startswith("rolemanagement/directory/roleeligibility"):
        if not _granted(tenant, *_ELIGIBILITY_PERMISSIONS):
            scopes = ",".join(_ELIGIBILITY_PERMISSIONS)
            raise GraphError(
                403,
                "UnknownError",
                '{"errorCode":"PermissionScopeNotGranted","message":"Authorization failed due to missing '
                f'permission scope {scopes}.","instanceAnnotations":[]}}',
            )
        if tenant.license != "P2":
            raise GraphError(
                400,
                "AadPremiumLicenseRequired",
                "The tenant needs to have Microsoft Entra ID P2 or Microsoft Entra ID Governance license.",
            )
    policies = ("identity/conditionalaccess/policies", "policies/identitysecuritydefaultsenforcementpolicy")
    if low.startswith(policies) and not _granted(tenant, *_POLICY_PERMISSIONS):
        raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def read(directory: Directory, rel: str, query: Mapping[str, str]) -> GraphResult:
    """Resolve a GET under /v1.0 (`rel` without the prefix), with $filter and $select applied.

    Paging is left to the caller. Raises GraphError.
    """
    check_options(query)
    fields = [f.strip() for f in (query.get("$select") or "").split(",") if f.strip()]
    segs = [s for s in rel.strip("/").split("/") if s]
    low = "/".join(segs).lower()
    for key, path in DIRECTORY_SINGLETONS.items():
        if low == path.lower():
            if key not in directory.singletons:
                raise GraphError(404, "Request_ResourceNotFound", f"Resource '{segs[-1]}' does not exist.")
            return GraphResult(_context(path, fields), item=_present(key, directory.singletons[key], fields))
    paths = dict(DIRECTORY_COLLECTIONS, organization="organization")
    for key, path in paths.items():
        plen = len(path.split("/"))
        if "/".join(segs[:plen]).lower() != path.lower():
            continue
        docs = directory.collections.get(key, ())
        rest = segs[plen:]
        if not rest:
            items = [_present(key, d, fields) for d in _filtered(list(docs), query)]
            return GraphResult(_context(path, fields), items=items)
        obj = next((d for d in docs if str(d.get("id", "")).lower() == rest[0].lower()), None)
        if obj is None:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{rest[0]}' does not exist or one of its queried reference-property objects "
                "are not present.",
            )
        if len(rest) == 1:
            return GraphResult(_context(path, fields) + "/$entity", item=_present(key, obj, fields))
        if len(rest) == 2 and rest[1].lower() == "members" and key in MEMBER_COLLECTIONS:
            found = [directory.find(m) for m in directory.members.get((key, str(obj["id"]).lower()), ())]
            pairs = [f for f in found if f is not None]
            kept = {id(d) for d in _filtered([d for _, d in pairs], query)}
            members = [
                {
                    "@odata.type": ODATA_TYPES.get(mkey, "#microsoft.graph.directoryObject"),
                    **_present(mkey, mdoc, fields),
                }
                for mkey, mdoc in pairs
                if id(mdoc) in kept
            ]
            return GraphResult("directoryObjects", items=members)
        if len(rest) == 2 and (key, rest[1].lower()) in _ASSIGNMENT_NAVIGATIONS:
            items = _app_role_assignments(directory, key, str(obj["id"]))
            return GraphResult(
                f"{path}('{obj['id']}')/{rest[1]}", items=[_present("", d, fields) for d in _filtered(items, query)]
            )
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'.")
    bad = segs[0] if segs else ""
    raise GraphError(400, "BadRequest", f"Resource not found for the segment '{bad}'.")


# Navigation properties that list appRoleAssignment documents.
_ASSIGNMENT_NAVIGATIONS = {
    ("servicePrincipals", "approleassignedto"),
    ("users", "approleassignments"),
    ("groups", "approleassignments"),
}


def _app_role_assignments(directory: Directory, key: str, object_id: str) -> list[dict[str, Any]]:
    """A resource's appRoleAssignedTo, or the assignments a user or group holds directly (every resource)."""
    if key == "servicePrincipals":
        return list(directory.app_role_assignments.get(object_id.lower(), ()))
    return [
        a
        for docs in directory.app_role_assignments.values()
        for a in docs
        if str(a["principalId"]).lower() == object_id.lower()
    ]


def _context(path: str, fields: list[str]) -> str:
    return f"{path}({','.join(fields)})" if fields else path


def _present(key: str, doc: Mapping[str, Any], fields: list[str]) -> dict[str, Any]:
    """The object as Graph returns it: the $select-ed properties (null when absent), else the default set."""
    if fields:
        out: dict[str, Any] = {}
        for f in fields:
            match = next((k for k in doc if k.lower() == f.lower()), None)
            out[match or f] = doc[match] if match is not None else None
        return out
    if key == "users":
        return {k: doc.get(k) for k in USER_DEFAULT_PROPERTIES}
    return dict(doc)


def _filtered(items: list[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
    try:
        return filter_docs(items, query.get("$filter"), dotted)
    except FilterError as e:
        raise GraphError(400, "Request_UnsupportedQuery", str(e)) from None
