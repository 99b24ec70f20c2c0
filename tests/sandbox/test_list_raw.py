"""`list_raw` follows a listing's pages as the SDK does, without building the SDK's models of the listed items.

The sandbox here serves two items a page, so every listing below takes several nextLinks. Each call is made once
through `list_raw` and once by iterating the SDK's own pager (its models), and the two must see the same documents,
in the same order, from the same number of pages. Both SDK generations are covered: the newer ones (resources,
network, web), which read a page with `http_response.json()`, and the `_serialization` ones (authorization,
monitor), which read the pipeline's decoded body; monitor's diagnostic settings are an operation whose pager never
follows a nextLink, and `list_raw` must not either.
"""

from __future__ import annotations

from typing import Any

import pytest
from azure.identity import ClientSecretCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.web import WebSiteManagementClient

from collector.fetchers.base import PagingLoopError, RawCapture, drain, list_raw
from sandbox.server import Sandbox
from tests.sandbox.sdk import client_for


def _sdk_ids(call: Any, *args: Any) -> tuple[list[str], int]:
    """The ids the SDK's own pager yields (its models), and how many pages it fetched."""
    seen = RawCapture()
    ids = [item.id for item in call(*args, raw_response_hook=seen)]
    return ids, len(seen.pages)


def _listings(credential: ClientSecretCredential, kwargs: dict[str, Any], sub: str) -> list[tuple[Any, tuple]]:
    resources = ResourceManagementClient(credential, sub, **kwargs)
    network = NetworkManagementClient(credential, sub, **kwargs)
    web = WebSiteManagementClient(credential, sub, **kwargs)
    auth = AuthorizationManagementClient(credential, sub, **kwargs)
    return [
        (resources.resources.list, ()),
        (network.network_security_groups.list_all, ()),
        (web.web_apps.list, ()),
        (auth.role_assignments.list_for_subscription, ()),
        (auth.role_definitions.list, (f"/subscriptions/{sub}",)),
    ]


def test_list_raw_sees_what_the_sdk_pager_sees(
    credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str
) -> None:
    paged = 0
    for call, args in _listings(credential, client_kwargs, prod):
        expected, pages = _sdk_ids(call, *args)
        capture = list_raw(call, *args)
        assert expected and [doc["id"] for doc, _ in capture.documents()] == expected, call
        assert len(capture.pages) == pages, call
        paged += pages > 1
    assert paged >= 4  # all but the web apps (two in this subscription) took more than one page


def test_list_raw_reads_an_unpaged_listing_as_the_sdk_does() -> None:
    sub, tenant = "00000000-0000-0000-0000-0000000000a1", "00000000-0000-0000-0000-0000000000b2"
    rid = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"
    settings = [
        {
            "id": f"{rid}/providers/Microsoft.Insights/diagnosticSettings/s{i}",
            "name": f"s{i}",
            "type": "Microsoft.Insights/diagnosticSettings",
            "properties": {"logs": []},
        }
        for i in range(5)
    ]
    estate = {
        "tenant": {"id": tenant},
        "subscriptions": [{"subscriptionId": sub}],
        "resources": [
            {"id": rid, "name": "kv", "type": "Microsoft.KeyVault/vaults", "location": "japaneast"},
            *settings,
        ],
    }
    with Sandbox.from_dict(estate, page_size=2) as small:
        monitor = client_for(small.info, MonitorManagementClient, sub)
        expected, pages = _sdk_ids(monitor.diagnostic_settings.list, rid)
        capture = list_raw(monitor.diagnostic_settings.list, rid)
        assert [doc["id"] for doc, _ in capture.documents()] == expected
        assert len(capture.pages) == pages


def test_a_repeated_page_still_stops_the_listing(
    sb: Sandbox, credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str
) -> None:
    resources = ResourceManagementClient(credential, prod, **client_kwargs)
    first = list_raw(resources.resources.list)
    assert len(first.pages) > 1
    # The same capture given the same first page again: its URL repeats, which the capture refuses.
    with pytest.raises(PagingLoopError):
        drain(resources.resources.list(raw_response_hook=first), first)
