"""Runs with their outcome, duration and collection errors; and "collect now" for operators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request

from collector.runs import run_row

from .. import data
from ..auth import Principal, auditor, operator
from ..common import AsOf, Limit, Offset, check_limit, ledger_of, parse_moment, run_out
from ..data import collection_errors, run_started_by
from ..schemas import CollectionStarted, Page, Problem, RunDetail, RunOut

router = APIRouter(tags=["runs"])


@router.get(
    "/runs",
    response_model=Page[RunOut],
    dependencies=[Depends(auditor)],
    summary="every run, newest first: kind, outcome, duration, counts and error (as_of: started by then)",
)
def list_runs(request: Request, as_of: str | None = AsOf, limit: int = Limit, offset: int = Offset) -> dict[str, Any]:
    moment = parse_moment(as_of)
    check_limit(request, limit)
    runs, total = ledger_of(request).runs_page(limit, offset, started_by=moment)
    return {"total": total, "limit": limit, "offset": offset, "items": [run_row(r) for r in runs]}


@router.get(
    "/runs/{run_id}",
    response_model=RunDetail,
    dependencies=[Depends(auditor)],
    summary="one run with every collection error it recorded",
)
def get_run(request: Request, run_id: int = Path(ge=1, le=2**31 - 1), as_of: str | None = AsOf) -> dict[str, Any]:
    ledger, moment = ledger_of(request), parse_moment(as_of)
    run = run_started_by(ledger, run_id, moment)
    errors = collection_errors(ledger, run)
    return {"run": run_out(run), "collection_errors": errors}


@router.post(
    "/collections",
    status_code=202,
    response_model=CollectionStarted,
    responses={409: {"model": Problem, "description": "a collection started here is still running"}},
    summary="collect now: start one full collection and evaluation run in the background (operator)",
)
def collect_now(request: Request, principal: Principal = Depends(operator)) -> dict[str, Any]:
    return data.collect_now(request, principal)
