"""The compliance matrix: every requirement with its status, and one requirement with its findings, evidence and
history."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from collector.history_view import history
from collector.render import explain, verdict_rows

from ..auth import auditor
from ..common import AsOf, Limit, Offset, answering_run, ledger_of, paginate, parse_moment, run_out
from ..schemas import RequirementDetail, RequirementPage, Responsibility, StatusName

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
    catalog = request.app.state.catalog
    rows = verdict_rows(catalog, ledger.verdicts(run.id))
    if section:
        rows = [r for r in rows if r["section"] == section or r["section"].startswith(section.rstrip(".") + ".")]
    if responsibility:
        rows = [r for r in rows if r["responsibility"] == responsibility]
    if check:
        rows = [r for r in rows if check in r["checks"] or check in _catalog_checks(catalog, r["no"])]
    counts = Counter(r["status"] for r in rows)
    if status:
        rows = [r for r in rows if r["status"] == status]
    return {**paginate(request, rows, limit, offset), "run": run_out(run), "as_of": moment, "counts": dict(counts)}


def _catalog_checks(catalog: Any, number: int) -> tuple[str, ...]:
    req = catalog[number]
    return tuple(req.checks) + tuple(req.supporting_checks)


@router.get(
    "/requirements/{no}",
    response_model=RequirementDetail,
    summary="one requirement: its verdict, findings (failures first), their evidence records and its history",
)
def get_requirement(request: Request, no: int = Path(ge=1, le=10000), as_of: str | None = AsOf) -> dict[str, Any]:
    catalog = request.app.state.catalog
    if no not in catalog:
        raise HTTPException(404, f"no requirement No {no} (the catalog has No 1–{len(catalog)})")
    ledger, moment = ledger_of(request), parse_moment(as_of)
    run = answering_run(ledger, moment)
    verdict = next((v for v in ledger.verdicts(run.id) if v.requirement == no), None)
    findings = [f for f in ledger.findings(run.id) if no in f.requirements]
    data = explain(catalog[no], verdict, findings, ledger.evidence(run.id), run)
    sealed = run.finished_at
    data["history"] = [
        h
        for h in history(ledger, no)
        if h["finished_at"] is not None and sealed and h["finished_at"] <= sealed.isoformat()
    ]
    return data
