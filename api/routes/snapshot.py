"""The auditor's snapshot bundle as a download: the same signed zip as `shoko snapshot export`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ..auth import auditor
from ..common import AsOf, answering_run, ledger_of, parse_moment
from ..data import snapshot_file
from ..schemas import Problem

router = APIRouter(tags=["snapshot"], dependencies=[Depends(auditor)])


@router.get(
    "/snapshot",
    summary="a signed snapshot bundle (zip) as of a moment; check it with `shoko snapshot verify`",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
        500: {"model": Problem, "description": "the bundle could not be built (the reason, or the server's log)"},
        503: {"model": Problem, "description": "no signing key is configured (api.signing_key_file)"},
    },
)
def export_snapshot(
    request: Request,
    as_of: str | None = AsOf,
    requirements: str | None = Query(None, max_length=500, description="e.g. 86,96-97 (default: all)"),
    lang: str = Query("ja", pattern="^(ja|en|both)$", description="the report's language"),
) -> Response:
    moment = parse_moment(as_of)
    run = answering_run(ledger_of(request), moment)  # 404 before the ledger began, as every as_of read
    return snapshot_file(request, run, moment, requirements, lang)
