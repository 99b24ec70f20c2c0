"""Drift events (what changed between runs), and their acknowledgement by operators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from storage.actions import DRIFT_ACKNOWLEDGE

from ..auth import Principal, auditor, operator
from ..common import AsOf, Limit, Offset, ledger_of, paginate, parse_moment
from ..data import acknowledgements, drift_rows
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
    if run is not None and not any(r.id == run for r in ledger.runs()):
        raise HTTPException(404, f"no run {run}")
    rows = drift_rows(ledger, moment, since=start, run=run, kind=kind, requirement=requirement)
    return paginate(request, rows, limit, offset)


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
    ledger = ledger_of(request)
    if not any(d.id == event_id for d in ledger.drift_events()):
        raise HTTPException(404, f"no drift event {event_id}")
    done = acknowledgements(ledger).get(str(event_id))
    if done is not None:
        raise HTTPException(409, f"drift event {event_id} was acknowledged by {done['by']} at {done['at'].isoformat()}")
    chain = ledger.record_action(
        DRIFT_ACKNOWLEDGE, str(event_id), principal.name, {**principal.describe(), "note": body.note}
    )
    record = ledger.actions(DRIFT_ACKNOWLEDGE)[-1]
    return {
        "action": record.action,
        "subject": record.subject,
        "actor": record.actor,
        "recorded_at": record.recorded_at,
        "chain_hash": chain,
    }
