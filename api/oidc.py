"""People's sign-in with Microsoft Entra ID: OpenID Connect, authorization code flow with PKCE (S256).

    client = OidcClient.from_settings(settings.api.oidc)         # reads the client secret (env or file)
    url, pending = client.begin(return_to="/requirements")      # /signin: keep `pending` (sealed cookie), redirect
    user = client.complete(request.query_params, pending)        # /auth/callback: a SignedInUser with a shoko role

`complete` checks the callback (Entra's error, `state`), redeems the code with the client secret and the PKCE
verifier, validates the id_token (RS256 only, the key from the tenant's JWKS by `kid`, `iss`, `aud`, `exp`/`nbf`/
`iat` with a small leeway, `tid`, `nonce`) and maps its `roles` to shoko's role: auditor < operator < admin, the
highest held wins, none is refused. Every refusal is an `OidcError` subclass whose text is one line for logs;
people are shown only the kind (`SignInRefused` → 403, `InvalidCallback` → 401, `ProviderError` → 502).

Routes (with `api.session.SessionCodec` and its cookies, set with `cookie_attributes()`):
    GET /signin?next=/path   begin(next) → set PENDING_COOKIE = seal_pending(pending) (max_age 600) → 302 to the URL
    GET /auth/callback       open_pending(PENDING_COOKIE) → complete(query, pending) → delete PENDING_COOKIE,
                             set SESSION_COOKIE = issue(user) → 303 to pending.return_to; on OidcError: the status
                             above, a page without details, the one line in the log, PENDING_COOKIE deleted
    POST /signout            check_csrf(session, form token) → delete SESSION_COOKIE → 303 to logout_url(home) or /
`begin`, `complete` and `logout_url` block on HTTPS to Entra ID: call them from sync routes or a thread pool.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from collector.settings import OidcSettings

SHOKO_ROLES = ("auditor", "operator", "admin")  # lowest first
PENDING_MAX_AGE = 600  # seconds between /signin and /auth/callback (Entra's codes live about 10 minutes)
_JWKS_REFRESH_MIN = 60  # seconds between JWKS fetches for an unknown kid (key rollover), so a forged kid is cheap


class OidcError(Exception):
    """A sign-in that did not happen; str() is one line for the log."""


class OidcConfigError(OidcError):
    """Sign-in cannot start: settings, or the client secret is missing."""


class ProviderError(OidcError):
    """Entra ID could not be reached or answered something unusable (discovery, keys, token endpoint)."""


class InvalidCallback(OidcError):
    """The callback or the id_token is not acceptable (error from Entra, state, code, signature, claims)."""


class SignInRefused(OidcError):
    """Entra ID signed the person in, but no app role of theirs maps to a shoko role."""


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass(frozen=True)
class PendingSignIn:
    """What /signin keeps (in a sealed cookie, `api.session`) for /auth/callback to check."""

    state: str
    nonce: str
    code_verifier: str
    return_to: str
    created: float


@dataclass(frozen=True)
class SignedInUser:
    oid: str  # the user's object id in the tenant
    tid: str
    name: str
    username: str  # preferred_username (the UPN)
    role: str  # auditor | operator | admin
    app_roles: tuple[str, ...]  # the id_token's roles, as Entra sent them


def role_for(app_roles: tuple[str, ...] | list[str], settings: OidcSettings) -> str:
    """The highest shoko role the app roles give. Raises SignInRefused when none does."""
    held = set(app_roles)
    granted = [r for r in SHOKO_ROLES if held & set(getattr(settings, f"{r}_roles"))]
    if not granted:
        raise SignInRefused(
            f"no shoko role: the id_token's roles {sorted(held)} map to none of auditor, operator, admin"
        )
    return granted[-1]


def read_secret(env_name: str | None, file_name: str | None, what: str, environ: Mapping[str, str]) -> str:
    """A secret from the named environment variable, else the named file (stripped). One-line error if neither."""
    if env_name and environ.get(env_name):
        return environ[env_name]
    if file_name:
        try:
            value = Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise OidcConfigError(f"{what}: cannot read {file_name} ({e.strerror or e})") from None
        if value:
            return value
        raise OidcConfigError(f"{what}: {file_name} is empty")
    where = " or ".join(x for x in (f"environment variable {env_name}" if env_name else "", file_name or "") if x)
    raise OidcConfigError(f"{what}: not set ({where})")


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge) for S256: 43-character verifier from 32 random bytes (RFC 7636)."""
    verifier = _b64(secrets.token_bytes(32))
    return verifier, _b64(hashlib.sha256(verifier.encode()).digest())


class OidcClient:
    def __init__(
        self,
        settings: OidcSettings,
        client_secret: str,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (settings.tenant_id and settings.client_id and settings.redirect_uri):
            raise OidcConfigError("api.oidc: tenant_id, client_id and redirect_uri are required for sign-in")
        self.settings = settings
        self._secret = client_secret
        self._clock = clock
        verify: Any = ssl.create_default_context(cafile=settings.ca_bundle) if settings.ca_bundle else True
        self._http = http or httpx.Client(verify=verify, timeout=settings.timeout_seconds, follow_redirects=False)
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._keys: dict[str, Any] = {}
        self._keys_fetched = 0.0

    @classmethod
    def from_settings(cls, settings: OidcSettings, environ: Mapping[str, str] | None = None) -> OidcClient:
        secret = read_secret(
            settings.client_secret_env,
            settings.client_secret_file,
            "api.oidc client secret",
            os.environ if environ is None else environ,
        )
        return cls(settings, secret)

    def close(self) -> None:
        self._http.close()

    # -- discovery and keys -------------------------------------------------------------------------

    @property
    def discovery_url(self) -> str:
        return f"{self.settings.authority.rstrip('/')}/{self.settings.tenant_id}/v2.0/.well-known/openid-configuration"

    @property
    def expected_issuer(self) -> str:
        return f"{self.settings.authority.rstrip('/')}/{self.settings.tenant_id}/v2.0"

    def metadata(self) -> ProviderMetadata:
        """The tenant's OpenID configuration (fetched once). Its issuer must be this tenant's."""
        with self._lock:
            if self._metadata is not None:
                return self._metadata
        doc = self._get_json(self.discovery_url, "OpenID configuration")
        try:
            meta = ProviderMetadata(
                issuer=str(doc["issuer"]),
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                jwks_uri=str(doc["jwks_uri"]),
                end_session_endpoint=doc.get("end_session_endpoint"),
            )
        except (KeyError, TypeError):
            raise ProviderError(f"{self.discovery_url}: OpenID configuration lacks issuer or an endpoint") from None
        if meta.issuer != self.expected_issuer:
            raise ProviderError(
                f"{self.discovery_url}: issuer {meta.issuer} is not this tenant's ({self.expected_issuer})"
            )
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not getattr(meta, name).startswith("https://"):
                raise ProviderError(f"{self.discovery_url}: {name} is not an https:// URL")
        with self._lock:
            self._metadata = meta
        return meta

    def _signing_key(self, kid: str) -> Any:
        with self._lock:
            key = self._keys.get(kid)
            fetch = key is None and (not self._keys or self._clock() - self._keys_fetched >= _JWKS_REFRESH_MIN)
        if key is not None:
            return key
        if fetch:
            doc = self._get_json(self.metadata().jwks_uri, "signing keys (JWKS)")
            try:
                keys = {k.key_id: k.key for k in jwt.PyJWKSet.from_dict(doc).keys if k.key_id}
            except jwt.PyJWKSetError as e:
                raise ProviderError(f"{self.metadata().jwks_uri}: unusable JWKS ({e})") from None
            with self._lock:
                self._keys, self._keys_fetched = keys, self._clock()
                key = keys.get(kid)
        if key is None:
            raise InvalidCallback(f"id_token signed with key {kid!r}, which the tenant's JWKS does not list")
        return key

    # -- the flow -----------------------------------------------------------------------------------

    def begin(self, return_to: str = "/") -> tuple[str, PendingSignIn]:
        """The authorization URL to redirect the browser to, and what the callback must check."""
        verifier, challenge = pkce_pair()
        pending = PendingSignIn(
            state=_b64(secrets.token_bytes(24)),
            nonce=_b64(secrets.token_bytes(24)),
            code_verifier=verifier,
            return_to=safe_return_to(return_to),
            created=self._clock(),
        )
        query = {
            "client_id": self.settings.client_id,
            "response_type": "code",
            "redirect_uri": self.settings.redirect_uri,
            "response_mode": "query",
            "scope": " ".join(self.settings.scopes),
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.metadata().authorization_endpoint}?{urlencode(query)}", pending

    def complete(self, params: Mapping[str, str], pending: PendingSignIn) -> SignedInUser:
        """Finish a sign-in from the callback's query parameters."""
        if params.get("error"):
            lines = str(params.get("error_description") or "").splitlines()
            description = lines[0].split(" Trace ID:")[0][:300] if lines else ""
            raise InvalidCallback(f"Entra ID refused the sign-in: {params['error']}: {description}")
        if not hmac.compare_digest(str(params.get("state") or "").encode(), pending.state.encode()):
            raise InvalidCallback("state does not match the sign-in this browser started")
        if self._clock() - pending.created > PENDING_MAX_AGE:
            raise InvalidCallback(f"the sign-in was started more than {PENDING_MAX_AGE} s ago")
        code = params.get("code")
        if not code:
            raise InvalidCallback("the callback carries no code")
        tokens = self.redeem(str(code), pending.code_verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderError("the token endpoint returned no id_token")
        claims = self.validate_id_token(id_token, pending.nonce)
        roles = claims.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise InvalidCallback("the id_token's roles claim is not a list of strings")
        user_roles = tuple(roles)
        return SignedInUser(
            oid=str(claims["oid"]),
            tid=str(claims["tid"]),
            name=str(claims.get("name") or claims.get("preferred_username") or claims["oid"]),
            username=str(claims.get("preferred_username") or ""),
            role=role_for(user_roles, self.settings),
            app_roles=user_roles,
        )

    def redeem(self, code: str, code_verifier: str) -> dict[str, Any]:
        """POST the code to the token endpoint (client_secret_post). Raises InvalidCallback on invalid_grant."""
        url = self.metadata().token_endpoint
        form = {
            "client_id": self.settings.client_id or "",
            "client_secret": self._secret,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_uri or "",
            "code_verifier": code_verifier,
            "scope": " ".join(self.settings.scopes),
        }
        try:
            r = self._http.post(url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as e:
            raise ProviderError(f"{url}: {type(e).__name__}: {e}") from None
        try:
            body = r.json()
        except ValueError:
            raise ProviderError(f"{url}: HTTP {r.status_code}, not JSON") from None
        if r.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            first = str(body.get("error_description", "")).split(" Trace ID:")[0] if isinstance(body, dict) else ""
            line = f"{url}: HTTP {r.status_code} {error or ''}: {first}".strip()
            raise (InvalidCallback if error == "invalid_grant" else ProviderError)(line)
        return body

    def validate_id_token(self, token: str, nonce: str) -> dict[str, Any]:
        """The id_token's claims, once its signature and claims hold. Raises InvalidCallback."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise InvalidCallback(f"id_token is not a JWT ({e})") from None
        if header.get("alg") != "RS256":
            raise InvalidCallback(f"id_token algorithm {header.get('alg')!r} refused (RS256 only)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidCallback("id_token header has no kid")
        key = self._signing_key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.settings.client_id,
                issuer=self.metadata().issuer,
                leeway=self.settings.clock_skew_seconds,
                options={"require": ["iss", "aud", "exp", "iat", "nbf", "sub", "oid", "tid"]},
            )
        except jwt.PyJWTError as e:
            raise InvalidCallback(f"id_token refused: {e}") from None
        if str(claims.get("tid", "")).lower() != str(self.settings.tenant_id).lower():
            raise InvalidCallback(f"id_token is from tenant {claims.get('tid')}, not {self.settings.tenant_id}")
        if not hmac.compare_digest(str(claims.get("nonce") or "").encode(), nonce.encode()):
            raise InvalidCallback("id_token nonce does not match the sign-in this browser started")
        return claims

    def logout_url(self, post_logout_redirect_uri: str | None = None) -> str | None:
        """Entra's end-session URL (signs the person out of Entra too), or None if the tenant has none."""
        end = self.metadata().end_session_endpoint
        if not end or not post_logout_redirect_uri:
            return end
        return f"{end}?{urlencode({'post_logout_redirect_uri': post_logout_redirect_uri})}"

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            r = self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as e:
            raise ProviderError(f"{what} {url}: {type(e).__name__}: {e}") from None
        if r.status_code != 200:
            raise ProviderError(f"{what} {url}: HTTP {r.status_code}")
        try:
            doc = r.json()
        except ValueError:
            raise ProviderError(f"{what} {url}: not JSON") from None
        if not isinstance(doc, dict):
            raise ProviderError(f"{what} {url}: not a JSON object")
        return doc


def safe_return_to(value: str | None) -> str:
    """Only a path on this site (no scheme, host or `//`): the page to go back to after signing in."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
