"""People's attestations: read by auditors; added (with their documents) and revoked by admins, recorded with who
in the ledger; the documents downloaded by auditors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.formparsers import MultiPartException

from controls.attestations import DOCUMENT_TYPES

from .. import data
from ..auth import Principal, admin, auditor
from ..common import AsOf, Limit, Offset, ledger_of, paginate, parse_moment, settings_of
from ..data import attestation_rows
from ..schemas import AttestationIn, AttestationOut, Page, Problem, RevokeIn
from ..uploads import MAX_DOCUMENTS, Upload, download_headers, read_uploads

router = APIRouter(tags=["attestations"])
ATT_ID = Path(max_length=64, description="the attestation's id, e.g. ATT-2026-001")
DOWNLOAD_TYPES = sorted(set(DOCUMENT_TYPES.values()))


@router.get(
    "/attestations",
    response_model=Page[AttestationOut],
    dependencies=[Depends(auditor)],
    summary="attestations recorded (as_of: recorded by then, with their state that day), oldest first",
)
def list_attestations(
    request: Request,
    as_of: str | None = AsOf,
    all: bool = Query(False, description="revoked ones too"),
    requirement: int | None = Query(None, ge=1, le=10000),
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    rows = attestation_rows(ledger_of(request), parse_moment(as_of), include_revoked=all, requirement=requirement)
    return paginate(request, rows, limit, offset)


def _request_body() -> dict[str, Any]:
    """Both bodies the create route takes, for /openapi.json (the route reads them itself)."""
    fields = AttestationIn.model_json_schema()
    upload = {
        **fields,
        "title": "AttestationUpload",
        "properties": {
            **fields["properties"],
            "documents": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "maxItems": MAX_DOCUMENTS,
                "description": "files to keep with it (api.upload_media_types, each at most api.max_upload_bytes)",
            },
        },
    }
    return {
        "required": True,
        "content": {
            "application/json": {"schema": fields},
            "multipart/form-data": {"schema": upload},
        },
    }


@router.post(
    "/attestations",
    status_code=201,
    response_model=AttestationOut,
    summary="record an attestation (admin); as multipart/form-data with its documents (field `documents`)",
    openapi_extra={"requestBody": _request_body()},
    responses={
        409: {"model": Problem, "description": "an attestation with this id is already recorded"},
        413: {"model": Problem, "description": "a document or the request is larger than allowed"},
        415: {"model": Problem, "description": "a body or document type that is not accepted"},
    },
)
async def add_attestation(request: Request, principal: Principal = Depends(admin)) -> dict[str, Any]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    documents: list[Upload] = []
    if kind == "application/json":
        raw: Any = await request.body()
    elif kind == "multipart/form-data":
        try:
            form = await request.form(max_files=MAX_DOCUMENTS + 1, max_fields=20)
        except MultiPartException as exc:
            raise HTTPException(422, f"body: {exc.message}") from None
        documents = await read_uploads(form.getlist("documents"), settings_of(request).api)
        raw = {k: v for k, v in form.multi_items() if isinstance(v, str) and v != ""}
    else:
        raise HTTPException(415, "body: send application/json, or multipart/form-data with documents")
    try:
        body = AttestationIn.model_validate_json(raw) if isinstance(raw, bytes) else AttestationIn.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    fields = {
        "requirements": body.requirements,
        "owner": body.owner,
        "attested_on": (body.attested_on or datetime.now(UTC).date()).isoformat(),
        "valid_until": body.valid_until.isoformat(),
        "statement_ja": body.statement_ja,
        "statement_en": body.statement_en,
    }
    return await run_in_threadpool(data.add_attestation, request, principal, fields, body.id, documents)


@router.get(
    "/attestations/{attestation_id}/documents/{sha256}",
    dependencies=[Depends(auditor)],
    summary="a document kept with an attestation, exactly as uploaded (its SHA-256 is the one named)",
    response_class=Response,
    responses={200: {"content": {t: {"schema": {"type": "string", "format": "binary"}} for t in DOWNLOAD_TYPES}}},
)
def get_document(
    request: Request,
    attestation_id: str = ATT_ID,
    sha256: str = Path(pattern=r"^[0-9a-f]{64}$", description="the document's SHA-256 (lower-case hex)"),
) -> Response:
    ledger = ledger_of(request)
    found = next((a for a in ledger.attestations() if a.id == attestation_id), None)
    cited = next((d for d in found.documents if d.sha256 == sha256), None) if found else None
    stored = ledger.attestation_document(sha256) if cited else None
    if cited is None or stored is None:
        raise HTTPException(404, f"attestation {attestation_id} has no document with sha256 {sha256}")
    media_type, content = stored
    return Response(content, media_type=media_type, headers=download_headers(cited.name))


@router.post(
    "/attestations/{attestation_id}/revoke",
    response_model=AttestationOut,
    summary="revoke an attestation (admin): it stays in the ledger, marked revoked",
    responses={409: {"model": Problem, "description": "already revoked"}},
)
def revoke_attestation(
    request: Request, body: RevokeIn, attestation_id: str = ATT_ID, principal: Principal = Depends(admin)
) -> dict[str, Any]:
    return data.revoke_attestation(request, principal, attestation_id, body.reason)
