"""The real SDK credential and clients pointed at a sandbox, as production code points them at Azure."""

from __future__ import annotations

from typing import Any

from azure.identity import ClientSecretCredential

from sandbox.server import SandboxInfo


def credential_for(info: SandboxInfo, secret: str | None = None) -> ClientSecretCredential:
    return ClientSecretCredential(
        info.tenant_id,
        info.client_id,
        info.client_secret if secret is None else secret,
        authority=info.authority,
        disable_instance_discovery=True,
        connection_verify=info.ca_bundle,
    )


def client_for(info: SandboxInfo, cls: Any, *subscription: str) -> Any:
    """`cls(credential, [subscription], base_url=..., connection_verify=...)` for any azure-mgmt client."""
    return cls(credential_for(info), *subscription, base_url=info.base_url, connection_verify=info.ca_bundle)
