"""Storage accounts (TLS, HTTPS-only, network access, encryption, redundancy) and their blob services
(soft delete, versioning).

The accounts are one Storage Accounts - List call per subscription. Blob services are read with Blob
Services - List, one call per storage account (ARM offers no subscription-wide listing of them); the
accounts' listing is made once per run for both (stored once), and a run that judges only the accounts makes
no per-account calls; the per-account reads go to the run's call pool. An account whose blob services cannot
be read is recorded as an error for that account alone.
"""

from typing import Any

from azure.mgmt.storage import StorageManagementClient

from collector.fetchers.base import FetchContext, Fetcher, list_raw, resource_group_of
from controls.model import FactKind

# Blob Services - List of one account: its `default` blob service (delete retention, versioning).
STORAGE_BLOB_SERVICE = "storage_blob_service"
_ACCOUNTS = ("microsoft.storage/storageaccounts",)
# Account kinds with no blob service (premium file shares only).
NO_BLOB_SERVICE = frozenset({"filestorage"})
ACCOUNTS = "storage.accounts"  # the run's listing of a subscription's accounts


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(StorageManagementClient, ctx.subscription_id)
    ctx.record(FactKind.STORAGE_ACCOUNT, ctx.listing(ACCOUNTS, client.storage_accounts.list))


def _run_blob_services(ctx: FetchContext) -> None:
    client = ctx.clients.arm(StorageManagementClient, ctx.subscription_id)
    accounts = [doc for doc, _ in ctx.listing(ACCOUNTS, client.storage_accounts.list).documents()]

    def read(account: dict[str, Any]) -> None:
        try:
            capture = list_raw(client.blob_services.list, resource_group_of(account["id"]), account["name"])
        except Exception as exc:  # recorded against this account only; the others go on
            ctx.sink.error(STORAGE_BLOB_SERVICE, ctx.fetcher.name, account["id"], exc)
            return
        ctx.record(STORAGE_BLOB_SERVICE, capture)

    ctx.each([a for a in accounts if str(a.get("kind") or "").lower() not in NO_BLOB_SERVICE], read)


FETCHER = Fetcher(
    "storage.accounts", {FactKind.STORAGE_ACCOUNT: _ACCOUNTS}, tenant_wide=False, run=_run, listings=(ACCOUNTS,)
)
BLOB_SERVICES = Fetcher(
    "storage.blob_services",
    {STORAGE_BLOB_SERVICE: _ACCOUNTS},
    tenant_wide=False,
    run=_run_blob_services,
    listings=(ACCOUNTS,),
)
