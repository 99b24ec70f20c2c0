"""People's attestations: read by auditors; added and revoked by admins (recorded with who, in the ledger)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path as FsPath
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from collector.attest_cli import record_drafts
from controls.attestations import Attestation, AttestationError, draft
from storage.actions import ATTESTATION_ADD, ATTESTATION_REVOKE
from storage.ledger import LedgerError

from ..auth import Principal, admin, auditor
from ..common import AsOf, Limit, Offset, ledger_of, paginate, parse_moment
from ..schemas import AttestationIn, AttestationOut, Page, Problem, RevokeIn

router = APIRouter(tags=["attestations"])
ATT_ID = Path(max_length=64, description="the attestation's id, e.g. ATT-2026-001")


def _out(a: Attestation, on: date) -> dict[str, Any]:
    revoked = a.revoked
    return {
        **a.content(),
        "state": a.state(on),
        "revoked": None
        if revoked is None
        else {"by": revoked.revoked_by, "at": revoked.revoked_at, "reason": revoked.reason},
    }


@router.get(
    "/attestations",
    response_model=Page[AttestationOut],
    dependencies=[Depends(auditor)],
    summary="attestations recorded (as_of: recorded by then, with their state that day), oldest first",
)
def list_attestations(
    request: Request,
    as_of: str | None = AsOf,
    all: bool = Query(False, description="revoked ones too"),
    requirement: int | None = Query(None, ge=1, le=10000),
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    moment = parse_moment(as_of)
    rows = []
    for a in ledger_of(request).attestations():
        if moment is not None:
            if a.recorded_at is not None and a.recorded_at > moment:
                continue
            if a.revoked is not None and a.revoked.revoked_at > moment:
                a = a.with_revocation(None)  # revoked later: still standing then
        if (a.revoked is not None and not all) or (requirement is not None and requirement not in a.requirements):
            continue
        rows.append(_out(a, (moment or datetime.now(UTC)).date()))
    return paginate(request, rows, limit, offset)


@router.post(
    "/attestations",
    status_code=201,
    response_model=AttestationOut,
    summary="record an attestation (admin; documents are attached with `shoko attest add --document`)",
    responses={409: {"model": Problem, "description": "an attestation with this id is already recorded"}},
)
def add_attestation(request: Request, body: AttestationIn, principal: Principal = Depends(admin)) -> dict[str, Any]:
    ledger = ledger_of(request)
    entry: dict[str, Any] = {
        "requirements": body.requirements,
        "owner": body.owner,
        "attested_on": (body.attested_on or datetime.now(UTC).date()).isoformat(),
        "valid_until": body.valid_until.isoformat(),
        "statement_ja": body.statement_ja,
        "statement_en": body.statement_en,
        "documents": [],
    }
    if body.id:
        if any(a.id == body.id for a in ledger.attestations()):
            raise HTTPException(409, f"attestation {body.id} is already recorded (revoke it, then use a new id)")
        entry["id"] = body.id
    try:
        made = draft(entry, "request body", FsPath.cwd(), request.app.state.catalog.numbers())
        record_drafts(ledger, [made], principal.name)
    except AttestationError as exc:
        raise HTTPException(422, str(exc)) from None
    except LedgerError as exc:
        raise HTTPException(409, str(exc)) from None
    recorded = ledger.attestations()[-1]
    ledger.record_action(
        ATTESTATION_ADD,
        recorded.id,
        principal.name,
        {**principal.describe(), "requirements": list(recorded.requirements)},
    )
    return _out(recorded, datetime.now(UTC).date())


@router.post(
    "/attestations/{attestation_id}/revoke",
    response_model=AttestationOut,
    summary="revoke an attestation (admin): it stays in the ledger, marked revoked",
    responses={409: {"model": Problem, "description": "already revoked"}},
)
def revoke_attestation(
    request: Request, body: RevokeIn, attestation_id: str = ATT_ID, principal: Principal = Depends(admin)
) -> dict[str, Any]:
    ledger = ledger_of(request)
    if not any(a.id == attestation_id for a in ledger.attestations()):
        raise HTTPException(404, f"no attestation {attestation_id}")
    try:
        ledger.revoke_attestation(attestation_id, principal.name, body.reason, datetime.now(UTC))
    except LedgerError as exc:
        raise HTTPException(409, str(exc)) from None
    ledger.record_action(
        ATTESTATION_REVOKE, attestation_id, principal.name, {**principal.describe(), "reason": body.reason}
    )
    found = next(a for a in ledger.attestations() if a.id == attestation_id)
    return _out(found, datetime.now(UTC).date())
