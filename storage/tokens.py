"""API token rows: only the SHA-256 of a token's secret is stored (api/tokens.py makes and checks tokens)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .models import ApiToken


@dataclass(frozen=True)
class TokenRecord:
    id: str
    name: str
    role: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    last_used_at: datetime | None
    secret_sha256: str  # never shown; compared in constant time by api/tokens.py

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


def to_record(row: ApiToken) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        name=row.name,
        role=row.role,
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        last_used_at=row.last_used_at,
        secret_sha256=row.secret_sha256,
    )
