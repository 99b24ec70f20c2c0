"""Recovery Services documents for end-to-end tests, in the shape the APIs return them (azure-rest-api-specs
examples: Vaults - Get / List By Subscription Id, AzureIaasVm/BackupProtectedItems_List,
ReplicationProtectedItems_List): vaults, Azure VM backup items with their protection container, and Site
Recovery (Azure to Azure) replicated items with their fabric and container."""

from __future__ import annotations

import uuid
from typing import Any

from tests.estates import PROD, RG, rid

NS = "Microsoft.RecoveryServices"


def vm(name: str, *, subscription: str = PROD, rg: str = RG, location: str = "japaneast") -> dict[str, Any]:
    return {"id": rid(f"Microsoft.Compute/virtualMachines/{name}", subscription, rg), "name": name,
            "type": "Microsoft.Compute/virtualMachines", "location": location, "tags": {"owner": "ops"},
            "properties": {"provisioningState": "Succeeded"}}  # fmt: skip


def vault(name: str, *, subscription: str = PROD, rg: str = RG, location: str = "japaneast",
          redundancy: str | None = "GeoRedundant", crr: str = "Enabled", soft_delete: str | None = "Enabled",
          immutability: str | None = "Locked") -> list[dict[str, Any]]:  # fmt: skip
    """A vault (a None setting is left out of the document) and its Azure backup fabric."""
    security: dict[str, Any] = {"multiUserAuthorization": "Disabled"}
    if soft_delete is not None:
        security["softDeleteSettings"] = {"softDeleteState": soft_delete, "softDeleteRetentionPeriodInDays": 14,
                                          "enhancedSecurityState": "Enabled"}  # fmt: skip
    if immutability is not None:
        security["immutabilitySettings"] = {"state": immutability}
    properties: dict[str, Any] = {"provisioningState": "Succeeded", "securitySettings": security,
                                  "publicNetworkAccess": "Disabled", "bcdrSecurityLevel": "Good"}  # fmt: skip
    if redundancy is not None:
        properties["redundancySettings"] = {"standardTierStorageRedundancy": redundancy, "crossRegionRestore": crr}
    vid = rid(f"{NS}/vaults/{name}", subscription, rg)
    return [
        {"id": vid, "name": name, "type": f"{NS}/vaults", "location": location, "tags": {"owner": "ops"},
         "etag": 'W/"datetime\'2026-11-01T00%3A00%3A00.000Z\'"', "sku": {"name": "RS0", "tier": "Standard"},
         "identity": {"type": "SystemAssigned"}, "properties": properties},
        {"id": f"{vid}/backupFabrics/Azure", "name": "Azure", "type": f"{NS}/vaults/backupFabrics",
         "properties": {"friendlyName": "Azure"}},
    ]  # fmt: skip


def backup_item(vault_id: str, vm_id: str, *, state: str = "Protected", status: str = "Completed",
                last: str | None = "${now-20h}") -> list[dict[str, Any]]:  # fmt: skip
    """An Azure VM backup item and its protection container."""
    parts = vm_id.split("/")
    rg, name = parts[4].lower(), parts[-1].lower()
    container = f"iaasvmcontainerv2;{rg};{name}"
    cid = f"{vault_id}/backupFabrics/Azure/protectionContainers/IaasVMContainer;{container}"
    item: dict[str, Any] = {
        "friendlyName": parts[-1], "virtualMachineId": vm_id, "sourceResourceId": vm_id,
        "protectionStatus": "Healthy", "protectionState": state, "healthStatus": "Passed",
        "lastBackupStatus": status, "protectedItemDataId": "17592186044416",
        "protectedItemType": "Microsoft.Compute/virtualMachines", "backupManagementType": "AzureIaasVM",
        "workloadType": "VM", "containerName": container, "policyId": f"{vault_id}/backupPolicies/DailyPolicy",
        "policyName": "DailyPolicy",
    }  # fmt: skip
    if last is not None:
        item["lastBackupTime"] = last
        item["lastRecoveryPoint"] = last
    return [
        {"id": cid, "name": f"IaasVMContainer;{container}", "type": f"{NS}/vaults/backupFabrics/protectionContainers",
         "properties": {"friendlyName": parts[-1], "backupManagementType": "AzureIaasVM",
                        "registrationStatus": "Registered", "healthStatus": "Healthy",
                        "containerType": "Microsoft.Compute/virtualMachines", "virtualMachineId": vm_id}},
        {"id": f"{cid}/protectedItems/VM;{container}", "name": f"VM;{container}",
         "type": f"{NS}/vaults/backupFabrics/protectionContainers/protectedItems", "properties": item},
    ]  # fmt: skip


def replicated_item(vault_id: str, vm_id: str, *, tested: str | None = "${now-90d}", primary: str = "japaneast",
                    recovery: str = "japanwest") -> list[dict[str, Any]]:  # fmt: skip
    """A Site Recovery (Azure to Azure) replicated VM, with its primary fabric and protection container."""
    fabric = f"{vault_id}/replicationFabrics/asr-a2a-default-{primary}"
    container = f"{fabric}/replicationProtectionContainers/asr-a2a-default-{primary}-container"
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, vm_id.lower()))
    properties: dict[str, Any] = {
        "friendlyName": vm_id.rsplit("/", 1)[-1], "protectedItemType": "A2A", "protectionState": "Protected",
        "protectionStateDescription": "Protected", "activeLocation": "Primary", "testFailoverState": "None",
        "testFailoverStateDescription": "None", "replicationHealth": "Normal", "failoverHealth": "Normal",
        "primaryFabricFriendlyName": primary, "recoveryFabricFriendlyName": recovery,
        "policyFriendlyName": "24-hour-retention-policy",
        "providerSpecificDetails": {"instanceType": "A2A", "fabricObjectId": vm_id,
                                    "primaryFabricLocation": primary, "recoveryFabricLocation": recovery},
    }  # fmt: skip
    if tested is not None:
        properties["lastSuccessfulTestFailoverTime"] = tested
    return [
        {"id": fabric, "name": f"asr-a2a-default-{primary}", "type": f"{NS}/vaults/replicationFabrics",
         "location": None, "properties": {"friendlyName": primary, "customDetails": {"instanceType": "Azure",
                                                                                     "location": primary}}},
        {"id": container, "name": f"asr-a2a-default-{primary}-container",
         "type": f"{NS}/vaults/replicationFabrics/replicationProtectionContainers",
         "properties": {"friendlyName": f"asr-a2a-default-{primary}-container", "fabricType": "Azure"}},
        {"id": f"{container}/replicationProtectedItems/{guid}", "name": guid,
         "type": f"{NS}/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems",
         "properties": properties},
    ]  # fmt: skip


def unique(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each document once (fabrics and containers are shared by the items under them)."""
    seen: dict[str, dict[str, Any]] = {}
    for d in docs:
        seen.setdefault(d["id"].lower(), d)
    return list(seen.values())
