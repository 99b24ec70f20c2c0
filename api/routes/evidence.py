"""Evidence records (raw Azure documents by SHA-256) and findings by resource."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response

from controls.model import canonical_json

from ..auth import auditor
from ..common import AsOf, Limit, Offset, answering_run, check_limit, ledger_of, paginate, parse_moment, run_out
from ..data import finding_out, finding_rows
from ..schemas import EvidenceOut, FindingPage, FindingStatus

router = APIRouter(tags=["evidence"], dependencies=[Depends(auditor)])
SHA256 = Path(pattern=r"^[0-9a-f]{64}$", description="the evidence record's SHA-256 (lower-case hex)")


def _record(request: Request, sha256: str, as_of: str | None) -> tuple[int, Any]:
    found = ledger_of(request).evidence_record(sha256, parse_moment(as_of))
    if found is None:
        when = " at or before as_of" if as_of else ""
        raise HTTPException(404, f"no evidence with sha256 {sha256} in a sealed run{when}")
    return found


@router.get("/evidence/{sha256}", response_model=EvidenceOut, summary="one evidence record: where from, and its JSON")
def get_evidence(request: Request, sha256: str = SHA256, as_of: str | None = AsOf) -> dict[str, Any]:
    run_id, ev = _record(request, sha256, as_of)
    return {
        "sha256": ev.sha256,
        "run": run_id,
        "kind": str(ev.kind),
        "source": ev.source,
        "scope": ev.scope,
        "resource_id": ev.resource_id,
        "api_version": ev.api_version,
        "request_id": ev.request_id,
        "collected_at": ev.collected_at.isoformat(),
        "content": ev.content,
    }


@router.get(
    "/evidence/{sha256}/raw",
    summary="one evidence record's raw JSON exactly as stored (its SHA-256 is the one named)",
    responses={200: {"content": {"application/json": {"schema": {}}}}},
)
def get_evidence_raw(request: Request, sha256: str = SHA256, as_of: str | None = AsOf) -> Response:
    _, ev = _record(request, sha256, as_of)
    return Response(canonical_json(ev.content), media_type="application/json")


@router.get("/findings", response_model=FindingPage, summary="findings of one run, by resource, check or status")
def list_findings(
    request: Request,
    as_of: str | None = AsOf,
    resource_id: str | None = Query(None, max_length=2000, description="one resource (ARM id, any case)"),
    check: str | None = Query(None, max_length=128),
    status: FindingStatus | None = None,
    requirement: int | None = Query(None, ge=1, le=10000),
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    ledger = ledger_of(request)
    run = answering_run(ledger, parse_moment(as_of))
    if resource_id is None and check is None:  # only the page is read, not the run's every finding
        check_limit(request, limit)
        total, page = ledger.findings_page(run.id, offset, limit, status=status, requirement=requirement)
        items = [finding_out(f) for f in page]
        return {"total": total, "limit": limit, "offset": offset, "items": items, "run": run_out(run)}
    items = finding_rows(ledger, run, resource_id=resource_id, check=check, status=status, requirement=requirement)
    return {**paginate(request, items, limit, offset), "run": run_out(run)}
