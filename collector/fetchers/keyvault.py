"""Key Vault vaults (network access, soft delete, purge protection) and the keys in each vault (expiry,
rotation policy), read through ARM with the Reader role: no data-plane access is needed.

Vaults are one Vaults - List By Subscription call per subscription. Keys are read with Keys - List (ARM),
one call per vault: ARM offers no subscription-wide listing of keys. The vaults are listed again for that
(not stored twice), so a run that judges only the vaults makes no per-vault calls. A vault whose keys
cannot be read is recorded as an error for that vault alone.
"""

from azure.mgmt.keyvault import KeyVaultManagementClient

from collector.fetchers.base import FetchContext, Fetcher, RawCapture, list_raw, resource_group_of

KEY_VAULT = "key_vault"
KEY_VAULT_KEY = "key_vault_key"


def _run_vaults(ctx: FetchContext) -> None:
    client = ctx.clients.arm(KeyVaultManagementClient, ctx.subscription_id)
    ctx.list_into(KEY_VAULT, client.vaults.list_by_subscription)


def _run_keys(ctx: FetchContext) -> None:
    client = ctx.clients.arm(KeyVaultManagementClient, ctx.subscription_id)
    vaults = [doc for doc, _ in list_raw(client.vaults.list_by_subscription).documents()]
    for vault in vaults:
        capture = RawCapture()
        try:
            for _ in client.keys.list(resource_group_of(vault["id"]), vault["name"], raw_response_hook=capture):
                pass
        except Exception as exc:  # recorded against this vault only; the others go on
            ctx.sink.error(KEY_VAULT_KEY, ctx.fetcher.name, vault["id"], exc)
            continue
        ctx.record(KEY_VAULT_KEY, capture)


VAULTS = Fetcher("keyvault.vaults", {KEY_VAULT: ("microsoft.keyvault/vaults",)}, tenant_wide=False, run=_run_vaults)
KEYS = Fetcher("keyvault.keys", {KEY_VAULT_KEY: ("microsoft.keyvault/vaults/keys",)}, tenant_wide=False, run=_run_keys)
