"""Azure Resource Graph's query endpoint (POST /providers/Microsoft.ResourceGraph/resources), answered from the
estate for the query shapes the collector sends; any other query is refused with 400, never guessed at.

Served: `<table> | where type =~ '<resource type>'`, optionally `| order by id asc` (rows are always returned in
id order), over the request's `subscriptions`, paged with the request
options `$top` (at most 1000 rows a page), `$skip` and `$skipToken`, in the `objectArray` result format
(API 2021-03-01, azure-rest-api-specs resourcegraph.json and its examples ResourcesFilterQuery.json: a body of
`totalRecords`, `count`, `resultTruncated`, `facets`, `data` and, when more rows follow, `$skipToken`).

Which table holds a type follows Microsoft's "Azure Resource Graph table and resource type reference"
(supported-tables-resources): `resources` holds the tracked resources and
`microsoft.compute/virtualmachines/extensions`, `microsoft.web/sites/slots` and `microsoft.sql/servers/databases`
(`master` included); `insightsresources` holds
`microsoft.insights/datacollectionruleassociations`. Types the reference does not list (diagnostic settings, Key
Vault keys, blob services, SQL firewall rules, auditing settings, TDE, publishing credential policies) are in no
table, so a query for them returns no rows, as Resource Graph's would.

A row is the resource's document with Resource Graph's fixed columns filled in: `type` in lower case,
`tenantId`, `subscriptionId`, `resourceGroup`, and `kind`, `managedBy`, `sku`, `plan`, `identity`, `zones`,
`extendedLocation`, `tags` present on every row (empty when the resource has none).

Quota ("Guidance for throttled requests in Azure Resource Graph"): a per-principal allowance of queries in a
time window, by default 15 every 5 seconds, reported on every answer in `x-ms-user-quota-remaining` and
`x-ms-user-quota-resets-after` (hh:mm:ss); modelled as a token bucket of 15 refilled at 3 a second.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from sandbox import ids
from sandbox.arm import NESTED_TRACKED_TYPES, ArmIndex

PATH = "/providers/microsoft.resourcegraph/resources"

# The child and extension types the reference lists, by table; `resources` also holds every tracked resource.
TABLE_TYPES: dict[str, frozenset[str]] = {
    "resources": frozenset(
        {"microsoft.compute/virtualmachines/extensions", "microsoft.web/sites/slots", "microsoft.sql/servers/databases"}
    ),
    "insightsresources": frozenset({"microsoft.insights/datacollectionruleassociations"}),
    "appserviceresources": frozenset(),
}

_QUERY = re.compile(
    r"^\s*(?P<table>\w+)\s*\|\s*where\s+type\s*=~\s*'(?P<type>[^']+)'(?:\s*\|\s*order\s+by\s+id(?:\s+asc)?)?\s*$",
    re.IGNORECASE,
)
_EMPTY_COLUMNS: dict[str, Any] = {
    "kind": "",
    "managedBy": "",
    "sku": None,
    "plan": None,
    "identity": None,
    "zones": None,
    "extendedLocation": None,
    "tags": {},
}
MAX_PAGE = 1000
DEFAULT_PAGE = 100


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail:
            error["details"] = [{"code": self.detail, "message": self.message}]
        return {"error": error}


@dataclass(frozen=True)
class Quota:
    """Resource Graph's per-principal query allowance: `queries` every `window_s` seconds."""

    queries: int = 15
    window_s: float = 5.0


class QuotaBucket:
    def __init__(self, quota: Quota, *, enforce: bool) -> None:
        self.capacity = float(quota.queries)
        self.refill = quota.queries / quota.window_s
        self.enforce = enforce
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, principal: str) -> tuple[bool, int, float]:
        """(allowed, queries remaining, seconds until the allowance is whole again)."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(principal, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill)
            if tokens < 1 and self.enforce:
                self._state[principal] = (tokens, now)
                return False, 0, (1 - tokens) / self.refill
            tokens = max(tokens - 1, 0.0)
            self._state[principal] = (tokens, now)
            return True, int(tokens), (self.capacity - tokens) / self.refill


def quota_headers(remaining: int, resets_after: float) -> list[tuple[str, str]]:
    seconds = max(0, int(resets_after + 0.999))
    return [
        ("x-ms-user-quota-remaining", str(remaining)),
        ("x-ms-user-quota-resets-after", time.strftime("%H:%M:%S", time.gmtime(seconds))),
    ]


def _row(parsed: ids.ArmPath, doc: dict[str, Any], tenant_id: str) -> dict[str, Any]:
    row = dict(_EMPTY_COLUMNS)
    row.update(doc)
    for column, empty in _EMPTY_COLUMNS.items():
        if row.get(column) is None:
            row[column] = empty
    row["type"] = str(parsed.type).lower()
    row["tenantId"] = tenant_id
    row["subscriptionId"] = str(parsed.subscription)
    row["resourceGroup"] = str(parsed.resource_group or "").lower()
    return row


def _holds(table: str, resource_type: str, parsed: ids.ArmPath, doc: dict[str, Any]) -> bool:
    if resource_type in TABLE_TYPES[table]:
        return True
    tracked = parsed.top_level or resource_type in NESTED_TRACKED_TYPES
    return table == "resources" and tracked and parsed.resource_group is not None and bool(doc.get("location"))


def _token(query_key: str, offset: int) -> str:
    raw = json.dumps({"q": query_key, "offset": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(token: str, query_key: str) -> int:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if decoded["q"] != query_key:
            raise ValueError
        return int(decoded["offset"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise GraphError(400, "BadRequest", f"Invalid $skipToken '{token}'.", "InvalidSkipToken") from None


def answer(index: ArmIndex, tenant_id: str, body: bytes) -> dict[str, Any]:
    """The response body to one query request. Raises GraphError."""
    try:
        request = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as e:
        raise GraphError(400, "BadRequest", f"The request body is not JSON ({e}).", "InvalidRequestContent") from None
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        raise GraphError(400, "BadRequest", "The request needs a 'query' string.", "InvalidRequestContent")
    match = _QUERY.match(request["query"])
    if match is None or match["table"].lower() not in TABLE_TYPES:
        raise GraphError(
            400,
            "BadRequest",
            "Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the "
            f"error before retrying. (This endpoint answers `<table> | where type =~ '<type>'` over "
            f"{', '.join(sorted(TABLE_TYPES))}.)",
            "InvalidQuery",
        )
    options = request.get("options") or {}
    if not isinstance(options, dict):
        raise GraphError(400, "BadRequest", "'options' must be an object.", "InvalidRequestContent")
    if str(options.get("resultFormat") or "objectArray").lower() != "objectarray":
        raise GraphError(400, "BadRequest", "Only the objectArray result format is served.", "InvalidResultFormat")
    subscriptions = request.get("subscriptions")
    if not isinstance(subscriptions, list) or not subscriptions:
        raise GraphError(400, "BadRequest", "The request needs 'subscriptions' (a list).", "InvalidRequestContent")
    wanted = {str(s).lower() for s in subscriptions}
    table, resource_type = match["table"].lower(), match["type"].lower()
    rows = sorted(
        (
            _row(p, doc, tenant_id)
            for p, doc in index.by_type.get(resource_type, [])
            if str(p.subscription).lower() in wanted and _holds(table, resource_type, p, doc)
        ),
        key=lambda r: str(r["id"]).lower(),
    )
    top = options.get("$top", DEFAULT_PAGE)
    skip = options.get("$skip", 0)
    if not isinstance(top, int) or not 1 <= top <= MAX_PAGE:
        raise GraphError(400, "BadRequest", f"$top must be between 1 and {MAX_PAGE}.", "InvalidTop")
    if not isinstance(skip, int) or skip < 0:
        raise GraphError(400, "BadRequest", "$skip must be zero or more.", "InvalidSkip")
    query_key = hashlib.sha256(json.dumps([request["query"], sorted(wanted)]).encode()).hexdigest()[:16]
    token = options.get("$skipToken")
    offset = _offset(str(token), query_key) if token else skip
    page = rows[offset : offset + top]
    out: dict[str, Any] = {
        "totalRecords": len(rows),
        "count": len(page),
        "resultTruncated": "false",
        "facets": [],
        "data": page,
    }
    if offset + top < len(rows):
        out["$skipToken"] = _token(query_key, offset + top)
    return out
