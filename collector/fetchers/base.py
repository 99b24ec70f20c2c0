"""What every fetcher shares: capturing raw responses as evidence, and turning failures into errors.

Fetchers call the real SDK operations (which drive auth, paging, retries and `Retry-After`), but the
evidence they store is the raw JSON of each successful response, captured with `raw_response_hook`,
so a check reads exactly what Azure returned and not the SDK's re-serialisation of it — with one
exception: `FetchContext.record_document`, the one place a document becomes evidence, blanks secrets first
(collector/redaction.yaml) and records what it blanked.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

from azure.core.exceptions import HttpResponseError
from azure.core.paging import ItemPaged, PageIterator
from azure.core.pipeline.policies import ContentDecodePolicy

from collector.azure_clients import ClientFactory
from collector.fanout import CallPool, Listings
from collector.pacing import TENANT
from collector.redaction import redact, redact_text
from collector.settings import AzureSettings
from controls.model import CollectionError, Evidence, Kind

MAX_PAGES = 10_000

T = TypeVar("T")
log = logging.getLogger("shoko.collector")


class PagingLoopError(RuntimeError):
    """The service handed back a nextLink it had already given: following it would never end."""

    code = "NextLinkLoop"


class InvalidResponseError(RuntimeError):
    """A successful status with a body that is not JSON: nothing in it can be judged."""

    code = "InvalidResponseBody"


@dataclass(frozen=True)
class Page:
    body: Any
    request_id: str | None
    api_version: str


class RawCapture:
    """A `raw_response_hook` keeping every successful response body of one SDK call, in order."""

    def __init__(self) -> None:
        self.pages: list[Page] = []
        self._urls: set[str] = set()
        self._last: tuple[Any, Any] = (None, None)  # the last kept response and its parsed body

    def __call__(self, pipeline_response: Any) -> None:
        response = pipeline_response.http_response
        if pipeline_response.context.options.get("stream") and callable(getattr(response, "read", None)):
            # A body `get_raw` asked the SDK not to parse: read in full here, for every attempt (a retried 429's
            # too, so its connection goes back to the pool). An older SDK's response type reads it in `text()`.
            response.read()
        if response.status_code >= 300:  # throttled or failed attempts are retried or raised, not evidence
            return
        url = pipeline_response.http_request.url
        if url in self._urls:
            raise PagingLoopError(f"nextLink repeats an earlier page: {url}")
        if len(self._urls) >= MAX_PAGES:
            raise PagingLoopError(f"more than {MAX_PAGES} pages; stopped following nextLink")
        self._urls.add(url)
        text = response.text()
        try:
            body = json.loads(text) if text else None
        except ValueError as exc:
            raise InvalidResponseError(f"HTTP {response.status_code} body is not valid JSON ({exc}): {url}") from None
        self.pages.append(
            Page(
                body=body,
                request_id=response.headers.get("x-ms-request-id"),
                api_version=parse_qs(urlparse(url).query).get("api-version", [""])[0],
            )
        )
        self._last = (response, body)

    def unlisted(self, extract: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """The SDK's `extract_data` of a paged call, given each page without its listed items.

        The SDK would build a model object for every listed document, only for `list_raw` to throw it away (a
        third of the collector's CPU per call went there). Its own `extract_data` still reads the page, so the
        next link followed is the one the SDK follows (or none, for operations it does not page), from the body
        this capture parsed; a response it did not capture goes to the SDK unchanged."""

        def page(pipeline_response: Any) -> Any:
            response, body = self._last
            self._last = (None, None)  # a listing kept for the run keeps its documents, not its last response
            if response is not pipeline_response.http_response or not (
                isinstance(body, dict) and isinstance(body.get("value"), list)
            ):
                return extract(pipeline_response)
            return extract(_Unlisted({**body, "value": []}))

        return page

    def documents(self) -> Iterable[tuple[dict[str, Any], Page]]:
        """Each listed document with the page it came from (single GETs are one document)."""
        for page in self.pages:
            body = page.body
            if isinstance(body, dict) and isinstance(body.get("value"), list):
                for doc in body["value"]:
                    yield doc, page
            elif isinstance(body, dict):
                yield body, page


class _Unlisted:
    """A page as an SDK's `extract_data` reads it, whichever generation of SDK it is: `http_response.json()`
    (the newer ones) or the pipeline's decoded body in `context` (the ones built on `_serialization`)."""

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body
        self.context = {ContentDecodePolicy.CONTEXT_NAME: body}
        self.http_response = self

    def json(self) -> dict[str, Any]:
        return self._body


def drain(result: Iterable[Any], capture: RawCapture) -> None:
    """Run a paged SDK call's result (made with `raw_response_hook=capture`) to its last page."""
    pages = result.by_page() if isinstance(result, ItemPaged) else None
    if isinstance(pages, PageIterator) and callable(getattr(pages, "_extract_data", None)):
        # The same requests through the same pipeline (auth, retries, pacing, this capture), page after page as
        # the SDK's own get_next makes them; only the listed documents are not turned into SDK models.
        pages._extract_data = capture.unlisted(pages._extract_data)  # type: ignore[attr-defined]
        for _ in pages:
            pass
    else:
        for _ in result:
            pass


def list_raw(call: Callable[..., Iterable[Any]], *args: Any, **kwargs: Any) -> RawCapture:
    """Run a paged SDK list call to the end; the raw pages, not stored as evidence."""
    capture = RawCapture()
    drain(call(*args, raw_response_hook=capture, **kwargs), capture)
    return capture


def get_raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> RawCapture:
    """Run a single-document SDK GET; its raw response, parsed once.

    `stream=True` is azure-core's own per-call option, which the newer SDKs' operations take: the operation builds its
    request, sends it through the client's pipeline (auth, retries and Retry-After, pacing, this capture) and turns a
    failed status into the same exceptions as without it, but neither azure-core's ContentDecodePolicy nor the SDK
    parses the body or builds a model of it; the capture parses it once."""
    capture = RawCapture()
    call(*args, raw_response_hook=capture, stream=True, **kwargs)
    return capture


def describe_failure(exc: BaseException) -> tuple[str, str, int | None, str | None]:
    """(code, message, HTTP status, request id) of a failed call, for a CollectionError."""
    if isinstance(exc, HttpResponseError):
        code = (exc.error.code if exc.error and exc.error.code else None) or (exc.reason or type(exc).__name__)
        message = (exc.error.message if exc.error and exc.error.message else None) or str(exc).splitlines()[0]
        request_id = exc.response.headers.get("x-ms-request-id") if exc.response is not None else None
        return code, message, exc.status_code, request_id
    return getattr(exc, "code", type(exc).__name__), (str(exc).splitlines() or [""])[0], None, None


@dataclass
class Sink:
    """Collects a run's evidence and errors from many fetcher threads.

    With `store`, evidence is handed on as it comes instead of held for the run: in batches of `batch` records, and
    whatever is pending when `flush` is called (after each fetcher task), so documents are dropped once stored.
    `evidence` then holds only what is not stored yet. A batch `store` refuses (the database restarting, say) stays
    pending and is offered again with the next one; `store_failure` holds the last refusal, and evidence still
    pending after the last flush means the run must fail with it (never a collection error: Azure was read).
    """

    evidence: list[Evidence] = field(default_factory=list)
    errors: list[CollectionError] = field(default_factory=list)
    store: Callable[[list[Evidence]], None] | None = None
    batch: int = 1000
    store_failure: BaseException | None = None
    added: int = 0  # records added in all
    _next: int | None = None  # pending records that hand a batch on (a batch more after a refusal)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Evidence) -> None:
        with self._lock:
            self.evidence.append(item)
            self.added += 1
            full = self.store is not None and len(self.evidence) >= (self._next or self.batch)
        if full:
            self.flush()

    def flush(self) -> None:
        """Hand what is pending to `store` (nothing without one)."""
        if self.store is None:
            return
        with self._lock:
            pending, self.evidence = self.evidence, []
        if not pending:
            return
        try:
            self.store(pending)
        except Exception as exc:
            with self._lock:
                self.evidence[:0] = pending
                self.store_failure = exc
                self._next = len(self.evidence) + self.batch
            return
        with self._lock:
            self._next = None

    def error(self, kind: Kind, source: str, scope: str, exc: BaseException) -> None:
        code, message, status, request_id = describe_failure(exc)
        item = CollectionError(
            kind=kind,
            source=source,
            scope=scope,
            code=code,
            message=redact_text(message),  # an error can quote the URL or body it failed on
            status_code=status,
            request_id=request_id,
            occurred_at=datetime.now(UTC),
        )
        with self._lock:
            self.errors.append(item)


@dataclass
class FetchContext:
    """What one fetcher invocation gets: clients, the scope it covers and where to put results."""

    fetcher: Fetcher
    clients: ClientFactory
    azure: AzureSettings
    sink: Sink
    subscription_id: str | None = None  # None for tenant-wide fetchers
    # The resource types the run's checks need each kind for (see collector.plan); a fetcher of
    # per-resource facts reads exactly these, so what is collected follows from what is judged.
    wanted_types: Mapping[Kind, tuple[str, ...]] = field(default_factory=dict)
    # The run's pool for per-resource calls and its listings shared between fetchers (collector.fanout);
    # without them per-resource calls run in place and every listing is made afresh.
    calls: CallPool | None = None
    listings: Listings | None = None

    @property
    def scope(self) -> str:
        return f"/subscriptions/{self.subscription_id}" if self.subscription_id else "tenant"

    def each(self, items: Iterable[Any], fn: Callable[[Any], None]) -> None:
        """Run `fn` on each item (one resource's reads, which record their own errors) in the run's pool, and
        return when all have run."""
        if self.calls is None:
            for item in items:
                fn(item)
            return
        self.calls.run_all((self.subscription_id or TENANT).lower(), fn, items)

    def listing(self, name: str, call: Callable[..., Iterable[Any]], *args: Any) -> RawCapture:
        """A paged listing other fetchers of the run may also read (`name` says which, with `args`): made
        once per run and scope, not stored as evidence here."""
        if self.listings is None:
            return list_raw(call, *args)
        return self.shared(name, args, lambda: list_raw(call, *args))

    def shared(self, name: str, key: Any, make: Callable[[], T]) -> T:
        """The run's result of `make` for `name` and `key` in this scope, made once for the fetchers that read it.
        A fetcher reads only the names it declares (`Fetcher.listings`): the run lets a listing go when the last
        task declaring it ends, and a reader it did not count lists again."""
        assert self.listings is not None
        if name not in self.fetcher.listings:
            log.warning("fetcher %s reads the shared listing %s it does not declare", self.fetcher.name, name)
        return self.listings.get((self.scope, name, key), make)

    def record_document(
        self,
        kind: Kind,
        content: dict[str, Any],
        *,
        resource_id: str,
        api_version: str,
        request_id: str | None,
        scope: str | None = None,
    ) -> None:
        content, redactions = redact(content)
        self.sink.add(
            Evidence(
                kind=kind,
                source=self.fetcher.name,
                scope=scope or self.scope,
                resource_id=resource_id,
                api_version=api_version,
                request_id=request_id,
                collected_at=datetime.now(UTC),
                content=content,
                redactions=redactions,
                keep_canonical=True,
            )
        )

    def record(self, kind: Kind, capture: RawCapture) -> list[dict[str, Any]]:
        """Store every document `capture` holds as evidence of `kind`; return the documents."""
        docs: list[dict[str, Any]] = []
        for doc, page in capture.documents():
            self.record_document(
                kind, doc, resource_id=str(doc.get("id", "")), api_version=page.api_version, request_id=page.request_id
            )
            docs.append(doc)
        return docs

    def list_into(self, kind: Kind, call: Callable[..., Iterable[Any]], *args: Any) -> list[dict[str, Any]]:
        """Run a paged SDK list call to the end and store each raw document."""
        return self.record(kind, list_raw(call, *args))


# In a fetcher's `provides`: the resource types of a kind's documents are whatever the plan asks for
# (per-resource facts such as diagnostic settings, read for each resource the checks judge).
AS_PLANNED = "as-planned"
# Documents of every resource type (the generic inventory).
ANY_TYPE = "*"


@dataclass(frozen=True)
class Fetcher:
    """One family of Azure facts: the kinds it provides, and for each the resource types its documents
    describe. `run` raising means every kind it provides failed for that scope."""

    name: str
    provides: Mapping[Kind, tuple[str, ...]]
    tenant_wide: bool
    run: Callable[[FetchContext], None]
    # The run's shared listings it reads (`FetchContext.listing` names): each is let go when its last reader ends.
    listings: tuple[str, ...] = ()

    @property
    def kinds(self) -> tuple[Kind, ...]:
        return tuple(self.provides)

    def covers(self, kind: Kind, resource_type: str) -> bool:
        types = self.provides.get(kind, ())
        return resource_type in types or ANY_TYPE in types or AS_PLANNED in types


def resource_group_of(resource_id: str) -> str:
    """The resource group named in an ARM id (segments compare case-insensitively)."""
    parts = resource_id.strip("/").split("/")
    for key, value in zip(parts[0::2], parts[1::2], strict=False):
        if key.lower() == "resourcegroups":
            return value
    raise ValueError(f"no resource group in {resource_id}")
