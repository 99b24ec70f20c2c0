"""The sandbox's sign-in for people, over plain HTTP: what Entra answers at /authorize, the sign-in form, /token
for authorization codes and /logout; the app role assignments Graph serves; and the estate rules behind them."""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from sandbox.estate import Estate, EstateError, estate_from_mapping
from sandbox.server import Sandbox, SandboxInfo

DASHBOARD = "5f57f493-9719-4067-82a0-99a6577277e4"
DASHBOARD_SP = "c5c827a3-52ed-4823-ae71-6e7d1937e865"
AUDITOR = ("yuki.tanaka@aozora-medical.example", "Sandbox-Auditor-2026")
VERIFIER = "v" * 43
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()


def authorize(http: requests.Session, info: SandboxInfo, **overrides: str | None) -> requests.Response:
    query = {
        "client_id": DASHBOARD,
        "response_type": "code",
        "redirect_uri": "https://shoko.aozora-medical.example/auth/callback",
        "scope": "openid profile",
        "state": "st",
        "nonce": "nn",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    query.update(overrides)
    params = {k: v for k, v in query.items() if v is not None}
    return http.get(
        f"{info.authority}/{info.tenant_id}/oauth2/v2.0/authorize?{urlencode(params)}", allow_redirects=False
    )


def redirect_params(r: requests.Response) -> dict[str, str]:
    assert r.status_code == 302, r.text[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}


def log_in(
    http: requests.Session, info: SandboxInfo, page: requests.Response, who: tuple[str, str]
) -> requests.Response:
    ctx = re.search(r'name="ctx" value="([^"]+)"', page.text)
    assert ctx, page.text[:300]
    form = {"ctx": ctx.group(1), "login": who[0], "passwd": who[1]}
    return http.post(f"{info.authority}/{info.tenant_id}/login", data=form, allow_redirects=False)


def code_for(http: requests.Session, info: SandboxInfo, **overrides: str) -> str:
    return redirect_params(log_in(http, info, authorize(http, info, **overrides), AUDITOR))["code"]


def token(http: requests.Session, info: SandboxInfo, **form: str) -> requests.Response:
    return http.post(f"{info.authority}/{info.tenant_id}/oauth2/v2.0/token", data=form)


def redeem_form(info: SandboxInfo, code: str, **changes: str) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "client_id": DASHBOARD,
        "client_secret": info.web_client_secrets[DASHBOARD],
        "code": code,
        "redirect_uri": "https://shoko.aozora-medical.example/auth/callback",
        "code_verifier": VERIFIER,
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v}


# -- discovery and keys -----------------------------------------------------------------------------


def test_discovery_and_keys(http: requests.Session, info: SandboxInfo) -> None:
    conf = http.get(f"{info.authority}/{info.tenant_id}/v2.0/.well-known/openid-configuration").json()
    assert conf["issuer"] == f"{info.base_url}/{info.tenant_id}/v2.0"
    assert conf["authorization_endpoint"] == f"{info.base_url}/{info.tenant_id}/oauth2/v2.0/authorize"
    assert conf["id_token_signing_alg_values_supported"] == ["RS256"]
    keys = http.get(conf["jwks_uri"]).json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert (key["kty"], key["use"], key["e"], key["kid"] == key["x5t"]) == ("RSA", "sig", "AQAB", True)
    assert key["issuer"] == conf["issuer"] and key["x5c"]


# -- /authorize ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"client_id": "00000000-1111-2222-3333-444444444444"}, "AADSTS700016"),
        ({"client_id": None}, "AADSTS900144"),
        ({"redirect_uri": "https://evil.example/auth/callback"}, "AADSTS50011"),
        ({"redirect_uri": "https://shoko.aozora-medical.example/auth/callback/"}, "AADSTS50011"),  # exact match
    ],
)
def test_unknown_client_or_redirect_uri_is_an_error_page_never_a_redirect(http, info, overrides, code) -> None:
    r = authorize(http, info, **overrides)
    assert r.status_code == 400 and "Location" not in r.headers and code in r.text
    assert r.headers["Content-Type"].startswith("text/html") and r.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("overrides", "error", "code"),
    [
        ({"code_challenge": None}, "invalid_request", "AADSTS900144"),
        ({"code_challenge_method": "plain"}, "invalid_request", "S256"),
        ({"code_challenge": "short"}, "invalid_request", "AADSTS501491"),
        ({"response_type": "id_token"}, "unsupported_response_type", "AADSTS700054"),
        ({"scope": "User.Read"}, "invalid_scope", "AADSTS70011"),
        ({"prompt": "none"}, "login_required", "AADSTS50058"),
    ],
)
def test_bad_requests_from_a_known_client_go_back_with_error_and_state(http, info, overrides, error, code) -> None:
    params = redirect_params(authorize(http, info, **overrides))
    assert params["error"] == error and code in params["error_description"] and params["state"] == "st"
    assert "Trace ID:" in params["error_description"]


def test_loopback_redirect_uris_match_on_any_port(http, info) -> None:
    page = authorize(http, info, redirect_uri="http://127.0.0.1:49152/auth/callback")
    assert page.status_code == 200
    location = log_in(http, info, page, AUDITOR).headers["Location"]
    assert location.startswith("http://127.0.0.1:49152/auth/callback?code=")
    assert authorize(http, info, redirect_uri="http://127.0.0.1:49152/other").status_code == 400


def test_form_post_response_mode(http, info) -> None:
    page = log_in(http, info, authorize(http, info, response_mode="form_post"), AUDITOR)
    assert page.status_code == 200
    assert 'action="https://shoko.aozora-medical.example/auth/callback"' in page.text
    assert 'name="code"' in page.text and 'name="state" value="st"' in page.text


def test_the_sign_in_form_is_single_use_and_tenant_bound(http, info) -> None:
    page = authorize(http, info)
    assert log_in(http, info, page, AUDITOR).status_code == 302
    again = log_in(http, info, page, AUDITOR)
    assert again.status_code == 400 and "AADSTS50089" in again.text


# -- /token -----------------------------------------------------------------------------------------


def test_code_redemption_errors(http, info) -> None:
    code = code_for(http, info)
    r = token(http, info, **redeem_form(info, code, client_secret="wrong"))
    assert (r.status_code, r.json()["error"], r.json()["error_codes"]) == (401, "invalid_client", [7000215])
    r = token(http, info, **redeem_form(info, code, client_secret=""))
    assert (r.status_code, r.json()["error_codes"]) == (401, [7000218])
    # A failed client authentication does not use the code up.
    r = token(http, info, **redeem_form(info, code, redirect_uri="https://127.0.0.1/auth/callback"))
    assert (r.status_code, r.json()["error"], r.json()["error_codes"]) == (400, "invalid_grant", [500112])
    # The failed attempt above used the code: a code is good for one attempt.
    r = token(http, info, **redeem_form(info, code))
    assert r.json()["error_codes"] == [54005]
    r = token(http, info, **redeem_form(info, "never-issued"))
    assert (r.json()["error"], r.json()["error_codes"]) == ("invalid_grant", [70000])
    r = token(http, info, **redeem_form(info, code_for(http, info), code_verifier=""))
    assert (r.json()["error"], r.json()["error_codes"]) == ("invalid_request", [900144])


def test_a_code_needs_the_right_client(http, info) -> None:
    r = token(http, info, **redeem_form(info, code_for(http, info), client_id=info.client_id))
    assert r.json()["error"] == "unauthorized_client"  # the collector's app has no web redirect URIs


def test_the_redeemed_access_token_reads_graph_as_the_user(http, info) -> None:
    body = token(http, info, **redeem_form(info, code_for(http, info))).json()
    assert set(body) >= {"token_type", "scope", "expires_in", "id_token", "access_token"}
    me = http.get(f"{info.graph_base_url}/users", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200


def test_client_credentials_are_unchanged(http, info) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": info.client_id,
        "client_secret": info.client_secret,
        "scope": "https://management.azure.com/.default",
    }
    assert token(http, info, **form).json()["token_type"] == "Bearer"
    dashboard = {**form, "client_id": DASHBOARD, "client_secret": info.web_client_secrets[DASHBOARD]}
    assert token(http, info, **dashboard).json()["error"] == "unauthorized_client"


def test_logout_returns_only_to_a_registered_uri(http, info) -> None:
    base = f"{info.authority}/{info.tenant_id}/oauth2/v2.0/logout"
    back = http.get(f"{base}?post_logout_redirect_uri=https://127.0.0.1:8443/", allow_redirects=False)
    assert back.status_code == 302 and back.headers["Location"] == "https://127.0.0.1:8443/"
    stay = http.get(f"{base}?post_logout_redirect_uri=https://evil.example/", allow_redirects=False)
    assert stay.status_code == 200 and "Location" not in stay.headers


# -- Graph and the estate -----------------------------------------------------------------------------


def test_graph_serves_app_role_assignments_and_never_passwords(http, info, emr_sandbox: Sandbox) -> None:
    headers = {"Authorization": f"Bearer {emr_sandbox.issue_token('graph')}"}
    got = http.get(f"{info.graph_base_url}/servicePrincipals/{DASHBOARD_SP}/appRoleAssignedTo?$top=10", headers=headers)
    assigned = got.json()["value"]
    assert [(a["principalType"], a["principalDisplayName"]) for a in assigned][:2] == [
        ("User", "佐藤 健一 (Kenichi Sato)"),
        ("Group", "sg-emr-auditors"),
    ]
    assert all(a["resourceId"] == DASHBOARD_SP and a["resourceDisplayName"] == "shoko-dashboard" for a in assigned)
    group = "c5f7b2b9-6530-4883-9af9-ca854009f86b"
    held = http.get(f"{info.graph_base_url}/groups/{group}/appRoleAssignments", headers=headers).json()["value"]
    assert [a["appRoleId"] for a in held] == ["07351a9e-4821-41a2-895a-cb049d535bc9"]
    user = "ca555b5d-b768-4266-9708-142c712c18a1"
    doc = http.get(f"{info.graph_base_url}/users/{user}?$select=id,sandboxPassword", headers=headers).json()
    assert doc["sandboxPassword"] is None
    sp = http.get(f"{info.graph_base_url}/servicePrincipals/{DASHBOARD_SP}", headers=headers).json()
    assert "appRoleAssignedTo" not in sp and sp["appRoleAssignmentRequired"] is True


def _directory_change(estate: Estate, change: Any) -> dict[str, Any]:
    raw = copy.deepcopy(estate.raw)
    change(raw["directory"])
    return raw


def _sp(d: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in d["servicePrincipals"] if s["id"] == DASHBOARD_SP)


YUKI = "ca555b5d-b768-4266-9708-142c712c18a1"
NOT_A_ROLE = "1b4f816e-5eaf-48b9-8613-7923830595ad"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: _sp(d)["appRoleAssignedTo"].append({"principalId": "nobody", "appRoleId": NOT_A_ROLE}),
            "principalId 'nobody' is not a user, group or service principal",
        ),
        (
            lambda d: _sp(d)["appRoleAssignedTo"].append({"principalId": YUKI, "appRoleId": NOT_A_ROLE}),
            f"appRoleId '{NOT_A_ROLE}' is not one of the app roles of shoko-dashboard",
        ),
        (lambda d: d["groups"][0].update(sandboxPassword="x"), "'sandboxPassword' is only allowed on users"),
        (lambda d: d["users"][0].update(sandboxPassword=""), "sandboxPassword must be a non-empty string"),
        (
            lambda d: d["users"][0].update(appRoleAssignedTo=[]),
            "'appRoleAssignedTo' is only allowed on servicePrincipals",
        ),
    ],
)
def test_estate_rules_for_sign_in(emr_estate: Estate, change: Any, expected: str) -> None:
    with pytest.raises(EstateError) as e:
        estate_from_mapping(_directory_change(emr_estate, change), "x.yaml")
    assert expected in str(e.value) and "\n" not in str(e.value)
