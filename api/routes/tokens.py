"""API tokens over the API (admin): list, create (the token is shown once), revoke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from storage.ledger import LedgerError, TokenRecord

from .. import tokens
from ..auth import Principal, admin
from ..common import Limit, Offset, ledger_of, paginate
from ..schemas import Page, Problem, TokenCreated, TokenIn, TokenOut

router = APIRouter(tags=["tokens"])


def token_out(t: TokenRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "role": t.role,
        "state": t.state(now),
        "created_at": t.created_at,
        "created_by": t.created_by,
        "expires_at": t.expires_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
        "revoked_by": t.revoked_by,
    }


@router.get("/tokens", response_model=Page[TokenOut], dependencies=[Depends(admin)], summary="every API token")
def list_tokens(request: Request, limit: int = Limit, offset: int = Offset) -> dict[str, Any]:
    now = datetime.now(UTC)
    return paginate(request, [token_out(t, now) for t in ledger_of(request).tokens()], limit, offset)


@router.post(
    "/tokens",
    status_code=201,
    response_model=TokenCreated,
    responses={409: {"model": Problem, "description": "a token of that name exists"}},
    summary="make a token (shown this once)",
)
def create_token(request: Request, body: TokenIn, principal: Principal = Depends(admin)) -> dict[str, Any]:
    try:
        record, text = tokens.issue(
            ledger_of(request),
            body.name,
            body.role,
            timedelta(days=body.expires_days),
            principal.name,
            principal.describe(),
        )
    except tokens.TokenError as exc:
        raise HTTPException(422, str(exc)) from None
    except LedgerError as exc:
        raise HTTPException(409, str(exc)) from None
    return {**token_out(record, datetime.now(UTC)), "token": text}


@router.post(
    "/tokens/{token_id}/revoke",
    response_model=TokenOut,
    responses={409: {"model": Problem, "description": "already revoked"}},
    summary="revoke a token (by id or name)",
)
def revoke_token(
    request: Request, token_id: str = Path(max_length=128), principal: Principal = Depends(admin)
) -> dict[str, Any]:
    ledger = ledger_of(request)
    if ledger.token(token_id) is None and not any(t.name == token_id for t in ledger.tokens()):
        raise HTTPException(404, f"no token {token_id}")
    try:
        record = ledger.revoke_token(token_id, principal.name, datetime.now(UTC), principal.describe())
    except LedgerError as exc:
        raise HTTPException(409, str(exc)) from None
    return token_out(record, datetime.now(UTC))
