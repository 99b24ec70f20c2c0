"""Who is asking: one dependency yields a Principal from a bearer token or, failing that, from a signed-in
session, and refuses everyone else (401) or too often failing clients (429). Roles: auditor < operator < admin.

The session hook: `create_app(..., session_principal=f)` (or `app.state.session_principal = f`) with
`f(request) -> Principal | None`, e.g. reading a signed session cookie set by an OpenID Connect sign-in. Without
it there are no sessions: bearer tokens only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from storage.ledger import Ledger, LedgerError

from . import tokens


class Role(IntEnum):
    """Each role may do what the ones below it may."""

    AUDITOR = 1  # read, export snapshots
    OPERATOR = 2  # also: collect now, acknowledge drift
    ADMIN = 3  # also: tokens and attestations

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def of(cls, name: str) -> Role:
        return cls[name.upper()]


@dataclass(frozen=True)
class Principal:
    name: str  # a token's name, or a person's sign-in name
    role: Role
    via: str  # "token" or "session"
    token_id: str | None = None

    def describe(self) -> dict[str, str | None]:
        """How the principal is written into the ledger's record of writes."""
        return {"role": self.role.label, "via": self.via, "token_id": self.token_id}


SessionPrincipal = Callable[[Request], Principal | None]


log = logging.getLogger("shoko.api")

LIMITER_UNAVAILABLE = "authentication is unavailable for now; try again later"


class LimiterUnavailable(Exception):
    """The failure limiter could not read or write its database: no request is let in unchecked."""


def no_session(_request: Request) -> Principal | None:
    """The default session hook: there is no sign-in, so no session principal."""
    return None


class FailureLimiter:
    """Failed authentications per client address within a sliding window; at `limit` the client is refused.

    Kept in the ledger's database (table api_auth_failures), so every process and replica serving the API over
    one database counts the same failures; without a ledger (`ledger=None`), in this process only."""

    def __init__(self, limit: int, window_seconds: int, ledger: Ledger | None = None) -> None:
        self.limit, self.window = limit, window_seconds
        self.ledger = ledger
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        seen = self._failures.setdefault(client, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        return seen

    def retry_after(self, client: str, now: float | None = None) -> int | None:
        """Seconds until the client may try again, or None when it may now."""
        if self.ledger is not None:
            at = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
            try:
                failed = self.ledger.auth_failures(client, at - timedelta(seconds=self.window), self.limit)
            except LedgerError as exc:
                raise LimiterUnavailable(f"reading failed authentications: {exc}") from None
            if len(failed) < self.limit:
                return None
            return max(1, int((failed[0] - at).total_seconds() + self.window) + 1)
        now = time.monotonic() if now is None else now
        with self._lock:
            seen = self._recent(client, now)
            if len(seen) < self.limit:
                if not seen:
                    self._failures.pop(client, None)
                return None
            return max(1, int(seen[0] + self.window - now) + 1)

    def failed(self, client: str, now: float | None = None) -> None:
        if self.ledger is not None:
            at = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
            try:
                self.ledger.add_auth_failure(client, at, at - timedelta(seconds=self.window))
            except LedgerError as exc:
                raise LimiterUnavailable(f"noting a failed authentication: {exc}") from None
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(client, now).append(now)


UNAUTHENTICATED = "authentication required: a valid bearer token (Authorization: Bearer shoko_...) or a sign-in"
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token from `shoko token create` (Authorization: Bearer shoko_...)",
)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authenticated(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """The principal of the request. Missing, wrong, expired and revoked tokens get the same 401 (which one it
    was is not said); a client past its failure limit gets 429 before its token is even looked at."""
    try:
        return _authenticated(request, credentials)
    except LimiterUnavailable as exc:
        # The line names neither the client's token nor any ledger data; the answer says only "try later".
        log.error("authentication refused with 503: the failure limiter's database failed (%s)", exc)
        raise HTTPException(503, LIMITER_UNAVAILABLE, {"Retry-After": "30"}) from None


def _authenticated(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    limiter: FailureLimiter = request.app.state.limiter
    client = _client(request)
    wait = limiter.retry_after(client)
    if wait is not None:
        raise HTTPException(
            429, "too many failed authentications from this address; try again later", {"Retry-After": str(wait)}
        )
    principal: Principal | None = None
    if credentials is not None:
        record = tokens.check(request.app.state.ledger, credentials.credentials, datetime.now(UTC))
        if record is not None:
            principal = Principal(record.name, Role.of(record.role), "token", record.id)
    elif request.headers.get("authorization") is None:
        principal = request.app.state.session_principal(request)
    if principal is None:
        limiter.failed(client)
        raise HTTPException(401, UNAUTHENTICATED, {"WWW-Authenticate": "Bearer"})
    request.state.principal = principal
    return principal


def require(role: Role) -> Callable[..., Principal]:
    """A dependency: the authenticated principal, if its role is `role` or above; else 403."""

    def dependency(principal: Principal = Depends(authenticated)) -> Principal:
        if principal.role < role:
            raise HTTPException(403, f"forbidden: this needs the {role.label} role")
        return principal

    dependency.__name__ = f"require_{role.label}"
    return dependency


auditor = require(Role.AUDITOR)
operator = require(Role.OPERATOR)
admin = require(Role.ADMIN)
