"""Storage, Key Vault and managed disk checks: network access, encryption at rest, recoverability,
geo-redundancy, key expiry and rotation."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from controls.checks import CHECKS_BY_ID
from controls.model import CollectionError, Evidence, FactKind, FactSet, Status, Thresholds

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
RG = f"{SUB}/resourceGroups/rg-data/providers"
AT = datetime(2026, 3, 31, tzinfo=UTC)


def ev(kind: str, doc: dict) -> Evidence:
    return Evidence(kind, "test", SUB, doc["id"], "2026-01-01", None, AT, doc)


def account(name: str = "stkarte", tags: dict | None = None, sku: str = "Standard_GRS", kind: str = "StorageV2",
            **props) -> Evidence:  # fmt: skip
    base = {
        "publicNetworkAccess": "Disabled",
        "allowBlobPublicAccess": False,
        "networkAcls": {"bypass": "AzureServices", "defaultAction": "Deny", "ipRules": [], "virtualNetworkRules": []},
        "encryption": {
            "keySource": "Microsoft.Storage",
            "requireInfrastructureEncryption": True,
            "services": {"blob": {"enabled": True, "keyType": "Account"}, "file": {"enabled": True}},
        },
        "primaryLocation": "japaneast",
        "secondaryLocation": "japanwest",
        "statusOfSecondary": "available",
    }
    base.update(props)
    doc = {"id": f"{RG}/Microsoft.Storage/storageAccounts/{name}", "name": name, "kind": kind,
           "location": "japaneast", "sku": {"name": sku, "tier": "Standard"}, "properties": base}  # fmt: skip
    if tags is not None:
        doc["tags"] = tags
    return ev(FactKind.STORAGE_ACCOUNT, doc)


def blob_service(name: str = "stkarte", **props) -> Evidence:
    base = {
        "deleteRetentionPolicy": {"enabled": True, "days": 30, "allowPermanentDelete": False},
        "containerDeleteRetentionPolicy": {"enabled": True, "days": 30},
        "isVersioningEnabled": True,
    }
    base.update(props)
    rid = f"{RG}/Microsoft.Storage/storageAccounts/{name}/blobServices/default"
    return ev("storage_blob_service", {"id": rid, "name": "default", "properties": base})


def vault(name: str = "kv-karte", **props) -> Evidence:
    base = {"enableSoftDelete": True, "softDeleteRetentionInDays": 90, "enablePurgeProtection": True,
            "publicNetworkAccess": "Disabled",
            "networkAcls": {"bypass": "AzureServices", "defaultAction": "Deny"}}  # fmt: skip
    base.update(props)
    return ev("key_vault", {"id": f"{RG}/Microsoft.KeyVault/vaults/{name}", "name": name, "properties": base})


ROTATE = {"attributes": {"expiryTime": "P1Y"},
          "lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}},
                              {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}]}  # fmt: skip


def key(name: str = "cmk", exp: object = "in400", rotation: dict | None = ROTATE) -> Evidence:
    attrs: dict = {"enabled": True, "created": int((AT - timedelta(days=10)).timestamp())}
    if exp == "in400":
        attrs["exp"] = int((AT + timedelta(days=400)).timestamp())
    elif exp is not None:
        attrs["exp"] = exp
    props: dict = {"attributes": attrs, "kty": "RSA", "keySize": 3072}
    if rotation is not None:
        props["rotationPolicy"] = rotation
    rid = f"{RG}/Microsoft.KeyVault/vaults/kv-karte/keys/{name}"
    return ev("key_vault_key", {"id": rid, "name": name, "type": "Microsoft.KeyVault/vaults/keys", "properties": props})


def disk(name: str = "osdisk", **encryption) -> Evidence:
    props = {"diskSizeGB": 128, "encryption": encryption or {"type": "EncryptionAtRestWithPlatformKey"}}
    return ev("managed_disk", {"id": f"{RG}/Microsoft.Compute/disks/{name}", "name": name, "properties": props})


def run(check_id: str, *evidence: Evidence, errors: list | None = None, **thresholds) -> list:
    facts = FactSet(list(evidence), errors or [])
    return CHECKS_BY_ID[check_id].evaluate(facts, replace(Thresholds(), **thresholds))


# -- storage-public-network-restricted


def test_storage_network_disabled_or_deny_passes_and_reports_what_deny_still_allows():
    [f] = run("storage-public-network-restricted", account())
    assert f.status == Status.PASS
    assert f.reason_en == "storage account stkarte publicNetworkAccess is Disabled; allowBlobPublicAccess is false"
    subnet = f"{RG}/Microsoft.Network/virtualNetworks/v/subnets/snet-app"
    acls = {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": [{"value": "203.0.113.8/29",
            "action": "Allow"}], "virtualNetworkRules": [{"id": subnet}]}  # fmt: skip
    [g] = run("storage-public-network-restricted", account(publicNetworkAccess="Enabled", networkAcls=acls))
    assert g.status == Status.PASS
    assert "defaultAction is Deny (allowed IPs 203.0.113.8/29, allowed subnets snet-app, bypass AzureServices)" in (
        g.reason_en
    )
    assert "許可 IP 203.0.113.8/29" in g.reason_ja


def test_storage_open_to_every_network_or_anonymous_blobs_fails():
    acls = {"defaultAction": "Allow"}
    [f] = run("storage-public-network-restricted", account(publicNetworkAccess="Enabled", networkAcls=acls))
    assert f.status == Status.FAIL
    assert f.reason_en == ("storage account stkarte: publicNetworkAccess is Enabled and networkAcls.defaultAction is "
                           "Allow (Disabled or Deny required: reachable from any network)")  # fmt: skip
    assert "どのネットワークからも到達可能" in f.reason_ja
    [g] = run("storage-public-network-restricted", account(allowBlobPublicAccess=True))
    assert g.status == Status.FAIL and "allowBlobPublicAccess is true (anonymous blob access allowed)" in g.reason_en
    # Neither field: the account takes every network's traffic.
    [h] = run("storage-public-network-restricted", account(publicNetworkAccess=None, networkAcls=None))
    assert h.status == Status.FAIL and "publicNetworkAccess is not set and networkAcls.defaultAction is not set" in (
        h.reason_en
    )


def test_storage_blob_public_access_not_set_reads_as_false():
    a = account()
    del a.content["properties"]["allowBlobPublicAccess"]
    [f] = run("storage-public-network-restricted", ev(FactKind.STORAGE_ACCOUNT, a.content))
    assert f.status == Status.PASS and "allowBlobPublicAccess is not set (read as false)" in f.reason_en


# -- storage-encryption-at-rest


def test_storage_encryption_reports_key_source_and_infrastructure_encryption():
    [f] = run("storage-encryption-at-rest", account())
    assert f.status == Status.PASS
    assert f.reason_en == ("storage account stkarte data is encrypted at rest (keySource Microsoft.Storage "
                           "(platform-managed keys), infrastructure encryption on, services blob, file)")  # fmt: skip
    assert "プラットフォーム管理キー" in f.reason_ja
    cmk = {"keySource": "Microsoft.Keyvault", "services": {"blob": {"enabled": True}},
           "keyvaultproperties": {"keyname": "cmk", "keyvaulturi": "https://kv-karte.vault.azure.net"}}  # fmt: skip
    [g] = run("storage-encryption-at-rest", account(encryption=cmk), require_customer_managed_keys=True)
    assert g.status == Status.PASS
    assert "customer-managed keys, key cmk in https://kv-karte.vault.azure.net" in g.reason_en
    assert "infrastructure encryption off" in g.reason_en


def test_storage_platform_keys_fail_only_when_customer_keys_are_required():
    [f] = run("storage-encryption-at-rest", account(), require_customer_managed_keys=True)
    assert f.status == Status.FAIL
    assert "require_customer_managed_keys requires customer-managed keys (Microsoft.Keyvault)" in f.reason_en


def test_storage_encryption_disabled_service_fails_and_unreadable_encryption_is_an_error():
    enc = {"keySource": "Microsoft.Storage", "services": {"blob": {"enabled": True}, "table": {"enabled": False}}}
    [f] = run("storage-encryption-at-rest", account(encryption=enc))
    assert f.status == Status.FAIL and "encryption is not enabled for table" in f.reason_en
    [g] = run("storage-encryption-at-rest", account(encryption=None))
    assert g.status == Status.ERROR and "cannot be read" in g.reason_en
    [h] = run("storage-encryption-at-rest", account(encryption={"keySource": "Other", "services": {"blob": {}}}))
    assert h.status == Status.ERROR and "unrecognised value Other" in h.reason_en


# -- storage-blob-recoverable


def test_blob_recovery_passes_with_soft_delete_and_versioning():
    a, b = account(tags={"dataClassification": "medical"}), blob_service()
    [f] = run("storage-blob-recoverable", a, b)
    assert f.status == Status.PASS and set(f.evidence) == {a.sha256, b.sha256}
    assert f.reason_en == ("storage account stkarte (tag dataClassification=medical) blob service: "
                           "deleteRetentionPolicy 30 days, containerDeleteRetentionPolicy 30 days, "
                           "isVersioningEnabled true")  # fmt: skip


def test_blob_recovery_short_retention_or_no_versioning_fails():
    short = blob_service(deleteRetentionPolicy={"enabled": True, "days": 7}, isVersioningEnabled=False,
                         containerDeleteRetentionPolicy={"enabled": False})  # fmt: skip
    [f] = run("storage-blob-recoverable", account(), short, blob_soft_delete_min_days=14)
    assert f.status == Status.FAIL
    assert "(no dataClassification tag: treated as holding medical data)" in f.reason_en
    assert "deleteRetentionPolicy 7 days (14 or more required)" in f.reason_en
    assert "containerDeleteRetentionPolicy is off (enabled false)" in f.reason_en
    assert "isVersioningEnabled false (true required)" in f.reason_en
    assert "タグ dataClassification がないため医療データありとして扱う" in f.reason_ja


def test_blob_recovery_scope_follows_the_classification_tag():
    synthetic = account(tags={"DataClassification": "Synthetic"})
    assert run("storage-blob-recoverable", synthetic, blob_service()) == []
    assert run("storage-blob-recoverable", account(kind="FileStorage")) == []  # no blob service at all
    [f] = run("storage-blob-recoverable", synthetic, blob_service(), medical_data_tag_values=("synthetic",))
    assert f.status == Status.PASS and "tag DataClassification=Synthetic" in f.reason_en


def test_blob_service_not_collected_is_an_error_naming_the_cause():
    err = CollectionError("storage_blob_service", "storage.blob_services", account().resource_id,
                          "AuthorizationFailed", "no", 403, None, AT)  # fmt: skip
    [f] = run("storage-blob-recoverable", account(), errors=[err])
    assert f.status == Status.ERROR
    assert f.reason_en.endswith("blob service (blobServices/default) was not collected: AuthorizationFailed")


# -- storage-geo-redundant-in-japan


def test_geo_redundant_within_japan_passes():
    [f] = run("storage-geo-redundant-in-japan", account(sku="Standard_RAGZRS"))
    assert f.status == Status.PASS
    assert f.reason_en == ("storage account stkarte (no dataClassification tag: treated as holding medical data) is "
                           "Standard_RAGZRS, replicated from japaneast to secondary japanwest (statusOfSecondary "
                           "available)")  # fmt: skip


def test_single_region_or_foreign_secondary_fails_and_missing_secondary_is_an_error():
    [f] = run("storage-geo-redundant-in-japan", account(sku="Standard_ZRS", secondaryLocation=None))
    assert f.status == Status.FAIL and "redundancy is Standard_ZRS, replicated within japaneast only" in f.reason_en
    [g] = run("storage-geo-redundant-in-japan", account(secondaryLocation="koreacentral"))
    assert g.status == Status.FAIL and "secondary in koreacentral, outside the allowed regions" in g.reason_en
    [h] = run("storage-geo-redundant-in-japan", account(secondaryLocation=None))
    assert h.status == Status.ERROR and "secondaryLocation cannot be read" in h.reason_en
    a = account()
    del a.content["sku"]
    [i] = run("storage-geo-redundant-in-japan", ev(FactKind.STORAGE_ACCOUNT, a.content))
    assert i.status == Status.ERROR and "sku.name cannot be read" in i.reason_en
    assert run("storage-geo-redundant-in-japan", account(sku="Standard_LRS", tags={"dataClassification": "x"})) == []


# -- key-vault-public-network-restricted / key-vault-recoverable


def test_key_vault_network():
    [f] = run("key-vault-public-network-restricted", vault())
    assert f.status == Status.PASS and f.reason_en == "key vault kv-karte publicNetworkAccess is Disabled"
    deny = {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": [{"value": "198.51.100.4/32"}]}
    [g] = run("key-vault-public-network-restricted", vault(publicNetworkAccess="Enabled", networkAcls=deny))
    assert g.status == Status.PASS
    assert "(allowed IPs 198.51.100.4/32, allowed subnets none, bypass AzureServices)" in g.reason_en
    [h] = run("key-vault-public-network-restricted", vault(publicNetworkAccess="Enabled", networkAcls=None))
    assert h.status == Status.FAIL
    assert h.reason_en == ("key vault kv-karte publicNetworkAccess is Enabled and networkAcls.defaultAction is not "
                           "set: reachable from any network (Disabled or Deny required)")  # fmt: skip


def test_key_vault_recoverable():
    [f] = run("key-vault-recoverable", vault())
    assert f.status == Status.PASS
    assert f.reason_en == ("key vault kv-karte: enableSoftDelete true (retention 90 days), "
                           "enablePurgeProtection true")  # fmt: skip
    [g] = run("key-vault-recoverable", vault(enablePurgeProtection=None))
    assert g.status == Status.FAIL and g.reason_en.endswith("(enablePurgeProtection must be true)")
    assert "enablePurgeProtection 未設定" in g.reason_ja
    [h] = run("key-vault-recoverable", vault(enableSoftDelete=False, enablePurgeProtection=False))
    assert h.status == Status.FAIL and "(enableSoftDelete and enablePurgeProtection must be true)" in h.reason_en


# -- key-vault-key-expiry-rotation


def test_key_with_expiry_and_rotation_passes():
    k = key()
    [f] = run("key-vault-key-expiry-rotation", k)
    assert f.status == Status.PASS and f.evidence == (k.sha256,)
    when = (AT + timedelta(days=400)).strftime("%Y-%m-%d %H:%M UTC")
    assert f.reason_en == (f"key cmk in key vault kv-karte: expires {when}, rotates automatically at "
                           "timeAfterCreate P90D, new versions expire after P1Y")  # fmt: skip
    assert f.resource_id.endswith("/vaults/kv-karte/keys/cmk")


def test_key_without_expiry_or_rotation_fails():
    [f] = run("key-vault-key-expiry-rotation", key(exp=None, rotation=None))
    assert f.status == Status.FAIL
    assert f.reason_en == ("key cmk in key vault kv-karte: no expiry date (attributes.exp not set); no Rotate "
                           "action in rotationPolicy (no automatic rotation)")  # fmt: skip
    assert "有効期限（attributes.exp）が未設定" in f.reason_ja
    notify_only = {"lifetimeActions": [{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}]}
    [g] = run("key-vault-key-expiry-rotation", key(rotation=notify_only))
    assert g.status == Status.FAIL and "no Rotate action" in g.reason_en


def test_key_expiry_is_judged_against_the_collection_time():
    expired = int((AT - timedelta(days=1)).timestamp())
    [f] = run("key-vault-key-expiry-rotation", key(exp=expired))
    assert f.status == Status.FAIL and "expired at 2026-03-30 00:00 UTC" in f.reason_en
    soon = int((AT + timedelta(days=10, hours=1)).timestamp())
    [g] = run("key-vault-key-expiry-rotation", key(exp=soon))
    assert g.status == Status.FAIL and "(in 10 days; 30 or more required)" in g.reason_en
    [h] = run("key-vault-key-expiry-rotation", key(exp=soon), key_expiry_warning_days=7)
    assert h.status == Status.PASS


def test_key_expiry_that_is_not_a_number_is_an_error():
    [f] = run("key-vault-key-expiry-rotation", key(exp="2027-01-01"))
    assert f.status == Status.ERROR and "attributes.exp has an unrecognised value 2027-01-01" in f.reason_en


# -- disk-encryption


def test_disk_encryption_reports_the_key_type():
    [f] = run("disk-encryption", disk())
    assert f.status == Status.PASS
    assert f.reason_en == ("managed disk osdisk is encrypted at rest: EncryptionAtRestWithPlatformKey "
                           "(platform-managed key)")  # fmt: skip
    des = f"{RG}/Microsoft.Compute/diskEncryptionSets/des-karte"
    cmk = disk(type="EncryptionAtRestWithCustomerKey", diskEncryptionSetId=des)
    [g] = run("disk-encryption", cmk, require_customer_managed_keys=True)
    assert g.status == Status.PASS and "(customer-managed key, disk encryption set des-karte)" in g.reason_en
    assert "ディスク暗号化セット des-karte" in g.reason_ja


def test_disk_platform_key_fails_when_customer_keys_are_required_and_unknown_type_is_an_error():
    [f] = run("disk-encryption", disk(), require_customer_managed_keys=True)
    assert f.status == Status.FAIL and "require_customer_managed_keys requires a customer-managed key" in f.reason_en
    [g] = run("disk-encryption", disk(type="Mystery"))
    assert g.status == Status.ERROR and "encryption.type Mystery cannot be interpreted" in g.reason_en
    bare = ev("managed_disk", {"id": f"{RG}/Microsoft.Compute/disks/d2", "name": "d2", "properties": {}})
    [h] = run("disk-encryption", bare)
    assert h.status == Status.ERROR and "encryption.type not set" in h.reason_en
