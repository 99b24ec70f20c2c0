"""Entra ID directory principals (users, groups, service principals), directory roles with their members,
and the members of security groups, through Microsoft Graph.

Tenant-wide, collected once per run (not once per subscription). The role checks use these to tell
whether a role assignment's principal still exists, is enabled and is a member rather than a guest, and
who holds each directory role. Uses msgraph-sdk's request builders and transport (auth, retries with
Retry-After), but keeps each page's raw JSON as the evidence.

Per-object calls: `GET /directoryRoles/{id}/members` once per activated directory role, and
`GET /groups/{id}/members` once per security-enabled group (a group holding an Azure role or a directory
role grants it to its members). All need only Directory.Read.All.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import httpx
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import BaseMiddleware, RetryHandler
from kiota_http.middleware.options import HeadersInspectionHandlerOption, RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core import GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler

from agent.metrics import CountingMiddleware
from collector.azure_clients import Deadline
from collector.fetchers.base import MAX_PAGES, FetchContext, Fetcher, InvalidResponseError, PagingLoopError
from controls.model import FactKind

# Only what the checks need: Graph's defaults would store phone numbers, mail and, for service
# principals, the first characters of each secret (passwordCredentials hints) as evidence.
COLLECTIONS = {
    "users": "id,displayName,userPrincipalName,userType,accountEnabled,createdDateTime",
    "groups": "id,displayName,securityEnabled,mailEnabled",
    "servicePrincipals": "id,displayName,appId,servicePrincipalType,accountEnabled",
}
# Directory roles (only activated roles are listed) and, per role, the ids of its members; Graph adds each
# member's @odata.type (#microsoft.graph.user, .group, .servicePrincipal).
DIRECTORY_ROLE = "directory_role"
DIRECTORY_ROLE_MEMBERS = "directory_role_members"  # one document per page of a role's members
GROUP_MEMBERS = "group_members"  # one document per page of a security group's members
ROLE_SELECT = "id,displayName,roleTemplateId"
MEMBER_SELECT = "id"


def graph_client(ctx: FetchContext) -> tuple[GraphServiceClient, GraphRequestAdapter, httpx.AsyncClient]:
    base = ctx.azure.graph_base_url.rstrip("/")
    origin = urlparse(base)
    auth = AzureIdentityAuthenticationProvider(
        ctx.clients.credential,
        scopes=[f"{origin.scheme}://{origin.netloc}/.default"],
        allowed_hosts=[origin.hostname or ""],
    )
    verify: Any = ssl.create_default_context(cafile=ctx.azure.ca_bundle) if ctx.azure.ca_bundle else True
    retry = RetryHandlerOption(max_retries=min(ctx.clients.collection.max_retries, 10))  # kiota caps it at 10
    deadline = ctx.clients.deadline
    # Graph's default middleware with its retries bounded by the run's deadline, plus, innermost (below the
    # retries), the deadline's check before every attempt and one counting every attempt (agent.metrics).
    middleware = [
        DeadlineRetryHandler(deadline, retry) if isinstance(m, RetryHandler) else m
        for m in KiotaClientFactory.get_default_middleware({RetryHandlerOption.get_key(): retry})
    ]
    middleware += [GraphTelemetryHandler(), DeadlineMiddleware(deadline), CountingMiddleware()]
    http = GraphClientFactory.create_with_custom_middleware(
        middleware, client=httpx.AsyncClient(verify=verify, timeout=ctx.clients.collection.call_timeout_seconds)
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = base
    return GraphServiceClient(request_adapter=adapter), adapter, http


class DeadlineRetryHandler(RetryHandler):
    """kiota's retries, except that a wait reaching past the run's deadline is not waited: the 429 or 503 is
    returned as Graph answered it (kiota alone waits any Retry-After under 180 s, deadline or not)."""

    def __init__(self, deadline: Deadline, options: RetryHandlerOption) -> None:
        super().__init__(options)
        self.deadline = deadline

    def get_delay_time(self, retry_count: int, response: httpx.Response | None = None, delay: float = 0) -> float:
        wait = super().get_delay_time(retry_count, response, delay)
        return wait if wait < self.deadline.remaining() else float("inf")  # inf: kiota does not retry


class DeadlineMiddleware(BaseMiddleware):
    """No Graph call starts once the run's deadline has passed (RunDeadlineExceeded, as on ARM), and no
    attempt's timeout reaches past it, so endless or slow paging ends with the run's deadline."""

    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    async def send(self, request: httpx.Request, transport: httpx.AsyncBaseTransport) -> httpx.Response:
        self.deadline.check(f"{request.method} {request.url.path}")
        remaining = max(0.001, self.deadline.remaining())
        timeouts = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            k: remaining if v is None else min(v, remaining)
            for k, v in {**dict.fromkeys(("connect", "read", "write", "pool")), **timeouts}.items()
        }
        return await super().send(request, transport)


class GraphCallError(Exception):
    """A Graph error answer, carrying Graph's own error code (e.g. Authorization_RequestDenied) so that the
    collection error, and the finding, name it rather than the SDK's exception type."""

    def __init__(self, code: str, message: str, status: int | None) -> None:
        super().__init__(f"{message} (HTTP {status})" if status is not None else message)
        self.code = code
        self.status = status


def _graph_failure(exc: ODataError, url: str) -> GraphCallError:
    error = exc.error
    code = (error.code if error is not None else None) or "ODataError"
    message = (error.message if error is not None else None) or f"Graph refused {url}"
    return GraphCallError(code, message, exc.response_status_code)


async def _pages(adapter: GraphRequestAdapter, builder: Any, url: str) -> AsyncIterator[tuple[dict, str | None]]:
    """Each page of a Graph list as raw JSON, with its request-id, following @odata.nextLink to the end."""
    request = builder.with_url(url).to_get_request_information()
    seen: set[str] = set()
    while True:
        headers = HeadersInspectionHandlerOption(inspect_request_headers=False, inspect_response_headers=True)
        request.add_request_options([headers])
        try:
            raw = await adapter.send_primitive_async(request, "bytes", {"XXX": ODataError})
        except ODataError as exc:
            raise _graph_failure(exc, url) from None
        request_id = next(iter(headers.response_headers.try_get("request-id") or []), None)
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise InvalidResponseError(f"Graph page of {url} is not valid JSON ({exc})") from None
        if not isinstance(body, dict) or not isinstance(body.get("value", []), list):
            raise InvalidResponseError(f"Graph page of {url} has no value list")
        yield body, request_id
        next_link = body.get("@odata.nextLink")
        if not next_link:
            return
        if next_link in seen or len(seen) >= MAX_PAGES:
            raise PagingLoopError(f"@odata.nextLink repeats or exceeds {MAX_PAGES} pages: {next_link}")
        seen.add(next_link)
        request = builder.with_url(next_link).to_get_request_information()


async def _collect(ctx: FetchContext) -> None:
    client, adapter, http = graph_client(ctx)
    try:
        base = ctx.azure.graph_base_url.rstrip("/")
        for collection, select in COLLECTIONS.items():
            builder = getattr(client, _attr(collection))
            async for body, request_id in _pages(adapter, builder, f"{base}/{collection}?$select={select}"):
                for doc in body.get("value", []):
                    ctx.record_document(
                        FactKind.DIRECTORY_PRINCIPAL,
                        doc,
                        resource_id=f"{collection}/{doc.get('id', '')}",
                        api_version="v1.0",
                        request_id=request_id,
                    )
    finally:
        await http.aclose()


async def _members(ctx: FetchContext, adapter: GraphRequestAdapter, builder: Any, kind: str, path: str) -> None:
    """Every page of `path`/members as one document each; a failure is that object's error only."""
    base = ctx.azure.graph_base_url.rstrip("/")
    try:
        n = 0
        async for body, request_id in _pages(adapter, builder, f"{base}/{path}/members?$select={MEMBER_SELECT}"):
            n += 1
            ctx.record_document(
                kind,
                body,
                resource_id=f"{path}/members" + (f"#page{n}" if n > 1 else ""),
                api_version="v1.0",
                request_id=request_id,
            )
    except Exception as exc:  # recorded per object: the others are still collected
        ctx.sink.error(kind, ctx.fetcher.name, path, exc)


async def _collect_roles(ctx: FetchContext) -> None:
    client, adapter, http = graph_client(ctx)
    try:
        base = ctx.azure.graph_base_url.rstrip("/")
        roles: list[str] = []
        async for body, request_id in _pages(
            adapter, client.directory_roles, f"{base}/directoryRoles?$select={ROLE_SELECT}"
        ):
            for doc in body.get("value", []):
                ctx.record_document(
                    DIRECTORY_ROLE,
                    doc,
                    resource_id=f"directoryRoles/{doc.get('id', '')}",
                    api_version="v1.0",
                    request_id=request_id,
                )
                roles.append(str(doc.get("id", "")))
        for role in roles:
            await _members(ctx, adapter, client.directory_roles, DIRECTORY_ROLE_MEMBERS, f"directoryRoles/{role}")
    finally:
        await http.aclose()


async def _collect_group_members(ctx: FetchContext) -> None:
    client, adapter, http = graph_client(ctx)
    try:
        base = ctx.azure.graph_base_url.rstrip("/")
        groups: list[str] = []
        async for body, _ in _pages(adapter, client.groups, f"{base}/groups?$select=id,securityEnabled"):
            groups += [str(d.get("id", "")) for d in body.get("value", []) if d.get("securityEnabled") is not False]
        for group in groups:
            await _members(ctx, adapter, client.groups, GROUP_MEMBERS, f"groups/{group}")
    finally:
        await http.aclose()


def _attr(collection: str) -> str:
    return "service_principals" if collection == "servicePrincipals" else collection


def _run(ctx: FetchContext) -> None:
    asyncio.run(_collect(ctx))


FETCHER = Fetcher(
    "entra.principals",
    {FactKind.DIRECTORY_PRINCIPAL: tuple(f"directory/{c.lower()}" for c in COLLECTIONS)},
    tenant_wide=True,
    run=_run,
)

ROLES = Fetcher(
    "entra.directory_roles",
    {DIRECTORY_ROLE: ("directory/directoryroles",), DIRECTORY_ROLE_MEMBERS: ("directory/directoryroles",)},
    tenant_wide=True,
    run=lambda ctx: asyncio.run(_collect_roles(ctx)),
)

GROUP_MEMBERSHIP = Fetcher(
    "entra.group_members",
    {GROUP_MEMBERS: ("directory/groups",)},
    tenant_wide=True,
    run=lambda ctx: asyncio.run(_collect_group_members(ctx)),
)
