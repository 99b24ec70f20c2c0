"""Storage accounts (minimum TLS version, HTTPS-only)."""

from azure.mgmt.storage import StorageManagementClient

from collector.fetchers.base import FetchContext, Fetcher
from controls.model import FactKind


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(StorageManagementClient, ctx.subscription_id)
    ctx.list_into(FactKind.STORAGE_ACCOUNT, client.storage_accounts.list)


FETCHER = Fetcher(
    "storage.accounts",
    {FactKind.STORAGE_ACCOUNT: ("microsoft.storage/storageaccounts",)},
    tenant_wide=False,
    run=_run,
)
