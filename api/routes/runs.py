"""Runs with their outcome, duration and collection errors; and "collect now" for operators."""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from collector.runs import run_row
from storage.actions import COLLECT_NOW

from ..auth import Principal, auditor, operator
from ..common import AsOf, Limit, Offset, ledger_of, paginate, parse_moment, run_out, settings_of
from ..schemas import CollectionStarted, Page, Problem, RunDetail, RunOut

router = APIRouter(tags=["runs"])
log = logging.getLogger("shoko.api")


@router.get(
    "/runs",
    response_model=Page[RunOut],
    dependencies=[Depends(auditor)],
    summary="every run, newest first: kind, outcome, duration, counts and error (as_of: started by then)",
)
def list_runs(request: Request, as_of: str | None = AsOf, limit: int = Limit, offset: int = Offset) -> dict[str, Any]:
    moment = parse_moment(as_of)
    runs = [r for r in ledger_of(request).runs() if moment is None or r.started_at <= moment][::-1]
    return paginate(request, [run_row(r) for r in runs], limit, offset)


@router.get(
    "/runs/{run_id}",
    response_model=RunDetail,
    dependencies=[Depends(auditor)],
    summary="one run with every collection error it recorded",
)
def get_run(request: Request, run_id: int = Path(ge=1, le=2**31 - 1), as_of: str | None = AsOf) -> dict[str, Any]:
    ledger, moment = ledger_of(request), parse_moment(as_of)
    run = next((r for r in ledger.runs() if r.id == run_id), None)
    if run is None or (moment is not None and run.started_at > moment):
        raise HTTPException(404, f"no run {run_id}" + (" started at or before as_of" if moment else ""))
    errors = [
        {
            "kind": str(e.kind),
            "source": e.source,
            "scope": e.scope,
            "code": e.code,
            "message": e.message,
            "status_code": e.status_code,
            "request_id": e.request_id,
            "occurred_at": e.occurred_at,
        }
        for e in ledger.collection_errors(run.id)
    ]
    return {"run": run_out(run), "collection_errors": errors}


@router.post(
    "/collections",
    status_code=202,
    response_model=CollectionStarted,
    responses={409: {"model": Problem, "description": "a collection started here is still running"}},
    summary="collect now: start one full collection and evaluation run in the background (operator)",
)
def collect_now(request: Request, principal: Principal = Depends(operator)) -> dict[str, Any]:
    from collector.pipeline import run_once

    ledger, settings, catalog = ledger_of(request), settings_of(request), request.app.state.catalog
    queue_run = request.app.state.start_collection
    if queue_run is not None:  # inside the agent: its worker runs it, as a scheduled run
        if not queue_run():
            raise HTTPException(409, "a full collection is already queued or running; see GET /api/v1/runs")
        chain = ledger.record_action(COLLECT_NOW, "full", principal.name, principal.describe())
        record = ledger.actions(COLLECT_NOW)[-1]
        return {
            "action": COLLECT_NOW,
            "subject": "full",
            "actor": principal.name,
            "recorded_at": record.recorded_at,
            "chain_hash": chain,
            "detail": "collection queued; it appears in GET /api/v1/runs",
        }
    busy: threading.Lock = request.app.state.collect_lock  # one API-started collection at a time
    if not busy.acquire(blocking=False):
        raise HTTPException(409, "a collection started through the API is still running; see GET /api/v1/runs")
    try:
        chain = ledger.record_action(COLLECT_NOW, "full", principal.name, principal.describe())
    except Exception:
        busy.release()
        raise
    record = ledger.actions(COLLECT_NOW)[-1]

    def collect() -> None:
        try:
            outcome = run_once(settings, ledger, catalog)
            log.info("collection requested by %s: run %s %s", principal.name, outcome.run.id, outcome.run.status)
        except Exception as exc:  # the run itself is sealed failed by run_once; this is what could not start it
            log.error("collection requested by %s did not run: %s", principal.name, exc)
        finally:
            busy.release()

    threading.Thread(target=collect, name="shoko-api-collect", daemon=True).start()
    return {
        "action": COLLECT_NOW,
        "subject": "full",
        "actor": principal.name,
        "recorded_at": record.recorded_at,
        "chain_hash": chain,
        "detail": "collection started; it appears in GET /api/v1/runs",
    }
