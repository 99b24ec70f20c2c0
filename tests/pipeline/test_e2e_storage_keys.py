"""Storage, Key Vault and managed disk checks, collected through the sandbox by the real SDK clients:
Storage Accounts - List and Blob Services - List, Vaults - List By Subscription and Keys - List (ARM),
Disks - List."""

from typing import Any

from controls.model import Status
from tests.estates import doc, estate, rid

ROTATE = {"attributes": {"expiryTime": "P1Y"},
          "lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "rotate"}},
                              {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "notify"}}]}  # fmt: skip


def account(name: str, tag: str, *, open_: bool = False, sku: str = "Standard_GRS",
            versioning: bool = True) -> list[dict[str, Any]]:  # fmt: skip
    props = {
        "minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": True,
        "publicNetworkAccess": "Enabled" if open_ else "Disabled", "allowBlobPublicAccess": open_,
        "networkAcls": {"bypass": "AzureServices", "defaultAction": "Allow" if open_ else "Deny", "ipRules": [],
                        "virtualNetworkRules": []},
        "encryption": {"keySource": "Microsoft.Storage", "requireInfrastructureEncryption": True,
                       "services": {"blob": {"enabled": True, "keyType": "Account"},
                                    "file": {"enabled": True, "keyType": "Account"}}},
        "primaryLocation": "japaneast", "statusOfPrimary": "available",
    }  # fmt: skip
    if sku.rsplit("_", 1)[-1] in {"GRS", "RAGRS", "GZRS", "RAGZRS"}:
        props |= {"secondaryLocation": "japanwest", "statusOfSecondary": "available"}
    acc = doc(f"Microsoft.Storage/storageAccounts/{name}", props, kind="StorageV2",
              sku={"name": sku, "tier": "Standard"}, tags={"dataClassification": tag})  # fmt: skip
    blob = doc(f"Microsoft.Storage/storageAccounts/{name}/blobServices/default", {
        "deleteRetentionPolicy": {"enabled": True, "days": 30, "allowPermanentDelete": False},
        "containerDeleteRetentionPolicy": {"enabled": True, "days": 30},
        "isVersioningEnabled": versioning,
    })  # fmt: skip
    return [acc, blob]


def vault(name: str, *, open_: bool = False, purge: bool = True) -> dict[str, Any]:
    props = {"tenantId": "5b0c1c8e-6a4e-4d3b-9a53-0f1d2c3b4a59", "sku": {"family": "A", "name": "standard"},
             "enableSoftDelete": True, "softDeleteRetentionInDays": 90, "enableRbacAuthorization": True,
             "publicNetworkAccess": "Enabled" if open_ else "Disabled"}  # fmt: skip
    if purge:
        props["enablePurgeProtection"] = True
    if not open_:
        props["networkAcls"] = {"bypass": "AzureServices", "defaultAction": "Deny", "ipRules": [],
                                "virtualNetworkRules": []}  # fmt: skip
    return doc(f"Microsoft.KeyVault/vaults/{name}", props)


def key(vault_name: str, name: str, exp: str | None, rotation: dict | None = ROTATE) -> dict[str, Any]:
    attrs: dict[str, Any] = {"enabled": True, "created": "${now-30d:epoch}", "updated": "${now-30d:epoch}",
                             "recoveryLevel": "Recoverable"}  # fmt: skip
    if exp:
        attrs["exp"] = exp
    props: dict[str, Any] = {"attributes": attrs, "kty": "RSA", "keySize": 3072,
                             "keyUri": f"https://{vault_name}.vault.azure.net:443/keys/{name}"}  # fmt: skip
    if rotation:
        props["rotationPolicy"] = rotation
    return doc(f"Microsoft.KeyVault/vaults/{vault_name}/keys/{name}", props, location="japaneast")


def disk(name: str, encryption: dict[str, Any]) -> dict[str, Any]:
    return doc(f"Microsoft.Compute/disks/{name}", {"diskSizeGB": 128, "encryption": encryption,
               "provisioningState": "Succeeded"}, sku={"name": "Premium_LRS", "tier": "Premium"})  # fmt: skip


DES = rid("Microsoft.Compute/diskEncryptionSets/des-emr")
GOOD = [
    *account("stgood", "medical"),
    *account("stsynth", "synthetic", sku="Standard_LRS", versioning=False),  # not medical: not judged for 48/179
    vault("kv-good"),
    key("kv-good", "cmk-good", "${now+400d:epoch}"),
    disk("osdisk-good", {"type": "EncryptionAtRestWithPlatformKey"}),
    disk("datadisk-cmk", {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": DES}),
]
BAD = [
    *account("stbad", "medical", open_=True, sku="Standard_LRS", versioning=False),
    vault("kv-bad", open_=True, purge=False),
    key("kv-bad", "k-noexp", None, rotation=None),
    key("kv-bad", "k-soon", "${now+10d:epoch}"),
]


def by_name(findings: dict[str, Any]) -> dict[str, Status]:
    return {r.rsplit("/", 1)[-1]: f.status for r, f in findings.items()}


def test_compliant_storage_vaults_keys_and_disks_pass(judge):
    judged = judge(estate(GOOD))
    P = Status.PASS
    assert by_name(judged.findings("storage-public-network-restricted")) == {"stgood": P, "stsynth": P}
    assert by_name(judged.findings("storage-encryption-at-rest")) == {"stgood": P, "stsynth": P}
    assert by_name(judged.findings("storage-blob-recoverable")) == {"stgood": P}
    assert by_name(judged.findings("storage-geo-redundant-in-japan")) == {"stgood": P}
    assert by_name(judged.findings("key-vault-public-network-restricted")) == {"kv-good": P}
    assert by_name(judged.findings("key-vault-recoverable")) == {"kv-good": P}
    assert by_name(judged.findings("key-vault-key-expiry-rotation")) == {"cmk-good": P}
    assert by_name(judged.findings("disk-encryption")) == {"osdisk-good": P, "datadisk-cmk": P}
    rotation = judged.findings("key-vault-key-expiry-rotation")
    assert "rotates automatically at timeAfterCreate P90D" in next(iter(rotation.values())).reason_en
    assert "disk encryption set des-emr" in judged.findings("disk-encryption")[
        rid("Microsoft.Compute/disks/datadisk-cmk").lower()].reason_en  # fmt: skip
    for number in (123, 124, 126):
        assert judged.verdict(number) == Status.PARTIAL, number
    assert judged.verdict(48) == Status.PARTIAL and judged.verdict(179) == Status.PARTIAL

    # Customer-managed keys required: the platform-key account and disk now fail.
    strict = judge(estate(GOOD), thresholds={"require_customer_managed_keys": True})
    assert by_name(strict.findings("disk-encryption")) == {"osdisk-good": Status.FAIL, "datadisk-cmk": P}
    assert set(by_name(strict.findings("storage-encryption-at-rest")).values()) == {Status.FAIL}
    assert strict.verdict(123) == Status.FAIL


def test_open_unprotected_storage_vaults_and_keys_fail(judge):
    # One key cannot be read (Keys - Get refused): an error for that key alone.
    refused = {"kind": "forbidden", "method": "GET", "path": "*/vaults/kv-good/keys/cmk-good"}
    judged = judge(estate([*GOOD, *BAD], faults=[refused]))
    F = Status.FAIL
    assert by_name(judged.findings("storage-public-network-restricted"))["stbad"] == F
    assert by_name(judged.findings("storage-blob-recoverable"))["stbad"] == F
    assert by_name(judged.findings("storage-geo-redundant-in-japan"))["stbad"] == F
    assert by_name(judged.findings("key-vault-public-network-restricted"))["kv-bad"] == F
    assert by_name(judged.findings("key-vault-recoverable"))["kv-bad"] == F
    keys = judged.findings("key-vault-key-expiry-rotation")
    assert by_name(keys) == {"cmk-good": Status.ERROR, "k-noexp": F, "k-soon": F}
    assert "could not be collected" in keys[rid("Microsoft.KeyVault/vaults/kv-good/keys/cmk-good").lower()].reason_en
    soon = keys[rid("Microsoft.KeyVault/vaults/kv-bad/keys/k-soon").lower()]
    assert "(in 9 days; 30 or more required)" in soon.reason_en or "(in 10 days; 30 or more required)" in soon.reason_en
    geo = judged.findings("storage-geo-redundant-in-japan")[rid("Microsoft.Storage/storageAccounts/stbad").lower()]
    assert geo.reason_en == ("storage account stbad (tag dataClassification=medical) redundancy is Standard_LRS, "
                             "replicated within japaneast only (GRS, RAGRS, GZRS or RAGZRS required)")  # fmt: skip
    for number in (86, 124, 126):
        assert judged.verdict(number) == F, number
    # Supporting checks that fail contradict the attested claim.
    assert judged.verdict(48) == F and judged.verdict(179) == F


def test_refused_listings_are_errors_never_passes(judge):
    judged = judge(estate([*GOOD, *BAD], faults=[
        {"kind": "forbidden", "resourceType": "Microsoft.KeyVault/vaults"},
        {"kind": "forbidden", "resourceType": "Microsoft.Storage/storageAccounts/blobServices"},
        {"kind": "forbidden", "resourceType": "Microsoft.Compute/disks"},
    ]))  # fmt: skip
    for check_id in ("key-vault-public-network-restricted", "key-vault-recoverable", "key-vault-key-expiry-rotation",
                     "storage-blob-recoverable", "disk-encryption"):  # fmt: skip
        statuses = {f.status for f in judged.findings(check_id).values()}
        assert statuses == {Status.ERROR}, (check_id, statuses)
    blob = judged.findings("storage-blob-recoverable")[rid("Microsoft.Storage/storageAccounts/stgood").lower()]
    assert "was not collected: AuthorizationFailed" in blob.reason_en
    # The accounts themselves were listed: their other checks still judge them.
    assert by_name(judged.findings("storage-geo-redundant-in-japan")) == {"stgood": Status.PASS, "stbad": Status.FAIL}
    assert judged.verdict(124) == Status.ERROR and judged.verdict(126) == Status.ERROR
