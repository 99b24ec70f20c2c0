"""Pacing of ARM reads: the collector keeps to ARM's read budget itself instead of learning it from 429s.

ARM meters reads with a token bucket per subscription and principal (a burst, refilled at a steady rate) and
answers 429 with a Retry-After when it runs dry; each such 429 costs a whole-second wait and a call. The
collector keeps the same bucket on its side (`collection.arm_reads_burst`, `collection.arm_reads_per_second`)
and makes each read only when its bucket has a token, so after the first burst reads leave at the refill rate.
A 429 that still comes (another client reading with the same identity) empties that bucket until its
Retry-After, and azure-core's retry policy waits it out as before.

The same policy bounds the calls in flight at once across the run (`collection.max_workers`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy

from agent.metrics import azure_core_retry_after

if TYPE_CHECKING:
    from collector.azure_clients import Deadline

# Reads not under a subscription (the subscription list, tenant-level providers) share the tenant's bucket.
TENANT = "tenant"
# Azure Resource Graph's own quota per principal ("Guidance for throttled requests in Azure Resource Graph"):
# 15 queries in every 5-second window, reported in x-ms-user-quota-remaining.
RESOURCE_GRAPH_BURST, RESOURCE_GRAPH_PER_SECOND = 15, 3.0


class TokenBucket:
    """`burst` tokens, refilled at `per_second`; a read takes one. Reservations may run the bucket into debt,
    so callers are given successive slots rather than all waking at once to race for the next token."""

    def __init__(self, burst: float, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 1 or per_second <= 0:
            raise ValueError(f"a token bucket needs burst >= 1 and a positive rate, got {burst!r}, {per_second!r}")
        self.burst = float(burst)
        self.per_second = float(per_second)
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        return now

    def wait_time(self) -> float:
        """Seconds until a read taken now could be made (0 when a token is there)."""
        with self._lock:
            self._refill()
            return max(0.0, (1.0 - self._tokens) / self.per_second)

    def reserve(self, limit: float = float("inf")) -> float | None:
        """Take a token; the seconds to wait before using it, or None (nothing taken) when that is over `limit`."""
        with self._lock:
            self._refill()
            wait = max(0.0, (1.0 - self._tokens) / self.per_second)
            if wait > limit:
                return None
            self._tokens -= 1.0
            return wait

    def hold_off(self, seconds: float) -> None:
        """No token before `seconds` from now (the service said Retry-After)."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 1.0 - seconds * self.per_second)


class Pacer:
    """One token bucket per subscription, made on first use. It keeps `headroom` seconds of reads (at most half
    the burst) in hand: a call can reach ARM later than one paced after it (the run's first calls also open
    connections, and a loaded machine delays some), and ARM counts reads as they arrive."""

    def __init__(
        self, burst: float, per_second: float, clock: Callable[[], float] = time.monotonic, headroom: float = 0.5
    ) -> None:
        self.burst = max(1.0, burst - min(headroom * per_second, burst / 2))
        self.per_second = per_second
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, key: str) -> TokenBucket:
        with self._lock:
            found = self._buckets.get(key)
            if found is None:
                found = self._buckets[key] = TokenBucket(self.burst, self.per_second, self._clock)
            return found

    def wait_time(self, key: str) -> float:
        return self.bucket(key).wait_time()


def bucket_key(url: str) -> str:
    """The subscription id (lower case) an ARM URL reads under, else TENANT."""
    parts = urlparse(url).path.strip("/").split("/")
    if len(parts) >= 2 and parts[0].lower() == "subscriptions":
        return parts[1].lower()
    return TENANT


class PacingPolicy(HTTPPolicy):  # type: ignore[type-arg]
    """Per attempt (after azure-core's RetryPolicy): wait for the subscription's token, then for a free slot
    among the `gate`'s calls in flight; send; on a 429 hold that subscription's bucket off until Retry-After.
    Neither wait reaches past the run's deadline: the call is then a RunDeadlineExceeded collection error.
    An HTTPPolicy is linked into one pipeline, so each client gets its own, sharing the pacer and the gate."""

    def __init__(self, pacer: Pacer, gate: threading.Semaphore, deadline: Deadline) -> None:
        super().__init__()
        self.pacer = pacer
        self.gate = gate
        self.deadline = deadline

    def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        from collector.azure_clients import RunDeadlineExceeded  # it builds this policy

        http = request.http_request
        what = f"{http.method} {urlparse(http.url).path}"
        bucket = self.pacer.bucket(bucket_key(http.url))
        wait = bucket.reserve(limit=self.deadline.remaining())
        if wait is None:
            raise RunDeadlineExceeded(f"the run's collection deadline ({self.deadline.seconds:g} s) comes before "
                                      f"ARM's read budget allows {what}")  # fmt: skip
        if wait > 0:
            time.sleep(wait)
        if not self.gate.acquire(timeout=max(0.0, self.deadline.remaining())):
            self.deadline.check(what)
            raise RunDeadlineExceeded(f"no call slot before the run's collection deadline for {what}")
        try:
            response = self.next.send(request)
        finally:
            self.gate.release()
        if response.http_response.status_code == 429:
            wait = azure_core_retry_after(response.http_response.headers) or 1.0
            # A Retry-After past the deadline is not waited out (that call becomes an error); holding the other
            # reads off for it would turn every one of them into an error without asking ARM.
            if wait < self.deadline.remaining():
                bucket.hold_off(wait)
        return response
