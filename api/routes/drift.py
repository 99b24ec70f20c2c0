"""Drift events (what changed between runs), and their acknowledgement by operators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request

from .. import data
from ..auth import Principal, auditor, operator
from ..common import AsOf, Limit, Offset, check_limit, ledger_of, parse_moment
from ..data import acknowledge_drift, drift_page
from ..schemas import AcknowledgeIn, ActionOut, DriftOut, Page, Problem

router = APIRouter(tags=["drift"])


@router.get(
    "/drift",
    response_model=Page[DriftOut],
    dependencies=[Depends(auditor)],
    summary="drift events, newest first (as_of: found by runs sealed by then), with their acknowledgement",
)
def list_drift(
    request: Request,
    as_of: str | None = AsOf,
    since: str | None = Query(None, max_length=64, description="runs sealed at or after it (ISO 8601)"),
    run: int | None = Query(None, ge=1, le=2**31 - 1, description="one run's events only"),
    kind: str | None = Query(None, max_length=32, description="e.g. new_failure, resolved, verdict_changed"),
    requirement: int | None = Query(None, ge=1, le=10000),
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    ledger, moment, start = ledger_of(request), parse_moment(as_of), parse_moment(since, "since")
    if run is not None:
        data.run_started_by(ledger, run, None)  # 404 for no such run
    check_limit(request, limit)
    rows, total = drift_page(
        ledger, moment, since=start, run=run, kind=kind, requirement=requirement, limit=limit, offset=offset
    )
    return {"total": total, "limit": limit, "offset": offset, "items": rows}


@router.post(
    "/drift/{event_id}/acknowledge",
    response_model=ActionOut,
    responses={409: {"model": Problem, "description": "already acknowledged"}},
    summary="acknowledge a drift event (operator): recorded in the ledger with who and when",
)
def acknowledge(
    request: Request,
    body: AcknowledgeIn,
    event_id: int = Path(ge=1, le=2**31 - 1),
    principal: Principal = Depends(operator),
) -> dict[str, Any]:
    return acknowledge_drift(request, principal, event_id, body.note)
