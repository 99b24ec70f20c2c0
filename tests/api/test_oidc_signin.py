"""People's sign-in end to end against the sandbox's Entra ID over HTTPS: the sign-in page, the code, the token
endpoint, id_token validation and the shoko role; and every way it must refuse."""

from __future__ import annotations

import base64
import json
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from api.oidc import InvalidCallback, OidcClient, PendingSignIn, ProviderError, SignedInUser, SignInRefused, role_for
from collector.settings import OidcSettings
from sandbox.server import Sandbox

ESTATE = Path(__file__).resolve().parents[2] / "sandbox" / "estates" / "hospital-emr.yaml"
DASHBOARD = "5f57f493-9719-4067-82a0-99a6577277e4"  # shoko-dashboard in the example estate
TENANT = "c789e719-364a-4a28-aff9-0db8d2f428d5"
REDIRECT = "https://127.0.0.1:8443/auth/callback"  # a loopback redirect URI: any port matches
AUDITOR = ("yuki.tanaka@aozora-medical.example", "Sandbox-Auditor-2026")
OPERATOR = ("naoki.watanabe@aozora-medical.example", "Sandbox-Operator-2026")
ADMIN = ("kenichi.sato@aozora-medical.example", "Sandbox-Admin-2026")  # admin, and operator through sg-emr-ops
NO_ROLE = ("sho.takahashi@aozora-medical.example", "Sandbox-Developer-2026")  # default access only
UNASSIGNED = ("misaki.suzuki@aozora-medical.example", "Sandbox-Dba-2026")
DISABLED = ("makoto.ito@aozora-medical.example", "Sandbox-Left-2026")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox.from_file(ESTATE, port=0) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def settings(sb: Sandbox) -> OidcSettings:
    return OidcSettings(
        enabled=True,
        tenant_id=TENANT,
        client_id=DASHBOARD,
        authority=sb.info.authority,
        redirect_uri=REDIRECT,
        ca_bundle=sb.info.ca_bundle,
    )


@pytest.fixture
def client(sb: Sandbox, settings: OidcSettings) -> Iterator[OidcClient]:
    c = OidcClient(settings, sb.info.web_client_secrets[DASHBOARD])
    yield c
    c.close()


@pytest.fixture(scope="module")
def browser(sb: Sandbox) -> Iterator[httpx.Client]:
    """What a person's browser does, without following the redirect back to shoko (it is not served here)."""
    with httpx.Client(
        verify=ssl.create_default_context(cafile=sb.info.ca_bundle), follow_redirects=False, timeout=10
    ) as http:
        yield http


def sign_in_form(browser: httpx.Client, url: str) -> tuple[str, dict[str, str]]:
    page = browser.get(url)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"], page.text[:300]
    assert 'for="login"' in page.text and 'for="passwd"' in page.text  # labelled fields
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    ctx = re.search(r'name="ctx" value="([^"]+)"', page.text)
    assert action and ctx
    return urljoin(url, action.group(1)), {"ctx": ctx.group(1)}


def post_credentials(browser: httpx.Client, url: str, login: str, password: str) -> httpx.Response:
    action, form = sign_in_form(browser, url)
    return browser.post(action, data={**form, "login": login, "passwd": password})


def callback(response: httpx.Response) -> dict[str, str]:
    """The query Entra sends the browser back to shoko with (the Location of its redirect)."""
    assert response.status_code == 302, response.text[:300]
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in(client: OidcClient, browser: httpx.Client, who: tuple[str, str]) -> tuple[dict[str, str], PendingSignIn]:
    url, pending = client.begin(return_to="/requirements/86")
    return callback(post_credentials(browser, url, *who)), pending


@pytest.mark.parametrize(
    ("who", "role", "app_roles"),
    [
        (AUDITOR, "auditor", ("Shoko.Auditor",)),  # through the group sg-emr-auditors
        (OPERATOR, "operator", ("Shoko.Operator",)),  # through the group sg-emr-ops
        (ADMIN, "admin", ("Shoko.Admin", "Shoko.Operator")),  # the highest role wins
    ],
)
def test_sign_in_maps_app_roles_to_the_shoko_role(client, browser, who, role, app_roles) -> None:
    params, pending = sign_in(client, browser, who)
    assert params["state"] == pending.state and params["code"]
    user = client.complete(params, pending)
    assert isinstance(user, SignedInUser)
    assert (user.role, user.username, user.tid) == (role, who[0], TENANT)
    assert sorted(user.app_roles) == sorted(app_roles)
    assert pending.return_to == "/requirements/86"


def test_the_authorization_request_carries_pkce_state_and_nonce(client) -> None:
    url, pending = client.begin(return_to="https://evil.example/")
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert q["code_challenge"] != pending.code_verifier
    assert (q["state"], q["nonce"], q["response_type"], q["redirect_uri"]) == (
        pending.state,
        pending.nonce,
        "code",
        REDIRECT,
    )
    assert set(q["scope"].split()) == {"openid", "profile"}
    assert pending.return_to == "/"  # never back to another site


def test_id_token_is_rs256_with_kid_and_entra_claims(client, browser, sb) -> None:
    params, pending = sign_in(client, browser, AUDITOR)
    body = client.redeem(params["code"], pending.code_verifier)
    header, claims = (json.loads(_unb64(p)) for p in body["id_token"].split(".")[:2])
    assert header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == f"{sb.info.base_url}/{TENANT}/v2.0" and claims["aud"] == DASHBOARD
    assert claims["ver"] == "2.0" and claims["nonce"] == pending.nonce and claims["roles"] == ["Shoko.Auditor"]
    assert claims["oid"] == "ca555b5d-b768-4266-9708-142c712c18a1" and claims["sub"] != claims["oid"]  # pairwise
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    assert body["token_type"] == "Bearer" and body["access_token"]


def test_wrong_password_stays_on_the_sign_in_page(client, browser) -> None:
    url, pending = client.begin()
    action, form = sign_in_form(browser, url)
    wrong = browser.post(action, data={**form, "login": AUDITOR[0], "passwd": "Sandbox-Admin-2026"})
    assert wrong.status_code == 200 and "location" not in wrong.headers
    assert "AADSTS50126" in wrong.text and 'role="alert"' in wrong.text
    # The same page may be submitted again with the right password.
    right = browser.post(action, data={**form, "login": AUDITOR[0], "passwd": AUDITOR[1]})
    user = client.complete(callback(right), pending)
    assert user.role == "auditor"


@pytest.mark.parametrize(
    ("who", "code"), [(("nobody@aozora-medical.example", "x"), "AADSTS50034"), (DISABLED, "AADSTS50057")]
)
def test_unknown_and_disabled_users_cannot_sign_in(client, browser, who, code) -> None:
    url, _ = client.begin()
    page = post_credentials(browser, url, *who)
    assert page.status_code == 200 and "location" not in page.headers and code in page.text


def test_user_without_a_shoko_role_is_refused(client, browser) -> None:
    params, pending = sign_in(client, browser, NO_ROLE)  # Entra signs them in: default access
    with pytest.raises(SignInRefused, match="no shoko role"):
        client.complete(params, pending)


def test_user_not_assigned_to_the_application_is_refused_by_entra(client, browser) -> None:
    params, pending = sign_in(client, browser, UNASSIGNED)
    assert params["error"] == "access_denied" and "AADSTS50105" in params["error_description"]
    with pytest.raises(InvalidCallback, match="access_denied: AADSTS50105"):
        client.complete(params, pending)


def test_pkce_verifier_mismatch_is_refused(client, browser) -> None:
    params, pending = sign_in(client, browser, AUDITOR)
    other = replace(pending, code_verifier=client.begin()[1].code_verifier)  # another sign-in's verifier
    with pytest.raises(InvalidCallback, match="AADSTS50148"):
        client.complete(params, other)


def test_a_code_is_redeemed_once(client, browser) -> None:
    params, pending = sign_in(client, browser, AUDITOR)
    assert client.complete(params, pending).role == "auditor"
    with pytest.raises(InvalidCallback, match="AADSTS54005"):
        client.complete(params, pending)


def test_an_expired_code_is_refused(client, browser, sb) -> None:
    sb.signin.code_lifetime = 0
    try:
        params, pending = sign_in(client, browser, AUDITOR)
    finally:
        sb.signin.code_lifetime = 600
    with pytest.raises(InvalidCallback, match="AADSTS70008"):
        client.complete(params, pending)


def test_state_mismatch_and_old_sign_ins_are_refused(client, browser) -> None:
    params, pending = sign_in(client, browser, AUDITOR)
    with pytest.raises(InvalidCallback, match="state"):
        client.complete({**params, "state": "forged"}, pending)
    with pytest.raises(InvalidCallback, match="more than 600 s ago"):
        client.complete(params, replace(pending, created=time.time() - 601))


def test_nonce_mismatch_is_refused(client, browser) -> None:
    params, pending = sign_in(client, browser, AUDITOR)
    with pytest.raises(InvalidCallback, match="nonce"):
        client.complete(params, replace(pending, nonce="another-sign-in"))


def test_wrong_client_secret_is_a_provider_error(sb, settings, browser) -> None:
    bad = OidcClient(settings, "not-the-secret")
    params, pending = sign_in(bad, browser, AUDITOR)
    with pytest.raises(ProviderError, match="invalid_client: AADSTS7000215"):
        bad.complete(params, pending)
    bad.close()


def _claims(sb: Sandbox, **changes) -> dict:
    now = int(time.time())
    base = {
        "aud": DASHBOARD,
        "iss": f"{sb.info.base_url}/{TENANT}/v2.0",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "sub": "s",
        "oid": "ca555b5d-b768-4266-9708-142c712c18a1",
        "tid": TENANT,
        "nonce": "n",
        "roles": ["Shoko.Admin"],
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def test_the_sandbox_key_signs_a_token_the_client_accepts(client, sb) -> None:
    # The control for the refusals below: only the changed claim makes them fail.
    assert client.validate_id_token(sb.signin.key.sign(_claims(sb)), "n")["roles"] == ["Shoko.Admin"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"aud": "00000000-1111-2222-3333-444444444444"}, "Audience"),
        ({"iss": "https://login.microsoftonline.com/c789e719-364a-4a28-aff9-0db8d2f428d5/v2.0"}, "issuer"),
        # Times are made when the test runs, not when it is collected: a long suite may start it minutes later.
        (lambda: {"exp": int(time.time()) - 120}, "expired"),
        (lambda: {"nbf": int(time.time()) + 600}, "not yet valid"),
        ({"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"}, "tenant"),
        ({"nonce": None}, "nonce"),
        ({"oid": None}, "oid"),
    ],
)
def test_id_tokens_with_wrong_claims_are_refused(client, sb, changes, message) -> None:
    token = sb.signin.key.sign(_claims(sb, **(changes() if callable(changes) else changes)))
    with pytest.raises(InvalidCallback, match=message):
        client.validate_id_token(token, "n")


def test_small_clock_skew_is_tolerated(client, sb) -> None:
    token = sb.signin.key.sign(_claims(sb, nbf=int(time.time()) + 30, iat=int(time.time()) + 30))
    assert client.validate_id_token(token, "n")["oid"]


def test_tampered_and_unsigned_tokens_are_refused(client, sb) -> None:
    header, payload, signature = sb.signin.key.sign(_claims(sb, roles=["Shoko.Auditor"])).split(".")
    forged = _b64(json.dumps(_claims(sb)).encode())  # roles raised to admin, signature kept
    with pytest.raises(InvalidCallback, match="Signature verification failed"):
        client.validate_id_token(f"{header}.{forged}.{signature}", "n")
    none_header = _b64(json.dumps({"alg": "none", "kid": json.loads(_unb64(header))["kid"]}).encode())
    with pytest.raises(InvalidCallback, match="RS256 only"):
        client.validate_id_token(f"{none_header}.{payload}.", "n")
    hs_header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "x"}).encode())
    with pytest.raises(InvalidCallback, match="RS256 only"):
        client.validate_id_token(f"{hs_header}.{payload}.{signature}", "n")
    unknown_kid = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "rotated-away"}).encode())
    with pytest.raises(InvalidCallback, match="does not list"):
        client.validate_id_token(f"{unknown_kid}.{payload}.{signature}", "n")


def test_role_map_comes_from_settings(settings) -> None:
    custom = replace(settings, auditor_roles=("Kansa",), operator_roles=("Unyou",), admin_roles=("Kanri",))
    assert role_for(["Kansa", "Unyou"], custom) == "operator"
    with pytest.raises(SignInRefused):
        role_for(["Shoko.Admin"], custom)


def test_discovery_refuses_another_tenants_issuer(sb, settings) -> None:
    other = OidcClient(replace(settings, tenant_id="organizations"), "secret")  # issuer is still the tenant's
    with pytest.raises(ProviderError, match="is not this tenant's"):
        other.metadata()
    other.close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_sign_out_goes_through_entra_and_back_home(client, browser) -> None:
    url = client.logout_url("https://127.0.0.1:8443/")
    assert url and url.startswith(client.metadata().end_session_endpoint + "?post_logout_redirect_uri=")
    back = browser.get(url)
    assert back.status_code == 302 and back.headers["location"] == "https://127.0.0.1:8443/"
