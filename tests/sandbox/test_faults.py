"""Injected faults as the real SDK experiences them (azure-core retry policy included)."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from azure.core.exceptions import DecodeError, HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.security import SecurityCenter
from azure.mgmt.sql import SqlManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.web import WebSiteManagementClient

from sandbox.faults import Fault, FaultSet, RequestFacts
from sandbox.server import Sandbox
from tests.sandbox.sdk import client_for


def test_forbidden_for_one_resource_type_in_one_subscription(
    sb: Sandbox, credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str, dev: str
) -> None:
    fault = sb.faults.add("forbidden", subscription=prod, resource_type="Microsoft.Sql/servers")
    with pytest.raises(HttpResponseError) as denied:
        list(SqlManagementClient(credential, prod, **client_kwargs).servers.list())
    assert denied.value.status_code == 403
    assert denied.value.error.code == "AuthorizationFailed"
    assert "Microsoft.Sql/servers/read" in denied.value.error.message
    # Child types are covered too; other types and the other subscription are not.
    with pytest.raises(HttpResponseError):
        SqlManagementClient(credential, prod, **client_kwargs).databases.get(
            "rg-emr-prod-data", "sql-emr-prod-je", "sqldb-emr"
        )
    assert [s.name for s in SqlManagementClient(credential, dev, **client_kwargs).servers.list()] == ["sql-emr-dev-je"]
    assert len(list(WebSiteManagementClient(credential, prod, **client_kwargs).web_apps.list())) == 2
    assert fault.fired == 2  # 403 is not retried


def test_throttle_is_retried_after_retry_after(
    sb: Sandbox, credential: ClientSecretCredential, client_kwargs: dict[str, Any], dev: str
) -> None:
    sb.faults.add("throttle", path="*/providers/Microsoft.Storage/storageAccounts", count=1, retry_after=0.3)
    mark = sb.requests.mark()
    accounts = list(StorageManagementClient(credential, dev, **client_kwargs).storage_accounts.list())
    assert [a.name for a in accounts] == ["stemrdevje"]
    calls = [r for r in sb.requests.since(mark) if r.path.endswith("/storageAccounts")]
    assert [(c.status, c.fault) for c in calls] == [(429, "throttle"), (200, None)]
    assert calls[1].at - calls[0].at >= 0.28  # the client waited for Retry-After


def test_throttle_window(
    sb: Sandbox, credential: ClientSecretCredential, client_kwargs: dict[str, Any], dev: str
) -> None:
    # Throttled for 0.2 s; the client waits 0.5 s (Retry-After) and then gets through.
    fault = sb.faults.add("throttle", subscription=dev, window=0.2, retry_after=0.5)
    groups = [g.name for g in ResourceManagementClient(credential, dev, **client_kwargs).resource_groups.list()]
    assert groups == ["rg-emr-dev", "NetworkWatcherRG"]
    assert fault.fired == 1


def test_server_errors_are_retried(
    sb: Sandbox, credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str
) -> None:
    sb.faults.add("server_error", path="*/resourceGroups/rg-emr-prod-app", count=1)
    sb.faults.add("server_error", status=503, retry_after=0.1, path="*/resourceGroups/rg-emr-prod-app", count=1)
    mark = sb.requests.mark()
    group = ResourceManagementClient(credential, prod, **client_kwargs).resource_groups.get("rg-emr-prod-app")
    assert group.location == "japaneast"
    assert [r.status for r in sb.requests.since(mark)] == [500, 503, 200]


def test_malformed_body(
    sb: Sandbox, credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str
) -> None:
    sb.faults.add("malformed", path="*/resourcegroups", count=1)
    with pytest.raises(DecodeError):
        list(ResourceManagementClient(credential, prod, **client_kwargs).resource_groups.list())


def test_next_link_loop(
    sb: Sandbox, credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str
) -> None:
    sb.faults.add("next_link_loop", path="*/networkSecurityGroups")
    pager = NetworkManagementClient(credential, prod, **client_kwargs).network_security_groups.list_all()
    names = [n.name for n in itertools.islice(pager, 8)]
    assert names[:2] == names[2:4] == names[6:8]  # the same page over and over


def test_not_registered_answers_missing_subscription_registration_for_the_namespace(
    sb: Sandbox, credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str, dev: str
) -> None:
    sb.faults.add("not_registered", subscription=prod, resource_type="Microsoft.Security")
    mark = sb.requests.mark()
    security = SecurityCenter(credential, prod, **client_kwargs)
    with pytest.raises(HttpResponseError) as refused:
        security.pricings.list(f"subscriptions/{prod}")
    assert refused.value.status_code == 409
    assert refused.value.error.code == "MissingSubscriptionRegistration"
    assert "The subscription is not registered to use namespace 'Microsoft.Security'" in refused.value.error.message
    with pytest.raises(HttpResponseError):
        list(security.security_contacts.list())  # every type of the namespace
    # Other namespaces, and the other subscription, are served.
    assert len(list(WebSiteManagementClient(credential, prod, **client_kwargs).web_apps.list())) == 2
    SecurityCenter(credential, dev, **client_kwargs).pricings.list(f"subscriptions/{dev}")
    # azure-mgmt-core tries to register the provider (POST .../providers/Microsoft.Security/register, refused
    # as it is for a read-only identity), then raises the 409: each GET is answered once, not retried.
    gets = [r for r in sb.requests.since(mark) if r.method == "GET" and r.fault == "not_registered"]
    assert [r.status for r in gets] == [409, 409]


def test_latency_and_skip(
    sb: Sandbox, credential: ClientSecretCredential, client_kwargs: dict[str, Any], prod: str
) -> None:
    client = ResourceManagementClient(credential, prod, **client_kwargs)
    client.resource_groups.get("rg-emr-prod-net")  # token and connection warm
    sb.faults.add("latency", delay=0.25, path="*/resourceGroups/rg-emr-prod-net", count=1)
    start = time.monotonic()
    client.resource_groups.get("rg-emr-prod-net")
    assert time.monotonic() - start >= 0.25
    fault = sb.faults.add("forbidden", path="*/resourceGroups/rg-emr-prod-net", skip=1, count=1)
    client.resource_groups.get("rg-emr-prod-net")  # let through
    with pytest.raises(HttpResponseError):
        client.resource_groups.get("rg-emr-prod-net")  # the second matching call fails
    client.resource_groups.get("rg-emr-prod-net")  # count exhausted
    assert (fault.seen, fault.fired, fault.exhausted) == (2, 1, True)


def test_faults_declared_in_the_estate_are_armed_at_start() -> None:
    tenant, sub = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    estate = {
        "tenant": {"id": tenant},
        "subscriptions": [{"subscriptionId": sub}],
        "faults": [{"kind": "forbidden", "subscription": sub, "count": 1}],
    }
    sb = Sandbox.from_dict(estate)
    with sb:
        (fault,) = list(sb.faults)
        assert fault.kind == "forbidden" and fault.fired == 0
        client = client_for(sb.info, ResourceManagementClient, sub)
        with pytest.raises(HttpResponseError):
            list(client.resource_groups.list())
        assert list(client.resource_groups.list()) == []
    assert sb.estate.faults[0].fired == 0  # the estate's own copy is never consumed


def test_fault_matching_rules() -> None:
    req = RequestFacts(
        "GET",
        "/subscriptions/S/resourceGroups/rg/providers/Microsoft.Sql/servers/x/databases/d",
        "S",
        "Microsoft.Sql/servers/databases",
        identity=False,
    )
    assert Fault("forbidden", resource_type="microsoft.sql/SERVERS").matches(req)
    assert not Fault("forbidden", resource_type="Microsoft.Sql/serversX").matches(req)
    assert Fault("forbidden", method="get", path="*/DATABASES/*").matches(req)
    assert not Fault("forbidden", method="POST").matches(req)
    assert not Fault("forbidden", subscription="other").matches(req)
    token = RequestFacts("POST", "/t/oauth2/v2.0/token", None, None, identity=True)
    assert not Fault("server_error").matches(token)  # sign-in is only faulted when named by path
    assert Fault("server_error", path="*/oauth2/v2.0/token").matches(token)
    faults = FaultSet([Fault("latency", delay=0.01), Fault("throttle"), Fault("forbidden")])
    plan = faults.plan(req)
    assert plan.delay == 0.01 and plan.error is not None and plan.error.kind == "throttle"
    assert [f.fired for f in faults] == [1, 1, 0]  # only one error fault answers a request
    for bad in (
        {"kind": "nope"},
        {"kind": "server_error", "status": 404},
        {"kind": "latency"},
        {"kind": "throttle", "count": 0},
    ):
        with pytest.raises(ValueError):
            Fault(**bad)
