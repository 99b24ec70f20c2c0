"""API bearer tokens: `shoko_<id>_<secret>`. Only the SHA-256 of the secret is stored; the token is shown once,
when it is made. The id finds the row, the secret's hash is compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from storage.ledger import Ledger, TokenRecord

ROLES = ("auditor", "operator", "admin")
_PREFIX = "shoko"
_TOKEN_RE = re.compile(r"shoko_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_DUMMY = hashlib.sha256(b"no such token").hexdigest()
# A token's last use is written at most this often (a busy client would otherwise write on every request).
LAST_USED_GRANULARITY = timedelta(seconds=60)
MAX_EXPIRY = timedelta(days=3650)


class TokenError(ValueError):
    """A token that cannot be made as asked; str() is one line."""


def parse_expiry(text: str) -> timedelta:
    """`30d`, `12h` or `90m`: how long a new token lives (at most ten years; never unbounded)."""
    match = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", text or "")
    if not match or int(match.group(1)) == 0:
        raise TokenError(f"--expires: {text!r} is not a duration such as 30d, 12h or 90m")
    value = int(match.group(1))
    span = {"d": timedelta(days=value), "h": timedelta(hours=value), "m": timedelta(minutes=value)}[match.group(2)]
    if span > MAX_EXPIRY:
        raise TokenError(f"--expires: {text!r} is longer than {MAX_EXPIRY.days} days")
    return span


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(
    ledger: Ledger,
    name: str,
    role: str,
    lifetime: timedelta,
    created_by: str,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[TokenRecord, str]:
    """Make and store a token; returns its record and the token text (shown once, never stored)."""
    name = (name or "").strip()
    if not re.fullmatch(r"[\w.@:-]{1,128}", name):
        raise TokenError(f"token name {name!r}: use 1-128 letters, digits and . _ - @ : (e.g. grc-export)")
    if role not in ROLES:
        raise TokenError(f"token role {role!r}: must be one of {', '.join(ROLES)}")
    now = now or datetime.now(UTC)
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    record = TokenRecord(
        id=token_id,
        name=name,
        role=role,
        created_at=now,
        created_by=created_by,
        expires_at=now + lifetime,
        revoked_at=None,
        revoked_by=None,
        last_used_at=None,
        secret_sha256=_hash(secret),
    )
    ledger.add_token(record, details or {})
    return record, f"{_PREFIX}_{token_id}_{secret}"


def check(ledger: Ledger, text: str, now: datetime) -> TokenRecord | None:
    """The token's record if the text is a valid, unexpired, unrevoked token; else None (the caller does not
    learn, and must not tell, which of these it was)."""
    match = _TOKEN_RE.fullmatch(text or "")
    record = ledger.token(match.group(1)) if match else None
    secret = match.group(2) if match else ""
    # Compared even when nothing was found, so a wrong id and a wrong secret take the same time.
    same = hmac.compare_digest(_hash(secret), record.secret_sha256 if record else _DUMMY)
    if record is None or not same or record.state(now) != "active":
        return None
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_GRANULARITY:
        ledger.token_used(record.id, now)
    return record
