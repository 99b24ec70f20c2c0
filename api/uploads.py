"""Documents uploaded with an attestation: the size and media-type rules, and a bound on every request body.

A document is kept only when its declared media type is one the deployment accepts (api.upload_media_types),
its file name's extension names the same type (the ledger files documents by extension, as `shoko attest add
--document` does), its first bytes are of that type, and it is at most api.max_upload_bytes. Request bodies are
bounded before they are parsed (BodyLimit), so an oversized upload is refused without being spooled to disk."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException
from starlette.datastructures import UploadFile  # what forms hold (FastAPI's is a subclass)

from collector.settings import ApiSettings
from controls.attestations import DOCUMENT_TYPES

MAX_DOCUMENTS = 5  # per attestation uploaded at once
SMALL_BODY = 1024 * 1024  # every other request body: JSON and form fields only
FORM_OVERHEAD = 256 * 1024  # an upload's text fields and multipart framing
UPLOAD_PATHS = ("/api/v1/attestations", "/attestations")
# The first bytes each accepted type starts with (text is checked as UTF-8 instead).
MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
}
_NAME_RE = re.compile(r"^[^\x00-\x1f\x7f/\\]{1,200}$")


@dataclass(frozen=True)
class Upload:
    name: str
    media_type: str
    data: bytes


def upload_limit(api: ApiSettings) -> int:
    """The largest request body the upload routes take: every document at its limit, plus the form."""
    return MAX_DOCUMENTS * api.max_upload_bytes + FORM_OVERHEAD


async def read_uploads(files: Sequence[Any], api: ApiSettings) -> list[Upload]:
    """The uploaded documents, checked; an empty file input (no name, no bytes; or an empty field) is skipped.
    413: too large; 415: a type not accepted or not what the bytes are; 422: no name, empty, too many."""
    if any(not isinstance(f, UploadFile) and f != "" for f in files):
        raise HTTPException(422, "body 'documents': each must be a file part (with a filename)")
    chosen = [f for f in files if isinstance(f, UploadFile) and (f.filename or f.size)]
    if len(chosen) > MAX_DOCUMENTS:
        raise HTTPException(422, f"documents: at most {MAX_DOCUMENTS} per attestation, got {len(chosen)}")
    out: list[Upload] = []
    for f in chosen:
        name = _file_name(f.filename or "")
        media_type = (f.content_type or "").split(";")[0].strip().lower()
        allowed = ", ".join(api.upload_media_types)
        if media_type not in api.upload_media_types:
            raise HTTPException(415, f"document {name!r}: {media_type or 'no media type'} is not accepted ({allowed})")
        by_name = DOCUMENT_TYPES.get(PurePosixPath(name).suffix.lower())
        if by_name != media_type:
            raise HTTPException(415, f"document {name!r}: its extension does not name {media_type}")
        data = await f.read(api.max_upload_bytes + 1)
        if len(data) > api.max_upload_bytes:
            raise HTTPException(
                413, f"document {name!r}: more than the limit of {api.max_upload_bytes} bytes (api.max_upload_bytes)"
            )
        if not data:
            raise HTTPException(422, f"document {name!r}: the file is empty")
        if not _looks_like(media_type, data):
            raise HTTPException(415, f"document {name!r}: the content is not {media_type}")
        if any(u.name == name for u in out):
            raise HTTPException(422, f"documents: {name!r} is given twice")
        out.append(Upload(name, media_type, data))
    return out


def _file_name(raw: str) -> str:
    """The file name without any directories a browser or client sent with it."""
    name = PureWindowsPath(PurePosixPath(raw).name).name.strip()
    if not _NAME_RE.match(name) or name in (".", ".."):
        raise HTTPException(422, "documents: each file needs a name (at most 200 characters, no control characters)")
    return name


def _looks_like(media_type: str, data: bytes) -> bool:
    if media_type.startswith("text/"):
        if b"\x00" in data:
            return False
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return data.startswith(MAGIC.get(media_type, (b"",)))


def download_headers(name: str) -> dict[str, str]:
    """Always a download (never shown inline), with the stored name, non-ASCII included (RFC 6266)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "document"
    return {"Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"}


class BodyLimit:
    """Plain ASGI middleware: a request body over its bound gets 413 before the app parses it (a declared
    Content-Length at once, a streamed body as soon as the app has read past the bound)."""

    def __init__(self, app: Any, upload_bytes: int) -> None:
        self.app, self.upload_bytes = app, upload_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if scope.get("path") in UPLOAD_PATHS else SMALL_BODY
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
            return
        seen = 0

        async def counted() -> dict[str, Any]:
            # Raised while the app reads its body, before it answers: its error handlers make the 413.
            nonlocal seen
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body too large: at most {limit} bytes")
            return message

        await self.app(scope, counted, send)


async def _too_large(send: Any, limit: int) -> None:
    body = json.dumps({"detail": f"request body too large: at most {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
