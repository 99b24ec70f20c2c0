"""Fault injection: make the sandbox misbehave the way Azure does, on purpose and countably.

A `Fault` matches requests by method, path glob, subscription and resource type; it may skip the
first N matching requests, fire at most `count` times, and only within `window` seconds of being armed.

Kinds (what the client sees when the fault fires):
- `forbidden`       403 `AuthorizationFailed` (Graph: `Authorization_RequestDenied`). Not retried by azure-core.
- `throttle`        429 with `Retry-After: retry_after` (ARM code `SubscriptionRequestsThrottled`).
- `server_error`    `status` 500 (default, `InternalServerError`) or 503 (`ServiceUnavailable`; with
                    `Retry-After` when `retry_after` is set).
- `malformed`       200 whose body is cut-off JSON.
- `latency`         waits `delay` seconds, then the request goes on (other faults may still fire).
- `next_link_loop`  a listing whose `nextLink` / `@odata.nextLink` points back at the same page.
- `endless_paging`  a listing whose `nextLink` / `@odata.nextLink` always leads to a further page (past the
                    end the pages are empty): every link is new, so only a bound on pages or time ends it.
- `reset`           no answer: the connection is closed abruptly (TCP RST) after the request is read.
- `not_registered`  409 `MissingSubscriptionRegistration`: the subscription is not registered to use the
                    resource provider namespace of the request (`Microsoft.Security` when Defender for
                    Cloud was never registered). Match it with `resource_type` set to the namespace alone
                    (`Microsoft.Security`) to cover every type in it. Not retried by azure-core.

Matching: `method` (e.g. "GET"); `path`, a case-insensitive glob (`*` also crosses `/`) on the URL path
without the query; `subscription` (the `/subscriptions/{id}` segment); `resource_type`, which matches the
type a request is about and its child types (`Microsoft.Sql/servers` also covers
`Microsoft.Sql/servers/databases`, not extension types such as diagnostic settings on a server).
Faults without `path` never touch the identity endpoints (openid-configuration, token), so a broad
fault does not break sign-in; name the token path explicitly to fault it.
"""

from __future__ import annotations

import fnmatch
import math
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = (
    "forbidden",
    "throttle",
    "server_error",
    "malformed",
    "latency",
    "next_link_loop",
    "endless_paging",
    "not_registered",
    "reset",
)
PAGING_KINDS = ("next_link_loop", "endless_paging")

# Keys accepted from an estate file (camelCase, as the rest of the file) mapped to Fault fields.
_ESTATE_KEYS = {
    "kind": "kind",
    "method": "method",
    "path": "path",
    "subscription": "subscription",
    "resourceType": "resource_type",
    "count": "count",
    "skip": "skip",
    "window": "window",
    "status": "status",
    "retryAfter": "retry_after",
    "delay": "delay",
}
_ESTATE_NAMES = {v: k for k, v in _ESTATE_KEYS.items()}


@dataclass(frozen=True)
class RequestFacts:
    """What a fault can match on, derived by the server from one request."""

    method: str
    path: str
    subscription: str | None
    resource_type: str | None
    identity: bool  # openid-configuration / token endpoint


@dataclass(eq=False)
class Fault:
    kind: str
    method: str | None = None
    path: str | None = None
    subscription: str | None = None
    resource_type: str | None = None
    count: int | None = None  # fire at most this many times; None = no limit
    skip: int = 0  # let this many matching requests through first ("429 on the 3rd call": skip=2, count=1)
    window: float | None = None  # only active for this many seconds after being armed
    status: int | None = None  # server_error: 500 or 503
    retry_after: float | None = None  # throttle: defaults to 1 s; server_error 503: optional
    delay: float = 0.0  # latency: seconds added
    # Counters, readable from tests.
    seen: int = field(default=0, init=False)  # matching requests so far (including skipped ones)
    fired: int = field(default=0, init=False)
    armed_at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        for name in ("method", "path", "subscription", "resource_type"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{_ESTATE_NAMES[name]} must be a string, got {value!r}")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (expected one of {', '.join(FAULT_KINDS)})")
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise ValueError(f"count must be a positive integer or absent, got {self.count!r}")
        if not isinstance(self.skip, int) or self.skip < 0:
            raise ValueError(f"skip must be a non-negative integer, got {self.skip!r}")
        if self.window is not None and (not _is_number(self.window) or self.window <= 0):
            raise ValueError(f"window must be a positive number of seconds, got {self.window!r}")
        if self.kind == "server_error":
            if self.status is None:
                self.status = 500
            if not isinstance(self.status, int) or not 500 <= self.status <= 599:
                raise ValueError(f"server_error status must be 500-599, got {self.status!r}")
        elif self.status is not None:
            raise ValueError(f"status only applies to server_error faults, not {self.kind}")
        if self.kind == "throttle" and self.retry_after is None:
            self.retry_after = 1.0
        if self.retry_after is not None and (not _is_number(self.retry_after) or self.retry_after < 0):
            raise ValueError(f"retry_after must be a non-negative number, got {self.retry_after!r}")
        if self.kind == "latency" and (not _is_number(self.delay) or self.delay <= 0):
            raise ValueError(f"latency faults need a positive delay, got {self.delay!r}")
        if self.method is not None:
            self.method = self.method.upper()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Fault:
        """Build from an estate-file entry (camelCase keys). Raises ValueError naming the bad key."""
        unknown = [k for k in data if k not in _ESTATE_KEYS]
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r} (allowed: {', '.join(_ESTATE_KEYS)})")
        if "kind" not in data:
            raise ValueError("missing 'kind'")
        return cls(**{_ESTATE_KEYS[k]: v for k, v in data.items()})

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def active(self, now: float) -> bool:
        if self.exhausted:
            return False
        return not (self.window is not None and self.armed_at is not None and now - self.armed_at > self.window)

    def matches(self, req: RequestFacts) -> bool:
        if self.method is not None and req.method.upper() != self.method:
            return False
        if self.path is not None:
            if not fnmatch.fnmatchcase(req.path.lower(), self.path.lower()):
                return False
        elif req.identity:
            return False
        if self.subscription is not None and (req.subscription or "").lower() != self.subscription.lower():
            return False
        if self.resource_type is not None:
            wanted = self.resource_type.lower()
            have = (req.resource_type or "").lower()
            if have != wanted and not have.startswith(wanted + "/"):
                return False
        return True


def _is_number(v: object) -> bool:
    """A finite int or float (NaN and infinity are no number of seconds)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class FaultPlan:
    """The faults that apply to one request: total added delay, at most one error, and a paging fault."""

    delay: float = 0.0
    error: Fault | None = None
    loop: Fault | None = None


class FaultSet:
    """The live faults of one running sandbox. Thread-safe.

    `sb.faults.add("throttle", path="*/virtualMachines", count=1)` or `sb.faults.add(Fault(...))`;
    `sb.faults.remove(f)`, `sb.faults.clear()`, `list(sb.faults)`. A fault's `seen` / `fired` counters
    tell a test whether it was reached.
    """

    def __init__(self, faults: list[Fault] | tuple[Fault, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        for f in faults:
            self.add(f)

    def add(self, kind: str | Fault, **kwargs: Any) -> Fault:
        fault = kind if isinstance(kind, Fault) else Fault(kind, **kwargs)
        if isinstance(kind, Fault) and kwargs:
            raise TypeError("pass either a Fault or keyword arguments, not both")
        fault.armed_at = time.monotonic()
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if f is not fault]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def __iter__(self) -> Iterator[Fault]:
        with self._lock:
            return iter(list(self._faults))

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

    def plan(self, req: RequestFacts) -> FaultPlan:
        """Decide (and count) which faults fire for this request, in the order they were added."""
        now = time.monotonic()
        delay = 0.0
        error: Fault | None = None
        loop: Fault | None = None
        with self._lock:
            for f in self._faults:
                if not f.active(now) or not f.matches(req):
                    continue
                if f.kind == "latency":
                    if self._take(f):
                        delay += f.delay
                elif f.kind in PAGING_KINDS:
                    if loop is None and self._take(f):
                        loop = f
                elif error is None and self._take(f):
                    error = f
        return FaultPlan(delay, error, loop)

    @staticmethod
    def _take(f: Fault) -> bool:
        f.seen += 1
        if f.seen <= f.skip:
            return False
        f.fired += 1
        return True
