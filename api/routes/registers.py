"""The registers a run collected: who holds which role (accounts) and which resources exist (inventory)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from ..auth import auditor
from ..common import (
    AsOf,
    Limit,
    Offset,
    answering_run,
    check_limit,
    ledger_of,
    parse_moment,
    register_pages_of,
    run_out,
    settings_of,
)
from ..schemas import AccountPage, ResourcePage

router = APIRouter(tags=["registers"], dependencies=[Depends(auditor)])


@router.get("/accounts", response_model=AccountPage, summary="who holds an Azure or Entra role: type, status, scope")
def list_accounts(
    request: Request,
    as_of: str | None = AsOf,
    privileged: bool = Query(False, description="privileged roles only"),
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    check_limit(request, limit)
    ledger = ledger_of(request)
    run = answering_run(ledger, parse_moment(as_of))
    thresholds = settings_of(request).thresholds
    total, rows = register_pages_of(request).accounts(ledger, run, thresholds, offset, limit, privileged)
    return {"total": total, "limit": limit, "offset": offset, "items": rows, "run": run_out(run)}


@router.get("/inventory", response_model=ResourcePage, summary="the resource register: type, region, owner, checks")
def list_inventory(
    request: Request,
    as_of: str | None = AsOf,
    subscription: str | None = Query(None, max_length=64, description="one subscription id"),
    type: str | None = Query(
        None, max_length=256, description="one resource type, e.g. Microsoft.Compute/virtualMachines"
    ),
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    check_limit(request, limit)
    ledger = ledger_of(request)
    run = answering_run(ledger, parse_moment(as_of))
    owner_tag = settings_of(request).thresholds.owner_tag
    total, rows = register_pages_of(request).inventory(ledger, run, owner_tag, offset, limit, subscription, type)
    return {"total": total, "limit": limit, "offset": offset, "items": rows, "run": run_out(run)}
