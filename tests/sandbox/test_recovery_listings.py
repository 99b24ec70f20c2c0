"""Recovery Services vault listings served from the estate's documents: Backup Protected Items - List and
Replication Protected Items - List return the vault's descendants of the item type, through the real SDKs."""

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

from sandbox.server import Sandbox
from tests.estates import PROD, RG, estate
from tests.recovery_docs import backup_item, replicated_item, unique, vault, vm
from tests.sandbox.sdk import client_for


def test_vault_item_listings_return_descendants_of_the_item_type():
    a, b = vm("vm-a"), vm("vm-b")
    one, two = vault("rsv-one"), vault("rsv-two")
    docs = unique([a, b, *one, *two, *backup_item(one[0]["id"], a["id"]), *backup_item(one[0]["id"], b["id"]),
                   *backup_item(two[0]["id"], b["id"]), *replicated_item(one[0]["id"], a["id"])])  # fmt: skip
    with Sandbox.from_dict(estate(docs), port=0, page_size=1) as sb:
        backup = client_for(sb.info, RecoveryServicesBackupClient, PROD)
        items = list(backup.backup_protected_items.list("rsv-one", RG, filter="backupManagementType eq 'AzureIaasVM'"))
        assert sorted(i["properties"]["friendlyName"] for i in items) == ["vm-a", "vm-b"]  # over two pages
        assert all(i.type == "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems"
                   for i in items)  # fmt: skip
        assert list(backup.backup_protected_items.list("rsv-one", RG, filter="backupManagementType eq 'MAB'")) == []
        asr = client_for(sb.info, SiteRecoveryManagementClient, PROD)
        replicated = list(asr.replication_protected_items.list(RG, "rsv-one"))
        assert [i["properties"]["friendlyName"] for i in replicated] == ["vm-a"]
        assert list(asr.replication_protected_items.list(RG, "rsv-two")) == []
        try:
            list(asr.replication_protected_items.list(RG, "rsv-missing"))
            raise AssertionError("a listing under a vault that does not exist must be 404")
        except ResourceNotFoundError:
            pass
