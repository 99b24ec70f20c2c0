"""Entra ID sign-in policies through Microsoft Graph v1.0: domains' password expiry, the tenant's
directory settings (banned passwords, smart lockout), Conditional Access policies and security defaults.

Tenant-wide, collected once per run. Each read is recorded on its own, so one that is refused (e.g.
Conditional Access without Policy.Read.All) does not hide the others. Reads and permissions:

- `GET /domains` (Directory.Read.All): id, authenticationType, isVerified, passwordValidityPeriodInDays.
- `GET /users` (Directory.Read.All): id, userPrincipalName, accountEnabled, passwordPolicies (only to find
  users whose password never expires).
- `GET /groupSettings` (Directory.Read.All): the tenant-wide directory settings ("Password Rule Settings").
- `GET /identity/conditionalAccess/policies` (Policy.Read.All, optional).
- `GET /policies/identitySecurityDefaultsEnforcementPolicy` (Policy.Read.All, optional).

Raw JSON is kept as evidence, as in collector.fetchers.entra; `$select` names only what the checks read.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from kiota_abstractions.api_error import APIError
from kiota_http.middleware.options import HeadersInspectionHandlerOption
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from collector.fetchers.base import MAX_PAGES, FetchContext, Fetcher, InvalidResponseError, PagingLoopError
from collector.fetchers.entra import graph_client

DOMAIN = "entra_domain"
USER_PASSWORD_POLICY = "entra_user_password_policy"
DIRECTORY_SETTING = "entra_directory_setting"
CONDITIONAL_ACCESS_POLICY = "conditional_access_policy"
SECURITY_DEFAULTS = "security_defaults_policy"

POLICY_PERMISSION = "Policy.Read.All"


@dataclass(frozen=True)
class Read:
    kind: str
    path: str  # under /v1.0, with its query
    id_prefix: str  # evidence resource id: f"{id_prefix}/{id}" (a singleton: id_prefix alone)
    permission: str | None = None  # an optional Graph application permission the read needs
    singleton: bool = False


READS = (
    Read(DOMAIN, "domains?$select=id,authenticationType,isDefault,isVerified,passwordValidityPeriodInDays", "domains"),
    Read(USER_PASSWORD_POLICY, "users?$select=id,userPrincipalName,accountEnabled,passwordPolicies", "users"),
    Read(DIRECTORY_SETTING, "groupSettings?$select=id,displayName,templateId,values", "groupSettings"),
    Read(
        CONDITIONAL_ACCESS_POLICY,
        "identity/conditionalAccess/policies?$select=id,displayName,state,conditions,grantControls,sessionControls",
        "conditionalAccessPolicies",
        POLICY_PERMISSION,
    ),
    Read(
        SECURITY_DEFAULTS,
        "policies/identitySecurityDefaultsEnforcementPolicy?$select=id,displayName,isEnabled",
        "policies/identitySecurityDefaultsEnforcementPolicy",
        POLICY_PERMISSION,
        singleton=True,
    ),
)


class GraphReadError(Exception):
    """A refused or failed Graph read, with Graph's error code; names the optional permission on a 403."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _graph_error(exc: APIError, read: Read) -> GraphReadError:
    status = getattr(exc, "response_status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or f"HTTP {status}"
    message = getattr(error, "message", None) or str(exc).splitlines()[0]
    message = f"{message} (HTTP {status}, GET /{read.path.split('?')[0]})"
    if status == 403 and read.permission:
        message += f" (needs Microsoft Graph application permission {read.permission})"
    return GraphReadError(code, message)


async def _collect(ctx: FetchContext) -> None:
    client, adapter, http = graph_client(ctx)
    base = ctx.azure.graph_base_url.rstrip("/")
    try:
        for read in READS:
            try:
                await _read(ctx, client, adapter, base, read)
            except APIError as exc:
                ctx.sink.error(read.kind, ctx.fetcher.name, ctx.scope, _graph_error(exc, read))
            except (InvalidResponseError, PagingLoopError) as exc:
                ctx.sink.error(read.kind, ctx.fetcher.name, ctx.scope, exc)
    finally:
        await http.aclose()


async def _read(ctx: FetchContext, client: Any, adapter: Any, base: str, read: Read) -> None:
    builder = client.domains  # any request builder: the URL is given whole
    request = builder.with_url(f"{base}/{read.path}").to_get_request_information()
    seen: set[str] = set()
    while True:
        headers = HeadersInspectionHandlerOption(inspect_request_headers=False, inspect_response_headers=True)
        request.add_request_options([headers])
        raw = await adapter.send_primitive_async(request, "bytes", {"XXX": ODataError})
        request_id = next(iter(headers.response_headers.try_get("request-id") or []), None)
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise InvalidResponseError(f"Graph {read.path.split('?')[0]} is not valid JSON ({exc})") from None
        if not isinstance(body, dict):
            raise InvalidResponseError(f"Graph {read.path.split('?')[0]} is not a JSON object")
        docs = [body] if read.singleton else body.get("value", [])
        for doc in docs:
            rid = read.id_prefix if read.singleton else f"{read.id_prefix}/{doc.get('id', '')}"
            ctx.record_document(read.kind, doc, resource_id=rid, api_version="v1.0", request_id=request_id)
        next_link = None if read.singleton else body.get("@odata.nextLink")
        if not next_link:
            return
        if next_link in seen or len(seen) >= MAX_PAGES:
            raise PagingLoopError(f"@odata.nextLink repeats or exceeds {MAX_PAGES} pages: {next_link}")
        seen.add(next_link)
        request = builder.with_url(next_link).to_get_request_information()


def _run(ctx: FetchContext) -> None:
    asyncio.run(_collect(ctx))


FETCHER = Fetcher(
    "entra.policies",
    {
        DOMAIN: ("directory/domains",),
        USER_PASSWORD_POLICY: ("directory/users",),
        DIRECTORY_SETTING: ("tenant",),
        CONDITIONAL_ACCESS_POLICY: ("tenant",),
        SECURITY_DEFAULTS: ("tenant",),
    },
    tenant_wide=True,
    run=_run,
)
