"""The offline Azure: ARM, an Entra token endpoint and Graph v1.0 over HTTPS on loopback.

    from sandbox.server import Sandbox
    with Sandbox.from_file("sandbox/estates/hospital-emr.yaml", port=0, page_size=2) as sb:
        info = sb.info            # base_url, authority, tenant_id, client_id, client_secret, ca_bundle, ...
        sb.faults.add("throttle", path="*/Microsoft.Network/*", count=1, retry_after=0.2)
        ...                       # real azure-identity / azure-mgmt-* clients against info.base_url
        [r for r in sb.requests if r.status == 429]

Fault API (`sb.faults`, a `sandbox.faults.FaultSet`):
    sb.faults.add(kind, *, method=None, path=None, subscription=None, resource_type=None,
                  count=None, skip=0, window=None, status=None, retry_after=None, delay=0.0) -> Fault
    sb.faults.add(Fault(...)); sb.faults.remove(fault); sb.faults.clear(); list(sb.faults)
    kinds: forbidden (403 AuthorizationFailed), throttle (429 + Retry-After), server_error (500/503),
           malformed (cut-off JSON), latency (+delay s), next_link_loop (nextLink to the same page),
           endless_paging (a new nextLink on every page), reset (connection closed with no answer),
           not_registered (409 MissingSubscriptionRegistration for the request's provider namespace).
    `path` is a case-insensitive glob on the URL path; `skip` lets N matching calls through first;
    `count` caps how often it fires; `window` limits it to N seconds after it was added. Each fault
    counts `seen` (matching calls) and `fired`. Faults declared in the estate are armed at start.

Request log (`sb.requests`, a `RequestLog`): one `RequestRecord(method, path, query, status, api,
fault, request_id, at, duration_ms)` per request, in arrival order; `mark()` / `since(mark)` / `clear()`.

Estate changes while running: `sb.put_resource(doc)`, `sb.delete_resource(id)`, `sb.set_estate(estate)`, or,
from another process, the admin endpoints (`Authorization: Bearer {info.admin_token}`):
    PUT /_sandbox/resources (an ARM document), DELETE /_sandbox/resources?id=ID, PUT /_sandbox/estate (an estate).
A token for plain HTTP clients: `sb.issue_token("arm" | "graph", lifetime=None)`.

People's sign-in (authorization code + PKCE, `sandbox.signin`): `sb.signin`; the client secrets of the estate's
sign-in applications are `info.web_client_secrets[appId]`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hmac
import json
import logging
import math
import secrets
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from sandbox import arm as armmod
from sandbox import blob as blobmod
from sandbox import graph as graphmod
from sandbox import ids, tls
from sandbox import resourcegraph as graphquery
from sandbox.estate import Estate, EstateError, RunCommandOutput, estate_from_mapping, load_estate
from sandbox.faults import Fault, FaultSet, RequestFacts
from sandbox.identity import InvalidToken, TokenRequestError, TokenService, audience_uri
from sandbox.signin import SignInService, WebReply, web_apps
from sandbox.signin import error_page as signin_error_page

log = logging.getLogger("sandbox")

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
GRAPH_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
_RUN_COMMAND_TYPE = "microsoft.compute/virtualmachines/runcommand"
_MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class SandboxInfo:
    """Everything a client needs to talk to a running sandbox. `client_secret` is valid only for it."""

    base_url: str
    authority: str
    tenant_id: str
    client_id: str
    client_secret: str
    ca_bundle: str
    graph_base_url: str
    subscriptions: list[str]
    # Authorises the /_sandbox/... admin endpoints (estate changes from another process); sandbox-only.
    admin_token: str = ""
    # appId -> client secret of each application that signs people in (web redirect URIs); sandbox-only.
    web_client_secrets: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str  # URL path, percent-decoded, without the query
    query: str  # raw query string
    status: int
    api: str  # "arm", "graph", "identity", "blob" or "admin"
    fault: str | None  # kind of the injected fault that answered, if any
    request_id: str
    at: float  # time.time() when the request arrived
    duration_ms: float


class RequestLog:
    """Thread-safe, append-only list of RequestRecord (until `clear()`).

    Keeps the most recent `limit` records, so a long-running `serve` does not grow without bound.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._offset = 0  # records dropped (clear() or the limit), so marks stay valid
        self._limit = limit

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            if len(self._records) > self._limit:
                drop = len(self._records) - self._limit
                del self._records[:drop]
                self._offset += drop

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def mark(self) -> int:
        """A position; `since(mark)` returns what arrived after it."""
        with self._lock:
            return self._offset + len(self._records)

    def since(self, mark: int) -> list[RequestRecord]:
        with self._lock:
            return list(self._records[max(0, mark - self._offset) :])

    def clear(self) -> None:
        with self._lock:
            self._offset += len(self._records)
            self._records.clear()

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __getitem__(self, i: int) -> RequestRecord:
        with self._lock:
            return self._records[i]


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str | None = JSON
    headers: list[tuple[str, str]] = field(default_factory=list)
    fault: str | None = None

    @classmethod
    def json(cls, status: int, payload: Any, content_type: str = JSON, **kw: Any) -> _Reply:
        return cls(status, json.dumps(payload, ensure_ascii=False).encode(), content_type, **kw)


@dataclass
class _Request:
    method: str
    target: str  # as received (path + query)
    raw_path: str
    path: str
    query_pairs: list[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes
    request_id: str
    loop: Fault | None = None

    def q(self, name: str) -> str | None:
        """Query parameter, case-insensitive name (ARM treats `api-version` that way)."""
        low = name.lower()
        for k, v in self.query_pairs:
            if k.lower() == low:
                return v
        return None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass
class _Operation:
    status_url: str
    result_url: str
    polls_left: int
    started: str
    value: list[dict[str, Any]]
    api_version: str
    created: float = field(default_factory=time.monotonic)


_OPERATION_TTL = 3600.0  # seconds a run-command result stays readable, as ARM keeps operation results


@dataclass(frozen=True)
class ReadThrottle:
    """ARM's read limit, enforced: a token bucket per subscription and principal (`burst` reads, refilled at
    `refill_per_s`); an empty bucket answers 429 `SubscriptionRequestsThrottled` with `Retry-After` in whole
    seconds, as ARM does. The defaults are ARM's documented bucket for reads."""

    burst: float = 250.0
    refill_per_s: float = 25.0

    def __post_init__(self) -> None:
        if not (_is_number(self.burst) and self.burst >= 1):
            raise ValueError(f"throttle burst must be at least 1, got {self.burst!r}")
        if not (_is_number(self.refill_per_s) and self.refill_per_s > 0):
            raise ValueError(f"throttle refill must be a positive number per second, got {self.refill_per_s!r}")


@dataclass(frozen=True)
class _Take:
    allowed: bool
    remaining: int
    wait: float  # seconds until one read is available again (0 when allowed)


class _RateBucket:
    """ARM's token-bucket read quota, reported in x-ms-ratelimit-remaining-*-reads; refuses reads only when
    `enforce` is set (a `ReadThrottle`)."""

    def __init__(self, capacity: float = 250.0, refill_per_s: float = 25.0, *, enforce: bool = False) -> None:
        self.capacity = capacity
        self.refill = refill_per_s
        self.enforce = enforce
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> _Take:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill)
            if self.enforce and tokens < 1:
                self._state[key] = (tokens, now)
                return _Take(False, 0, (1 - tokens) / self.refill)
            tokens -= 1
            self._state[key] = (max(tokens, 0.0), now)
            return _Take(True, max(int(tokens), 0), 0.0)


class RequestStats:
    """Calls answered, by operation (`GET Microsoft.Web/sites/config`, `GET Microsoft.Web/sites (list)`,
    `GET /resources (list)`, `GET graph users`, `POST token`), by status and by subscription, plus the sandbox
    process's CPU time: what `GET /_sandbox/stats` reports. Counters only, so it stays small however long it serves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._operations: dict[str, int] = {}
        self._statuses: dict[str, int] = {}
        self._subscriptions: dict[str, int] = {}

    def count(self, method: str, path: str, api: str, status: int) -> None:
        label, subscription = _operation(method, path, api)
        with self._lock:
            self._operations[label] = self._operations.get(label, 0) + 1
            self._statuses[str(status)] = self._statuses.get(str(status), 0) + 1
            if subscription:
                self._subscriptions[subscription] = self._subscriptions.get(subscription, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "cpu_seconds": time.process_time(),
                "operations": dict(self._operations),
                "statuses": dict(self._statuses),
                "subscriptions": dict(self._subscriptions),
            }


def _operation(method: str, path: str, api: str) -> tuple[str, str | None]:
    """(operation label, subscription id in lower case or None)."""
    if api == "identity":
        return (f"{method} token" if path.endswith("/token") else f"{method} openid-configuration"), None
    if api == "blob":  # one label per verb and level, never a blob's name
        level = "blob" if len([s for s in path.split("/") if s]) > 2 else "container"
        return f"{method} storage {level}", None
    if api == "graph":
        segs = [s for s in path.split("/")[2:] if s]
        return f"{method} graph {segs[0] if segs else ''}".rstrip(), None
    parsed = _try_parse(path)
    if parsed is None:
        return f"{method} {path}", None
    sub = parsed.subscription.lower() if parsed.subscription else None
    if parsed.kind == "resources_listing":
        return f"{method} /resources (list)", sub
    return f"{method} {parsed.type}{' (list)' if parsed.kind == 'collection' else ''}", sub


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class Sandbox:
    """One offline Azure. Use as a context manager, or call start() / stop()."""

    def __init__(
        self,
        estate: Estate,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        page_size: int = 2,
        token_lifetime: int = 3599,
        client_secret: str | None = None,
        lro_polls: int = 1,
        latency: float = 0.0,
        throttle: ReadThrottle | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if not (_is_number(latency) and latency >= 0):
            raise ValueError(f"latency must be a non-negative number of seconds, got {latency!r}")
        self._estate = estate
        self._index = armmod.ArmIndex(estate)
        self._accounts = blobmod.accounts_of(estate.resources)
        self._containers = blobmod.containers_of(estate.resources)
        # Blobs written through the Blob data plane (sandbox.blob); kept across estate changes.
        self.blobs = blobmod.BlobStore(page_size)
        self.host = host
        self.port = port
        self.page_size = page_size
        self.lro_polls = lro_polls
        self.latency = float(latency)  # seconds added to every ARM, Graph and token call, as a network would
        self.throttle = throttle
        self.faults = FaultSet()
        self.requests = RequestLog()
        self.stats = RequestStats()
        self._estate_lock = threading.Lock()  # guards (estate, index) as one pair for readers
        self._update_lock = threading.RLock()  # serialises read-modify-write changes of the estate
        self._admin_token = secrets.token_urlsafe(32)
        self._ops: dict[str, _Operation] = {}
        self._ops_lock = threading.Lock()
        self._rates = (
            _RateBucket(throttle.burst, throttle.refill_per_s, enforce=True) if throttle is not None else _RateBucket()
        )
        # Resource Graph's own per-principal query quota, refused (429) only when ARM's throttle is enforced too.
        self._graph_quota = graphquery.QuotaBucket(graphquery.Quota(), enforce=throttle is not None)
        self._tempdir: Path | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._info: SandboxInfo | None = None
        tenant = estate.tenant
        sp = next(
            (
                d
                for d in estate.directory.collections.get("servicePrincipals", ())
                if str(d.get("appId", "")).lower() == tenant.client_id.lower()
            ),
            None,
        )
        object_id = str(sp["id"]) if sp else str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-sp:{tenant.client_id}"))
        aliases = [tenant.default_domain] + [str(d.get("id")) for d in estate.directory.collections.get("domains", ())]
        self._client_secret = client_secret or secrets.token_urlsafe(32)
        self.tokens = TokenService(
            tenant.id,
            tenant.client_id,
            self._client_secret,
            object_id,
            lifetime=token_lifetime,
            tenant_aliases=tuple(aliases),
        )
        self.signin = SignInService(tenant.id)

    # -- construction -------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Sandbox:
        return cls(load_estate(path), **kwargs)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any], **kwargs: Any) -> Sandbox:
        return cls(estate_from_mapping(mapping, "<dict>"), **kwargs)

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> SandboxInfo:
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        self._tempdir = Path(tempfile.mkdtemp(prefix="shoko-sandbox-"))
        try:
            files = tls.generate(self._tempdir, self.host)
            self._server = _Server((self.host, self.port), _Handler, self, tls.server_context(files))
        except BaseException:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None
            raise
        port = self._server.server_address[1]
        base = f"https://{self.host}:{port}"
        self.tokens.add_graph_origin(base)
        for f in self._estate.faults:
            self.faults.add(dataclasses.replace(f))  # a fresh copy per start: counters belong to this run
        self._info = SandboxInfo(
            base_url=base,
            authority=base,
            tenant_id=self._estate.tenant.id,
            client_id=self._estate.tenant.client_id,
            client_secret=self._client_secret,
            ca_bundle=str(files.ca_bundle),
            graph_base_url=f"{base}/v1.0",
            subscriptions=self._estate.subscription_ids,
            admin_token=self._admin_token,
            web_client_secrets={
                a.app_id: self.signin.client_secret(a.app_id) for a in web_apps(self._estate.directory)
            },
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-accept", daemon=True
        )
        self._thread.start()
        return self._info

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def info(self) -> SandboxInfo:
        if self._info is None or self._server is None:
            raise RuntimeError("sandbox is not running; use `with sb:` or sb.start()")
        return self._info

    @property
    def base_url(self) -> str:
        return self.info.base_url

    # -- estate at run time -------------------------------------------------------------------------

    @property
    def estate(self) -> Estate:
        return self._estate

    def set_estate(self, estate: Estate | Mapping[str, Any]) -> None:
        """Serve a different estate (an `Estate`, or a mapping validated like an estate file) from the next request
        on. Its tenant and client id must be the running ones: tokens already issued stay valid. Faults declared in
        it are not armed (use `sb.faults`)."""
        if not isinstance(estate, Estate):
            estate = estate_from_mapping(estate, "<estate>")
        with self._update_lock:
            self._swap(estate)

    def _swap(self, estate: Estate) -> None:
        running, new = self._estate.tenant, estate.tenant
        if new.id.lower() != running.id.lower() or new.client_id.lower() != running.client_id.lower():
            raise EstateError(
                f"{estate.source}: tenant {new.id} / client {new.client_id} differs from the "
                f"running sandbox's {running.id} / {running.client_id}; start a new sandbox to change tenants"
            )
        index = armmod.ArmIndex(estate)  # built before the swap: requests in flight keep the old pair
        accounts, containers = blobmod.accounts_of(estate.resources), blobmod.containers_of(estate.resources)
        with self._estate_lock:
            self._estate, self._index = estate, index
            self._accounts, self._containers = accounts, containers

    def put_resource(self, doc: Mapping[str, Any]) -> None:
        """Add or replace one ARM document (validated like the estate file). A child that ARM embeds in its
        parent (an NSG's security rule, a VNet's subnet, a NIC's IP configuration) is put into the parent's list,
        so the parent's document shows it too, as in ARM."""
        with self._update_lock:
            self._swap(self._estate.with_resource(doc))

    def delete_resource(self, resource_id: str) -> None:
        """Remove a declared document (or an embedded child from its parent's list) and everything under it.
        Raises KeyError when there is no such document."""
        with self._update_lock:
            self._swap(self._estate.without_resource(resource_id))

    def issue_token(self, audience: str = "arm", lifetime: int | None = None) -> str:
        """A bearer token as the token endpoint would issue (negative lifetime: already expired)."""
        if audience not in ("arm", "graph", "storage"):
            raise ValueError("audience must be 'arm', 'graph' or 'storage'")
        return self.tokens.issue(audience_uri(audience), lifetime)  # type: ignore[arg-type]

    # -- request handling ---------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> tuple[_Reply, str, str]:
        """Answer one request. Returns (reply, api, request id)."""
        split = urlsplit(target)
        req = _Request(
            method=method.upper(),
            target=target,
            raw_path=split.path or "/",
            path=ids.normalise(unquote(split.path or "/")),
            query_pairs=parse_qsl(split.query, keep_blank_values=True),
            headers=headers,
            body=body,
            request_id=str(uuid.uuid4()),
        )
        api = _classify(req.path)
        if api == "arm" and not _is_arm_path(req.path):
            with self._estate_lock:
                accounts = self._accounts
            if blobmod.is_blob_request(req.path, headers, accounts):
                api = "blob"
        if api == "admin":
            return self._admin(req), api, req.request_id
        if self.latency:
            time.sleep(self.latency)
        facts = self._facts(req, api)
        plan = self.faults.plan(facts)
        if plan.delay:
            time.sleep(plan.delay)
        req.loop = plan.loop
        if plan.error is not None:
            reply = self._fault_reply(plan.error, req, api, facts)
        elif api == "identity":
            reply = self._identity(req)
        elif api == "graph":
            reply = self._graph(req)
        elif api == "blob":
            reply = self._blob(req)
        else:
            reply = self._arm(req, facts)
        if api != "identity":
            self._stamp(reply, req, api, facts)
        return reply, api, req.request_id

    def _facts(self, req: _Request, api: str) -> RequestFacts:
        sub = rtype = None
        if api == "arm":
            try:
                parsed = ids.parse(req.path)
                sub, rtype = parsed.subscription, parsed.type
            except ids.NotAnArmPath:
                pass
        return RequestFacts(req.method, req.path, sub, rtype, api == "identity")

    def _stamp(self, reply: _Reply, req: _Request, api: str, facts: RequestFacts) -> None:
        if api == "blob":
            reply.headers.append(("x-ms-request-id", req.request_id))
            reply.headers.append(("x-ms-version", req.header("x-ms-version") or blobmod.DEFAULT_VERSION))
            if req.header("x-ms-client-request-id"):
                reply.headers.append(("x-ms-client-request-id", req.header("x-ms-client-request-id") or ""))
            return
        if api == "graph":
            reply.headers.append(("request-id", req.request_id))
            reply.headers.append(("client-request-id", req.header("client-request-id") or req.request_id))
            return
        reply.headers.append(("x-ms-request-id", req.request_id))
        reply.headers.append(
            ("x-ms-correlation-request-id", req.header("x-ms-correlation-request-id") or req.request_id)
        )
        reply.headers.append(
            ("x-ms-routing-request-id", f"JAPANEAST:{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}:{req.request_id}")
        )
        if not any(k.lower().startswith("x-ms-ratelimit") for k, _ in reply.headers):
            # Calls the read quota was not already taken for (refused sign-ins, writes): reported, never refused.
            remaining = self._rates.take(self._rate_key(facts, None)).remaining
            reply.headers.append((_remaining_header(facts), str(remaining)))
        reply.headers.append(("Cache-Control", "no-cache"))
        reply.headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))

    # -- faults -------------------------------------------------------------------------------------

    def _fault_reply(self, fault: Fault, req: _Request, api: str, facts: RequestFacts) -> _Reply:
        if api == "blob" and fault.kind != "reset":
            return self._blob_fault(fault, req)
        oid = self.tokens.object_id
        graph = api == "graph"
        ctype = GRAPH_JSON if graph else JSON
        date = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        if fault.kind == "forbidden":
            if graph:
                body = graphmod.GraphError(
                    403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
                ).body(req.request_id, date)
            else:
                action = f"{facts.resource_type or 'Microsoft.Resources/subscriptions'}/{_verb(req.method)}"
                scope = req.path
                body = armmod.ArmError(
                    403,
                    "AuthorizationFailed",
                    f"The client '{oid}' with object id '{oid}' does not have authorization to perform action "
                    f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, "
                    "please refresh your credentials.",
                ).body()
            return _Reply.json(403, body, ctype, fault=fault.kind)
        if fault.kind == "not_registered":
            # What ARM answers for a resource provider the subscription was never registered with.
            namespace = (facts.resource_type or fault.resource_type or "Microsoft.Resources").split("/")[0]
            message = (
                f"The subscription is not registered to use namespace '{namespace}'. "
                "See https://aka.ms/rps-not-found for how to register subscriptions."
            )
            body = armmod.ArmError(409, "MissingSubscriptionRegistration", message).body()
            body["error"]["details"] = [
                {"code": "MissingSubscriptionRegistration", "target": namespace, "message": message}
            ]
            return _Reply.json(409, body, ctype, fault=fault.kind)
        if fault.kind == "throttle":
            return self._throttled(fault.retry_after or 0, req, api, facts, fault=fault.kind)
        if fault.kind == "server_error":
            status = fault.status or 500
            code = "ServiceUnavailable" if status == 503 else "InternalServerError"
            message = (
                "The service is temporarily unavailable. Please retry the request."
                if status == 503
                else f"Encountered internal server error. Diagnostic information: timestamp '{date}', "
                f"tracking id '{req.request_id}'."
            )
            body = (
                graphmod.GraphError(status, code, message).body(req.request_id, date)
                if graph
                else armmod.ArmError(status, code, message).body()
            )
            headers = [("Retry-After", _seconds(fault.retry_after))] if fault.retry_after is not None else []
            return _Reply.json(status, body, ctype, headers=headers, fault=fault.kind)
        if fault.kind == "reset":
            return _Reply(0, b"", None, fault=fault.kind)  # _Handler closes the connection without answering
        # malformed: a 200 whose JSON stops half-way, as a dropped connection behind a proxy can produce.
        return _Reply(200, b'{"value": [{"id": "/subscriptions/', ctype, fault=fault.kind)

    def _throttled(
        self, retry_after: float, req: _Request, api: str, facts: RequestFacts, fault: str | None = None
    ) -> _Reply:
        """429 as ARM (or Graph) answers it when a read quota is used up."""
        graph = api == "graph"
        oid = self.tokens.object_id
        if graph:
            date = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            body = graphmod.GraphError(429, "TooManyRequests", "Too many requests.").body(req.request_id, date)
        elif facts.subscription:
            body = armmod.ArmError(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of 'read' requests for subscription '{facts.subscription}' actor '{oid}' exceeded. "
                f"Please try again after '{math.ceil(retry_after)}' seconds after additional tasks "
                "are completed.",
            ).body()
        else:
            body = armmod.ArmError(429, "TooManyRequests", "Too many requests; retry later.").body()
        headers = [("Retry-After", _seconds(retry_after))]
        if not graph:
            headers.append((_remaining_header(facts), "0"))
        return _Reply.json(429, body, GRAPH_JSON if graph else JSON, headers=headers, fault=fault)

    @staticmethod
    def _rate_key(facts: RequestFacts, principal: str | None) -> str:
        """ARM counts reads per subscription (else per tenant) and per principal."""
        scope = facts.subscription.lower() if facts.subscription else "tenant"
        return f"{scope}|{principal}" if principal else scope

    # -- admin (estate changes from another process) ------------------------------------------------

    def _admin(self, req: _Request) -> _Reply:
        scheme, _, token = (req.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._admin_token.encode()):
            return _admin_error(
                401, "Unauthorized", "the /_sandbox endpoints need 'Authorization: Bearer <admin_token>' "
                "(admin_token from the sandbox info)",
            )  # fmt: skip
        route = req.path.lower().rstrip("/")
        methods = {
            "/_sandbox/resources": ("PUT", "DELETE"),
            "/_sandbox/estate": ("GET", "PUT"),
            "/_sandbox/stats": ("GET",),
        }.get(route)
        if methods is None:
            return _admin_error(
                404,
                "NotFound",
                f"no admin endpoint at {req.path}; /_sandbox/resources, /_sandbox/estate, /_sandbox/stats",
            )
        if req.method not in methods:
            return _admin_error(405, "MethodNotAllowed", f"{req.path} accepts {' and '.join(methods)}")
        try:
            if route == "/_sandbox/stats":
                return _Reply.json(200, self.stats.snapshot())
            if route == "/_sandbox/estate" and req.method == "GET":
                return _Reply.json(200, self.estate.raw)
            if req.method == "DELETE":
                resource_id = req.q("id")
                if not resource_id:
                    return _admin_error(400, "MissingId", "DELETE /_sandbox/resources needs ?id=<resource id>")
                try:
                    self.delete_resource(resource_id)
                except KeyError:
                    return _admin_error(404, "ResourceNotFound", f"no resource with id {resource_id} in the estate")
                return _Reply.json(200, {"deleted": resource_id, "resources": len(self.estate.resources)})
            try:
                body = json.loads(req.body or b"null")
            except (ValueError, UnicodeDecodeError) as e:
                return _admin_error(400, "InvalidJson", f"the request body is not JSON ({e})")
            if not isinstance(body, dict):
                return _admin_error(400, "InvalidBody", "the request body must be a JSON object")
            if route == "/_sandbox/resources":
                self.put_resource(body)
                return _Reply.json(200, {"put": body.get("id"), "resources": len(self.estate.resources)})
            self.set_estate(body)
            return _Reply.json(200, {"resources": len(self.estate.resources)})
        except EstateError as e:
            return _admin_error(400, "InvalidEstate", str(e))

    # -- blob data plane ----------------------------------------------------------------------------

    def _blob(self, req: _Request) -> _Reply:
        with self._estate_lock:
            accounts, containers = self._accounts, self._containers
        account = req.path.lstrip("/").split("/", 1)[0].lower()
        if account not in accounts:
            # No such account: its host name would not resolve, so no HTTP answer at all.
            return _Reply(0, b"", None, fault="reset")
        try:
            self.tokens.verify(req.header("Authorization"), "storage")
        except InvalidToken as e:
            missing = not req.header("Authorization")
            challenge = (
                f"Bearer authorization_uri={self.info.authority}/{self._estate.tenant.id}/oauth2/authorize "
                "resource_id=https://storage.azure.com"
            )
            error = blobmod.BlobError(
                401,
                "NoAuthenticationInformation" if missing else "InvalidAuthenticationInfo",
                "Server failed to authenticate the request. Please refer to the information in the www-authenticate "
                "header.",
                None if missing else e.graph_message,
            )
            return _blob_error(error, req, [("WWW-Authenticate", challenge)])
        try:
            got = self.blobs.handle(req.method, req.path, dict(req.query_pairs), req.headers, req.body, containers)
        except blobmod.BlobError as e:
            return _blob_error(e, req)
        return _Reply(got.status, got.body, got.content_type, list(got.headers))

    def _blob_fault(self, fault: Fault, req: _Request) -> _Reply:
        """A fault as the Blob service answers: XML error bodies with `x-ms-error-code`."""
        if fault.kind == "forbidden":
            error = blobmod.BlobError(
                403,
                "AuthorizationPermissionMismatch",
                "This request is not authorized to perform this operation using this permission.",
            )
        elif fault.kind == "throttle":
            error = blobmod.BlobError(503, "ServerBusy", "The server is busy.")
            reply = _blob_error(error, req, [("Retry-After", _seconds(fault.retry_after))])
            reply.fault = fault.kind
            return reply
        elif fault.kind == "malformed":
            return _Reply(200, b'<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs><Blob><Na',
                          blobmod.XML, fault=fault.kind)  # fmt: skip
        elif fault.kind == "server_error" and fault.status == 503:
            error = blobmod.BlobError(503, "ServerBusy", "The server is busy.")
        else:
            message = "The server encountered an internal error. Please retry the request."
            error = blobmod.BlobError(fault.status or 500, "InternalError", message)
        reply = _blob_error(error, req)
        reply.fault = fault.kind
        return reply

    # -- identity -----------------------------------------------------------------------------------

    def _identity(self, req: _Request) -> _Reply:
        segs = req.path.strip("/").split("/")
        tenant = segs[0]
        if req.method == "GET" and "openid-configuration" in segs[-1]:
            if not self.tokens.knows_tenant(tenant):
                return _Reply.json(
                    400, TokenRequestError(400, "invalid_tenant", f"Tenant '{tenant}' not found.", 90002).body()
                )
            return _Reply.json(200, self._openid_configuration(tenant))
        route = tuple(s.lower() for s in segs[1:])
        with self._estate_lock:
            directory = self._estate.directory
        if route in (("oauth2", "v2.0", "authorize"), ("login",), ("discovery", "v2.0", "keys")):
            if not self.tokens.knows_tenant(tenant):
                return _web(signin_error_page(90002, f"Tenant '{tenant}' not found."))
            query = dict(req.query_pairs)
            if req.method == "GET" and route[0] == "oauth2":
                return _web(self.signin.authorize(tenant, query, directory))
            if req.method == "POST" and route == ("login",):
                form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
                return _web(self.signin.login(tenant, form, directory))
            if req.method == "GET" and route[0] == "discovery":
                return _Reply.json(200, self.signin.jwks(self._issuer()))
        if req.method == "GET" and route == ("oauth2", "v2.0", "logout"):
            return _web(self.signin.logout(dict(req.query_pairs), directory))
        if req.method == "POST" and route == ("oauth2", "v2.0", "token"):
            form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
            basic = req.header("Authorization") or ""
            if basic.lower().startswith("basic ") and "client_secret" not in form:
                with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
                    cid, _, csec = base64.b64decode(basic[6:]).decode().partition(":")
                    form.setdefault("client_id", unquote(cid))
                    form["client_secret"] = unquote(csec)
            try:
                if form.get("grant_type") == "authorization_code":
                    return _Reply.json(
                        200, self._redeem(tenant, form, directory), headers=[("x-ms-request-id", req.request_id)]
                    )
                return _Reply.json(
                    200, self.tokens.token_response(tenant, form), headers=[("x-ms-request-id", req.request_id)]
                )
            except TokenRequestError as e:
                return _Reply.json(e.status, e.body(), headers=[("x-ms-request-id", req.request_id)])
        return _Reply.json(404, {"error": "not_found", "error_description": f"No identity endpoint at {req.path}."})

    def _issuer(self) -> str:
        return f"{self.info.base_url}/{self._estate.tenant.id}/v2.0"

    def _redeem(self, tenant: str, form: dict[str, str], directory: Any) -> dict[str, Any]:
        """grant_type=authorization_code: the id_token, and a delegated Graph access token for the user."""
        self.tokens.check_tenant(tenant)
        body, user_id = self.signin.redeem(form, directory, self._issuer())
        access = self.tokens.issue(
            audience_uri("graph"),
            claims={
                "appid": form.get("client_id", ""),
                "idtyp": "user",
                "oid": user_id,
                "sub": user_id,
                "scp": "openid profile User.Read email",
            },
        )
        return {**body, "access_token": access}

    def _openid_configuration(self, tenant: str) -> dict[str, Any]:
        base = self.info.base_url
        return {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": self._issuer(),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_instance_host_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "tenant_region_scope": "AS",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    # -- ARM ----------------------------------------------------------------------------------------

    def _arm(self, req: _Request, facts: RequestFacts) -> _Reply:
        try:
            principal = self.tokens.verify(req.header("Authorization"), "arm")
        except InvalidToken as e:
            challenge = (
                f'Bearer authorization_uri="{self.info.authority}/{self._estate.tenant.id}", '
                f'error="invalid_token", error_description="{e.message}"'
            )
            return _Reply.json(
                401, armmod.ArmError(401, e.code, e.message).body(), headers=[("WWW-Authenticate", challenge)]
            )
        api_version = req.q("api-version")
        if not api_version:
            return _Reply.json(
                400,
                armmod.ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                ).body(),
            )
        with self._estate_lock:
            index = self._index
        try:
            if req.method == "GET":
                taken = self._rates.take(self._rate_key(facts, principal.object_id if self.throttle else None))
                if not taken.allowed:
                    # ARM's Retry-After is whole seconds.
                    return self._throttled(float(math.ceil(taken.wait)), req, "arm", facts)
                reply = self._arm_get(req, index)
                reply.headers.append((_remaining_header(facts), str(taken.remaining)))
                return reply
            if req.method == "POST" and req.path.lower().rstrip("/") == graphquery.PATH:
                return self._resource_graph(req, index, principal.object_id)
            if req.method == "POST":
                parsed = _try_parse(req.path)
                if (
                    parsed is not None
                    and parsed.kind == "collection"
                    and (parsed.type or "").lower() == _RUN_COMMAND_TYPE
                ):
                    return self._run_command(req, index, parsed, api_version)
            parsed = _try_parse(req.path)
            action = f"{parsed.type if parsed and parsed.type else 'Microsoft.Resources'}/{_verb(req.method)}"
            oid = self.tokens.object_id
            raise armmod.ArmError(
                403,
                "AuthorizationFailed",
                f"The client '{oid}' with object id '{oid}' does not have authorization to perform action "
                f"'{action}' over scope '{req.path}' or the scope is invalid. The sandbox is read-only apart "
                "from virtual machine run commands.",
            )
        except armmod.ArmError as e:
            return _Reply.json(e.status, e.body())

    def _resource_graph(self, req: _Request, index: armmod.ArmIndex, principal: str) -> _Reply:
        allowed, remaining, resets = self._graph_quota.take(principal)
        headers = graphquery.quota_headers(remaining, resets)
        if not allowed:
            retry = float(math.ceil(resets))
            body = graphquery.GraphError(
                429, "RateLimiting", "Too many requests: the query quota resets after x-ms-user-quota-resets-after."
            ).body()
            return _Reply.json(429, body, headers=[("Retry-After", _seconds(retry)), *headers])
        try:
            return _Reply.json(200, graphquery.answer(index, self._estate.tenant.id, req.body), headers=headers)
        except graphquery.GraphError as e:
            return _Reply.json(e.status, e.body(), headers=headers)

    def _arm_get(self, req: _Request, index: armmod.ArmIndex) -> _Reply:
        op = self._operation(req)
        if op is not None:
            return op
        if req.path.lower() == "/tenants":
            t = self._estate.tenant
            doc = {
                "id": f"/tenants/{t.id}",
                "tenantId": t.id,
                "countryCode": "JP",
                "displayName": t.display_name,
                "domains": [t.default_domain],
                "tenantCategory": "Home",
                "defaultDomain": t.default_domain,
                "tenantType": "AAD",
            }
            return self._arm_page(req, [doc], unpaged=False)
        parsed = _try_parse(req.path)
        if parsed is None:
            raise armmod.ArmError(404, "NotFound", f"No ARM resource or collection is served at '{req.path}'.")
        if parsed.kind == "resource":
            result = index.read(parsed)
            assert isinstance(result, dict)
            return _Reply.json(200, result)
        try:
            items = index.listing(parsed, req.q("$filter"))
        except armmod.FilterError as e:
            raise armmod.ArmError(400, "InvalidFilterInQueryString", str(e)) from None
        unpaged = (parsed.type or "").lower() in armmod.UNPAGED_TYPES
        return self._arm_page(req, items, unpaged)

    def _arm_page(self, req: _Request, items: list[dict[str, Any]], unpaged: bool) -> _Reply:
        try:
            size, offset = self._paging(req)
        except ValueError as e:
            raise armmod.ArmError(400, "InvalidParameter", str(e)) from None
        if unpaged:
            size, offset = max(len(items), 1), 0
        body: dict[str, Any] = {"value": items[offset : offset + size]}
        link = self._next_link(req, offset, size, len(items), odata=False)
        if link:
            body["nextLink"] = link
        return _Reply.json(200, body)

    def _paging(self, req: _Request) -> tuple[int, int]:
        size = self.page_size
        top = req.q("$top")
        if top is not None:
            if not top.isdigit() or int(top) < 1:
                raise ValueError(f"Invalid $top value '{top}': it must be a positive integer.")
            size = int(top)
        offset = 0
        token = req.q("$skiptoken")
        if token is not None:
            try:
                offset = int(json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["offset"])
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise ValueError(f"Invalid $skiptoken '{token}'.") from None
        return size, offset

    def _next_link(self, req: _Request, offset: int, size: int, total: int, *, odata: bool) -> str | None:
        if req.loop is not None and req.loop.kind == "endless_paging":
            nxt = offset + size  # always one more page, empty past the end
        elif req.loop is not None:
            nxt = offset  # the injected loop: the link leads back to this very page
        elif offset + size < total:
            nxt = offset + size
        else:
            return None
        token = base64.urlsafe_b64encode(json.dumps({"offset": nxt}).encode()).decode().rstrip("=")
        pairs = [(k, v) for k, v in req.query_pairs if k.lower() != "$skiptoken"] + [("$skiptoken", token)]
        query = urlencode(pairs, safe="$,()'" if odata else "")
        return f"{self.info.base_url}{req.raw_path}?{query}"

    # -- run command (long-running operation) -------------------------------------------------------

    def _run_command(self, req: _Request, index: armmod.ArmIndex, parsed: ids.ArmPath, api_version: str) -> _Reply:
        vm_id = str(parsed.parent)
        vm = index.read(ids.parse(vm_id))
        assert isinstance(vm, dict)
        try:
            payload = json.loads(req.body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise armmod.ArmError(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            ) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("commandId"), str):
            raise armmod.ArmError(400, "InvalidParameter", "Required parameter 'commandId' is missing (null).")
        command_id: str = payload["commandId"]
        script_lines = payload.get("script") or []
        if not isinstance(script_lines, list) or not all(isinstance(s, str) for s in script_lines):
            raise armmod.ArmError(400, "InvalidParameter", "Parameter 'script' must be a list of strings.")
        os_type = str(armmod.dotted(vm, "properties.storageProfile.osDisk.osType") or "").lower()
        is_windows = os_type == "windows" if os_type else "powershell" in command_id.lower()
        if (
            os_type
            and ("powershell" in command_id.lower()) != is_windows
            and command_id.lower() in ("runshellscript", "runpowershellscript")
        ):
            raise armmod.ArmError(
                409,
                "OperationNotAllowed",
                f"Run command '{command_id}' is not supported on {os_type.capitalize()} virtual machines.",
            )
        script = "\n".join(script_lines)
        with self._estate_lock:
            outputs = self._estate.run_commands
        chosen = next((o for o in outputs if o.matches(vm_id, command_id, script)), None)
        value = _run_command_value(chosen, is_windows)
        op_id = str(uuid.uuid4())
        location = str(vm.get("location") or "japaneast")
        op_path = (
            f"/subscriptions/{parsed.subscription}/providers/Microsoft.Compute/locations/{location}/operations/{op_id}"
        )
        status_url = f"{self.info.base_url}{op_path}?p={op_id}&api-version={api_version}"
        result_url = f"{self.info.base_url}{op_path}?p={op_id}&monitor=true&api-version={api_version}"
        with self._ops_lock:
            now = time.monotonic()
            for key in [k for k, o in self._ops.items() if now - o.created > _OPERATION_TTL]:
                del self._ops[key]
            self._ops[op_path.lower()] = _Operation(
                status_url, result_url, self.lro_polls, _now_iso(), value, api_version
            )
        return _Reply(202, b"", None, headers=[("Azure-AsyncOperation", status_url), ("Location", result_url)])

    def _operation(self, req: _Request) -> _Reply | None:
        with self._ops_lock:
            op = self._ops.get(req.path.lower())
            if op is None:
                return None
            monitor = (req.q("monitor") or "").lower() == "true"
            done = op.polls_left <= 0
            if not monitor and not done:
                op.polls_left -= 1
        if monitor:
            if not done:
                return _Reply(202, b"", None, headers=[("Location", op.result_url)])
            return _Reply.json(200, {"value": op.value})
        name = req.path.rsplit("/", 1)[-1]
        if not done:
            return _Reply.json(200, {"startTime": op.started, "status": "InProgress", "name": name})
        return _Reply.json(
            200,
            {
                "startTime": op.started,
                "endTime": _now_iso(),
                "status": "Succeeded",
                "properties": {"output": {"value": op.value}},
                "name": name,
            },
        )

    # -- Graph --------------------------------------------------------------------------------------

    def _graph(self, req: _Request) -> _Reply:
        date = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        try:
            try:
                self.tokens.verify(req.header("Authorization"), "graph")
            except InvalidToken as e:
                raise graphmod.GraphError(401, "InvalidAuthenticationToken", e.graph_message) from None
            if req.method != "GET":
                raise graphmod.GraphError(
                    403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
                )
            query = {k: v for k, v in req.query_pairs}
            rel = req.path[len("/v1.0") :]
            with self._estate_lock:
                directory, tenant = self._estate.directory, self._estate.tenant
            graphmod.refuse(tenant, rel, query)
            result = graphmod.read(directory, rel, query)
            context = f"{self.info.graph_base_url}/$metadata#{result.context}"
            if result.item is not None:
                return _Reply.json(200, {"@odata.context": context, **result.item}, GRAPH_JSON)
            items = result.items or []
            try:
                size, offset = self._paging(req)
            except ValueError as e:
                raise graphmod.GraphError(400, "Request_BadRequest", str(e)) from None
            if size > 999:
                raise graphmod.GraphError(
                    400,
                    "Request_UnsupportedQuery",
                    f"Invalid page size specified: '{size}'. Must be between 1 and 999 inclusive.",
                )
            body: dict[str, Any] = {"@odata.context": context}
            if (req.q("$count") or "").lower() == "true":
                body["@odata.count"] = len(items)
            link = self._next_link(req, offset, size, len(items), odata=True)
            if link:
                body["@odata.nextLink"] = link
            body["value"] = items[offset : offset + size]
            return _Reply.json(200, body, GRAPH_JSON)
        except graphmod.GraphError as e:
            return _Reply.json(e.status, e.body(req.request_id, date), GRAPH_JSON)


# -- helpers ----------------------------------------------------------------------------------------


def _classify(path: str) -> str:
    low = path.lower()
    if low == "/_sandbox" or low.startswith("/_sandbox/"):
        return "admin"
    if low == "/v1.0" or low.startswith("/v1.0/"):
        return "graph"
    if low.startswith("/subscriptions") or low == "/tenants":
        return "arm"
    segs = low.strip("/").split("/")
    if len(segs) >= 2 and (segs[-1].endswith("openid-configuration") or tuple(segs[1:]) in _IDENTITY_ROUTES):
        return "identity"
    return "arm"


# Identity paths after /{tenant}: token, sign-in (authorize, the sign-in form, logout) and the signing keys.
_IDENTITY_ROUTES = {
    ("oauth2", "v2.0", "token"),
    ("oauth2", "v2.0", "authorize"),
    ("oauth2", "v2.0", "logout"),
    ("login",),
    ("discovery", "v2.0", "keys"),
}


def _is_arm_path(path: str) -> bool:
    low = path.lower()
    return low == "/" or any(low == p or low.startswith(p + "/") for p in ("/subscriptions", "/providers", "/tenants"))


def _blob_error(error: blobmod.BlobError, req: _Request, headers: list[tuple[str, str]] | None = None) -> _Reply:
    body = b"" if req.method == "HEAD" else error.body(req.request_id)
    return _Reply(error.status, body, blobmod.XML, headers=[("x-ms-error-code", error.code), *(headers or [])])


def _web(reply: WebReply) -> _Reply:
    """A browser answer: no caching, no framing (as Entra's sign-in pages)."""
    headers = [("Cache-Control", "no-store"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer")]
    if reply.location is not None:
        return _Reply(reply.status, b"", None, headers=[("Location", reply.location), *headers])
    return _Reply(reply.status, reply.html.encode(), HTML, headers=headers)


def _remaining_header(facts: RequestFacts) -> str:
    scope = "subscription" if facts.subscription else "tenant"
    return f"x-ms-ratelimit-remaining-{scope}-reads"


def _admin_error(status: int, code: str, message: str) -> _Reply:
    return _Reply.json(status, {"error": {"code": code, "message": message}})


def _try_parse(path: str) -> ids.ArmPath | None:
    try:
        return ids.parse(path)
    except ids.NotAnArmPath:
        return None


def _verb(method: str) -> str:
    return {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}.get(method, "action")


def _seconds(value: float | None) -> str:
    v = float(value or 0)
    return str(int(v)) if v.is_integer() else f"{v:g}"


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.0000000+00:00", time.gmtime())


def _run_command_value(chosen: RunCommandOutput | None, windows: bool) -> list[dict[str, Any]]:
    stdout = chosen.stdout if chosen else ""
    stderr = chosen.stderr if chosen else ""
    if windows:
        return [
            {
                "code": "ComponentStatus/StdOut/succeeded",
                "level": "Info",
                "displayStatus": "Provisioning succeeded",
                "message": stdout,
            },
            {
                "code": "ComponentStatus/StdErr/succeeded",
                "level": "Info",
                "displayStatus": "Provisioning succeeded",
                "message": stderr,
            },
        ]
    return [
        {
            "code": "ProvisioningState/succeeded",
            "level": "Info",
            "displayStatus": "Provisioning succeeded",
            "message": f"Enable succeeded: \n[stdout]\n{stdout}\n[stderr]\n{stderr}",
        }
    ]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], sandbox: Sandbox, context: ssl.SSLContext
    ) -> None:
        self.sandbox = sandbox
        self.ssl_context = context
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Runs on the per-connection thread, so a slow TLS handshake never blocks accept().
        request.settimeout(30)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self._conns_lock:
            self._conns.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            pass
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections
    server_version = "shoko-sandbox"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        started = time.time()
        t0 = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        sandbox = self.server.sandbox
        fault: str | None = None
        try:
            reply, api, request_id = sandbox.handle(self.command, self.path, self.headers, body)
            fault = reply.fault
        except Exception:
            log.exception("sandbox failed on %s %s", self.command, self.path)
            request_id = str(uuid.uuid4())
            api = "arm"
            reply = _Reply.json(
                500, armmod.ArmError(500, "InternalServerError", "The sandbox failed on this request.").body()
            )
        split = urlsplit(self.path)
        path = ids.normalise(unquote(split.path or "/"))
        # Logged before the reply goes out, so a client that has its answer also sees it in the log.
        sandbox.requests.append(
            RequestRecord(
                method=self.command,
                path=path,
                query=split.query,
                status=reply.status,
                api=api,
                fault=fault,
                request_id=request_id,
                at=started,
                duration_ms=(time.monotonic() - t0) * 1000,
            )
        )
        if api != "admin":
            sandbox.stats.count(self.command, path, api, reply.status)
        if reply.fault == "reset":
            # Linger 0: close() sends a TCP RST instead of an orderly shutdown, as a dropped load-balancer flow does.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for k, v in reply.headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve
    do_HEAD = _serve
