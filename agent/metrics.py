"""Prometheus metrics of the agent, in shoko's own registry (never prometheus-client's global one).

What the other parts call:

    observe_run(kind, outcome, seconds)      after each run: kind "full" | "partial", outcome "completed" |
                                             "failed" | "interrupted"; a completed run sets the last-success time
    observe_findings(findings, checks=None)  the findings of a run: gauges per check and status
    observe_finding_counts(counts, checks)   the same from a run's counts per (check, status)
    observe_verdicts(verdicts)               the verdicts of a full run: gauges per status
    observe_collection_errors(errors)        a run's collection errors, counted by code and fact kind
    observe_drift(events)                    drift events, counted by kind
    observe_delivery(channel, ok)            one notifier delivery attempt on a configured channel
    observe_anchor(target, ok)               one sealed run's anchor written (or not) to a target: "file",
                                             "blob" or the webhook channel's name
    observe_work(event)                      a shared run's work item claimed | reclaimed | done | failed | lost
                                             by this replica (collector/shared_work.py)
    exposition() -> (body, content type)     the text /metrics serves

Azure calls are counted where the SDK clients are built, without replacing anything in the SDKs:
`AzureCallPolicy` is an azure-core per-retry policy on every ARM client (collector/azure_clients.py), and
`CountingMiddleware` the innermost kiota middleware of the Graph client (collector/fetchers/entra.py).
Both count every HTTP attempt (retries included) by API family and status, count 429 answers as throttled, and
add a `Retry-After` to the wait total when the client actually retries after it.

Labels stay bounded: an API family is the ARM provider namespace and resource type path
(`microsoft.network/networksecuritygroups`, `microsoft.web/sites/config`) or the Graph collection path
(`graph/users`, `graph/groups/members`), never a URL, resource id or object id.
"""

from __future__ import annotations

import re
import time
from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy
from kiota_http.middleware.middleware import BaseMiddleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from controls.model import CollectionError, DriftEvent, Finding, Status, Verdict

# `*_created` series double every counter for no use here.
disable_created_metrics()

RUN_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
FINDING_STATUSES = (Status.PASS, Status.FAIL, Status.ERROR)
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SEGMENT = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)+$")
OTHER = "other"


def _bounded(value: object) -> str:
    """A label value from outside (an error code, a channel name): itself when it is a plain token, else "other"."""
    text = str(value) if value is not None else ""
    return text if _LABEL_VALUE.match(text) else OTHER


class Metrics:
    """Every shoko metric, registered in one `CollectorRegistry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter(
            "shoko_runs", "Runs finished, by kind (full/partial) and outcome.", ["kind", "outcome"], registry=r
        )
        self.run_duration = Histogram(
            "shoko_run_duration_seconds",
            "Wall-clock duration of a run, by kind and outcome.",
            ["kind", "outcome"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "shoko_last_successful_run_timestamp_seconds",
            "Unix time at which the last run of this kind completed.",
            ["kind"],
            registry=r,
        )
        self.azure_calls = Counter(
            "shoko_azure_calls",
            "HTTP attempts to Azure (ARM, Graph), retries included, by API family and HTTP status "
            "('error': no response).",
            ["family", "status"],
            registry=r,
        )
        self.throttled = Counter(
            "shoko_azure_throttled_calls", "Azure answers 429 Too Many Requests, by API family.", ["family"], registry=r
        )
        self.retry_after = Counter(
            "shoko_azure_retry_after_seconds",
            "Seconds the SDK clients waited on Azure's Retry-After before retrying, by API family.",
            ["family"],
            registry=r,
        )
        self.collection_errors = Counter(
            "shoko_collection_errors",
            "Facts that could not be collected, by error code and fact kind.",
            ["code", "kind"],
            registry=r,
        )
        self.findings = Gauge(
            "shoko_findings",
            "Findings of the latest run that judged the check, by check and status.",
            ["check", "status"],
            registry=r,
        )
        self.requirements = Gauge(
            "shoko_requirements", "Requirements of the latest full run, by verdict status.", ["status"], registry=r
        )
        self.drift_events = Counter("shoko_drift_events", "Drift events detected, by kind.", ["kind"], registry=r)
        self.deliveries = Counter(
            "shoko_notifier_deliveries", "Alerts delivered, by notifier channel.", ["channel"], registry=r
        )
        self.delivery_failures = Counter(
            "shoko_notifier_failures", "Alert deliveries that failed, by notifier channel.", ["channel"], registry=r
        )
        self.anchors = Counter(
            "shoko_anchors_published",
            "Signed run digests published outside the database, by target (file, blob, webhook channel).",
            ["target"],
            registry=r,
        )
        self.anchor_failures = Counter(
            "shoko_anchor_failures",
            "Signed run digests that could not be published, by target (file, blob, webhook channel).",
            ["target"],
            registry=r,
        )
        self.work_items = Counter(
            "shoko_work_items",
            "Work items of runs shared by agent replicas, by what this replica did with them: claimed, reclaimed "
            "(taken over from a replica whose lease expired), done, failed (attempts used up), lost (claimed again "
            "by another replica before this one stored it).",
            ["event"],
            registry=r,
        )

    # -- what the agent reports ----------------------------------------------------------------------

    def observe_run(self, kind: str, outcome: str, seconds: float, finished_at: datetime | None = None) -> None:
        kind, outcome = _bounded(kind), _bounded(outcome)
        self.runs.labels(kind, outcome).inc()
        self.run_duration.labels(kind, outcome).observe(max(0.0, float(seconds)))
        if outcome == "completed":
            self.last_success.labels(kind).set(finished_at.timestamp() if finished_at else time.time())

    def observe_findings(self, findings: Iterable[Finding], checks: Iterable[str] = ()) -> None:
        """Set the finding gauges of every check in `findings` (and of `checks`, the run's judged checks, which
        may have had nothing to judge) to this run's counts."""
        self.observe_finding_counts(Tally((f.check_id, Status(f.status)) for f in findings), checks)

    def observe_finding_counts(self, counts: Mapping[tuple[str, Status], int], checks: Iterable[str] = ()) -> None:
        """`observe_findings` from how many findings each check gave of each status (a run's `finding_counts`)."""
        for check in {c for c, _ in counts} | set(checks):
            for status in FINDING_STATUSES:
                self.findings.labels(_bounded(check), status.value).set(counts.get((check, status), 0))

    def observe_verdicts(self, verdicts: Iterable[Verdict]) -> None:
        """Set the requirement gauges to one full run's verdicts (a partial run's few verdicts would hide the rest)."""
        tally = Tally(Status(v.status) for v in verdicts)
        for status in Status:
            self.requirements.labels(status.value).set(tally[status])

    def observe_collection_errors(self, errors: Iterable[CollectionError]) -> None:
        for err in errors:
            self.collection_errors.labels(_bounded(err.code), _bounded(err.kind)).inc()

    def observe_drift(self, events: Iterable[DriftEvent]) -> None:
        for event in events:
            self.drift_events.labels(_bounded(event.kind)).inc()

    def observe_delivery(self, channel: str, ok: bool) -> None:
        (self.deliveries if ok else self.delivery_failures).labels(_bounded(channel)).inc()

    def observe_anchor(self, target: str, ok: bool) -> None:
        (self.anchors if ok else self.anchor_failures).labels(_bounded(target)).inc()

    def observe_work(self, event: str) -> None:
        self.work_items.labels(_bounded(event)).inc()

    # -- Azure calls -----------------------------------------------------------------------------------

    def azure_attempt(self, family: str, status: int | None) -> None:
        """One HTTP attempt answered with `status` (None: no answer at all)."""
        self.azure_calls.labels(family, str(status) if status is not None else "error").inc()
        if status == 429:
            self.throttled.labels(family).inc()

    def azure_waited(self, family: str, seconds: float) -> None:
        if seconds > 0:
            self.retry_after.labels(family).inc(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


METRICS = Metrics()
REGISTRY = METRICS.registry


def observe_run(kind: str, outcome: str, seconds: float, finished_at: datetime | None = None) -> None:
    METRICS.observe_run(kind, outcome, seconds, finished_at)


def observe_findings(findings: Iterable[Finding], checks: Iterable[str] = ()) -> None:
    METRICS.observe_findings(findings, checks)


def observe_finding_counts(counts: Mapping[tuple[str, Status], int], checks: Iterable[str] = ()) -> None:
    METRICS.observe_finding_counts(counts, checks)


def observe_verdicts(verdicts: Iterable[Verdict]) -> None:
    METRICS.observe_verdicts(verdicts)


def observe_collection_errors(errors: Iterable[CollectionError]) -> None:
    METRICS.observe_collection_errors(errors)


def observe_drift(events: Iterable[DriftEvent]) -> None:
    METRICS.observe_drift(events)


def observe_delivery(channel: str, ok: bool) -> None:
    METRICS.observe_delivery(channel, ok)


def observe_anchor(target: str, ok: bool) -> None:
    METRICS.observe_anchor(target, ok)


def observe_work(event: str) -> None:
    METRICS.observe_work(event)


def exposition() -> tuple[bytes, str]:
    return METRICS.exposition()


# -- API families ----------------------------------------------------------------------------------------


def arm_family(url: str) -> str:
    """`microsoft.<namespace>/<type>[/<child type>...]` of an ARM request URL (the last provider block, as ARM
    resolves extension resources); `microsoft.resources/<collection>` for subscriptions, resource groups and the
    generic resource listing."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    lowered = [s.lower() for s in segments]
    if "providers" in lowered:
        at = len(lowered) - 1 - lowered[::-1].index("providers")
        rest = segments[at + 1 :]
        if not rest or not _NAMESPACE.match(rest[0]):
            return OTHER
        types = rest[1::2]
        if not all(_SEGMENT.match(t) for t in types):
            return OTHER
        return "/".join([rest[0], *types]).lower()
    types = segments[0::2]  # subscriptions/{s}/resourceGroups/{rg}/resources
    if not types or not all(_SEGMENT.match(t) for t in types):
        return OTHER
    return f"microsoft.resources/{types[-1].lower()}"


def graph_family(url: str) -> str:
    """`graph/<collection>[/<collection>...]` of a Graph request URL, without version and object ids."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if segments and segments[0].lower() in ("v1.0", "beta"):
        segments = segments[1:]
    names = segments[0::2]
    if not names or not all(_SEGMENT.match(n) for n in names):
        return "graph/other"
    return "graph/" + "/".join(n.lower() for n in names)


# -- Retry-After, read as each SDK reads it ----------------------------------------------------------------


def _seconds(value: str, *, whole: bool) -> float | None:
    value = value.strip()
    try:
        return max(0.0, float(int(value) if whole else float(value)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())


def azure_core_retry_after(headers: Any) -> float | None:
    """The wait azure-core's RetryPolicy takes from a response (`Retry-After`, then the millisecond headers)."""
    value = headers.get("retry-after")
    if value:
        return _seconds(value, whole=False)
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            ms = _seconds(value, whole=False)
            return ms / 1000.0 if ms is not None else None
    return None


def kiota_retry_after(headers: Any) -> float | None:
    """The wait kiota's RetryHandler takes from a response: whole seconds or an HTTP date."""
    value = headers.get("retry-after")
    if not value:
        return None
    if re.match(r"\d+,\d+$", value):
        value = value.split(",")[0]
    return _seconds(value, whole=True)


_PENDING_WAIT = "shoko_retry_after"


class AzureCallPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Counts each attempt of an ARM call. Goes after azure-core's RetryPolicy (`per_retry_policies=`), so every
    retry passes here; the request context carries a Retry-After over to the attempt that follows it."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics or METRICS

    def on_request(self, request: PipelineRequest[Any]) -> None:
        waited = request.context.pop(_PENDING_WAIT, None)
        if waited:
            self.metrics.azure_waited(arm_family(request.http_request.url), waited)

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        http = response.http_response
        family = arm_family(request.http_request.url)
        self.metrics.azure_attempt(family, http.status_code)
        if http.status_code >= 400:
            wait = azure_core_retry_after(http.headers)
            if wait:
                request.context[_PENDING_WAIT] = wait

    def on_exception(self, request: PipelineRequest[Any]) -> None:
        self.metrics.azure_attempt(arm_family(request.http_request.url), None)


class CountingMiddleware(BaseMiddleware):
    """The last (innermost) middleware of the Graph client: kiota's RetryHandler runs above it, so it sees every
    attempt, whichever transport (direct or a proxy mount) sends it. The request object is the same across
    kiota's retries, so its extensions carry a Retry-After over to the attempt that follows it."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        super().__init__()
        self.metrics = metrics or METRICS

    async def send(self, request: httpx.Request, transport: httpx.AsyncBaseTransport) -> httpx.Response:
        family = graph_family(str(request.url))
        waited = request.extensions.pop(_PENDING_WAIT, None)
        if waited:
            self.metrics.azure_waited(family, waited)
        try:
            response = await super().send(request, transport)
        except Exception:
            self.metrics.azure_attempt(family, None)
            raise
        self.metrics.azure_attempt(family, response.status_code)
        if response.status_code >= 400:
            wait = kiota_retry_after(response.headers)
            if wait:
                request.extensions[_PENDING_WAIT] = wait
        return response
