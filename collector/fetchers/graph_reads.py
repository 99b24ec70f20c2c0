"""Single Microsoft Graph v1.0 reads recorded on their own: a refused or failed read is that read's collection
error only, and says what would let it succeed.

Graph names the missing application permission only sometimes, and never the missing Entra ID edition in
words an operator acts on; a read that needs an optional permission or licence declares it, and its error
message ends with "(needs Microsoft Graph application permission X)" or "(needs Microsoft Entra ID P2)",
which controls.access.cause turns into the finding's reason. Raw JSON is kept as evidence, as in
collector.fetchers.entra.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kiota_abstractions.api_error import APIError
from kiota_http.middleware.options import HeadersInspectionHandlerOption
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from collector.fetchers.base import MAX_PAGES, FetchContext, InvalidResponseError, PagingLoopError
from collector.fetchers.entra import graph_client

# Graph's answers when the tenant lacks the Entra ID edition a read needs: sign-in data without P1/P2, and
# Privileged Identity Management without P2.
_LICENCE_CODES = frozenset({"authentication_requestfromnonpremiumtenantorb2ctenant", "aadpremiumlicenserequired"})


@dataclass(frozen=True)
class Read:
    kind: str
    path: str  # under /v1.0, with its query
    id_prefix: str  # evidence resource id: f"{id_prefix}/{id}" (a singleton: id_prefix alone)
    permission: str | None = None  # an optional Graph application permission the read needs
    singleton: bool = False
    licence: str | None = None  # the Entra ID edition the read needs ("P1", "P2"), when not every tenant has it
    # A listing whose emptiness a check judges (no directory setting = Entra's defaults): an empty answer is kept
    # as evidence itself (resource id `id_prefix`), so a verdict on the absence cites what Graph answered.
    record_empty: bool = False


class GraphReadError(Exception):
    """A refused or failed Graph read, with Graph's error code; names the optional permission or licence."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def graph_error(exc: APIError, read: Read) -> GraphReadError:
    status = getattr(exc, "response_status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or f"HTTP {status}"
    message = getattr(error, "message", None) or str(exc).splitlines()[0]
    # The PIM service wraps its own error as JSON in the message of an UnknownError.
    try:
        inner = json.loads(message)
    except ValueError:
        inner = None
    if isinstance(inner, dict) and inner.get("errorCode"):
        code, message = str(inner["errorCode"]), str(inner.get("message") or message)
    message = f"{message} (HTTP {status}, GET /{read.path.split('?')[0]})"
    if code.lower() in _LICENCE_CODES and read.licence:
        message += f" (needs Microsoft Entra ID {read.licence})"
    elif status == 403 and read.permission:
        message += f" (needs Microsoft Graph application permission {read.permission})"
    return GraphReadError(code, message)


async def collect(ctx: FetchContext, reads: tuple[Read, ...]) -> None:
    """Every read in turn; each failure is recorded against its own kind and the others still run."""
    client, adapter, http = graph_client(ctx)
    base = ctx.azure.graph_base_url.rstrip("/")
    try:
        for read in reads:
            try:
                await _read(ctx, client, adapter, base, read)
            except APIError as exc:
                ctx.sink.error(read.kind, ctx.fetcher.name, ctx.scope, graph_error(exc, read))
            except (InvalidResponseError, PagingLoopError) as exc:
                ctx.sink.error(read.kind, ctx.fetcher.name, ctx.scope, exc)
    finally:
        await http.aclose()


async def _read(ctx: FetchContext, client: Any, adapter: Any, base: str, read: Read) -> None:
    builder = client.domains  # any request builder: the URL is given whole
    request = builder.with_url(f"{base}/{read.path}").to_get_request_information()
    seen: set[str] = set()
    recorded = 0
    while True:
        headers = HeadersInspectionHandlerOption(inspect_request_headers=False, inspect_response_headers=True)
        request.add_request_options([headers])
        raw = await adapter.send_primitive_async(request, "bytes", {"XXX": ODataError})
        request_id = next(iter(headers.response_headers.try_get("request-id") or []), None)
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise InvalidResponseError(f"Graph {read.path.split('?')[0]} is not valid JSON ({exc})") from None
        if not isinstance(body, dict):
            raise InvalidResponseError(f"Graph {read.path.split('?')[0]} is not a JSON object")
        docs = [body] if read.singleton else body.get("value", [])
        for doc in docs:
            rid = read.id_prefix if read.singleton else f"{read.id_prefix}/{doc.get('id', '')}"
            ctx.record_document(read.kind, doc, resource_id=rid, api_version="v1.0", request_id=request_id)
        recorded += len(docs)
        next_link = None if read.singleton else body.get("@odata.nextLink")
        if not next_link:
            if read.record_empty and not recorded:
                ctx.record_document(
                    read.kind, body, resource_id=read.id_prefix, api_version="v1.0", request_id=request_id
                )
            return
        if next_link in seen or len(seen) >= MAX_PAGES:
            raise PagingLoopError(f"@odata.nextLink repeats or exceeds {MAX_PAGES} pages: {next_link}")
        seen.add(next_link)
        request = builder.with_url(next_link).to_get_request_information()
