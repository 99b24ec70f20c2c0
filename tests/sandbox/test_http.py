"""Plain HTTP against the sandbox: authentication, ARM routing rules and the Graph endpoints."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.mgmt.resource.subscriptions import SubscriptionClient

from sandbox.server import Sandbox, SandboxInfo
from tests.sandbox.sdk import credential_for

API = "api-version=2022-12-01"


@pytest.fixture(scope="module")
def arm_token(emr_sandbox: Sandbox) -> str:
    return emr_sandbox.issue_token("arm")


@pytest.fixture(scope="module")
def graph_token(emr_sandbox: Sandbox) -> str:
    return emr_sandbox.issue_token("graph")


def arm_get(
    http: requests.Session, info: SandboxInfo, token: str | None, path: str, query: str = API
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get(f"{info.base_url}{path}?{query}" if query else f"{info.base_url}{path}", headers=headers)


# -- authentication ---------------------------------------------------------------------------------


def test_arm_requires_a_bearer_token(http: requests.Session, info: SandboxInfo) -> None:
    r = arm_get(http, info, None, "/subscriptions")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "AuthenticationFailed"
    assert r.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    assert arm_get(http, info, "not-a-token", "/subscriptions").json()["error"]["code"] == "InvalidAuthenticationToken"


def test_tokens_must_be_current_ours_and_for_arm(
    http: requests.Session, info: SandboxInfo, sb: Sandbox, graph_token: str
) -> None:
    expired = sb.issue_token("arm", lifetime=-60)
    r = arm_get(http, info, expired, "/subscriptions")
    assert (r.status_code, r.json()["error"]["code"]) == (401, "ExpiredAuthenticationToken")
    r = arm_get(http, info, graph_token, "/subscriptions")
    assert (r.status_code, r.json()["error"]["code"]) == (401, "InvalidAuthenticationTokenAudience")
    with Sandbox(sb.estate) as other:  # a token signed by another sandbox run
        foreign = other.issue_token("arm")
    r = arm_get(http, info, foreign, "/subscriptions")
    assert (r.status_code, r.json()["error"]["code"]) == (401, "InvalidAuthenticationToken")


def test_sdk_sees_401_as_client_authentication_error(info: SandboxInfo, sb: Sandbox) -> None:
    class Expired:
        def get_token(self, *scopes: str, **kw: Any) -> Any:
            from azure.core.credentials import AccessToken

            return AccessToken(sb.issue_token("arm", lifetime=-60), 0)

    client = SubscriptionClient(Expired(), base_url=info.base_url, connection_verify=info.ca_bundle)  # type: ignore[arg-type]
    with pytest.raises(ClientAuthenticationError):
        list(client.subscriptions.list())


def test_wrong_client_secret(http: requests.Session, info: SandboxInfo) -> None:
    url = f"{info.authority}/{info.tenant_id}/oauth2/v2.0/token"
    form = {
        "client_id": info.client_id,
        "client_secret": "wrong",
        "grant_type": "client_credentials",
        "scope": "https://management.azure.com/.default",
    }
    r = http.post(url, data=form)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client" and "AADSTS7000215" in r.json()["error_description"]
    r = http.post(url, data={**form, "client_id": "00000000-0000-0000-0000-000000000000"})
    assert (r.status_code, r.json()["error"]) == (400, "unauthorized_client")
    r = http.post(url, data={**form, "client_secret": info.client_secret, "scope": "https://vault.azure.net/.default"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_resource")
    good = http.post(url, data={**form, "client_secret": info.client_secret})
    assert good.status_code == 200 and good.json()["expires_in"] > 0
    cred = credential_for(info, secret="wrong")
    with pytest.raises(ClientAuthenticationError):
        cred.get_token("https://management.azure.com/.default")


# -- ARM rules --------------------------------------------------------------------------------------


def test_api_version_is_required(http: requests.Session, info: SandboxInfo, arm_token: str) -> None:
    r = arm_get(http, info, arm_token, "/subscriptions", query="")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "MissingApiVersionParameter")


def test_segments_are_case_insensitive(http: requests.Session, info: SandboxInfo, arm_token: str, prod: str) -> None:
    path = f"/subscriptions/{prod}/resourceGroups/rg-emr-prod-app/providers/Microsoft.Web/sites/app-emr-web-prod"
    a = arm_get(http, info, arm_token, path).json()
    b = arm_get(http, info, arm_token, path.upper().replace(prod.upper(), prod)).json()
    assert a == b and a["name"] == "app-emr-web-prod"
    listing = arm_get(http, info, arm_token, f"/SUBSCRIPTIONS/{prod}/PROVIDERS/microsoft.web/SITES").json()
    assert len(listing["value"]) == 2 and "nextLink" not in listing


def test_not_found_codes(http: requests.Session, info: SandboxInfo, arm_token: str, prod: str) -> None:
    rg = f"/subscriptions/{prod}/resourceGroups/rg-emr-prod-data"
    vaults = "providers/Microsoft.KeyVault/vaults"
    cases = {
        f"{rg}/{vaults}/kv-x": "ResourceNotFound",
        f"/subscriptions/{prod}/resourceGroups/rg-x/{vaults}/kv-emr-prod-je": "ResourceGroupNotFound",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups": "SubscriptionNotFound",
        f"{rg}/{vaults}/kv-x/providers/Microsoft.Insights/diagnosticSettings": "ResourceNotFound",
    }
    for path, code in cases.items():
        r = arm_get(http, info, arm_token, path)
        assert (r.status_code, r.json()["error"]["code"]) == (404, code), path
    empty = arm_get(http, info, arm_token, f"{rg}/{vaults}/kv-emr-prod-je/secrets")
    assert (empty.status_code, empty.json()) == (200, {"value": []})


def test_writes_are_refused(http: requests.Session, info: SandboxInfo, arm_token: str, prod: str) -> None:
    path = f"{info.base_url}/subscriptions/{prod}/resourceGroups/rg-emr-prod-data?{API}"
    headers = {"Authorization": f"Bearer {arm_token}"}
    for method in ("PUT", "PATCH", "DELETE"):
        r = http.request(method, path, headers=headers, json={})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "AuthorizationFailed")
    account = f"/subscriptions/{prod}/resourceGroups/rg-emr-prod-data/providers/Microsoft.Storage/storageAccounts/st1"
    keys = f"{info.base_url}{account}/listKeys?{API}"
    assert http.post(keys, headers=headers).status_code == 403


def test_filters(http: requests.Session, info: SandboxInfo, arm_token: str, prod: str, emr_estate: Any) -> None:
    ra = f"/subscriptions/{prod}/providers/Microsoft.Authorization/roleAssignments"
    reader = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
    sp = next(
        s["id"] for s in emr_estate.directory.collections["servicePrincipals"] if s["displayName"].startswith("shoko")
    )
    got = arm_get(http, info, arm_token, ra, f"{API}&$filter=principalId eq '{sp}'&$top=50").json()["value"]
    assert [a["properties"]["roleDefinitionId"].rsplit("/", 1)[1] for a in got] == [reader]
    vms = arm_get(
        http,
        info,
        arm_token,
        f"/subscriptions/{prod}/resources",
        f"{API}&$filter=resourceType eq 'Microsoft.Compute/virtualMachines'&$top=10",
    ).json()["value"]
    assert sorted(v["name"] for v in vms) == ["vm-emr-batch-prod", "vm-emr-jump-prod"]
    bad = arm_get(http, info, arm_token, ra, f"{API}&$filter=startswith(principalId, 'a')")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "InvalidFilterInQueryString")


def test_concurrent_requests(info: SandboxInfo, arm_token: str, prod: str) -> None:
    def one(_: int) -> int:
        with requests.Session() as s:
            s.trust_env = False
            r = s.get(
                f"{info.base_url}/subscriptions/{prod}/resourcegroups?{API}",
                headers={"Authorization": f"Bearer {arm_token}"},
                verify=info.ca_bundle,
            )
            return r.status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert set(pool.map(one, range(48))) == {200}


# -- Graph ------------------------------------------------------------------------------------------


def graph_get(http: requests.Session, url: str, token: str | None) -> requests.Response:
    return http.get(url, headers={"Authorization": f"Bearer {token}"} if token else {})


def test_graph_paging_with_odata_next_link(http: requests.Session, info: SandboxInfo, graph_token: str) -> None:
    url: str | None = f"{info.graph_base_url}/users"
    pages: list[list[dict[str, Any]]] = []
    while url:
        body = graph_get(http, url, graph_token).json()
        assert body["@odata.context"].endswith("$metadata#users")
        pages.append(body["value"])
        url = body.get("@odata.nextLink")
        assert url is None or url.startswith(info.graph_base_url + "/users?")
    assert [len(p) for p in pages] == [2, 2, 2, 2]
    users = [u for p in pages for u in p]
    assert len({u["id"] for u in users}) == 8
    # Like Graph: the default property set only, sign-in activity must be selected.
    assert "signInActivity" not in users[0] and "accountEnabled" not in users[0]
    top = graph_get(
        http, f"{info.graph_base_url}/users?$top=5&$select=displayName,signInActivity,accountEnabled", graph_token
    ).json()
    assert len(top["value"]) == 5 and "$top=5" in top["@odata.nextLink"]
    assert set(top["value"][0]) == {"displayName", "signInActivity", "accountEnabled"}
    assert top["value"][0]["signInActivity"]["lastSignInDateTime"].startswith("2026-")


def test_graph_collections_and_members(http: requests.Session, info: SandboxInfo, graph_token: str) -> None:
    g = info.graph_base_url
    guests = graph_get(http, f"{g}/users?$filter=userType eq 'Guest'&$select=id,userType", graph_token).json()["value"]
    assert [u["userType"] for u in guests] == ["Guest"]
    roles = graph_get(http, f"{g}/directoryRoles?$top=10", graph_token).json()["value"]
    admin = next(r for r in roles if r["displayName"] == "Global Administrator")
    assert admin["roleTemplateId"] == "62e90394-69f5-4237-9190-012177145e10" and "members" not in admin
    members = graph_get(http, f"{g}/directoryRoles/{admin['id']}/members", graph_token).json()["value"]
    assert [m["@odata.type"] for m in members] == ["#microsoft.graph.user"] * 2
    policies = graph_get(http, f"{g}/identity/conditionalAccess/policies?$top=10", graph_token).json()["value"]
    assert len(policies) == 4 and {p["state"] for p in policies} == {"enabled", "enabledForReportingButNotEnforced"}
    domains = graph_get(http, f"{g}/domains", graph_token).json()["value"]
    assert {d["id"] for d in domains} == {"aozora-medical.example", "aozoramedical.onmicrosoft.com"}
    authz = graph_get(http, f"{g}/policies/authorizationPolicy", graph_token).json()
    assert authz["defaultUserRolePermissions"]["allowedToCreateApps"] is False
    one = graph_get(http, f"{g}/users/{guests[0]['id']}?$select=userType", graph_token).json()
    assert one["userType"] == "Guest" and one["@odata.context"].endswith("/$entity")


def test_graph_errors(http: requests.Session, info: SandboxInfo, graph_token: str, arm_token: str) -> None:
    g = info.graph_base_url
    r = graph_get(http, f"{g}/users", None)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "InvalidAuthenticationToken")
    assert graph_get(http, f"{g}/users", arm_token).status_code == 401  # token for ARM, not Graph
    r = graph_get(http, f"{g}/users/00000000-0000-0000-0000-000000000000", graph_token)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "Request_ResourceNotFound")
    assert graph_get(http, f"{g}/devices", graph_token).status_code == 400
    assert graph_get(http, f"{g}/users?$expand=manager", graph_token).status_code == 400
    assert graph_get(http, f"{g}/users?$top=1000", graph_token).status_code == 400
    assert http.post(f"{g}/users", json={}, headers={"Authorization": f"Bearer {graph_token}"}).status_code == 403
