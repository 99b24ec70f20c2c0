"""Build the real Azure SDK credential and clients from settings.

Production and the offline sandbox go through this same code; only endpoints, credential and the
CA bundle differ. Every client and the credential get `connection_verify` explicitly, because the
environment's REQUESTS_CA_BUNDLE / SSL_CERT_FILE would otherwise decide which CA is trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.identity import ClientSecretCredential, DefaultAzureCredential

from agent.metrics import AzureCallPolicy
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


_CALLS = AzureCallPolicy()


@dataclass
class ClientFactory:
    """Creates ARM clients for one subscription with the configured endpoint and CA."""

    credential: TokenCredential
    azure: AzureSettings
    collection: CollectionSettings

    def arm(self, client_cls: type[ClientT], subscription_id: str | None = None) -> ClientT:
        retries = self.collection.max_retries
        kwargs: dict[str, Any] = {
            "base_url": self.azure.arm_base_url,
            "retry_total": retries,
            "retry_status": retries,
            # After the retry policy: every attempt is counted by API family and status (agent.metrics).
            "per_retry_policies": [_CALLS],
        }
        if self.azure.ca_bundle:
            kwargs["connection_verify"] = self.azure.ca_bundle
        if subscription_id is None:  # e.g. SubscriptionClient, which takes no subscription
            return client_cls(self.credential, **kwargs)  # type: ignore[call-arg]
        return client_cls(self.credential, subscription_id, **kwargs)  # type: ignore[call-arg]
