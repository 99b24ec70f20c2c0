"""Child resources read from Azure Resource Graph instead of once per parent from ARM.

Resource Graph (azure-mgmt-resourcegraph 8, api-version 2021-03-01; POST /providers/Microsoft.ResourceGraph/resources)
answers one KQL query over whole subscriptions, 1000 rows a page with `$skipToken`. It is used only for the types
Microsoft's "Azure Resource Graph table and resource type reference" lists, whose rows carry the same document ARM's
listing returns (id, name, location, properties, ...):

- `resources`: microsoft.compute/virtualmachines/extensions (ARM: Virtual Machine Extensions - List, one call per VM)
- `insightsresources`: microsoft.insights/datacollectionruleassociations (ARM: Data Collection Rule Associations -
  List By Resource, one call per VM)
- `resources`: microsoft.web/sites/slots (ARM: Web Apps - List Slots, one call per site)
- `resources`: microsoft.sql/servers/databases (ARM: Databases - List By Server, one call per server; `master`
  included, which the SQL fetcher skips as ARM's listing has it too)

`appserviceresources` lists microsoft.web/sites/config too, but not in ARM's shape: Microsoft's sample query "List
Azure App Service TLS version" reads `properties.MinTlsVersion` where ARM's config/web document has `minTlsVersion`,
so config/web stays an ARM read per site and slot.

The reference lists no table for diagnostic settings, Key Vault keys, blob services, SQL firewall rules, auditing
settings or TDE, or publishing credential policies: those stay ARM reads, one per resource.

A row becomes evidence in ARM's shape: Resource Graph's own columns (`tenantId`, `subscriptionId`, `resourceGroup`)
are dropped, and so are the columns it fills on every row when the resource has no such field (`kind`,
`managedBy`, `sku`, `plan`, `identity`, `zones`, `extendedLocation`, `tags` when empty: an empty value cannot be
told from an absent one, and no check reads them empty). Resource Graph reports `type` in lower case; it is kept as
returned (the checks compare a document's `type` case-insensitively, and nothing is rewritten). So the
documents equal ARM's but for the case of `type`, the order of a listing's rows and a standard column ARM returns
as an explicit null; their hashes differ from ARM's, and a run switching between the two stores them anew once.
The checks and redaction read the same fields either way. Every page's `x-ms-request-id`
is kept: each per-parent document carries the request ids of the pages its rows came from, or, when it has none,
that of the last page (the one that ended the result set and so shows there were no more rows).

Resource Graph is an index that follows ARM: its rows may trail a change by some seconds or, rarely, longer
(Azure/azure-dev#540: 95 % of changes within 30 s), and the table reference says it scrubs personal data from rows.
`collection.resource_graph: false` reads the same kinds from ARM instead. When a query fails (403 without
Microsoft.ResourceGraph read, provider not registered, throttled past the retries) the fetcher reads the kind from
ARM for that subscription and says so in the log; nothing is skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from collector.fetchers.base import MAX_PAGES, FetchContext, InvalidResponseError, Page, PagingLoopError, RawCapture

log = logging.getLogger("shoko.collector")

PAGE_ROWS = 1000  # the most Resource Graph returns in one page
API_VERSION = "2021-03-01"
_GRAPH_COLUMNS = frozenset({"tenantId", "subscriptionId", "resourceGroup"})
_FILLED_WHEN_ABSENT = frozenset({"kind", "managedBy", "sku", "plan", "identity", "zones", "extendedLocation", "tags"})


@dataclass(frozen=True)
class GraphPage:
    rows: list[dict[str, Any]]
    request_id: str | None
    skip_token: str | None
    total_records: int | None
    truncated: bool


@dataclass
class GraphRows:
    """Every row of one query, each with the request id of the page it came from."""

    rows: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    last_request_id: str | None = None


class _PageCapture:
    """`raw_response_hook` keeping the raw body and request id of the last successful response."""

    def __init__(self) -> None:
        self.page: GraphPage | None = None

    def __call__(self, pipeline_response: Any) -> None:
        response = pipeline_response.http_response
        if response.status_code >= 300:
            return
        text = response.text()
        try:
            body = json.loads(text) if text else {}
        except ValueError as exc:
            raise InvalidResponseError(f"HTTP {response.status_code} body is not valid JSON ({exc})") from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise InvalidResponseError("Resource Graph answered without a `data` array (objectArray format)")
        total = body.get("totalRecords")
        self.page = GraphPage(
            rows=[r for r in data if isinstance(r, dict)],
            request_id=response.headers.get("x-ms-request-id"),
            skip_token=body.get("$skipToken") or None,
            total_records=total if isinstance(total, int) else None,
            truncated=str(body.get("resultTruncated", "false")).lower() == "true",
        )


def arm_shape(row: dict[str, Any]) -> dict[str, Any]:
    """The row as ARM's document: without Resource Graph's own columns and the ones it fills when absent."""
    return {
        k: v
        for k, v in row.items()
        if k not in _GRAPH_COLUMNS and not (k in _FILLED_WHEN_ABSENT and v in (None, "", {}, []))
    }


def query_type(ctx: FetchContext, table: str, resource_type: str) -> GraphRows:
    """Every row of `resource_type` in `table` within the fetcher's subscription, following `$skipToken`."""
    assert ctx.subscription_id is not None
    # Paced to Resource Graph's own quota (15 queries per 5 s per principal), not ARM's read budget.
    client = ctx.clients.arm(ResourceGraphClient, pacer=ctx.clients.graph_pacer)
    # Ordered by id, so the pages split the rows the same way each time and a parent's rows sit together.
    query = f"{table} | where type =~ '{resource_type}' | order by id asc"
    out = GraphRows()
    token: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        capture = _PageCapture()
        options = QueryRequestOptions(top=PAGE_ROWS, skip_token=token, result_format="objectArray")
        request = QueryRequest(subscriptions=[ctx.subscription_id], query=query, options=options)
        client.resources(request, raw_response_hook=capture)
        page = capture.page
        assert page is not None  # a successful call ran the hook
        out.rows += [(row, page.request_id) for row in page.rows]
        out.last_request_id = page.request_id
        if not page.skip_token:
            # A result cut short, or fewer rows than Resource Graph counted, is not a listing to judge from.
            if page.truncated or (page.total_records is not None and page.total_records != len(out.rows)):
                raise InvalidResponseError(
                    f"Resource Graph returned {len(out.rows)} of {page.total_records} rows "
                    f"(resultTruncated {str(page.truncated).lower()}) for: {query}"
                )
            return out
        if page.skip_token in seen:
            raise PagingLoopError(f"$skipToken repeats an earlier page of: {query}")
        seen.add(page.skip_token)
        token = page.skip_token
    raise PagingLoopError(f"more than {MAX_PAGES} pages; stopped following $skipToken of: {query}")


def record_by_parent(
    ctx: FetchContext,
    kind: str,
    rows: GraphRows,
    parents: Iterable[dict[str, Any]],
    parent_of: Callable[[str], str],
) -> None:
    """Store one document `{"value": [...]}` per parent (as the per-parent ARM listing would), from the rows whose
    id `parent_of` maps to that parent's id (compared case-insensitively)."""
    grouped: dict[str, list[tuple[dict[str, Any], str | None]]] = {}
    for row, request_id in rows.rows:
        grouped.setdefault(parent_of(str(row.get("id", ""))).lower(), []).append((row, request_id))
    for parent in parents:
        parent_id = str(parent.get("id", ""))
        mine = grouped.get(parent_id.lower(), [])
        request_ids = list(dict.fromkeys(rid for _, rid in mine if rid)) or [rows.last_request_id or ""]
        ctx.record_document(
            kind,
            {"value": [arm_shape(row) for row, _ in mine]},
            resource_id=parent_id,
            api_version=API_VERSION,
            request_id=",".join(request_ids) or None,
        )


def enabled(ctx: FetchContext) -> bool:
    return bool(getattr(ctx.clients.collection, "resource_graph", False))


def fell_back(ctx: FetchContext, what: str, exc: BaseException) -> None:
    log.warning(
        "Resource Graph query for %s in subscription %s failed (%s); reading it from ARM per resource instead",
        what,
        ctx.subscription_id,
        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
    )


def parent_by_segment(segment: str) -> Callable[[str], str]:
    """`parent_of` for a child type named by one id segment: `.../sites/a/slots/b` -> `.../sites/a`."""
    marker = f"/{segment.lower()}/"

    def parent_of(child_id: str) -> str:
        head, sep, _ = child_id.lower().rpartition(marker)
        return head if sep else ""

    return parent_of


def children_of(
    ctx: FetchContext, table: str, resource_type: str, parent_of: Callable[[str], str]
) -> dict[str, RawCapture] | None:
    """Every `resource_type` row of the subscription as per-parent listings (parent id in lower case -> the pages
    ARM's own listing would have given, each page with the request id of the Resource Graph page its rows came
    from), made once per run and subscription for every fetcher that reads them. None when Resource Graph is off,
    the run shares no listings, or the query failed (it is logged; the caller then lists from ARM)."""
    if not enabled(ctx) or ctx.listings is None:
        return None

    def make() -> dict[str, RawCapture] | None:
        try:
            rows = query_type(ctx, table, resource_type)
        except Exception as exc:
            fell_back(ctx, resource_type, exc)
            return None
        out: dict[str, RawCapture] = {}
        for row, request_id in rows.rows:
            capture = out.setdefault(parent_of(str(row.get("id", ""))), RawCapture())
            if not capture.pages or capture.pages[-1].request_id != request_id:
                capture.pages.append(Page(body={"value": []}, request_id=request_id, api_version=API_VERSION))
            capture.pages[-1].body["value"].append(arm_shape(row))
        out[""] = RawCapture()  # parents without rows: the page that ended the result set
        out[""].pages.append(Page(body={"value": []}, request_id=rows.last_request_id, api_version=API_VERSION))
        return out

    return ctx.shared(shared_listing(resource_type), table, make)


def shared_listing(resource_type: str) -> str:
    """The name of the run's per-parent listings of `resource_type` (a reader declares it in `Fetcher.listings`)."""
    return f"resource_graph {resource_type}"


def listing_of(children: dict[str, RawCapture], parent_id: str) -> RawCapture:
    return children.get(parent_id.lower()) or children[""]
