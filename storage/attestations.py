"""Attestations in the ledger: an append-only chain of add / revoke records, and their documents by hash.

Each record's `chain_hash` is SHA-256 of the previous record's chain hash, a newline and the SHA-256 of the
record's canonical JSON; the first record follows "". `verify_attestations` recomputes all of it and
re-hashes every document, so an edited statement, a removed record or a swapped PDF is named.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controls.attestations import Attestation, Revocation
from controls.model import canonical_json

from .models import AttestationDocument, AttestationRecord

ADD, REVOKE = "add", "revoke"


def chain_hash(prev_hash: str, content_sha256: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{content_sha256}".encode()).hexdigest()


def _last_hash(session: Session) -> str:
    last = session.scalar(select(AttestationRecord).order_by(AttestationRecord.id.desc()).limit(1))
    return last.chain_hash if last is not None else ""


def append(session: Session, action: str, attestation_id: str, content: dict[str, Any], at: datetime) -> str:
    """Add one record at the end of the chain; returns its chain hash. A concurrent append that took the
    same place makes the unique `prev_hash` refuse this one (the caller retries)."""
    text = canonical_json(content).decode()
    digest = hashlib.sha256(text.encode()).hexdigest()
    prev = _last_hash(session)
    record = AttestationRecord(
        attestation_id=attestation_id,
        action=action,
        content=text,
        content_sha256=digest,
        prev_hash=prev,
        chain_hash=chain_hash(prev, digest),
        recorded_at=at,
    )
    session.add(record)
    session.flush()
    return record.chain_hash


def store_document(session: Session, data: bytes, media_type: str) -> str:
    sha = hashlib.sha256(data).hexdigest()
    if session.get(AttestationDocument, sha) is None:
        session.add(AttestationDocument(sha256=sha, media_type=media_type, size=len(data), content=data))
        session.flush()
    return sha


def load(session: Session) -> list[Attestation]:
    """Every attestation recorded, oldest first, each with its revocation if it was revoked."""
    found: dict[str, Attestation] = {}
    revoked: dict[str, Revocation] = {}
    for record in session.scalars(select(AttestationRecord).order_by(AttestationRecord.id)):
        content = json.loads(record.content)
        if record.action == ADD:
            found[record.attestation_id] = Attestation.from_content(content)
        elif record.action == REVOKE:
            revoked[record.attestation_id] = Revocation(
                revoked_by=str(content.get("revoked_by") or ""),
                revoked_at=datetime.fromisoformat(content["revoked_at"]),
                reason=str(content.get("reason") or ""),
            )
    return [a.with_revocation(revoked.get(a.id)) for a in found.values()]


def document(session: Session, sha256: str) -> tuple[str, bytes] | None:
    row = session.get(AttestationDocument, sha256)
    return (row.media_type, row.content) if row is not None else None


def verify_attestations(session: Session) -> tuple[int, str | None]:
    """(records checked, the first problem as one line or None)."""
    prev = ""
    count = 0
    referenced: dict[str, int] = {}
    for record in session.scalars(select(AttestationRecord).order_by(AttestationRecord.id)):
        count += 1
        where = f"attestation_records row {record.id} ({record.attestation_id})"
        digest = hashlib.sha256(record.content.encode()).hexdigest()
        if digest != record.content_sha256:
            return count, f"{where}: content does not match its SHA-256 (the record was edited)"
        if record.prev_hash != prev:
            return count, f"{where}: does not follow the previous record (a record was removed or inserted)"
        if record.chain_hash != chain_hash(prev, digest):
            return count, f"{where}: chain hash does not match"
        prev = record.chain_hash
        if record.action == ADD:
            for doc in json.loads(record.content).get("documents") or []:
                referenced[doc["sha256"]] = int(doc["size"])
    for sha, size in sorted(referenced.items()):
        row = session.get(AttestationDocument, sha)
        if row is None:
            return count, f"attestation_documents {sha[:16]}: missing"
        if hashlib.sha256(row.content).hexdigest() != sha or len(row.content) != size:
            return count, f"attestation_documents {sha[:16]}: content does not match its SHA-256 (the file was changed)"
    return count, None
