"""The auditor's snapshot bundle as a download: the same signed zip as `shoko snapshot export`."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from controls.attestations import AttestationError, parse_requirements
from reports.bundle import SnapshotError, load_private_key, write_bundle
from reports.contents import build_bundle

from ..auth import auditor
from ..common import AsOf, answering_run, ledger_of, parse_moment, settings_of
from ..schemas import Problem

router = APIRouter(tags=["snapshot"], dependencies=[Depends(auditor)])


@router.get(
    "/snapshot",
    summary="a signed snapshot bundle (zip) as of a moment; check it with `shoko snapshot verify`",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
        503: {"model": Problem, "description": "no signing key is configured (api.signing_key_file)"},
    },
)
def export_snapshot(
    request: Request,
    as_of: str | None = AsOf,
    requirements: str | None = Query(None, max_length=500, description="e.g. 86,96-97 (default: all)"),
    lang: str = Query("ja", pattern="^(ja|en|both)$", description="the report's language"),
) -> Response:
    ledger, settings, catalog = ledger_of(request), settings_of(request), request.app.state.catalog
    moment = parse_moment(as_of)
    try:
        numbers = parse_requirements(requirements, "requirements", catalog.numbers()) if requirements else None
    except AttestationError as exc:
        raise HTTPException(422, str(exc)) from None
    run = answering_run(ledger, moment)  # 404 before the ledger began, as every as_of read
    try:
        key = load_private_key(settings.api.signing_key_file)
    except SnapshotError as exc:
        raise HTTPException(503, f"snapshot signing is not configured: {exc}") from None
    bundle = build_bundle(ledger, catalog, moment, numbers, lang, settings.thresholds)
    with tempfile.TemporaryDirectory(prefix="shoko-snapshot-") as tmp:
        out = Path(tmp) / "snapshot.zip"
        write_bundle(bundle, key, out)
        data = out.read_bytes()
    name = f"shoko-snapshot-run{run.id}.zip"
    return Response(
        data, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
