"""Signed, encrypted, expiring cookie values for people signed in through Entra ID, and CSRF tokens.

    sessions = SessionCodec.from_settings(settings.api.oidc)     # the key from the environment or a file
    value = sessions.seal_pending(pending)                      # /signin: cookie PENDING_COOKIE, 10 minutes
    pending = sessions.open_pending(value)                      # /auth/callback
    session, value = sessions.issue(user)                       # cookie SESSION_COOKIE after a good sign-in
    session = sessions.read(value)                              # every request; SessionError → sign in again
    token = sessions.csrf_token(session); sessions.check_csrf(session, form_token)

Values are Fernet tokens (AES-128-CBC + HMAC-SHA256, with their issue time) under keys derived from the
configured session key by HKDF, one per purpose, so a sign-in cookie is never accepted as a session. A session
carries the principal (object id, name, UPN, shoko role) and expires `session_minutes` after sign-in; nothing is
stored server-side, so /signout clears the cookie and a copied cookie stays valid until it expires. Set the
cookies with `cookie_attributes()`: Secure, HttpOnly, SameSite=Lax, Path=/.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from api.oidc import PENDING_MAX_AGE, SHOKO_ROLES, OidcConfigError, PendingSignIn, SignedInUser, read_secret
from collector.settings import OidcSettings

SESSION_COOKIE = "shoko_session"
PENDING_COOKIE = "shoko_signin"
MIN_KEY_LENGTH = 32


class SessionError(Exception):
    """A cookie that is missing, altered, from another key, or expired; str() is one line for the log."""


@dataclass(frozen=True)
class Session:
    sid: str  # random per sign-in; binds the CSRF token
    oid: str
    tid: str
    name: str
    username: str
    role: str
    issued_at: int
    expires_at: int


def cookie_attributes(max_age: int | None = None) -> dict[str, Any]:
    """Keyword arguments for Starlette's `response.set_cookie` (and `delete_cookie`, without max_age)."""
    attrs: dict[str, Any] = {"path": "/", "secure": True, "httponly": True, "samesite": "lax"}
    if max_age is not None:
        attrs["max_age"] = max_age
    return attrs


class SessionCodec:
    def __init__(self, key: str | bytes, lifetime_seconds: int, *, clock: Callable[[], float] = time.time) -> None:
        raw = key.encode() if isinstance(key, str) else key
        if len(raw) < MIN_KEY_LENGTH:
            raise OidcConfigError(f"api.oidc session key: at least {MIN_KEY_LENGTH} characters, got {len(raw)}")
        if lifetime_seconds < 60:
            raise OidcConfigError("api.oidc session lifetime: at least 60 seconds")
        self.lifetime = lifetime_seconds
        self._clock = clock
        self._session = Fernet(_derive(raw, b"shoko session v1"))
        self._pending = Fernet(_derive(raw, b"shoko sign-in v1"))
        self._csrf = base64.urlsafe_b64decode(_derive(raw, b"shoko csrf v1"))

    @classmethod
    def from_settings(cls, settings: OidcSettings, environ: Mapping[str, str] | None = None) -> SessionCodec:
        key = read_secret(
            settings.session_key_env,
            settings.session_key_file,
            "api.oidc session key",
            os.environ if environ is None else environ,
        )
        return cls(key, settings.session_minutes * 60)

    # -- sessions -----------------------------------------------------------------------------------

    def issue(self, user: SignedInUser) -> tuple[Session, str]:
        now = int(self._clock())
        session = Session(
            sid=secrets.token_urlsafe(18),
            oid=user.oid,
            tid=user.tid,
            name=user.name,
            username=user.username,
            role=user.role,
            issued_at=now,
            expires_at=now + self.lifetime,
        )
        return session, self._seal(self._session, asdict(session))

    def read(self, value: str | None) -> Session:
        data = self._open(self._session, value, self.lifetime, "session")
        try:
            session = Session(**data)
        except TypeError:
            raise SessionError("session cookie has an unexpected shape") from None
        if session.role not in SHOKO_ROLES:
            raise SessionError(f"session cookie names an unknown role {session.role!r}")
        if self._clock() >= session.expires_at:
            raise SessionError("session expired; sign in again")
        return session

    # -- the sign-in in progress --------------------------------------------------------------------

    def seal_pending(self, pending: PendingSignIn) -> str:
        return self._seal(self._pending, asdict(pending))

    def open_pending(self, value: str | None) -> PendingSignIn:
        data = self._open(self._pending, value, PENDING_MAX_AGE, "sign-in")
        try:
            return PendingSignIn(**data)
        except TypeError:
            raise SessionError("sign-in cookie has an unexpected shape") from None

    # -- CSRF ---------------------------------------------------------------------------------------

    def csrf_token(self, session: Session) -> str:
        """The token forms carry (a hidden field): bound to this session, so another session's is refused."""
        mac = hmac.new(self._csrf, session.sid.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session).encode(), str(token).encode())

    # -- sealing ------------------------------------------------------------------------------------

    def _seal(self, fernet: Fernet, data: dict[str, Any]) -> str:
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        return fernet.encrypt_at_time(payload, int(self._clock())).decode()

    def _open(self, fernet: Fernet, value: str | None, max_age: int, what: str) -> dict[str, Any]:
        if not value:
            raise SessionError(f"no {what} cookie")
        try:
            payload = fernet.decrypt_at_time(value.encode(), max_age, int(self._clock()))
        except InvalidToken:
            # Altered, another key or purpose, or older than max_age: Fernet does not say which, nor do we.
            raise SessionError(f"{what} cookie is invalid or expired") from None
        data = json.loads(payload)
        if not isinstance(data, dict):
            raise SessionError(f"{what} cookie has an unexpected shape")
        return data


def _derive(key: bytes, purpose: bytes) -> bytes:
    """A Fernet key (32 bytes, base64url) for one purpose."""
    return base64.urlsafe_b64encode(HKDF(hashes.SHA256(), 32, salt=None, info=purpose).derive(key))
