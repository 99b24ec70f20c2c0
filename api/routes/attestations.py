"""People's attestations: read by auditors; added and revoked by admins (recorded with who, in the ledger)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request

from .. import data
from ..auth import Principal, admin, auditor
from ..common import AsOf, Limit, Offset, ledger_of, paginate, parse_moment
from ..data import attestation_rows
from ..schemas import AttestationIn, AttestationOut, Page, Problem, RevokeIn

router = APIRouter(tags=["attestations"])
ATT_ID = Path(max_length=64, description="the attestation's id, e.g. ATT-2026-001")


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
    rows = attestation_rows(ledger_of(request), parse_moment(as_of), include_revoked=all, requirement=requirement)
    return paginate(request, rows, limit, offset)


@router.post(
    "/attestations",
    status_code=201,
    response_model=AttestationOut,
    summary="record an attestation (admin; documents are attached with `shoko attest add --document`)",
    responses={409: {"model": Problem, "description": "an attestation with this id is already recorded"}},
)
def add_attestation(request: Request, body: AttestationIn, principal: Principal = Depends(admin)) -> dict[str, Any]:
    fields = {
        "requirements": body.requirements,
        "owner": body.owner,
        "attested_on": (body.attested_on or datetime.now(UTC).date()).isoformat(),
        "valid_until": body.valid_until.isoformat(),
        "statement_ja": body.statement_ja,
        "statement_en": body.statement_en,
    }
    return data.add_attestation(request, principal, fields, body.id)


@router.post(
    "/attestations/{attestation_id}/revoke",
    response_model=AttestationOut,
    summary="revoke an attestation (admin): it stays in the ledger, marked revoked",
    responses={409: {"model": Problem, "description": "already revoked"}},
)
def revoke_attestation(
    request: Request, body: RevokeIn, attestation_id: str = ATT_ID, principal: Principal = Depends(admin)
) -> dict[str, Any]:
    return data.revoke_attestation(request, principal, attestation_id, body.reason)
