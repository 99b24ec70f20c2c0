"""The compliance matrix: every requirement with its status, and one requirement with its findings, evidence and
history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request

from ..auth import auditor
from ..common import AsOf, Limit, Offset, answering_run, check_limit, ledger_of, paginate, parse_moment, run_out
from ..data import FINDINGS_PAGE, HISTORY_PAGE, matrix, requirement_detail
from ..schemas import FindingStatus, RequirementDetail, RequirementPage, Responsibility, StatusName

router = APIRouter(tags=["requirements"], dependencies=[Depends(auditor)])


@router.get("/requirements", response_model=RequirementPage, summary="every requirement No 1–182 with its status")
def list_requirements(
    request: Request,
    as_of: str | None = AsOf,
    status: StatusName | None = Query(None, description="only rows with this status"),
    section: str | None = Query(None, max_length=32, description="a section, e.g. 2.6 (and its subsections)"),
    responsibility: Responsibility | None = None,
    check: str | None = Query(None, max_length=128, description="rows a check id evidences"),
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    ledger, moment = ledger_of(request), parse_moment(as_of)
    run = answering_run(ledger, moment)
    rows, counts = matrix(
        request.app.state.catalog,
        ledger,
        run,
        status=status,
        section=section,
        responsibility=responsibility,
        check=check,
    )
    return {**paginate(request, rows, limit, offset), "run": run_out(run), "as_of": moment, "counts": counts}


@router.get(
    "/requirements/{no}",
    response_model=RequirementDetail,
    summary="one requirement: its verdict, a page of its findings (failures first) with their evidence records, "
    "the count per status, and its history",
)
def get_requirement(
    request: Request,
    no: int = Path(ge=1, le=10000),
    as_of: str | None = AsOf,
    history_limit: int = Query(HISTORY_PAGE, ge=1, le=500, description="runs of status history (default 50)"),
    history_before: int | None = Query(
        None, ge=1, le=2**31 - 1, description="history older than this run (the previous page's history_next)"
    ),
    status: FindingStatus | None = Query(None, description="only findings with this status"),
    resource: str | None = Query(None, max_length=500, description="only findings whose resource id holds this"),
    limit: int = Query(
        FINDINGS_PAGE, ge=1, le=10000, description="findings per page (default 50, at most api.max_page_size)"
    ),
    offset: int = Offset,
) -> dict[str, Any]:
    ledger = ledger_of(request)
    check_limit(request, limit)
    run = answering_run(ledger, parse_moment(as_of))
    return requirement_detail(
        request.app.state.catalog,
        ledger,
        run,
        no,
        history_limit=history_limit,
        history_before=history_before,
        limit=limit,
        offset=offset,
        status=status,
        resource=resource or None,
    )
