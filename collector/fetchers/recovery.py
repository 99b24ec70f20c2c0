"""Recovery Services vaults (Azure Backup and Site Recovery), with what each vault protects.

One list call per subscription for the vaults (Vaults - List By Subscription Id returns each vault with its
properties.redundancySettings and properties.securitySettings), then, because ARM offers no subscription-wide
listing of what a vault protects, two calls per vault: Backup Protected Items - List (Azure VM backups only,
`$filter=backupManagementType eq 'AzureIaasVM'`) and Replication Protected Items - List (Site Recovery). Each
per-vault call that fails is recorded against that vault, so one unreadable vault does not hide the others.
"""

from collections.abc import Callable
from typing import Any

from azure.mgmt.recoveryservices import RecoveryServicesClient
from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

from collector.fetchers.base import FetchContext, Fetcher, list_raw, resource_group_of
from controls.model import Kind

# Vaults as Vaults - List By Subscription Id returns them (api-version 2026-11-01 in azure-mgmt-recoveryservices 4.3).
RECOVERY_VAULT = "recovery_vault"
# Azure VM backup items of each vault, Backup Protected Items - List (api-version 2026-10-01 in
# azure-mgmt-recoveryservicesbackup 11.2): properties.sourceResourceId / virtualMachineId, protectionState,
# lastBackupStatus, lastBackupTime. Each document is stored with the vault's id as its scope.
BACKUP_PROTECTED_ITEM = "backup_protected_item"
# Site Recovery replicated items of each vault, Replication Protected Items - List (api-version 2025-08-01 in
# azure-mgmt-recoveryservicessiterecovery 2.0): properties.lastSuccessfulTestFailoverTime. Scope: the vault's id.
REPLICATION_PROTECTED_ITEM = "replication_protected_item"

VM_BACKUP_FILTER = "backupManagementType eq 'AzureIaasVM'"


def _per_vault(ctx: FetchContext, kind: Kind, vault_id: str, call: Callable[..., Any], *args: Any, **kw: Any) -> None:
    try:
        capture = list_raw(call, *args, **kw)
    except Exception as exc:  # recorded against this vault only; the others go on
        ctx.sink.error(kind, ctx.fetcher.name, vault_id, exc)
        return
    for doc, page in capture.documents():
        ctx.record_document(
            kind,
            doc,
            resource_id=str(doc.get("id", "")),
            api_version=page.api_version,
            request_id=page.request_id,
            scope=vault_id,
        )


def _run(ctx: FetchContext) -> None:
    vaults = ctx.list_into(
        RECOVERY_VAULT, ctx.clients.arm(RecoveryServicesClient, ctx.subscription_id).vaults.list_by_subscription_id
    )
    backup = ctx.clients.arm(RecoveryServicesBackupClient, ctx.subscription_id)
    site_recovery = ctx.clients.arm(SiteRecoveryManagementClient, ctx.subscription_id)
    for vault in vaults:
        vault_id = str(vault["id"])
        name = str(vault.get("name") or vault_id.rstrip("/").rsplit("/", 1)[-1])
        rg = resource_group_of(vault_id)
        _per_vault(
            ctx, BACKUP_PROTECTED_ITEM, vault_id, backup.backup_protected_items.list, name, rg, filter=VM_BACKUP_FILTER
        )
        _per_vault(ctx, REPLICATION_PROTECTED_ITEM, vault_id, site_recovery.replication_protected_items.list, rg, name)


FETCHER = Fetcher(
    "recoveryservices.vaults",
    {
        RECOVERY_VAULT: ("microsoft.recoveryservices/vaults",),
        BACKUP_PROTECTED_ITEM: ("microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems",),
        REPLICATION_PROTECTED_ITEM: (
            "microsoft.recoveryservices/vaults/replicationfabrics/replicationprotectioncontainers/"
            "replicationprotecteditems",
        ),
    },
    tenant_wide=False,
    run=_run,
)
