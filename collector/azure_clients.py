"""Build the real Azure SDK credential and clients from settings.

Production and the offline sandbox go through this same code; only endpoints, credential and the
CA bundle differ. Every client and the credential get `connection_verify` explicitly, because the
environment's REQUESTS_CA_BUNDLE / SSL_CERT_FILE would otherwise decide which CA is trusted.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlparse

from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy, RetryPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import ClientSecretCredential, DefaultAzureCredential
from azure.mgmt.core.exceptions import ARMErrorFormat
from azure.profiles.multiapiclient import MultiApiClientMixin

from agent.metrics import AzureCallPolicy
from collector.pacing import RESOURCE_GRAPH_BURST, RESOURCE_GRAPH_PER_SECOND, Pacer, PacingPolicy
from collector.settings import AzureSettings, CollectionSettings

ClientT = TypeVar("ClientT")


def make_credential(azure: AzureSettings) -> TokenCredential:
    verify: dict[str, Any] = {"connection_verify": azure.ca_bundle} if azure.ca_bundle else {}
    if azure.credential == "client_secret":
        assert azure.tenant_id and azure.client_id and azure.client_secret  # validated at load
        return ClientSecretCredential(
            azure.tenant_id,
            azure.client_id,
            azure.client_secret,
            authority=azure.authority,
            # Instance discovery would call login.microsoftonline.com even for another authority.
            disable_instance_discovery=azure.authority != "https://login.microsoftonline.com",
            **verify,
        )
    return DefaultAzureCredential(authority=azure.authority, **verify)


class NoProviderRegistration(HTTPPolicy):  # type: ignore[type-arg]
    """Keeps the collector read-only when a resource provider is not registered.

    On a 409 `MissingSubscriptionRegistration` the ARM pipeline's ARMAutoResourceProviderRegistrationPolicy
    POSTs `.../providers/{namespace}/register` to register it (a write: it would switch Defender for Cloud's
    provider on) and retries. This policy sits inside it: it remembers the 409 its thread just saw and, when
    the registration POST comes, raises that 409 instead of sending anything, so the read fails as Azure
    answered it and the check reports the unregistered provider as an error."""

    _REGISTER = re.compile(r"/providers/[^/]+/register/?$", re.IGNORECASE)

    def __init__(self) -> None:
        super().__init__()
        self._seen = threading.local()

    def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        http = request.http_request
        if http.method.upper() == "POST" and self._REGISTER.search(urlparse(http.url).path):
            refused = getattr(self._seen, "response", None)
            self._seen.response = None
            if refused is not None:
                raise HttpResponseError(response=refused.http_response, error_format=ARMErrorFormat)
            raise HttpResponseError(message=f"refused to register a resource provider ({http.url}): shoko only reads")
        response = self.next.send(request)
        self._seen.response = response if response.http_response.status_code == 409 else None
        return response


class RunDeadlineExceeded(RuntimeError):
    """The run's collection deadline (collection.run_deadline_seconds) passed before a call could be made."""

    code = "RunDeadlineExceeded"


@dataclass(frozen=True)
class Deadline:
    """When a run's collection must end (a time.monotonic() value)."""

    seconds: float
    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self, what: str) -> None:
        if self.remaining() <= 0:
            raise RunDeadlineExceeded(f"the run's collection deadline ({self.seconds:g} s) passed before {what}")


class DeadlineRetryPolicy(RetryPolicy):
    """azure-core's retries (Retry-After honoured, exponential back-off otherwise), bounded by the run's deadline.

    azure-core sleeps out any Retry-After, however long (an hour-long 429 eight times over would hold the run for
    eight hours). Here a call is not started once the deadline has passed, a Retry-After reaching past the deadline
    is not waited out (the 429 or 503 is raised as Azure answered it, and becomes a collection error), and no
    attempt's timeout reaches past the deadline."""

    def __init__(self, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deadline = deadline

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        settings = super().configure_retries(options)
        settings["timeout"] = max(0.001, min(settings["timeout"], self.deadline.remaining()))
        return settings

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse) -> bool:  # type: ignore[type-arg]
        if not super().is_retry(settings, response):
            return False
        wait = self.get_retry_after(response) or 0.0
        return wait < self.deadline.remaining()

    def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        http = request.http_request
        self.deadline.check(f"{http.method} {urlparse(http.url).path}")
        return super().send(request)


_CALLS = AzureCallPolicy()  # SansIO: one instance serves every pipeline


@dataclass
class ClientFactory:
    """Creates ARM clients for one subscription with the configured endpoint, CA, timeouts and run deadline.
    Every client it makes shares one pacer (ARM's read budget per subscription) and one bound on the calls in
    flight (`collection.max_workers`)."""

    credential: TokenCredential
    azure: AzureSettings
    collection: CollectionSettings
    deadline: Deadline = field(default_factory=lambda: Deadline.after(CollectionSettings.run_deadline_seconds))
    pacer: Pacer = field(init=False)
    graph_pacer: Pacer = field(init=False)  # Resource Graph's query quota, apart from ARM's read budget
    gate: threading.BoundedSemaphore = field(init=False)

    transport: RequestsTransport = field(init=False)
    # One client per SDK class and subscription for the run: fetchers of the same family share it (building a
    # client sets up every operation group it has, e.g. 3 % of the collector's CPU went to the network client's).
    # Not a multi-API client (authorization, monitor, security): each of its operation groups, when taken, sets
    # the API version on the client's one configuration, so fetchers sharing it would read with each other's.
    _clients: dict[tuple[type, str | None, int], Any] = field(init=False, default_factory=dict)
    _clients_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        workers = self.collection.max_workers
        self.pacer = Pacer(self.collection.arm_reads_burst, self.collection.arm_reads_per_second)
        self.graph_pacer = Pacer(RESOURCE_GRAPH_BURST, RESOURCE_GRAPH_PER_SECOND)
        self.gate = threading.BoundedSemaphore(workers)
        # One connection pool for every ARM client of the run: a client per fetcher would each open (and
        # TLS-handshake) its own connections, and a pool smaller than the calls in flight drops them after use.
        timeout = self.collection.call_timeout_seconds
        verify: dict[str, Any] = {"connection_verify": self.azure.ca_bundle} if self.azure.ca_bundle else {}
        self.transport = RequestsTransport(connection_timeout=timeout, read_timeout=timeout, **verify)
        self.transport.open()
        session = self.transport.session
        assert session is not None
        for adapter in session.adapters.values():
            adapter.init_poolmanager(connections=10, maxsize=max(10, workers))  # type: ignore[attr-defined]
        # The environment's proxy and CA settings, read once for the ARM endpoint instead of on every call
        # (requests re-reads the whole environment per request, a tenth of the collector's CPU per call).
        env = session.merge_environment_settings(self.azure.arm_base_url, {}, None, None, None)
        session.proxies.update(env["proxies"])
        if not self.azure.ca_bundle and isinstance(env["verify"], str):  # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
            self.transport.connection_config.verify = env["verify"]
        session.trust_env = False

    def arm(
        self, client_cls: type[ClientT], subscription_id: str | None = None, *, pacer: Pacer | None = None
    ) -> ClientT:
        """A client whose calls are paced by `pacer` (Resource Graph's quota), else by ARM's read budget."""
        if issubclass(client_cls, MultiApiClientMixin):
            return self._new_client(client_cls, subscription_id, pacer)
        key = (client_cls, subscription_id, id(pacer))
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = self._new_client(client_cls, subscription_id, pacer)
            return client  # type: ignore[no-any-return]

    def _new_client(self, client_cls: type[ClientT], subscription_id: str | None, pacer: Pacer | None) -> ClientT:
        retries = self.collection.max_retries
        timeout = self.collection.call_timeout_seconds
        kwargs: dict[str, Any] = {
            "base_url": self.azure.arm_base_url,
            "retry_policy": DeadlineRetryPolicy(self.deadline, retry_total=retries, retry_status=retries),
            "connection_timeout": timeout,
            "read_timeout": timeout,
            "transport": self.transport,
            # After the retry policy: every attempt is counted by API family and status (agent.metrics), and no
            # resource provider is ever registered on the collector's behalf.
            # An HTTPPolicy is linked into one pipeline (its `next`), so each client gets its own guard; the pacing
            # comes last, so a registration refused without a call takes no read from the budget.
            "per_retry_policies": [
                _CALLS,
                NoProviderRegistration(),
                PacingPolicy(pacer or self.pacer, self.gate, self.deadline),
            ],
        }
        if self.azure.ca_bundle:
            kwargs["connection_verify"] = self.azure.ca_bundle
        if subscription_id is None:  # e.g. SubscriptionClient, which takes no subscription
            return client_cls(self.credential, **kwargs)  # type: ignore[call-arg]
        return client_cls(self.credential, subscription_id, **kwargs)  # type: ignore[call-arg]
