"""Key Vault vaults (network access, soft delete, purge protection) and the keys in each vault (expiry,
rotation policy), read through ARM with the Reader role: no data-plane access is needed. Each vault's reads go
to the run's call pool.

Vaults are one Vaults - List By Subscription call per subscription. Keys need one Keys - List (ARM) call
per vault, ARM offering no subscription-wide listing of keys, and then one Keys - Get (ARM) call per key:
the listing returns only each key's attributes and URI, not its rotation policy, which the single-key
response carries. The vaults' listing is made once per run for both fetchers (stored once), so a run that
judges only the vaults makes no per-vault calls. A vault whose keys cannot be listed is recorded as an error
for that vault alone, a key that cannot be read as an error for that key alone.
"""

from typing import Any

from azure.mgmt.keyvault import KeyVaultManagementClient

from collector.fetchers.base import FetchContext, Fetcher, get_raw, list_raw, resource_group_of

KEY_VAULT = "key_vault"
KEY_VAULT_KEY = "key_vault_key"
VAULTS_LISTING = "keyvault.vaults"  # the run's listing of a subscription's vaults


def _run_vaults(ctx: FetchContext) -> None:
    client = ctx.clients.arm(KeyVaultManagementClient, ctx.subscription_id)
    ctx.record(KEY_VAULT, ctx.listing(VAULTS_LISTING, client.vaults.list_by_subscription))


def _run_keys(ctx: FetchContext) -> None:
    client = ctx.clients.arm(KeyVaultManagementClient, ctx.subscription_id)
    vaults = [doc for doc, _ in ctx.listing(VAULTS_LISTING, client.vaults.list_by_subscription).documents()]

    def read(vault: dict[str, Any]) -> None:
        rg = resource_group_of(vault["id"])
        try:
            listed = [doc for doc, _ in list_raw(client.keys.list, rg, vault["name"]).documents()]
        except Exception as exc:  # recorded against this vault only; the others go on
            ctx.sink.error(KEY_VAULT_KEY, ctx.fetcher.name, vault["id"], exc)
            return
        for key in listed:
            key_id = str(key.get("id") or "")
            # The key's own name is the last segment of its id (`name` may be written `vault/key`).
            key_name = key_id.rstrip("/").rsplit("/", 1)[-1] if key_id else str(key.get("name", ""))
            try:
                capture = get_raw(client.keys.get, rg, vault["name"], key_name)
            except Exception as exc:  # recorded against this key only
                ctx.sink.error(KEY_VAULT_KEY, ctx.fetcher.name, key_id or vault["id"], exc)
                continue
            ctx.record(KEY_VAULT_KEY, capture)

    ctx.each(vaults, read)


VAULTS = Fetcher(
    "keyvault.vaults",
    {KEY_VAULT: ("microsoft.keyvault/vaults",)},
    tenant_wide=False,
    run=_run_vaults,
    listings=(VAULTS_LISTING,),
)
KEYS = Fetcher(
    "keyvault.keys",
    {KEY_VAULT_KEY: ("microsoft.keyvault/vaults/keys",)},
    tenant_wide=False,
    run=_run_keys,
    listings=(VAULTS_LISTING,),
)
