"""Sign-in for people: the OpenID Connect authorization-code flow (with PKCE) of the Microsoft identity platform.

    GET  /{tenant}/oauth2/v2.0/authorize   the sign-in page (or an error page / an error redirect)
    POST /{tenant}/login                   the page's form: user name and sandbox password
    POST /{tenant}/oauth2/v2.0/token       grant_type=authorization_code (client secret + code_verifier)
    GET  /{tenant}/discovery/v2.0/keys     the JWKS that verifies id_tokens (an RSA key made for this run)
    GET  /{tenant}/oauth2/v2.0/logout      back to a registered redirect URI

The applications that may sign people in are the estate's `directory.applications` with `web.redirectUris`;
each gets a client secret that exists only for this sandbox run. Users sign in with their userPrincipalName and
the estate's sandbox-only `sandboxPassword`. The id_token carries, in `roles`, the values of the app roles
assigned to the user for that application, directly or through a group the user is a direct member of (Entra
does not pass app roles through nested groups). Shapes and AADSTS codes follow Microsoft's protocol reference;
where the sandbox is stricter (PKCE with S256 is required, `openid` must be asked for) the message says so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from sandbox.estate import DEFAULT_ACCESS_ROLE_ID, Directory, app_roles_of
from sandbox.identity import TokenRequestError, check_client_secret, unknown_client

CODE_LIFETIME = 600  # seconds: "authorization codes are short lived ... expire after about 10 minutes"
ID_TOKEN_LIFETIME = 3600
FLOW_LIFETIME = 900  # seconds the sign-in page stays valid before its form is refused (AADSTS50089)
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # BASE64URL(SHA-256(verifier)), unpadded
_RESPONSE_MODES = ("query", "fragment", "form_post")


@dataclass
class WebReply:
    """An answer for a browser: an HTML page, or a redirect (`location`)."""

    status: int
    html: str = ""
    location: str | None = None


@dataclass(frozen=True)
class WebApp:
    """An application registration that signs people in."""

    app_id: str
    display_name: str
    redirect_uris: tuple[str, ...]
    service_principal: dict[str, Any] | None


@dataclass
class _Flow:
    """An authorization request waiting for the user's credentials (the sign-in page's `ctx`)."""

    tenant: str
    app: WebApp
    redirect_uri: str
    response_mode: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str
    login_hint: str
    created: float = field(default_factory=time.monotonic)


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    scopes: tuple[str, ...]
    user_id: str
    expires: float
    redeemed: bool = False


class _SigningKey:
    """The RSA key that signs id_tokens, with a self-signed certificate for the JWKS `x5c`, made on first use."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.now(UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shoko sandbox id_token signing")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=2))
            .sign(self.private, hashes.SHA256())
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        self.kid = _b64(hashlib.sha1(der).digest())  # Entra's kid and x5t: the certificate's SHA-1 thumbprint
        self.x5c = base64.b64encode(der).decode()

    def jwk(self, issuer: str) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
            "x5c": [self.x5c],
            "cloud_instance_name": "microsoftonline.com",
            "issuer": issuer,
        }

    def sign(self, claims: Mapping[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        signature = self.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64(signature)


class SignInService:
    """The authorization-code flow over the estate's directory. The caller passes the directory being served
    (so estate changes apply to the next sign-in) and the issuer of this run."""

    def __init__(self, tenant_id: str, code_lifetime: int = CODE_LIFETIME) -> None:
        self.tenant_id = tenant_id
        # Public so a test can shorten it; a code older than this is refused with AADSTS70008.
        self.code_lifetime = code_lifetime
        self._lock = threading.Lock()
        self._key: _SigningKey | None = None
        self._secrets: dict[str, str] = {}
        self._flows: dict[str, _Flow] = {}
        self._codes: dict[str, _Code] = {}
        self._salt = secrets.token_bytes(16)

    # -- keys and secrets ---------------------------------------------------------------------------

    @property
    def key(self) -> _SigningKey:
        with self._lock:
            if self._key is None:
                self._key = _SigningKey()
            return self._key

    def client_secret(self, app_id: str) -> str:
        """The client secret of a sign-in application for this run (made on first use)."""
        with self._lock:
            return self._secrets.setdefault(app_id.lower(), secrets.token_urlsafe(32))

    def jwks(self, issuer: str) -> dict[str, Any]:
        return {"keys": [self.key.jwk(issuer)]}

    # -- /authorize ---------------------------------------------------------------------------------

    def authorize(self, tenant: str, query: Mapping[str, str], directory: Directory) -> WebReply:
        client_id = query.get("client_id", "")
        if not client_id:
            return error_page(900144, "The request body must contain the following parameter: 'client_id'.")
        app = web_app(directory, client_id)
        if app is None:
            return error_page(
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{self.tenant_id}'. "
                "This can happen if the application has not been installed by the administrator of the tenant.",
            )
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_registered(app.redirect_uris, redirect_uri):
            return error_page(
                50011,
                f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs "
                f"configured for the application '{app.app_id}'. Make sure the redirect URI sent in the request "
                "matches one added to your application in the Azure portal.",
            )
        mode = query.get("response_mode") or "query"
        if mode not in _RESPONSE_MODES:
            return _redirect_error(
                redirect_uri,
                "query",
                query.get("state"),
                "invalid_request",
                900144,
                f"The response_mode '{query.get('response_mode')}' is not supported (query, fragment, form_post).",
            )
        state = query.get("state")

        def refuse(error: str, code: int | None, message: str) -> WebReply:
            return _redirect_error(redirect_uri, mode, state, error, code, message)

        response_type = query.get("response_type", "")
        if not response_type:
            return refuse(
                "invalid_request", 900144, "The request body must contain the following parameter: 'response_type'."
            )
        if response_type.split() != ["code"]:
            return refuse(
                "unsupported_response_type",
                700054,
                f"response_type '{response_type}' is not enabled for the application (the sandbox "
                "issues codes only: response_type=code).",
            )
        scopes = tuple(query.get("scope", "").split())
        if "openid" not in scopes:
            return refuse(
                "invalid_scope",
                70011,
                f"The provided value for the input parameter 'scope' is not valid. The scope "
                f"'{' '.join(scopes)}' does not include openid (the sandbox signs people in with OpenID "
                "Connect only).",
            )
        challenge = query.get("code_challenge", "")
        if not challenge:
            return refuse(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'code_challenge' (the sandbox requires PKCE).",
            )
        if query.get("code_challenge_method", "plain") != "S256":
            return refuse(
                "invalid_request",
                None,
                f"code_challenge_method '{query.get('code_challenge_method', '')}' is refused: the "
                "sandbox requires S256.",
            )
        if not _CHALLENGE_RE.match(challenge):
            return refuse("invalid_request", 501491, "Invalid size of Code_Challenge parameter.")
        if query.get("prompt") == "none":
            return refuse("login_required", 50058, "A silent sign-in request was sent but no user is signed in.")
        flow = _Flow(
            tenant=tenant,
            app=app,
            redirect_uri=redirect_uri,
            response_mode=mode,
            scopes=scopes,
            state=state,
            nonce=query.get("nonce"),
            code_challenge=challenge,
            login_hint=query.get("login_hint", ""),
        )
        ctx = secrets.token_urlsafe(32)
        with self._lock:
            self._prune()
            self._flows[ctx] = flow
        return WebReply(200, sign_in_page(tenant, ctx, flow.app.display_name, flow.login_hint))

    # -- the sign-in form ---------------------------------------------------------------------------

    def login(self, tenant: str, form: Mapping[str, str], directory: Directory) -> WebReply:
        ctx = form.get("ctx", "")
        with self._lock:
            self._prune()
            flow = self._flows.get(ctx)
        if flow is None or flow.tenant.lower() != tenant.lower():
            return error_page(
                50089, "Authentication failed due to flow token expired. Start the sign-in again from the application."
            )
        login = form.get("login", "").strip()
        user = next(
            (
                u
                for u in directory.collections.get("users", ())
                if str(u.get("userPrincipalName", "")).lower() == login.lower() and login
            ),
            None,
        )

        def again(code: int, message_en: str, message_ja: str) -> WebReply:
            error = (message_ja, f"AADSTS{code}: {message_en}")
            return WebReply(200, sign_in_page(tenant, ctx, flow.app.display_name, login, error))

        if user is None:
            return again(
                50034,
                f"The user account {login} does not exist in the {self.tenant_id} directory.",
                "このアカウントはディレクトリに存在しません。",
            )
        password = directory.passwords.get(str(user["id"]).lower())
        given = form.get("passwd", "")
        if password is None or not hmac.compare_digest(given.encode(), password.encode()):
            return again(
                50126,
                "Error validating credentials due to invalid username or password.",
                "アカウントまたはパスワードが正しくありません。",
            )
        if user.get("accountEnabled") is False:
            return again(50057, "The user account is disabled.", "このアカウントは無効化されています。")
        with self._lock:
            self._flows.pop(ctx, None)  # one form post per sign-in page
        sp = flow.app.service_principal or {}
        if sp.get("appRoleAssignmentRequired") and not assignments_of(directory, sp, str(user["id"])):
            return _redirect_error(
                flow.redirect_uri,
                flow.response_mode,
                flow.state,
                "access_denied",
                50105,
                f"Your administrator has configured the application {flow.app.display_name} ('{flow.app.app_id}') "
                f"to block users unless they are specifically granted ('assigned') access to the application. The "
                f"signed in user '{login}' is blocked because they are not a direct member of a group with access, "
                "nor had access directly assigned by an administrator.",
            )
        code = secrets.token_urlsafe(48)
        with self._lock:
            self._codes[code] = _Code(
                client_id=flow.app.app_id,
                redirect_uri=flow.redirect_uri,
                code_challenge=flow.code_challenge,
                nonce=flow.nonce,
                scopes=flow.scopes,
                user_id=str(user["id"]),
                expires=time.monotonic() + self.code_lifetime,
            )
        params = {"code": code}
        if flow.state is not None:
            params["state"] = flow.state
        params["session_state"] = str(uuid.uuid4())
        return _respond(flow.redirect_uri, flow.response_mode, params)

    # -- /token, grant_type=authorization_code ------------------------------------------------------

    def redeem(self, form: Mapping[str, str], directory: Directory, issuer: str) -> tuple[dict[str, Any], str]:
        """Exchange a code: (token response without access_token, the user's object id). Raises TokenRequestError."""
        client_id = form.get("client_id", "")
        app = web_app(directory, client_id) if client_id else None
        if app is None:
            raise unknown_client(client_id, self.tenant_id)
        if not form.get("client_secret") and "client_assertion" not in form:
            raise TokenRequestError(
                401,
                "invalid_client",
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                7000218,
            )
        check_client_secret(form, self.client_secret(app.app_id), app.app_id)
        for name in ("code", "redirect_uri"):
            if not form.get(name):
                raise TokenRequestError(
                    400, "invalid_request", f"The request body must contain the following parameter: '{name}'.", 900144
                )
        with self._lock:
            entry = self._codes.get(form["code"])
            if entry is not None and not entry.redeemed:
                entry.redeemed = True  # one attempt per code, whatever its outcome
                found = "fresh"
            else:
                found = "redeemed" if entry is not None else "unknown"
        if entry is None or entry.client_id.lower() != app.app_id.lower():
            raise TokenRequestError(400, "invalid_grant", "Provided grant is invalid or malformed.", 70000)
        if found == "redeemed":
            raise TokenRequestError(
                400,
                "invalid_grant",
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
                "existing refresh token.",
                54005,
            )
        if time.monotonic() >= entry.expires:
            raise TokenRequestError(
                400,
                "invalid_grant",
                "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                "interactive authorization request for this user and resource.",
                70008,
            )
        if form["redirect_uri"] != entry.redirect_uri:
            raise TokenRequestError(
                400,
                "invalid_grant",
                f"The reply address '{form['redirect_uri']}' does not match the reply address "
                f"'{entry.redirect_uri}' provided when requesting Authorization code.",
                500112,
            )
        verifier = form.get("code_verifier", "")
        if not verifier:
            raise TokenRequestError(
                400,
                "invalid_request",
                "The request body must contain the following parameter: 'code_verifier'.",
                900144,
            )
        if not hmac.compare_digest(_b64(hashlib.sha256(verifier.encode()).digest()), entry.code_challenge):
            raise TokenRequestError(
                400,
                "invalid_grant",
                "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
                50148,
            )
        user = next(u for u in directory.collections.get("users", ()) if str(u["id"]) == entry.user_id)
        id_token = self.key.sign(self.id_token_claims(app, user, entry.nonce, directory, issuer))
        return {
            "token_type": "Bearer",
            "scope": " ".join([*entry.scopes, "User.Read"]),
            "expires_in": ID_TOKEN_LIFETIME - 1,
            "ext_expires_in": ID_TOKEN_LIFETIME - 1,
            "id_token": id_token,
        }, entry.user_id

    def id_token_claims(
        self, app: WebApp, user: Mapping[str, Any], nonce: str | None, directory: Directory, issuer: str
    ) -> dict[str, Any]:
        """The v2.0 id_token of a user for an application (claims as the ID token claims reference lists them)."""
        now = int(time.time())
        oid = str(user["id"])
        claims: dict[str, Any] = {
            "aud": app.app_id,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + ID_TOKEN_LIFETIME,
            "aio": _b64(secrets.token_bytes(24)),
            "name": user.get("displayName"),
            "oid": oid,
            "preferred_username": user.get("userPrincipalName"),
            "rh": _b64(secrets.token_bytes(16)),
            "sid": str(uuid.uuid4()),
            # Pairwise, as Entra's: the same user has a different sub in every application.
            "sub": _b64(hashlib.sha256(f"{app.app_id.lower()}:{oid.lower()}".encode()).digest()),
            "tid": self.tenant_id,
            "uti": _b64(secrets.token_bytes(16)),
            "ver": "2.0",
        }
        if nonce is not None:
            claims["nonce"] = nonce
        roles = roles_of(directory, app.service_principal, oid)
        if roles:  # Entra leaves the claim out when no role is assigned
            claims["roles"] = roles
        return claims

    # -- /logout ------------------------------------------------------------------------------------

    def logout(self, query: Mapping[str, str], directory: Directory) -> WebReply:
        """Entra's end-session endpoint: back to `post_logout_redirect_uri` when some sign-in application
        registers it as a redirect URI, else a signed-out page."""
        target = query.get("post_logout_redirect_uri", "")
        registered = tuple(u for a in web_apps(directory) for u in a.redirect_uris)
        if target and redirect_registered(registered, target):
            params = {"state": query["state"]} if query.get("state") else {}
            return _respond(target, "query", params)
        return WebReply(
            200, _page("サインアウトしました / Signed out", "<p>サインアウトしました。 You signed out.</p>")
        )

    def _prune(self) -> None:
        now = time.monotonic()
        for ctx in [c for c, f in self._flows.items() if now - f.created > FLOW_LIFETIME]:
            del self._flows[ctx]
        for code in [c for c, e in self._codes.items() if now - e.expires > CODE_LIFETIME]:
            del self._codes[code]


# -- the directory --------------------------------------------------------------------------------


def web_apps(directory: Directory) -> list[WebApp]:
    """Every application registration with web redirect URIs, with its service principal."""
    sps = {str(sp.get("appId", "")).lower(): sp for sp in directory.collections.get("servicePrincipals", ())}
    out = []
    for app in directory.collections.get("applications", ()):
        web = app.get("web") if isinstance(app.get("web"), dict) else {}
        uris = tuple(str(u) for u in web.get("redirectUris") or ())
        if uris:
            app_id = str(app.get("appId", ""))
            out.append(WebApp(app_id, str(app.get("displayName") or app_id), uris, sps.get(app_id.lower())))
    return out


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def redirect_registered(registered: tuple[str, ...], uri: str) -> bool:
    """Exact match, except that a loopback redirect URI matches on any port (Entra's localhost exception)."""
    if uri in registered:
        return True
    try:
        given = urlsplit(uri)
        given_port = given.port
    except ValueError:
        return False
    if given.hostname not in _LOOPBACK or given_port is None:
        return False
    for r in registered:
        known = urlsplit(r)
        if (known.scheme, known.hostname, known.path, known.query) == (
            given.scheme,
            given.hostname,
            given.path,
            given.query,
        ) and not given.fragment:
            return True
    return False


def web_app(directory: Directory, client_id: str) -> WebApp | None:
    return next((a for a in web_apps(directory) if a.app_id.lower() == client_id.lower()), None)


def assignments_of(directory: Directory, sp: Mapping[str, Any] | None, user_id: str) -> list[dict[str, Any]]:
    """The application's role assignments that reach a user: to the user, or to a group the user is a direct
    member of."""
    if not sp:
        return []
    user = user_id.lower()
    groups = {
        gid
        for (key, gid), members in directory.members.items()
        if key == "groups" and user in {m.lower() for m in members}
    }
    return [
        a
        for a in directory.app_role_assignments.get(str(sp["id"]).lower(), ())
        if str(a["principalId"]).lower() == user or str(a["principalId"]).lower() in groups
    ]


def roles_of(directory: Directory, sp: Mapping[str, Any] | None, user_id: str) -> list[str]:
    """The `roles` claim: values of the enabled user roles assigned to the user (directly or via a group)."""
    if not sp:
        return []
    roles = {str(r.get("id", "")).lower(): r for r in app_roles_of(sp, directory.collections)}
    values: list[str] = []
    for a in assignments_of(directory, sp, user_id):
        role = roles.get(str(a["appRoleId"]).lower())
        if str(a["appRoleId"]) == DEFAULT_ACCESS_ROLE_ID or role is None or role.get("isEnabled") is False:
            continue
        if "User" not in (role.get("allowedMemberTypes") or ["User"]):
            continue
        value = str(role.get("value") or "")
        if value and value not in values:
            values.append(value)
    return sorted(values)


# -- pages and redirects --------------------------------------------------------------------------


def _respond(redirect_uri: str, mode: str, params: Mapping[str, str]) -> WebReply:
    if mode == "form_post":
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
        )
        body = (
            f'<form method="post" action="{html.escape(redirect_uri)}">{fields}'
            '<button type="submit">続行 / Continue</button></form>'
        )
        return WebReply(200, _page("続行 / Continue", body))
    if not params:
        return WebReply(302, location=redirect_uri)
    sep = "#" if mode == "fragment" else ("&" if urlsplit(redirect_uri).query else "?")
    return WebReply(302, location=f"{redirect_uri}{sep}{urlencode(params)}")


def _redirect_error(
    redirect_uri: str, mode: str, state: str | None, error: str, code: int | None, message: str
) -> WebReply:
    params = {"error": error, "error_description": _description(code, message)}
    if state is not None:
        params["state"] = state
    return _respond(redirect_uri, mode, params)


def _description(code: int | None, message: str) -> str:
    trace, now = str(uuid.uuid4()), time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    prefix = f"AADSTS{code}: " if code is not None else ""
    return f"{prefix}{message} Trace ID: {trace} Correlation ID: {uuid.uuid4()} Timestamp: {now}"


def error_page(code: int, message: str) -> WebReply:
    """Entra's page for requests it cannot send back to the application (unknown client, unregistered
    redirect URI): shown to the user, never a redirect."""
    body = (
        "<p>サインインできませんでした。 Sorry, but we're having trouble signing you in.</p>"
        f'<p role="alert" id="error">{html.escape(_description(code, message))}</p>'
    )
    return WebReply(400, _page("サインインエラー / Sign-in error", body))


def sign_in_page(tenant: str, ctx: str, app_name: str, login: str, error: tuple[str, str] | None = None) -> str:
    alert = ""
    if error is not None:
        alert = f'<p role="alert" id="error">{html.escape(error[0])}<br>{html.escape(error[1])}</p>'
    body = f"""<p>{html.escape(app_name)} にサインイン / Sign in to {html.escape(app_name)}</p>
{alert}<form method="post" action="/{html.escape(tenant)}/login">
<input type="hidden" name="ctx" value="{html.escape(ctx)}">
<p><label for="login">ユーザー名 / User name</label><br>
<input id="login" name="login" type="email" autocomplete="username" value="{html.escape(login)}" required></p>
<p><label for="passwd">パスワード / Password</label><br>
<input id="passwd" name="passwd" type="password" autocomplete="current-password" required></p>
<p><button id="signin" type="submit">サインイン / Sign in</button></p>
</form>
<p><small>shoko sandbox — オフラインの Entra ID (テスト用) / offline Entra ID for tests</small></p>"""
    return _page("サインイン / Sign in", body)


def _page(title: str, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{html.escape(title)}</h1>
{body}
</main></body></html>
"""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
