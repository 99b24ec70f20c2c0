"""Small estates for end-to-end tests: a tenant, two subscriptions and the documents a test needs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

TENANT = "5b0c1c8e-6a4e-4d3b-9a53-0f1d2c3b4a59"
PROD = "11111111-2222-4333-8444-555555555555"
DEV = "66666666-7777-4888-9999-aaaaaaaaaaaa"
RG = "rg-test"
# Subscription tags as Subscriptions - List returns them: PROD is production, DEV is not (environment tag).
TAGS = {PROD: {"environment": "prod"}, DEV: {"environment": "dev"}}


def rid(provider_path: str, subscription: str = PROD, rg: str = RG) -> str:
    """`Microsoft.Web/sites/app1` → the full ARM id in `rg` of `subscription`."""
    return f"/subscriptions/{subscription}/resourceGroups/{rg}/providers/{provider_path}"


def doc(provider_path: str, properties: dict[str, Any] | None = None, *, subscription: str = PROD,
        rg: str = RG, location: str | None = "japaneast", **extra: Any) -> dict[str, Any]:  # fmt: skip
    """An ARM document whose type is derived from its id, as ARM returns it."""
    parts = provider_path.split("/")
    namespace, rest = parts[0], parts[1:]
    rtype = "/".join([namespace, *rest[0::2]])
    out: dict[str, Any] = {"id": rid(provider_path, subscription, rg), "name": rest[-1], "type": rtype}
    if location and len(rest) == 2:  # only top-level resources are tracked with a location
        out["location"] = location
    out["properties"] = properties or {}
    out.update(extra)
    return out


SECURITY_DEFAULTS = {
    "id": "00000000-0000-0000-0000-000000000005",
    "displayName": "Security Defaults",
    "isEnabled": True,
}


def estate(
    resources: Iterable[dict[str, Any]] = (),
    *,
    directory: dict[str, Any] | None = None,
    faults: list[dict[str, Any]] | None = None,
    subscriptions: Iterable[str] = (PROD, DEV),
) -> dict[str, Any]:
    return {
        "tenant": {"id": TENANT, "displayName": "Test Clinic"},
        "subscriptions": [
            {"subscriptionId": s, "displayName": f"sub-{s[:4]}", **({"tags": TAGS[s]} if s in TAGS else {})}
            for s in subscriptions
        ],
        "resources": list(resources),
        # A small tenant as new tenants are: security defaults on (so MFA for admins holds unless a test says not).
        "directory": directory
        or {"users": [], "groups": [], "servicePrincipals": [], "securityDefaults": SECURITY_DEFAULTS},
        "faults": faults or [],
    }


def storage_account(name: str, properties: dict[str, Any], *, subscription: str = PROD) -> list[dict[str, Any]]:
    """A storage account and its blob service, which Azure always has (its logs are configured there)."""
    account = doc(f"Microsoft.Storage/storageAccounts/{name}", properties, subscription=subscription,
                  kind="StorageV2", sku={"name": "Standard_LRS", "tier": "Standard"})  # fmt: skip
    blob = doc(f"Microsoft.Storage/storageAccounts/{name}/blobServices/default", {}, subscription=subscription)
    return [account, blob]


def sql_server(name: str, properties: dict[str, Any], *, subscription: str = PROD) -> list[dict[str, Any]]:
    """A SQL logical server and its master database, which Azure always creates (server logs live there)."""
    server = doc(f"Microsoft.Sql/servers/{name}", properties, subscription=subscription, kind="v12.0")
    master = doc(f"Microsoft.Sql/servers/{name}/databases/master", {"status": "Online"}, subscription=subscription,
                 location="japaneast", kind="v12.0,system")  # fmt: skip
    return [server, master]


def activity_logged(destination: str, subscriptions: Iterable[str] = (PROD, DEV)) -> list[dict[str, Any]]:
    """Each subscription's activity log sent to `destination` (a workspace or storage account id), as Subscription
    Diagnostic Settings - List returns it: a requirement activity-log-exported shares with another check then rolls
    up on that check's findings."""
    key = "workspaceId" if "/workspaces/" in destination.lower() else "storageAccountId"
    logs = [{"category": c, "enabled": True} for c in ("Administrative", "Security", "Policy", "Alert")]
    return [
        {"id": f"/subscriptions/{s}/providers/Microsoft.Insights/diagnosticSettings/activity-log",
         "name": "activity-log", "type": "Microsoft.Insights/diagnosticSettings",
         "properties": {key: destination, "logs": logs}}
        for s in subscriptions
    ]  # fmt: skip


def blob_container(account: str, container: str, *, policy: str | None = "Locked", days: int = 2555,
                   subscription: str = PROD) -> list[dict[str, Any]]:  # fmt: skip
    """A storage account with one Blob container and, unless `policy` is None, the container's time-based
    immutability policy (state Locked or Unlocked), as ARM shows them."""
    path = f"Microsoft.Storage/storageAccounts/{account}/blobServices/default/containers/{container}"
    rules = {"immutabilityPeriodSinceCreationInDays": days, "state": policy, "allowProtectedAppendWrites": False}
    properties: dict[str, Any] = {
        "publicAccess": "None",
        "hasImmutabilityPolicy": policy is not None,
        "hasLegalHold": False,
        "leaseStatus": "Unlocked",
        "leaseState": "Available",
    }
    if policy is not None:
        properties["immutabilityPolicy"] = {"etag": '"8dd0a1b2c3d4e5f"', "properties": rules}
    docs = [*storage_account(account, {"minimumTlsVersion": "TLS1_2"}, subscription=subscription),
            doc(path, properties, subscription=subscription, etag='"0x8DD0A1B2C3D4E5F"')]  # fmt: skip
    if policy is not None:
        docs.append(doc(f"{path}/immutabilityPolicies/default", rules, subscription=subscription,
                        etag='"8dd0a1b2c3d4e5f"'))  # fmt: skip
    return docs
