"""Entra ID directory principals (users, groups, service principals) through Microsoft Graph.

Tenant-wide, collected once per run (not once per subscription). The role checks use these to tell
whether a role assignment's principal still exists. Uses msgraph-sdk's request builders and
transport (auth, retries with Retry-After), but keeps each page's raw JSON as the evidence.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any
from urllib.parse import urlparse

import httpx
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware.options import HeadersInspectionHandlerOption, RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core import GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler

from agent.metrics import CountingMiddleware
from collector.fetchers.base import MAX_PAGES, FetchContext, Fetcher, InvalidResponseError, PagingLoopError
from controls.model import FactKind

# Only what the checks need: Graph's defaults would store phone numbers, mail and, for service
# principals, the first characters of each secret (passwordCredentials hints) as evidence.
COLLECTIONS = {
    "users": "id,displayName,userPrincipalName,userType,accountEnabled",
    "groups": "id,displayName,securityEnabled,mailEnabled",
    "servicePrincipals": "id,displayName,appId,servicePrincipalType,accountEnabled",
}


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
    # Graph's default middleware, plus one innermost (below the retries) counting every attempt (agent.metrics).
    middleware = KiotaClientFactory.get_default_middleware({RetryHandlerOption.get_key(): retry})
    middleware += [GraphTelemetryHandler(), CountingMiddleware()]
    http = GraphClientFactory.create_with_custom_middleware(
        middleware, client=httpx.AsyncClient(verify=verify, timeout=60)
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = base
    return GraphServiceClient(request_adapter=adapter), adapter, http


async def _collect(ctx: FetchContext) -> None:
    client, adapter, http = graph_client(ctx)
    try:
        base = ctx.azure.graph_base_url.rstrip("/")
        for collection, select in COLLECTIONS.items():
            builder = getattr(client, _attr(collection))
            request = builder.with_url(f"{base}/{collection}?$select={select}").to_get_request_information()
            seen: set[str] = set()
            while True:
                headers = HeadersInspectionHandlerOption(inspect_request_headers=False, inspect_response_headers=True)
                request.add_request_options([headers])
                raw = await adapter.send_primitive_async(request, "bytes", {"XXX": ODataError})
                request_id = next(iter(headers.response_headers.try_get("request-id") or []), None)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError as exc:
                    raise InvalidResponseError(f"Graph {collection} page is not valid JSON ({exc})") from None
                for doc in body.get("value", []):
                    ctx.record_document(
                        FactKind.DIRECTORY_PRINCIPAL,
                        doc,
                        resource_id=f"{collection}/{doc.get('id', '')}",
                        api_version="v1.0",
                        request_id=request_id,
                    )
                next_link = body.get("@odata.nextLink")
                if not next_link:
                    break
                if next_link in seen or len(seen) >= MAX_PAGES:
                    raise PagingLoopError(f"@odata.nextLink repeats or exceeds {MAX_PAGES} pages: {next_link}")
                seen.add(next_link)
                request = builder.with_url(next_link).to_get_request_information()
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
