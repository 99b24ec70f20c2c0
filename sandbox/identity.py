"""A minimal Entra ID: client-credentials tokens for one application, checked on every API call.

Tokens are JWT-shaped (header.claims.signature, HS256 with a key that lives only as long as the
sandbox), so code that peeks at `tid`/`oid`/`aud` works as with real Entra tokens, and a token
from another sandbox run or an edited token is rejected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

Audience = Literal["arm", "graph", "storage"]

# Resource URIs a client may ask for (`{resource}/.default`), and the `aud` claim Entra puts in the token.
_RESOURCES: dict[str, tuple[Audience, str]] = {
    "https://management.azure.com": ("arm", "https://management.azure.com/"),
    "https://management.core.windows.net": ("arm", "https://management.core.windows.net/"),
    "https://graph.microsoft.com": ("graph", "https://graph.microsoft.com"),
    "00000003-0000-0000-c000-000000000000": ("graph", "https://graph.microsoft.com"),
    # Azure Storage's data plane (Blob); the SDK asks for https://storage.azure.com/.default.
    "https://storage.azure.com": ("storage", "https://storage.azure.com"),
}
_AUDIENCES: dict[Audience, set[str]] = {
    "arm": {"https://management.azure.com/", "https://management.core.windows.net/"},
    "graph": {"https://graph.microsoft.com"},
    "storage": {"https://storage.azure.com", "https://storage.azure.com/"},
}


class TokenRequestError(Exception):
    """The token endpoint refuses: OAuth error body `{"error", "error_description", ...}`."""

    def __init__(self, status: int, error: str, description: str, code: int) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.code = code

    def body(self) -> dict[str, Any]:
        now = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        trace = str(uuid.uuid4())
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.description} Trace ID: {trace} Timestamp: {now}",
            "error_codes": [self.code],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": str(uuid.uuid4()),
        }


class InvalidToken(Exception):
    """A bearer token the API refuses. `code` is the ARM error code; `graph_message` Graph's wording."""

    def __init__(self, code: str, message: str, graph_message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.graph_message = graph_message


@dataclass(frozen=True)
class Principal:
    app_id: str
    object_id: str


class TokenService:
    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        object_id: str,
        lifetime: int = 3599,
        tenant_aliases: tuple[str, ...] = (),
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._secret = client_secret
        self.object_id = object_id
        self.lifetime = lifetime
        self._key = secrets.token_bytes(32)
        self._tenants = {tenant_id.lower(), *(a.lower() for a in tenant_aliases), "organizations"}
        self._resources = dict(_RESOURCES)
        self._audiences = {k: set(v) for k, v in _AUDIENCES.items()}

    def add_graph_origin(self, origin: str) -> None:
        """Also accept `{origin}/.default` as a Graph scope: clients that derive the scope from the Graph
        base URL (as for national clouds) ask for the sandbox's own origin."""
        origin = origin.rstrip("/")
        self._resources[origin.lower()] = ("graph", origin)
        self._audiences["graph"].add(origin)

    def knows_tenant(self, tenant: str) -> bool:
        return tenant.lower() in self._tenants

    # -- token endpoint -----------------------------------------------------------------------------

    def check_tenant(self, tenant: str) -> None:
        if not self.knows_tenant(tenant):
            raise TokenRequestError(
                400,
                "invalid_request",
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.",
                90002,
            )

    def token_response(self, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        """Answer a client-credentials POST to /{tenant}/oauth2/v2.0/token. Raises TokenRequestError."""
        self.check_tenant(tenant)
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            raise TokenRequestError(
                400, "unsupported_grant_type", f"The grant type '{grant}' is not supported by this sandbox.", 70003
            )
        client_id = form.get("client_id", "")
        if client_id.lower() != self.client_id.lower():
            raise unknown_client(client_id, self.tenant_id)
        check_client_secret(form, self._secret, self.client_id)
        scopes = form.get("scope", "").split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise TokenRequestError(
                400,
                "invalid_scope",
                f"The provided value for scope '{form.get('scope', '')}' is not valid. Client credential flows must "
                f"have a scope value with /.default suffixed to the resource identifier (application ID URI).",
                1002012,
            )
        resource = scopes[0][: -len("/.default")].rstrip("/")
        if resource.lower() not in self._resources:
            raise TokenRequestError(
                400,
                "invalid_resource",
                f"The resource principal named {resource} was not found in the tenant named {self.tenant_id}.",
                500011,
            )
        _, aud = self._resources[resource.lower()]
        token = self.issue(aud)
        return {
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "ext_expires_in": self.lifetime,
            "access_token": token,
        }

    def issue(self, aud: str, lifetime: int | None = None, claims: dict[str, Any] | None = None) -> str:
        """A token for `aud`, as the collector's application; `claims` replaces or adds claims (e.g. a user's
        delegated token: `oid`, `scp`, `idtyp`)."""
        now = int(time.time())
        life = self.lifetime if lifetime is None else lifetime
        token_claims: dict[str, Any] = {
            "aud": aud,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now - 1 if life > 0 else now + life - 1,
            "exp": now + life,
            "appid": self.client_id,
            "appidacr": "1",
            "idtyp": "app",
            "oid": self.object_id,
            "sub": self.object_id,
            "tid": self.tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        if claims:
            token_claims.update(claims)
        header = {"typ": "JWT", "alg": "HS256", "kid": "shoko-sandbox"}
        signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(token_claims).encode())
        sig = hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64(sig)

    # -- resource servers ---------------------------------------------------------------------------

    def verify(self, authorization: str | None, audience: Audience) -> Principal:
        """Check an `Authorization` header for ARM, Graph or Storage. Raises InvalidToken."""
        if not authorization:
            raise InvalidToken(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                "Access token is empty.",
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                "Access token is empty.",
            )
        parts = token.strip().split(".")
        if len(parts) != 3:
            raise InvalidToken(
                "InvalidAuthenticationToken", "The access token is invalid.", "IDX14100: JWT is not well formed."
            )
        expected = hmac.new(self._key, (parts[0] + "." + parts[1]).encode(), hashlib.sha256).digest()
        try:
            sig = _unb64(parts[2])
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, json.JSONDecodeError):
            raise InvalidToken(
                "InvalidAuthenticationToken", "The access token is invalid.", "IDX14100: JWT is not well formed."
            ) from None
        if not hmac.compare_digest(sig, expected) or not isinstance(claims, dict):
            raise InvalidToken(
                "InvalidAuthenticationToken",
                "The access token has been obtained from wrong issuer or is invalid.",
                "Access token validation failure. Invalid signature.",
            )
        now = time.time()
        exp = claims.get("exp", 0)
        if not isinstance(exp, int | float) or exp <= now:
            when = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(exp if isinstance(exp, int | float) else 0))
            current = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(now))
            raise InvalidToken(
                "ExpiredAuthenticationToken",
                f"The access token expiry UTC time '{when}' is earlier than current UTC time '{current}'.",
                "Lifetime validation failed, the token is expired.",
            )
        if claims.get("aud") not in self._audiences[audience]:
            raise InvalidToken(
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{claims.get('aud')}'. It should "
                f"exactly match with one of the allowed audiences '{', '.join(sorted(self._audiences[audience]))}'.",
                "Access token validation failure. Invalid audience.",
            )
        return Principal(str(claims.get("appid", "")), str(claims.get("oid", "")))


def unknown_client(client_id: str, tenant_id: str) -> TokenRequestError:
    return TokenRequestError(
        400,
        "unauthorized_client",
        f"Application with identifier '{client_id}' was not found in the directory '{tenant_id}'.",
        700016,
    )


def check_client_secret(form: dict[str, str] | Any, secret: str, app_id: str) -> None:
    """Client authentication with a secret, as Entra requires of confidential clients. Raises TokenRequestError."""
    if "client_assertion" in form:
        raise TokenRequestError(401, "invalid_client", "Client assertions are not supported by this sandbox.", 700027)
    given = form.get("client_secret") or ""
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise TokenRequestError(
            401,
            "invalid_client",
            f"Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
            f"value, not the client secret ID, for a secret added to app '{app_id}'.",
            7000215,
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def audience_uri(audience: Audience) -> str:
    return {
        "arm": "https://management.azure.com/",
        "graph": "https://graph.microsoft.com",
        "storage": "https://storage.azure.com",
    }[audience]
