"""The real msgraph-sdk client against the sandbox's Graph endpoints."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpx
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core import GraphClientFactory

from sandbox.server import Sandbox, SandboxInfo


async def _list_users(info: SandboxInfo, select: list[str] | None) -> list[Any]:
    credential = AsyncClientSecretCredential(
        info.tenant_id, info.client_id, info.client_secret, authority=info.authority, connection_verify=info.ca_bundle
    )
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=["https://graph.microsoft.com/.default"], allowed_hosts=["127.0.0.1"]
    )
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=info.ca_bundle), trust_env=False)
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = info.graph_base_url
    client = GraphServiceClient(request_adapter=adapter)
    config = None
    if select:
        params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(select=select)
        config = RequestConfiguration(query_parameters=params)
    users: list[Any] = []
    try:
        page = await client.users.get(request_configuration=config)
        while page is not None:
            users.extend(page.value or [])
            if not page.odata_next_link:
                break
            page = await client.users.with_url(page.odata_next_link).get()
    finally:
        await http.aclose()
        await credential.close()
    return users


def test_msgraph_sdk_pages_through_users(sb: Sandbox, info: SandboxInfo) -> None:
    mark = sb.requests.mark()
    users = asyncio.run(_list_users(info, ["id", "displayName", "userType", "signInActivity"]))
    assert len(users) == 8
    assert {u.user_type for u in users} == {"Member", "Guest"}
    assert all(u.sign_in_activity is not None and u.sign_in_activity.last_sign_in_date_time for u in users)
    pages = [r for r in sb.requests.since(mark) if r.path == "/v1.0/users"]
    assert len(pages) == 4 and all(r.status == 200 for r in pages)


def test_msgraph_sdk_retries_a_throttled_page(sb: Sandbox, info: SandboxInfo) -> None:
    # Whole seconds: kiota's retry handler only reads the integer form of Retry-After.
    sb.faults.add("throttle", path="/v1.0/users", skip=1, count=1, retry_after=1)
    mark = sb.requests.mark()
    users = asyncio.run(_list_users(info, None))
    assert len(users) == 8 and users[0].sign_in_activity is None  # not selected: not returned
    statuses = [r.status for r in sb.requests.since(mark) if r.path == "/v1.0/users"]
    assert statuses == [200, 429, 200, 200, 200]
    retried = [r for r in sb.requests.since(mark) if r.path == "/v1.0/users"][1:3]
    assert 0.9 <= retried[1].at - retried[0].at < 2.5
