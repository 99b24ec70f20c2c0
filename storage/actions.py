"""Writes made through the API (and the token commands), with who made them: an append-only chain of records
like the attestation records (storage/attestations.py), re-checked by `verify_actions`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controls.model import canonical_json

from .attestations import chain_hash
from .models import ApiAction

TOKEN_CREATE, TOKEN_REVOKE = "token_create", "token_revoke"
ATTESTATION_ADD, ATTESTATION_REVOKE = "attestation_add", "attestation_revoke"
DRIFT_ACKNOWLEDGE, COLLECT_NOW = "drift_acknowledge", "collect_now"


@dataclass(frozen=True)
class ActionRecord:
    id: int
    action: str
    subject: str
    actor: str
    recorded_at: datetime
    content: dict[str, Any]
    chain_hash: str


def append(session: Session, action: str, subject: str, actor: str, content: dict[str, Any], at: datetime) -> str:
    """Add one record at the end of the chain; returns its chain hash. A concurrent append that took the same
    place makes the unique `prev_hash` refuse this one (the caller retries)."""
    document = {**content, "action": action, "subject": subject, "actor": actor, "recorded_at": at.isoformat()}
    text = canonical_json(document).decode()
    digest = hashlib.sha256(text.encode()).hexdigest()
    last = session.scalar(select(ApiAction.chain_hash).order_by(ApiAction.id.desc()).limit(1))
    prev = last or ""
    row = ApiAction(
        action=action,
        subject=subject,
        actor=actor,
        content=text,
        content_sha256=digest,
        prev_hash=prev,
        chain_hash=chain_hash(prev, digest),
        recorded_at=at,
    )
    session.add(row)
    session.flush()
    return row.chain_hash


def load(session: Session, action: str | None = None) -> list[ActionRecord]:
    query = select(ApiAction).order_by(ApiAction.id)
    if action is not None:
        query = query.where(ApiAction.action == action)
    return [
        ActionRecord(r.id, r.action, r.subject, r.actor, r.recorded_at, json.loads(r.content), r.chain_hash)
        for r in session.scalars(query)
    ]


def verify_actions(session: Session) -> tuple[int, str | None]:
    """(records checked, the first problem as one line or None)."""
    prev, count = "", 0
    for row in session.scalars(select(ApiAction).order_by(ApiAction.id)):
        count += 1
        where = f"api_actions row {row.id} ({row.action} {row.subject})"
        digest = hashlib.sha256(row.content.encode()).hexdigest()
        if digest != row.content_sha256:
            return count, f"{where}: content does not match its SHA-256 (the record was edited)"
        content = json.loads(row.content)
        hashed = (content.get("action"), content.get("subject"), content.get("actor"))
        if hashed != (row.action, row.subject, row.actor):
            return count, f"{where}: action, subject or actor differ from the hashed content"
        if row.prev_hash != prev:
            return count, f"{where}: does not follow the previous record (a record was removed or inserted)"
        if row.chain_hash != chain_hash(prev, digest):
            return count, f"{where}: chain hash does not match"
        prev = row.chain_hash
    return count, None
